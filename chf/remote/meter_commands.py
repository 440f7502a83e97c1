"""The remote-party side for meter-bound use cases: build HAN-device commands as the supplier or the ACB.

Shapes are those of the RTDS 4.5.0 meter commands:
- sent by the supplier itself (RTDS 8.7.1_CS03A1, 8.7.2_CS03B SUCCESS, 8.9_CS07 SUCCESS, 11.2_ECS52):
  originator = supplier, other-information = the message code only;
- sent by the ACB for a supplier (8.7.2_CS03A2NonCritical, 8.7.2_CS03B ERROR, 11.2_CS08): originator = ACB,
  other-information = code ‖ supplementary remote party (the supplier) ‖ its counter;
- critical variants are signed by the originator's DS key over the pre-command (every RTDS PRECOMMAND file
  is the signed part of its COMMAND: `DF` … payload), then MAC'd with the ACB↔device key
  (`gbcs.authentication.mac_parties`). ECDSA is randomised, so signed commands differ from RTDS only in the
  signature and the MAC over it.
Each function returns the frame bytes; counters are the caller's (see `chf.remote.commands.CounterFile`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gbcs import asn1, codes, gbz
from gbcs import authentication as auth
from gbcs.axdr import Data
from gbcs.dlms import AccessRequest, RequestSpec, invoke_id_for
from gbcs.errors import EncodeError
from gbcs.frame import Frame, MacHeader
from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField
from gbcs.keys import KeyStore

JOIN_USE_CASES: dict[str, tuple[int, asn1.JoinMethodAndRole]] = {
    "CS03A1": (0x000D, asn1.JoinMethodAndRole.METHOD_A_INITIATOR),
    "CS03A2": (0x00AB, asn1.JoinMethodAndRole.METHOD_A_RESPONDER),
    "CS03B": (0x000E, asn1.JoinMethodAndRole.METHOD_B),
    "CS03C": (0x00AF, asn1.JoinMethodAndRole.METHOD_C),
}
UNJOIN_USE_CASES: dict[str, int] = {"CS04AC": 0x000F, "CS04B": 0x0010}
CS07_CODE = 0x0013
ECS52_CODE = 0x0059
CS08_CODE = 0x0129
GCS38_CODE = 0x0084
FIRMWARE_VERSION_OBIS = "0-0:0.2.1.255"


def device_type(name: str | int) -> asn1.DeviceType:
    """`esme`, `GSME`, `ppmid`, `type2`, or a number → DeviceType (EncodeError otherwise)."""
    if isinstance(name, int):
        try:
            return asn1.DeviceType(name)
        except ValueError:
            raise EncodeError("device type", f"{name} is not a GBCS device type") from None
    key = name.strip().upper().replace("_", "").replace("-", "").replace(" ", "")
    for t in asn1.DeviceType:
        if t.name.replace("_", "") == key:
            return t
    if key.isdigit():
        return device_type(int(key))
    raise EncodeError("device type", f"{name!r} is none of {', '.join(t.name.lower() for t in asn1.DeviceType)}")


@dataclass
class MeterSender:
    """Who sends: `originator` (the supplier by default in `chf send`, as RTDS's critical commands show, or
    the ACB) and, when the ACB sends, `on_behalf_of` (the supplementary remote party)."""

    keys: KeyStore
    originator: bytes
    on_behalf_of: bytes | None = None

    def header(self, device: bytes, code: int, payload: bytes, counter: int,
               supplementary_counter: int | None = None) -> GroupingHeader:
        if self.on_behalf_of is not None:
            sc = counter if supplementary_counter is None else supplementary_counter
            oi = OtherInformation(code, self.on_behalf_of, sc)
        else:
            oi = OtherInformation(code)
        return GroupingHeader(Cra.COMMAND, counter, self.originator, device, oi, payload, None, SignatureField.NULL)

    def precommand(self, device: bytes, code: int, payload: bytes, counter: int,
                   supplementary_counter: int | None = None) -> bytes:
        """The unsigned grouping header (`DF` … payload) a signer signs: an RTDS PRECOMMAND."""
        return self.header(device, code, payload, counter, supplementary_counter).encode_unsigned()

    def command(self, device: bytes, code: int, payload: bytes, counter: int, *, signed: bool | None = None,
                supplementary_counter: int | None = None) -> bytes:
        """The whole command: signed when `signed` (default: the use case has a critical variant), MAC'd.
        Raises KeyNotFoundError when the signing or MAC key is not in the store."""
        h = self.header(device, code, payload, counter, supplementary_counter)
        if codes.is_critical(code) if signed is None else signed:
            auth.sign_header(self.keys, h)
        f = Frame(h, MacHeader())
        auth.apply_mac(self.keys, f)
        return f.encode()


# -- payloads -------------------------------------------------------------------------------------------------
def join_payload(use_case: str, other: bytes, other_type: str | int, certificate: bytes | None = None,
                 method: int | None = None) -> tuple[int, bytes]:
    """(message code, JoinDeviceCommand DER). `method` overrides the use case's method (to test code 1)."""
    try:
        code, default_method = JOIN_USE_CASES[use_case.upper()]
    except KeyError:
        raise EncodeError("use case", f"{use_case!r} is none of {', '.join(JOIN_USE_CASES)}") from None
    value: dict = {"joinMethodAndRole": int(default_method if method is None else method),
                   "otherEntityId": _eui(other), "otherDeviceType": int(device_type(other_type))}
    der = asn1.encode_value("JoinDeviceCommand", value)
    if certificate is not None:  # appended as its exact octets (a Certificate is one DER TLV)
        der = _sequence(der, certificate)
    return code, der


def unjoin_payload(use_case: str, other: bytes) -> tuple[int, bytes]:
    try:
        code = UNJOIN_USE_CASES[use_case.upper()]
    except KeyError:
        raise EncodeError("use case", f"{use_case!r} is none of {', '.join(UNJOIN_USE_CASES)}") from None
    return code, asn1.encode_value("UnjoinDeviceCommand", _eui(other))


def _eui(v: bytes) -> bytes:
    if not isinstance(v, (bytes, bytearray)) or len(v) != 8:
        raise EncodeError("EUI-64", "an entity ID is 8 bytes")
    return bytes(v)


def _sequence(seq_der: bytes, extra: bytes) -> bytes:
    """Append the TLV `extra` to the DER SEQUENCE `seq_der` (re-encoding its length)."""
    n = seq_der[1]
    content = seq_der[2:] if n < 0x80 else seq_der[2 + (n & 0x7F):]
    body = content + extra
    ln = len(body)
    length = bytes([ln]) if ln < 0x80 else bytes([0x80 | ((ln.bit_length() + 7) // 8)]) + \
        ln.to_bytes((ln.bit_length() + 7) // 8, "big")
    return b"\x30" + length + body


# -- one function per use case ----------------------------------------------------------------------------------
def cs03(sender: MeterSender, device: bytes, use_case: str, other: bytes, other_type: str | int, counter: int, *,
         certificate: bytes | None = None, signed: bool | None = None, supplementary_counter: int | None = None,
         method: int | None = None) -> bytes:
    """CS03A1 | CS03A2 | CS03B | CS03C: ask `device` to join `other` (of `other_type`); Method C carries the
    partner's key-agreement `certificate` (RTDS 8.7.1_CS03CCritical)."""
    code, payload = join_payload(use_case, other, other_type, certificate, method)
    return sender.command(device, code, payload, counter, signed=signed, supplementary_counter=supplementary_counter)


def cs04(sender: MeterSender, device: bytes, use_case: str, other: bytes, counter: int, *,
         signed: bool | None = None, supplementary_counter: int | None = None) -> bytes:
    """CS04AC | CS04B: ask `device` to unjoin `other`."""
    code, payload = unjoin_payload(use_case, other)
    return sender.command(device, code, payload, counter, signed=signed, supplementary_counter=supplementary_counter)


def cs07(sender: MeterSender, device: bytes, counter: int, *, supplementary_counter: int | None = None) -> bytes:
    """Read Device Join Details (payload NULL, RTDS 8.9_CS07)."""
    return sender.command(device, CS07_CODE, asn1.encode_value("ReadDeviceJoinDetailsCommand", None), counter,
                          signed=False, supplementary_counter=supplementary_counter)


def ecs52(sender: MeterSender, device: bytes, counter: int, *, supplementary_counter: int | None = None) -> bytes:
    """Read ESME firmware version: DLMS GET 1/0-0:0.2.1.255/2, invoke id 20‖counter (RTDS 11.2_ECS52)."""
    req = AccessRequest(invoke_id_for(counter), [RequestSpec.get(1, FIRMWARE_VERSION_OBIS, 2)], [Data.null()])
    return sender.command(device, ECS52_CODE, req.encode(), counter, signed=False,
                          supplementary_counter=supplementary_counter)


def cs08(sender: MeterSender, device: bytes, counter: int, *, supplementary_counter: int | None = None) -> bytes:
    """Read PPMID/HCALCS firmware version (payload NULL, RTDS 11.2_CS08)."""
    return sender.command(device, CS08_CODE, asn1.encode_value("ReadFirmwareVersionCommand", None), counter,
                          signed=False, supplementary_counter=supplementary_counter)


def gcs38(sender: MeterSender, device: bytes, counter: int, *, supplementary_counter: int | None = None) -> bytes:
    """Read GSME firmware version: GBZ Read Attributes of Metering (0x0702) attribute 0x0206, ZCL sequence 0
    (the GCS38 end-to-end message template, gbcs-use-cases.html; no RTDS vector)."""
    z = gbz.ZclFrame(0x00, 0, 0x00, gbz.ReadAttributes([0x0206]))
    payload = gbz.encode(gbz.GbzPayload([gbz.Component(0x01, 0x0702, z)]))
    return sender.command(device, GCS38_CODE, payload, counter, signed=False,
                          supplementary_counter=supplementary_counter)


def disconnect(sender: MeterSender, device: bytes, counter: int, *, target: bytes | None = None,
               signed: bool = True, supplementary_counter: int | None = None, disconnect_code: int | None = None) -> bytes:
    """SECMP0013 Disconnect Smart Meter from HAN (PROVISIONAL code, gbcs/asn1/disconnect.asn): Critical, signed
    by the supplier; `target` defaults to the meter itself; sent under `disconnect_code` (None: the default,
    `gbcs.asn1.disconnect_message_code`)."""
    code = asn1.disconnect_message_code(disconnect_code)
    payload = asn1.encode_disconnect_command(_eui(device if target is None else target))
    return sender.command(device, code, payload, counter, signed=signed, supplementary_counter=supplementary_counter)


USE_CASES = ("CS03A1", "CS03A2", "CS03B", "CS03C", "CS04AC", "CS04B", "CS07", "DISCONNECT", "ECS52", "GCS38", "CS08")


IDENTITY_READS = {"esme": "ECS52", "gsme": "GCS38", "ppmid": "CS08", "ihd": "CS08", "hcalcs": "CS08"}


def build(sender: MeterSender, device: bytes, use_case: str, counter: int, *, other: bytes | None = None,
          other_type: str | int | None = None, certificate: bytes | None = None,
          meter_type: str | None = None, disconnect_code: int | None = None) -> bytes:
    """Any meter-side use case by name (`chf send`, triage): CS03A1|CS03A2|CS03B|CS03C (`other`, `other_type`,
    `certificate` for Method C), CS04AC|CS04B (`other`), CS07, DISCONNECT (under `disconnect_code`, None: the
    default), ECS52, GCS38, CS08, or IDENTITY (the identity/firmware read of `meter_type`)."""
    uc = use_case.upper()
    if uc == "IDENTITY":
        uc = IDENTITY_READS.get((meter_type or "esme").lower(), "ECS52")
    if uc in JOIN_USE_CASES:
        if other is None or other_type is None:
            raise EncodeError("--other", f"{uc} needs the other device's EUI (--other) and type (--other-type)")
        return cs03(sender, device, uc, other, other_type, counter, certificate=certificate)
    if uc in UNJOIN_USE_CASES:
        if other is None:
            raise EncodeError("--other", f"{uc} needs the EUI of the device to unjoin (--other)")
        return cs04(sender, device, uc, other, counter)
    if uc == "DISCONNECT":
        return disconnect(sender, device, counter, disconnect_code=disconnect_code)
    simple = {"CS07": cs07, "ECS52": ecs52, "GCS38": gcs38, "CS08": cs08}
    if uc in simple:
        return simple[uc](sender, device, counter)
    raise EncodeError("use case", f"{use_case!r} is none of {', '.join(USE_CASES)}")
