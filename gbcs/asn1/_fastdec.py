"""Strict DER decoding driven by the asn1tools-parsed modules: the hot path of the ASN.1 payload codec.

asn1tools' own DER decoder is lenient (docs/codec.md: it accepts non-minimal INTEGERs, members out of order,
trailing elements, ...) and costs ~70 µs per RTDS payload, so the codec compiles each module type once into
closures that read the payload bytes directly (int positions, one pass, no intermediate tree) and
  * return exactly the Python values asn1tools' DER decoder returns (dict / list / (name, value) / int /
    enumeration name / bytes / (bytes, bits) / datetime / dotted OID string), so asn1tools can re-encode them;
  * check the constraints asn1tools checks with `check_constraints=True` (SIZE, value ranges, enumerations);
  * accept only the encodings asn1tools' DER encoder reproduces (minimal INTEGER/OID, BOOLEAN 00/FF, DEFAULT
    values absent, zero BIT STRING padding, restricted time strings, members in order, nothing extra), so that
    re-encoding a decoded value gives back the same bytes (wire length forms aside, see `_der.relength`).
Truncated or malformed bytes and type mismatches both raise `Mismatch(position, reason)`; the codec then
validates the payload with `_der.scan` (DecodeError for malformed bytes) and falls back to a generic tree.
ANY values (the signed parts of X.509 structures) are taken as their exact TLV octets without descending.
Non-minimal length fields of the TLVs the decoder rebuilds are recorded in the `Ctx`, keyed by the TLV's
offset
in the canonical (minimal-length) encoding, for `_der.relength`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._reading import (CONSTRUCTED_KINDS, STRING_ENCODINGS, UNIVERSAL_TAGS, UNTAGGABLE_KINDS, tag_parts,
    _any_bounds, _bounds, _bounds_of, _checker, Ctx, Decoder, _fmt_bounds, Mismatch, Unsupported, _within)
from ._schema import Schema
from ._times import format_generalized_time, format_utc_time, parse_generalized_time, parse_utc_time


class Compiler:
    """Compiles module types into strict decoders; results are memoised per (type, tag)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.memo: dict[tuple[str, int | None], list[Any]] = {}

    # -- public -----------------------------------------------------------------------------------------
    def decoder(self, type_name: str) -> Decoder:
        if self.schema.lookup(type_name) is None:
            raise KeyError(type_name)
        func, _tags = self._ref(type_name, None)
        return func

    # -- helpers ----------------------------------------------------------------------------------------
    def base(self, t: dict[str, Any]) -> dict[str, Any]:
        """Follow type references down to a built-in type definition."""
        for _ in range(64):
            if t["type"] in UNIVERSAL_TAGS or t["type"] in UNTAGGABLE_KINDS:
                return t
            found = self.schema.lookup(t["type"])
            if found is None:
                raise Unsupported(f"unknown type {t['type']}")
            t = found[1]
            if "tag" in t:
                raise Unsupported(f"tagged type assignment {t}")
        raise Unsupported("reference loop")

    def _ref(self, name: str, tag: int | None) -> tuple[Decoder, frozenset[int] | None]:
        key = (name, tag)
        cell = self.memo.get(key)
        if cell is not None:
            if cell[0] is None:  # recursive type: bind late

                def late(
                    d: bytes, pos: int, end: int, ctx: Ctx | None, cell: list[Any] = cell
                ) -> tuple[Any, int]:
                    out: tuple[Any, int] = cell[0](d, pos, end, ctx)
                    return out

                return late, cell[1]
            return cell[0], cell[1]
        module, typedef = self.schema.types[name]
        if "tag" in typedef:
            raise Unsupported(f"tagged type assignment {name}")
        b = self.base(typedef)
        first = (
            frozenset((tag,))
            if tag is not None
            else (frozenset((UNIVERSAL_TAGS[b["type"]],)) if b["type"] in UNIVERSAL_TAGS else None)
        )
        cell = [None, first]
        self.memo[key] = cell
        func, tags = self.compile(typedef, module, tag)
        cell[0], cell[1] = func, tags
        return func, tags

    def compile(
        self, t: dict[str, Any], module: str, tag: int | None = None
    ) -> tuple[Decoder, frozenset[int] | None]:
        """Decoder and possible first identifier octets (None = any) of type description `t`."""
        if "tag" in t:
            return self._tagged(t, module, tag)
        kind = t["type"]
        if kind not in UNIVERSAL_TAGS and kind not in UNTAGGABLE_KINDS:
            func, tags = self._ref(kind, tag)
            extra_size = _bounds(t.get("size"))
            extra_range = _bounds(t.get("restricted-to"))
            if extra_size or extra_range:
                func = self._constrained(func, extra_size, extra_range)
            return func, tags
        method = getattr(self, "_k_" + kind.replace(" ", "_"), None)
        if method is None:
            raise Unsupported(f"type {kind}")
        if tag is None:
            tag = UNIVERSAL_TAGS.get(kind)
        built: tuple[Decoder, frozenset[int] | None] = method(t, module, tag)
        return built

    def explicit(self, t: dict[str, Any], module: str) -> bool:
        """Whether the tag of member/element description `t` is EXPLICIT (module default, X.680 31.2.7)."""
        kind = t["tag"].get("kind") or self.schema.tagging.get(module, "EXPLICIT")
        if self.base({k: v for k, v in t.items() if k != "tag"})["type"] in UNTAGGABLE_KINDS:
            return True
        return kind == "EXPLICIT"

    def _tagged(self, t: dict[str, Any], module: str, override: int | None) -> tuple[Decoder, frozenset[int]]:
        number, cls, inner = tag_parts(t)
        b = self.base(inner)
        if self.explicit(t, module):
            wtag = override if override is not None else cls | 0x20 | number
            innerf, _ = self.compile(inner, module, None)

            def explicit(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[Any, int]:
                cs, ce = _bounds_of(d, pos, end, ctx, wtag, "explicit")
                v, k = innerf(d, cs, ce, ctx)
                if k != ce:
                    raise Mismatch(k, "more than one value inside an explicit tag")
                return v, ce

            return explicit, frozenset((wtag,))
        itag = (
            override
            if override is not None
            else cls | (0x20 if b["type"] in CONSTRUCTED_KINDS else 0) | number
        )
        func, _ = self.compile(inner, module, itag)
        return func, frozenset((itag,))

    @staticmethod
    def _constrained(func: Decoder, size: Any, rng: Any) -> Decoder:
        def constrained(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[Any, int]:
            v, j = func(d, pos, end, ctx)
            if size and not _within(len(v), size):
                raise Mismatch(pos, f"size {len(v)} outside {_fmt_bounds(size)}")
            if rng and not _within(v, rng):
                raise Mismatch(pos, f"value {v} outside {_fmt_bounds(rng)}")
            return v, j

        return constrained

    # -- built-in kinds ---------------------------------------------------------------------------------
    def _k_INTEGER(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        rng = _bounds(t.get("restricted-to"))
        ok = _checker(rng)

        def integer(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[int, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "INTEGER")
            if e == s:
                raise Mismatch(pos, "empty INTEGER")
            if e - s > 1:
                b0 = d[s]
                b1 = d[s + 1]
                if (b0 == 0 and b1 < 0x80) or (b0 == 0xFF and b1 >= 0x80):
                    raise Mismatch(pos, "INTEGER not in minimal form")
            v = int.from_bytes(d[s:e], "big", signed=True)
            if ok is not None and not ok(v):
                raise Mismatch(pos, f"INTEGER {v} outside {_fmt_bounds(rng)}")
            return v, e

        return integer, frozenset((tag,))

    def _k_ENUMERATED(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        values = t["values"]
        if any(v is None for v in values):
            raise Unsupported("ENUMERATED with an extension marker")
        names = {num: name for name, num in values}

        def enumerated(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[str, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "ENUMERATED")
            if e == s:
                raise Mismatch(pos, "empty ENUMERATED")
            if e - s > 1 and ((d[s] == 0 and d[s + 1] < 0x80) or (d[s] == 0xFF and d[s + 1] >= 0x80)):
                raise Mismatch(pos, "ENUMERATED not in minimal form")
            v = int.from_bytes(d[s:e], "big", signed=True)
            name = names.get(v)
            if name is None:
                raise Mismatch(pos, f"enumeration value {v} not defined")
            return name, e

        return enumerated, frozenset((tag,))

    def _k_BOOLEAN(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        def boolean(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[bool, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "BOOLEAN")
            if e - s != 1 or d[s] not in (0x00, 0xFF):
                raise Mismatch(pos, "BOOLEAN must be one octet 00 or FF")
            return d[s] == 0xFF, e

        return boolean, frozenset((tag,))

    def _k_NULL(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        def null(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[None, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "NULL")
            if e != s:
                raise Mismatch(pos, "NULL with content")
            return None, e

        return null, frozenset((tag,))

    def _k_OCTET_STRING(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        size = _bounds(t.get("size"))
        ok = _checker(size)

        def octet_string(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[bytes, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "OCTET STRING")
            if ok is not None and not ok(e - s):
                raise Mismatch(pos, f"OCTET STRING of {e - s} octets outside SIZE {_fmt_bounds(size)}")
            return d[s:e], e

        return octet_string, frozenset((tag,))

    def _k_BIT_STRING(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        size = _bounds(t.get("size"))

        def bit_string(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[tuple[bytes, int], int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "BIT STRING")
            if e == s:
                raise Mismatch(pos, "BIT STRING without its unused-bits octet")
            unused = d[s]
            if unused > 7 or (unused and e == s + 1):
                raise Mismatch(pos, f"BIT STRING unused-bits octet {unused} invalid")
            if unused and d[e - 1] & ((1 << unused) - 1):
                raise Mismatch(pos, "BIT STRING padding bits not zero")
            bits = 8 * (e - s - 1) - unused
            if size is not None and not _within(bits, size):
                raise Mismatch(pos, f"BIT STRING of {bits} bits outside SIZE {_fmt_bounds(size)}")
            return (d[s + 1 : e], bits), e

        return bit_string, frozenset((tag,))

    def _k_OBJECT_IDENTIFIER(
        self, t: dict[str, Any], module: str, tag: int
    ) -> tuple[Decoder, frozenset[int]]:
        def oid(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[str, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, "OBJECT IDENTIFIER")
            if e == s or d[e - 1] & 0x80:
                raise Mismatch(pos, "OBJECT IDENTIFIER empty or truncated")
            arcs: list[int] = []
            v = 0
            first = True
            for p in range(s, e):
                b = d[p]
                if first and b == 0x80:
                    raise Mismatch(pos, "OBJECT IDENTIFIER sub-identifier not minimal")
                v = (v << 7) | (b & 0x7F)
                first = not b & 0x80
                if first:
                    arcs.append(v)
                    v = 0
            # asn1tools' representation of the first sub-identifier (X // 40, X % 40) so it re-encodes exactly
            head = arcs[0]
            return ".".join(map(str, [head // 40, head % 40, *arcs[1:]])), e

        return oid, frozenset((tag,))

    @staticmethod
    def _time(
        tag: int, name: str, parse: Callable[[str], datetime], unparse: Callable[[datetime], str]
    ) -> tuple[Decoder, frozenset[int]]:
        def time_(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[datetime, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, name)
            try:
                text = d[s:e].decode("ascii")
                v = parse(text)
                canonical = unparse(v) == text
            except (ValueError, UnicodeDecodeError):  # not a DER time string
                raise Mismatch(pos, f"{name} is not a DER (restricted) time string") from None
            if not canonical:
                raise Mismatch(pos, f"{name} {text!r} is not in DER canonical form")
            return v, e

        return time_, frozenset((tag,))

    def _k_GeneralizedTime(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        return self._time(tag, "GeneralizedTime", parse_generalized_time, format_generalized_time)

    def _k_UTCTime(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        return self._time(tag, "UTCTime", parse_utc_time, format_utc_time)

    def _string(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        encoding = STRING_ENCODINGS[t["type"]]
        size = _bounds(t.get("size"))
        name = t["type"]

        def string(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[str, int]:
            s, e = _bounds_of(d, pos, end, ctx, tag, name)
            try:
                v = d[s:e].decode(encoding)
            except UnicodeDecodeError:
                raise Mismatch(pos, f"{name} is not valid {encoding}") from None
            if size is not None and not _within(len(v), size):
                raise Mismatch(pos, f"{name} of {len(v)} characters outside SIZE {_fmt_bounds(size)}")
            return v, e

        return string, frozenset((tag,))

    _k_UTF8String = _k_PrintableString = _k_IA5String = _k_VisibleString = _k_NumericString = _string

    def _k_ANY(self, t: dict[str, Any], module: str, tag: int | None) -> tuple[Decoder, None]:
        def any_(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[bytes, int]:
            e = _any_bounds(d, pos, end)
            return d[pos:e], e

        return any_, None

    def _k_CHOICE(self, t: dict[str, Any], module: str, tag: int | None) -> tuple[Decoder, frozenset[int]]:
        table: dict[int, tuple[str, Decoder]] = {}
        for m in t["members"]:
            if m is None:
                raise Unsupported("CHOICE with an extension marker")
            func, tags = self.compile(m, module)
            if tags is None:
                raise Unsupported(f"CHOICE alternative {m['name']} without a fixed tag")
            for tg in tags:
                if tg in table:
                    raise Unsupported(f"CHOICE alternatives share tag {tg:02X}")
                table[tg] = (m["name"], func)
        expected = "/".join(f"{tg:02X}" for tg in table)

        def choice(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[tuple[str, Any], int]:
            if pos >= end:
                raise Mismatch(pos, "CHOICE value missing")
            alt = table.get(d[pos])
            if alt is None:
                raise Mismatch(pos, f"tag {d[pos]:02X} matches no CHOICE alternative ({expected})")
            v, j = alt[1](d, pos, end, ctx)
            return (alt[0], v), j

        return choice, frozenset(table)

    def _members(self, t: dict[str, Any], module: str) -> list[tuple[str, Decoder, Any, bool, bool, Any]]:
        out = []
        for m in t["members"]:
            if m is None:
                raise Unsupported("SEQUENCE with an extension marker")
            func, tags = self.compile(m, module)
            has_default = "default" in m
            default = m.get("default")
            if has_default and isinstance(default, str):
                b = self.base({k: v for k, v in m.items() if k != "tag"})
                named = b.get("named-numbers") or {}
                if b["type"] == "INTEGER" and default in named:
                    default = named[default]
                elif b["type"] != "ENUMERATED":
                    raise Unsupported(f"DEFAULT {default!r}")
            if has_default and not isinstance(default, (int, bool, str)):
                raise Unsupported(f"DEFAULT {default!r}")
            out.append((m["name"], func, tags, bool(m.get("optional")), has_default, default))
        return out

    def _k_SEQUENCE(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        members = self._members(t, module)

        def sequence(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[dict[str, Any], int]:
            j, ce = _bounds_of(d, pos, end, ctx, tag, "SEQUENCE")
            out: dict[str, Any] = {}
            for name, func, mtags, optional, has_default, default in members:
                if j < ce and (mtags is None or d[j] in mtags):
                    at = j
                    v, j = func(d, j, ce, ctx)
                    if has_default and v == default:
                        raise Mismatch(at, f"{name}: DEFAULT value encoded (not DER)")
                    out[name] = v
                elif has_default:
                    out[name] = default
                elif not optional:
                    raise Mismatch(j, f"member {name} missing")
            if j != ce:
                raise Mismatch(j, "element after the last SEQUENCE member")
            return out, ce

        return sequence, frozenset((tag,))

    def _k_SEQUENCE_OF(self, t: dict[str, Any], module: str, tag: int) -> tuple[Decoder, frozenset[int]]:
        func, _ = self.compile(t["element"], module)
        size = _bounds(t.get("size"))
        what = t["type"]

        def sequence_of(d: bytes, pos: int, end: int, ctx: Ctx | None) -> tuple[list[Any], int]:
            j, ce = _bounds_of(d, pos, end, ctx, tag, what)
            out = []
            while j < ce:
                v, j = func(d, j, ce, ctx)
                out.append(v)
            if size is not None and not _within(len(out), size):
                raise Mismatch(pos, f"{what} of {len(out)} elements outside SIZE {_fmt_bounds(size)}")
            return out, ce

        return sequence_of, frozenset((tag,))

    _k_SET_OF = _k_SEQUENCE_OF
