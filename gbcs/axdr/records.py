"""A-XDR `Data` records (DLMS/COSEM Data CHOICE as GBCS carries it, GBCS §4.2 / DLMS UA Green Book `Data`).

One `Data` node (an immutable tuple, cheap to create) per value: `tag` (the DLMS Data CHOICE, `layout.Tag`),
`value` and, where needed, `extra` (bit count of a bit-string, type description of a compact-array) and
`lsize` (wire size of a length or count written in a non-minimal form, so that re-encoding is byte-exact;
None when minimal).

Values: None (null-data, dont-care); list[Data] (array, structure, compact-array elements); int (boolean keeps
its raw byte, integers with their DLMS signedness, enum, bcd as its raw byte); bytes (octet-/visible-/utf8-string,
bit-string, float32/64 and date-time/date/time, kept as their exact bytes).

The tables and the node tuple are in `layout`, below the encoder; `Data.encode()` calls the encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .encode import encode_into
from .layout import DataNode, Tag, TypeDesc


class Data(DataNode):
    """One A-XDR `Data` value (see the module docstring for `value`/`extra`/`lsize`).

    An immutable tuple `(tag, value)` or `(tag, value, extra, lsize)` (`layout.DataNode`), so that the decoder
    creates nodes at C speed (`tuple.__new__`); build with `Data(tag, value, extra, lsize)` or the named
    constructors below.
    """

    __slots__ = ()

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
        out = bytearray()
        encode_into(self, out, 0)
        return bytes(out)
