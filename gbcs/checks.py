"""Value checks the encoders share: a hand-built record that would not decode back raises `EncodeError`."""

from __future__ import annotations

from typing import Any

from .errors import EncodeError


def check_int(v: Any, lo: int, hi: int, field: str) -> int:
    """`v` is an int (not a bool) in `lo..hi`."""
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise EncodeError(field, f"{v!r} is not an integer in {lo}..{hi}")
    return v


def check_bytes(v: Any, field: str) -> bytes:
    """`v` is bytes or a bytearray."""
    if not isinstance(v, bytes | bytearray):
        raise EncodeError(field, f"expected bytes, got {type(v).__name__}")
    return bytes(v)
