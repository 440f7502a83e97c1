"""Compact-array (A-XDR `compact-array`, DLMS UA Green Book): type descriptions, packed contents, sizes.

Contents are decoded by a plan compiled once per type description (runs of fixed-size leaves become one
`struct` read); hostile descriptions (zero-size values, node counts out of proportion with the bytes) are refused
before any plan is built.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import DecodeError
from ..length import minimal_size, read_length_at, short
from .layout import KIND, MAX_DEPTH, MAX_LENGTH_OCTETS, SIZE, TAG_NAMES, Kind, Tag, TypeDesc
from .records import Data

_tuple_new = tuple.__new__


def read_len(data: bytes, pos: int, end: int, base: int, field: str) -> tuple[int, int, int | None]:
    """An A-XDR length or count: (value, new position, non-minimal wire size or None)."""
    return read_length_at(data, pos, end, base, field, MAX_LENGTH_OCTETS)


def _decode_desc(data: bytes, pos: int, end: int, base: int, depth: int) -> tuple[TypeDesc, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(base + pos, "type-description", f"nesting deeper than {MAX_DEPTH} levels")
    if pos >= end:
        raise short(base, pos, "type-description tag", 1, 0)
    tag = data[pos]
    kind = KIND[tag]
    if kind == Kind.ARRAY:
        if pos + 3 > end:
            raise short(base, pos + 1, "type-description array count", 2, end - pos - 1)
        count = (data[pos + 1] << 8) | data[pos + 2]
        child, npos = _decode_desc(data, pos + 3, end, base, depth + 1)
        return TypeDesc(tag, (child,), count), npos
    if kind == Kind.STRUCT:
        count, npos, lsize = read_len(data, pos + 1, end, base, "type-description structure count")
        if count > end - npos:
            raise DecodeError(base + npos, "type-description structure",
                              f"{count} element(s) cannot fit in {end - npos} byte(s)")
        children = []
        for _ in range(count):
            child, npos = _decode_desc(data, npos, end, base, depth + 1)
            children.append(child)
        return TypeDesc(tag, tuple(children), 0, lsize), npos
    if kind == Kind.BAD or kind == Kind.COMPACT:
        raise DecodeError(base + pos, "type-description tag", f"0x{tag:02X} cannot describe compact-array contents")
    return TypeDesc(tag), pos + 1


def _min_size(desc: TypeDesc) -> int:
    """Fewest bytes one packed value of `desc` takes (strings take at least their length byte)."""
    kind = KIND[desc.tag]
    if kind == Kind.STRUCT:
        return sum(_min_size(c) for c in desc.children)
    if kind == Kind.ARRAY:
        return desc.count * _min_size(desc.children[0])
    if kind in (Kind.STRING, Kind.BITS):
        return 1
    return SIZE[desc.tag]


def _node_count(desc: TypeDesc) -> int:
    kind = KIND[desc.tag]
    if kind == Kind.STRUCT:
        return 1 + sum(_node_count(c) for c in desc.children)
    if kind == Kind.ARRAY:
        return 1 + desc.count * _node_count(desc.children[0])
    return 1


# struct formats of the fixed-size leaves inside compact-array contents (big-endian, no padding)
_PACK_FMT = {0x03: "B", 0x05: "i", 0x06: "I", 0x0D: "B", 0x0F: "b", 0x10: "h", 0x11: "B", 0x12: "H", 0x14: "q",
             0x15: "Q", 0x16: "B", 0x17: "4s", 0x18: "8s", 0x19: "12s", 0x1A: "5s", 0x1B: "4s"}
_P_LEAF, _P_FIXED_STRUCT, _P_STRUCT, _P_ARRAY, _P_STRING, _P_BITS, _P_EMPTY, _P_FIXED_ARRAY = range(8)
_PLAN_CACHE: dict[bytes, tuple[TypeDesc, Any, int]] = {}


def _plan(desc: TypeDesc) -> tuple[Any, ...]:
    """Compile a type description into a decoding plan; runs of fixed-size leaves become one `struct` read."""
    tag = desc.tag
    kind = KIND[tag]
    if kind == Kind.STRUCT:
        kids = [_plan(c) for c in desc.children]
        if kids and all(k[0] == _P_LEAF for k in kids):
            return (_P_FIXED_STRUCT, tag, struct.Struct(">" + "".join(_PACK_FMT[k[1]] for k in kids)),
                    tuple(k[1] for k in kids))
        return (_P_STRUCT, tag, kids)
    if kind == Kind.ARRAY:
        child = _plan(desc.children[0])
        if child[0] == _P_LEAF and desc.count:
            return (_P_FIXED_ARRAY, tag, struct.Struct(">" + _PACK_FMT[child[1]] * desc.count), child[1])
        return (_P_ARRAY, tag, desc.count, child)
    if kind == Kind.STRING:
        return (_P_STRING, tag)
    if kind == Kind.BITS:
        return (_P_BITS, tag)
    if kind == Kind.EMPTY:
        return (_P_EMPTY, tag)
    return (_P_LEAF, tag, struct.Struct(">" + _PACK_FMT[tag]))


def decode_compact(data: bytes, pos: int, end: int, base: int, depth: int) -> tuple[Data, int, int]:
    """The compact-array whose tag is at `pos - 1`: (node, start of its contents, end)."""
    start = pos - 1
    desc_start = pos
    desc, pos = _decode_desc(data, pos, end, base, depth)
    n, pos, lsize = read_len(data, pos, end, base, "compact-array contents length")
    cend = pos + n
    if cend > end:
        raise short(base, pos, "compact-array contents", n, end - pos)
    elements: list[Data] = []
    if n:
        key = data[desc_start:desc_start + desc_size(desc)]
        cached: tuple[TypeDesc, Any, int] | None = _PLAN_CACHE.get(key)
        if cached is None:
            # Every element must consume bytes, fit the contents, and the node count must stay linear in the
            # input (hostile input): checked before the plan is built.
            min_size = _min_size(desc)
            if min_size == 0:
                raise DecodeError(base + start, "compact-array", "a type description of zero-size values cannot "
                                  "fill non-empty contents")
            if _node_count(desc) > 8 * min_size + 64:
                raise DecodeError(base + start, "compact-array", "type description has too many zero-size "
                                  "values per byte of contents")
            if min_size <= 0xFFFF:
                cached = (desc, _plan(desc), min_size)
                if len(_PLAN_CACHE) > 256:
                    _PLAN_CACHE.clear()
                _PLAN_CACHE[key] = cached
            else:
                cached = (desc, None, min_size)
        desc, plan, min_size = cached
        if min_size > n:
            raise DecodeError(base + pos, "compact-array contents",
                              f"{n} byte(s) cannot hold one element of at least {min_size} byte(s)")
        if plan is None:
            plan = _plan(desc)
        append = elements.append
        if plan[0] == _P_FIXED_STRUCT:  # the common case (e.g. RTDS ECS35c, ECS23b): one struct read per element
            st = plan[2]
            tags = plan[3]
            size = st.size
            unpack = st.unpack_from
            _new = _tuple_new
            D = Data
            while pos < cend:
                if pos + size > cend:
                    raise short(base, pos, "compact-array element", size, cend - pos)
                append(_new(D, (0x02, [_new(D, tv) for tv in zip(tags, unpack(data, pos), strict=False)])))
                pos += size
        else:
            while pos < cend:
                el, pos = _decode_packed(plan, data, pos, cend, base)
                append(el)
    return Data(0x13, elements, desc, lsize), cend - n, cend


def desc_size(desc: TypeDesc) -> int:
    if desc.tag == Tag.ARRAY:
        return 3 + desc_size(desc.children[0])
    if desc.tag == Tag.STRUCTURE:
        return (desc.lsize or minimal_size(len(desc.children))) + 1 + sum(desc_size(c) for c in desc.children)
    return 1


def _decode_packed(plan: tuple[Any, ...], data: bytes, pos: int, end: int, base: int) -> tuple[Data, int]:
    """One value of compact-array contents (no tag; structures/arrays without counts), following `plan`."""
    k = plan[0]
    tag = plan[1]
    if k == _P_FIXED_STRUCT or k == _P_LEAF or k == _P_FIXED_ARRAY:
        st = plan[2]
        npos = pos + st.size
        if npos > end:
            raise short(base, pos, TAG_NAMES[tag], st.size, end - pos)
        vals = st.unpack_from(data, pos)
        if k == _P_LEAF:
            return _tuple_new(Data, (tag, vals[0])), npos
        if k == _P_FIXED_STRUCT:
            return _tuple_new(Data, (tag, [_tuple_new(Data, tv) for tv in zip(plan[3], vals, strict=False)])), npos
        leaf = plan[3]
        return _tuple_new(Data, (tag, [_tuple_new(Data, (leaf, v)) for v in vals])), npos
    if k == _P_STRUCT:
        items = []
        for c in plan[2]:
            item, pos = _decode_packed(c, data, pos, end, base)
            items.append(item)
        return _tuple_new(Data, (tag, items)), pos
    if k == _P_ARRAY:
        child = plan[3]
        items = []
        for _ in range(plan[2]):
            item, pos = _decode_packed(child, data, pos, end, base)
            items.append(item)
        return _tuple_new(Data, (tag, items)), pos
    if k == _P_STRING:
        n, pos, lsize = read_len(data, pos, end, base, TAG_NAMES[tag] + " length")
        npos = pos + n
        if npos > end:
            raise short(base, pos, TAG_NAMES[tag], n, end - pos)
        return Data(tag, data[pos:npos], None, lsize), npos
    if k == _P_BITS:
        bits, pos, lsize = read_len(data, pos, end, base, "bit-string length")
        n = (bits + 7) >> 3
        npos = pos + n
        if npos > end:
            raise short(base, pos, "bit-string", n, end - pos)
        return _tuple_new(Data, (tag, data[pos:npos], bits, lsize)), npos
    return _tuple_new(Data, (tag, None)), pos  # null-data / dont-care: no bytes

