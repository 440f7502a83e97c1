"""GBZ payload codec: ZigBee Smart Energy use-case components and GBZ alerts (GBCS.md §4.4, §4.1).

A GBZ payload is `01 09` (ZSE profile) ‖ number of components ‖ components; each component is
extended-header control ‖ cluster ID (2, BE) ‖ length (2, BE) ‖ [from date-time (4, BE, s since 2000)] ‖
[additional-header control ‖ additional frame counter, when encrypted] ‖ ZCL header ‖ ZCL payload (LE fields) or,
when encrypted, ciphered-information length (2) ‖ `31 00000000` ‖ ciphertext ‖ 12-byte tag. A GBZ alert (CRA = 3)
is `01 09` ‖ count ‖ alert code (2) ‖ timestamp (4) ‖ use-case-specific part (GBCS.md §4.4; layouts confirmed
on every RTDS GBZ payload and against `wireshark/wireshark: …/packet-gbcs.c` `dissect_gbcs_gbz`).

ZCL payloads of the general commands Read Attributes (0x00), Read Attributes Response (0x01), Write Attributes
(0x02/0x03/0x05), Write Attributes Response (0x04), Report Attributes (0x0A) and Default Response (0x0B) are
decoded into records; every other ZCL payload (and any general payload that does not parse) stays raw bytes, so a
well-formed component never fails because of its ZCL content and always re-encodes byte-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import zcl
from .errors import DecodeError, EncodeError
from .tree import Node

PROFILE_ID = 0x0109
CRA_ALERT = 3
SECURITY_CONTROL = 0x31  # payload-encryption security control byte (GBCS.md §5.3)
SECURITY_HEADER_LENGTH = 5  # security control ‖ 4-byte invocation counter
TAG_LENGTH = 12
FUTURE_DATED_START = 0x0E  # 8F66/8F67 block: 0E ‖ message code ‖ counter ‖ cluster ‖ frame control ‖ command
OCTET_STRING_TAG = 0x09  # 8F1C/8F72 hash is a DLMS-style octet-string: 09 ‖ length ‖ hash

EHC_LAST = zcl.EHC_LAST_COMPONENT
EHC_ENCRYPTED = zcl.EHC_ENCRYPTED
EHC_FROM_DATE_TIME = zcl.EHC_FROM_DATE_TIME

# Alert codes whose use-case-specific part has a defined layout (`wireshark/wireshark: …/packet-gbcs.c`
# `dissect_gbcs_gbz`; GBCS.md §4.4; RTDS `NA_FDRA-ZigBee`, `NA_GCS53`, `NA_MIIWA-ZigBee`, `*_8F66_FUTURE_DATED_*`).
ALERTS_FIRMWARE_HASH = frozenset((0x8F1C, 0x8F72))
ALERTS_FUTURE_DATED = frozenset((0x8F66, 0x8F67))
ALERTS_COMPONENTS = frozenset((0x8F0A,))
ALERTS_DETAIL = {0x81A0: zcl.INTEGRITY_ISSUE_WARNINGS, 0x8161: zcl.USER_INTERFACE_COMMANDS,
                 0x8162: zcl.USER_INTERFACE_COMMANDS}

_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class AttributeRecord:
    """One attribute in a Read Attributes Response / Write / Report Attributes payload (ZCL 07-5123 §2.5).

    `status` is set only in Read Attributes Response records; when it is not 0 (success) the record has no
    `data_type`/`value`. `value` is an int for fixed-size types (floats as their raw bits), bytes for strings and
    keys, None for `nodata` and for invalid (all-ones length) strings.
    """

    attribute_id: int
    data_type: int | None
    value: int | bytes | None
    status: int | None = None


@dataclass(slots=True)
class ReadAttributes:
    """General command 0x00: the attribute IDs asked for (2 bytes LE each)."""

    attribute_ids: list[int]


@dataclass(slots=True)
class AttributeRecords:
    """General commands 0x01 (records with status), 0x02/0x03/0x05 and 0x0A (id ‖ type ‖ value)."""

    records: list[AttributeRecord]


@dataclass(slots=True)
class WriteStatus:
    """One Write Attributes Response record; a lone success status carries no attribute ID (ZCL §2.5.5)."""

    status: int
    attribute_id: int | None = None


@dataclass(slots=True)
class WriteAttributesResponse:
    """General command 0x04."""

    records: list[WriteStatus]


@dataclass(slots=True)
class DefaultResponse:
    """General command 0x0B: the command answered and a ZCL status."""

    command_id: int
    status: int


ZclGeneral = ReadAttributes | AttributeRecords | WriteAttributesResponse | DefaultResponse


@dataclass(slots=True)
class ZclFrame:
    """ZCL header (frame control, [manufacturer code], sequence, command) and payload.

    `payload` is raw bytes, a decoded general-command record, or None when the component is encrypted (the payload
    is then the component's `ciphered` part; see `decode_plaintext`).
    """

    frame_control: int
    sequence: int
    command_id: int
    payload: bytes | ZclGeneral | None = b""
    manufacturer_code: int | None = None

    @property
    def frame_type(self) -> int:
        return self.frame_control & zcl.FC_FRAME_TYPE_MASK

    @property
    def server_to_client(self) -> bool:
        return bool(self.frame_control & zcl.FC_SERVER_TO_CLIENT)


@dataclass(slots=True)
class CipheredInfo:
    """Encrypted ZCL payload: `31 00000000` ‖ ciphertext ‖ 12-byte tag (GBCS.md §4.4, §5.3).

    `offset` (not compared) is the absolute offset of the ciphertext's first byte when decoded from a frame; the tag
    follows the ciphertext. Decrypt with AAD = the security control byte and IV = originator ‖ 00000000.
    """

    ciphertext: bytes
    tag: bytes
    security_control: int = SECURITY_CONTROL
    invocation_counter: int = 0
    offset: int | None = field(default=None, compare=False)

    @property
    def tag_offset(self) -> int | None:
        return None if self.offset is None else self.offset + len(self.ciphertext)

    @property
    def ciphertext_and_tag(self) -> bytes:
        return self.ciphertext + self.tag


@dataclass(slots=True)
class Component:
    """One GBZ use-case component. `control` keeps every bit as sent; the optional parts follow its bits."""

    control: int
    cluster_id: int
    zcl: ZclFrame
    from_date_time: int | None = None
    additional_header_control: int | None = None
    additional_frame_counter: int | None = None
    ciphered: CipheredInfo | None = None
    offset: int | None = field(default=None, compare=False)

    @property
    def last(self) -> bool:
        return bool(self.control & EHC_LAST)

    @property
    def encrypted(self) -> bool:
        return bool(self.control & EHC_ENCRYPTED)


@dataclass(slots=True)
class GbzPayload:
    """A command or response GBZ payload: `01 09` ‖ count ‖ components (GBCS.md §4.4)."""

    components: list[Component]
    warnings: list[str] = field(default_factory=list, compare=False)


@dataclass(slots=True)
class AlertRaw:
    """Use-case-specific alert bytes with no layout known to this codec (possibly empty)."""

    data: bytes = b""


@dataclass(slots=True)
class AlertComponents:
    """GBZ components following the alert header (e.g. 0x8F0A Billing Data Log Updated, RTDS `NA_GCS53`)."""

    components: list[Component]


@dataclass(slots=True)
class AlertFirmwareHash:
    """0x8F1C/0x8F72: `09` ‖ length ‖ calculated manufacturer image hash (RTDS `NA_FDRA-ZigBee`)."""

    hash: bytes


@dataclass(slots=True)
class AlertFutureDated:
    """0x8F66/0x8F67: `0E` ‖ message code (2) ‖ originator counter (8) ‖ cluster (2) ‖ frame control ‖ command."""

    message_code: int
    originator_counter: int
    cluster_id: int
    frame_control: int
    command_id: int


@dataclass(slots=True)
class AlertDetail:
    """A 2-byte big-endian detail code: 0x81A0 integrity issue warning, 0x8161/0x8162 user interface command."""

    value: int


AlertBody = AlertRaw | AlertComponents | AlertFirmwareHash | AlertFutureDated | AlertDetail


@dataclass(slots=True)
class GbzAlert:
    """A GBZ alert payload: `01 09` ‖ count ‖ alert code ‖ timestamp ‖ use-case-specific part (GBCS.md §4.4).

    `count` is the "number of GBZ components" byte as sent (0 when the alert carries nothing after the timestamp).
    """

    count: int
    alert_code: int
    timestamp: int
    body: AlertBody
    warnings: list[str] = field(default_factory=list, compare=False)


Record = GbzPayload | GbzAlert

# ---------------------------------------------------------------------------------------------------------
# Decoding

_K_NONE, _K_UINT, _K_INT, _K_BOOL, _K_FLOAT, _K_BYTES, _K_STR8, _K_STR16, _K_COLL = range(9)
_KIND_CODES = {"none": _K_NONE, "uint": _K_UINT, "int": _K_INT, "bool": _K_BOOL, "float": _K_FLOAT,
               "bytes": _K_BYTES, "str8": _K_STR8, "str16": _K_STR16, "collection": _K_COLL}
# type id -> (kind, size); 0xFF "unknown" has no defined size, so it cannot be decoded (payload stays raw).
_TYPES: dict[int, tuple[int, int]] = {
    t: (_KIND_CODES[k], s) for t, (_n, k, s) in zcl.DATA_TYPES.items() if t != 0xFF and k != "collection"
}


def _short(base: int, pos: int, field_: str, need: int, have: int) -> DecodeError:
    return DecodeError(base + pos, field_, f"needs {need} byte(s), only {have} left")


def _decode_value(data: bytes, p: int, end: int, dt: int) -> tuple[Any, int] | None:
    """One ZCL attribute value of type `dt` at `p`; None when it does not fit or the type is not handled."""
    info = _TYPES.get(dt)
    if info is None:
        return None
    kind, size = info
    if kind == _K_UINT or kind == _K_BOOL or kind == _K_FLOAT:
        q = p + size
        if q > end:
            return None
        return int.from_bytes(data[p:q], "little"), q
    if kind == _K_INT:
        q = p + size
        if q > end:
            return None
        return int.from_bytes(data[p:q], "little", signed=True), q
    if kind == _K_STR8:
        if p >= end:
            return None
        n = data[p]
        if n == 0xFF:
            return None, p + 1
        q = p + 1 + n
        if q > end:
            return None
        return data[p + 1:q], q
    if kind == _K_STR16:
        if p + 2 > end:
            return None
        n = data[p] | data[p + 1] << 8
        if n == 0xFFFF:
            return None, p + 2
        q = p + 2 + n
        if q > end:
            return None
        return data[p + 2:q], q
    if kind == _K_BYTES:
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
            raise _short(base, pos, f"component[{i}].header", 5, have)
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
                    raise _short(base, p, f"component[{i}].from_date_time", 4, cend - p)
                fdt = from_bytes(data[p:p + 4], "big")
                p += 4
            if ctrl & EHC_ENCRYPTED:
                if cend - p < 2:
                    raise _short(base, p, f"component[{i}].additional_header", 2, cend - p)
                ahc = data[p]
                afc = data[p + 1]
                p += 2
        if cend - p < 3:
            raise _short(base, p, f"component[{i}].zcl_header", 3, cend - p)
        fc = data[p]
        if fc & 0x04:  # manufacturer-specific: 2-byte LE manufacturer code (ZCL 07-5123 §2.4.1.2)
            if cend - p < 5:
                raise _short(base, p, f"component[{i}].zcl_header", 5, cend - p)
            mfr = data[p + 1] | data[p + 2] << 8
            p += 2
        cmd = data[p + 2]
        if ctrl & EHC_ENCRYPTED:
            z = _ZclFrame(fc, data[p + 1], cmd, None, mfr)
            p += 3
            if cend - p < 2:
                raise _short(base, p, f"component[{i}].ciphered_length", 2, cend - p)
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
            comp = _Component(ctrl, data[pos + 1] << 8 | data[pos + 2], z, fdt, ahc, afc, ciph, base + pos)
        else:
            p += 3
            payload = None
            if not fc & 0x07:  # global, not manufacturer-specific: a general command
                payload = _general(data, p, cend, cmd)
            if payload is None:
                payload = data[p:cend]
            comp = _Component(ctrl, data[pos + 1] << 8 | data[pos + 2], _ZclFrame(fc, data[p - 2], cmd, payload, mfr),
                              fdt, ahc, afc, None, base + pos)
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
        raise _short(base, 3, "alert_code", 2, n - 3)
    if n < 9:
        raise _short(base, 5, "timestamp", 4, n - 5)
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
            raise _short(base, p + 1, "firmware_hash.length", 1, 0)
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
            raise _short(base, p + 1, "future_dated", 14, rest - 1)
        if rest > 15:
            raise DecodeError(base + p + 15, "alert", f"{rest - 15} unexpected trailing byte(s)")
        body = AlertFutureDated(data[p + 1] << 8 | data[p + 2], int.from_bytes(data[p + 3:p + 11], "big"),
                                data[p + 11] << 8 | data[p + 12], data[p + 13], data[p + 14])
    elif code in ALERTS_DETAIL:
        if rest != 2:
            if rest < 2:
                raise _short(base, p, "alert_detail", 2, rest)
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
            raise _short(base, 0, "profile_id", 2, n)
        raise _short(base, 2, "count", 1, 0)
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

    The ZCL header stays in the clear (GBCS.md §4.4); the plaintext is the ZCL payload alone (verified by decrypting
    `4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX`). `base` is only used by callers that
    report offsets into the plaintext; this decoder never fails on ZCL content (unparsed payloads stay bytes).
    """
    if type(plaintext) is not bytes:
        plaintext = bytes(plaintext)
    z = component.zcl
    return ZclFrame(z.frame_control, z.sequence, z.command_id,
                    _zcl_payload(plaintext, 0, len(plaintext), z.frame_control, z.command_id), z.manufacturer_code)


def encode_zcl_payload(frame: ZclFrame) -> bytes:
    """The ZCL payload bytes of `frame` (the plaintext to encrypt, or what `decode_plaintext` decoded)."""
    p = frame.payload
    if p is None:
        raise EncodeError("payload", "no plaintext payload (encrypted component)")
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    return _encode_general(p, "payload")


def encrypted_components(record: Record) -> list[Component]:
    """Every encrypted component of a payload or alert, in order (for decryption with `gbcs.crypto`)."""
    comps = record.components if isinstance(record, GbzPayload) else (
        record.body.components if isinstance(record.body, AlertComponents) else [])
    return [c for c in comps if c.ciphered is not None]

# ---------------------------------------------------------------------------------------------------------
# Encoding


def _check_int(v: Any, lo: int, hi: int, field_: str) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise EncodeError(field_, f"must be an integer in {lo}..{hi}, got {v!r}")
    return v


def _check_bytes(v: Any, field_: str) -> bytes:
    if not isinstance(v, (bytes, bytearray)):
        raise EncodeError(field_, f"must be bytes, got {type(v).__name__}")
    return bytes(v)


def _encode_value(dt: int, v: Any, field_: str) -> bytes:
    info = _TYPES.get(dt)
    if info is None:
        raise EncodeError(field_, f"data type 0x{dt:02X} is not supported by this codec")
    kind, size = info
    if kind == _K_UINT or kind == _K_BOOL or kind == _K_FLOAT:
        return _check_int(v, 0, (1 << 8 * size) - 1, field_).to_bytes(size, "little")
    if kind == _K_INT:
        lim = 1 << (8 * size - 1)
        return _check_int(v, -lim, lim - 1, field_).to_bytes(size, "little", signed=True)
    if kind == _K_STR8 or kind == _K_STR16:
        lw = 1 if kind == _K_STR8 else 2
        invalid = (1 << 8 * lw) - 1
        if v is None:
            return invalid.to_bytes(lw, "little")
        b = _check_bytes(v, field_)
        if len(b) >= invalid:
            raise EncodeError(field_, f"string of {len(b)} bytes is too long for a {lw}-byte length")
        return len(b).to_bytes(lw, "little") + b
    if kind == _K_BYTES:
        b = _check_bytes(v, field_)
        if len(b) != size:
            raise EncodeError(field_, f"must be {size} bytes, got {len(b)}")
        return b
    if v is not None:
        raise EncodeError(field_, "a nodata value must be None")
    return b""


def _encode_general(g: ZclGeneral, field_: str) -> bytes:
    out = bytearray()
    if isinstance(g, DefaultResponse):
        out.append(_check_int(g.command_id, 0, 255, field_ + ".command_id"))
        out.append(_check_int(g.status, 0, 255, field_ + ".status"))
    elif isinstance(g, ReadAttributes):
        for k, a in enumerate(g.attribute_ids):
            out += _check_int(a, 0, 0xFFFF, f"{field_}.attribute_ids[{k}]").to_bytes(2, "little")
    elif isinstance(g, AttributeRecords):
        for k, r in enumerate(g.records):
            f = f"{field_}.records[{k}]"
            out += _check_int(r.attribute_id, 0, 0xFFFF, f + ".attribute_id").to_bytes(2, "little")
            if r.status is not None:
                out.append(_check_int(r.status, 0, 255, f + ".status"))
                if r.status:
                    if r.data_type is not None or r.value is not None:
                        raise EncodeError(f, "a record with a failure status carries no type or value")
                    continue
            if r.data_type is None:
                raise EncodeError(f + ".data_type", "missing")
            out.append(_check_int(r.data_type, 0, 255, f + ".data_type"))
            out += _encode_value(r.data_type, r.value, f + ".value")
    elif isinstance(g, WriteAttributesResponse):
        for k, s in enumerate(g.records):
            f = f"{field_}.records[{k}]"
            out.append(_check_int(s.status, 0, 255, f + ".status"))
            if s.attribute_id is None:
                if len(g.records) != 1:
                    raise EncodeError(f + ".attribute_id", "only a lone status record may omit the attribute ID")
            else:
                out += _check_int(s.attribute_id, 0, 0xFFFF, f + ".attribute_id").to_bytes(2, "little")
    else:
        raise EncodeError(field_, f"unsupported payload type {type(g).__name__}")
    return bytes(out)


def _encode_zcl(z: ZclFrame, field_: str, *, encrypted: bool) -> bytes:
    fc = _check_int(z.frame_control, 0, 255, field_ + ".frame_control")
    out = bytearray((fc,))
    if fc & zcl.FC_MANUFACTURER_SPECIFIC:
        if z.manufacturer_code is None:
            raise EncodeError(field_ + ".manufacturer_code", "frame control says manufacturer-specific: code needed")
        out += _check_int(z.manufacturer_code, 0, 0xFFFF, field_ + ".manufacturer_code").to_bytes(2, "little")
    elif z.manufacturer_code is not None:
        raise EncodeError(field_ + ".manufacturer_code", "present but the frame control bit 0x04 is clear")
    out.append(_check_int(z.sequence, 0, 255, field_ + ".sequence"))
    out.append(_check_int(z.command_id, 0, 255, field_ + ".command_id"))
    p = z.payload
    if encrypted:
        if p is not None:
            raise EncodeError(field_ + ".payload", "an encrypted component carries its payload in `ciphered`")
    elif p is None:
        raise EncodeError(field_ + ".payload", "missing (None is only for encrypted components)")
    elif isinstance(p, (bytes, bytearray)):
        out += p
    else:
        out += _encode_general(p, field_ + ".payload")
    return bytes(out)


def _encode_component(c: Component, field_: str) -> bytes:
    ctrl = _check_int(c.control, 0, 255, field_ + ".control")
    body = bytearray()
    if ctrl & EHC_FROM_DATE_TIME:
        if c.from_date_time is None:
            raise EncodeError(field_ + ".from_date_time", "control bit 0x10 is set: a from date-time is needed")
        body += _check_int(c.from_date_time, 0, 0xFFFFFFFF, field_ + ".from_date_time").to_bytes(4, "big")
    elif c.from_date_time is not None:
        raise EncodeError(field_ + ".from_date_time", "present but control bit 0x10 is clear")
    enc = bool(ctrl & EHC_ENCRYPTED)
    if enc:
        if c.additional_header_control is None or c.additional_frame_counter is None or c.ciphered is None:
            raise EncodeError(field_, "control bit 0x02 (encrypted) needs the additional header and `ciphered`")
        body.append(_check_int(c.additional_header_control, 0, 255, field_ + ".additional_header_control"))
        body.append(_check_int(c.additional_frame_counter, 0, 255, field_ + ".additional_frame_counter"))
    elif c.additional_header_control is not None or c.additional_frame_counter is not None \
            or c.ciphered is not None:
        raise EncodeError(field_, "additional header / ciphered part present but control bit 0x02 is clear")
    if not isinstance(c.zcl, ZclFrame):
        raise EncodeError(field_ + ".zcl", "must be a ZclFrame")
    body += _encode_zcl(c.zcl, field_ + ".zcl", encrypted=enc)
    if enc:
        ci = c.ciphered
        ct = _check_bytes(ci.ciphertext, field_ + ".ciphered.ciphertext")
        tag = _check_bytes(ci.tag, field_ + ".ciphered.tag")
        if len(tag) != TAG_LENGTH:
            raise EncodeError(field_ + ".ciphered.tag", f"must be {TAG_LENGTH} bytes, got {len(tag)}")
        clen = SECURITY_HEADER_LENGTH + len(ct) + TAG_LENGTH
        if clen > 0xFFFF:
            raise EncodeError(field_ + ".ciphered.ciphertext", "too long for the 2-byte ciphered length")
        body += clen.to_bytes(2, "big")
        body.append(_check_int(ci.security_control, 0, 255, field_ + ".ciphered.security_control"))
        body += _check_int(ci.invocation_counter, 0, 0xFFFFFFFF,
                           field_ + ".ciphered.invocation_counter").to_bytes(4, "big")
        body += ct
        body += tag
    if len(body) > 0xFFFF:
        raise EncodeError(field_, f"component of {len(body)} bytes exceeds the 2-byte length")
    cl = _check_int(c.cluster_id, 0, 0xFFFF, field_ + ".cluster_id")
    return bytes((ctrl, cl >> 8, cl & 0xFF, len(body) >> 8, len(body) & 0xFF)) + body


def _encode_alert_body(a: GbzAlert) -> bytes:
    b = a.body
    if isinstance(b, AlertRaw):
        return _check_bytes(b.data, "body.data")
    if isinstance(b, AlertComponents):
        return b"".join(_encode_component(c, f"body.components[{k}]") for k, c in enumerate(b.components))
    if isinstance(b, AlertFirmwareHash):
        h = _check_bytes(b.hash, "body.hash")
        if len(h) >= 0x80:
            raise EncodeError("body.hash", "longer than 127 bytes")
        return bytes((OCTET_STRING_TAG, len(h))) + h
    if isinstance(b, AlertFutureDated):
        return bytes((FUTURE_DATED_START,)) \
            + _check_int(b.message_code, 0, 0xFFFF, "body.message_code").to_bytes(2, "big") \
            + _check_int(b.originator_counter, 0, (1 << 64) - 1, "body.originator_counter").to_bytes(8, "big") \
            + _check_int(b.cluster_id, 0, 0xFFFF, "body.cluster_id").to_bytes(2, "big") \
            + bytes((_check_int(b.frame_control, 0, 255, "body.frame_control"),
                     _check_int(b.command_id, 0, 255, "body.command_id")))
    if isinstance(b, AlertDetail):
        return _check_int(b.value, 0, 0xFFFF, "body.value").to_bytes(2, "big")
    raise EncodeError("body", f"unsupported alert body {type(b).__name__}")


def encode(record: Record) -> bytes:
    """Exact inverse of `decode`: the component count and every length are computed from the record."""
    if isinstance(record, GbzPayload):
        comps = record.components
        if len(comps) > 255:
            raise EncodeError("components", f"{len(comps)} components: the count is one byte")
        return b"\x01\x09" + bytes((len(comps),)) + b"".join(
            _encode_component(c, f"components[{k}]") for k, c in enumerate(comps))
    if isinstance(record, GbzAlert):
        return b"\x01\x09" + bytes((_check_int(record.count, 0, 255, "count"),)) \
            + _check_int(record.alert_code, 0, 0xFFFF, "alert_code").to_bytes(2, "big") \
            + _check_int(record.timestamp, 0, 0xFFFFFFFF, "timestamp").to_bytes(4, "big") \
            + _encode_alert_body(record)
    raise EncodeError("record", f"expected GbzPayload or GbzAlert, got {type(record).__name__}")

# ---------------------------------------------------------------------------------------------------------
# JSON


def _hex(b: bytes) -> str:
    return b.hex().upper()


def _value_is_bytes(dt: int | None) -> bool:
    info = _TYPES.get(dt) if dt is not None else None
    return info is not None and info[0] in (_K_STR8, _K_STR16, _K_BYTES)


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
    return _check_int(v, 0, hi, field_ + "." + key)


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
        return ReadAttributes([_check_int(a, 0, 0xFFFF, f"{field_}.read_attributes[{k}]")
                               for k, a in enumerate(_j_list(v, field_ + ".read_attributes"))])
    if key == "attribute_records":
        recs = []
        for k, r in enumerate(_j_list(v, field_ + ".attribute_records")):
            f = f"{field_}.attribute_records[{k}]"
            r = _j_dict(r, f)
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
        for k, s in enumerate(_j_list(v, field_ + ".write_attributes_response")):
            f = f"{field_}.write_attributes_response[{k}]"
            s = _j_dict(s, f)
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
            body = AlertDetail(_check_int(v, 0, 0xFFFF, "body.detail"))
        else:
            raise EncodeError("body", f"unknown alert body kind {key!r}")
        return GbzAlert(_j_int(d, "count", "record", 255), _j_int(d, "alert_code", "record", 0xFFFF),
                        _j_int(d, "timestamp", "record", 0xFFFFFFFF), body)
    raise EncodeError("format", f"expected 'gbz' or 'gbz-alert', got {fmt!r}")

# ---------------------------------------------------------------------------------------------------------
# Explanation


def iso_time(seconds_since_2000: int) -> str:
    """GBZ/ZCL UTC time (seconds since 2000-01-01T00:00:00Z) as ISO 8601."""
    return (_EPOCH_2000 + timedelta(seconds=seconds_since_2000)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _named(value: int, name: str, width: int = 2) -> str:
    return f"0x{value:0{width}X} {name}" if name else f"0x{value:0{width}X}"


def _control_text(ctrl: int) -> str:
    bits = []
    if ctrl & EHC_LAST:
        bits.append("last component")
    if ctrl & EHC_ENCRYPTED:
        bits.append("encrypted")
    if ctrl & EHC_FROM_DATE_TIME:
        bits.append("from date-time present")
    if ctrl & 0xEC:
        bits.append(f"reserved bits 0x{ctrl & 0xEC:02X}")
    return f"0x{ctrl:02X}" + (": " + ", ".join(bits) if bits else "")


def _fc_text(fc: int) -> str:
    ft = fc & zcl.FC_FRAME_TYPE_MASK
    parts = ["global (profile-wide)" if ft == 0 else "cluster-specific" if ft == 1 else f"reserved frame type {ft}"]
    if fc & zcl.FC_MANUFACTURER_SPECIFIC:
        parts.append("manufacturer-specific")
    parts.append("server to client" if fc & zcl.FC_SERVER_TO_CLIENT else "client to server")
    if fc & zcl.FC_DISABLE_DEFAULT_RESPONSE:
        parts.append("default response disabled")
    if fc & 0xE0:
        parts.append(f"reserved bits 0x{fc & 0xE0:02X}")
    return f"0x{fc:02X}: " + ", ".join(parts)


def _status_text(st: int) -> str:
    return _named(st, zcl.STATUS.get(st, ""))


def _value_text(dt: int, v: Any) -> str:
    name, kind, _size = zcl.DATA_TYPES.get(dt, ("?", "?", 0))
    if v is None:
        return "invalid / no data" if kind in ("str8", "str16") else "no data"
    if isinstance(v, (bytes, bytearray)):
        if dt in zcl.CHARACTER_STRINGS:
            return repr(bytes(v).decode("latin-1"))
        return _hex(bytes(v)) or "(empty)"
    if dt == zcl.UTC_TIME:
        return "invalid (0xFFFFFFFF)" if v == 0xFFFFFFFF else f"{iso_time(v)} ({v})"
    if dt == 0x10:
        return {0: "false", 1: "true", 0xFF: "invalid"}.get(v, f"0x{v:02X}")
    if name.startswith(("bitmap", "enum", "data")) or kind == "float" or dt >= 0xE0:
        return f"0x{v:X}"
    return str(v)


def _explain_general(g: ZclGeneral, cluster: int, fc: int, off: int) -> list[Node]:
    nodes: list[Node] = []
    if isinstance(g, DefaultResponse):
        # The answered command went the other way; name it as a cluster-specific one (the GBCS use).
        other = zcl.CLIENT_TO_SERVER if fc & zcl.FC_SERVER_TO_CLIENT else zcl.SERVER_TO_CLIENT
        nodes.append(Node("command id answered", off, 1, _named(g.command_id, other.get(cluster, {}).get(
            g.command_id, ""))))
        nodes.append(Node("status", off + 1, 1, _status_text(g.status)))
    elif isinstance(g, ReadAttributes):
        for k, a in enumerate(g.attribute_ids):
            nodes.append(Node(f"attribute id [{k}]", off + 2 * k, 2, _named(a, zcl.attribute_name(cluster, a), 4)))
    elif isinstance(g, AttributeRecords):
        p = off
        for k, r in enumerate(g.records):
            size = 2 + (r.status is not None)
            rec = Node(f"attribute [{k}]", p, 0, _named(r.attribute_id, zcl.attribute_name(cluster, r.attribute_id),
                                                          4))
            rec.add("attribute id", p, 2, _named(r.attribute_id, zcl.attribute_name(cluster, r.attribute_id), 4))
            q = p + 2
            if r.status is not None:
                rec.add("status", q, 1, _status_text(r.status))
                q += 1
            if r.data_type is not None:
                rec.add("data type", q, 1, _named(r.data_type, zcl.DATA_TYPES.get(r.data_type, ("",))[0]))
                vlen = len(_encode_value(r.data_type, r.value, "value"))
                rec.add("value", q + 1, vlen, _value_text(r.data_type, r.value))
                size += 1 + vlen
            rec.length = size
            rec.value = f"{rec.value} = {_value_text(r.data_type, r.value)}" if r.data_type is not None else \
                f"{rec.value}: {_status_text(r.status or 0)}"
            nodes.append(rec)
            p += size
    elif isinstance(g, WriteAttributesResponse):
        p = off
        for k, s in enumerate(g.records):
            nodes.append(Node(f"status [{k}]", p, 1, _status_text(s.status)))
            p += 1
            if s.attribute_id is not None:
                nodes.append(Node(f"attribute id [{k}]", p, 2,
                                  _named(s.attribute_id, zcl.attribute_name(cluster, s.attribute_id), 4)))
                p += 2
    return nodes


def _explain_zcl_payload(z: ZclFrame, cluster: int, off: int) -> Node:
    p = z.payload
    if isinstance(p, (bytes, bytearray)):
        return Node("ZCL payload", off, len(p), (_hex(bytes(p)) or "(empty)") + " (not decoded)")
    assert p is not None
    raw = _encode_general(p, "payload")
    node = Node("ZCL payload", off, len(raw), zcl.GENERAL_COMMANDS.get(z.command_id, ""))
    node.children.extend(_explain_general(p, cluster, z.frame_control, off))
    return node


def _explain_zcl_header(z: ZclFrame, cluster: int, off: int) -> Node:
    size = 3 + (2 if z.manufacturer_code is not None else 0)
    cname = zcl.command_name(cluster, z.frame_control, z.command_id)
    hdr = Node("ZCL header", off, size, cname)
    hdr.add("frame control", off, 1, _fc_text(z.frame_control))
    q = off + 1
    if z.manufacturer_code is not None:
        hdr.add("manufacturer code", q, 2, f"0x{z.manufacturer_code:04X}")
        q += 2
    hdr.add("transaction sequence number", q, 1, str(z.sequence))
    hdr.add("command id", q + 1, 1, _named(z.command_id, cname))
    return hdr


def _explain_component(c: Component, k: int, off: int) -> Node:
    raw = _encode_component(c, f"components[{k}]")
    cname = zcl.cluster_name(c.cluster_id)
    cmd = zcl.command_name(c.cluster_id, c.zcl.frame_control, c.zcl.command_id)
    node = Node(f"component [{k}]", off, len(raw), " · ".join(x for x in (cname, cmd) if x))
    node.add("extended header control", off, 1, _control_text(c.control))
    node.add("cluster id", off + 1, 2, _named(c.cluster_id, cname, 4))
    node.add("component length", off + 3, 2, str(len(raw) - 5))
    q = off + 5
    if c.from_date_time is not None:
        node.add("from date-time", q, 4, f"{iso_time(c.from_date_time)} (0x{c.from_date_time:08X})")
        q += 4
    if c.ciphered is not None:
        node.add("additional header control", q, 1, f"0x{c.additional_header_control or 0:02X}")
        node.add("additional frame counter", q + 1, 1, str(c.additional_frame_counter))
        q += 2
    hdr = _explain_zcl_header(c.zcl, c.cluster_id, q)
    node.children.append(hdr)
    q += hdr.length
    ci = c.ciphered
    if ci is not None:
        clen = SECURITY_HEADER_LENGTH + len(ci.ciphertext) + TAG_LENGTH
        node.add("ciphered information length", q, 2, str(clen))
        sh = node.add("security header", q + 2, 5, f"{ci.security_control:02X} {ci.invocation_counter:08X}")
        sh.add("security control", q + 2, 1, f"0x{ci.security_control:02X}"
               + (" (payload encryption)" if ci.security_control == SECURITY_CONTROL else " (unexpected)"))
        sh.add("invocation counter", q + 3, 4, f"0x{ci.invocation_counter:08X}")
        node.add("ciphertext (encrypted ZCL payload)", q + 7, len(ci.ciphertext), f"{len(ci.ciphertext)} bytes")
        node.add("tag", q + 7 + len(ci.ciphertext), TAG_LENGTH, _hex(ci.tag))
    else:
        node.children.append(_explain_zcl_payload(c.zcl, c.cluster_id, q))
    return node


def _explain_components(comps: list[Component], off: int) -> list[Node]:
    nodes = []
    for k, c in enumerate(comps):
        n = _explain_component(c, k, off)
        nodes.append(n)
        off += n.length
    return nodes


def explain(record: Record, base: int = 0) -> list[Node]:
    """Named fields with absolute offsets: header bits, cluster and command names, ISO 8601 UTC times, attributes."""
    nodes = [Node("profile id", base, 2, "0x0109 ZigBee Smart Energy")]
    if isinstance(record, GbzPayload):
        nodes.append(Node("number of components", base + 2, 1, str(len(record.components))))
        nodes.extend(_explain_components(record.components, base + 3))
        return nodes
    if not isinstance(record, GbzAlert):
        raise EncodeError("record", f"expected GbzPayload or GbzAlert, got {type(record).__name__}")
    nodes.append(Node("number of components", base + 2, 1, str(record.count)))
    nodes.append(Node("alert code", base + 3, 2, _named(record.alert_code,
                                                          zcl.GBZ_ALERT_CODES.get(record.alert_code, ""), 4)))
    nodes.append(Node("timestamp", base + 5, 4, f"{iso_time(record.timestamp)} (0x{record.timestamp:08X})"))
    off = base + 9
    b = record.body
    if isinstance(b, AlertComponents):
        nodes.extend(_explain_components(b.components, off))
    elif isinstance(b, AlertFirmwareHash):
        n = Node("calculated manufacturer image hash", off, 2 + len(b.hash), _hex(b.hash))
        n.add("tag (octet-string)", off, 1, "0x09")
        n.add("length", off + 1, 1, str(len(b.hash)))
        n.add("hash", off + 2, len(b.hash), _hex(b.hash))
        nodes.append(n)
    elif isinstance(b, AlertFutureDated):
        n = Node("future-dated command", off, 15, zcl.command_name(b.cluster_id, b.frame_control, b.command_id))
        n.add("start", off, 1, "0x0E")
        n.add("message code", off + 1, 2, f"0x{b.message_code:04X}")
        n.add("originator counter", off + 3, 8, str(b.originator_counter))
        n.add("cluster id", off + 11, 2, _named(b.cluster_id, zcl.cluster_name(b.cluster_id), 4))
        n.add("frame control", off + 13, 1, _fc_text(b.frame_control))
        n.add("command id", off + 14, 1, _named(b.command_id, zcl.command_name(b.cluster_id, b.frame_control,
                                                                               b.command_id)))
        nodes.append(n)
    elif isinstance(b, AlertDetail):
        table = ALERTS_DETAIL.get(record.alert_code, {})
        label = "integrity issue warning" if record.alert_code == 0x81A0 else "user interface command" \
            if record.alert_code in (0x8161, 0x8162) else "detail"
        nodes.append(Node(label, off, 2, _named(b.value, table.get(b.value, ""), 4)))
    elif isinstance(b, AlertRaw) and b.data:
        nodes.append(Node("use-case-specific part", off, len(b.data), _hex(b.data) + " (not decoded)"))
    return nodes


def explain_plaintext(component: Component, frame: ZclFrame, base: int = 0) -> list[Node]:
    """Explain a `decode_plaintext` result: the ZCL payload nodes, offsets counted from `base`."""
    return [_explain_zcl_payload(frame, component.cluster_id, base)]
