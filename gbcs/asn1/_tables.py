"""Code tables of the ASN.1 modules as enums (mirrors of the modules' named numbers; tests check they agree)."""

from __future__ import annotations

from enum import IntEnum


class DeviceType(IntEnum):
    """GBCS device types of join/device-log entries (common.asn DeviceType)."""

    GSME = 0
    ESME = 1
    CHF = 2
    GPF = 3
    HCALCS = 4
    PPMID = 5
    TYPE2 = 6


class JoinMethodAndRole(IntEnum):
    """CS03x joinMethodAndRole (join.asn)."""

    METHOD_A_INITIATOR = 0
    METHOD_A_RESPONDER = 1
    METHOD_B = 2
    METHOD_C = 3


class JoinResponseCode(IntEnum):
    """CS03x / GCS59 join response codes (common.asn JoinResponseCode)."""

    SUCCESS = 0
    INVALID_MESSAGE_CODE_FOR_JOIN_METHOD_AND_ROLE = 1
    INVALID_JOIN_METHOD_AND_ROLE = 2
    INCOMPATIBLE_WITH_EXISTING_ENTRY = 3
    DEVICE_LOG_FULL = 4
    WRITE_FAILURE = 5
    KEY_AGREEMENT_NO_RESOURCES = 6
    KEY_AGREEMENT_UNKNOWN_ISSUER = 7
    KEY_AGREEMENT_UNSUPPORTED_SUITE = 8
    KEY_AGREEMENT_BAD_MESSAGE = 9
    KEY_AGREEMENT_BAD_KEY_CONFIRM = 10
    INVALID_OR_MISSING_CERTIFICATE = 11
    NO_PARTNER_LINK_KEY_RECEIVED = 12
    NO_CBKE_RESPONSE = 13


class UnjoinResponseCode(IntEnum):
    """CS04x unjoin response codes (join.asn UnjoinDeviceResponse)."""

    SUCCESS = 0
    NOT_IN_DEVICE_LOG = 1
    OTHER_FAILURE = 2


class DisconnectResponseCode(IntEnum):
    """PROVISIONAL Disconnect Smart Meter from HAN response codes (disconnect.asn)."""

    SUCCESS = 0
    NOT_JOINED = 1
    OTHER_FAILURE = 2
    ENTITY_ID_MISMATCH = 3


class RemotePartyRole(IntEnum):
    """CS02x remote party roles (security_credentials.asn RemotePartyRole)."""

    ROOT = 0
    RECOVERY = 1
    SUPPLIER = 2
    NETWORK_OPERATOR = 3
    ACCESS_CONTROL_BROKER = 4
    TRANSITIONAL_COS = 5
    WAN_PROVIDER = 6
    ISSUING_AUTHORITY = 7
    LOAD_CONTROLLER = 8
    OTHER = 127
