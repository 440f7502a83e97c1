"""Reading frames as users hand them to the CLI: hex, base64, GFI lines or raw binary, auto-detected."""

from __future__ import annotations

import base64
import binascii
import os
import stat
import string
import sys
from dataclasses import dataclass

from gbcs.errors import DecodeError
from gbcs.gfi import decode_line, is_gfi

_HEX = string.hexdigits.encode("ascii")
_B64 = (string.ascii_letters + string.digits + "+/=-_").encode("ascii")
_PRINTABLE = string.printable.encode("ascii")
MIN_B64 = 24  # base64 of 18 bytes: shorter than any GBCS frame's headers, so a short word is a typo, not a frame


def _only(text: str, allowed: bytes) -> bool:
    """Every character of `text` is one of `allowed` (one C-speed pass: delete the allowed, see what is left)."""
    return text.isascii() and not text.encode("ascii").translate(None, allowed)


@dataclass
class Input:
    source: str
    data: bytes | None
    error: DecodeError | None = None


def parse_text(text: str, source: str) -> list[Input]:
    """Frames in a text: one per GFI line, else the whole text as one hex (whitespace ignored) or base64 frame."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and all(is_gfi(ln) for ln in lines):
        out = []
        for i, ln in enumerate(lines, 1):
            src = f"{source}:{i}" if len(lines) > 1 else source
            try:
                out.append(Input(src, decode_line(ln.strip())))
            except DecodeError as e:
                out.append(Input(src, None, e))
        return out
    compact = "".join(text.split())
    if compact[:2] in ("0x", "0X"):
        compact = compact[2:]
    if compact and _only(compact, _HEX):
        if len(compact) % 2:
            return [Input(source, None, DecodeError(len(compact) // 2, "input", "odd number of hex digits"))]
        return [Input(source, bytes.fromhex(compact))]
    if compact and _only(compact, _B64):
        if source == "argument" and len(compact) < MIN_B64:
            return [Input(source, None, DecodeError(0, "input", f"{compact[:40]!r} is no file, not hex, and too short "
                                                    "to be a base64 frame"))]
        try:
            return [Input(source, base64.b64decode(compact + "=" * (-len(compact) % 4),
                                                   altchars=b"-_" if ("-" in compact or "_" in compact) else None,
                                                   validate=True))]
        except (binascii.Error, ValueError):
            pass
    return [Input(source, None, DecodeError(0, "input", "neither hex, base64, GFI text nor a file"))]


def read_inputs(args: list[str]) -> list[Input]:
    """Each argument is a file (text or binary), `-` for standard input, or literal hex/base64/GFI text."""
    out: list[Input] = []
    for arg in args:
        if arg == "-":
            raw = sys.stdin.buffer.read()
            out.extend(_parse_bytes(raw, "stdin"))
            continue
        kind, raw = _read_file(arg)
        if raw is not None:
            out.extend(_parse_bytes(raw, arg))
        elif kind is not None:
            out.append(Input(arg, None, DecodeError(0, "input", f"{arg} is {kind}, not a file of frames")))
        else:
            out.extend(parse_text(arg, "argument"))
    return out


def _read_file(arg: str) -> tuple[str | None, bytes | None]:
    """(None, contents) of a regular file; (what it is, None) of an existing path that is not one (read as text
    it would pass for base64); (None, None) when `arg` names nothing (it is then literal text). One stat and one
    read per file: a batch of thousands of frame files spends its time here otherwise."""
    if len(arg) >= 4096:
        return None, None
    try:
        st = os.stat(arg)
    except (OSError, ValueError):  # no such file, a name too long, an embedded NUL: literal text
        return None, None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        with open(arg, "rb", buffering=0) as f:
            return None, f.readall()
    if stat.S_ISDIR(mode):
        return "a directory", None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)", None
    if stat.S_ISSOCK(mode):
        return "a socket", None
    return "a device or special file", None


def _parse_bytes(raw: bytes, source: str) -> list[Input]:
    compact = b"".join(raw.split())
    if compact and len(compact) % 2 == 0 and not compact.translate(None, _HEX):
        return [Input(source, bytes.fromhex(compact.decode("ascii")))]  # one hex frame: `parse_text`'s result, sooner
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return [Input(source, raw)]
    if text and not raw.translate(None, _PRINTABLE):
        return parse_text(text, source)
    return [Input(source, raw)]
