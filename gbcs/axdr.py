"""A-XDR `Data` (DLMS/COSEM) as GBCS carries it: decode, encode, JSON and explanation (GBCS.md §4.2).

One `Data` node (an immutable tuple, cheap to create) per value: `tag` (the DLMS Data CHOICE, see `Tag`),
`value` and, where needed, `extra` (bit count of a bit-string, type description of a compact-array) and
`lsize` (wire size of a length or count written in a non-minimal form, so that re-encoding is byte-exact;
None when minimal).

Values: None (null-data, dont-care); list[Data] (array, structure, compact-array elements); int (boolean keeps
its raw byte, integers with their DLMS signedness, enum, bcd as its raw byte); bytes (octet-/visible-/utf8-string,
bit-string, float32/64 and date-time/date/time, kept as their exact bytes).

The decoder is hand-written over bytes with int positions (CODECS.md §4): every count and length is checked
against the bytes left before anything is allocated, nesting is bounded (`MAX_DEPTH`), and every failure is a
`DecodeError` carrying the absolute offset (`base` + position).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from operator import itemgetter
from typing import Any, Self

from .errors import DecodeError, EncodeError
from .length import encode_length, minimal_size
from .tree import Node

MAX_DEPTH = 64  # nesting bound for hostile input (payload-codec contract)
MAX_LENGTH_OCTETS = 4  # A-XDR lengths: 0x81..0x84 + 1..4 octets (a bit-string may count up to 2^32-1 bits)


class Tag(IntEnum):
    """The DLMS `Data` CHOICE tags (DLMS UA Green Book `Data`; GBCS.md §4.2 lists those seen in GBCS)."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05
    DOUBLE_LONG_UNSIGNED = 0x06
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    BCD = 0x0D
    INTEGER = 0x0F
    LONG = 0x10
    UNSIGNED = 0x11
    LONG_UNSIGNED = 0x12
    COMPACT_ARRAY = 0x13
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18
    DATE_TIME = 0x19
    DATE = 0x1A
    TIME = 0x1B
    DONT_CARE = 0xFF

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


TAG_NAMES: dict[int, str] = {t.value: t.label for t in Tag}
_TAG_BY_NAME: dict[str, int] = {v: k for k, v in TAG_NAMES.items()}

# Kinds of tag, indexed by tag byte (0 = not a Data tag).
_K_BAD, _K_UINT, _K_SINT, _K_FIXED, _K_STRING, _K_ARRAY, _K_STRUCT, _K_COMPACT, _K_BITS, _K_EMPTY, _K_BOOL = range(11)
_KIND = [_K_BAD] * 256
_SIZE = [0] * 256
for _t, _k, _n in (
    (0x00, _K_EMPTY, 0), (0xFF, _K_EMPTY, 0), (0x01, _K_ARRAY, 0), (0x02, _K_STRUCT, 0), (0x03, _K_BOOL, 1),
    (0x04, _K_BITS, 0), (0x05, _K_SINT, 4), (0x06, _K_UINT, 4), (0x09, _K_STRING, 0), (0x0A, _K_STRING, 0),
    (0x0C, _K_STRING, 0), (0x0D, _K_UINT, 1), (0x0F, _K_SINT, 1), (0x10, _K_SINT, 2), (0x11, _K_UINT, 1),
    (0x12, _K_UINT, 2), (0x13, _K_COMPACT, 0), (0x14, _K_SINT, 8), (0x15, _K_UINT, 8), (0x16, _K_UINT, 1),
    (0x17, _K_FIXED, 4), (0x18, _K_FIXED, 8), (0x19, _K_FIXED, 12), (0x1A, _K_FIXED, 5), (0x1B, _K_FIXED, 4),
):
    _KIND[_t] = _k
    _SIZE[_t] = _n
INTEGER_TAGS = frozenset(t for t in range(256) if _KIND[t] in (_K_UINT, _K_SINT))
STRING_TAGS = frozenset((0x09, 0x0A, 0x0C))
FIXED_BYTES_TAGS = frozenset((0x17, 0x18, 0x19, 0x1A, 0x1B))


def _range(tag: int) -> tuple[int, int]:
    n = _SIZE[tag] * 8
    if _KIND[tag] == _K_SINT:
        return -(1 << (n - 1)), (1 << (n - 1)) - 1
    return 0, (1 << n) - 1


@dataclass(slots=True, frozen=True)
class TypeDesc:
    """A compact-array type description: a simple tag, `array` (count, one child) or `structure` (children)."""

    tag: int
    children: tuple[TypeDesc, ...] = ()
    count: int = 0  # array: number-of-elements (Unsigned16)
    lsize: int | None = None  # structure: non-minimal wire size of its child count


_tuple_new = tuple.__new__


class Data(tuple):
    """One A-XDR `Data` value (see the module docstring for `value`/`extra`/`lsize`).

    An immutable tuple `(tag, value)` or `(tag, value, extra, lsize)`, so that the decoder creates nodes at C
    speed (`tuple.__new__`); build with `Data(tag, value, extra, lsize)` or the named constructors below.
    """

    __slots__ = ()

    def __new__(cls, tag: int, value: Any = None, extra: Any = None, lsize: int | None = None) -> Self:
        if extra is None and lsize is None:
            return _tuple_new(cls, (tag, value))
        return _tuple_new(cls, (tag, value, extra, lsize))

    tag: int = property(itemgetter(0))  # type: ignore[assignment]
    value: Any = property(itemgetter(1))

    @property
    def extra(self) -> Any:
        return self[2] if len(self) > 2 else None

    @property
    def lsize(self) -> int | None:
        return self[3] if len(self) > 3 else None

    def __repr__(self) -> str:
        s = f"Data({TAG_NAMES.get(self[0], hex(self[0]))}, {self[1]!r}"
        if len(self) > 2:
            s += f", extra={self[2]!r}, lsize={self[3]!r}"
        return s + ")"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    # -- convenience constructors (canonical forms) -------------------------------------------------------------
    @classmethod
    def null(cls) -> Data:
        return cls(0x00)

    @classmethod
    def dont_care(cls) -> Data:
        return cls(0xFF)

    @classmethod
    def array(cls, items: Iterable[Data]) -> Data:
        return cls(0x01, list(items))

    @classmethod
    def structure(cls, items: Iterable[Data]) -> Data:
        return cls(0x02, list(items))

    @classmethod
    def boolean(cls, value: bool | int) -> Data:
        """TRUE is written `FF`, as in RTDS (e.g. CCS01 enable_disable_joining, GBCS.md §4.3); an int is the raw byte."""
        if isinstance(value, bool):
            return cls(0x03, 0xFF if value else 0x00)
        return cls(0x03, value)

    @classmethod
    def bit_string(cls, data: bytes, bits: int | None = None) -> Data:
        return cls(0x04, bytes(data), len(data) * 8 if bits is None else bits)

    @classmethod
    def bits(cls, text: str) -> Data:
        """A bit-string from a text of 0/1 digits, first bit = most significant bit of the first byte."""
        n = len(text)
        raw = int(text, 2) << (-n % 8) if n else 0
        return cls(0x04, raw.to_bytes((n + 7) // 8, "big"), n)

    @classmethod
    def octet_string(cls, data: bytes) -> Data:
        return cls(0x09, bytes(data))

    @classmethod
    def visible_string(cls, text: str | bytes) -> Data:
        return cls(0x0A, text.encode("ascii") if isinstance(text, str) else bytes(text))

    @classmethod
    def utf8_string(cls, text: str | bytes) -> Data:
        return cls(0x0C, text.encode("utf-8") if isinstance(text, str) else bytes(text))

    @classmethod
    def integer(cls, v: int) -> Data:
        return cls(0x0F, v)

    @classmethod
    def long(cls, v: int) -> Data:
        return cls(0x10, v)

    @classmethod
    def unsigned(cls, v: int) -> Data:
        return cls(0x11, v)

    @classmethod
    def long_unsigned(cls, v: int) -> Data:
        return cls(0x12, v)

    @classmethod
    def double_long(cls, v: int) -> Data:
        return cls(0x05, v)

    @classmethod
    def double_long_unsigned(cls, v: int) -> Data:
        return cls(0x06, v)

    @classmethod
    def long64(cls, v: int) -> Data:
        return cls(0x14, v)

    @classmethod
    def long64_unsigned(cls, v: int) -> Data:
        return cls(0x15, v)

    @classmethod
    def enum(cls, v: int) -> Data:
        return cls(0x16, int(v))

    @classmethod
    def float32(cls, v: float) -> Data:
        return cls(0x17, struct.pack(">f", v))

    @classmethod
    def float64(cls, v: float) -> Data:
        return cls(0x18, struct.pack(">d", v))

    @classmethod
    def date_time(cls, raw: bytes) -> Data:
        return cls(0x19, bytes(raw))

    @classmethod
    def compact_array(cls, desc: TypeDesc, elements: Iterable[Data]) -> Data:
        return cls(0x13, list(elements), desc)

    # -- views -------------------------------------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        return TAG_NAMES.get(self.tag, f"tag-0x{self.tag:02X}")

    @property
    def items(self) -> list[Data]:
        """Children of an array/structure/compact-array (EncodeError-free: [] for anything else)."""
        return self.value if isinstance(self.value, list) else []

    def as_float(self) -> float:
        if self.tag == 0x17:
            return struct.unpack(">f", self.value)[0]
        if self.tag == 0x18:
            return struct.unpack(">d", self.value)[0]
        raise TypeError(f"{self.type_name} is not a float")

    def bit_text(self) -> str:
        """A bit-string as 0/1 digits (first bit = MSB of the first byte)."""
        n = self.extra or 0
        return "".join(f"{b:08b}" for b in self.value)[:n]

    def encode(self) -> bytes:
        out = bytearray()
        _encode(self, out, 0)
        return bytes(out)


# --------------------------------------------------------------------------------------------------------------
# Decoding


def _short(base: int, pos: int, field: str, need: int, have: int) -> DecodeError:
    if have <= 0:
        return DecodeError(base + pos, field, f"needs {need} byte(s), none left")
    return DecodeError(base + pos, field, f"needs {need} byte(s), only {have} left")


def read_len(data: bytes, pos: int, end: int, base: int, field: str) -> tuple[int, int, int | None]:
    """An A-XDR length: (value, new position, non-minimal wire size or None)."""
    if pos >= end:
        raise _short(base, pos, field, 1, 0)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1, None
    n = first & 0x7F
    if n == 0 or n > MAX_LENGTH_OCTETS:
        raise DecodeError(base + pos, field, f"length form 0x{first:02X} is not 0x81..0x{0x80 + MAX_LENGTH_OCTETS:02X}")
    npos = pos + 1 + n
    if npos > end:
        raise _short(base, pos + 1, field, n, end - pos - 1)
    v = int.from_bytes(data[pos + 1:npos], "big")
    size = 1 + n
    return v, npos, (None if size == _minimal_len_size(v) else size)


_minimal_len_size = minimal_size


def decode_at(data: bytes, pos: int, end: int, base: int = 0, depth: int = 0) -> tuple[Data, int]:
    """Decode one tagged `Data` at `data[pos:end]`; return it and the position after it."""
    if end != len(data):
        data = data[:end]
    items: list[Data] = []
    pos = _decode_items(data, pos, end, base, depth, 1, items)
    return items[0], pos


def _decode_items(data: bytes, pos: int, end: int, base: int, depth: int, count: int, items: list[Data],
                  _new: Any = _tuple_new, D: Any = Data, kinds: list[int] = _KIND, sizes: list[int] = _SIZE) -> int:
    """Append `count` tagged `Data` values read from `data[pos:]` to `items`; return the new position.

    The hot loop of the codec (CODECS.md §4 speed notes): iterative (an explicit stack instead of recursion for
    arrays/structures), nodes built with `tuple.__new__`, and `end` must be `len(data)` so that single-byte
    reads past the end raise IndexError, which is turned into a DecodeError at the offending position.
    """
    append = items.append
    stack: list[tuple[Any, int]] = []
    remaining = count
    level = depth
    tag = -1
    # kind codes: 1 unsigned, 2 signed, 3 fixed bytes, 4 string, 5 array, 6 structure, 7 compact-array,
    # 8 bit-string, 9 null/dont-care, 10 boolean (the _K_* constants; literals are faster in this loop)
    try:
        while True:
            while remaining:
                remaining -= 1
                tag = data[pos]
                kind = kinds[tag]
                pos += 1
                if kind == 4:  # octet-string, visible-string, utf8-string
                    n = data[pos]
                    if n < 0x80:
                        pos += 1
                        npos = pos + n
                        if npos > end:
                            raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, data[pos:npos])))
                    else:
                        n, pos, lsize = read_len(data, pos, end, base, TAG_NAMES[tag] + " length")
                        npos = pos + n
                        if npos > end:
                            raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(D(tag, data[pos:npos], None, lsize))
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
                        stack.append((append, remaining))
                        append = sub.append
                        remaining = n
                elif kind == 1:  # unsigned integers
                    n = sizes[tag]
                    if n == 1:
                        append(_new(D, (tag, data[pos])))
                    elif n == 2:
                        append(_new(D, (tag, (data[pos] << 8) | data[pos + 1])))
                    else:
                        if pos + n > end:
                            raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, int.from_bytes(data[pos:pos + n], "big"))))
                    pos += n
                elif kind == 2:  # signed integers
                    n = sizes[tag]
                    if n == 1:
                        v = data[pos]
                        append(_new(D, (tag, v - 256 if v > 127 else v)))
                    else:
                        if pos + n > end:
                            raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
                        append(_new(D, (tag, int.from_bytes(data[pos:pos + n], "big", signed=True))))
                    pos += n
                elif kind == 9:  # null-data, dont-care
                    append(_new(D, (tag, None)))
                elif kind == 10:  # boolean
                    append(_new(D, (tag, data[pos])))
                    pos += 1
                elif kind == 8:  # bit-string
                    bits, pos, lsize = read_len(data, pos, end, base, "bit-string length")
                    n = (bits + 7) >> 3
                    npos = pos + n
                    if npos > end:
                        raise _short(base, pos, "bit-string", n, end - pos)
                    append(_new(D, (tag, data[pos:npos], bits, lsize)))
                    pos = npos
                elif kind == 3:  # fixed-size bytes
                    n = sizes[tag]
                    npos = pos + n
                    if npos > end:
                        raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
                    append(_new(D, (tag, data[pos:npos])))
                    pos = npos
                elif kind == 7:
                    d, pos = _decode_compact(data, pos, end, base, level)
                    append(d)
                else:
                    raise DecodeError(base + pos - 1, "data tag", f"0x{tag:02X} is not a DLMS Data type")
            if not stack:
                return pos
            append, remaining = stack.pop()
            level -= 1
    except IndexError:
        # only single-byte reads index `data`; pos is at the tag or just after it (its length/value byte)
        raise DecodeError(base + min(pos, end), "data", "input ends inside a Data value") from None


def _decode_desc(data: bytes, pos: int, end: int, base: int, depth: int) -> tuple[TypeDesc, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(base + pos, "type-description", f"nesting deeper than {MAX_DEPTH} levels")
    if pos >= end:
        raise _short(base, pos, "type-description tag", 1, 0)
    tag = data[pos]
    kind = _KIND[tag]
    if kind == _K_ARRAY:
        if pos + 3 > end:
            raise _short(base, pos + 1, "type-description array count", 2, end - pos - 1)
        count = (data[pos + 1] << 8) | data[pos + 2]
        child, npos = _decode_desc(data, pos + 3, end, base, depth + 1)
        return TypeDesc(tag, (child,), count), npos
    if kind == _K_STRUCT:
        count, npos, lsize = read_len(data, pos + 1, end, base, "type-description structure count")
        if count > end - npos:
            raise DecodeError(base + npos, "type-description structure",
                              f"{count} element(s) cannot fit in {end - npos} byte(s)")
        children = []
        for _ in range(count):
            child, npos = _decode_desc(data, npos, end, base, depth + 1)
            children.append(child)
        return TypeDesc(tag, tuple(children), 0, lsize), npos
    if kind == _K_BAD or kind == _K_COMPACT:
        raise DecodeError(base + pos, "type-description tag", f"0x{tag:02X} cannot describe compact-array contents")
    return TypeDesc(tag), pos + 1


def _min_size(desc: TypeDesc) -> int:
    """Fewest bytes one packed value of `desc` takes (strings take at least their length byte)."""
    kind = _KIND[desc.tag]
    if kind == _K_STRUCT:
        return sum(_min_size(c) for c in desc.children)
    if kind == _K_ARRAY:
        return desc.count * _min_size(desc.children[0])
    if kind in (_K_STRING, _K_BITS):
        return 1
    return _SIZE[desc.tag]


def _node_count(desc: TypeDesc) -> int:
    kind = _KIND[desc.tag]
    if kind == _K_STRUCT:
        return 1 + sum(_node_count(c) for c in desc.children)
    if kind == _K_ARRAY:
        return 1 + desc.count * _node_count(desc.children[0])
    return 1


# struct formats of the fixed-size leaves inside compact-array contents (big-endian, no padding)
_PACK_FMT = {0x03: "B", 0x05: "i", 0x06: "I", 0x0D: "B", 0x0F: "b", 0x10: "h", 0x11: "B", 0x12: "H", 0x14: "q",
             0x15: "Q", 0x16: "B", 0x17: "4s", 0x18: "8s", 0x19: "12s", 0x1A: "5s", 0x1B: "4s"}
_P_LEAF, _P_FIXED_STRUCT, _P_STRUCT, _P_ARRAY, _P_STRING, _P_BITS, _P_EMPTY, _P_FIXED_ARRAY = range(8)
_PLAN_CACHE: dict[bytes, tuple[TypeDesc, Any, int, int]] = {}


def _plan(desc: TypeDesc) -> tuple[Any, ...]:
    """Compile a type description into a decoding plan; runs of fixed-size leaves become one `struct` read."""
    tag = desc.tag
    kind = _KIND[tag]
    if kind == _K_STRUCT:
        kids = [_plan(c) for c in desc.children]
        if kids and all(k[0] == _P_LEAF for k in kids):
            return (_P_FIXED_STRUCT, tag, struct.Struct(">" + "".join(_PACK_FMT[k[1]] for k in kids)),
                    tuple(k[1] for k in kids))
        return (_P_STRUCT, tag, kids)
    if kind == _K_ARRAY:
        child = _plan(desc.children[0])
        if child[0] == _P_LEAF and desc.count:
            return (_P_FIXED_ARRAY, tag, struct.Struct(">" + _PACK_FMT[child[1]] * desc.count), child[1])
        return (_P_ARRAY, tag, desc.count, child)
    if kind == _K_STRING:
        return (_P_STRING, tag)
    if kind == _K_BITS:
        return (_P_BITS, tag)
    if kind == _K_EMPTY:
        return (_P_EMPTY, tag)
    return (_P_LEAF, tag, struct.Struct(">" + _PACK_FMT[tag]))


def _decode_compact(data: bytes, pos: int, end: int, base: int, depth: int) -> tuple[Data, int]:
    start = pos - 1
    desc_start = pos
    desc, pos = _decode_desc(data, pos, end, base, depth)
    n, pos, lsize = read_len(data, pos, end, base, "compact-array contents length")
    cend = pos + n
    if cend > end:
        raise _short(base, pos, "compact-array contents", n, end - pos)
    elements: list[Data] = []
    if n:
        key = data[desc_start:desc_start + _desc_size(desc)]
        cached = _PLAN_CACHE.get(key)
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
                    raise _short(base, pos, "compact-array element", size, cend - pos)
                append(_new(D, (0x02, [_new(D, tv) for tv in zip(tags, unpack(data, pos))])))
                pos += size
        else:
            while pos < cend:
                el, pos = _decode_packed(plan, data, pos, cend, base)
                append(el)
    return Data(0x13, elements, desc, lsize), cend


def _desc_size(desc: TypeDesc) -> int:
    if desc.tag == 0x01:
        return 3 + _desc_size(desc.children[0])
    if desc.tag == 0x02:
        return (desc.lsize or _minimal_len_size(len(desc.children))) + 1 + sum(_desc_size(c) for c in desc.children)
    return 1


def _decode_packed(plan: tuple[Any, ...], data: bytes, pos: int, end: int, base: int) -> tuple[Data, int]:
    """One value of compact-array contents (no tag; structures/arrays without counts), following `plan`."""
    k = plan[0]
    tag = plan[1]
    if k == _P_FIXED_STRUCT or k == _P_LEAF or k == _P_FIXED_ARRAY:
        st = plan[2]
        npos = pos + st.size
        if npos > end:
            raise _short(base, pos, TAG_NAMES[tag], st.size, end - pos)
        vals = st.unpack_from(data, pos)
        if k == _P_LEAF:
            return _tuple_new(Data, (tag, vals[0])), npos
        if k == _P_FIXED_STRUCT:
            return _tuple_new(Data, (tag, [_tuple_new(Data, tv) for tv in zip(plan[3], vals)])), npos
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
            raise _short(base, pos, TAG_NAMES[tag], n, end - pos)
        return Data(tag, data[pos:npos], None, lsize), npos
    if k == _P_BITS:
        bits, pos, lsize = read_len(data, pos, end, base, "bit-string length")
        n = (bits + 7) >> 3
        npos = pos + n
        if npos > end:
            raise _short(base, pos, "bit-string", n, end - pos)
        return _tuple_new(Data, (tag, data[pos:npos], bits, lsize)), npos
    return _tuple_new(Data, (tag, None)), pos  # null-data / dont-care: no bytes


def decode_data(data: bytes, base: int = 0) -> Data:
    """Decode exactly one `Data` filling all of `data` (e.g. a decrypted protected-attributes plaintext)."""
    data = bytes(data)
    d, pos = decode_at(data, 0, len(data), base)
    if pos != len(data):
        raise DecodeError(base + pos, "data", f"{len(data) - pos} unexpected trailing byte(s)")
    return d


# --------------------------------------------------------------------------------------------------------------
# Encoding


def encode_len(value: int, size: int | None = None, field: str = "length") -> bytes:
    """An A-XDR length (BER-style, as GBCS frame lengths, up to 4 length octets); `size` forces a wire size."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EncodeError(field, f"bad length {value!r}")
    return encode_length(value, size, field, MAX_LENGTH_OCTETS)


def _check_bytes(d: Data, field: str) -> bytes:
    v = d.value
    if not isinstance(v, (bytes, bytearray)):
        raise EncodeError(field, f"{d.type_name} value must be bytes, got {type(v).__name__}")
    return v


def _encode(d: Data, out: bytearray, depth: int, packed: TypeDesc | None = None) -> None:
    if not isinstance(d, Data):
        raise EncodeError("data", f"expected a Data node, got {type(d).__name__}")
    if depth > MAX_DEPTH:
        raise EncodeError("data", f"nesting deeper than {MAX_DEPTH} levels")
    tag = d.tag
    if not isinstance(tag, int) or not 0 <= tag <= 255 or _KIND[tag] == _K_BAD:
        raise EncodeError("data.tag", f"{tag!r} is not a DLMS Data type")
    kind = _KIND[tag]
    name = TAG_NAMES[tag]
    if packed is not None:
        if packed.tag != tag:
            raise EncodeError("compact-array element", f"{name} does not match the type description "
                              f"({TAG_NAMES.get(packed.tag, packed.tag)})")
    else:
        out.append(tag)
    if kind == _K_UINT or kind == _K_SINT:
        v = d.value
        lo, hi = _range(tag)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise EncodeError(name, f"{v!r} is not an integer in {lo}..{hi}")
        out += v.to_bytes(_SIZE[tag], "big", signed=kind == _K_SINT)
    elif kind == _K_STRUCT or kind == _K_ARRAY:
        items = d.value
        if not isinstance(items, list):
            raise EncodeError(name, "value must be a list of Data")
        if packed is not None:
            children = packed.children
            if kind == _K_STRUCT:
                if len(items) != len(children):
                    raise EncodeError(name, f"{len(items)} element(s), the type description has {len(children)}")
                for it, c in zip(items, children):
                    _encode(it, out, depth + 1, c)
            else:
                if len(items) != packed.count:
                    raise EncodeError(name, f"{len(items)} element(s), the type description has {packed.count}")
                for it in items:
                    _encode(it, out, depth + 1, children[0])
            return
        out += encode_len(len(items), d.lsize, name + " count")
        for it in items:
            _encode(it, out, depth + 1)
    elif kind == _K_STRING:
        v = _check_bytes(d, name)
        out += encode_len(len(v), d.lsize, name + " length")
        out += v
    elif kind == _K_EMPTY:
        if d.value is not None:
            raise EncodeError(name, "takes no value")
    elif kind == _K_BOOL:
        v = d.value
        if isinstance(v, bool):
            v = 0xFF if v else 0
        if not isinstance(v, int) or not 0 <= v <= 255:
            raise EncodeError(name, f"{v!r} is not a boolean byte")
        out.append(v)
    elif kind == _K_FIXED:
        v = _check_bytes(d, name)
        if len(v) != _SIZE[tag]:
            raise EncodeError(name, f"takes {_SIZE[tag]} bytes, got {len(v)}")
        out += v
    elif kind == _K_BITS:
        v = _check_bytes(d, name)
        bits = d.extra
        if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0 or (bits + 7) // 8 != len(v):
            raise EncodeError(name, f"{bits!r} bit(s) do not fit {len(v)} byte(s)")
        out += encode_len(bits, d.lsize, "bit-string length")
        out += v
    elif kind == _K_COMPACT:
        if packed is not None:
            raise EncodeError(name, "a compact-array cannot be packed in a compact-array")
        desc = d.extra
        if not isinstance(desc, TypeDesc):
            raise EncodeError(name, "needs a TypeDesc in `extra`")
        _encode_desc(desc, out, 0)
        items = d.value
        if not isinstance(items, list):
            raise EncodeError(name, "value must be a list of Data")
        contents = bytearray()
        for it in items:
            before = len(contents)
            _encode(it, contents, depth + 1, desc)
            if len(contents) == before:
                raise EncodeError(name, "an element of zero bytes cannot be decoded back")
        out += encode_len(len(contents), d.lsize, "compact-array contents length")
        out += contents


def _encode_desc(desc: TypeDesc, out: bytearray, depth: int) -> None:
    if not isinstance(desc, TypeDesc):
        raise EncodeError("type-description", f"expected a TypeDesc, got {type(desc).__name__}")
    if depth > MAX_DEPTH:
        raise EncodeError("type-description", f"nesting deeper than {MAX_DEPTH} levels")
    tag = desc.tag
    if not isinstance(tag, int) or not 0 <= tag <= 255 or _KIND[tag] in (_K_BAD, _K_COMPACT):
        raise EncodeError("type-description", f"{tag!r} cannot describe compact-array contents")
    out.append(tag)
    kind = _KIND[tag]
    if kind == _K_ARRAY:
        if len(desc.children) != 1 or not isinstance(desc.count, int) or not 0 <= desc.count <= 0xFFFF:
            raise EncodeError("type-description array", "needs one child and a count of 0..65535")
        out += desc.count.to_bytes(2, "big")
        _encode_desc(desc.children[0], out, depth + 1)
    elif kind == _K_STRUCT:
        out += encode_len(len(desc.children), desc.lsize, "type-description structure count")
        for c in desc.children:
            _encode_desc(c, out, depth + 1)
    elif desc.children:
        raise EncodeError("type-description", f"{TAG_NAMES[tag]} has no children")


def encode_data(d: Data) -> bytes:
    out = bytearray()
    _encode(d, out, 0)
    return bytes(out)


# --------------------------------------------------------------------------------------------------------------
# JSON


def desc_to_json(desc: TypeDesc) -> dict[str, Any]:
    o: dict[str, Any] = {"type": TAG_NAMES[desc.tag]}
    if desc.tag == 0x01:
        o["count"] = desc.count
        o["item"] = desc_to_json(desc.children[0])
    elif desc.tag == 0x02:
        o["items"] = [desc_to_json(c) for c in desc.children]
        if desc.lsize is not None:
            o["length_size"] = desc.lsize
    return o


def data_to_json(d: Data) -> dict[str, Any]:
    """JSON form: {"type": <Green Book name>, "value" | "items" | ..., ["length_size": n when non-minimal]}."""
    tag = d.tag
    kind = _KIND[tag]
    o: dict[str, Any] = {"type": TAG_NAMES[tag]}
    if kind in (_K_ARRAY, _K_STRUCT):
        o["items"] = [data_to_json(x) for x in d.value]
    elif kind == _K_COMPACT:
        o["description"] = desc_to_json(d.extra)
        o["items"] = [data_to_json(x) for x in d.value]
    elif kind == _K_BITS:
        o["bits"] = d.extra
        o["value"] = bytes(d.value).hex().upper()
    elif kind in (_K_STRING, _K_FIXED):
        o["value"] = bytes(d.value).hex().upper()
    elif kind in (_K_UINT, _K_SINT, _K_BOOL):
        o["value"] = d.value
    if d.lsize is not None:
        o["length_size"] = d.lsize
    return o


def _jtag(obj: Any, field: str) -> int:
    if not isinstance(obj, dict):
        raise EncodeError(field, "expected an object")
    t = obj.get("type")
    tag = _TAG_BY_NAME.get(t) if isinstance(t, str) else None
    if tag is None:
        raise EncodeError(field + ".type", f"{t!r} is not a DLMS Data type name")
    return tag


def _jlsize(obj: dict[str, Any], field: str) -> int | None:
    ls = obj.get("length_size")
    if ls is not None and (not isinstance(ls, int) or isinstance(ls, bool) or not 2 <= ls <= 1 + MAX_LENGTH_OCTETS):
        raise EncodeError(field + ".length_size", f"{ls!r} is not 2..{1 + MAX_LENGTH_OCTETS}")
    return ls


def _jhex(obj: dict[str, Any], field: str) -> bytes:
    v = obj.get("value")
    if not isinstance(v, str):
        raise EncodeError(field + ".value", "expected a hex string")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise EncodeError(field + ".value", f"{v!r} is not hex") from None


def desc_from_json(obj: Any, field: str = "description", depth: int = 0) -> TypeDesc:
    if depth > MAX_DEPTH:
        raise EncodeError(field, "nesting too deep")
    tag = _jtag(obj, field)
    if _KIND[tag] == _K_COMPACT:
        raise EncodeError(field, "a compact-array cannot describe compact-array contents")
    if tag == 0x01:
        count = obj.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 0xFFFF:
            raise EncodeError(field + ".count", "expected 0..65535")
        return TypeDesc(tag, (desc_from_json(obj.get("item"), field + ".item", depth + 1),), count)
    if tag == 0x02:
        items = obj.get("items")
        if not isinstance(items, list):
            raise EncodeError(field + ".items", "expected a list")
        return TypeDesc(tag, tuple(desc_from_json(x, f"{field}.items[{i}]", depth + 1) for i, x in enumerate(items)),
                        0, _jlsize(obj, field))
    return TypeDesc(tag)


def data_from_json(obj: Any, field: str = "data", depth: int = 0) -> Data:
    """Inverse of `data_to_json`; EncodeError(field, reason) on anything malformed."""
    if depth > MAX_DEPTH:
        raise EncodeError(field, "nesting too deep")
    tag = _jtag(obj, field)
    kind = _KIND[tag]
    lsize = _jlsize(obj, field)
    if kind in (_K_ARRAY, _K_STRUCT, _K_COMPACT):
        items = obj.get("items")
        if not isinstance(items, list):
            raise EncodeError(field + ".items", "expected a list")
        kids = [data_from_json(x, f"{field}[{i}]", depth + 1) for i, x in enumerate(items)]
        if kind == _K_COMPACT:
            return Data(tag, kids, desc_from_json(obj.get("description"), field + ".description"), lsize)
        return Data(tag, kids, None, lsize)
    if kind == _K_BITS:
        bits = obj.get("bits")
        raw = _jhex(obj, field)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0 or (bits + 7) // 8 != len(raw):
            raise EncodeError(field + ".bits", f"{bits!r} does not match {len(raw)} byte(s)")
        return Data(tag, raw, bits, lsize)
    if kind == _K_STRING:
        return Data(tag, _jhex(obj, field), None, lsize)
    if kind == _K_FIXED:
        raw = _jhex(obj, field)
        if len(raw) != _SIZE[tag]:
            raise EncodeError(field + ".value", f"{TAG_NAMES[tag]} takes {_SIZE[tag]} bytes")
        return Data(tag, raw)
    if kind in (_K_UINT, _K_SINT, _K_BOOL):
        v = obj.get("value")
        lo, hi = (0, 255) if kind == _K_BOOL else _range(tag)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise EncodeError(field + ".value", f"{v!r} is not an integer in {lo}..{hi}")
        return Data(tag, v)
    return Data(tag)


# --------------------------------------------------------------------------------------------------------------
# Explanation

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_date(raw: bytes) -> str | None:
    """A 5-byte DLMS date: year(2) month day weekday, with FF/FD/FE wildcards (DLMS Blue Book `date`)."""
    if len(raw) != 5:
        return None
    year = (raw[0] << 8) | raw[1]
    month, day, wday = raw[2], raw[3], raw[4]
    y = "every year" if year == 0xFFFF else f"{year:04d}"
    if month == 0xFF:
        m = "every month"
    elif month == 0xFE:
        m = "DST-end month"
    elif month == 0xFD:
        m = "DST-begin month"
    elif 1 <= month <= 12:
        m = _MONTHS[month]
    else:
        return None
    if day == 0xFF:
        dd = "every day"
    elif day == 0xFE:
        dd = "last day"
    elif day == 0xFD:
        dd = "2nd last day"
    elif 1 <= day <= 31:
        dd = f"{day:02d}"
    else:
        return None
    if wday == 0xFF:
        w = ""
    elif 1 <= wday <= 7:
        w = _WEEKDAYS[wday] + " "
    else:
        return None
    return f"{w}{dd} {m} {y}"


def describe_time(raw: bytes) -> str | None:
    """A 4-byte DLMS time: hour minute second hundredths, FF = not specified."""
    if len(raw) != 4:
        return None
    parts = []
    for v, hi in zip(raw, (23, 59, 59, 99)):
        if v == 0xFF:
            parts.append("**")
        elif v <= hi:
            parts.append(f"{v:02d}")
        else:
            return None
    return f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"


def describe_date_time(raw: bytes) -> str | None:
    """A 12-byte DLMS date-time (GBCS.md §4.2): NOW / NEVER specials, else date time, deviation and status."""
    if len(raw) != 12:
        return None
    dev = (raw[9] << 8) | raw[10]
    status = raw[11]
    if dev == 0x8000 and status == 0xFF:
        if raw[:9] == bytes(9):
            return "NOW (all zero, GBCS activation date-time)"
        if raw[:9] == b"\xff" * 9:
            return "NEVER (all FF, GBCS activation date-time)"
    d = describe_date(raw[:5])
    t = describe_time(raw[5:9])
    if d is None or t is None:
        return None
    if dev == 0x8000:
        z = "deviation not specified"
    else:
        sdev = dev - 0x10000 if dev & 0x8000 else dev
        z = f"deviation {sdev} min"
    st = "status not specified" if status == 0xFF else f"status 0x{status:02X}"
    return f"{d} {t} ({z}, {st})"


def _printable(raw: bytes) -> str | None:
    if len(raw) >= 2 and all(0x20 <= b < 0x7F for b in raw):
        return raw.decode("ascii")
    return None


def describe_obis(raw: bytes) -> str:
    """An OBIS code (6 bytes) as A-B:C.D.E.F."""
    if len(raw) != 6:
        return raw.hex().upper()
    return f"{raw[0]}-{raw[1]}:{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}"


def describe_value(d: Data) -> str:
    """One-line meaning of a node (no children)."""
    tag = d.tag
    kind = _KIND[tag]
    if kind in (_K_ARRAY, _K_STRUCT):
        return f"{len(d.value)} element(s)"
    if kind == _K_COMPACT:
        return f"{len(d.value)} element(s) of {describe_desc(d.extra)}"
    if kind in (_K_UINT, _K_SINT):
        n = _SIZE[tag]
        raw = d.value & ((1 << (8 * n)) - 1)
        if tag == 0x0D:
            return f"0x{raw:02X}"
        return f"{d.value} (0x{raw:0{2 * n}X})"
    if kind == _K_BOOL:
        return f"{'TRUE' if d.value else 'FALSE'} (0x{d.value:02X})"
    if kind == _K_BITS:
        return f"{d.extra} bit(s) {d.bit_text()} (0x{bytes(d.value).hex().upper()})"
    if kind == _K_STRING:
        raw = bytes(d.value)
        s = raw.hex().upper() or "(empty)"
        if tag == 0x0C:
            try:
                return f'{s} "{raw.decode("utf-8")}"'
            except UnicodeDecodeError:
                return s
        text = _printable(raw)
        if text is not None:
            return f'{s} "{text}"'
        if len(raw) == 12:
            dt = describe_date_time(raw)
            if dt:
                return f"{s} = date-time {dt}"
        if len(raw) == 6 and tag == 0x09:
            return f"{s} (as OBIS {describe_obis(raw)})"
        return s
    if kind == _K_FIXED:
        raw = bytes(d.value)
        s = raw.hex().upper()
        if tag in (0x17, 0x18):
            f = d.as_float()
            return f"{f!r} (0x{s})"
        if tag == 0x19:
            dt = describe_date_time(raw)
        elif tag == 0x1A:
            dt = describe_date(raw)
        else:
            dt = describe_time(raw)
        return f"{s} = {dt}" if dt else f"{s} (not a valid {TAG_NAMES[tag]})"
    return ""


def describe_desc(desc: TypeDesc) -> str:
    if desc.tag == 0x02:
        return "structure{" + ", ".join(describe_desc(c) for c in desc.children) + "}"
    if desc.tag == 0x01:
        return f"array[{desc.count}] of {describe_desc(desc.children[0])}"
    return TAG_NAMES[desc.tag]


def _header_size(d: Data, packed: bool) -> int:
    """Bytes before the first child / content byte: tag (unless packed) + length/count field."""
    kind = _KIND[d.tag]
    t = 0 if packed else 1
    if kind in (_K_ARRAY, _K_STRUCT):
        return t if packed else t + (d.lsize or _minimal_len_size(len(d.value)))
    if kind == _K_STRING:
        return t + (d.lsize or _minimal_len_size(len(d.value)))
    if kind == _K_BITS:
        return t + (d.lsize or _minimal_len_size(d.extra))
    return t


def explain_data(d: Data, offset: int, name: str = "data", packed: TypeDesc | None = None,
                 depth: int = 0) -> tuple[Node, int]:
    """Explanation node of `d` encoded at absolute `offset`; returns (node, encoded size)."""
    kind = _KIND[d.tag]
    label = f"{name} ({TAG_NAMES[d.tag]})"
    if kind == _K_COMPACT:
        node = Node(label, offset, 0, describe_value(d))
        node.add("tag", offset, 1, "0x13 compact-array")
        pos = offset + 1
        desc_bytes = bytearray()
        _encode_desc(d.extra, desc_bytes, 0)
        node.add("type-description", pos, len(desc_bytes), f"{describe_desc(d.extra)} ({desc_bytes.hex().upper()})")
        pos += len(desc_bytes)
        body = bytearray()
        for it in d.value:
            _encode(it, body, 0, d.extra)
        lsz = d.lsize or _minimal_len_size(len(body))
        node.add("contents length", pos, lsz, f"{len(body)} byte(s)")
        pos += lsz
        for i, it in enumerate(d.value):
            child, size = explain_data(it, pos, f"[{i}]", d.extra, depth + 1)
            node.children.append(child)
            pos += size
        node.length = pos - offset
        return node, node.length
    hdr = _header_size(d, packed is not None)
    if kind in (_K_ARRAY, _K_STRUCT):
        node = Node(label, offset, 0, describe_value(d))
        pos = offset + hdr
        kids = packed.children if packed is not None else ()
        for i, it in enumerate(d.value):
            sub = None
            if packed is not None:
                sub = kids[0] if kind == _K_ARRAY else kids[i]
            child, size = explain_data(it, pos, f"[{i}]", sub, depth + 1)
            node.children.append(child)
            pos += size
        node.length = pos - offset
        return node, node.length
    if kind in (_K_STRING,) or kind == _K_BITS:
        size = hdr + len(d.value)
    elif kind in (_K_EMPTY,):
        size = hdr
    else:
        size = hdr + _SIZE[d.tag]
    return Node(label, offset, size, describe_value(d)), size


__all__ = [
    "MAX_DEPTH",
    "TAG_NAMES",
    "Data",
    "Tag",
    "TypeDesc",
    "data_from_json",
    "data_to_json",
    "decode_at",
    "decode_data",
    "desc_from_json",
    "desc_to_json",
    "describe_date",
    "describe_date_time",
    "describe_desc",
    "describe_obis",
    "describe_time",
    "describe_value",
    "encode_data",
    "encode_len",
    "explain_data",
    "read_len",
]
