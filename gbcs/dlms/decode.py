"""Decoding the GBCS DLMS APDUs (layouts in `gbcs.dlms.records`); the record keeps where each Data node lies."""

from __future__ import annotations

from typing import Any

from ..axdr import Data, Spans, decode_at, decode_items, read_len
from ..errors import DecodeError
from .parts import ACCESS_REQUEST, ACCESS_RESPONSE, APDU_NAMES, DATA_NOTIFICATION, RequestSpec, ResponseSpec
from .records import AccessRequest, AccessResponse, DataNotification, Record


def _count(data: bytes, pos: int, end: int, base: int, field: str) -> tuple[int, int, int | None]:
    """An A-XDR count/length with the one-byte form inline (the common case)."""
    if pos < end and data[pos] < 0x80:
        return data[pos], pos + 1, None
    return read_len(data, pos, end, base, field)


def _read_specs(data: bytes, pos: int, end: int, base: int, field: str, spans: Spans,
                _new: Any = tuple.__new__) -> tuple[list[RequestSpec], int | None, int]:
    count, pos, lsize = _count(data, pos, end, base, field + " count")
    if count * 10 > end - pos:
        raise DecodeError(base + pos, field, f"{count} specification(s) cannot fit in {end - pos} byte(s)")
    RS = RequestSpec
    specs: list[RequestSpec] = []
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
            params, pos = decode_at(data, pos + 11, end, base, 0, spans)
            append(_new(RS, (*head, params)))
        else:
            raise DecodeError(base + pos, f"{field}[{i}] kind", f"0x{kind:02X} is not 01 GET..05 SET-with-selection")
    return specs, lsize, pos


def _read_data_list(data: bytes, pos: int, end: int, base: int, field: str,
                    spans: Spans) -> tuple[list[Data], int | None, int]:
    count, pos, lsize = _count(data, pos, end, base, field + " count")
    if count > end - pos:
        raise DecodeError(base + pos, field, f"{count} data item(s) cannot fit in {end - pos} byte(s)")
    items: list[Data] = []
    if count:
        pos = decode_items(data, pos, end, base, 0, count, items, spans.flat)
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
    spans = Spans(base)
    if tag == ACCESS_REQUEST:
        specs, s_ls, pos = _read_specs(data, pos, end, base, "access-request-specification", spans)
        items, d_ls, pos = _read_data_list(data, pos, end, base, "access-request-list-of-data", spans)
        ls = None if dt_ls is None and s_ls is None and d_ls is None else (dt_ls, s_ls, d_ls)
        rec = AccessRequest(invoke, specs, items, dt, ls, spans)
    elif tag == ACCESS_RESPONSE:
        if pos >= end:
            raise DecodeError(base + pos, "access-request-specification presence", "needs 1 byte, none left")
        present = data[pos]
        pos += 1
        req_specs = None
        s_ls = None
        if present == 1:
            req_specs, s_ls, pos = _read_specs(data, pos, end, base, "access-request-specification", spans)
        elif present != 0:
            raise DecodeError(base + pos - 1, "access-request-specification presence",
                              f"0x{present:02X} is neither 00 (absent) nor 01 (present)")
        items, d_ls, pos = _read_data_list(data, pos, end, base, "access-response-list-of-data", spans)
        count, pos, r_ls = _count(data, pos, end, base, "access-response-specification count")
        if count * 2 > end - pos:
            raise DecodeError(base + pos, "access-response-specification",
                              f"{count} specification(s) cannot fit in {end - pos} byte(s)")
        results: list[ResponseSpec] = []
        append = results.append
        new = tuple.__new__
        for i in range(count):
            kind = data[pos]
            if not 1 <= kind <= 3:
                raise DecodeError(base + pos, f"access-response-specification[{i}] kind",
                                  f"0x{kind:02X} is not 01 get / 02 set / 03 action")
            append(new(ResponseSpec, (kind, data[pos + 1])))
            pos += 2
        rls = None if dt_ls is None and s_ls is None and d_ls is None and r_ls is None \
            else (dt_ls, s_ls, d_ls, r_ls)
        rec = AccessResponse(invoke, items, results, dt, req_specs, rls, spans)
    else:
        items = []
        pos = decode_items(data, pos, end, base, 0, 1, items, spans.flat)
        rec = DataNotification(invoke, items[0], dt, None if dt_ls is None else (dt_ls,), spans)
    if pos != end:
        raise DecodeError(base + pos, APDU_NAMES[tag], f"{end - pos} unexpected trailing byte(s)")
    return rec
