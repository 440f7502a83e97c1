"""Encoding the GBCS DLMS APDUs: the exact inverse of `gbcs.dlms.decode` (non-minimal forms kept in `lsizes`).

One writer per APDU, called by the record's `encode()` (`records`, above this module): the writers read the
record's fields and check every value, so a hand-built record that would not decode back raises EncodeError.
"""

from __future__ import annotations

from typing import Any

from ..axdr import encode_into, encode_len
from ..checks import check_bytes, check_int
from ..errors import EncodeError
from .parts import ACCESS_REQUEST, ACCESS_RESPONSE, DATA_NOTIFICATION, RequestSpec, ResponseSpec


def ls(rec: Any, i: int) -> int | None:
    """The non-minimal wire size of the record's i-th length field, or None (minimal)."""
    sizes = rec.lsizes
    if sizes is None:
        return None
    if not isinstance(sizes, tuple) or i >= len(sizes):
        raise EncodeError("lsizes", "malformed length-size tuple")
    v = sizes[i]
    if v is not None and not isinstance(v, int):
        raise EncodeError("lsizes", f"{v!r} is not a length size")
    return v


def check_u(v: Any, bits: int, field: str) -> int:
    """`v` is an unsigned `bits`-bit integer."""
    return check_int(v, 0, (1 << bits) - 1, field)


def _kind(v: Any, last: int, field: str) -> int:
    """A CHOICE byte in 1..`last`."""
    return check_int(v, 1, last, field + ".kind")


def _encode_specs(specs: Any, out: bytearray, ls: int | None, field: str) -> None:
    if not isinstance(specs, list):
        raise EncodeError(field, "expected a list of RequestSpec")
    out += encode_len(len(specs), ls, field + " count")
    for i, s in enumerate(specs):
        f = f"{field}[{i}]"
        if not isinstance(s, RequestSpec):
            raise EncodeError(f, "expected a RequestSpec")
        kind = _kind(s.kind, 5, f)
        out.append(kind)
        out += check_u(s.class_id, 16, f + ".class_id").to_bytes(2, "big")
        obis = check_bytes(s.obis, f + ".obis")
        if len(obis) != 6:
            raise EncodeError(f + ".obis", "an OBIS code is 6 bytes")
        out += obis
        out.append(check_u(s.member, 8, f + ".member"))
        if kind >= 4:
            out.append(check_u(s.selector, 8, f + ".selector"))
            if s.parameters is None:
                raise EncodeError(f + ".parameters", "the with-selection forms carry access parameters")
            encode_into(s.parameters, out, 1)
        elif s.selector is not None or s.parameters is not None:
            raise EncodeError(f, "only the with-selection forms carry an access selector")


def _encode_time(rec: Any, out: bytearray) -> None:
    out += check_u(rec.invoke_id, 32, "invoke_id").to_bytes(4, "big")
    dt = check_bytes(rec.date_time, "date_time")
    out += encode_len(len(dt), ls(rec, 0), "date-time length")
    out += dt


def _encode_data_list(items: Any, out: bytearray, ls: int | None, field: str) -> None:
    if not isinstance(items, list):
        raise EncodeError(field, "expected a list of Data")
    out += encode_len(len(items), ls, field + " count")
    for _i, d in enumerate(items):
        encode_into(d, out, 1)


def encode_access_request(rec: Any) -> bytes:
    """The bytes of a `records.AccessRequest`."""
    out = bytearray((ACCESS_REQUEST,))
    _encode_time(rec, out)
    _encode_specs(rec.specs, out, ls(rec, 1), "access-request-specification")
    _encode_data_list(rec.data, out, ls(rec, 2), "access-request-list-of-data")
    return bytes(out)


def encode_access_response(rec: Any) -> bytes:
    """The bytes of a `records.AccessResponse`."""
    out = bytearray((ACCESS_RESPONSE,))
    _encode_time(rec, out)
    if rec.request_specs is None:
        if ls(rec, 1) is not None:
            raise EncodeError("lsizes", "no request-spec list to size")
        out.append(0)
    else:
        out.append(1)
        _encode_specs(rec.request_specs, out, ls(rec, 1), "access-request-specification")
    _encode_data_list(rec.data, out, ls(rec, 2), "access-response-list-of-data")
    if not isinstance(rec.results, list):
        raise EncodeError("results", "expected a list of ResponseSpec")
    out += encode_len(len(rec.results), ls(rec, 3), "access-response-specification count")
    for i, r in enumerate(rec.results):
        f = f"access-response-specification[{i}]"
        if not isinstance(r, ResponseSpec):
            raise EncodeError(f, "expected a ResponseSpec")
        out.append(_kind(r.kind, 3, f))
        out.append(check_u(r.result, 8, f + ".result"))
    return bytes(out)


def encode_data_notification(rec: Any) -> bytes:
    """The bytes of a `records.DataNotification`."""
    out = bytearray((DATA_NOTIFICATION,))
    _encode_time(rec, out)
    encode_into(rec.body, out, 1)
    return bytes(out)
