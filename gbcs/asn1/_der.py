"""DER/BER TLV plumbing for the ASN.1 payload codec: one validating scan, length forms, generic trees.

The scan walks a payload once, iteratively, and records every TLV in pre-order (gbcs-parser src/asn1.ts payloads are
one DER value).  Its node arrays feed the typed decoder (`_fastdec`), the explanation walker and the generic
fallback tree; its map of non-minimal length forms (RTDS CS02a/b/f/g payloads carry 32 of them, docs/codec.md)
lets `relength` rebuild the exact wire bytes from a canonical encoding.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError, EncodeError

MAX_DEPTH = 64  # constructed nesting bound (payload-codec contract)
MAX_LENGTH_OCTETS = 4  # long-form length octets accepted (4 GiB; GBCS payloads are far smaller)


class Scan:
    """Pre-order TLV arrays of one payload: identifier, TLV start, content start/end, next-sibling index.

    `tags[i]` is the identifier octet as an int (multi-byte identifiers are stored as their big-endian value,
    always > 0xFF, so no single-octet tag compares equal).  `nonminimal` maps the index of every TLV whose
    length is not in its minimal form to (length-field size, absolute offset of the length field, length).
    """

    __slots__ = ("cends", "cstarts", "data", "nexts", "nonminimal", "starts", "tags")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.tags: list[int] = []
        self.starts: list[int] = []
        self.cstarts: list[int] = []
        self.cends: list[int] = []
        self.nexts: list[int] = []
        self.nonminimal: dict[int, tuple[int, int, int]] = {}


def minimal_length_size(n: int) -> int:
    """Size of the minimal definite-length field for `n` content octets."""
    return 1 if n < 0x80 else 1 + (n.bit_length() + 7) // 8


def encode_length(n: int, size: int | None = None) -> bytes:
    """Definite length field; `size` (1..5) forces a long form of that many octets when `n` fits."""
    need = minimal_length_size(n)
    if size is None or size <= need:
        if n < 0x80:
            return bytes((n,))
        k = need - 1
    else:
        k = size - 1
    if k > MAX_LENGTH_OCTETS:
        raise EncodeError("length", f"{n} needs more than {MAX_LENGTH_OCTETS} length octets")
    return bytes((0x80 | k,)) + n.to_bytes(k, "big")


def scan(data: bytes, base: int = 0) -> Scan:
    """Validate `data` as exactly one well-formed definite-length TLV tree and index it.

    Raises DecodeError (absolute offsets: `base` + position) for an empty payload, truncated identifier or
    length, indefinite or over-long length forms, a length running past its container, nesting deeper than
    MAX_DEPTH, or bytes after the top-level TLV.
    """
    s = Scan(data)
    tags_append = s.tags.append
    starts_append = s.starts.append
    cstarts_append = s.cstarts.append
    cends_append = s.cends.append
    nexts = s.nexts
    nexts_append = nexts.append
    n = len(data)
    if n == 0:
        raise DecodeError(base, "asn1", "empty payload: expected one DER value")
    open_idx: list[int] = []  # indices of the constructed TLVs enclosing `pos`
    ends: list[int] = []  # their content ends
    end = n
    pos = 0
    idx = 0
    while True:
        if pos >= end:
            if not ends:
                break
            nexts[open_idx.pop()] = idx
            end = ends.pop()
            if not ends and pos != n:
                raise DecodeError(base + pos, "asn1", f"{n - pos} trailing byte(s) after the DER value")
            continue
        start = pos
        t = data[pos]
        pos += 1
        if t & 0x1F == 0x1F:  # high-tag-number form: base-128 continuation octets
            tag = t
            count = 0
            while True:
                if pos >= end:
                    raise DecodeError(base + start, "asn1.tag", "identifier truncated")
                b = data[pos]
                pos += 1
                tag = (tag << 8) | b
                count += 1
                if not b & 0x80:
                    break
                if count >= 4:
                    raise DecodeError(base + start, "asn1.tag", "tag number longer than 4 octets")
        else:
            tag = t
        if pos >= end:
            raise DecodeError(base + pos, "asn1.length", "length field missing")
        ln = data[pos]
        pos += 1
        if ln >= 0x80:
            lpos = pos - 1
            k = ln & 0x7F
            if k == 0:
                raise DecodeError(base + lpos, "asn1.length", "indefinite length (0x80) is not DER")
            if k > MAX_LENGTH_OCTETS:
                raise DecodeError(
                    base + lpos, "asn1.length", f"{k} length octets (more than {MAX_LENGTH_OCTETS} supported)"
                )
            if pos + k > end:
                raise DecodeError(
                    base + lpos, "asn1.length", f"needs {k} length octet(s), only {end - pos} left"
                )
            ln = int.from_bytes(data[pos : pos + k], "big")
            pos += k
            if 1 + k != minimal_length_size(ln):
                s.nonminimal[idx] = (1 + k, base + lpos, ln)
            if ln > end - pos:
                raise DecodeError(
                    base + lpos, "asn1.length", f"length {ln} exceeds the {end - pos} byte(s) available"
                )
        elif ln > end - pos:
            raise DecodeError(
                base + pos - 1, "asn1.length", f"length {ln} exceeds the {end - pos} byte(s) available"
            )
        tags_append(tag)
        starts_append(start)
        cstarts_append(pos)
        cends_append(pos + ln)
        if t & 0x20:
            if len(ends) >= MAX_DEPTH:
                raise DecodeError(base + start, "asn1", f"nesting deeper than {MAX_DEPTH} levels")
            nexts_append(0)
            open_idx.append(idx)
            ends.append(end)
            end = pos + ln
        else:
            nexts_append(idx + 1)
            pos += ln
        idx += 1
        if not ends and pos != n:
            raise DecodeError(base + pos, "asn1", f"{n - pos} trailing byte(s) after the DER value")
    return s


def identifier_bytes(tag: int) -> bytes:
    """The identifier octets of a scanned `tags[i]` value."""
    return tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")


def length_forms(wire: bytes, nonminimal_starts: list[int]) -> dict[int, int]:
    """Wire length-field sizes that the canonical (minimal-length) re-encoding would not produce, keyed by
    the TLV's offset in that canonical encoding: every non-minimal TLV (starting at `nonminimal_starts`) and
    every enclosing TLV whose length field shrinks once its content is canonical (e.g. `81 80` around
    content that becomes 0x7A octets).  Only TLVs enclosing a listed start are examined; the others have
    identical wire and canonical encodings.  `wire` must be well-formed along those paths.
    """
    if not nonminimal_starts:
        return {}
    keys = sorted(nonminimal_starts)

    def measure(pos: int, depth: int) -> tuple[int, int, int, list[Any] | None, int, int]:
        cs, ce, ident = tlv_header(wire, pos)
        wire_size = cs - pos - ident
        children = None
        lo = bisect_left(keys, cs)
        if wire[pos] & 0x20 and lo < len(keys) and keys[lo] < ce and depth < MAX_DEPTH:
            children = []
            p = cs
            while p < ce:
                child = measure(p, depth + 1)
                children.append(child)
                p = child[4]
            content = sum(c[5] for c in children)
        else:
            content = ce - cs
        total = ident + minimal_length_size(content) + content
        return ident, wire_size, content, children, ce, total

    out: dict[int, int] = {}

    def assign(node: tuple[int, int, int, list[Any] | None, int, int], c: int) -> None:
        ident, wire_size, content, children, _, _ = node
        size = minimal_length_size(content)
        if wire_size != size:
            out[c] = wire_size
        if children:
            p = c + ident + size
            for child in children:
                assign(child, p)
                p += child[5]

    assign(measure(0, 0), 0)
    return out


def canonical_sizes(sc: Scan) -> dict[int, int]:
    """`length_forms` of a scanned payload (all its non-minimal length fields)."""
    return length_forms(sc.data, [sc.starts[i] for i in sc.nonminimal])


def tlv_header(d: bytes, pos: int) -> tuple[int, int, int]:
    """(content start, content end, identifier length) of a TLV in bytes known to be well-formed."""
    p = pos + 1
    if d[pos] & 0x1F == 0x1F:
        while d[p] & 0x80:
            p += 1
        p += 1
    ident = p - pos
    ln = d[p]
    p += 1
    if ln >= 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(d[p : p + k], "big")
        p += k
    return p, p + ln, ident


def relength(canonical: bytes, sizes: dict[int, int]) -> bytes:
    """Rebuild `canonical` (minimal-length DER) giving the TLV at canonical offset o a length field of
    `sizes[o]` octets.  Only TLVs enclosing a listed offset are re-serialised, so opaque parts (ANY values)
    are copied as they are; a size too small for the length falls back to the minimal form."""
    if not sizes:
        return canonical
    keys = sorted(sizes)

    def build(pos: int, depth: int) -> tuple[bytes, int]:
        cs, ce, ident = tlv_header(canonical, pos)
        lo = bisect_right(keys, pos)
        inside = lo < len(keys) and keys[lo] < ce
        if inside and canonical[pos] & 0x20 and depth < MAX_DEPTH:
            parts = []
            p = cs
            while p < ce:
                part, p = build(p, depth + 1)
                parts.append(part)
            content = b"".join(parts)
        else:
            content = canonical[cs:ce]
        return canonical[pos : pos + ident] + encode_length(len(content), sizes.get(pos)) + content, ce

    out, _ = build(0, 0)
    return out


def is_constructed(tag: int) -> bool:
    """Constructed bit of a scanned identifier (first identifier octet)."""
    while tag > 0xFF:
        tag >>= 8
    return bool(tag & 0x20)


TAG_CLASSES = ("universal", "application", "context", "private")


@dataclass(slots=True)
class TlvNode:
    """One TLV of a payload decoded without a schema (generic fallback): identifier octets and either the
    primitive `value` or the constructed `children`."""

    tag: bytes
    value: bytes | None = None
    children: list[TlvNode] | None = field(default=None)

    @property
    def tag_class(self) -> str:
        return TAG_CLASSES[self.tag[0] >> 6]

    @property
    def constructed(self) -> bool:
        return bool(self.tag[0] & 0x20)

    @property
    def tag_number(self) -> int:
        if self.tag[0] & 0x1F != 0x1F:
            return self.tag[0] & 0x1F
        v = 0
        for b in self.tag[1:]:
            v = (v << 7) | (b & 0x7F)
        return v


def tree(sc: Scan, i: int = 0) -> TlvNode:
    """The generic TlvNode tree of scanned TLV `i` (recursion bounded by the scan's MAX_DEPTH)."""
    tag = sc.tags[i]
    ident = identifier_bytes(tag)
    if ident[0] & 0x20:
        kids = []
        j = i + 1
        nxt = sc.nexts[i]
        while j < nxt:
            kids.append(tree(sc, j))
            j = sc.nexts[j]
        return TlvNode(ident, None, kids)
    return TlvNode(ident, bytes(sc.data[sc.cstarts[i] : sc.cends[i]]), None)


def serialize(node: TlvNode, depth: int = 0) -> bytes:
    """Canonical (minimal-length) encoding of a generic tree; `relength` restores wire length forms."""
    if depth > MAX_DEPTH:
        raise EncodeError("asn1", f"tree deeper than {MAX_DEPTH} levels")
    tag = node.tag
    if not isinstance(tag, (bytes, bytearray)) or not tag:
        raise EncodeError("asn1.tag", "identifier octets must be non-empty bytes")
    if (
        (tag[0] & 0x1F == 0x1F) != (len(tag) > 1)
        or any(not b & 0x80 for b in tag[1:-1])
        or (len(tag) > 1 and tag[-1] & 0x80)
    ):
        raise EncodeError("asn1.tag", f"malformed identifier octets {bytes(tag).hex().upper()}")
    if tag[0] & 0x20:
        if node.children is None or node.value is not None:
            raise EncodeError(
                "asn1", f"constructed tag {bytes(tag).hex().upper()} needs children and no value"
            )
        content = b"".join(serialize(c, depth + 1) for c in node.children)
    else:
        if node.value is None or node.children is not None:
            raise EncodeError(
                "asn1", f"primitive tag {bytes(tag).hex().upper()} needs a value and no children"
            )
        content = bytes(node.value)
    return bytes(tag) + encode_length(len(content)) + content
