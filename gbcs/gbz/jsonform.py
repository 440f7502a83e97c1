"""GBZ payloads and alerts in JSON (the `payload` of `chf decode --json`, read back by `chf encode`): both ways."""

from __future__ import annotations

from typing import Any

from ..errors import EncodeError
from ..checks import check_int
from .encode import encode
from .records import (VALUE_TYPES, AlertBody, AlertComponents, AlertDetail, AlertFirmwareHash, AlertFutureDated,
    AlertRaw, AttributeRecord, AttributeRecords, CipheredInfo, Component, DefaultResponse, GbzAlert, GbzPayload,
    ReadAttributes, Record, ValueKind, WriteAttributesResponse, WriteStatus, ZclFrame, ZclGeneral)

def _hex(b: bytes) -> str:
    return b.hex().upper()


def _value_is_bytes(dt: int | None) -> bool:
    info = VALUE_TYPES.get(dt) if dt is not None else None
    return info is not None and info[0] in (ValueKind.STR8, ValueKind.STR16, ValueKind.BYTES)


def _general_to_json(g: ZclGeneral) -> dict[str, Any]:
    if isinstance(g, DefaultResponse):
        return {"default_response": {"command_id": g.command_id, "status": g.status}}
    if isinstance(g, ReadAttributes):
        return {"read_attributes": list(g.attribute_ids)}
    if isinstance(g, AttributeRecords):
        out = []
        for r in g.records:
            d: dict[str, Any] = {"attribute_id": r.attribute_id}
            if r.status is not None:
                d["status"] = r.status
            if r.data_type is not None:
                d["data_type"] = r.data_type
                d["value"] = _hex(r.value) if isinstance(r.value, (bytes, bytearray)) else r.value
            out.append(d)
        return {"attribute_records": out}
    if isinstance(g, WriteAttributesResponse):
        return {"write_attributes_response": [
            {"status": s.status} if s.attribute_id is None else {"status": s.status, "attribute_id": s.attribute_id}
            for s in g.records]}
    raise EncodeError("payload", f"unsupported payload type {type(g).__name__}")


def _zcl_to_json(z: ZclFrame) -> dict[str, Any]:
    d: dict[str, Any] = {"frame_control": z.frame_control, "sequence": z.sequence, "command_id": z.command_id}
    if z.manufacturer_code is not None:
        d["manufacturer_code"] = z.manufacturer_code
    p = z.payload
    if p is None:
        d["payload"] = None
    elif isinstance(p, (bytes, bytearray)):
        d["payload"] = _hex(p)
    else:
        d["payload"] = _general_to_json(p)
    return d


def _component_to_json(c: Component) -> dict[str, Any]:
    d: dict[str, Any] = {"control": c.control, "cluster_id": c.cluster_id}
    if c.from_date_time is not None:
        d["from_date_time"] = c.from_date_time
    if c.additional_header_control is not None:
        d["additional_header_control"] = c.additional_header_control
    if c.additional_frame_counter is not None:
        d["additional_frame_counter"] = c.additional_frame_counter
    d["zcl"] = _zcl_to_json(c.zcl)
    if c.ciphered is not None:
        ci = c.ciphered
        d["ciphered"] = {"security_control": ci.security_control, "invocation_counter": ci.invocation_counter,
                         "ciphertext": _hex(ci.ciphertext), "tag": _hex(ci.tag)}
    return d


def to_json(record: Record) -> dict[str, Any]:
    """JSON-able form (ints, upper-case hex for bytes); `warnings` are informative and ignored by `from_json`."""
    if isinstance(record, GbzPayload):
        return {"format": "gbz", "components": [_component_to_json(c) for c in record.components],
                "warnings": list(record.warnings)}
    if isinstance(record, GbzAlert):
        b = record.body
        body: dict[str, Any]
        if isinstance(b, AlertRaw):
            body = {"raw": _hex(b.data)}
        elif isinstance(b, AlertComponents):
            body = {"components": [_component_to_json(c) for c in b.components]}
        elif isinstance(b, AlertFirmwareHash):
            body = {"firmware_hash": _hex(b.hash)}
        elif isinstance(b, AlertFutureDated):
            body = {"future_dated": {"message_code": b.message_code, "originator_counter": b.originator_counter,
                                     "cluster_id": b.cluster_id, "frame_control": b.frame_control,
                                     "command_id": b.command_id}}
        elif isinstance(b, AlertDetail):
            body = {"detail": b.value}
        else:
            raise EncodeError("body", f"unsupported alert body {type(b).__name__}")
        return {"format": "gbz-alert", "count": record.count, "alert_code": record.alert_code,
                "timestamp": record.timestamp, "body": body, "warnings": list(record.warnings)}
    raise EncodeError("record", f"expected GbzPayload or GbzAlert, got {type(record).__name__}")


def _j_dict(v: Any, field_: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise EncodeError(field_, f"must be an object, got {type(v).__name__}")
    return v


def _j_list(v: Any, field_: str) -> list[Any]:
    if not isinstance(v, list):
        raise EncodeError(field_, f"must be a list, got {type(v).__name__}")
    return v


def _j_int(obj: dict[str, Any], key: str, field_: str, hi: int, *, optional: bool = False) -> Any:
    if key not in obj:
        if optional:
            return None
        raise EncodeError(field_ + "." + key, "missing")
    v = obj[key]
    if v is None and optional:
        return None
    return check_int(v, 0, hi, field_ + "." + key)


def _j_hex(v: Any, field_: str) -> bytes:
    if not isinstance(v, str):
        raise EncodeError(field_, f"must be a hex string, got {type(v).__name__}")
    try:
        return bytes.fromhex(v)
    except ValueError as e:
        raise EncodeError(field_, f"bad hex: {e}") from None


def _general_from_json(obj: dict[str, Any], field_: str) -> ZclGeneral:
    if len(obj) != 1:
        raise EncodeError(field_, "must have exactly one key naming the general command")
    (key, v), = obj.items()
    if key == "default_response":
        d = _j_dict(v, field_ + ".default_response")
        return DefaultResponse(_j_int(d, "command_id", field_, 255), _j_int(d, "status", field_, 255))
    if key == "read_attributes":
        return ReadAttributes([check_int(a, 0, 0xFFFF, f"{field_}.read_attributes[{k}]")
                               for k, a in enumerate(_j_list(v, field_ + ".read_attributes"))])
    if key == "attribute_records":
        recs = []
        for k, item in enumerate(_j_list(v, field_ + ".attribute_records")):
            f = f"{field_}.attribute_records[{k}]"
            r = _j_dict(item, f)
            aid = _j_int(r, "attribute_id", f, 0xFFFF)
            st = _j_int(r, "status", f, 255, optional=True)
            dt = _j_int(r, "data_type", f, 255, optional=True)
            val = r.get("value")
            if dt is not None and _value_is_bytes(dt) and val is not None:
                val = _j_hex(val, f + ".value")
            elif val is not None and type(val) is not int:
                raise EncodeError(f + ".value", f"must be an integer for data type {dt!r}")
            recs.append(AttributeRecord(aid, dt, val, st))
        return AttributeRecords(recs)
    if key == "write_attributes_response":
        out = []
        for k, item in enumerate(_j_list(v, field_ + ".write_attributes_response")):
            f = f"{field_}.write_attributes_response[{k}]"
            s = _j_dict(item, f)
            out.append(WriteStatus(_j_int(s, "status", f, 255), _j_int(s, "attribute_id", f, 0xFFFF,
                                                                          optional=True)))
        return WriteAttributesResponse(out)
    raise EncodeError(field_, f"unknown general command payload {key!r}")


def _zcl_from_json(obj: Any, field_: str) -> ZclFrame:
    d = _j_dict(obj, field_)
    p = d.get("payload", "")
    payload: bytes | ZclGeneral | None
    if p is None:
        payload = None
    elif isinstance(p, str):
        payload = _j_hex(p, field_ + ".payload")
    else:
        payload = _general_from_json(_j_dict(p, field_ + ".payload"), field_ + ".payload")
    return ZclFrame(_j_int(d, "frame_control", field_, 255), _j_int(d, "sequence", field_, 255),
                    _j_int(d, "command_id", field_, 255), payload,
                    _j_int(d, "manufacturer_code", field_, 0xFFFF, optional=True))


def _component_from_json(obj: Any, field_: str) -> Component:
    d = _j_dict(obj, field_)
    ciph = None
    if d.get("ciphered") is not None:
        cd = _j_dict(d["ciphered"], field_ + ".ciphered")
        ciph = CipheredInfo(_j_hex(cd.get("ciphertext"), field_ + ".ciphered.ciphertext"),
                            _j_hex(cd.get("tag"), field_ + ".ciphered.tag"),
                            _j_int(cd, "security_control", field_ + ".ciphered", 255),
                            _j_int(cd, "invocation_counter", field_ + ".ciphered", 0xFFFFFFFF))
    return Component(_j_int(d, "control", field_, 255), _j_int(d, "cluster_id", field_, 0xFFFF),
                     _zcl_from_json(d.get("zcl"), field_ + ".zcl"),
                     _j_int(d, "from_date_time", field_, 0xFFFFFFFF, optional=True),
                     _j_int(d, "additional_header_control", field_, 255, optional=True),
                     _j_int(d, "additional_frame_counter", field_, 255, optional=True), ciph)


def from_json(obj: dict[str, Any]) -> Record:
    """Exact inverse of `to_json`; malformed input raises `EncodeError(field, reason)` (checked by encoding)."""
    rec = _from_json(obj)
    encode(rec)  # every consistency rule (control bits, lengths, value ranges) lives in the encoder
    return rec


def _from_json(obj: dict[str, Any]) -> Record:
    d = _j_dict(obj, "record")
    fmt = d.get("format")
    if fmt == "gbz":
        comps = [_component_from_json(c, f"components[{k}]")
                 for k, c in enumerate(_j_list(d.get("components"), "components"))]
        return GbzPayload(comps)
    if fmt == "gbz-alert":
        b = _j_dict(d.get("body"), "body")
        if len(b) != 1:
            raise EncodeError("body", "must have exactly one key naming the alert body kind")
        (key, v), = b.items()
        body: AlertBody
        if key == "raw":
            body = AlertRaw(_j_hex(v, "body.raw"))
        elif key == "components":
            body = AlertComponents([_component_from_json(c, f"body.components[{k}]")
                                    for k, c in enumerate(_j_list(v, "body.components"))])
        elif key == "firmware_hash":
            body = AlertFirmwareHash(_j_hex(v, "body.firmware_hash"))
        elif key == "future_dated":
            f = _j_dict(v, "body.future_dated")
            body = AlertFutureDated(_j_int(f, "message_code", "body", 0xFFFF),
                                    _j_int(f, "originator_counter", "body", (1 << 64) - 1),
                                    _j_int(f, "cluster_id", "body", 0xFFFF), _j_int(f, "frame_control", "body", 255),
                                    _j_int(f, "command_id", "body", 255))
        elif key == "detail":
            body = AlertDetail(check_int(v, 0, 0xFFFF, "body.detail"))
        else:
            raise EncodeError("body", f"unknown alert body kind {key!r}")
        return GbzAlert(_j_int(d, "count", "record", 255), _j_int(d, "alert_code", "record", 0xFFFF),
                        _j_int(d, "timestamp", "record", 0xFFFFFFFF), body)
    raise EncodeError("format", f"expected 'gbz' or 'gbz-alert', got {fmt!r}")
