"""Board text geometry: cells, cutting, padding and the bytes a controller receives.

An LED board's font is 8 dots wide for ASCII and 16 dots for everything else (Chinese, full-width
punctuation).  So a character takes one cell when it is printable ASCII and two cells otherwise;
in GB2312 and GBK that is also exactly its byte count, which is what lets a controller that knows
nothing about text place each row by bytes.  Characters the board's encoding cannot represent
become a full-width question mark (two cells, present in every supported encoding), so the row
geometry never changes between what we measure and what the board draws.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

#: Canonical names of the encodings boards use, and the Python codec for each.
ENCODINGS: dict[str, str] = {"GB2312": "gb2312", "GBK": "gbk", "UTF-8": "utf-8"}
REPLACEMENT = "？"  # U+FF1F, encodable in GB2312, GBK and UTF-8


def normalise_encoding(name: str) -> str | None:
    """``"gb2312"``, ``"utf8"``, ``"UTF_8"`` ... → the canonical name, or None if unsupported."""
    key = name.strip().upper().replace("_", "").replace("-", "")
    return {"GB2312": "GB2312", "GBK": "GBK", "CP936": "GBK", "UTF8": "UTF-8"}.get(key)


def char_cells(ch: str) -> int:
    return 1 if ch < "\x80" else 2


def cells(text: str) -> int:
    """Width of ``text`` in half-width cells (ASCII one, anything else two)."""
    if text.isascii():
        return len(text)
    return 2 * len(text) - len(text.encode("ascii", "ignore"))


@functools.lru_cache(maxsize=8192)
def _encodable(codec: str, ch: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=16384)
def board_text(text: str, encoding: str) -> str:
    """``text`` as the board can show it: control characters become spaces, characters outside
    the board's encoding become ``？``."""
    codec = ENCODINGS[encoding]
    out = []
    for ch in text:
        if " " <= ch <= "~":
            out.append(ch)
        elif ch < " " or "\x7f" <= ch <= "\x9f":
            out.append(" ")
        elif _encodable(codec, ch):
            out.append(ch)
        else:
            out.append(REPLACEMENT)
    return "".join(out)


def cut(text: str, width: int) -> str:
    """The longest prefix of ``text`` that fits in ``width`` cells; never half a character."""
    if width <= 0:
        return ""
    if text.isascii():
        return text[:width]
    if cells(text) <= width:
        return text
    used = 0
    for i, ch in enumerate(text):
        used += char_cells(ch)
        if used > width:
            return text[:i]
    return text


def pad(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells and filled with spaces to exactly ``width`` cells (a
    two-cell character that does not fit leaves a one-cell space, not half a glyph)."""
    text = cut(text, width)
    return text + " " * (width - cells(text))


def pad_left(text: str, width: int) -> str:
    text = cut(text, width)
    return " " * (width - cells(text)) + text


def wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into chunks of at most ``width`` cells.  A break falls at the last space of
    a chunk when there is one in its second half (so Latin words stay whole), else anywhere
    between characters (Chinese has no spaces to break at)."""
    text = re.sub(r"[ \t\r\n]+", " ", text).strip(" ")  # (the ideographic space 　 stays: it is text)
    chunks: list[str] = []
    while text:
        piece = cut(text, width)
        if not piece:  # width smaller than one character
            break
        if len(piece) < len(text) and text[len(piece)] != " ":
            space = piece.rfind(" ")
            if space > 0 and cells(piece[:space]) * 2 >= width:
                piece = piece[:space]
        chunks.append(piece)
        text = text[len(piece):].lstrip(" ")
    return chunks or [""]


def encode_rows(rows: Iterable[str], encoding: str) -> bytes:
    """The rows as the board receives them: each row terminated by ``\\n``, in its encoding.

    Rows must already be board text (see :func:`board_text`); anything still unencodable is a
    bug upstream, so it raises rather than silently shifting the geometry.
    """
    codec = ENCODINGS[encoding]
    return "".join(row + "\n" for row in rows).encode(codec)
