"""Byte-level BPE (GGUF model 'gpt2') on a hand-built vocabulary, with hand-derived expectations.

Vocabulary: 4 special tokens, then the 256 single bytes in byte order (id = 4 + byte, spelled in
GPT-2's byte alphabet), then one token per merge below (id = 260 + rank).
"""

import numpy as np
import pytest

from webinfer.errors import TokenizerError, UnsupportedModelError
from webinfer.tokenizer import Tokenizer
from webinfer.tokenizer.bpe import BYTE_TO_CHAR, bytes_to_unicode, spell, unspell

MERGES = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
HE, LL, HELL, HELLO, G_W, OR, G_WOR, LD, G_WORLD = range(260, 269)


def byte_id(ch: str) -> int:
    return 4 + ord(ch)


def meta(**extra):
    tokens = ["<s>", "</s>", "<|im_end|>", "<think>"] + [BYTE_TO_CHAR[b] for b in range(256)]
    tokens += [m.replace(" ", "") for m in MERGES]
    types = [3, 3, 3, 4] + [1] * (len(tokens) - 4)
    m = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2", "tokenizer.ggml.tokens": tokens,
         "tokenizer.ggml.token_type": np.array(types, dtype=np.int32), "tokenizer.ggml.merges": list(MERGES),
         "tokenizer.ggml.bos_token_id": np.uint32(0), "tokenizer.ggml.eos_token_id": 1}
    m.update(extra)
    return m


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_metadata(meta())


def test_byte_alphabet_is_gpt2s():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"
    assert spell("a é\n") == "aĠÃ©Ċ"
    assert unspell("aĠÃ©Ċ") == "a é\n".encode()
    assert unspell("<|☃|>") is None


def test_merges_follow_rank_order(tok):
    # hello: he(0) -> ll(1) -> hell(2) -> hello(3); " world": Ġw(4) -> or(5) -> Ġwor(6) -> ld(7) -> Ġworld(8)
    assert tok.encode("hello world", add_special=False) == [HELLO, G_WORLD]


def test_equal_ranks_merge_leftmost_first(tok):
    assert tok.encode("lll", add_special=False) == [LL, byte_id("l")]


def test_long_words_take_the_heap_path_with_the_same_result(tok):
    assert tok.encode("hello" * 20, add_special=False) == [HELLO] * 20
    assert tok.encode("l" * 101, add_special=False) == [LL] * 50 + [byte_id("l")]
    assert tok._bpe._merge_long(spell("hellohexlll")) == ["hello", "he", "x", "ll", "l"]


def test_unmergeable_bytes_stay_single(tok):
    assert tok.encode("hex", add_special=False) == [HE, byte_id("x")]
    assert tok.encode("é", add_special=False) == [4 + 0xC3, 4 + 0xA9]
    assert tok.encode("", add_special=False) == []


def test_special_tokens_split_only_when_parsed(tok):
    assert tok.encode("<s>hello</s>", add_special=False) == [0, HELLO, 1]
    as_text = [byte_id(c) for c in "<s>"] + [HELLO] + [byte_id(c) for c in "</s>"]
    assert tok.encode("<s>hello</s>", add_special=False, parse_special=False) == as_text


def test_user_defined_tokens_always_split(tok):
    assert tok.encode("<think>hello", add_special=False, parse_special=False) == [3, HELLO]
    assert tok.encode("<think>hello", add_special=False) == [3, HELLO]


def test_add_special_follows_metadata():
    plain = Tokenizer.from_metadata(meta())
    assert plain.encode("hello") == [HELLO]  # gpt2 vocabs add no BOS unless the file says so
    both = Tokenizer.from_metadata(meta(**{"tokenizer.ggml.add_bos_token": True,
                                           "tokenizer.ggml.add_eos_token": np.bool_(True)}))
    assert both.encode("hello") == [0, HELLO, 1]
    assert both.encode("hello", add_special=False) == [HELLO]
    llama3 = Tokenizer.from_metadata(meta(**{"tokenizer.ggml.pre": "llama-bpe"}))
    assert llama3.encode("hello") == [0, HELLO]  # llama.cpp's default for LLaMA-3 vocabs


def test_ignore_merges_takes_whole_word_from_vocab():
    tokens = meta()["tokenizer.ggml.tokens"] + ["hex"]
    t = Tokenizer.from_metadata(meta(**{"tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.tokens": tokens,
                                        "tokenizer.ggml.token_type": [3, 3, 3, 4] + [1] * (len(tokens) - 4)}))
    assert t.encode("hex", add_special=False) == [len(tokens) - 1]


def test_decode_and_token_bytes(tok):
    assert tok.decode([0, HELLO, G_WORLD, 2]) == "<s>hello world<|im_end|>"
    assert tok.decode([0, HELLO, G_WORLD, 2], skip_special=True) == "hello world"
    assert tok.decode([4 + 0xC3, 4 + 0xA9]) == "é"
    assert tok.decode([4 + 0xC3]) == "\ufffd"
    assert tok.token_bytes(G_WORLD) == b" world"
    assert tok.token_bytes(0) == b""
    assert tok.token_bytes(3) == b"<think>"
    for text in ["hello world", "  tabs\t\tand\nnewlines ", "é日本😀", "<think>x</s>"]:
        assert tok.decode(tok.encode(text)) == text


def test_ids_and_flags(tok):
    assert (tok.n_vocab, tok.bos_id, tok.eos_id) == (269, 0, 1)
    assert tok.eot_ids == {1, 2}
    assert tok.is_control(0) and tok.is_control(2) and not tok.is_control(3) and not tok.is_control(HELLO)
    assert tok.id_of("<|im_end|>") == 2
    assert tok.id_of("Ġworld") == G_WORLD and tok.id_of(" world") == G_WORLD
    assert tok.id_of("nope") is None


@pytest.mark.parametrize("change, error, text", [
    ({"tokenizer.ggml.model": None}, TokenizerError, "tokenizer.ggml.model"),
    ({"tokenizer.ggml.model": "bert"}, UnsupportedModelError, "bert"),
    ({"tokenizer.ggml.pre": "mystery"}, UnsupportedModelError, "mystery"),
    ({"tokenizer.ggml.bos_token_id": 5000}, TokenizerError, "5000"),
    ({"tokenizer.ggml.token_type": [1, 1]}, TokenizerError, "token_type has 2"),
    ({"tokenizer.ggml.merges": None}, TokenizerError, "merges"),
    ({"tokenizer.ggml.tokens": []}, TokenizerError, "tokens"),
])
def test_bad_metadata_names_the_value(change, error, text):
    m = meta()
    for k, v in change.items():
        if v is None:
            del m[k]
        else:
            m[k] = v
    with pytest.raises(error, match=text):
        Tokenizer.from_metadata(m)


def test_bad_ids_name_the_value(tok):
    with pytest.raises(TokenizerError, match="999"):
        tok.decode([999])
    with pytest.raises(TokenizerError, match="-1"):
        tok.token_bytes(-1)
    with pytest.raises(TokenizerError, match="bytes"):
        tok.encode(b"hello")
