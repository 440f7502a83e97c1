"""What the compiled strict DER decoders share: the mismatch and context types, definite-length reading with
the non-minimal-length record, constraint bounds (asn1tools constraint lists) and universal tag numbers (X.690)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._der import MAX_LENGTH_OCTETS, minimal_length_size

class Mismatch(Exception):
    """The bytes at payload offset `pos` do not match the expected type (`reason` says how)."""

    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason


class Ctx:
    """Per-decode state: non-minimal length fields seen so far and how many extra octets they add."""

    __slots__ = ("entries", "excess")

    def __init__(self) -> None:
        self.excess = 0
        self.entries: list[
            tuple[int, int, int, int]
        ] = []  # (canonical offset, size, wire length pos, length)

    def record(self, pos: int, size: int, lpos: int, ln: int) -> None:
        self.entries.append((pos - self.excess, size, lpos, ln))
        self.excess += size - minimal_length_size(ln)


def _long(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[int, int]:
    """Content bounds of the TLV at `pos` (single-octet identifier) whose length is not in short form."""
    p = pos + 1
    if p >= end:
        raise Mismatch(p, "length field missing")
    k = d[p] & 0x7F
    if k == 0 or k > MAX_LENGTH_OCTETS or p + 1 + k > end:
        raise Mismatch(p, "invalid or truncated length field")
    ln = int.from_bytes(d[p + 1 : p + 1 + k], "big")
    cs = p + 1 + k
    if ctx is not None and 1 + k != minimal_length_size(ln):
        ctx.record(pos, 1 + k, p, ln)
    ce = cs + ln
    if ce > end:
        raise Mismatch(p, f"length {ln} exceeds the {end - cs} byte(s) available")
    return cs, ce


def _bounds_of(d: bytes, pos: int, end: int, ctx: Ctx | None, tag: int, what: str) -> tuple[int, int]:
    """Check the identifier octet at `pos` and return the content bounds (the common TLV header path)."""
    if pos >= end:
        raise Mismatch(pos, f"{what} missing")
    if d[pos] != tag:
        raise Mismatch(pos, f"expected {what} tag {tag:02X}, got {d[pos]:02X}")
    p = pos + 1
    if p < end:
        ln = d[p]
        if ln < 0x80:
            ce = p + 1 + ln
            if ce > end:
                raise Mismatch(p, f"length {ln} exceeds the {end - p - 1} byte(s) available")
            return p + 1, ce
    return _long(d, pos, end, ctx)


class Unsupported(Exception):
    """A module construct the strict decoder does not implement (raised when compiling a type)."""


Decoder = Callable[[bytes, int, int, "Ctx | None"], tuple[Any, int]]

UNIVERSAL_TAGS = {
    "BOOLEAN": 0x01,
    "INTEGER": 0x02,
    "BIT STRING": 0x03,
    "OCTET STRING": 0x04,
    "NULL": 0x05,
    "OBJECT IDENTIFIER": 0x06,
    "ENUMERATED": 0x0A,
    "UTF8String": 0x0C,
    "SEQUENCE": 0x30,
    "SEQUENCE OF": 0x30,
    "SET OF": 0x31,
    "NumericString": 0x12,
    "PrintableString": 0x13,
    "IA5String": 0x16,
    "UTCTime": 0x17,
    "GeneralizedTime": 0x18,
    "VisibleString": 0x1A,
}
CONSTRUCTED_KINDS = frozenset(("SEQUENCE", "SEQUENCE OF", "SET OF"))
UNTAGGABLE_KINDS = frozenset(("CHOICE", "ANY"))  # an IMPLICIT tag on these is EXPLICIT (X.680 31.2.7)
STRING_ENCODINGS = {
    "UTF8String": "utf-8",
    "NumericString": "ascii",
    "PrintableString": "ascii",
    "IA5String": "ascii",
    "VisibleString": "ascii",
}
TAG_CLASS_BITS = {"UNIVERSAL": 0x00, "APPLICATION": 0x40, "PRIVATE": 0xC0, None: 0x80, "CONTEXT": 0x80}


def tag_parts(t: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """(tag number, class bits, the description without its tag) of a tagged description; Unsupported for tag
    numbers above 30 (multi-octet identifiers) and unknown classes."""
    spec = t["tag"]
    number = spec["number"]
    if not isinstance(number, int) or number > 30:
        raise Unsupported(f"tag number {number!r}")
    cls = TAG_CLASS_BITS.get(spec.get("class"))
    if cls is None:
        raise Unsupported(f"tag class {spec.get('class')}")
    return number, cls, {k: v for k, v in t.items() if k != "tag"}


def _bounds(spec: list[Any] | None) -> list[tuple[int | None, int | None]] | None:
    """asn1tools constraint lists ([8], [(1, 'MAX')], [(0, 65535)]) as (low, high) pairs, None = open."""
    if not spec:
        return None
    out = []
    for item in spec:
        if isinstance(item, tuple):
            lo, hi = item
            out.append((lo if isinstance(lo, int) else None, hi if isinstance(hi, int) else None))
        elif isinstance(item, int):
            out.append((item, item))
        else:
            raise Unsupported(f"constraint {item!r}")
    return out


def _within(v: int, bounds: list[tuple[int | None, int | None]]) -> bool:
    for lo, hi in bounds:
        if (lo is None or v >= lo) and (hi is None or v <= hi):
            return True
    return False


def _checker(bounds: list[tuple[int | None, int | None]] | None) -> Callable[[int], bool] | None:
    """A fast membership test for constraint bounds (None when unconstrained)."""
    if bounds is None:
        return None
    if len(bounds) == 1:
        lo, hi = bounds[0]
        if lo is not None and hi is not None:
            return lambda v: lo <= v <= hi
    return lambda v: _within(v, bounds)


def _fmt_bounds(bounds: list[tuple[int | None, int | None]] | None) -> str:
    return " or ".join(f"{'MIN' if lo is None else lo}..{'MAX' if hi is None else hi}" for lo, hi in bounds or [])


def _any_bounds(d: bytes, pos: int, end: int) -> int:
    """End of the TLV at `pos` (any identifier, definite length); its content is not examined."""
    if pos >= end:
        raise Mismatch(pos, "value missing")
    p = pos + 1
    if d[pos] & 0x1F == 0x1F:
        count = 0
        while True:
            if p >= end:
                raise Mismatch(pos, "identifier truncated")
            b = d[p]
            p += 1
            count += 1
            if not b & 0x80:
                break
            if count >= 4:
                raise Mismatch(pos, "tag number longer than 4 octets")
    if p >= end:
        raise Mismatch(p, "length field missing")
    ln = d[p]
    p += 1
    if ln >= 0x80:
        k = ln & 0x7F
        if k == 0 or k > MAX_LENGTH_OCTETS or p + k > end:
            raise Mismatch(p - 1, "invalid or truncated length field")
        ln = int.from_bytes(d[p : p + k], "big")
        p += k
    if p + ln > end:
        raise Mismatch(pos, f"length {ln} exceeds the {end - p} byte(s) available")
    return p + ln
