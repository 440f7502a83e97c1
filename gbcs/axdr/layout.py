"""The DLMS `Data` CHOICE as A-XDR lays it out (GBCS §4.2; DLMS UA Green Book `Data`): tags, wire kinds and
sizes, compact-array type descriptions, and the `DataNode` tuple every `Data` value is.

The lowest module of the package: the encoder works on `DataNode`s, and `records.Data` (a `DataNode` with the
named constructors and `encode()`) sits above the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from operator import itemgetter
from typing import Any, Self

MAX_DEPTH = 64  # nesting bound for hostile input (payload-codec contract)
MAX_LENGTH_OCTETS = 4  # A-XDR lengths: 0x81..0x84 + 1..4 octets (a bit-string may count up to 2^32-1 bits)


class Tag(IntEnum):
    """The DLMS `Data` CHOICE tags (DLMS UA Green Book `Data`; gbcs-parser src/dlms.ts lists those seen in GBCS)."""

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
TAG_BY_NAME: dict[str, int] = {v: k for k, v in TAG_NAMES.items()}


class Kind(IntEnum):
    """How a tag's value is laid out on the wire; `KIND[tag]` (BAD = not a Data tag). The decoder's hot loop
    compares these as int literals."""

    BAD = 0
    UINT = 1
    SINT = 2
    FIXED = 3
    STRING = 4
    ARRAY = 5
    STRUCT = 6
    COMPACT = 7
    BITS = 8
    EMPTY = 9
    BOOL = 10


KIND: list[int] = [Kind.BAD] * 256
SIZE: list[int] = [0] * 256  # fixed value size in bytes (integers, fixed-size byte strings)
for _t, _k, _n in (  # Green Book `Data` CHOICE: tag, kind, fixed size
    (0x00, Kind.EMPTY, 0), (0xFF, Kind.EMPTY, 0), (0x01, Kind.ARRAY, 0), (0x02, Kind.STRUCT, 0), (0x03, Kind.BOOL, 1),
    (0x04, Kind.BITS, 0), (0x05, Kind.SINT, 4), (0x06, Kind.UINT, 4), (0x09, Kind.STRING, 0), (0x0A, Kind.STRING, 0),
    (0x0C, Kind.STRING, 0), (0x0D, Kind.UINT, 1), (0x0F, Kind.SINT, 1), (0x10, Kind.SINT, 2), (0x11, Kind.UINT, 1),
    (0x12, Kind.UINT, 2), (0x13, Kind.COMPACT, 0), (0x14, Kind.SINT, 8), (0x15, Kind.UINT, 8), (0x16, Kind.UINT, 1),
    (0x17, Kind.FIXED, 4), (0x18, Kind.FIXED, 8), (0x19, Kind.FIXED, 12), (0x1A, Kind.FIXED, 5), (0x1B, Kind.FIXED, 4),
):
    KIND[_t] = int(_k)  # plain ints: the hot loop compares them with literals
    SIZE[_t] = _n
INTEGER_TAGS = frozenset(t for t in range(256) if KIND[t] in (Kind.UINT, Kind.SINT))
STRING_TAGS = frozenset((0x09, 0x0A, 0x0C))
FIXED_BYTES_TAGS = frozenset((0x17, 0x18, 0x19, 0x1A, 0x1B))


def value_range(tag: int) -> tuple[int, int]:
    """Lowest and highest value of an integer tag."""
    n = SIZE[tag] * 8
    if KIND[tag] == Kind.SINT:
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


class DataNode(tuple[Any, ...]):
    """One A-XDR `Data` value as an immutable tuple `(tag, value)` or `(tag, value, extra, lsize)` (fields: see
    `records`); the decoder creates nodes at C speed (`tuple.__new__`). Build `records.Data`, not this base."""

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

    @property
    def type_name(self) -> str:
        return TAG_NAMES.get(self.tag, f"tag-0x{self.tag:02X}")

    def __repr__(self) -> str:
        s = f"Data({TAG_NAMES.get(self[0], hex(self[0]))}, {self[1]!r}"
        if len(self) > 2:
            s += f", extra={self[2]!r}, lsize={self[3]!r}"
        return s + ")"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)
