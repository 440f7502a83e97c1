"""Strict DER encoding driven by the asn1tools-parsed modules: the inverse of `_fastdec`, and the codec's encoder.

Each module type is compiled once into closures that append a value's canonical DER (X.690 §10: definite minimal
lengths, minimal INTEGERs, BOOLEAN FF, DEFAULT values left out) to a bytearray. The values are those `_fastdec`
returns and asn1tools takes (dict / list / (name, value) / int / enumeration name / bytes / (bytes, bits) /
datetime / dotted OID string); types and constraints (SIZE, value ranges) are checked as asn1tools checks them
with `check_constraints=True`, and a value that does not fit raises `Unencodable` naming the member path.

Why not asn1tools' own DER encoder: its output is the same (tests compare the two on every RTDS payload), but it
costs ~30 µs per RTDS payload against ~6 here, and importing and compiling it adds ~0.3 s to the start of every
`chf` command that meets an ASN.1 payload, for the round-trip check `chf decode` makes on each frame.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._fastdec import Compiler
from ._reading import (CONSTRUCTED_KINDS, STRING_ENCODINGS, UNIVERSAL_TAGS, UNTAGGABLE_KINDS, tag_parts,
    Unsupported, _bounds, _checker, _fmt_bounds)
from ._times import format_generalized_time, format_utc_time

Encoder = Callable[[Any, bytearray], None]


class Unencodable(Exception):
    """A value does not fit its type: `path` (member names, outermost first) and `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.reason}" if self.path else self.reason


def _header(out: bytearray, tag: int, length: int) -> None:
    """Identifier octet and definite minimal length (X.690 §8.1.3, §10.1)."""
    out.append(tag)
    if length < 0x80:
        out.append(length)
    else:
        n = (length.bit_length() + 7) // 8
        out.append(0x80 | n)
        out += length.to_bytes(n, "big")


def _integer_octets(v: int) -> bytes:
    """Minimal two's-complement content octets (X.690 §8.3.2)."""
    return v.to_bytes(((v if v >= 0 else ~v).bit_length() + 8) // 8, "big", signed=True)


def _is_int(v: Any) -> bool:
    return type(v) is int or (isinstance(v, int) and not isinstance(v, bool))


class EncoderCompiler:
    """Compiles module types into DER encoders, memoised per (type, tag); shares the decoders' type resolution."""

    def __init__(self, decoders: Compiler) -> None:
        self.decoders = decoders
        self.schema = decoders.schema
        self.memo: dict[tuple[str, int | None], list[Any]] = {}

    def encoder(self, type_name: str) -> Encoder:
        if self.schema.lookup(type_name) is None:
            raise KeyError(type_name)
        return self._ref(type_name, None)

    def _ref(self, name: str, tag: int | None) -> Encoder:
        key = (name, tag)
        cell = self.memo.get(key)
        if cell is not None:
            if cell[0] is None:  # recursive type: bind late

                def late(v: Any, out: bytearray, cell: list[Any] = cell) -> None:
                    cell[0](v, out)

                return late
            func: Encoder = cell[0]
            return func
        module, typedef = self.schema.types[name]
        if "tag" in typedef:
            raise Unsupported(f"tagged type assignment {name}")
        cell = [None]
        self.memo[key] = cell
        cell[0] = self.compile(typedef, module, tag)
        return cell[0]  # type: ignore[no-any-return]

    def compile(self, t: dict[str, Any], module: str, tag: int | None = None) -> Encoder:
        if "tag" in t:
            return self._tagged(t, module, tag)
        kind = t["type"]
        if kind not in UNIVERSAL_TAGS and kind not in UNTAGGABLE_KINDS:
            func = self._ref(kind, tag)
            size = _bounds(t.get("size"))
            rng = _bounds(t.get("restricted-to"))
            return self._constrained(func, size, rng) if size or rng else func
        method = getattr(self, "_k_" + kind.replace(" ", "_"), None)
        if method is None:
            raise Unsupported(f"type {kind}")
        if tag is None:
            tag = UNIVERSAL_TAGS.get(kind)
        built: Encoder = method(t, module, tag)
        return built

    def _tagged(self, t: dict[str, Any], module: str, override: int | None) -> Encoder:
        number, cls, inner = tag_parts(t)
        if self.decoders.explicit(t, module):
            wtag = override if override is not None else cls | 0x20 | number
            innerf = self.compile(inner, module, None)

            def explicit(v: Any, out: bytearray) -> None:
                content = bytearray()
                innerf(v, content)
                _header(out, wtag, len(content))
                out += content

            return explicit
        b = self.decoders.base(inner)
        itag = override if override is not None else cls | (0x20 if b["type"] in CONSTRUCTED_KINDS else 0) | number
        return self.compile(inner, module, itag)

    @staticmethod
    def _constrained(func: Encoder, size: Any, rng: Any) -> Encoder:
        ok_size = _checker(size)
        ok_rng = _checker(rng)

        def constrained(v: Any, out: bytearray) -> None:  # as the decoders' `_constrained`
            if ok_size is not None and (not hasattr(v, "__len__") or not ok_size(len(v))):
                raise Unencodable(f"size outside {_fmt_bounds(size)}")
            if ok_rng is not None and _is_int(v) and not ok_rng(v):
                raise Unencodable(f"value {v} outside {_fmt_bounds(rng)}")
            func(v, out)

        return constrained

    # -- built-in kinds ---------------------------------------------------------------------------------
    def _k_INTEGER(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        rng = _bounds(t.get("restricted-to"))
        ok = _checker(rng)

        def integer(v: Any, out: bytearray) -> None:
            if not _is_int(v):
                raise Unencodable(f"INTEGER expected, got {type(v).__name__}")
            if ok is not None and not ok(v):
                raise Unencodable(f"INTEGER {v} outside {_fmt_bounds(rng)}")
            content = _integer_octets(v)
            _header(out, tag, len(content))
            out += content

        return integer

    def _k_ENUMERATED(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        values = t["values"]
        if any(v is None for v in values):
            raise Unsupported("ENUMERATED with an extension marker")
        numbers = {name: _integer_octets(num) for name, num in values}

        def enumerated(v: Any, out: bytearray) -> None:
            content = numbers.get(v) if isinstance(v, str) else None
            if content is None:
                raise Unencodable(f"{v!r} is not one of the enumeration's names ({', '.join(numbers)})")
            _header(out, tag, len(content))
            out += content

        return enumerated

    def _k_BOOLEAN(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        def boolean(v: Any, out: bytearray) -> None:
            if not isinstance(v, bool):
                raise Unencodable(f"BOOLEAN expected, got {type(v).__name__}")
            out += bytes((tag, 1, 0xFF if v else 0x00))

        return boolean

    def _k_NULL(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        def null(v: Any, out: bytearray) -> None:
            if v is not None:
                raise Unencodable(f"NULL takes None, got {type(v).__name__}")
            out += bytes((tag, 0))

        return null

    def _k_OCTET_STRING(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        size = _bounds(t.get("size"))
        ok = _checker(size)

        def octet_string(v: Any, out: bytearray) -> None:
            if not isinstance(v, (bytes, bytearray)):
                raise Unencodable(f"OCTET STRING takes bytes, got {type(v).__name__}")
            if ok is not None and not ok(len(v)):
                raise Unencodable(f"OCTET STRING of {len(v)} octets outside SIZE {_fmt_bounds(size)}")
            _header(out, tag, len(v))
            out += v

        return octet_string

    def _k_BIT_STRING(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        size = _bounds(t.get("size"))
        ok = _checker(size)

        def bit_string(v: Any, out: bytearray) -> None:
            if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], (bytes, bytearray)) and _is_int(v[1])):
                raise Unencodable("BIT STRING takes (bytes, number of bits)")
            data, bits = v
            full, rest = divmod(bits, 8)
            if bits < 0 or len(data) < full + (1 if rest else 0):
                raise Unencodable(f"{bits} bit(s) do not fit {len(data)} octet(s)")
            if ok is not None and not ok(bits):
                raise Unencodable(f"BIT STRING of {bits} bits outside SIZE {_fmt_bounds(size)}")
            content = bytearray(data[:full])
            if rest:  # X.690 §11.2.1: unused bits of the last octet are zero
                content.append(data[full] & (0xFF << (8 - rest)) & 0xFF)
            _header(out, tag, len(content) + 1)
            out.append(8 - rest if rest else 0)
            out += content

        return bit_string

    def _k_OBJECT_IDENTIFIER(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        def oid(v: Any, out: bytearray) -> None:
            try:
                arcs = [int(a) for a in v.split(".")]
            except (AttributeError, ValueError):
                raise Unencodable(f"{v!r} is not a dotted OBJECT IDENTIFIER") from None
            if len(arcs) < 2 or min(arcs) < 0:
                raise Unencodable(f"{v!r} is not a dotted OBJECT IDENTIFIER")
            content = bytearray()
            for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:  # X.690 §8.19.4: first two arcs in one
                chunk = [arc & 0x7F]
                rest = arc >> 7
                while rest:
                    chunk.append(0x80 | (rest & 0x7F))
                    rest >>= 7
                content += bytes(reversed(chunk))
            _header(out, tag, len(content))
            out += content

        return oid

    @staticmethod
    def _time(tag: int, name: str, unparse: Callable[[datetime], str]) -> Encoder:
        def time_(v: Any, out: bytearray) -> None:
            if not isinstance(v, datetime):
                raise Unencodable(f"{name} takes a datetime, got {type(v).__name__}")
            text = unparse(v).encode("ascii")
            _header(out, tag, len(text))
            out += text

        return time_

    def _k_GeneralizedTime(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        return self._time(tag, "GeneralizedTime", format_generalized_time)

    def _k_UTCTime(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        return self._time(tag, "UTCTime", format_utc_time)

    def _string(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        encoding = STRING_ENCODINGS[t["type"]]
        size = _bounds(t.get("size"))
        ok = _checker(size)
        name = t["type"]

        def string(v: Any, out: bytearray) -> None:
            if not isinstance(v, str):
                raise Unencodable(f"{name} takes a str, got {type(v).__name__}")
            if ok is not None and not ok(len(v)):
                raise Unencodable(f"{name} of {len(v)} characters outside SIZE {_fmt_bounds(size)}")
            try:
                raw = v.encode(encoding)
            except UnicodeEncodeError:
                raise Unencodable(f"{v!r} is not {encoding}") from None
            _header(out, tag, len(raw))
            out += raw

        return string

    _k_UTF8String = _k_PrintableString = _k_IA5String = _k_VisibleString = _k_NumericString = _string

    def _k_ANY(self, t: dict[str, Any], module: str, tag: int | None) -> Encoder:
        def any_(v: Any, out: bytearray) -> None:
            if not isinstance(v, (bytes, bytearray)):
                raise Unencodable(f"ANY takes its encoded bytes, got {type(v).__name__}")
            out += v

        return any_

    def _k_CHOICE(self, t: dict[str, Any], module: str, tag: int | None) -> Encoder:
        table: dict[str, Encoder] = {}
        for m in t["members"]:
            if m is None:
                raise Unsupported("CHOICE with an extension marker")
            table[m["name"]] = self.compile(m, module)

        def choice(v: Any, out: bytearray) -> None:
            if not (isinstance(v, tuple) and len(v) == 2):
                raise Unencodable("CHOICE takes (alternative name, value)")
            func = table.get(v[0])
            if func is None:
                raise Unencodable(f"{v[0]!r} is not an alternative ({', '.join(table)})")
            try:
                func(v[1], out)
            except Unencodable as e:
                e.path.insert(0, v[0])
                raise

        return choice

    def _k_SEQUENCE(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        members = [(name, func, optional or has_default, has_default, default)
                   for name, func, _tags, optional, has_default, default in self._members(t, module)]

        def sequence(v: Any, out: bytearray) -> None:
            if not isinstance(v, dict):
                raise Unencodable(f"SEQUENCE takes a dict, got {type(v).__name__}")
            content = bytearray()
            for name, func, may_omit, has_default, default in members:
                if name not in v:
                    if not may_omit:
                        raise Unencodable(f"member {name} missing")
                    continue
                mv = v[name]
                if has_default and mv == default:
                    continue  # X.690 §11.5: a DEFAULT value is not encoded
                try:
                    func(mv, content)
                except Unencodable as e:
                    e.path.insert(0, name)
                    raise
            _header(out, tag, len(content))
            out += content

        return sequence

    def _members(self, t: dict[str, Any], module: str) -> list[tuple[str, Encoder, Any, bool, bool, Any]]:
        """As the decoders' members (named DEFAULT numbers resolved), with encoders."""
        out = []
        for m in t["members"]:
            if m is None:
                raise Unsupported("SEQUENCE with an extension marker")
            has_default = "default" in m
            default = m.get("default")
            if has_default and isinstance(default, str):
                b = self.decoders.base({k: v for k, v in m.items() if k != "tag"})
                named = b.get("named-numbers") or {}
                if b["type"] == "INTEGER" and default in named:
                    default = named[default]
                elif b["type"] != "ENUMERATED":
                    raise Unsupported(f"DEFAULT {default!r}")
            out.append((m["name"], self.compile(m, module), None, bool(m.get("optional")), has_default, default))
        return out

    def _k_SEQUENCE_OF(self, t: dict[str, Any], module: str, tag: int) -> Encoder:
        func = self.compile(t["element"], module)
        size = _bounds(t.get("size"))
        ok = _checker(size)
        what = t["type"]

        def sequence_of(v: Any, out: bytearray) -> None:
            if not isinstance(v, list):
                raise Unencodable(f"{what} takes a list, got {type(v).__name__}")
            if ok is not None and not ok(len(v)):
                raise Unencodable(f"{what} of {len(v)} elements outside SIZE {_fmt_bounds(size)}")
            content = bytearray()
            for k, e in enumerate(v):
                try:
                    func(e, content)
                except Unencodable as err:
                    err.path.insert(0, f"[{k}]")
                    raise
            _header(out, tag, len(content))
            out += content

        return sequence_of

    _k_SET_OF = _k_SEQUENCE_OF  # as asn1tools: elements in the given order (RTDS's SET OFs hold one element)
