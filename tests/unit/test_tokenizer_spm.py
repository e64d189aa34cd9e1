"""SentencePiece-style BPE (GGUF model 'llama') on a hand-built vocabulary.

Merges happen by score, highest first (leftmost on ties), whenever the joined text is a token.
Expected ids below are worked out by hand from the scores in VOCAB. (tools/make_tokenizer_goldens.py
also checks this implementation against the `sentencepiece` library on a trained model.)
"""

import pytest

from webinfer.tokenizer import IncrementalDecoder, Tokenizer

# (piece, score), after <unk>, <s>, </s> (ids 0..2) and the 256 byte tokens (ids 3..258).
VOCAB = [("▁", -10.0), ("h", -10.0), ("e", -10.0), ("l", -10.0), ("o", -10.0),
         ("he", -1.0), ("ll", -2.0), ("▁he", -3.0), ("hell", -4.0), ("▁hell", -5.0), ("▁hello", -6.0)]
IDS = {p: 259 + i for i, (p, _) in enumerate(VOCAB)}


def meta(**extra):
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [p for p, _ in VOCAB]
    scores = [0.0] * 259 + [s for _, s in VOCAB]
    types = [2, 3, 3] + [6] * 256 + [1] * len(VOCAB)
    m = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores,
         "tokenizer.ggml.token_type": types}
    m.update(extra)
    return m


def byte(b: int) -> int:
    return 3 + b


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_metadata(meta())


def test_llama_defaults(tok):
    # No ids or flags in the metadata: llama.cpp's defaults (<unk>=0, <s>=1, </s>=2, BOS, prefix space).
    assert (tok.unk_id, tok.bos_id, tok.eos_id, tok.add_bos, tok.add_space_prefix) == (0, 1, 2, True, True)


def test_merges_by_score(tok):
    # ▁ h e l l o: he(-1), ll(-2), ▁he(-3); hell(-4) went stale with "he"; ▁hell(-5), ▁hello(-6).
    assert tok.encode("hello") == [1, IDS["▁hello"]]


def test_equal_scores_merge_leftmost(tok):
    assert tok.encode("lll", add_special=False) == [IDS["▁"], IDS["ll"], IDS["l"]]


def test_spaces_become_meta_symbol(tok):
    # "  he" -> "▁▁▁he": he(-1), then ▁he(-3) with the last ▁.
    assert tok.encode("  he", add_special=False) == [IDS["▁"], IDS["▁"], IDS["▁he"]]
    no_prefix = Tokenizer.from_metadata(meta(**{"tokenizer.ggml.add_space_prefix": False}))
    assert no_prefix.encode("he", add_special=False) == [IDS["he"]]


def test_byte_fallback_and_unknown(tok):
    assert tok.encode("hz", add_special=False) == [IDS["▁"], IDS["h"], byte(0x7A)]
    assert tok.encode("é", add_special=False) == [IDS["▁"], byte(0xC3), byte(0xA9)]
    no_bytes = meta()
    no_bytes["tokenizer.ggml.token_type"] = [2, 3, 3] + [1] * (len(no_bytes["tokenizer.ggml.tokens"]) - 3)
    no_bytes["tokenizer.ggml.tokens"] = ["<unk>", "<s>", "</s>"] + [f"x{b}" for b in range(256)] + \
        [p for p, _ in VOCAB]
    assert Tokenizer.from_metadata(no_bytes).encode("é", add_special=False) == [IDS["▁"], 0]


def test_special_tokens_and_prefix_after_them(tok):
    # llama.cpp gives every text fragment the prefix space, also the one after a special token.
    assert tok.encode("he</s>he", add_special=False) == [IDS["▁he"], 2, IDS["▁he"]]
    assert tok.decode([IDS["▁he"], 2, IDS["▁he"]]) == "he</s> he"


def test_decode_drops_the_prefix_space_once(tok):
    for text in ["hello", "  he", "hz é", "lll  lll"]:
        assert tok.decode(tok.encode(text)) == "<s>" + text
        assert tok.decode(tok.encode(text), skip_special=True) == text
    assert tok.token_bytes(IDS["▁hello"]) == b" hello"
    assert tok.token_bytes(byte(0x41)) == b"A"
    assert tok.token_bytes(0) == b"" and tok.is_control(0)


def test_streamed_byte_fallback_emoji(tok):
    ids = tok.encode("he😀", add_special=False)
    assert ids == [IDS["▁he"], byte(0xF0), byte(0x9F), byte(0x98), byte(0x80)]
    dec = IncrementalDecoder(tok)
    assert [dec.push(i) for i in ids] == ["he", "", "", "", "😀"]
    assert dec.flush() == ""
