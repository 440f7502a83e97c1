"""Which ASN.1 type a payload has, by (message code, CRA flag), and the provisional Disconnect message code.

The Disconnect code is a parameter (`disconnect_code`, None = DEFAULT_DISCONNECT_MESSAGE_CODE) of every function
that needs it, never process-wide state: callers with different codes can share one process.

The table follows the dispatch of `SmartDCCInnovation/gbcs-parser: src/parser.ts` `parsePayload` (GBCS
§4.1)
extended with the codes that occur only in RTDS 4.5.0 (CS02f 0x011B, CS02g 0x0124-0x0126, CS09 0x012B).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMAND, RESPONSE, ALERT = 1, 2, 3  # GBCS CRA flag values (gbcs-parser src/parser.ts)


@dataclass(frozen=True, slots=True)
class UseCase:
    """An ASN.1 use case: its name and the module type of its command, response and alert payloads."""

    name: str
    command: str | None = None
    response: str | None = None
    alert: str | None = None

    def type_for(self, cra: int) -> str | None:
        return {COMMAND: self.command, RESPONSE: self.response, ALERT: self.alert}.get(cra)


_CS02A = UseCase(
    "CS02a", "ProvideSecurityCredentialDetailsCommand", "ProvideSecurityCredentialDetailsResponse"
)
_CS02F = UseCase(
    "CS02f", "ProvideSecurityCredentialDetailsCommand", "ProvideSecurityCredentialDetailsResponse"
)
_CS02B = UseCase("CS02b", "UpdateSecurityCredentialsCommand", "UpdateSecurityCredentialsResponse")
_CS02G = UseCase("CS02g", "UpdateSecurityCredentialsCommand", "UpdateSecurityCredentialsResponse")
_JOIN = ("JoinDeviceCommand", "JoinDeviceResponse")
_UNJOIN = ("UnjoinDeviceCommand", "UnjoinDeviceResponse")

USE_CASES: dict[int, UseCase] = {
    0x0008: _CS02A,
    0x000A: UseCase("CS02c", "IssueSecurityCredentialsCommand", "IssueSecurityCredentialsResponse"),
    0x000B: UseCase("CS02d", "UpdateDeviceCertificateCommand", "UpdateDeviceCertificateResponse"),
    0x000C: UseCase("CS02e", "ProvideDeviceCertificateCommand", "ProvideDeviceCertificateResponse"),
    0x000D: UseCase("CS03A1", *_JOIN),
    0x000E: UseCase("CS03B", *_JOIN),
    0x000F: UseCase("CS04AC", *_UNJOIN),
    0x0010: UseCase("CS04B", *_UNJOIN),
    0x0012: UseCase("CS06", "ActivateFirmwareCommand", "ActivateFirmwareResponse"),
    0x0013: UseCase("CS07", "ReadDeviceJoinDetailsCommand", "ReadDeviceJoinDetailsResponse"),
    0x007F: UseCase("GCS28", "SetClockCommand", "SetClockResponse"),
    0x008C: UseCase("GCS59", "GpfDeviceLogRestoreCommand", "GpfDeviceLogRestoreResponse"),
    0x00AB: UseCase("CS03A2", *_JOIN),
    0x00AF: UseCase("CS03C", *_JOIN),
    0x00B2: UseCase("GCS62", alert="GpfDeviceLogBackupAlert"),
    0x00CA: UseCase("CS06", alert="ActivateFirmwareAlert"),
    0x00CB: UseCase("CS02b", alert="UpdateSecurityCredentialsAlert"),
    0x011B: _CS02F,
    0x0124: UseCase("CS02g", alert="UpdateSecurityCredentialsAlert"),
    0x0125: _CS02G,
    0x0126: _CS02G,
    0x0128: UseCase("CCS08", alert="FirmwareTransferAlert"),
    0x0129: UseCase(
        "CS08", "ReadFirmwareVersionCommand", "ReadFirmwareVersionResponse", "FirmwareVersionAlert"
    ),
    0x012B: UseCase("CS09", alert="FirmwareVersionAlert"),
}
for _code in range(0x0100, 0x010A):
    USE_CASES[_code] = _CS02B

DISCONNECT = UseCase("Disconnect", "DisconnectFromHANCommand", "DisconnectFromHANResponse")

# Every message code of message_codes.json (240 codes), as inclusive ranges: the provisional Disconnect code must
# not collide with any of them.
GBCS_CODE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0001, 0x0004),
    (0x0007, 0x0008),
    (0x000A, 0x0010),
    (0x0012, 0x0015),
    (0x0018, 0x0030),
    (0x0033, 0x0040),
    (0x0042, 0x0055),
    (0x0058, 0x005A),
    (0x005E, 0x0062),
    (0x0067, 0x0069),
    (0x006B, 0x0079),
    (0x007B, 0x0089),
    (0x008B, 0x008D),
    (0x0090, 0x0090),
    (0x0092, 0x0094),
    (0x0096, 0x0097),
    (0x009B, 0x009B),
    (0x009D, 0x00A3),
    (0x00AB, 0x00B0),
    (0x00B2, 0x00C7),
    (0x00C9, 0x00CF),
    (0x00D1, 0x00D5),
    (0x00D7, 0x00DB),
    (0x00DE, 0x00DE),
    (0x00EA, 0x00F2),
    (0x00F9, 0x00FE),
    (0x0100, 0x0126),
    (0x0128, 0x012B),
    (0x1000, 0x1001),
)


_GBCS_CODES = frozenset(c for lo, hi in GBCS_CODE_RANGES for c in range(lo, hi + 1))


def is_gbcs_code(code: int) -> bool:
    """True when `code` is a message code listed in message_codes.json"""
    return code in _GBCS_CODES


# PROVISIONAL: SECMP0013 "Disconnect Smart Meter from HAN" has no published message code.  0xF013 ("F" for a
# private, non-GBCS range, "013" for SECMP0013) lies far above every GBCS code (highest 0x1001, message_codes.json).
DEFAULT_DISCONNECT_MESSAGE_CODE = 0xF013


def check_code(code: object, source: str) -> int:
    """`code` when it can be the provisional Disconnect code: an int, 2 octets, no message_codes.json code;
    TypeError or ValueError (naming `source`) otherwise."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"{source}: message code must be an int, got {code!r}")
    if not 0 < code <= 0xFFFF:
        raise ValueError(f"{source}: message code 0x{code:X} is not a 2-octet code")
    if is_gbcs_code(code) or code in USE_CASES:
        raise ValueError(f"{source}: 0x{code:04X} is a GBCS message code (message_codes.json)")
    return code


def disconnect_message_code(disconnect_code: int | None = None) -> int:
    """The provisional Disconnect message code to use: `disconnect_code` or, when None,
    DEFAULT_DISCONNECT_MESSAGE_CODE.

    Raises TypeError for a non-int, ValueError for a value that is not a 2-octet code or that collides with a
    message_codes.json code (`check_code`).
    """
    return DEFAULT_DISCONNECT_MESSAGE_CODE if disconnect_code is None else check_code(disconnect_code, "disconnect_code")


def use_case(message_code: int | None, disconnect_code: int | None = None) -> UseCase | None:
    """The ASN.1 use case of `message_code`, or None; `disconnect_code` is the provisional Disconnect code
    (None: the default; see `disconnect_message_code`)."""
    code = disconnect_message_code(disconnect_code)
    if message_code is None:
        return None
    found = USE_CASES.get(message_code)
    if found is None and message_code == code:
        return DISCONNECT
    return found


def candidate_types(message_code: int | None, cra: int | None, disconnect_code: int | None = None) -> list[str]:
    """Module types to try for a payload, most specific first (all of the use case's types if cra is None);
    `disconnect_code` as for `use_case`."""
    uc = use_case(message_code, disconnect_code)
    if uc is None:
        return []
    if cra is not None:
        t = uc.type_for(int(cra))
        return [t] if t else []
    return [t for t in (uc.command, uc.response, uc.alert) if t]
