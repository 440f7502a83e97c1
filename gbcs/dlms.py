"""The xDLMS APDUs GBCS carries as payloads: Access-Request `D9`, Access-Response `DA`, Data-Notification `0F`.

Layouts (GBCS.md §4.2; DLMS UA Green Book ACCESS service and DATA-NOTIFICATION):
- Access-Request: `D9` ‖ long-invoke-id-and-priority (4) ‖ date-time (A-XDR octet-string, `00` = empty) ‖
  count ‖ access-request-specifications ‖ count ‖ Data. A specification is `01` GET / `02` SET / `03` ACTION /
  `04` GET-with-selection / `05` SET-with-selection ‖ class-id (2) ‖ OBIS (6) ‖ attribute or method id (1)
  [‖ access-selector (1) ‖ access-parameters (Data)] for the with-selection forms.
- Access-Response: `DA` ‖ invoke (4) ‖ date-time ‖ optional access-request-specification list (`00` absent,
  `01` ‖ count ‖ specs) ‖ count ‖ Data ‖ count ‖ (`01` get / `02` set / `03` action ‖ result byte).
- Data-Notification: `0F` ‖ invoke (4) ‖ date-time ‖ notification body (Data). GBCS alerts carry
  structure{alert code long-unsigned, date-time octet-string(12), use-case body}.

Module API follows the payload-codec contract (`decode`/`encode`/`to_json`/`from_json`/`explain`); the DLMS
"protected attributes" form (IC 30 `get_protected_attributes`, GBCS.md §4.2 and §5.3) is located by
`find_protected()` and its decrypted plaintext decoded by `decode_plaintext()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from . import cosem
from .axdr import (
    Data,
    TypeDesc,
    _decode_items,
    _encode,
    data_from_json,
    data_to_json,
    decode_at,
    decode_data,
    describe_date_time,
    describe_obis,
    encode_len,
    explain_data,
    read_len,
)
from .errors import DecodeError, EncodeError
from .tree import Node

ACCESS_REQUEST = 0xD9
ACCESS_RESPONSE = 0xDA
DATA_NOTIFICATION = 0x0F
APDU_NAMES = {ACCESS_REQUEST: "access-request", ACCESS_RESPONSE: "access-response",
              DATA_NOTIFICATION: "data-notification"}
_APDU_BY_NAME = {v: k for k, v in APDU_NAMES.items()}

# GBCS.md §2.6: long-invoke-id-and-priority = 0x20 ‖ low 3 bytes of the grouping-header originator counter.
GBCS_INVOKE_PREFIX = 0x20
# 12-byte protected-attributes trailer: AES-GCM tag truncated to 12 bytes (GBCS.md §5.3).
PROTECTED_TAG_LENGTH = 12
PROTECTED_SECURITY_CONTROL = 0x31  # authenticated + encrypted, security suite 1 (GBCS.md §2.2, §5.3)
PROTECTED_SECURITY_HEADER_LENGTH = 5  # security control + 4-byte invocation counter


class SpecKind(IntEnum):
    """Access-Request-Specification CHOICE (Green Book ACCESS service; GBCS.md §4.2)."""

    GET = 1
    SET = 2
    ACTION = 3
    GET_WITH_SELECTION = 4
    SET_WITH_SELECTION = 5

    @property
    def label(self) -> str:
        return self.name.replace("_", "-")


class ResponseKind(IntEnum):
    """Access-Response-Specification CHOICE: GET/SET carry a Data-Access-Result, ACTION an Action-Result."""

    GET = 1
    SET = 2
    ACTION = 3


_SPEC_BY_NAME = {k.label.lower(): k for k in SpecKind}
_RESP_BY_NAME = {k.name.lower(): k for k in ResponseKind}


def invoke_id_for(counter: int) -> int:
    """GBCS long-invoke-id-and-priority of a message: `20` ‖ low 3 bytes of the originator counter (GBCS.md §2.6)."""
    return (GBCS_INVOKE_PREFIX << 24) | (counter & 0xFFFFFF)


def parse_obis(obis: str | bytes) -> bytes:
    """OBIS as 6 bytes from bytes or text `A-B:C.D.E.F` (EncodeError otherwise)."""
    if isinstance(obis, (bytes, bytearray)):
        if len(obis) != 6:
            raise EncodeError("obis", "an OBIS code is 6 bytes")
        return bytes(obis)
    try:
        ab, cdef = obis.split(":")
        a, b = ab.split("-")
        parts = [int(x) for x in (a, b, *cdef.split("."))]
        if len(parts) != 6:
            raise ValueError
        return bytes(parts)
    except (ValueError, AttributeError):
        raise EncodeError("obis", f"{obis!r} is not A-B:C.D.E.F") from None


class RequestSpec(NamedTuple):
    """One access-request-specification: `member` is the attribute id (GET/SET) or method id (ACTION).

    An immutable tuple (fast to build in the decoder); the with-selection forms also carry `selector` and
    `parameters`.
    """

    kind: int
    class_id: int
    obis: bytes
    member: int
    selector: int | None = None  # access-selector (with-selection forms only)
    parameters: Data | None = None  # access-parameters (with-selection forms only)

    @classmethod
    def get(cls, class_id: int, obis: str | bytes, attribute: int) -> RequestSpec:
        return cls(SpecKind.GET, class_id, parse_obis(obis), attribute)

    @classmethod
    def set(cls, class_id: int, obis: str | bytes, attribute: int) -> RequestSpec:
        return cls(SpecKind.SET, class_id, parse_obis(obis), attribute)

    @classmethod
    def action(cls, class_id: int, obis: str | bytes, method: int) -> RequestSpec:
        return cls(SpecKind.ACTION, class_id, parse_obis(obis), method)

    @classmethod
    def get_with_selection(cls, class_id: int, obis: str | bytes, attribute: int, selector: int,
                           parameters: Data) -> RequestSpec:
        return cls(SpecKind.GET_WITH_SELECTION, class_id, parse_obis(obis), attribute, selector, parameters)

    @property
    def is_action(self) -> bool:
        return self.kind == SpecKind.ACTION

    @property
    def response_kind(self) -> int:
        """The response-specification kind that answers this spec (with-selection forms answer as GET/SET)."""
        return {1: 1, 2: 2, 3: 3, 4: 1, 5: 2}[int(self.kind)]

    def describe(self) -> str:
        """E.g. `ACTION ZigBee Network Control 0-0:30.3.0.255 m1 register_device [DeviceLog(CHF)]`."""
        kind = SpecKind(self.kind).label if self.kind in SpecKind._value2member_map_ else f"kind{self.kind}"
        cname = cosem.class_name(self.class_id)
        oname = cosem.object_name(self.obis)
        if self.kind == SpecKind.ACTION:
            member = f"m{self.member} {cosem.method_name(self.class_id, self.member)}"
        else:
            member = f"a{self.member} {cosem.attribute_name(self.class_id, self.member)}"
        s = f"{kind} {cname} {describe_obis(self.obis)} {member}"
        if self.selector is not None:
            s += f" selector {self.selector}"
            sel = cosem.selector_name(self.class_id, self.selector)
            if sel:
                s += f" ({sel})"
        return s + (f" [{oname}]" if oname else "")


class ResponseSpec(NamedTuple):
    """One access-response-specification: kind (1 get / 2 set / 3 action) and its result code."""

    kind: int
    result: int

    def describe(self) -> str:
        kind = ResponseKind(self.kind).name if self.kind in ResponseKind._value2member_map_ else f"kind{self.kind}"
        name = cosem.action_result_name(self.result) if self.kind == ResponseKind.ACTION \
            else cosem.data_access_result_name(self.result)
        return f"{kind} result {self.result} {name}"


@dataclass(slots=True)
class AccessRequest:
    """Access-Request `D9`. `lsizes` = non-minimal wire sizes of (date-time length, spec count, data count)."""

    invoke_id: int
    specs: list[RequestSpec]
    data: list[Data]
    date_time: bytes = b""
    lsizes: tuple[int | None, int | None, int | None] | None = None

    def encode(self) -> bytes:
        return encode(self)


@dataclass(slots=True)
class AccessResponse:
    """Access-Response `DA`. `lsizes` = non-minimal sizes of (date-time, request-spec count, data count,
    response-spec count)."""

    invoke_id: int
    data: list[Data]
    results: list[ResponseSpec]
    date_time: bytes = b""
    request_specs: list[RequestSpec] | None = None
    lsizes: tuple[int | None, int | None, int | None, int | None] | None = None

    def encode(self) -> bytes:
        return encode(self)

    @classmethod
    def answer(cls, request: AccessRequest, results: list[int],
               data: list[Data | None] | None = None) -> AccessResponse:
        """The response to `request`: same invoke id, one result per spec (kinds mirror the request's), `null`
        for every spec without return data (GBCS.md §4.2)."""
        if len(results) != len(request.specs):
            raise EncodeError("results", f"{len(results)} result(s) for {len(request.specs)} spec(s)")
        items = list(data) if data is not None else [None] * len(results)
        if len(items) != len(results):
            raise EncodeError("data", f"{len(items)} data item(s) for {len(results)} spec(s)")
        return cls(request.invoke_id, [d if d is not None else Data.null() for d in items],
                   [ResponseSpec(s.response_kind, r) for s, r in zip(request.specs, results)])


@dataclass(slots=True)
class DataNotification:
    """Data-Notification `0F`. `lsizes` = non-minimal size of the date-time length, as a 1-tuple."""

    invoke_id: int
    body: Data
    date_time: bytes = b""
    lsizes: tuple[int | None] | None = None

    def encode(self) -> bytes:
        return encode(self)

    @classmethod
    def alert(cls, invoke_id: int, alert_code: int, timestamp: bytes, body: Data) -> DataNotification:
        """A GBCS DLMS alert: structure{alert code long-unsigned, date-time octet-string(12), body} (GBCS.md §4.2)."""
        if len(timestamp) != 12:
            raise EncodeError("timestamp", "a DLMS date-time is 12 bytes")
        return cls(invoke_id, Data.structure([Data.long_unsigned(alert_code), Data.octet_string(timestamp), body]))

    def _alert_parts(self) -> list[Data] | None:
        b = self.body
        if b.tag == 0x02 and len(b.value) >= 2 and b.value[0].tag == 0x12 and b.value[1].tag == 0x09 \
                and len(b.value[1].value) == 12:
            return b.value
        return None

    @property
    def alert_code(self) -> int | None:
        parts = self._alert_parts()
        return parts[0].value if parts else None

    @property
    def alert_time(self) -> bytes | None:
        parts = self._alert_parts()
        return bytes(parts[1].value) if parts else None

    @property
    def alert_body(self) -> list[Data] | None:
        """The use-case specific element(s) after alert code and timestamp."""
        parts = self._alert_parts()
        return parts[2:] if parts else None


Record = AccessRequest | AccessResponse | DataNotification


# --------------------------------------------------------------------------------------------------------------
# Decoding


def _count(data: bytes, pos: int, end: int, base: int, field: str) -> tuple[int, int, int | None]:
    """An A-XDR count/length with the one-byte form inline (the common case)."""
    if pos < end and data[pos] < 0x80:
        return data[pos], pos + 1, None
    return read_len(data, pos, end, base, field)


def _read_specs(data: bytes, pos: int, end: int, base: int, field: str,
                _new: Any = tuple.__new__) -> tuple[list[RequestSpec], int | None, int]:
    count, pos, lsize = _count(data, pos, end, base, field + " count")
    if count * 10 > end - pos:
        raise DecodeError(base + pos, field, f"{count} specification(s) cannot fit in {end - pos} byte(s)")
    RS = RequestSpec
    specs = []
    append = specs.append
    for i in range(count):
        if pos + 10 > end:
            raise DecodeError(base + pos, f"{field}[{i}]", f"needs 10 byte(s), only {end - pos} left")
        kind = data[pos]
        if kind < 4:
            if kind == 0:
                raise DecodeError(base + pos, f"{field}[{i}] kind", "0x00 is not 01 GET..05 SET-with-selection")
            append(_new(RS, (kind, (data[pos + 1] << 8) | data[pos + 2], data[pos + 3:pos + 9], data[pos + 9],
                             None, None)))
            pos += 10
        elif kind <= 5:
            if pos + 10 >= end:
                raise DecodeError(base + pos + 10, f"{field}[{i}] access-selector", "needs 1 byte, none left")
            head = (kind, (data[pos + 1] << 8) | data[pos + 2], data[pos + 3:pos + 9], data[pos + 9], data[pos + 10])
            params, pos = decode_at(data, pos + 11, end, base)
            append(_new(RS, head + (params,)))
        else:
            raise DecodeError(base + pos, f"{field}[{i}] kind", f"0x{kind:02X} is not 01 GET..05 SET-with-selection")
    return specs, lsize, pos


def _read_data_list(data: bytes, pos: int, end: int, base: int, field: str) -> tuple[list[Data], int | None, int]:
    count, pos, lsize = _count(data, pos, end, base, field + " count")
    if count > end - pos:
        raise DecodeError(base + pos, field, f"{count} data item(s) cannot fit in {end - pos} byte(s)")
    items: list[Data] = []
    if count:
        pos = _decode_items(data, pos, end, base, 0, count, items)
    return items, lsize, pos


def decode(data: bytes, base: int = 0, *, message_code: int | None = None, cra: int | None = None) -> Record:
    """Decode a whole DLMS payload (`D9`/`DA`/`0F`); DecodeError with absolute offsets on anything else.

    `message_code` and `cra` are accepted for the payload-codec contract; the layout does not depend on them.
    """
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    if not end:
        raise DecodeError(base, "dlms apdu tag", "empty payload")
    tag = data[0]
    if tag != ACCESS_REQUEST and tag != ACCESS_RESPONSE and tag != DATA_NOTIFICATION:
        raise DecodeError(base, "dlms apdu tag", f"0x{tag:02X} is not D9 access-request, DA access-response "
                          "or 0F data-notification")
    # long-invoke-id-and-priority (4) and date-time (A-XDR octet-string), common to the three APDUs
    if end < 6:
        have = max(end - 1, 0)
        if have < 4:
            raise DecodeError(base + 1, "long-invoke-id-and-priority",
                              f"needs 4 byte(s), {'only ' + str(have) if have else 'none'} left")
        raise DecodeError(base + 5, "date-time length", "needs 1 byte, none left")
    invoke = (data[1] << 24) | (data[2] << 16) | (data[3] << 8) | data[4]
    n = data[5]
    if n == 0:
        dt = b""
        dt_ls = None
        pos = 6
    else:
        n, pos, dt_ls = _count(data, 5, end, base, "date-time length")
        if pos + n > end:
            raise DecodeError(base + pos, "date-time", f"needs {n} byte(s), only {end - pos} left")
        dt = data[pos:pos + n]
        pos += n
    rec: Record
    if tag == ACCESS_REQUEST:
        specs, s_ls, pos = _read_specs(data, pos, end, base, "access-request-specification")
        items, d_ls, pos = _read_data_list(data, pos, end, base, "access-request-list-of-data")
        ls = None if dt_ls is None and s_ls is None and d_ls is None else (dt_ls, s_ls, d_ls)
        rec = AccessRequest(invoke, specs, items, dt, ls)
    elif tag == ACCESS_RESPONSE:
        if pos >= end:
            raise DecodeError(base + pos, "access-request-specification presence", "needs 1 byte, none left")
        present = data[pos]
        pos += 1
        req_specs = None
        s_ls = None
        if present == 1:
            req_specs, s_ls, pos = _read_specs(data, pos, end, base, "access-request-specification")
        elif present != 0:
            raise DecodeError(base + pos - 1, "access-request-specification presence",
                              f"0x{present:02X} is neither 00 (absent) nor 01 (present)")
        items, d_ls, pos = _read_data_list(data, pos, end, base, "access-response-list-of-data")
        count, pos, r_ls = _count(data, pos, end, base, "access-response-specification count")
        if count * 2 > end - pos:
            raise DecodeError(base + pos, "access-response-specification",
                              f"{count} specification(s) cannot fit in {end - pos} byte(s)")
        results = []
        append = results.append
        new = tuple.__new__
        for i in range(count):
            kind = data[pos]
            if not 1 <= kind <= 3:
                raise DecodeError(base + pos, f"access-response-specification[{i}] kind",
                                  f"0x{kind:02X} is not 01 get / 02 set / 03 action")
            append(new(ResponseSpec, (kind, data[pos + 1])))
            pos += 2
        ls = None if dt_ls is None and s_ls is None and d_ls is None and r_ls is None \
            else (dt_ls, s_ls, d_ls, r_ls)
        rec = AccessResponse(invoke, items, results, dt, req_specs, ls)
    else:
        items = []
        pos = _decode_items(data, pos, end, base, 0, 1, items)
        rec = DataNotification(invoke, items[0], dt, None if dt_ls is None else (dt_ls,))
    if pos != end:
        raise DecodeError(base + pos, APDU_NAMES[tag], f"{end - pos} unexpected trailing byte(s)")
    return rec


def decode_plaintext(plaintext: bytes, base: int = 0) -> Data:
    """Decode a decrypted protected-attributes plaintext: exactly one A-XDR `Data` (GBCS.md §4.2, §5.3)."""
    return decode_data(plaintext, base)


# --------------------------------------------------------------------------------------------------------------
# Encoding


def _ls(rec: Any, i: int) -> int | None:
    ls = rec.lsizes
    if ls is None:
        return None
    if not isinstance(ls, tuple) or i >= len(ls):
        raise EncodeError("lsizes", "malformed length-size tuple")
    return ls[i]


def _check_u(v: Any, bits: int, field: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
        raise EncodeError(field, f"{v!r} is not an unsigned {bits}-bit integer")
    return v


def _enc_bytes(v: Any, field: str) -> bytes:
    if not isinstance(v, (bytes, bytearray)):
        raise EncodeError(field, f"expected bytes, got {type(v).__name__}")
    return bytes(v)


class _Layout:
    """Collects where each top-level element lands while encoding (for explain and find_protected)."""

    __slots__ = ("marks",)

    def __init__(self) -> None:
        self.marks: list[tuple[str, int, Any]] = []


def _encode_specs(specs: Any, out: bytearray, ls: int | None, field: str, layout: _Layout | None) -> None:
    if not isinstance(specs, list):
        raise EncodeError(field, "expected a list of RequestSpec")
    if layout is not None:
        layout.marks.append((field + " count", len(out), len(specs)))
    out += encode_len(len(specs), ls, field + " count")
    for i, s in enumerate(specs):
        f = f"{field}[{i}]"
        if not isinstance(s, RequestSpec):
            raise EncodeError(f, "expected a RequestSpec")
        if layout is not None:
            layout.marks.append((f, len(out), s))
        kind = _check_u(s.kind, 8, f + ".kind")
        if not 1 <= kind <= 5:
            raise EncodeError(f + ".kind", f"{kind} is not 1..5")
        out.append(kind)
        out += _check_u(s.class_id, 16, f + ".class_id").to_bytes(2, "big")
        obis = _enc_bytes(s.obis, f + ".obis")
        if len(obis) != 6:
            raise EncodeError(f + ".obis", "an OBIS code is 6 bytes")
        out += obis
        out.append(_check_u(s.member, 8, f + ".member"))
        if kind >= 4:
            out.append(_check_u(s.selector, 8, f + ".selector"))
            if layout is not None:
                layout.marks.append((f + ".access-parameters", len(out), s.parameters))
            _encode(s.parameters, out, 1)
        elif s.selector is not None or s.parameters is not None:
            raise EncodeError(f, "only the with-selection forms carry an access selector")


def _encode_time(rec: Any, out: bytearray, layout: _Layout | None) -> None:
    out += _check_u(rec.invoke_id, 32, "invoke_id").to_bytes(4, "big")
    dt = _enc_bytes(rec.date_time, "date_time")
    if layout is not None:
        layout.marks.append(("date-time", len(out), dt))
    out += encode_len(len(dt), _ls(rec, 0), "date-time length")
    out += dt


def _encode_data_list(items: Any, out: bytearray, ls: int | None, field: str, layout: _Layout | None) -> None:
    if not isinstance(items, list):
        raise EncodeError(field, "expected a list of Data")
    if layout is not None:
        layout.marks.append((field + " count", len(out), len(items)))
    out += encode_len(len(items), ls, field + " count")
    for i, d in enumerate(items):
        if layout is not None:
            layout.marks.append((f"{field}[{i}]", len(out), d))
        _encode(d, out, 1)


def _encode_record(rec: Record, layout: _Layout | None = None) -> bytes:
    out = bytearray()
    if isinstance(rec, AccessRequest):
        out.append(ACCESS_REQUEST)
        _encode_time(rec, out, layout)
        _encode_specs(rec.specs, out, _ls(rec, 1), "access-request-specification", layout)
        _encode_data_list(rec.data, out, _ls(rec, 2), "access-request-list-of-data", layout)
    elif isinstance(rec, AccessResponse):
        out.append(ACCESS_RESPONSE)
        _encode_time(rec, out, layout)
        if layout is not None:
            layout.marks.append(("access-request-specification presence", len(out), rec.request_specs))
        if rec.request_specs is None:
            if _ls(rec, 1) is not None:
                raise EncodeError("lsizes", "no request-spec list to size")
            out.append(0)
        else:
            out.append(1)
            _encode_specs(rec.request_specs, out, _ls(rec, 1), "access-request-specification", layout)
        _encode_data_list(rec.data, out, _ls(rec, 2), "access-response-list-of-data", layout)
        if not isinstance(rec.results, list):
            raise EncodeError("results", "expected a list of ResponseSpec")
        if layout is not None:
            layout.marks.append(("access-response-specification count", len(out), len(rec.results)))
        out += encode_len(len(rec.results), _ls(rec, 3), "access-response-specification count")
        for i, r in enumerate(rec.results):
            f = f"access-response-specification[{i}]"
            if not isinstance(r, ResponseSpec):
                raise EncodeError(f, "expected a ResponseSpec")
            if layout is not None:
                layout.marks.append((f, len(out), r))
            kind = _check_u(r.kind, 8, f + ".kind")
            if not 1 <= kind <= 3:
                raise EncodeError(f + ".kind", f"{kind} is not 1..3")
            out.append(kind)
            out.append(_check_u(r.result, 8, f + ".result"))
    elif isinstance(rec, DataNotification):
        out.append(DATA_NOTIFICATION)
        _encode_time(rec, out, layout)
        if layout is not None:
            layout.marks.append(("notification-body", len(out), rec.body))
        _encode(rec.body, out, 1)
    else:
        raise EncodeError("record", f"{type(rec).__name__} is not a DLMS APDU record")
    return bytes(out)


def encode(record: Record) -> bytes:
    """Exact inverse of `decode` (non-minimal length forms are kept in `lsizes` / `Data.lsize`)."""
    return _encode_record(record)


# --------------------------------------------------------------------------------------------------------------
# JSON


def _spec_to_json(s: RequestSpec) -> dict[str, Any]:
    o: dict[str, Any] = {"kind": SpecKind(s.kind).label.lower(), "class_id": s.class_id,
                         "obis": bytes(s.obis).hex().upper(), "member": s.member}
    if s.selector is not None:
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
        o["results"] = [{"kind": ResponseKind(r.kind).name.lower(), "result": r.result} for r in record.results]
    else:
        o["apdu"] = "data-notification"
        o["body"] = data_to_json(record.body)
    if record.lsizes is not None:
        o["length_sizes"] = list(record.lsizes)
    return o


def _jint(obj: dict[str, Any], key: str, bits: int, field: str) -> int:
    return _check_u(obj.get(key), bits, f"{field}.{key}")


def _spec_from_json(obj: Any, field: str) -> RequestSpec:
    if not isinstance(obj, dict):
        raise EncodeError(field, "expected an object")
    kind = _SPEC_BY_NAME.get(obj.get("kind")) if isinstance(obj.get("kind"), str) else None
    if kind is None:
        raise EncodeError(field + ".kind", f"{obj.get('kind')!r} is not one of {sorted(_SPEC_BY_NAME)}")
    try:
        obis = bytes.fromhex(obj.get("obis"))
    except (TypeError, ValueError):
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
    if not isinstance(apdu, str) or apdu not in _APDU_BY_NAME:
        raise EncodeError("apdu", f"{apdu!r} is not one of {sorted(_APDU_BY_NAME)}")
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
            if not isinstance(r, dict) or not isinstance(r.get("kind"), str) or r["kind"] not in _RESP_BY_NAME:
                raise EncodeError(f"results[{i}].kind", "expected get / set / action")
            results.append(ResponseSpec(_RESP_BY_NAME[r["kind"]], _jint(r, "result", 8, f"results[{i}]")))
        return AccessResponse(invoke, items, results, dt, req, lsizes)
    return DataNotification(invoke, data_from_json(obj.get("body"), "body"), dt, lsizes)


# --------------------------------------------------------------------------------------------------------------
# Protected attributes (IC 30 Data protection, get_protected_attributes; GBCS.md §4.2 last bullet, §5.3)


@dataclass(slots=True)
class ProtectionParameters:
    """One protection_parameters element: protection type and options (transaction id, system titles,
    other information, key info). For GBCS the key is agreed (type 2) and `key_parameters` is `02`
    = C(0e, 2s ECC CDH) (SmartDCCInnovation/gbcs-parser: src/dlms.ts parseProtectionParameters)."""

    protection_type: int
    transaction_id: bytes
    originator: bytes
    recipient: bytes
    other_information: bytes
    key_info_type: int
    key_info_options: Data
    offset: int = 0  # absolute offset of the element (structure tag)

    @property
    def key_parameters(self) -> bytes | None:
        o = self.key_info_options
        if self.key_info_type == 2 and o.tag == 0x02 and len(o.value) == 2 and o.value[0].tag == 0x09:
            return bytes(o.value[0].value)
        return None

    @property
    def key_ciphered_data(self) -> bytes | None:
        o = self.key_info_options
        if self.key_info_type == 2 and o.tag == 0x02 and len(o.value) == 2 and o.value[1].tag == 0x09:
            return bytes(o.value[1].value)
        return None

    @property
    def kdf_use_and_counter(self) -> tuple[int, int] | None:
        """(F byte, counter) from a 9-byte transaction id `F ‖ counter(8)` (RTDS: `04` ‖ supplementary counter)."""
        t = self.transaction_id
        if len(t) == 9:
            return t[0], int.from_bytes(t[1:], "big")
        return None


@dataclass(slots=True)
class ProtectedAttributes:
    """A protected-attributes structure found in a record, split into its parts with absolute offsets."""

    path: str  # where in the record, e.g. "access-response-list-of-data[0]"
    parameters: list[ProtectionParameters]
    security_control: int
    invocation_counter: int
    ciphertext: bytes
    tag: bytes
    offsets: dict[str, int]  # "structure", "protected_attributes" (octet-string tag), "security_header",
    # "ciphertext", "tag" — all absolute

    @property
    def aad(self) -> bytes:
        """The GCM additional data: the security-control byte alone (GBCS.md §5.3)."""
        return bytes((self.security_control,))


def _match_protected(d: Data) -> bool:
    if d.tag != 0x02 or len(d.value) != 2:
        return False
    params, prot = d.value
    if params.tag != 0x01 or prot.tag != 0x09 or not params.value:
        return False
    raw = prot.value
    if len(raw) < PROTECTED_SECURITY_HEADER_LENGTH + PROTECTED_TAG_LENGTH or raw[0] != PROTECTED_SECURITY_CONTROL:
        return False
    for el in params.value:
        if el.tag != 0x02 or len(el.value) != 2 or el.value[0].tag != 0x16:
            return False
        opts = el.value[1]
        if opts.tag != 0x02 or len(opts.value) != 5 or any(x.tag != 0x09 for x in opts.value[:4]):
            return False
        ki = opts.value[4]
        if ki.tag != 0x02 or len(ki.value) != 2 or ki.value[0].tag != 0x16:
            return False
    return True


def _walk(d: Data, offset: int, path: str, depth: int = 0) -> Iterator[tuple[Data, int, str]]:
    """Every node of a tagged Data tree with its absolute offset (compact-array contents are not descended)."""
    yield d, offset, path
    if d.tag in (0x01, 0x02) and depth < 64:
        pos = offset + 1 + (d.lsize or (1 if len(d.value) < 0x80 else len(encode_len(len(d.value)))))
        for i, c in enumerate(d.value):
            yield from _walk(c, pos, f"{path}[{i}]", depth + 1)
            buf = bytearray()
            _encode(c, buf, 1)
            pos += len(buf)


def _top_data(record: Record, base: int) -> list[tuple[str, int, Data]]:
    layout = _Layout()
    _encode_record(record, layout)
    return [(name, base + off, d) for name, off, d in layout.marks if isinstance(d, Data)]


def find_protected(record: Record, base: int = 0) -> list[ProtectedAttributes]:
    """Every protected-attributes structure {protection_parameters array, octet-string `31` ‖ IC(4) ‖ ciphertext
    ‖ tag(12)} in the record's Data, with absolute offsets (GBCS.md §4.2, §5.3; RTDS ECS17b/ECS21a/ECS66)."""
    found = []
    for name, off, top in _top_data(record, base):
        offs: dict[int, int] = {}
        matches = []
        for d, doff, path in _walk(top, off, name):
            offs[id(d)] = doff
            if _match_protected(d):
                matches.append((d, doff, path))
        for d, doff, path in matches:
            params_node, prot = d.value
            params = []
            for el in params_node.value:
                t, o, r, oi, ki = el.value[1].value
                params.append(ProtectionParameters(el.value[0].value, bytes(t.value), bytes(o.value), bytes(r.value),
                                                   bytes(oi.value), ki.value[0].value, ki.value[1], offs[id(el)]))
            prot_off = offs[id(prot)]
            hdr = 1 + (prot.lsize or len(encode_len(len(prot.value))))
            raw = bytes(prot.value)
            sh = prot_off + hdr
            found.append(ProtectedAttributes(
                path, params, raw[0], int.from_bytes(raw[1:5], "big"),
                raw[PROTECTED_SECURITY_HEADER_LENGTH:-PROTECTED_TAG_LENGTH], raw[-PROTECTED_TAG_LENGTH:],
                {"structure": doff, "protected_attributes": prot_off, "security_header": sh,
                 "ciphertext": sh + PROTECTED_SECURITY_HEADER_LENGTH,
                 "tag": sh + len(raw) - PROTECTED_TAG_LENGTH}))
    return found


def ciphertext_and_tag(record: Record, base: int = 0) -> list[tuple[bytes, bytes, int, int]]:
    """(ciphertext, tag, absolute offset of ciphertext, absolute offset of tag) of each protected attribute."""
    return [(p.ciphertext, p.tag, p.offsets["ciphertext"], p.offsets["tag"]) for p in find_protected(record, base)]


# --------------------------------------------------------------------------------------------------------------
# Explanation


def describe_invoke(invoke: int) -> str:
    """Long-Invoke-Id-And-Priority bits: 31 priority, 30 service class, 29 processing option, 28 self-descriptive,
    0-23 invoke id (Green Book; as summarised in pwitab/dlms-cosem xdlms data_notification.py)."""
    iid = invoke & 0xFFFFFF
    flags = ["high priority" if invoke >> 31 & 1 else "normal priority",
             "confirmed" if invoke >> 30 & 1 else "unconfirmed",
             "break-on-error" if invoke >> 29 & 1 else "continue-on-error",
             "self-descriptive" if invoke >> 28 & 1 else "not self-descriptive"]
    s = f"0x{invoke:08X}: invoke-id 0x{iid:06X} ({iid}), {', '.join(flags)}"
    if invoke >> 24 == GBCS_INVOKE_PREFIX:
        s += f"; GBCS §2.6: 0x20 ‖ low 3 bytes of the originator counter (…{iid:06X})"
    else:
        s += "; not the GBCS form 0x20 ‖ counter (GBCS.md §2.6)"
    return s


def _spec_node(s: RequestSpec, name: str, off: int) -> tuple[Node, int]:
    node = Node(name, off, 0, s.describe())
    node.add("kind", off, 1, f"0x{s.kind:02X} {SpecKind(s.kind).label}")
    node.add("class-id", off + 1, 2, f"{s.class_id} (0x{s.class_id:04X}) {cosem.class_name(s.class_id)}")
    oname = cosem.object_name(s.obis)
    node.add("instance-id", off + 3, 6, f"{describe_obis(s.obis)} ({bytes(s.obis).hex().upper()})"
             + (f" {oname}" if oname else ""))
    if s.kind == SpecKind.ACTION:
        node.add("method-id", off + 9, 1, f"{s.member} {cosem.method_name(s.class_id, s.member)}")
    else:
        node.add("attribute-id", off + 9, 1, f"{s.member} {cosem.attribute_name(s.class_id, s.member)}")
    size = 10
    if s.kind >= 4:
        sel = cosem.selector_name(s.class_id, s.selector) or ""
        node.add("access-selector", off + 10, 1, f"{s.selector} {sel}".strip())
        child, psize = explain_data(s.parameters, off + 11, "access-parameters")
        node.children.append(child)
        size = 11 + psize
    node.length = size
    return node, size


def _name_children(node: Node, names: list[str]) -> None:
    for c, nm in zip(node.children, names):
        c.name = f"{c.name} {nm}"


def _annotate_protected(nodes: list[Node], prot: list[ProtectedAttributes]) -> None:
    def find(n: Node, off: int, label_prefix: str) -> Node | None:
        if n.offset == off and n.name.startswith(label_prefix):
            return n
        for c in n.children:
            if c.offset <= off < c.offset + max(c.length, 1):
                r = find(c, off, label_prefix)
                if r is not None:
                    return r
        return None

    for p in prot:
        for top in nodes:
            n = find(top, p.offsets["protected_attributes"], "[1]")
            if n is None:
                continue
            n.value = f"protected attributes ({len(p.ciphertext)}-byte ciphertext + {len(p.tag)}-byte tag)"
            n.add("security header", p.offsets["security_header"], 5,
                  f"0x{p.security_control:02X} (authenticated and encrypted) ‖ invocation counter "
                  f"0x{p.invocation_counter:08X}")
            n.add("ciphertext", p.offsets["ciphertext"], len(p.ciphertext),
                  f"{len(p.ciphertext)} byte(s) AES-128-GCM, AAD = 0x{p.security_control:02X} (GBCS.md §5.3)")
            n.add("tag", p.offsets["tag"], len(p.tag), p.tag.hex().upper())
            parent = find(top, p.offsets["structure"], "")
            if parent is not None and parent.offset == p.offsets["structure"]:
                parent.value += " = get_protected_attributes response (IC 30 Data protection)"
                for pp in p.parameters:
                    pn = find(parent, pp.offset, "[")
                    if pn is not None:
                        kdf = pp.kdf_use_and_counter
                        pn.value = (f"protection parameters: {cosem.PROTECTION_TYPES.get(pp.protection_type, '?')}, "
                                    f"originator {pp.originator.hex().upper()}, recipient {pp.recipient.hex().upper()}, "
                                    f"key info {cosem.KEY_INFO_TYPES.get(pp.key_info_type, '?')}")
                        if kdf:
                            pn.value += f", transaction id F=0x{kdf[0]:02X} counter 0x{kdf[1]:X}"
                        _name_children(pn, ["protection_type", "protection_options"])
                        if len(pn.children) == 2:
                            opts = pn.children[1]
                            _name_children(opts, ["transaction_id", "originator_system_title",
                                                  "recipient_system_title", "other_information", "key_info"])
                            if len(opts.children) == 5:
                                ki = opts.children[4]
                                _name_children(ki, ["key_info_type", "key_info_options"])
                                if pp.key_info_type == 2 and len(ki.children) == 2:
                                    _name_children(ki.children[1], ["key_parameters", "key_ciphered_data"])
            break


def explain(record: Record, base: int = 0) -> list[Node]:
    """Named fields with absolute offsets: APDU, invoke id, date-time, every spec, Data node and result."""
    data = _encode_record(record)
    tag = data[0]
    root = Node(f"DLMS {APDU_NAMES[tag]}", base, len(data), f"0x{tag:02X}")
    root.add("tag", base, 1, f"0x{tag:02X} {APDU_NAMES[tag]}")
    root.add("long-invoke-id-and-priority", base + 1, 4, describe_invoke(record.invoke_id))
    dt = bytes(record.date_time)
    dsz = (_ls(record, 0) or len(encode_len(len(dt)))) + len(dt)
    if dt:
        meaning = describe_date_time(dt) if len(dt) == 12 else None
        root.add("date-time", base + 5, dsz, dt.hex().upper() + (f" = {meaning}" if meaning else ""))
    else:
        root.add("date-time", base + 5, dsz, "absent (empty octet-string)")
    pos = base + 5 + dsz

    def spec_list(specs: list[RequestSpec], name: str, ls: int | None) -> None:
        nonlocal pos
        csz = ls or len(encode_len(len(specs)))
        lst = root.add(name, pos, 0, f"{len(specs)} specification(s)")
        pos += csz
        for i, s in enumerate(specs):
            n, sz = _spec_node(s, f"[{i}]", pos)
            lst.children.append(n)
            pos += sz
        lst.length = pos - lst.offset

    def data_list(items: list[Data], name: str, ls: int | None, labels: list[str] | None = None) -> None:
        nonlocal pos
        csz = ls or len(encode_len(len(items)))
        lst = root.add(name, pos, 0, f"{len(items)} item(s)")
        pos += csz
        for i, d in enumerate(items):
            lbl = f"[{i}]" + (f" for {labels[i]}" if labels and i < len(labels) else "")
            n, sz = explain_data(d, pos, lbl)
            lst.children.append(n)
            pos += sz
        lst.length = pos - lst.offset

    if isinstance(record, AccessRequest):
        spec_list(record.specs, "access-request-specification", _ls(record, 1))
        labels = [s.describe() for s in record.specs]
        data_list(record.data, "access-request-list-of-data", _ls(record, 2), labels)
        if len(record.data) != len(record.specs):
            root.add("note", base, 0, f"{len(record.specs)} spec(s) but {len(record.data)} data item(s): the "
                     "ACCESS service pairs them one to one (GBCS.md §4.2)")
    elif isinstance(record, AccessResponse):
        if record.request_specs is None:
            root.add("access-request-specification", pos, 1, "absent (00)")
            pos += 1
        else:
            root.add("access-request-specification presence", pos, 1, "present (01)")
            pos += 1
            spec_list(record.request_specs, "access-request-specification", _ls(record, 1))
        kinds = [ResponseKind(r.kind).name for r in record.results]
        data_list(record.data, "access-response-list-of-data", _ls(record, 2), kinds)
        csz = _ls(record, 3) or len(encode_len(len(record.results)))
        lst = root.add("access-response-specification", pos, 0, f"{len(record.results)} result(s)")
        pos += csz
        for i, r in enumerate(record.results):
            n = lst.add(f"[{i}]", pos, 2, r.describe())
            n.add("kind", pos, 1, f"0x{r.kind:02X} {ResponseKind(r.kind).name}")
            n.add("result", pos + 1, 1, f"{r.result} " + (cosem.action_result_name(r.result)
                                                          if r.kind == ResponseKind.ACTION
                                                          else cosem.data_access_result_name(r.result)))
            pos += 2
        lst.length = pos - lst.offset
    else:
        n, sz = explain_data(record.body, pos, "notification-body")
        code = record.alert_code
        if code is not None:
            n.value += f"; GBCS alert {code:#06x}" + (f" {cosem.alert_name(code)}" if cosem.alert_name(code) else "")
            names = ["alert code", "alert timestamp"] + ["use-case body"] * (len(n.children) - 2)
            for c, nm in zip(n.children, names):
                c.name = f"{c.name} {nm}"
        root.children.append(n)
        pos += sz
    _annotate_protected([root], find_protected(record, base))
    return [root]


__all__ = [
    "AccessRequest",
    "AccessResponse",
    "Data",
    "DataNotification",
    "DecodeError",
    "ProtectedAttributes",
    "ProtectionParameters",
    "Record",
    "RequestSpec",
    "ResponseKind",
    "ResponseSpec",
    "SpecKind",
    "TypeDesc",
    "ciphertext_and_tag",
    "decode",
    "decode_plaintext",
    "describe_invoke",
    "encode",
    "explain",
    "find_protected",
    "from_json",
    "invoke_id_for",
    "parse_obis",
    "to_json",
]
