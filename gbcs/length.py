"""The wire primitives every gbcs codec shares: BER-style length fields and the "too short" error.

GBCS lengths (GBCS §2.4) are a short form < 0x80, else 0x81/0x82/0x83 + 1-3 bytes; A-XDR lengths and counts
(DLMS UA Green Book, A-XDR encoding of lengths) allow up to 4 octets. A decoded length keeps its *size* (number of
bytes on the wire) so that a non-minimal form such as `81 05` re-encodes to the same bytes (docs/codec.md).
"""

from __future__ import annotations

from .errors import DecodeError, EncodeError
from .reader import Reader

MAX_LENGTH_BYTES = 3  # 0x83: three length octets, as accepted by gbcs-parser (src/common.ts parseLength)


def read_length(r: Reader, field: str) -> tuple[int, int]:
    """Read a length; return (value, size on the wire in bytes)."""
    first = r.u8(field)
    if first < 0x80:
        return first, 1
    n = first & 0x7F
    if n == 0:
        raise r.error(field, "indefinite length (0x80) is not allowed in GBCS", r.pos - 1)
    if n > MAX_LENGTH_BYTES:
        raise r.error(field, f"length of {n} octets (0x{first:02X}) exceeds the {MAX_LENGTH_BYTES} GBCS allows",
                      r.pos - 1)
    return r.uint(n, field), 1 + n


def minimal_size(value: int) -> int:
    """Size of the canonical (minimal) encoding of `value`."""
    if value < 0x80:
        return 1
    return 1 + (value.bit_length() + 7) // 8


def encode_length(value: int, size: int | None = None, field: str = "length",
                  max_octets: int = MAX_LENGTH_BYTES) -> bytes:
    """Encode `value`; `size` forces a (possibly non-minimal) wire size, default minimal. A-XDR allows
    `max_octets=4` (gbcs.axdr); GBCS frame lengths stop at 3."""
    if value < 0:
        raise EncodeError(field, f"negative length {value}")
    need = minimal_size(value)
    if size is None or size == need:
        if value < 0x80:
            return bytes((value,))
        n = need - 1
    else:
        if not isinstance(size, int) or size < need or size < 2 or size > 1 + max_octets:
            raise EncodeError(field, f"length {value} cannot be written in {size} byte(s)")
        n = size - 1
    if n > max_octets:
        raise EncodeError(field, f"length {value} needs more than {max_octets} length octets")
    return bytes((0x80 | n,)) + value.to_bytes(n, "big")


def short(base: int, pos: int, field: str, need: int, have: int) -> DecodeError:
    """The error for a field that needs `need` bytes where only `have` are left (absolute offset base + pos)."""
    if have <= 0:
        return DecodeError(base + pos, field, f"needs {need} byte(s), none left")
    return DecodeError(base + pos, field, f"needs {need} byte(s), only {have} left")


def read_length_at(data: bytes, pos: int, end: int, base: int, field: str,
                   max_octets: int = MAX_LENGTH_BYTES) -> tuple[int, int, int | None]:
    """A length at `data[pos:end]`: (value, position after it, wire size when non-minimal else None)."""
    if pos >= end:
        raise short(base, pos, field, 1, 0)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1, None
    n = first & 0x7F
    if n == 0 or n > max_octets:
        raise DecodeError(base + pos, field, f"length form 0x{first:02X} is not 0x81..0x{0x80 + max_octets:02X}")
    npos = pos + 1 + n
    if npos > end:
        raise short(base, pos + 1, field, n, end - pos - 1)
    v = int.from_bytes(data[pos + 1:npos], "big")
    size = 1 + n
    return v, npos, (None if size == minimal_size(v) else size)
