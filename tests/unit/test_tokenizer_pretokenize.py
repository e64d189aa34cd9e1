"""Pre-tokenizers built on `re` + unicodedata against the original patterns run by `regex`.

The `regex` module is test-only (Pyodide has none); it is the reference for what `\\p{L}`,
`\\p{N}`, `\\s` and the sequence of isolating splits mean.
"""

import re
import unicodedata

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from webinfer.errors import UnsupportedModelError
from webinfer.tokenizer.pretokenize import VARIANTS, PreTokenizer, translate

CORPUS = [
    "", " ", "  ", "\n", "\n\n\n", "\t\t", " \t \n ", "a", "Hello world", " leading", "trailing   ",
    "a  b   c    d", "line\nline\n\n  indented\n\tTab", "windows\r\nends\r\n\r\n", "x \n y",
    "12345678901234567890", "3.14159", " 1 22 333 4444", "v1.2.3-rc4", "$1,000,000.00",
    "I'm you'll they've it's he'd we're", "I'LL DON'T CAN'T", "'s's 'S'", "rock 'n' roll",
    "!!!...???", "a--b==c", "  !!", "¿Qué? ¡Sí!", "emoji 😀🎉 👍🏽👨‍👩‍👧", "日本語のテキスト。", "中文，你好！",
    "한국어", "مرحبا بالعالم ١٢٣", "עברית", "हिन्दी", "e\u0301 a\u0308 Z\u0335\u0321a", "café naïve",
    "mixed日本語123русский😀abc", "def f(x):\n    return x ** 2\n", "{\"a\": [1, 2]}", "http://x.y/z?q=1",
    "\u00a0nbsp\u2009thin\u3000ideo", "zero\u200bwidth", "\x1c\x1d\x1e\x1f file separators",
    "Ⅻ ½ ① ٣٤ ७८", "ＦＵＬＬ１２３", "\u2028\u2029 seps", "ſ 'ſ 'K", "tab\t\tthen\n\n\nnl   \n",
]

# Characters that exercise the patterns' edges, mixed into random text below.
TRICKY = list(" \t\n\r\x0b\x0c\u00a0\u3000'sStTlLdDmMvVrReE0123456789٣①Ⅻ½😀日é\u0301.,!?-…。،()|$+<=>^~`_")


def reference_split(patterns, text):
    """The original semantics: each pattern isolates its matches in every piece, gaps kept."""
    pieces = [text]
    for p in patterns:
        out = []
        for piece in pieces:
            pos = 0
            for m in regex.finditer(p, piece):
                s, e = m.span()
                if s > pos:
                    out.append(piece[pos:s])
                if e > s:
                    out.append(piece[s:e])
                pos = max(pos, e)
            if pos < len(piece):
                out.append(piece[pos:])
        pieces = out
    return pieces


def _same_category(c: str) -> bool:
    """True where this Python's unicodedata and the regex module's Unicode agree (versions differ)."""
    cat = unicodedata.category(c)
    return cat not in ("Cn", "Cs") and regex.match(r"\p{" + cat + "}", c) is not None


TEXT = st.text(alphabet=st.one_of(st.characters(blacklist_categories=("Cs", "Cn")).filter(_same_category),
                                  st.sampled_from(TRICKY)), max_size=40)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_matches_regex_module_on_corpus(name):
    patterns, _ = VARIANTS[name]
    pre = PreTokenizer(name)
    for text in CORPUS:
        assert pre.split(text) == reference_split(patterns, text), (name, text)


@pytest.mark.parametrize("name", ["smollm", "gpt2", "llama-bpe", "qwen2", "default", "falcon", "bloom"])
@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_variant_matches_regex_module_on_random_text(name, text):
    patterns, _ = VARIANTS[name]
    pieces = PreTokenizer(name).split(text)
    assert pieces == reference_split(patterns, text)
    assert "".join(pieces) == text


def test_smollm_isolates_every_digit_then_gpt2():
    pre = PreTokenizer("smollm")
    assert pre.split("Hello 12345 world") == ["Hello", " ", "1", "2", "3", "4", "5", " world"]
    assert pre.split("x ١٢") == ["x", " ", "١", "٢"]


def test_gpt2_keeps_number_runs_and_contractions():
    assert PreTokenizer("gpt2").split("I'll pay 1000 now!!") == ["I", "'ll", " pay", " 1000", " now", "!!"]


def test_llama3_groups_three_digits_and_ignores_merges():
    pre = PreTokenizer("llama-bpe")
    assert pre.split("1234567") == ["123", "456", "7"]
    assert pre.split("I'LL go") == ["I", "'LL", " go"]
    assert pre.ignore_merges


def test_whitespace_class_is_unicode_white_space_not_str_isspace():
    # U+001C..U+001F satisfy str.isspace() (so re's \s) but are not White_Space.
    translated = translate(r"\s")
    assert re.fullmatch(translated, "\x1c") is None
    assert re.fullmatch(translated, "\u3000") is not None


def test_unknown_variant_names_the_value():
    with pytest.raises(UnsupportedModelError, match="no-such-pre"):
        PreTokenizer("no-such-pre")
