"""The GBCS half of an emulated ESME, GSME, PPMID or HCALCS: `handle(frame) -> DeviceOutcome`, sans-I/O.

Implements `zigbee.device_app.DeviceApplication`. Each command is authenticated (`security.Authenticator`),
then dispatched by message code through `HANDLERS` to the use cases its device type serves (`SERVES`);
anything else — undecodable, unauthenticated, replayed, unsupported, a payload of the wrong shape — is
refused: no response, no change but the device's security log. Responses: `security.response`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from chf.core.clock import Clock, SystemClock
from gbcs import asn1, codes, dlms, gbz
from gbcs.asn1 import DeviceType, DisconnectResponseCode
from gbcs.axdr import Data
from gbcs.errors import GbcsError
from gbcs.frame import decode_frame
from gbcs.grouping_header import GroupingHeader
from gbcs.keys import KeyStore
from zigbee.device_app import DeviceOutcome, RadioView
from zigbee.devices.device_log import CS07, JOIN_CODES, UNJOIN_CODES, DeviceLog, JoinRequest
from zigbee.devices.security import Authenticator, Refused, Rejection, certificate_usable, response, signing_key_for

log = logging.getLogger("zigbee.devices")

ECS52 = 0x0059  # Read ESME/Comms Hub Firmware Version (DLMS GET 1/0-0:0.2.1.255/2; RTDS 11.2_ECS52)
CS08 = 0x0129   # Read PPMID/HCALCS Firmware Version (ASN.1; RTDS 11.2_CS08)
GCS38 = 0x0084  # Read GSME Firmware Version (GBZ Read Attributes, Metering 0x0702 attr 0x0206; gbcs-use-cases.html)
METERING_CLUSTER = 0x0702
CURRENT_METER_ID = 0x0206  # Meter Status: CurrentMeterID, "used for current firmware version" (GCS38 template)
ZCL_OCTET_STRING = 0x41
FIRMWARE_VERSION_OBIS = bytes.fromhex("0000000201FF")
DEFAULT_FIRMWARE_VERSION = bytes.fromhex("0123ABCD")  # what every RTDS firmware read returns (11.2_ECS52, 11.2_CS08)

# DLMS data-access-result codes used here (IEC 62056-5-3 Data-Access-Result).
HARDWARE_FAULT = 1
OBJECT_UNDEFINED = 4


class Fault:
    """Injected faults (like the CHF's `--fault`): names of reads that fail. Not GBCS rules — they let a rig
    reproduce the RTDS read-failure responses, which no published rule explains."""

    ECS52 = "ECS52"  # firmware GET answers hardware-fault (RTDS 11.2_ECS52 ERROR)
    CS07 = "CS07"    # Read Device Join Details answers readFailure (RTDS 8.9_CS07 ERROR)
    CS08 = "CS08"    # Read PPMID/HCALCS Firmware Version answers readFailure, version 00000000 (RTDS 11.2_CS08 ERROR)


@dataclass
class SecurityEvent:
    at: datetime
    code: Rejection
    detail: str


@dataclass
class Handled:
    payload: bytes
    divorce: bool = False


Handler = Callable[["HanDeviceApplication", GroupingHeader], Handled]


@dataclass
class HanDeviceApplication:
    """One device's GBCS state: its EUI and type, device log, counters, firmware version, keys."""

    eui: bytes
    device_type: DeviceType
    keys: KeyStore
    remote_parties: dict[bytes, codes.Role]
    clock: Clock = field(default_factory=SystemClock)
    device_log: DeviceLog | None = None
    firmware_version: bytes = DEFAULT_FIRMWARE_VERSION
    faults: frozenset[str] = frozenset()
    counters: dict[bytes, int] = field(default_factory=dict)
    security_log: list[SecurityEvent] = field(default_factory=list)
    disconnect_code: int | None = None  # the provisional Disconnect message code it serves (None: 0xF013)

    def __post_init__(self) -> None:
        self.device_type = DeviceType(self.device_type)
        if self.device_log is None:
            self.device_log = DeviceLog(self.device_type)
        self._signing: tuple[ec.EllipticCurvePrivateKey, bool] | None = None  # read when first needed
        self.disconnect_code = asn1.disconnect_message_code(self.disconnect_code)  # checked once
        self._auth = Authenticator(self.eui, self.keys, self.remote_parties, self.counters, self.disconnect_code)
        self.last_rejection: Refused | None = None
        self._radio: RadioView | None = None
        self._standalone_joined = True  # only without a radio half (the GBCS half tested alone)

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """Its DS private key, read from the key store when it first signs: a bench of thousands of meters does not
        parse thousands of keys at start."""
        if self._signing is None:
            self._signing = signing_key_for(self.keys, self.eui)
        return self._signing[0]

    @property
    def throwaway_signing_key(self) -> bool:
        """Whether `signing_key` is a throw-away key (the store holds none for this device)."""
        self.signing_key  # noqa: B018 - read it
        assert self._signing is not None
        return self._signing[1]

    def attach_radio(self, radio: RadioView) -> None:
        self._radio = radio

    @property
    def joined(self) -> bool:
        """On a SMHAN now: the radio half's state (it joins, re-joins, leaves, divorces); without one, whether a
        Disconnect has succeeded yet."""
        return self._radio.joined if self._radio is not None else self._standalone_joined

    # ---------------------------------------------------------------------------------------------- seam
    def handle(self, frame: bytes) -> DeviceOutcome:
        """Process one GBCS frame from the CHF; garbage and refused commands give an empty outcome."""
        try:
            return self._handle(frame)
        except Refused as r:
            self._refuse(r)
        except GbcsError as e:  # DecodeError, KeyNotFoundError, EncodeError: typed, expected for bad input
            self._refuse(Refused(Rejection.MALFORMED, str(e)))
        except Exception as e:
            log.exception("device %s: unexpected failure", self.eui.hex().upper())
            self._refuse(Refused(Rejection.MALFORMED, f"internal error {e!r}"))
        return DeviceOutcome()

    def snapshot(self) -> dict:
        assert self.device_log is not None
        return {
            "eui": self.eui.hex().upper(),
            "device_type": self.device_type.name,
            "joined": self.joined,
            "firmware_version": self.firmware_version.hex().upper(),
            "device_log": self.device_log.to_json(),
            "counters": {k.hex().upper(): v for k, v in sorted(self.counters.items())},
            "security_log": [{"at": e.at.isoformat(), "code": f"0x{int(e.code):04X}", "detail": e.detail}
                             for e in self.security_log],
            "throwaway_signing_key": self.throwaway_signing_key,
        }

    # ---------------------------------------------------------------------------------------------- pipeline
    def _handle(self, data: bytes) -> DeviceOutcome:
        if not isinstance(data, (bytes, bytearray)):
            raise Refused(Rejection.MALFORMED, f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        frame = decode_frame(data)
        self._auth.check(frame, data)
        h = frame.header
        handler = handler_for(self.device_type, h.message_code, self.disconnect_code)
        if handler is None:
            raise Refused(Rejection.UNSUPPORTED, f"0x{h.message_code:04X} is not served by a {self.device_type.name}")
        # Handlers parse first and change state last, so a Refused/DecodeError leaves everything unchanged.
        done = handler(self, h)
        out = response(self.keys, self.eui, h, done.payload, self.signing_key)
        self._auth.accept(h)
        if done.divorce and self._radio is None:
            self._standalone_joined = False  # with a radio half, the divorce it carries out is the truth
        return DeviceOutcome([out], done.divorce)

    def _refuse(self, r: Refused) -> None:
        self.last_rejection = r
        if r.reason is not Rejection.NOT_FOR_ME:
            self.security_log.append(SecurityEvent(self.clock.now(), r.reason, r.detail))
            del self.security_log[:-100]  # bounded, as a device's security log is
        log.info("device %s refused a frame: %s", self.eui.hex().upper(), r)

    # ---------------------------------------------------------------------------------------------- use cases
    def _join(self, h: GroupingHeader) -> Handled:
        v = asn1.decode_value("JoinDeviceCommand", h.payload, h.offsets.get("payload", 0))
        cert = _certificate_der(h.payload) if "otherCertificate" in v else None
        req = JoinRequest(h.message_code, v["joinMethodAndRole"], v["otherEntityId"], v["otherDeviceType"], cert,
                          cert is not None and certificate_usable(cert))
        assert self.device_log is not None
        return Handled(asn1.encode_value("JoinDeviceResponse", int(self.device_log.join(req))))

    def _unjoin(self, h: GroupingHeader) -> Handled:
        eui = asn1.decode_value("UnjoinDeviceCommand", h.payload, h.offsets.get("payload", 0))
        assert self.device_log is not None
        return Handled(asn1.encode_value("UnjoinDeviceResponse", int(self.device_log.unjoin(eui))))

    def _read_join_details(self, h: GroupingHeader) -> Handled:
        asn1.decode_value("ReadDeviceJoinDetailsCommand", h.payload, h.offsets.get("payload", 0))
        assert self.device_log is not None
        if Fault.CS07 in self.faults:
            return Handled(asn1.encode_value("ReadDeviceJoinDetailsResponse", {"responseCode": 1}))
        return Handled(asn1.encode_value("ReadDeviceJoinDetailsResponse",
                                         {"responseCode": 0, "deviceLogEntries": self.device_log.listing()}))

    def _ecs52(self, h: GroupingHeader) -> Handled:
        req = dlms.decode(h.payload, h.offsets.get("payload", 0))
        if not isinstance(req, dlms.AccessRequest) or len(req.specs) != 1 or len(req.data) != 1:
            raise Refused(Rejection.MALFORMED, "ECS52 needs one GET")
        s = req.specs[0]
        if (int(s.kind), s.class_id, s.obis, s.member) != (int(dlms.SpecKind.GET), 1, FIRMWARE_VERSION_OBIS, 2):
            raise Refused(Rejection.MALFORMED, "ECS52 reads 1/0-0:0.2.1.255/2 only")
        if Fault.ECS52 in self.faults:
            return Handled(dlms.AccessResponse.answer(req, [HARDWARE_FAULT], [None]).encode())
        return Handled(dlms.AccessResponse.answer(req, [0], [Data.octet_string(self.firmware_version)]).encode())

    def _cs08(self, h: GroupingHeader) -> Handled:
        asn1.decode_value("ReadFirmwareVersionCommand", h.payload, h.offsets.get("payload", 0))
        if Fault.CS08 in self.faults:
            value = {"firmwareVersion": bytes(4), "responseCode": 1}
        else:
            value = {"firmwareVersion": self.firmware_version, "responseCode": 0}
        return Handled(asn1.encode_value("ReadFirmwareVersionResponse", value))

    def _gcs38(self, h: GroupingHeader) -> Handled:
        """GCS38 on the GSME: one Read Attributes of Metering 0x0206 → Read Attributes Response with the firmware
        version as a ZCL octet string (the GCS38 end-to-end message template, gbcs-use-cases.html)."""
        req = gbz.decode(h.payload, h.offsets.get("payload", 0))
        comps = req.components if isinstance(req, gbz.GbzPayload) else []
        if len(comps) != 1 or comps[0].encrypted or comps[0].cluster_id != METERING_CLUSTER:
            raise Refused(Rejection.MALFORMED, "GCS38 needs one plain Metering component")
        z = comps[0].zcl
        if z.frame_type != 0 or z.command_id != 0 or not isinstance(z.payload, gbz.ReadAttributes) \
                or z.payload.attribute_ids != [CURRENT_METER_ID]:
            raise Refused(Rejection.MALFORMED, "GCS38 reads attribute 0x0206 only")
        record = gbz.AttributeRecord(CURRENT_METER_ID, ZCL_OCTET_STRING, self.firmware_version, 0)
        answer = gbz.ZclFrame(0x08, z.sequence, 0x01, gbz.AttributeRecords([record]))  # profile-wide, server→client
        return Handled(gbz.encode(gbz.GbzPayload([gbz.Component(0x01, METERING_CLUSTER, answer)])))

    def _disconnect(self, h: GroupingHeader) -> Handled:
        """SECMP0013 Disconnect Smart Meter from HAN (PROVISIONAL code and ASN.1, gbcs/asn1/disconnect.asn):
        Critical, so it arrives here only signed by a supplier. Success asks the radio half to divorce."""
        target = asn1.decode_disconnect_command(h.payload, h.offsets.get("payload", 0))
        if target != self.eui:
            code = DisconnectResponseCode.ENTITY_ID_MISMATCH
        elif not self.joined:
            code = DisconnectResponseCode.NOT_JOINED
        else:
            code = DisconnectResponseCode.SUCCESS
        return Handled(asn1.encode_disconnect_response(int(code)), code is DisconnectResponseCode.SUCCESS)


def _certificate_der(payload: bytes) -> bytes | None:
    """The DER of the 4th element of the JoinDeviceCommand SEQUENCE (its certificate), exact octets."""
    try:
        pos = _header_end(payload, 0)
        for _ in range(3):
            pos = _tlv_end(payload, pos)
        end = _tlv_end(payload, pos)
    except IndexError:
        return None
    return payload[pos:end]


def _header_end(d: bytes, pos: int) -> int:
    """Offset just past the tag and length octets of the TLV at `pos` (single-byte tags: all GBCS uses)."""
    n = d[pos + 1]
    return pos + 2 if n < 0x80 else pos + 2 + (n & 0x7F)


def _tlv_end(d: bytes, pos: int) -> int:
    n = d[pos + 1]
    if n < 0x80:
        length = n
    else:
        length = int.from_bytes(d[pos + 2:pos + 2 + (n & 0x7F)], "big")
    end = _header_end(d, pos) + length
    if end > len(d):
        raise IndexError("TLV runs past the payload")
    return end


HANDLERS: dict[int, Handler] = {
    **{code: HanDeviceApplication._join for code in JOIN_CODES},
    **{code: HanDeviceApplication._unjoin for code in UNJOIN_CODES},
    CS07: HanDeviceApplication._read_join_details,
    ECS52: HanDeviceApplication._ecs52,
    CS08: HanDeviceApplication._cs08,
    GCS38: HanDeviceApplication._gcs38,
}
_METERS = frozenset({DeviceType.ESME, DeviceType.GSME})
_DEVICE_LOG_HOLDERS = frozenset({DeviceType.ESME, DeviceType.GSME, DeviceType.PPMID, DeviceType.HCALCS})
# Which device types serve which use cases (gbcs/message_codes.json "targets": join/unjoin/CS07 on the
# devices keeping a device log, ECS52 on the ESME, GCS38 on the GSME, CS08 on the PPMID/HCALCS; Disconnect on
# meters).
SERVES: dict[int, frozenset[DeviceType]] = {
    **{code: _DEVICE_LOG_HOLDERS for code in (*JOIN_CODES, *UNJOIN_CODES, CS07)},
    ECS52: frozenset({DeviceType.ESME}),
    CS08: frozenset({DeviceType.PPMID, DeviceType.HCALCS}),
    GCS38: frozenset({DeviceType.GSME}),
}


def handler_for(device_type: DeviceType, code: int, disconnect_code: int | None = None) -> Handler | None:
    """The handler of `code` on this device type; `disconnect_code` is the provisional Disconnect message code
    (None: the default, `gbcs.asn1.disconnect_message_code`)."""
    if code == asn1.disconnect_message_code(disconnect_code):
        return HanDeviceApplication._disconnect if device_type in _METERS else None
    if device_type not in SERVES.get(code, frozenset()):
        return None
    return HANDLERS.get(code)
