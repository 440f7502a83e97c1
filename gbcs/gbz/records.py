"""GBZ records: ZigBee Smart Energy use-case components and GBZ alerts (ZigBee Smart Energy profile 0x0109 as GBCS carries it).

A GBZ payload is `01 09` (ZSE profile) ‖ number of components ‖ components; each component is
extended-header control ‖ cluster ID (2, BE) ‖ length (2, BE) ‖ [from date-time (4, BE, s since 2000)] ‖
[additional-header control ‖ additional frame counter, when encrypted] ‖ ZCL header ‖ ZCL payload (LE fields) or,
when encrypted, ciphered-information length (2) ‖ `31 00000000` ‖ ciphertext ‖ 12-byte tag. A GBZ alert (CRA = 3)
is `01 09` ‖ count ‖ alert code (2) ‖ timestamp (4) ‖ use-case-specific part (layouts confirmed
on every RTDS GBZ payload and against `wireshark/wireshark: …/packet-gbcs.c` `dissect_gbcs_gbz`).

ZCL payloads of the general commands Read Attributes (0x00), Read Attributes Response (0x01), Write Attributes
(0x02/0x03/0x05), Write Attributes Response (0x04), Report Attributes (0x0A) and Default Response (0x0B) are
decoded into records; every other ZCL payload (and any general payload that does not parse) stays raw bytes, so a
well-formed component never fails because of its ZCL content and always re-encodes byte-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .. import zcl

PROFILE_ID = 0x0109
CRA_ALERT = 3
SECURITY_CONTROL = 0x31  # payload-encryption security control byte (gbcs-parser src/zigbee.ts)
SECURITY_HEADER_LENGTH = 5  # security control ‖ 4-byte invocation counter
TAG_LENGTH = 12
FUTURE_DATED_START = 0x0E  # 8F66/8F67 block: 0E ‖ message code ‖ counter ‖ cluster ‖ frame control ‖ command
OCTET_STRING_TAG = 0x09  # 8F1C/8F72 hash is a DLMS-style octet-string: 09 ‖ length ‖ hash

EHC_LAST = zcl.EHC_LAST_COMPONENT
EHC_ENCRYPTED = zcl.EHC_ENCRYPTED
EHC_FROM_DATE_TIME = zcl.EHC_FROM_DATE_TIME

# Alert codes whose use-case-specific part has a defined layout (`wireshark/wireshark: …/packet-gbcs.c`
# `dissect_gbcs_gbz`; wireshark packet-gbcs.c; RTDS `NA_FDRA-ZigBee`, `NA_GCS53`, `NA_MIIWA-ZigBee`, `*_8F66_FUTURE_DATED_*`).
ALERTS_FIRMWARE_HASH = frozenset((0x8F1C, 0x8F72))
ALERTS_FUTURE_DATED = frozenset((0x8F66, 0x8F67))
ALERTS_COMPONENTS = frozenset((0x8F0A,))
ALERTS_DETAIL = {0x81A0: zcl.INTEGRITY_ISSUE_WARNINGS, 0x8161: zcl.USER_INTERFACE_COMMANDS,
                 0x8162: zcl.USER_INTERFACE_COMMANDS}


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
    """Encrypted ZCL payload: `31 00000000` ‖ ciphertext ‖ 12-byte tag (wireshark packet-gbcs.c; gbcs-parser src/crypto.ts).

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
    offset: int | None = field(default=None, compare=False)  # absolute offset of the control byte (decoded)
    end: int | None = field(default=None, compare=False)  # absolute offset after the component (decoded)

    @property
    def last(self) -> bool:
        return bool(self.control & EHC_LAST)

    @property
    def encrypted(self) -> bool:
        return bool(self.control & EHC_ENCRYPTED)


@dataclass(slots=True)
class GbzPayload:
    """A command or response GBZ payload: `01 09` ‖ count ‖ components (wireshark packet-gbcs.c)."""

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
    """A GBZ alert payload: `01 09` ‖ count ‖ alert code ‖ timestamp ‖ use-case-specific part (wireshark packet-gbcs.c).

    `count` is the "number of GBZ components" byte as sent (0 when the alert carries nothing after the timestamp).
    """

    count: int
    alert_code: int
    timestamp: int
    body: AlertBody
    warnings: list[str] = field(default_factory=list, compare=False)


Record = GbzPayload | GbzAlert


class ValueKind(IntEnum):
    """How a ZCL attribute value is laid out (ZCL 07-5123 §2.6.2 data types, as `zcl.DATA_TYPES` names them)."""

    NONE = 0
    UINT = 1
    INT = 2
    BOOL = 3
    FLOAT = 4
    BYTES = 5
    STR8 = 6
    STR16 = 7
    COLLECTION = 8


_KIND_CODES = {"none": ValueKind.NONE, "uint": ValueKind.UINT, "int": ValueKind.INT, "bool": ValueKind.BOOL,
               "float": ValueKind.FLOAT, "bytes": ValueKind.BYTES, "str8": ValueKind.STR8, "str16": ValueKind.STR16,
               "collection": ValueKind.COLLECTION}
# type id -> (kind, size); 0xFF "unknown" has no defined size, so it cannot be decoded (payload stays raw).
VALUE_TYPES: dict[int, tuple[int, int]] = {
    t: (int(_KIND_CODES[k]), s) for t, (_n, k, s) in zcl.DATA_TYPES.items() if t != 0xFF and k != "collection"
}


def value_size(dt: int, v: object) -> int:
    """Bytes a decoded attribute value of type `dt` takes on the wire (strings: length prefix + bytes)."""
    kind, size = VALUE_TYPES[dt]
    if kind == ValueKind.STR8:
        return 1 + (len(v) if isinstance(v, bytes | bytearray) else 0)
    if kind == ValueKind.STR16:
        return 2 + (len(v) if isinstance(v, bytes | bytearray) else 0)
    return size
