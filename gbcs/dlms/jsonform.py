"""The GBCS DLMS APDUs in JSON (the `payload` of `chf decode --json`, read back by `chf encode`): both ways."""

from __future__ import annotations

from typing import Any

from ..axdr import data_from_json, data_to_json
from ..errors import EncodeError
from .encode import check_u
from .parts import APDU_BY_NAME, RESP_BY_NAME, RESP_NAMES, SPEC_BY_NAME, SPEC_LABELS, RequestSpec, ResponseSpec
from .records import AccessRequest, AccessResponse, DataNotification, Record


def _spec_to_json(s: RequestSpec) -> dict[str, Any]:
    o: dict[str, Any] = {"kind": SPEC_LABELS[s.kind].lower(), "class_id": s.class_id,
                         "obis": bytes(s.obis).hex().upper(), "member": s.member}
    if s.selector is not None and s.parameters is not None:
        o["selector"] = s.selector
        o["parameters"] = data_to_json(s.parameters)
    return o


def to_json(record: Record) -> dict[str, Any]:
    """JSON-able form: {"apdu": ..., "invoke_id": int, "date_time": hex, ...}; bytes as upper-case hex."""
    if not isinstance(record, (AccessRequest, AccessResponse, DataNotification)):
        raise EncodeError("record", f"{type(record).__name__} is not a DLMS APDU record")
    o: dict[str, Any] = {"invoke_id": record.invoke_id, "date_time": bytes(record.date_time).hex().upper()}
    if isinstance(record, AccessRequest):
        o["apdu"] = "access-request"
        o["specs"] = [_spec_to_json(s) for s in record.specs]
        o["data"] = [data_to_json(d) for d in record.data]
    elif isinstance(record, AccessResponse):
        o["apdu"] = "access-response"
        if record.request_specs is not None:
            o["request_specs"] = [_spec_to_json(s) for s in record.request_specs]
        o["data"] = [data_to_json(d) for d in record.data]
        o["results"] = [{"kind": RESP_NAMES[r.kind].lower(), "result": r.result} for r in record.results]
    else:
        o["apdu"] = "data-notification"
        o["body"] = data_to_json(record.body)
    if record.lsizes is not None:
        o["length_sizes"] = list(record.lsizes)
    return o


def _jint(obj: dict[str, Any], key: str, bits: int, field: str) -> int:
    return check_u(obj.get(key), bits, f"{field}.{key}")


def _spec_from_json(obj: Any, field: str) -> RequestSpec:
    if not isinstance(obj, dict):
        raise EncodeError(field, "expected an object")
    name = obj.get("kind")
    kind = SPEC_BY_NAME.get(name) if isinstance(name, str) else None
    if kind is None:
        raise EncodeError(field + ".kind", f"{obj.get('kind')!r} is not one of {sorted(SPEC_BY_NAME)}")
    try:
        obis = bytes.fromhex(obj["obis"])
    except (KeyError, TypeError, ValueError):
        raise EncodeError(field + ".obis", "expected 12 hex digits") from None
    if len(obis) != 6:
        raise EncodeError(field + ".obis", "expected 12 hex digits")
    head = (int(kind), _jint(obj, "class_id", 16, field), obis, _jint(obj, "member", 8, field))
    if kind >= 4:
        return RequestSpec(*head, _jint(obj, "selector", 8, field),
                           data_from_json(obj.get("parameters"), field + ".parameters"))
    if "selector" in obj or "parameters" in obj:
        raise EncodeError(field, "only the with-selection forms carry an access selector")
    return RequestSpec(*head)


def _jlist(obj: dict[str, Any], key: str) -> list[Any]:
    v = obj.get(key)
    if not isinstance(v, list):
        raise EncodeError(key, "expected a list")
    return v


def from_json(obj: dict[str, Any]) -> Record:
    """Inverse of `to_json`; EncodeError(field, reason) on malformed input."""
    if not isinstance(obj, dict):
        raise EncodeError("dlms", "expected an object")
    apdu = obj.get("apdu")
    if not isinstance(apdu, str) or apdu not in APDU_BY_NAME:
        raise EncodeError("apdu", f"{apdu!r} is not one of {sorted(APDU_BY_NAME)}")
    invoke = _jint(obj, "invoke_id", 32, "dlms")
    dt_hex = obj.get("date_time", "")
    try:
        dt = bytes.fromhex(dt_hex)
    except (TypeError, ValueError):
        raise EncodeError("date_time", "expected hex") from None
    ls_raw = obj.get("length_sizes")
    lsizes = None
    if ls_raw is not None:
        if not isinstance(ls_raw, list) or not all(x is None or (isinstance(x, int) and not isinstance(x, bool)
                                                                 and 2 <= x <= 5) for x in ls_raw):
            raise EncodeError("length_sizes", "expected a list of null or 2..5")
        lsizes = tuple(ls_raw)
    want = {"access-request": 3, "access-response": 4, "data-notification": 1}[apdu]
    if lsizes is not None and len(lsizes) != want:
        raise EncodeError("length_sizes", f"{apdu} has {want} length field(s)")
    if apdu == "access-request":
        specs = [_spec_from_json(x, f"specs[{i}]") for i, x in enumerate(_jlist(obj, "specs"))]
        items = [data_from_json(x, f"data[{i}]") for i, x in enumerate(_jlist(obj, "data"))]
        return AccessRequest(invoke, specs, items, dt, lsizes)
    if apdu == "access-response":
        req = None
        if "request_specs" in obj:
            req = [_spec_from_json(x, f"request_specs[{i}]") for i, x in enumerate(_jlist(obj, "request_specs"))]
        items = [data_from_json(x, f"data[{i}]") for i, x in enumerate(_jlist(obj, "data"))]
        results = []
        for i, r in enumerate(_jlist(obj, "results")):
            if not isinstance(r, dict) or not isinstance(r.get("kind"), str) or r["kind"] not in RESP_BY_NAME:
                raise EncodeError(f"results[{i}].kind", "expected get / set / action")
            results.append(ResponseSpec(RESP_BY_NAME[r["kind"]], _jint(r, "result", 8, f"results[{i}]")))
        return AccessResponse(invoke, items, results, dt, req, lsizes)
    return DataNotification(invoke, data_from_json(obj.get("body"), "body"), dt, lsizes)

