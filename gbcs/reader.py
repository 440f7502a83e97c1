"""Bounds-checked cursor over bytes that reports absolute offsets: the one way every gbcs decoder reads."""

from __future__ import annotations

from .errors import DecodeError


class Reader:
    """Read fields from `data[pos:end]`; `base` is the absolute offset of `data[0]` in the whole frame.

    Every failure raises `DecodeError` with the absolute offset of the field that could not be read.
    """

    __slots__ = ("base", "data", "end", "pos")

    def __init__(self, data: bytes, base: int = 0, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.base = base

    @property
    def offset(self) -> int:
        """Absolute offset of the next byte."""
        return self.base + self.pos

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def error(self, field: str, reason: str, pos: int | None = None) -> DecodeError:
        return DecodeError(self.base + (self.pos if pos is None else pos), field, reason)

    def _need(self, n: int, field: str) -> None:
        if self.end - self.pos < n:
            have = self.end - self.pos
            raise DecodeError(self.base + self.pos, field, f"needs {n} byte(s), only {have} left")

    def u8(self, field: str) -> int:
        if self.pos >= self.end:
            raise DecodeError(self.base + self.pos, field, "needs 1 byte, none left")
        v = self.data[self.pos]
        self.pos += 1
        return v

    def peek(self, field: str) -> int:
        if self.pos >= self.end:
            raise DecodeError(self.base + self.pos, field, "needs 1 byte, none left")
        return self.data[self.pos]

    def uint(self, n: int, field: str) -> int:
        """Big-endian unsigned integer of `n` bytes."""
        self._need(n, field)
        v = int.from_bytes(self.data[self.pos:self.pos + n], "big")
        self.pos += n
        return v

    def take(self, n: int, field: str) -> bytes:
        self._need(n, field)
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)

    def expect(self, value: int, field: str) -> None:
        got = self.u8(field)
        if got != value:
            raise DecodeError(self.base + self.pos - 1, field, f"expected 0x{value:02X}, got 0x{got:02X}")

    def sub(self, n: int, field: str) -> "Reader":
        """A reader over the next `n` bytes (advancing this one past them)."""
        self._need(n, field)
        r = Reader(self.data, self.base, self.pos, self.pos + n)
        self.pos += n
        return r

    def rest(self) -> bytes:
        v = bytes(self.data[self.pos:self.end])
        self.pos = self.end
        return v

    def expect_end(self, field: str) -> None:
        if self.pos != self.end:
            raise DecodeError(self.base + self.pos, field, f"{self.end - self.pos} unexpected trailing byte(s)")
