"""Streaming detokenizer: token ids in, complete UTF-8 text out.

One token may end in the middle of a character (byte-level BPE splits a 4-byte emoji over
several tokens; SentencePiece byte fallback emits `<0xF0>` `<0x9F>` ...). push() returns only
whole characters and holds the partial tail back, so a page never shows a broken glyph that
later "repairs" itself. Bytes that can never start or continue a character become U+FFFD at
once; flush() turns an unfinished tail into U+FFFD at the end.

The stream is exactly `tok.decode(ids, skip_special)` cut into pieces: the concatenation of
every push() plus flush() equals the one-shot decode of the same ids.

Not here: stop strings (they work on the text this yields) and chat templates.
"""

from __future__ import annotations

import codecs


class IncrementalDecoder:
    """dec = IncrementalDecoder(tok); text = dec.push(id) ...; tail = dec.flush()."""

    def __init__(self, tok, skip_special: bool = False):
        self._tok = tok
        self._skip_special = skip_special
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._first_text = True  # SentencePiece: the first text piece loses its prefix space

    def push(self, token_id: int) -> str:
        piece = self._tok._piece(token_id, self._skip_special, self._first_text)
        if not self._tok.is_control(token_id):
            self._first_text = False
        return self._utf8.decode(piece, final=False)

    def flush(self) -> str:
        """Whatever is held back, with U+FFFD for an unfinished character; then the UTF-8 state starts afresh."""
        text = self._utf8.decode(b"", final=True)
        self._utf8.reset()
        return text
