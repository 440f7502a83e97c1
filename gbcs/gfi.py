"""GFI text framing of GBCS frames: `GBCS:DATA#0:<decimal length>:<UPPER HEX>` + CRLF, one frame per line.

Source: `HenryGiraldo/gbcs: c/gfi.c, c/gfi.h` (gbcs-parser src/parser.ts), the framing DCC's GFI tooling uses.
Offsets in errors are character offsets within the line.
"""

from __future__ import annotations

from .errors import DecodeError

PREFIX = "GBCS:DATA#0:"
MAX_FRAME = 1 << 16  # a bound on what one line may announce (GBCS messages are far smaller)
# The longest line a frame of MAX_FRAME bytes makes (prefix, length digits, colon, hex, CRLF): a line reader bounded
# by this accepts every frame `decode_line` accepts, and no longer line can hold one.
MAX_LINE = len(PREFIX) + len(str(MAX_FRAME)) + 1 + 2 * MAX_FRAME + 2


def encode_line(frame: bytes) -> bytes:
    return f"{PREFIX}{len(frame)}:{frame.hex().upper()}\r\n".encode("ascii")


def is_gfi(text: str) -> bool:
    return text.lstrip().startswith("GBCS:")


def decode_line(line: str | bytes) -> bytes:
    """Parse one GFI line (with or without its CRLF) into frame bytes."""
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError as e:
            raise DecodeError(e.start, "gfi line", "not ASCII text") from None
    line = line.rstrip("\r\n")
    if not line.startswith(PREFIX):
        raise DecodeError(0, "gfi prefix", f"expected {PREFIX!r}")
    rest = line[len(PREFIX):]
    colon = rest.find(":")
    if colon <= 0:
        raise DecodeError(len(PREFIX), "gfi length", "expected <decimal length>:")
    digits = rest[:colon]
    if not digits.isdigit() or len(digits) > 6:
        raise DecodeError(len(PREFIX), "gfi length", f"{digits[:12]!r} is not a decimal length")
    n = int(digits)
    if n > MAX_FRAME:
        raise DecodeError(len(PREFIX), "gfi length", f"{n} exceeds {MAX_FRAME}")
    hexpart = rest[colon + 1:]
    start = len(PREFIX) + colon + 1
    if len(hexpart) != 2 * n:
        raise DecodeError(start, "gfi data", f"length says {n} bytes but {len(hexpart)} hex digits follow")
    try:
        return bytes.fromhex(hexpart)
    except ValueError:
        bad = next((i for i, c in enumerate(hexpart) if c not in "0123456789abcdefABCDEF"), 0)
        raise DecodeError(start + bad, "gfi data", "not hexadecimal") from None
