"""A decoded GBCS message: frame + payload tree + verification verdicts, and its JSON form (`chf decode --json`).

The JSON form is also the input of `chf encode`: every field needed to rebuild the exact bytes is in it
(wire forms included), except the MAC and signature, which are recomputed when keys are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import authentication as auth
from . import codes, dlms, gbz
from .authentication import Verdict
from .errors import DecodeError, EncodeError, GbcsError, KeyNotFoundError
from .frame import Frame, MacHeader, decode_frame
from .grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField
from .keys import KeyStore, KeyUsage
from .payload import PayloadType, decode_payload, encode_payload, payload_from_json, payload_to_json


@dataclass
class Message:
    """Everything `decode` learnt about one frame."""

    frame: Frame
    payload_type: PayloadType
    payload: Any
    mac: Verdict = Verdict.UNKNOWN
    signature: Verdict = Verdict.UNKNOWN
    warnings: list[str] = field(default_factory=list)
    protected: list[Any] = field(default_factory=list)  # encrypted parts: dlms.ProtectedAttributes / gbz.Component
    disconnect_code: int | None = None  # the provisional Disconnect message code it was decoded with (None: default)

    @property
    def header(self) -> GroupingHeader:
        return self.frame.header


def use_case_of(code: int, disconnect_code: int | None = None) -> tuple[str | None, str | None]:
    """(use-case name, title) from the registry, or (None, None) for an unknown code; `disconnect_code` is the
    provisional Disconnect message code (None: the default, `gbcs.codes.lookup`)."""
    entry = codes.lookup(code, disconnect_code)
    if entry is None:
        return None, None
    return entry.use_case, entry.title


def decode(data: bytes, keys: KeyStore | None = None, *, verify: bool = True,
           disconnect_code: int | None = None) -> Message:
    """Decode a frame and its payload; check MAC and signature when `verify` (verdicts `unknown` without keys).

    `disconnect_code` is the provisional Disconnect message code (None: the default 0xF013; TypeError or
    ValueError when it cannot be one, `gbcs.asn1.disconnect_message_code`); the message keeps it, so that
    `to_json` and `gbcs.explain` name the use case by the same code.
    """
    if disconnect_code is not None:
        codes.disconnect_message_code(disconnect_code)
    frame = decode_frame(data)
    h = frame.header
    kind, record = decode_payload(h.payload, h.offsets["payload"], h.message_code, h.cra, disconnect_code)
    msg = Message(frame, kind, record, disconnect_code=disconnect_code)
    if kind is PayloadType.RAW:
        if h.payload:
            msg.warnings.append("payload is neither DLMS, GBZ nor ASN.1: kept as raw bytes")
    elif kind is PayloadType.DLMS:
        if dlms.may_be_protected(h.payload, h.message_code):
            msg.protected, found = dlms.find_protected(record, h.offsets["payload"], h.message_code)
            msg.warnings.extend(found)
    else:
        if kind is PayloadType.GBZ:
            msg.protected = gbz.encrypted_components(record)
        msg.warnings.extend(record.warnings)  # GBZ and ASN.1 records report odd wire forms
    if verify:
        msg.mac = auth.check_mac(keys, frame, data)
        msg.signature = auth.check_signature(keys, h, data)
    else:
        msg.mac = Verdict.ABSENT if frame.mac is None else Verdict.UNKNOWN
        msg.signature = Verdict.ABSENT if h.signature_field is not SignatureField.PRESENT else Verdict.UNKNOWN
    return msg


def _hex(b: bytes | None) -> str | None:
    return None if b is None else b.hex().upper()


def _ctr(v: int | None) -> str | None:
    return None if v is None else f"{v:016X}"


def roundtrips(msg: Message, data: bytes) -> bool:
    """One encode of the decoded record (frame and payload tree) gives the original bytes."""
    try:
        payload = encode_payload(msg.payload_type, msg.payload, msg.header.payload)
        return payload == msg.header.payload and msg.frame.encode() == data
    except GbcsError:  # a record the encoder refuses simply does not round-trip
        return False


def to_json(msg: Message, data: bytes, source: str = "") -> dict[str, Any]:
    h = msg.header
    oi = h.other_information
    use_case, title = use_case_of(h.message_code, msg.disconnect_code)
    out: dict[str, Any] = {
        "source": source,
        "ok": True,
        "error": None,
        "length": len(data),
        "form": "mac-header" if msg.frame.mac_header is not None else "grouping-header",
        "cra": h.cra.label,
        "counter": _ctr(h.counter),
        "originator": _hex(h.originator),
        "recipient": _hex(h.recipient),
        "date_time": _hex(h.date_time),
        "message_code": f"0x{h.message_code:04X}",
        "use_case": use_case,
        "title": title,
        "other_information": {
            "supplementary_remote_party_id": _hex(oi.supplementary_remote_party_id),
            "supplementary_remote_party_counter": _ctr(oi.supplementary_remote_party_counter),
            "supplementary_originator_counter": _ctr(oi.supplementary_originator_counter),
            "ka_certificate": _hex(oi.ka_certificate),
        },
        "payload_type": msg.payload_type.value,
        "mac": msg.mac.value,
        "mac_value": _hex(msg.frame.mac),
        "signature": msg.signature.value,
        "signature_field": h.signature_field.value,
        "signature_value": _hex(h.signature),
        "roundtrip": roundtrips(msg, data),
        "warnings": list(msg.warnings),
        "wire": wire_forms(msg.frame),
        "payload": payload_to_json(msg.payload_type, msg.payload, h.payload),
    }
    return out


def error_json(source: str, error: DecodeError, length: int | None = None) -> dict[str, Any]:
    return {"source": source, "ok": False, "error": error.as_dict(), "length": length}


def wire_forms(frame: Frame) -> dict[str, Any]:
    """Non-canonical wire choices (length sizes, MAC-header fields) needed to rebuild the exact bytes."""
    w: dict[str, Any] = {}
    h = frame.header
    if h.oi_length_size is not None:
        w["oi_length_size"] = h.oi_length_size
    if h.content_length_size is not None:
        w["content_length_size"] = h.content_length_size
    mh = frame.mac_header
    if mh is not None:
        d = MacHeader()
        for name in ("transaction_id", "originator", "recipient", "date_time", "other_information"):
            if getattr(mh, name) != getattr(d, name):
                w[f"mac_header.{name}"] = getattr(mh, name).hex().upper()
        if mh.security_control != d.security_control:
            w["mac_header.security_control"] = mh.security_control
        if mh.invocation_counter != d.invocation_counter:
            w["mac_header.invocation_counter"] = mh.invocation_counter
        if mh.length_size is not None:
            w["mac_header.length_size"] = mh.length_size
    return w


# ---------------------------------------------------------------- JSON -> frame (chf encode)

def _get_bytes(obj: dict[str, Any], key: str, size: int | None = None, optional: bool = False) -> bytes | None:
    v = obj.get(key)
    if v is None:
        if optional:
            return None
        raise EncodeError(key, "missing")
    try:
        b = bytes.fromhex(v)
    except (TypeError, ValueError):
        raise EncodeError(key, f"{v!r} is not hex") from None
    if size is not None and len(b) != size:
        raise EncodeError(key, f"must be {size} bytes, got {len(b)}")
    return b


def _need_bytes(obj: dict[str, Any], key: str, size: int | None = None) -> bytes:
    b = _get_bytes(obj, key, size)
    if b is None:
        raise EncodeError(key, "missing")
    return b


def _need_int(obj: dict[str, Any], key: str, hexdefault: bool = True) -> int:
    v = _get_int(obj, key, hexdefault=hexdefault)
    if v is None:
        raise EncodeError(key, "missing")
    return v


def _get_int(obj: dict[str, Any], key: str, optional: bool = False, hexdefault: bool = True) -> int | None:
    v = obj.get(key)
    if v is None:
        if optional:
            return None
        raise EncodeError(key, "missing")
    if isinstance(v, bool):
        raise EncodeError(key, "not a number")
    if isinstance(v, int):
        return v
    try:
        return int(v, 16) if hexdefault and not v.lower().startswith("0x") else int(v, 0)
    except (TypeError, ValueError, AttributeError):
        raise EncodeError(key, f"{v!r} is not a number") from None


def frame_from_json(obj: dict[str, Any]) -> Frame:
    """Rebuild a `Frame` from its JSON form; MAC and signature are taken as given (None when absent)."""
    if not isinstance(obj, dict):
        raise EncodeError("frame", "a frame description is a JSON object")
    try:
        cra = Cra[str(obj.get("cra", "")).upper()]
    except KeyError:
        raise EncodeError("cra", "one of command, response, alert") from None
    oi_obj = obj.get("other_information") or {}
    oi = OtherInformation(
        _need_int(obj, "message_code", hexdefault=False),
        _get_bytes(oi_obj, "supplementary_remote_party_id", 8, optional=True),
        _get_int(oi_obj, "supplementary_remote_party_counter", optional=True),
        _get_int(oi_obj, "supplementary_originator_counter", optional=True),
        _get_bytes(oi_obj, "ka_certificate", optional=True),
    )
    try:
        kind = PayloadType(obj.get("payload_type", "raw"))
    except ValueError:
        raise EncodeError("payload_type", "one of dlms, gbz, asn1, raw") from None
    _, payload = payload_from_json(kind, obj.get("payload"))
    wire = obj.get("wire") or {}
    try:
        sig_field = SignatureField(obj.get("signature_field", "null"))
    except ValueError:
        raise EncodeError("signature_field", "one of absent, null, present") from None
    h = GroupingHeader(cra, _need_int(obj, "counter"), _need_bytes(obj, "originator", 8),
                       _need_bytes(obj, "recipient", 8), oi, payload,
                       _get_bytes(obj, "date_time", 12, optional=True), sig_field,
                       _get_bytes(obj, "signature_value", 64, optional=True),
                       wire.get("oi_length_size"), wire.get("content_length_size"))
    form = obj.get("form", "mac-header")
    if form not in ("mac-header", "grouping-header"):
        raise EncodeError("form", "mac-header or grouping-header")
    if form == "grouping-header":
        return Frame(h)
    mh = MacHeader()
    for name in ("transaction_id", "originator", "recipient", "date_time", "other_information"):
        v = _get_bytes(wire, f"mac_header.{name}", optional=True)
        if v is not None:
            setattr(mh, name, v)
    mh.security_control = wire.get("mac_header.security_control", mh.security_control)
    mh.invocation_counter = wire.get("mac_header.invocation_counter", mh.invocation_counter)
    mh.length_size = wire.get("mac_header.length_size")
    return Frame(h, mh, _get_bytes(obj, "mac_value", 12, optional=True))


def encode_json(obj: dict[str, Any], keys: KeyStore | None = None, *, sign: bool = True) -> tuple[bytes, list[str]]:
    """Build frame bytes from a JSON description; sign critical commands and MAC when `keys` allow.

    Returns (bytes, notes): notes say what was computed and what was copied from the description.
    """
    frame = frame_from_json(obj)
    h = frame.header
    notes: list[str] = []
    if h.signature_field is SignatureField.PRESENT and keys is not None and sign \
            and keys.has_private(h.originator, KeyUsage.DS):
        auth.sign_header(keys, h)
        notes.append("signature computed")
    elif h.signature_field is SignatureField.PRESENT:
        if h.signature is None:
            raise EncodeError("signature_value", "a present signature needs a value or the originator's DS key")
        notes.append("signature copied from the description")
    if frame.mac_header is not None:
        try:
            if keys is None:
                raise KeyNotFoundError("no key store")
            frame.mac = auth.compute_mac(keys, frame)
            notes.append("MAC computed")
        except KeyNotFoundError as e:
            if frame.mac is None:
                raise EncodeError("mac_value", f"cannot compute the MAC ({e}) and none is given") from None
            notes.append(f"MAC copied from the description ({e})")
    return frame.encode(), notes
