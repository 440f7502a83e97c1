"""Choosing the payload codec of a GBCS message: first bytes, then the message-code registry (gbcs-parser src/parser.ts).

Both public dissectors dispatch on the first bytes (`D9`/`DA`/`0F` DLMS, `01 09` GBZ, anything else ASN.1
BER); the registry then names the ASN.1 type. A payload that fits none is kept as raw bytes with a warning.
"""

from __future__ import annotations

from enum import Enum
from importlib import import_module
from types import ModuleType
from typing import Any

from .errors import EncodeError


class PayloadType(str, Enum):
    DLMS = "dlms"
    GBZ = "gbz"
    ASN1 = "asn1"
    RAW = "raw"


_MODULES = {PayloadType.DLMS: "gbcs.dlms", PayloadType.GBZ: "gbcs.gbz", PayloadType.ASN1: "gbcs.asn1"}
_loaded: dict[PayloadType, ModuleType] = {}

# First bytes of a DER TLV GBCS uses: SEQUENCE, INTEGER, OCTET STRING, NULL, BIT STRING, ENUMERATED, time.
_DER_FIRST = frozenset({0x30, 0x02, 0x03, 0x04, 0x05, 0x0A, 0x17, 0x18, 0x31})


def codec(kind: PayloadType) -> ModuleType:
    """The codec module of a payload type (imported on first use: asn1tools is slow to load)."""
    m = _loaded.get(kind)
    if m is None:
        m = _loaded[kind] = import_module(_MODULES[kind])
    return m


def classify(payload: bytes) -> PayloadType:
    if not payload:
        return PayloadType.RAW
    b0 = payload[0]
    if b0 in (0xD9, 0xDA, 0x0F):
        return PayloadType.DLMS
    if b0 == 0x01 and len(payload) > 1 and payload[1] == 0x09:
        return PayloadType.GBZ
    if b0 in _DER_FIRST:
        return PayloadType.ASN1
    return PayloadType.RAW


def decode_payload(payload: bytes, base: int, message_code: int, cra: int,
                   disconnect_code: int | None = None) -> tuple[PayloadType, Any]:
    """Decode a payload; raise DecodeError when it claims a known encoding but is malformed. `disconnect_code`
    (the provisional Disconnect message code, None: the default) goes to the ASN.1 codec, which types by it."""
    kind = classify(payload)
    if kind is PayloadType.RAW:
        return kind, None
    m = _loaded.get(kind) or codec(kind)
    if kind is PayloadType.ASN1:
        return kind, m.decode(payload, base, message_code=message_code, cra=cra, disconnect_code=disconnect_code)
    return kind, m.decode(payload, base, message_code=message_code, cra=cra)


def encode_payload(kind: PayloadType, record: Any, raw: bytes | None = None) -> bytes:
    if kind is PayloadType.RAW:
        return raw or b""
    out: bytes = codec(kind).encode(record)
    return out


def payload_to_json(kind: PayloadType, record: Any, raw: bytes) -> Any:
    if kind is PayloadType.RAW:
        return {"hex": raw.hex().upper()}
    return codec(kind).to_json(record)


def payload_from_json(kind: PayloadType, obj: Any) -> tuple[Any, bytes]:
    """(record, encoded bytes) from a JSON payload description."""
    if kind is PayloadType.RAW:
        try:
            raw = bytes.fromhex(obj["hex"])
        except (KeyError, TypeError, ValueError):
            raise EncodeError("payload.hex", "a raw payload is {\"hex\": \"...\"}") from None
        return None, raw
    m = codec(kind)
    rec = m.from_json(obj)
    return rec, m.encode(rec)

