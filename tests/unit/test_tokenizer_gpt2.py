"""GPT-2's own tokenizer as llama.cpp writes it (tokenizer.ggml.model "gpt2", pre "gpt-2"): a
50257-token vocabulary laid out as GPT-2's is where these tests look (the 256 byte tokens first,
in the byte alphabet's order: "!" = 0, "\\n" = 198, " " = 220; "<|endoftext|>" = 50256 last, a
control token) with a few of its words at their real ids ("Hello" 15496, " world" 995, "'s" 338),
reached through merges of our own. The ids expected are GPT-2's, checked by hand against its
vocab.json; the rest of the vocabulary is filler that no merge reaches.
"""

import pytest

from webinfer.tokenizer import Tokenizer
from webinfer.tokenizer.bpe import bytes_to_unicode

EOT = 50256
MERGES = ["H e", "l l", "He ll", "Hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "' s", "Ġ 1", "Ġ1 2"]
AT = {"Hello": 15496, "Ġworld": 995, "'s": 338}     # GPT-2's ids; the merges' other results go anywhere free


def gpt2_meta():
    # GPT-2's first 256 ids: the printable bytes ("!".."~", "¡".."¬", "®".."ÿ"), then the others in byte order
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    order = printable + [b for b in range(256) if b not in printable]
    tokens = [bytes_to_unicode()[b] for b in order]
    tokens += [f"<filler{i}>" for i in range(256, EOT)] + ["<|endoftext|>"]
    free = iter(range(1000, 2000))
    for m in MERGES:
        word = m.replace(" ", "")
        tokens[AT.get(word) or next(free)] = word
    types = [1] * EOT + [3]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": MERGES,
            "tokenizer.ggml.bos_token_id": EOT, "tokenizer.ggml.eos_token_id": EOT}


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_metadata(gpt2_meta())


def test_byte_tokens_have_gpt2s_ids(tok):
    assert tok.encode("!", add_special=False) == [0]
    assert tok.encode("\n", add_special=False) == [198]
    assert tok.encode(" ", add_special=False) == [220]
    assert tok.encode("A", add_special=False) == [32]


def test_words_merge_to_gpt2s_ids_and_no_bos_is_added(tok):
    # HF's GPT2TokenizerFast("Hello world!") == [15496, 995, 0]: no BOS, although bos_token_id is set
    assert tok.encode("Hello world!") == [15496, 995, 0]
    assert tok.decode([15496, 995, 0]) == "Hello world!"


def test_gpt2_pre_tokenizer_splits(tok):
    # "'s" is its own word (GPT-2's contractions); a double space leaves one "Ġ" alone; "\n\n" is two words
    assert tok.encode("Hello's", add_special=False) == [15496, 338]
    ids = tok.encode("Hello  world\n\n", add_special=False)
    assert ids == [15496, 220, 995, 198, 198]
    assert tok.decode(ids) == "Hello  world\n\n"


def test_endoftext_is_a_control_token_and_ends_generation(tok):
    assert tok.encode("Hello<|endoftext|> world") == [15496, EOT, 995]
    assert tok.encode("<|endoftext|>", parse_special=False, add_special=False) != [EOT]
    assert EOT in tok.eot_ids and tok.is_control(EOT)
    assert tok.decode([15496, EOT], skip_special=True) == "Hello"
