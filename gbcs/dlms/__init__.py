"""The xDLMS APDUs GBCS carries as payloads (Access-Request `D9`, Access-Response `DA`, Data-Notification `0F`),
by concern: `parts` (tags, constants, specifications), `encode` (one writer per APDU), `records` (the APDUs,
whose `encode()` calls their writer), `decode` (keeping the A-XDR spans), `jsonform`, `protected` (finding the
protected attributes, IC 30 Data protection) and `explain`. The module API follows the payload-codec contract
(`decode`/`encode`/`to_json`/`from_json`/`explain`).
"""

from ..axdr import Data, TypeDesc
from ..errors import DecodeError
from .decode import decode
from .explain import describe_invoke, explain
from .jsonform import from_json, to_json
from .protected import (PROTECTED_ALERTS, PROTECTED_RESPONSES, ProtectedAttributes, ProtectionParameters,
    find_protected, may_be_protected)
from .parts import (ACCESS_REQUEST, ACCESS_RESPONSE, APDU_NAMES, DATA_NOTIFICATION, GBCS_INVOKE_PREFIX,
    PROTECTED_SECURITY_CONTROL, PROTECTED_SECURITY_HEADER_LENGTH, PROTECTED_TAG_LENGTH, RequestSpec, ResponseKind,
    ResponseSpec, SpecKind, invoke_id_for, parse_obis)
from .records import AccessRequest, AccessResponse, DataNotification, Record, encode

__all__ = [
    "ACCESS_REQUEST",
    "ACCESS_RESPONSE",
    "APDU_NAMES",
    "DATA_NOTIFICATION",
    "GBCS_INVOKE_PREFIX",
    "PROTECTED_ALERTS",
    "PROTECTED_RESPONSES",
    "PROTECTED_SECURITY_CONTROL",
    "PROTECTED_SECURITY_HEADER_LENGTH",
    "PROTECTED_TAG_LENGTH",
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
    "decode",
    "describe_invoke",
    "encode",
    "explain",
    "find_protected",
    "from_json",
    "invoke_id_for",
    "may_be_protected",
    "parse_obis",
    "to_json",
]
