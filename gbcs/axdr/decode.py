"""Decoding A-XDR `Data` (DLMS UA Green Book, A-XDR encoding of `Data`), recording each node's span.

Hand-written over bytes with int positions: every count and length is checked against the bytes left before
anything is allocated, nesting is bounded (`MAX_DEPTH`), and every failure is a `DecodeError` carrying the
absolute offset (`base` + position). Each tagged node's extent goes into a `Spans` (see `gbcs.axdr.spans`).
"""

from __future__ import annotations

from typing import Any

from ..errors import DecodeError
from ..length import short
from .compact import decode_compact, read_len
from .layout import KIND, MAX_DEPTH, SIZE, TAG_NAMES
from .records import Data
from .spans import Spans


def decode_at(data: bytes, pos: int, end: int, base: int = 0, depth: int = 0,
              spans: Spans | None = None) -> tuple[Data, int]:
    """Decode one tagged `Data` at `data[pos:end]`; return it and the position after it.

    `spans` (made with the same `base`) receives the node spans; positions in it are relative to `data[0]`.
    """
    if end != len(data):
        data = data[:end]
    items: list[Data] = []
    pos = decode_items(data, pos, end, base, depth, 1, items, [] if spans is None else spans.flat)
    return items[0], pos


def decode_items(data: bytes, pos: int, end: int, base: int, depth: int, count: int, items: list[Data],
                 sp: list[int], _new: Any = tuple.__new__, D: Any = Data, kinds: list[int] = KIND,
                 sizes: list[int] = SIZE) -> int:
    """Append `count` tagged `Data` values read from `data[pos:]` to `items` and their spans to `sp` (flat, see
    `Spans`); return the new position.

    The hot loop of the codec: iterative (an explicit stack instead of recursion for arrays/structures), nodes
    built with `tuple.__new__`, and `end` must be `len(data)` so that single-byte reads past the end raise
    IndexError, which is turned into a DecodeError at the offending position.
    """
    append = items.append
    ext = sp.extend
    stack: list[tuple[Any, int, int]] = []
    remaining = count
    level = depth
    tag = -1
    # kind codes (records.Kind; literals are faster in this loop): 1 unsigned, 2 signed, 3 fixed bytes,
    # 4 string, 5 array, 6 structure, 7 compact-array, 8 bit-string, 9 null/dont-care, 10 boolean
    try:
        while True:
            while remaining:
                remaining -= 1
                start = pos
                tag = data[pos]
                kind = kinds[tag]
                pos += 1
                if kind == 4:  # octet-string, visible-string, utf8-string
                    n = data[pos]
                    if n < 0x80:
                        pos += 1
                        npos = pos + n
                        if npos > end:
                            raise short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, data[pos:npos])))
                    else:
                        n, pos, lsize = read_len(data, pos, end, base, TAG_NAMES[tag] + " length")
                        npos = pos + n
                        if npos > end:
                            raise short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(D(tag, data[pos:npos], None, lsize))
                    ext((start, pos, npos, len(sp) + 4))
                    pos = npos
                elif kind == 6 or kind == 5:  # structure, array
                    n = data[pos]
                    if n < 0x80:
                        pos += 1
                        lsize = None
                    else:
                        n, pos, lsize = read_len(data, pos, end, base, TAG_NAMES[tag] + " count")
                    if n > end - pos:
                        raise DecodeError(base + pos, TAG_NAMES[tag],
                                          f"{n} element(s) cannot fit in {end - pos} byte(s)")
                    sub: list[Data] = []
                    append(_new(D, (tag, sub)) if lsize is None else D(tag, sub, None, lsize))
                    if n:
                        if level >= MAX_DEPTH:
                            raise DecodeError(base + pos, TAG_NAMES[tag], f"nesting deeper than {MAX_DEPTH} levels")
                        level += 1
                        stack.append((append, remaining, len(sp)))
                        ext((start, pos, 0, 0))  # end and next are filled in when the last child is read
                        append = sub.append
                        remaining = n
                    else:
                        ext((start, pos, pos, len(sp) + 4))
                elif kind == 1:  # unsigned integers
                    n = sizes[tag]
                    if n == 1:
                        append(_new(D, (tag, data[pos])))
                    elif n == 2:
                        append(_new(D, (tag, (data[pos] << 8) | data[pos + 1])))
                    else:
                        if pos + n > end:
                            raise short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, int.from_bytes(data[pos:pos + n], "big"))))
                    ext((start, pos, pos + n, len(sp) + 4))
                    pos += n
                elif kind == 2:  # signed integers
                    n = sizes[tag]
                    if n == 1:
                        v = data[pos]
                        append(_new(D, (tag, v - 256 if v > 127 else v)))
                    else:
                        if pos + n > end:
                            raise short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, int.from_bytes(data[pos:pos + n], "big", signed=True))))
                    ext((start, pos, pos + n, len(sp) + 4))
                    pos += n
                elif kind == 9:  # null-data, dont-care
                    append(_new(D, (tag, None)))
                    ext((start, pos, pos, len(sp) + 4))
                elif kind == 10:  # boolean
                    append(_new(D, (tag, data[pos])))
                    ext((start, pos, pos + 1, len(sp) + 4))
                    pos += 1
                elif kind == 8:  # bit-string
                    bits, pos, lsize = read_len(data, pos, end, base, "bit-string length")
                    n = (bits + 7) >> 3
                    npos = pos + n
                    if npos > end:
                        raise short(base, pos, "bit-string", n, end - pos)
                    append(_new(D, (tag, data[pos:npos], bits, lsize)))
                    ext((start, pos, npos, len(sp) + 4))
                    pos = npos
                elif kind == 3:  # fixed-size bytes
                    n = sizes[tag]
                    npos = pos + n
                    if npos > end:
                        raise short(base, pos, TAG_NAMES[tag], n, end - pos)
                    append(_new(D, (tag, data[pos:npos])))
                    ext((start, pos, npos, len(sp) + 4))
                    pos = npos
                elif kind == 7:
                    d, cstart, pos = decode_compact(data, pos, end, base, level)
                    append(d)
                    ext((start, cstart, pos, len(sp) + 4))
                else:
                    raise DecodeError(base + pos - 1, "data tag", f"0x{tag:02X} is not a DLMS Data type")
            if not stack:
                return pos
            append, remaining, i = stack.pop()
            sp[i + 2] = pos
            sp[i + 3] = len(sp)
            level -= 1
    except IndexError:
        # only single-byte reads index `data`; pos is at the tag or just after it (its length/value byte)
        raise DecodeError(base + min(pos, end), "data", "input ends inside a Data value") from None


def decode_data(data: bytes, base: int = 0, spans: Spans | None = None) -> Data:
    """Decode exactly one `Data` filling all of `data` (e.g. a decrypted protected-attributes plaintext)."""
    data = bytes(data)
    d, pos = decode_at(data, 0, len(data), base, 0, spans)
    if pos != len(data):
        raise DecodeError(base + pos, "data", f"{len(data) - pos} unexpected trailing byte(s)")
    return d
