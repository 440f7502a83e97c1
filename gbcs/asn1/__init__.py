"""ASN.1 (DER) payload codec: the GBCS ASN.1 use cases (gbcs-parser src/parser.ts, src/asn1.ts) plus the provisional Disconnect.

The modules live in `gbcs/asn1/*.asn` (GBCS section 13 is not public; their structure is derived from GBCS
§4.5 and the RTDS 4.5.0 bytes, see the comments in each module).  asn1tools parses them once per process
(`_schema`, pickle-cached); decoding uses strict decoders compiled from the parsed modules (`_fastdec`:
asn1tools' values, constraints checked, only canonical encodings) and encoding their inverse (`_fastenc`),
whose output the tests compare with asn1tools' own DER encoder, which the codec itself no longer loads.

Payload-codec contract (docs/codec.md):
    decode(data, base=0, *, message_code=None, cra=None, disconnect_code=None) -> Asn1Record
    encode(record) -> bytes            exact inverse, wire length forms included
    to_json(record) -> dict            / from_json(obj) -> Asn1Record
    explain(record, base=0) -> list[Node]
The type comes from (message code, CRA) (`type_for`); a well-formed DER payload of an unknown code, or whose
bytes do not match the expected type, decodes as a generic TLV tree (`type_name` None) with a warning, so
decode only raises DecodeError for bytes that are not one well-formed definite-length TLV tree.
RTDS CS02a/b/f/g payloads carry 32 non-minimal DER lengths (docs/codec.md): records keep them in
`length_sizes` (TLV offset in the canonical encoding -> length-field size), report them in `warnings`, and
encode reproduces them.

PROVISIONAL: the SECMP0013 "Disconnect Smart Meter from HAN" command/response (`disconnect.asn`) has no
published message code. `decode`, `type_for` and `use_case` take it as `disconnect_code` (None: 0xF013,
DEFAULT_DISCONNECT_MESSAGE_CODE, outside every message_codes.json code; `disconnect_message_code` checks one);
there is no process-wide setting (the `chf` command reads COMMSHUB_DISCONNECT_CODE and passes it down).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from ..errors import DecodeError, EncodeError
from ..tree import Node
from . import _der
from ._codes import (ALERT, COMMAND, DEFAULT_DISCONNECT_MESSAGE_CODE, DISCONNECT, GBCS_CODE_RANGES, RESPONSE,
    USE_CASES, UseCase, candidate_types, disconnect_message_code, is_gbcs_code, use_case)
from ._der import TlvNode
from ._explain import Explainer
from ._fastdec import Compiler
from ._fastenc import Encoder, EncoderCompiler, Unencodable
from ._reading import Ctx, Decoder, Mismatch, Unsupported
from ._json import from_jsonable, hex_upper, to_jsonable
from ._schema import schema
from ._tables import (DeviceType, DisconnectResponseCode, JoinMethodAndRole, JoinResponseCode, RemotePartyRole,
    UnjoinResponseCode)

__all__ = [
    "ALERT",
    "COMMAND",
    "DEFAULT_DISCONNECT_MESSAGE_CODE",
    "GBCS_CODE_RANGES",
    "RESPONSE",
    "USE_CASES",
    "Asn1Record",
    "DeviceType",
    "DisconnectResponseCode",
    "JoinMethodAndRole",
    "JoinResponseCode",
    "RemotePartyRole",
    "TlvNode",
    "UnjoinResponseCode",
    "UseCase",
    "decode",
    "decode_as",
    "decode_disconnect_command",
    "decode_value",
    "disconnect_message_code",
    "encode",
    "encode_disconnect_command",
    "encode_disconnect_response",
    "encode_value",
    "explain",
    "from_json",
    "is_gbcs_code",
    "resolve_type_name",
    "to_json",
    "type_for",
    "type_names",
    "use_case",
]


# -- records -------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Asn1Record:
    """A decoded ASN.1 payload.

    `type_name` is the module type (None: generic TLV tree, `value` is then a TlvNode); `value` is the
    asn1tools-style Python value; `length_sizes` maps the offset, in the canonical (minimal-length) encoding,
    of every TLV whose wire length field is not minimal to that field's size (so encode is exact);
    `warnings` lists such deviations and fallbacks.
    """

    type_name: str | None
    value: Any
    length_sizes: dict[int, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    wire: bytes | None = field(default=None, compare=False, repr=False)  # the bytes decoded (explain reads them)

    @property
    def generic(self) -> bool:
        return self.type_name is None


_COMPILERS: list[tuple[Compiler, EncoderCompiler]] = []  # built on first use (needs the parsed schema)
_DECODERS: dict[str, Decoder] = {}
_ENCODERS: dict[str, Encoder] = {}
_LOCK = threading.RLock()


def _compilers() -> tuple[Compiler, EncoderCompiler]:
    if not _COMPILERS:
        with _LOCK:
            if not _COMPILERS:
                decoders = Compiler(schema())
                _COMPILERS.append((decoders, EncoderCompiler(decoders)))
    return _COMPILERS[0]


def _compiler() -> Compiler:
    return _compilers()[0]


def _memoised(cache: dict[str, Any], type_name: str, build: Callable[[str], Any]) -> Any:
    """`cache[type_name]`, built once (thread-safe) by `build`: a compiled decoder or encoder."""
    found = cache.get(type_name)
    if found is None:
        with _LOCK:
            found = cache.get(type_name)
            if found is None:
                found = cache[type_name] = build(type_name)
    return found


def _decoder(type_name: str) -> Decoder:
    d: Decoder | None = _DECODERS.get(type_name)
    return d if d is not None else _memoised(_DECODERS, type_name, _compilers()[0].decoder)


def _encoder(type_name: str) -> Encoder:
    e: Encoder | None = _ENCODERS.get(type_name)
    return e if e is not None else _memoised(_ENCODERS, type_name, _compilers()[1].encoder)


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for uc in [*list(USE_CASES.values()), DISCONNECT]:
        for suffix, t in (("Command", uc.command), ("Response", uc.response), ("Alert", uc.alert)):
            if t:
                out[f"{uc.name}{suffix}"] = t
    out.update(
        {
            "CS03JoinCommand": "JoinDeviceCommand",
            "CS03JoinResponse": "JoinDeviceResponse",
            "CS04UnjoinCommand": "UnjoinDeviceCommand",
            "CS04UnjoinResponse": "UnjoinDeviceResponse",
        }
    )
    return out


ALIASES: dict[str, str] = _aliases()


def resolve_type_name(name: str) -> str:
    """A module type name, or a use-case alias such as "CS04UnjoinResponse" or "CS02bCommand"."""
    resolved = ALIASES.get(name, name)
    if schema().lookup(resolved) is None:
        raise KeyError(f"unknown ASN.1 type {name!r}")
    return resolved


def type_names() -> list[str]:
    """Every type defined by the modules."""
    return sorted(schema().types)


def type_for(message_code: int | None, cra: int | None, disconnect_code: int | None = None) -> str | None:
    """The module type of a payload with this message code and CRA flag (None: unknown or ambiguous);
    `disconnect_code` is the provisional Disconnect code (None: the default)."""
    found = candidate_types(message_code, cra, disconnect_code)
    return found[0] if len(found) == 1 else None


def _warning(lpos: int, size: int, ln: int) -> str:
    return (
        f"non-minimal DER length at offset {lpos}: {size} octets for length {ln} "
        f"(minimal {_der.minimal_length_size(ln)})"
    )


def _as_bytes(data: Any, base: int) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise DecodeError(base, "asn1", f"expected bytes, got {type(data).__name__}")


def _typed(type_name: str, data: bytes, base: int) -> Asn1Record:
    """Strict decode as `type_name`; raises Mismatch (also for malformed bytes)."""
    ctx = Ctx()
    value, end = _decoder(type_name)(data, 0, len(data), ctx)
    if end != len(data):
        raise Mismatch(end, f"{len(data) - end} trailing byte(s) after the DER value")
    if not ctx.entries:
        return Asn1Record(type_name, value, {}, [], data)
    return Asn1Record(
        type_name,
        value,
        _der.length_forms(data, [pos for pos, _, _, _ in ctx.entries]),
        [_warning(base + lpos, size, ln) for _, size, lpos, ln in ctx.entries],
        data,
    )


# -- decode --------------------------------------------------------------------------------------------------
def decode(
    data: bytes, base: int = 0, *, message_code: int | None = None, cra: int | None = None,
    disconnect_code: int | None = None,
) -> Asn1Record:
    """Decode an ASN.1 payload; `base` is the absolute offset of data[0] in the frame; `disconnect_code` is the
    provisional Disconnect message code (None: DEFAULT_DISCONNECT_MESSAGE_CODE; TypeError/ValueError if invalid).

    Raises DecodeError only when `data` is not exactly one well-formed definite-length DER/BER TLV tree
    (nesting <= 64); otherwise returns the typed record, or the generic tree with a warning saying why.
    Opaque parts of a typed value (ANY: the signed parts of certificates) are kept as their exact octets.
    """
    data = _as_bytes(data, base)
    why = None
    for type_name in candidate_types(message_code, cra, disconnect_code):
        try:
            return _typed(type_name, data, base)
        except Mismatch as m:
            why = f"{type_name}: {m.reason} at offset {base + m.pos}"
        except (IndexError, KeyError, TypeError, ValueError, OverflowError, UnicodeError) as e:
            why = f"{type_name}: internal decoder error {e!r}"  # a decoder bug must not fail the frame
    sc = _der.scan(data, base)  # DecodeError for bytes that are not one well-formed TLV tree
    warnings = [_warning(lpos, size, ln) for _, (size, lpos, ln) in sorted(sc.nonminimal.items())]
    if why is not None:
        warnings.append(f"payload does not match {why}; decoded as a generic TLV tree")
    elif message_code is not None:
        warnings.append(
            f"no ASN.1 type for message code 0x{message_code:04X}"
            f"{'' if cra is None else f' CRA {int(cra)}'}; decoded as a generic TLV tree"
        )
    return Asn1Record(None, _der.tree(sc), _der.canonical_sizes(sc), warnings, data)


def decode_as(type_name: str, data: bytes, base: int = 0) -> Asn1Record:
    """Decode `data` as module type `type_name` (or alias), keeping wire length forms; DecodeError (with the
    absolute offset of the offending TLV) if it is not exactly that type."""
    data = _as_bytes(data, base)
    try:
        tn = resolve_type_name(type_name)
    except KeyError as e:
        raise DecodeError(base, "asn1", str(e)) from None
    try:
        return _typed(tn, data, base)
    except Mismatch as m:
        _der.scan(data, base)  # a malformed payload is reported as such
        raise DecodeError(base + m.pos, tn, m.reason) from None


def decode_value(type_name: str, data: bytes, base: int = 0) -> Any:
    """The Python value of `data` decoded strictly as `type_name` (DecodeError if it is not that type)."""
    return decode_as(type_name, data, base).value


# -- encode --------------------------------------------------------------------------------------------------
_BASIC_ENCODE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError)


def encode_value(type_name: str, value: Any) -> bytes:
    """Canonical DER of `value` as module type `type_name` (or alias), types and constraints checked (`_fastenc`).

    e.g. encode_value("CS04UnjoinResponse", 1) == bytes.fromhex("020101").
    """
    try:
        tn = resolve_type_name(type_name)
        enc = _encoder(tn)
    except (KeyError, Unsupported) as e:
        raise EncodeError(str(type_name), str(e)) from None
    out = bytearray()
    try:
        enc(value, out)
    except Unencodable as e:
        raise EncodeError(tn, str(e)) from None
    except _BASIC_ENCODE_ERRORS as e:  # e.g. a value whose == or len() misbehaves
        raise EncodeError(tn, str(e)) from None
    return bytes(out)


def encode(record: Asn1Record) -> bytes:
    """The payload bytes of `record`, with its recorded non-minimal length forms."""
    if not isinstance(record, Asn1Record):
        raise EncodeError("record", f"expected an Asn1Record, got {type(record).__name__}")
    sizes = record.length_sizes
    if not isinstance(sizes, dict) or not all(
        isinstance(k, int) and isinstance(v, int) and 1 <= v <= 5 for k, v in sizes.items()
    ):
        raise EncodeError("length_sizes", "expected {canonical TLV offset: length-field size 1..5}")
    if record.type_name is None:
        if not isinstance(record.value, TlvNode):
            raise EncodeError("value", "a generic record needs a TlvNode tree")
        canonical = _der.serialize(record.value)
    else:
        canonical = encode_value(record.type_name, record.value)
    return _der.relength(canonical, sizes) if sizes else canonical


# -- JSON ----------------------------------------------------------------------------------------------------
def _tlv_to_json(node: TlvNode, depth: int = 0) -> dict[str, Any]:
    if depth > _der.MAX_DEPTH:
        raise EncodeError("value", "TLV tree nested too deeply")
    out: dict[str, Any] = {
        "tag": hex_upper(node.tag),
        "class": node.tag_class,
        "constructed": node.constructed,
        "number": node.tag_number,
    }
    if node.children is not None:
        out["children"] = [_tlv_to_json(c, depth + 1) for c in node.children]
    else:
        out["value"] = hex_upper(node.value or b"")
    return out


def _tlv_from_json(obj: Any, path: str, depth: int = 0) -> TlvNode:
    if depth > _der.MAX_DEPTH:
        raise EncodeError(path, "TLV tree nested too deeply")
    if not isinstance(obj, dict) or not isinstance(obj.get("tag"), str):
        raise EncodeError(path, 'expected {"tag": hex, "children" | "value": ...}')
    try:
        tag = bytes.fromhex(obj["tag"])
    except ValueError:
        raise EncodeError(path + ".tag", "not a hex string") from None
    if not tag:
        raise EncodeError(path + ".tag", "empty identifier")
    node = TlvNode(tag)
    expected = {"tag", "class", "constructed", "number"}
    if tag[0] & 0x20:
        kids = obj.get("children")
        if not isinstance(kids, list) or "value" in obj:
            raise EncodeError(path, "a constructed TLV needs a children array")
        node.children = [_tlv_from_json(c, f"{path}.children[{k}]", depth + 1) for k, c in enumerate(kids)]
        expected.add("children")
    else:
        raw = obj.get("value")
        if not isinstance(raw, str) or "children" in obj:
            raise EncodeError(path, "a primitive TLV needs a hex value")
        try:
            node.value = bytes.fromhex(raw)
        except ValueError:
            raise EncodeError(path + ".value", "not a hex string") from None
        expected.add("value")
    extra = set(obj) - expected
    if extra:
        raise EncodeError(path, f"unknown key(s) {sorted(extra)}")
    for key, want in (
        ("class", node.tag_class),
        ("constructed", node.constructed),
        ("number", node.tag_number),
    ):
        if key in obj and obj[key] != want:
            raise EncodeError(f"{path}.{key}", f"{obj[key]!r} contradicts tag {obj['tag']}")
    return node


def to_json(record: Asn1Record) -> dict[str, Any]:
    """JSON-able form: {"encoding", "type", "value", "length_sizes": [[offset, size], ...], "warnings"}."""
    if not isinstance(record, Asn1Record):
        raise EncodeError("record", f"expected an Asn1Record, got {type(record).__name__}")
    if record.type_name is None:
        if not isinstance(record.value, TlvNode):
            raise EncodeError("value", "a generic record needs a TlvNode tree")
        value = _tlv_to_json(record.value)
    else:
        sch = schema()
        found = sch.lookup(record.type_name)
        if found is None:
            raise EncodeError("type", f"unknown ASN.1 type {record.type_name!r}")
        module, td = found
        value = to_jsonable(sch, td, module, record.value, record.type_name)
    return {
        "encoding": "asn1-der",
        "type": record.type_name,
        "value": value,
        "length_sizes": [[k, v] for k, v in sorted(record.length_sizes.items())],
        "warnings": list(record.warnings),
    }


def from_json(obj: dict[str, Any]) -> Asn1Record:
    """Exact inverse of to_json; EncodeError(field, reason) for anything malformed."""
    if not isinstance(obj, dict):
        raise EncodeError("asn1", "expected a JSON object")
    extra = set(obj) - {"encoding", "type", "value", "length_sizes", "warnings"}
    if extra:
        raise EncodeError("asn1", f"unknown key(s) {sorted(extra)}")
    if obj.get("encoding", "asn1-der") != "asn1-der":
        raise EncodeError("encoding", f"expected 'asn1-der', got {obj.get('encoding')!r}")
    sizes_in = obj.get("length_sizes", [])
    sizes: dict[int, int] = {}
    if not isinstance(sizes_in, list):
        raise EncodeError("length_sizes", "expected an array of [index, size] pairs")
    for k, pair in enumerate(sizes_in):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            or pair[0] < 0
            or not 1 <= pair[1] <= 5
            or pair[0] in sizes
        ):
            raise EncodeError(
                f"length_sizes[{k}]", "expected a [TLV offset >= 0, size 1..5] pair, offsets unique"
            )
        sizes[pair[0]] = pair[1]
    warnings = obj.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise EncodeError("warnings", "expected an array of strings")
    type_name = obj.get("type")
    if "value" not in obj:
        raise EncodeError("value", "missing")
    if type_name is None:
        value = _tlv_from_json(obj["value"], "value")
    else:
        if not isinstance(type_name, str):
            raise EncodeError("type", "expected a type name or null")
        sch = schema()
        found = sch.lookup(type_name)
        if found is None:
            raise EncodeError("type", f"unknown ASN.1 type {type_name!r}")
        module, td = found
        value = from_jsonable(sch, td, module, obj["value"], type_name)
    return Asn1Record(type_name, value, sizes, list(warnings))


# -- explain -------------------------------------------------------------------------------------------------
def explain(record: Asn1Record, base: int = 0) -> list[Node]:
    """Named fields with absolute offsets: module field names, code tables by name, entity ids in hex,
    GeneralizedTime as text; generic TLVs for untyped parts.  Warnings follow as "warning" nodes."""
    data = record.wire if record.wire is not None else encode(record)  # hand-built records: encoded once
    ex = Explainer(schema(), _compiler(), base)
    if record.type_name is None:
        top = ex.generic(_der.scan(data, base), 0, "ASN.1 DER (generic TLV tree)")
    else:
        module, td = schema().types[record.type_name]
        top = ex.typed(td, module, record.value, data, 0, record.type_name, record.type_name)
        if top.value in ("", record.type_name):
            top.value = "ASN.1 DER"
    nodes = [top]
    for w in record.warnings:
        nodes.append(Node("warning", base, 0, w))
    return nodes


# -- Disconnect Smart Meter from HAN (PROVISIONAL) -----------------------------------------------------------
def encode_disconnect_command(target_entity_id: bytes) -> bytes:
    """PROVISIONAL Disconnect command payload for the meter whose EUI-64 is `target_entity_id` (8 octets)."""
    if not isinstance(target_entity_id, (bytes, bytearray)) or len(target_entity_id) != 8:
        raise EncodeError("targetEntityId", "expected 8 octets (EUI-64)")
    return encode_value("DisconnectFromHANCommand", {"targetEntityId": bytes(target_entity_id)})


def decode_disconnect_command(data: bytes, base: int = 0) -> bytes:
    """The target EUI-64 of a PROVISIONAL Disconnect command payload (DecodeError if it is not one)."""
    return bytes(decode_value("DisconnectFromHANCommand", data, base)["targetEntityId"])


def encode_disconnect_response(code: int) -> bytes:
    """PROVISIONAL Disconnect response payload (DisconnectResponseCode)."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise EncodeError("DisconnectFromHANResponse", f"expected an int code, got {code!r}")
    return encode_value("DisconnectFromHANResponse", int(code))
