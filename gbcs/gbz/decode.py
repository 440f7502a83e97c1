"""Decoding GBZ payloads and alerts (layouts in `gbcs.gbz.records`); components keep their absolute extent."""

from __future__ import annotations

from typing import Any

from ..errors import DecodeError
from ..length import short
from .records import (ALERTS_COMPONENTS, ALERTS_DETAIL, ALERTS_FIRMWARE_HASH, ALERTS_FUTURE_DATED, CRA_ALERT,
    EHC_ENCRYPTED, EHC_FROM_DATE_TIME, FUTURE_DATED_START, OCTET_STRING_TAG, SECURITY_CONTROL, SECURITY_HEADER_LENGTH,
    TAG_LENGTH, VALUE_TYPES, AlertBody, AlertComponents, AlertDetail, AlertFirmwareHash, AlertFutureDated, AlertRaw,
    AttributeRecord, AttributeRecords, Component, CipheredInfo, DefaultResponse, GbzAlert, GbzPayload, ReadAttributes,
    Record, ValueKind, WriteAttributesResponse, WriteStatus, ZclFrame, ZclGeneral)


def _decode_value(data: bytes, p: int, end: int, dt: int) -> tuple[Any, int] | None:
    """One ZCL attribute value of type `dt` at `p`; None when it does not fit or the type is not handled."""
    info = VALUE_TYPES.get(dt)
    if info is None:
        return None
    kind, size = info
    if kind == ValueKind.UINT or kind == ValueKind.BOOL or kind == ValueKind.FLOAT:
        q = p + size
        if q > end:
            return None
        return int.from_bytes(data[p:q], "little"), q
    if kind == ValueKind.INT:
        q = p + size
        if q > end:
            return None
        return int.from_bytes(data[p:q], "little", signed=True), q
    if kind == ValueKind.STR8:
        if p >= end:
            return None
        n = data[p]
        if n == 0xFF:
            return None, p + 1
        q = p + 1 + n
        if q > end:
            return None
        return data[p + 1:q], q
    if kind == ValueKind.STR16:
        if p + 2 > end:
            return None
        n = data[p] | data[p + 1] << 8
        if n == 0xFFFF:
            return None, p + 2
        q = p + 2 + n
        if q > end:
            return None
        return data[p + 2:q], q
    if kind == ValueKind.BYTES:
        q = p + size
        if q > end:
            return None
        return data[p:q], q
    return None, p  # nodata


def _decode_records(data: bytes, p: int, end: int, with_status: bool) -> AttributeRecords | None:
    recs: list[AttributeRecord] = []
    append = recs.append
    while p < end:
        if end - p < 3:
            return None
        aid = data[p] | data[p + 1] << 8
        if with_status:
            st = data[p + 2]
            p += 3
            if st:
                append(AttributeRecord(aid, None, None, st))
                continue
            if p >= end:
                return None
            dt = data[p]
            p += 1
        else:
            st = None
            dt = data[p + 2]
            p += 3
        r = _decode_value(data, p, end, dt)
        if r is None:
            return None
        val, p = r
        append(AttributeRecord(aid, dt, val, st))
    return AttributeRecords(recs)


def _decode_general(data: bytes, p: int, end: int, cmd: int) -> ZclGeneral | None:
    """Decode a general-command payload (ZCL 07-5123 §2.5); None when the command is not handled or malformed."""
    n = end - p
    if cmd == 0x0B:
        return DefaultResponse(data[p], data[p + 1]) if n == 2 else None
    if cmd == 0x01:
        return _decode_records(data, p, end, True)
    if cmd == 0x00:
        if n & 1:
            return None
        return ReadAttributes([data[i] | data[i + 1] << 8 for i in range(p, end, 2)])
    if cmd == 0x02 or cmd == 0x03 or cmd == 0x05 or cmd == 0x0A:
        return _decode_records(data, p, end, False)
    if cmd == 0x04:
        if n == 1:
            return WriteAttributesResponse([WriteStatus(data[p], None)])
        if n == 0 or n % 3:
            return None
        return WriteAttributesResponse(
            [WriteStatus(data[i], data[i + 1] | data[i + 2] << 8) for i in range(p, end, 3)])
    return None


def _zcl_payload(data: bytes, p: int, end: int, fc: int, cmd: int) -> bytes | ZclGeneral:
    if fc & 0x07 == 0:  # global frame, not manufacturer-specific
        g = _decode_general(data, p, end, cmd)
        if g is not None:
            return g
    return data[p:end]


def _decode_components(data: bytes, pos: int, end: int, base: int, count: int,
                       warnings: list[str]) -> tuple[list[Component], int]:
    """Decode `count` components from `pos`; return them and the position after the last (hot path: inlined)."""
    comps: list[Component] = []
    append = comps.append
    last = count - 1
    _Component = Component
    _ZclFrame = ZclFrame
    _general = _decode_general
    from_bytes = int.from_bytes
    for i in range(count):
        have = end - pos
        if have < 5:
            raise short(base, pos, f"component[{i}].header", 5, have)
        ctrl = data[pos]
        length = data[pos + 3] << 8 | data[pos + 4]
        p = pos + 5
        cend = p + length
        if cend > end:
            raise DecodeError(base + pos + 3, f"component[{i}].length",
                              f"says {length} bytes, only {end - p} follow")
        fdt = ahc = afc = mfr = None
        if ctrl & 0x12:
            if ctrl & EHC_FROM_DATE_TIME:
                if cend - p < 4:
                    raise short(base, p, f"component[{i}].from_date_time", 4, cend - p)
                fdt = from_bytes(data[p:p + 4], "big")
                p += 4
            if ctrl & EHC_ENCRYPTED:
                if cend - p < 2:
                    raise short(base, p, f"component[{i}].additional_header", 2, cend - p)
                ahc = data[p]
                afc = data[p + 1]
                p += 2
        if cend - p < 3:
            raise short(base, p, f"component[{i}].zcl_header", 3, cend - p)
        fc = data[p]
        if fc & 0x04:  # manufacturer-specific: 2-byte LE manufacturer code (ZCL 07-5123 §2.4.1.2)
            if cend - p < 5:
                raise short(base, p, f"component[{i}].zcl_header", 5, cend - p)
            mfr = data[p + 1] | data[p + 2] << 8
            p += 2
        cmd = data[p + 2]
        if ctrl & EHC_ENCRYPTED:
            z = _ZclFrame(fc, data[p + 1], cmd, None, mfr)
            p += 3
            if cend - p < 2:
                raise short(base, p, f"component[{i}].ciphered_length", 2, cend - p)
            clen = data[p] << 8 | data[p + 1]
            p += 2
            if clen != cend - p:
                raise DecodeError(base + p - 2, f"component[{i}].ciphered_length",
                                  f"says {clen} bytes, the component has {cend - p} left")
            if clen < SECURITY_HEADER_LENGTH + TAG_LENGTH:
                raise DecodeError(base + p - 2, f"component[{i}].ciphered_length",
                                  f"{clen} is shorter than security header + {TAG_LENGTH}-byte tag")
            tpos = cend - TAG_LENGTH
            ciph = CipheredInfo(data[p + 5:tpos], data[tpos:cend], data[p], from_bytes(data[p + 1:p + 5], "big"),
                                base + p + 5)
            if data[p] != SECURITY_CONTROL:
                warnings.append(f"component[{i}]: security control 0x{data[p]:02X}, expected 0x31")
            comp = _Component(ctrl, data[pos + 1] << 8 | data[pos + 2], z, fdt, ahc, afc, ciph, base + pos, base + cend)
        else:
            p += 3
            general = _general(data, p, cend, cmd) if not fc & 0x07 else None  # global, not manufacturer-specific
            payload: bytes | ZclGeneral = data[p:cend] if general is None else general
            comp = _Component(ctrl, data[pos + 1] << 8 | data[pos + 2], _ZclFrame(fc, data[p - 2], cmd, payload, mfr),
                              fdt, ahc, afc, None, base + pos, base + cend)
        if (ctrl & 1) != (i == last) or ctrl & 0xEC:
            if (ctrl & 1) != (i == last):
                warnings.append(f"component[{i}]: last-component flag {'set' if ctrl & 1 else 'clear'} "
                                f"on component {i + 1} of {count}")
            if ctrl & 0xEC:
                warnings.append(f"component[{i}]: reserved extended-header control bits 0x{ctrl & 0xEC:02X} set")
        append(comp)
        pos = cend
    return comps, pos


def _decode_alert(data: bytes, base: int, count: int) -> GbzAlert:
    n = len(data)
    if n < 5:
        raise short(base, 3, "alert_code", 2, n - 3)
    if n < 9:
        raise short(base, 5, "timestamp", 4, n - 5)
    code = data[3] << 8 | data[4]
    ts = int.from_bytes(data[5:9], "big")
    warnings: list[str] = []
    p = 9
    rest = n - p
    body: AlertBody
    if rest == 0:
        body = AlertRaw(b"")
        if code in ALERTS_FIRMWARE_HASH or code in ALERTS_FUTURE_DATED or code in ALERTS_COMPONENTS \
                or code in ALERTS_DETAIL:
            warnings.append(f"alert 0x{code:04X} carries no use-case-specific part")
    elif code in ALERTS_FIRMWARE_HASH:
        if data[p] != OCTET_STRING_TAG:
            raise DecodeError(base + p, "firmware_hash.tag", f"expected 0x09, got 0x{data[p]:02X}")
        if rest < 2:
            raise short(base, p + 1, "firmware_hash.length", 1, 0)
        hl = data[p + 1]
        if hl >= 0x80:
            raise DecodeError(base + p + 1, "firmware_hash.length", f"0x{hl:02X} is not a short length")
        if hl != rest - 2:
            raise DecodeError(base + p + 1, "firmware_hash.length", f"says {hl} bytes, {rest - 2} follow")
        body = AlertFirmwareHash(data[p + 2:n])
    elif code in ALERTS_FUTURE_DATED:
        if data[p] != FUTURE_DATED_START:
            raise DecodeError(base + p, "future_dated.start", f"expected 0x0E, got 0x{data[p]:02X}")
        if rest < 15:
            raise short(base, p + 1, "future_dated", 14, rest - 1)
        if rest > 15:
            raise DecodeError(base + p + 15, "alert", f"{rest - 15} unexpected trailing byte(s)")
        body = AlertFutureDated(data[p + 1] << 8 | data[p + 2], int.from_bytes(data[p + 3:p + 11], "big"),
                                data[p + 11] << 8 | data[p + 12], data[p + 13], data[p + 14])
    elif code in ALERTS_DETAIL:
        if rest != 2:
            if rest < 2:
                raise short(base, p, "alert_detail", 2, rest)
            raise DecodeError(base + p + 2, "alert", f"{rest - 2} unexpected trailing byte(s)")
        body = AlertDetail(data[p] << 8 | data[p + 1])
    elif code in ALERTS_COMPONENTS:
        if count == 0:
            raise DecodeError(base + 2, "count", f"alert 0x{code:04X} carries components but the count is 0")
        comps, q = _decode_components(data, p, n, base, count, warnings)
        if q != n:
            raise DecodeError(base + q, "alert", f"{n - q} unexpected trailing byte(s)")
        body = AlertComponents(comps)
    else:
        body = AlertRaw(data[p:n])
        if count:  # an unknown alert may still carry components: keep them decoded when they fit exactly
            try:
                w: list[str] = []
                comps, q = _decode_components(data, p, n, base, count, w)
                if q == n:
                    body = AlertComponents(comps)
                    warnings.extend(w)
            except DecodeError:
                pass
    if count == 0 and rest:
        warnings.append(f"count is 0 but {rest} byte(s) follow the timestamp")
    elif count and not rest:
        warnings.append(f"count is {count} but nothing follows the timestamp")
    return GbzAlert(count, code, ts, body, warnings)


def decode(data: bytes, base: int = 0, *, message_code: int | None = None, cra: int | None = None) -> Record:
    """Decode a GBZ payload (or, with `cra` = 3, a GBZ alert); `base` = absolute offset of `data[0]`.

    Raises only `DecodeError` (absolute offsets). `message_code` is accepted for the common codec contract.
    """
    if type(data) is not bytes:
        try:
            data = bytes(data)
        except (TypeError, ValueError):
            raise DecodeError(base, "payload", f"expected bytes, got {type(data).__name__}") from None
    n = len(data)
    if n < 3:
        if (n >= 1 and data[0] != 0x01) or (n >= 2 and data[1] != 0x09):
            raise DecodeError(base, "profile_id", "not a GBZ payload (expected 01 09)")
        if n < 2:
            raise short(base, 0, "profile_id", 2, n)
        raise short(base, 2, "count", 1, 0)
    if data[0] != 0x01 or data[1] != 0x09:
        raise DecodeError(base, "profile_id", f"expected 01 09 (ZSE profile), got {data[0]:02X} {data[1]:02X}")
    count = data[2]
    if cra == CRA_ALERT:
        return _decode_alert(data, base, count)
    warnings: list[str] = []
    comps, pos = _decode_components(data, 3, n, base, count, warnings)
    if pos != n:
        raise DecodeError(base + pos, "gbz", f"{n - pos} unexpected trailing byte(s) after {count} component(s)")
    return GbzPayload(comps, warnings)


def decode_plaintext(component: Component, plaintext: bytes, base: int = 0) -> ZclFrame:
    """Decode the decrypted ZCL payload of an encrypted `component` into a `ZclFrame` shaped like a plaintext one.

    The ZCL header stays in the clear; the plaintext is the ZCL payload alone (verified by decrypting
    `4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX`). `base` is only used by callers that
    report offsets into the plaintext; this decoder never fails on ZCL content (unparsed payloads stay bytes).
    """
    if type(plaintext) is not bytes:
        plaintext = bytes(plaintext)
    z = component.zcl
    return ZclFrame(z.frame_control, z.sequence, z.command_id,
                    _zcl_payload(plaintext, 0, len(plaintext), z.frame_control, z.command_id), z.manufacturer_code)


def encrypted_components(record: Record) -> list[Component]:
    """Every encrypted component of a payload or alert, in order (for decryption with `gbcs.crypto`)."""
    comps = record.components if isinstance(record, GbzPayload) else (
        record.body.components if isinstance(record.body, AlertComponents) else [])
    return [c for c in comps if c.ciphered is not None]
