"""Explanation trees for ASN.1 payloads: module field names, absolute offsets, code tables by name.

The walker re-scans the record's encoding and follows the schema and the decoded value side by side, so every
Node carries the offset and length of its TLV.  X.509 signed parts kept as exact DER (TBSCertificateDER,
CertificationRequestInfoDER) are decoded on the spot with their full structure; any other ANY, and payloads
that
matched no module type, are explained as generic TLVs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..errors import DecodeError
from ..tree import Node
from ._der import TAG_CLASSES, Scan, identifier_bytes, is_constructed, scan, tlv_header
from ._fastdec import Compiler
from ._reading import UNIVERSAL_TAGS, Mismatch
from ._schema import Schema

# ANY placeholders whose bytes are a full structure of the named type (GBCS-X509 module).
OPAQUE_STRUCTURES = {
    "TBSCertificateDER": "TBSCertificate",
    "CertificationRequestInfoDER": "CertificationRequestInfo",
}

# Object identifiers that occur in GBCS certificates (RFC 5280, RFC 5480, RFC 2985, RFC 4108 names).
OID_NAMES = {
    "1.2.840.10045.2.1": "id-ecPublicKey",
    "1.2.840.10045.3.1.7": "prime256v1 (P-256)",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.113549.1.9.14": "extensionRequest",
    "2.5.4.3": "commonName",
    "2.5.4.10": "organizationName",
    "2.5.4.11": "organizationalUnitName",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.35": "authorityKeyIdentifier",
    "1.3.6.1.5.5.7.8.4": "id-on-hardwareModuleName",
}

UNIVERSAL_NAMES = {
    1: "BOOLEAN",
    2: "INTEGER",
    3: "BIT STRING",
    4: "OCTET STRING",
    5: "NULL",
    6: "OBJECT IDENTIFIER",
    10: "ENUMERATED",
    12: "UTF8String",
    16: "SEQUENCE",
    17: "SET",
    19: "PrintableString",
    22: "IA5String",
    23: "UTCTime",
    24: "GeneralizedTime",
    26: "VisibleString",
}


def _time_text(raw: bytes, v: datetime | None = None) -> str:
    text = raw.decode("ascii", "replace")
    if v is not None:
        return f"{text} ({v.isoformat(sep=' ')} UTC)"
    return text


def _oid_from_bytes(raw: bytes) -> str | None:
    arcs = []
    v = 0
    for b in raw:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    if not arcs or raw[-1] & 0x80:
        return None
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _oid_text(oid: str) -> str:
    name = OID_NAMES.get(oid)
    return f"{oid} ({name})" if name else oid


_ANY = "ANY"  # a plan's `special`: explained as a generic TLV


class _Plan(NamedTuple):
    """See `Explainer._plan`; `first` keeps the description the plan is cached under (by identity) alive."""

    explicit: int
    t: dict[str, Any]
    module: str
    type_name: str | None
    named: dict[str, int] | None
    named_bits: list[Any] | None
    special: str | None
    members: list[tuple[str, dict[str, Any], bool]] | None
    first: dict[str, Any]


# Schema descriptions live as long as the schema; plans are keyed by their identity.
_PLANS: dict[int, _Plan] = {}


class Explainer:
    def __init__(self, schema: Schema, compiler: Compiler, base: int) -> None:
        self.schema = schema
        self.compiler = compiler
        self.base = base

    # -- generic TLVs -------------------------------------------------------------------------------------
    def generic(self, sc: Scan, i: int, name: str | None = None) -> Node:
        tag = sc.tags[i]
        ident = identifier_bytes(tag)
        cls = ident[0] >> 6
        if ident[0] & 0x1F != 0x1F:
            number = ident[0] & 0x1F
        else:
            number = 0
            for b in ident[1:]:
                number = (number << 7) | (b & 0x7F)
        label = (
            UNIVERSAL_NAMES.get(number, f"UNIVERSAL {number}")
            if cls == 0
            else f"[{TAG_CLASSES[cls]} {number}]"
        )
        start = sc.starts[i]
        node = Node(name or label, self.base + start, sc.cends[i] - start)
        if is_constructed(tag):
            node.value = f"{label}, {sc.cends[i] - sc.cstarts[i]} octets" if name else ""
            j = i + 1
            while j < sc.nexts[i]:
                node.children.append(self.generic(sc, j))
                j = sc.nexts[j]
            return node
        raw = bytes(sc.data[sc.cstarts[i] : sc.cends[i]])
        node.value = self._universal_text(number, raw) if cls == 0 else raw.hex().upper()
        if name:
            node.value = f"{label} {node.value}"
        return node

    @staticmethod
    def _universal_text(number: int, raw: bytes) -> str:
        if number == 2 or number == 10:
            return str(int.from_bytes(raw, "big", signed=True)) if raw else "(empty)"
        if number == 1:
            return "TRUE" if raw and raw[0] else "FALSE"
        if number == 5:
            return "NULL"
        if number == 6:
            oid = _oid_from_bytes(raw)
            return _oid_text(oid) if oid else raw.hex().upper()
        if number in (12, 19, 22, 26):
            return repr(raw.decode("utf-8", "replace"))
        if number in (23, 24):
            return _time_text(raw)
        if number == 3 and raw:
            return f"{raw[1:].hex().upper()} ({raw[0]} unused bits)"
        return raw.hex().upper()

    # -- typed --------------------------------------------------------------------------------------------
    def any_tlv(self, d: bytes, pos: int, name: str) -> Node:
        """Explain an opaque TLV (ANY) generically; raw hex if its interior is not well-formed."""
        ce = tlv_header(d, pos)[1]
        try:
            sc = scan(d[pos:ce])
        except DecodeError:
            return Node(name, self.base + pos, ce - pos, d[pos:ce].hex().upper())
        return Explainer(self.schema, self.compiler, self.base + pos).generic(sc, 0, name)

    def _plan(self, t: dict[str, Any], module: str) -> _Plan:
        """What `typed` does with description `t` once its references and tags are followed (cached per `t`):
        how many EXPLICIT tags wrap it, the description and module reached, the innermost type name and named
        numbers/bits met on the way, and whether it is an ANY, an unknown reference or an opaque structure."""
        cached = _PLANS.get(id(t))
        if cached is not None:
            return cached
        first = t
        levels = 0
        type_name: str | None = None
        named: dict[str, int] | None = None
        named_bits: list[Any] | None = None
        special: str | None = None
        for _ in range(64):
            if "tag" in t:
                inner = {k: x for k, x in t.items() if k != "tag"}
                if self.compiler.explicit(t, module):
                    levels += 1
                t = inner
            named = t.get("named-numbers", named)
            named_bits = t.get("named-bits", named_bits)
            kind = t["type"]
            if kind in UNIVERSAL_TAGS or kind == "CHOICE":
                break
            if kind == "ANY":
                special = _ANY
                break
            found = self.schema.lookup(kind)
            if found is None:
                special = _ANY
                break
            if kind in OPAQUE_STRUCTURES:
                special = OPAQUE_STRUCTURES[kind]
                break
            module, t = found
            type_name = kind
        members = None
        if special is None and t["type"] == "SEQUENCE":
            members = [(m["name"], m, "default" in m) for m in t["members"] if m is not None]
        plan = _Plan(levels, t, module, type_name, named, named_bits, special, members, first)
        _PLANS[id(first)] = plan
        return plan

    def typed(self, t: dict[str, Any], module: str, v: Any, d: bytes, pos: int, name: str,
              type_name: str | None = None) -> Node:
        """The node of value `v` of description `t`, whose TLV starts at `pos` in `d`."""
        plan = self._plan(t, module)
        outer = pos
        for _ in range(plan.explicit):
            pos = tlv_header(d, pos)[0]
        node = self._typed_inner(plan, v, d, pos, name, plan.type_name or type_name)
        if plan.explicit:
            node.offset = self.base + outer
            node.length = tlv_header(d, outer)[1] - outer
        return node

    def _typed_inner(self, plan: _Plan, v: Any, d: bytes, pos: int, name: str, type_name: str | None) -> Node:
        if plan.special is not None:
            if plan.special is _ANY:
                return self.any_tlv(d, pos, name)
            return self._opaque(plan.special, d, pos, name)
        t = plan.t
        module = plan.module
        kind = t["type"]
        if kind == "CHOICE":
            alt, inner_v = v
            for m in t["members"]:
                if m is not None and m["name"] == alt:
                    return self.typed(m, module, inner_v, d, pos, f"{name}.{alt}")
            return self.any_tlv(d, pos, name)
        cs, ce, _ = tlv_header(d, pos)
        node = Node(name, self.base + pos, ce - pos)
        if plan.members is not None:
            node.value = type_name or ""
            kids = node.children
            j = cs
            for mname, m, has_default in plan.members:
                if mname not in v:
                    continue
                mv = v[mname]
                if has_default and self._is_default(m, mv):
                    kids.append(Node(mname, self.base + j, 0,
                                     f"{self._default_text(m, mv)} (DEFAULT, not on the wire)"))
                    continue
                kids.append(self.typed(m, module, mv, d, j, mname))
                j = tlv_header(d, j)[1]
            return node
        if kind in ("SEQUENCE OF", "SET OF"):
            node.value = f"{type_name + ', ' if type_name else ''}{len(v)} element(s)"
            kids = node.children
            element = t["element"]
            j = cs
            for k, e in enumerate(v):
                kids.append(self.typed(element, module, e, d, j, f"[{k}]"))
                j = tlv_header(d, j)[1]
            return node
        node.value = self._primitive(kind, v, d[cs:ce], type_name, plan.named, plan.named_bits, t)
        if name == "extnValue":
            self._nested_der(node, d, cs, ce)
        return node

    def _opaque(self, structure: str, d: bytes, pos: int, name: str) -> Node:
        end = tlv_header(d, pos)[1]
        try:
            value, _ = self.compiler.decoder(structure)(d, pos, end, None)
        except Mismatch:
            return self.any_tlv(d, pos, name)
        module, td = self.schema.types[structure]
        node = self.typed(td, module, value, d, pos, name, structure)
        node.value = f"{structure} (exact DER: the signature covers these octets)"
        return node

    def _nested_der(self, node: Node, d: bytes, cs: int, ce: int) -> None:
        try:
            inner = scan(d[cs:ce])
        except DecodeError:
            return
        node.children.append(Explainer(self.schema, self.compiler, self.base + cs).generic(inner, 0))

    def _is_default(self, m: dict[str, Any], mv: Any) -> bool:
        default = m["default"]
        if isinstance(default, str):
            named = self.compiler.base({k: x for k, x in m.items() if k != "tag"}).get("named-numbers") or {}
            default = named.get(default, default)
        return bool(mv == default)

    def _default_text(self, m: dict[str, Any], mv: Any) -> str:
        named = m.get("named-numbers")
        if named is None and m["type"] not in UNIVERSAL_TAGS:
            found = self.schema.lookup(m["type"])
            named = found[1].get("named-numbers") if found else None
        if isinstance(mv, bool):
            return "TRUE" if mv else "FALSE"
        if named:
            for k, x in named.items():
                if x == mv:
                    return f"{mv} ({k})"
        return str(mv)

    def _primitive(
        self,
        kind: str,
        v: Any,
        raw: bytes,
        type_name: str | None,
        named: dict[str, int] | None,
        named_bits: list[Any] | None,
        t: dict[str, Any],
    ) -> str:
        if kind == "INTEGER":
            label = None
            if named:
                for k, x in named.items():
                    if x == v:
                        label = k
                        break
            if type_name == "AlertCode":
                return f"0x{v:04X}" + (f" ({label})" if label else "")
            text = str(v)
            if v > 0xFFFF:
                text += f" (0x{v:X})"
            return f"{text} ({label})" if label else text
        if kind == "ENUMERATED":
            num = dict(x for x in t["values"] if x is not None).get(v)
            return f"{v} ({num})"
        if kind == "BIT STRING":
            data, bits = v
            text = f"{data.hex().upper()} ({bits} bit{'s' if bits != 1 else ''})"
            if named_bits:
                on = [
                    bn
                    for bn, pos in named_bits
                    if int(pos) < bits and data[int(pos) // 8] & (0x80 >> (int(pos) % 8))
                ]
                if on:
                    text += ": " + ", ".join(on)
            return text
        if kind == "OCTET STRING":
            text = raw.hex().upper()
            if type_name == "EntityId":
                return f"{text} (EUI-64)"
            return text
        if kind in ("GeneralizedTime", "UTCTime"):
            return _time_text(raw, v)
        if kind == "OBJECT IDENTIFIER":
            return _oid_text(v)
        if kind == "NULL":
            return "NULL"
        if kind == "BOOLEAN":
            return "TRUE" if v else "FALSE"
        return repr(v)
