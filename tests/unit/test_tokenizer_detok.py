"""IncrementalDecoder: only whole characters come out, the partial tail is held back.

Uses a byte-only byte-level vocabulary (no merges), so every UTF-8 byte is its own token and
every multi-byte character is split across tokens, the hardest case for a streamer.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from webinfer.tokenizer import IncrementalDecoder, Tokenizer
from webinfer.tokenizer.bpe import BYTE_TO_CHAR


def byte_tokenizer() -> Tokenizer:
    tokens = ["<|im_end|>"] + [BYTE_TO_CHAR[b] for b in range(256)]
    return Tokenizer.from_metadata({
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": np.array([3] + [1] * 256, dtype=np.int32), "tokenizer.ggml.merges": [],
        "tokenizer.ggml.eos_token_id": 0})


TOK = byte_tokenizer()


def ids_of(data: bytes) -> list[int]:
    return [1 + b for b in data]


def stream(ids, **kw) -> list[str]:
    dec = IncrementalDecoder(TOK, **kw)
    return [dec.push(i) for i in ids] + [dec.flush()]


def test_four_byte_emoji_comes_out_whole():
    assert stream(ids_of("😀".encode())) == ["", "", "", "😀", ""]


def test_cjk_and_combining_marks():
    assert stream(ids_of("日".encode())) == ["", "", "日", ""]
    # e + COMBINING ACUTE: 'e' is a whole character at once; the mark's two bytes follow.
    assert stream(ids_of("e\u0301".encode())) == ["e", "", "\u0301", ""]


def test_invalid_bytes_and_unfinished_tail():
    assert stream(ids_of(b"a\xffb")) == ["a", "\ufffd", "b", ""]
    assert stream(ids_of(b"x\xf0\x9f")) == ["x", "", "", "\ufffd"]


def test_control_tokens_follow_decode():
    ids = ids_of(b"hi") + [0]
    assert "".join(stream(ids)) == TOK.decode(ids) == "hi<|im_end|>"
    assert "".join(stream(ids, skip_special=True)) == TOK.decode(ids, skip_special=True) == "hi"


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_stream_is_the_text_with_no_broken_characters(text):
    ids = ids_of(text.encode("utf-8"))
    pieces = stream(ids)
    assert "".join(pieces) == TOK.decode(ids) == text
    assert pieces[-1] == ""  # nothing was left unfinished


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=24))
def test_stream_equals_decode_on_arbitrary_bytes(data):
    ids = ids_of(data)
    assert "".join(stream(ids)) == TOK.decode(ids) == data.decode("utf-8", errors="replace")
