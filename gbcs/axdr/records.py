"""A-XDR `Data` records (DLMS/COSEM Data CHOICE as GBCS carries it, GBCS §4.2 / DLMS UA Green Book `Data`).

One `Data` node (an immutable tuple, cheap to create) per value: `tag` (the DLMS Data CHOICE, see `Tag`),
`value` and, where needed, `extra` (bit count of a bit-string, type description of a compact-array) and
`lsize` (wire size of a length or count written in a non-minimal form, so that re-encoding is byte-exact;
None when minimal).

Values: None (null-data, dont-care); list[Data] (array, structure, compact-array elements); int (boolean keeps
its raw byte, integers with their DLMS signedness, enum, bcd as its raw byte); bytes (octet-/visible-/utf8-string,
bit-string, float32/64 and date-time/date/time, kept as their exact bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
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


class Data(tuple[Any, ...]):
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
        """TRUE is written `FF`, as in RTDS (e.g. CCS01 enable_disable_joining, RTDS CCS0x); an int is the raw byte."""
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
        if self.tag == Tag.FLOAT32:
            return float(struct.unpack(">f", self.value)[0])
        if self.tag == Tag.FLOAT64:
            return float(struct.unpack(">d", self.value)[0])
        raise TypeError(f"{self.type_name} is not a float")

    def bit_text(self) -> str:
        """A bit-string as 0/1 digits (first bit = MSB of the first byte)."""
        n = self.extra or 0
        return "".join(f"{b:08b}" for b in self.value)[:n]

    def encode(self) -> bytes:
        """The A-XDR bytes of this value (non-minimal length forms kept from `lsize`); EncodeError when malformed."""
        from .encode import encode_into  # the encoder needs these records: imported on first use

        out = bytearray()
        encode_into(self, out, 0)
        return bytes(out)
