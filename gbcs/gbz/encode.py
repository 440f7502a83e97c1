"""Encoding GBZ payloads and alerts: the exact inverse of `gbcs.gbz.decode`, every consistency rule checked."""

from __future__ import annotations

from typing import Any

from .. import zcl
from ..checks import check_bytes, check_int
from ..errors import EncodeError
from .records import (EHC_ENCRYPTED, EHC_FROM_DATE_TIME, FUTURE_DATED_START, OCTET_STRING_TAG, SECURITY_HEADER_LENGTH,
    TAG_LENGTH, VALUE_TYPES, AlertComponents, AlertDetail, AlertFirmwareHash, AlertFutureDated, AlertRaw,
    AttributeRecords, Component, DefaultResponse, GbzAlert, GbzPayload, ReadAttributes, Record, ValueKind,
    WriteAttributesResponse, ZclFrame, ZclGeneral)



def encode_value(dt: int, v: Any, field_: str) -> bytes:
    info = VALUE_TYPES.get(dt)
    if info is None:
        raise EncodeError(field_, f"data type 0x{dt:02X} is not supported by this codec")
    kind, size = info
    if kind == ValueKind.UINT or kind == ValueKind.BOOL or kind == ValueKind.FLOAT:
        return check_int(v, 0, (1 << 8 * size) - 1, field_).to_bytes(size, "little")
    if kind == ValueKind.INT:
        lim = 1 << (8 * size - 1)
        return check_int(v, -lim, lim - 1, field_).to_bytes(size, "little", signed=True)
    if kind == ValueKind.STR8 or kind == ValueKind.STR16:
        lw = 1 if kind == ValueKind.STR8 else 2
        invalid = (1 << 8 * lw) - 1
        if v is None:
            return invalid.to_bytes(lw, "little")
        b = check_bytes(v, field_)
        if len(b) >= invalid:
            raise EncodeError(field_, f"string of {len(b)} bytes is too long for a {lw}-byte length")
        return len(b).to_bytes(lw, "little") + b
    if kind == ValueKind.BYTES:
        b = check_bytes(v, field_)
        if len(b) != size:
            raise EncodeError(field_, f"must be {size} bytes, got {len(b)}")
        return b
    if v is not None:
        raise EncodeError(field_, "a nodata value must be None")
    return b""


def encode_general(g: ZclGeneral, field_: str) -> bytes:
    out = bytearray()
    if isinstance(g, DefaultResponse):
        out.append(check_int(g.command_id, 0, 255, field_ + ".command_id"))
        out.append(check_int(g.status, 0, 255, field_ + ".status"))
    elif isinstance(g, ReadAttributes):
        for k, a in enumerate(g.attribute_ids):
            out += check_int(a, 0, 0xFFFF, f"{field_}.attribute_ids[{k}]").to_bytes(2, "little")
    elif isinstance(g, AttributeRecords):
        for k, r in enumerate(g.records):
            f = f"{field_}.records[{k}]"
            out += check_int(r.attribute_id, 0, 0xFFFF, f + ".attribute_id").to_bytes(2, "little")
            if r.status is not None:
                out.append(check_int(r.status, 0, 255, f + ".status"))
                if r.status:
                    if r.data_type is not None or r.value is not None:
                        raise EncodeError(f, "a record with a failure status carries no type or value")
                    continue
            if r.data_type is None:
                raise EncodeError(f + ".data_type", "missing")
            out.append(check_int(r.data_type, 0, 255, f + ".data_type"))
            out += encode_value(r.data_type, r.value, f + ".value")
    elif isinstance(g, WriteAttributesResponse):
        for k, s in enumerate(g.records):
            f = f"{field_}.records[{k}]"
            out.append(check_int(s.status, 0, 255, f + ".status"))
            if s.attribute_id is None:
                if len(g.records) != 1:
                    raise EncodeError(f + ".attribute_id", "only a lone status record may omit the attribute ID")
            else:
                out += check_int(s.attribute_id, 0, 0xFFFF, f + ".attribute_id").to_bytes(2, "little")
    else:
        raise EncodeError(field_, f"unsupported payload type {type(g).__name__}")
    return bytes(out)


def _encode_zcl(z: ZclFrame, field_: str, *, encrypted: bool) -> bytes:
    fc = check_int(z.frame_control, 0, 255, field_ + ".frame_control")
    out = bytearray((fc,))
    if fc & zcl.FC_MANUFACTURER_SPECIFIC:
        if z.manufacturer_code is None:
            raise EncodeError(field_ + ".manufacturer_code", "frame control says manufacturer-specific: code needed")
        out += check_int(z.manufacturer_code, 0, 0xFFFF, field_ + ".manufacturer_code").to_bytes(2, "little")
    elif z.manufacturer_code is not None:
        raise EncodeError(field_ + ".manufacturer_code", "present but the frame control bit 0x04 is clear")
    out.append(check_int(z.sequence, 0, 255, field_ + ".sequence"))
    out.append(check_int(z.command_id, 0, 255, field_ + ".command_id"))
    p = z.payload
    if encrypted:
        if p is not None:
            raise EncodeError(field_ + ".payload", "an encrypted component carries its payload in `ciphered`")
    elif p is None:
        raise EncodeError(field_ + ".payload", "missing (None is only for encrypted components)")
    elif isinstance(p, (bytes, bytearray)):
        out += p
    else:
        out += encode_general(p, field_ + ".payload")
    return bytes(out)


def encode_component(c: Component, field_: str) -> bytes:
    ctrl = check_int(c.control, 0, 255, field_ + ".control")
    body = bytearray()
    if ctrl & EHC_FROM_DATE_TIME:
        if c.from_date_time is None:
            raise EncodeError(field_ + ".from_date_time", "control bit 0x10 is set: a from date-time is needed")
        body += check_int(c.from_date_time, 0, 0xFFFFFFFF, field_ + ".from_date_time").to_bytes(4, "big")
    elif c.from_date_time is not None:
        raise EncodeError(field_ + ".from_date_time", "present but control bit 0x10 is clear")
    enc = bool(ctrl & EHC_ENCRYPTED)
    if enc:
        if c.additional_header_control is None or c.additional_frame_counter is None or c.ciphered is None:
            raise EncodeError(field_, "control bit 0x02 (encrypted) needs the additional header and `ciphered`")
        body.append(check_int(c.additional_header_control, 0, 255, field_ + ".additional_header_control"))
        body.append(check_int(c.additional_frame_counter, 0, 255, field_ + ".additional_frame_counter"))
    elif c.additional_header_control is not None or c.additional_frame_counter is not None \
            or c.ciphered is not None:
        raise EncodeError(field_, "additional header / ciphered part present but control bit 0x02 is clear")
    if not isinstance(c.zcl, ZclFrame):
        raise EncodeError(field_ + ".zcl", "must be a ZclFrame")
    body += _encode_zcl(c.zcl, field_ + ".zcl", encrypted=enc)
    if enc:
        ci = c.ciphered
        if ci is None:
            raise EncodeError(field_ + ".ciphered", "control bit 0x02 says encrypted: the ciphered part is needed")
        ct = check_bytes(ci.ciphertext, field_ + ".ciphered.ciphertext")
        tag = check_bytes(ci.tag, field_ + ".ciphered.tag")
        if len(tag) != TAG_LENGTH:
            raise EncodeError(field_ + ".ciphered.tag", f"must be {TAG_LENGTH} bytes, got {len(tag)}")
        clen = SECURITY_HEADER_LENGTH + len(ct) + TAG_LENGTH
        if clen > 0xFFFF:
            raise EncodeError(field_ + ".ciphered.ciphertext", "too long for the 2-byte ciphered length")
        body += clen.to_bytes(2, "big")
        body.append(check_int(ci.security_control, 0, 255, field_ + ".ciphered.security_control"))
        body += check_int(ci.invocation_counter, 0, 0xFFFFFFFF,
                           field_ + ".ciphered.invocation_counter").to_bytes(4, "big")
        body += ct
        body += tag
    if len(body) > 0xFFFF:
        raise EncodeError(field_, f"component of {len(body)} bytes exceeds the 2-byte length")
    cl = check_int(c.cluster_id, 0, 0xFFFF, field_ + ".cluster_id")
    return bytes((ctrl, cl >> 8, cl & 0xFF, len(body) >> 8, len(body) & 0xFF)) + body


def _encode_alert_body(a: GbzAlert) -> bytes:
    b = a.body
    if isinstance(b, AlertRaw):
        return check_bytes(b.data, "body.data")
    if isinstance(b, AlertComponents):
        return b"".join(encode_component(c, f"body.components[{k}]") for k, c in enumerate(b.components))
    if isinstance(b, AlertFirmwareHash):
        h = check_bytes(b.hash, "body.hash")
        if len(h) >= 0x80:
            raise EncodeError("body.hash", "longer than 127 bytes")
        return bytes((OCTET_STRING_TAG, len(h))) + h
    if isinstance(b, AlertFutureDated):
        return bytes((FUTURE_DATED_START,)) \
            + check_int(b.message_code, 0, 0xFFFF, "body.message_code").to_bytes(2, "big") \
            + check_int(b.originator_counter, 0, (1 << 64) - 1, "body.originator_counter").to_bytes(8, "big") \
            + check_int(b.cluster_id, 0, 0xFFFF, "body.cluster_id").to_bytes(2, "big") \
            + bytes((check_int(b.frame_control, 0, 255, "body.frame_control"),
                     check_int(b.command_id, 0, 255, "body.command_id")))
    if isinstance(b, AlertDetail):
        return check_int(b.value, 0, 0xFFFF, "body.value").to_bytes(2, "big")
    raise EncodeError("body", f"unsupported alert body {type(b).__name__}")


def encode(record: Record) -> bytes:
    """Exact inverse of `decode`: the component count and every length are computed from the record."""
    if isinstance(record, GbzPayload):
        comps = record.components
        if len(comps) > 255:
            raise EncodeError("components", f"{len(comps)} components: the count is one byte")
        return b"\x01\x09" + bytes((len(comps),)) + b"".join(
            encode_component(c, f"components[{k}]") for k, c in enumerate(comps))
    if isinstance(record, GbzAlert):
        return b"\x01\x09" + bytes((check_int(record.count, 0, 255, "count"),)) \
            + check_int(record.alert_code, 0, 0xFFFF, "alert_code").to_bytes(2, "big") \
            + check_int(record.timestamp, 0, 0xFFFFFFFF, "timestamp").to_bytes(4, "big") \
            + _encode_alert_body(record)
    raise EncodeError("record", f"expected GbzPayload or GbzAlert, got {type(record).__name__}")


def encode_zcl_payload(frame: ZclFrame) -> bytes:
    """The ZCL payload bytes of `frame` (the plaintext to encrypt, or what `decode_plaintext` decoded)."""
    p = frame.payload
    if p is None:
        raise EncodeError("payload", "no plaintext payload (encrypted component)")
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    return encode_general(p, "payload")
