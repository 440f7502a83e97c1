"""A HAN device's own device log (the partners it may talk to) and the GBCS join/unjoin rules, as tables.

GBCS section 13.7 (join and unjoin processing; not public) defines the methods; the use-case titles
(gbcs-use-cases.html: CS03A1 "Method A Join (Meter)", CS03A2 "Method A Join (non Meter)", CS03B, CS03C,
CS04AC "Method A or C Unjoin", CS04B) and the RTDS 4.5.0 frames (dirs 8.7.1_CS03A1 … 8.8.2_CS04B) show
which device plays which role with which partner. Response codes are the ASN.1 JoinResponseCode /
UnjoinDeviceResponse values (gbcs/asn1/common.asn, join.asn).

Rules, in the order a device applies them (command checks first, then the log):
1. the message code must match the join method and role (CS03A1 ↔ Method A initiator, CS03A2 ↔ Method A
   responder, CS03B ↔ Method B, CS03C ↔ Method C), else 1;
2. (own type, method and role, partner type) must be in `VALID_JOINS`, else 2 (RTDS 8.7.2_CS03B ERROR: a
   GSME asked to join a PPMID by Method B);
3. Method C needs the partner's key-agreement certificate, else 11 (RTDS 8.7.2_CS03CNonCritical ERROR);
4. an entry for the partner already present: same partner type → success, nothing changes (MP178: a
   re-sent join succeeds; no inventory anywhere may refuse it); another type → 3 (RTDS 8.7.1_CS03A1 ERROR:
   the ESME holds 00DB12345678909A as an HCALCS and is asked to join it as a PPMID);
5. no room → 4; otherwise the entry is added → 0.
Unjoin (CS04AC and CS04B alike): present → removed, 0; absent → 1 "not in device log" (RTDS 8.8.1_CS04AC
ERROR, 8.8.2_CS04B ERROR). We do not refuse an unjoin whose method family differs from the entry's: RTDS
unjoins by CS04AC entries whose partner type only Method B would join, and no public rule says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gbcs.asn1 import DeviceType, JoinMethodAndRole, JoinResponseCode, UnjoinResponseCode

# Message codes of the join use cases and the one method/role each carries (GBCS use-case titles).
CS03A1, CS03A2, CS03B, CS03C = 0x000D, 0x00AB, 0x000E, 0x00AF
CS04AC, CS04B, CS07 = 0x000F, 0x0010, 0x0013
JOIN_CODES: dict[int, JoinMethodAndRole] = {
    CS03A1: JoinMethodAndRole.METHOD_A_INITIATOR,
    CS03A2: JoinMethodAndRole.METHOD_A_RESPONDER,
    CS03B: JoinMethodAndRole.METHOD_B,
    CS03C: JoinMethodAndRole.METHOD_C,
}
UNJOIN_CODES = frozenset({CS04AC, CS04B})

_A_INIT, _A_RESP = JoinMethodAndRole.METHOD_A_INITIATOR, JoinMethodAndRole.METHOD_A_RESPONDER
_B, _C = JoinMethodAndRole.METHOD_B, JoinMethodAndRole.METHOD_C
# (own type, method and role) -> partner types it may join. Method A: a meter (initiator) with a Type 1
# non-meter (responder) — RTDS 8.7.1_CS03A1 (ESME + HCALCS), 8.7.1_CS03A2Critical (HCALCS + ESME),
# 8.7.2_CS03A2NonCritical (PPMID + ESME). Method B: GSME with GPF — 8.7.2_CS03B SUCCESS. Method C: GSME with
# PPMID by certificate (the GSME sleeps, so no live key establishment) — 8.7.1_CS03CCritical (GSME + PPMID),
# 8.7.2_CS03CNonCritical (PPMID + GSME). Pairs beyond these are our reading of the method names.
VALID_JOINS: dict[tuple[DeviceType, JoinMethodAndRole], frozenset[DeviceType]] = {
    (DeviceType.ESME, _A_INIT): frozenset({DeviceType.PPMID, DeviceType.HCALCS}),
    (DeviceType.GSME, _B): frozenset({DeviceType.GPF}),
    (DeviceType.GSME, _C): frozenset({DeviceType.PPMID}),
    (DeviceType.GPF, _B): frozenset({DeviceType.GSME}),
    (DeviceType.PPMID, _A_RESP): frozenset({DeviceType.ESME}),
    (DeviceType.PPMID, _C): frozenset({DeviceType.GSME}),
    (DeviceType.HCALCS, _A_RESP): frozenset({DeviceType.ESME}),
}

# Our default, not a GBCS figure: GBCS sets no public device-log size for meters or PPMIDs.
DEFAULT_CAPACITY = 16


@dataclass(frozen=True)
class JoinRequest:
    """A CS03x command as the device sees it. `certificate` is the partner's DER certificate (Method C) and
    `certificate_ok` whether it passed the device's checks (`check_certificate`)."""

    message_code: int
    method: int
    other: bytes
    other_type: int
    certificate: bytes | None = None
    certificate_ok: bool = False


@dataclass
class Entry:
    """One device-log entry: the partner's EUI-64, its device type and the join method that added it."""

    eui: bytes
    device_type: DeviceType
    method: JoinMethodAndRole | None = None  # None: entry from the rig's initial state (method not shown)

    def to_json(self) -> dict:
        return {"eui": self.eui.hex().upper(), "device_type": self.device_type.name,
                "method": None if self.method is None else self.method.name}


@dataclass
class DeviceLog:
    """The device log of one HAN device (`own_type`), in join order (CS07 lists it in this order)."""

    own_type: DeviceType
    entries: list[Entry] = field(default_factory=list)
    capacity: int = DEFAULT_CAPACITY

    def find(self, eui: bytes) -> Entry | None:
        return next((e for e in self.entries if e.eui == eui), None)

    def check_join(self, req: JoinRequest) -> JoinResponseCode:
        """The response code the join would get, without changing anything (rules 1–5 of the module text)."""
        expected = JOIN_CODES.get(req.message_code)
        if expected is None or req.method != expected:
            return JoinResponseCode.INVALID_MESSAGE_CODE_FOR_JOIN_METHOD_AND_ROLE
        try:
            other_type = DeviceType(req.other_type)
        except ValueError:
            return JoinResponseCode.INVALID_JOIN_METHOD_AND_ROLE
        if other_type not in VALID_JOINS.get((self.own_type, expected), frozenset()):
            return JoinResponseCode.INVALID_JOIN_METHOD_AND_ROLE
        if expected is _C and (req.certificate is None or not req.certificate_ok):
            return JoinResponseCode.INVALID_OR_MISSING_CERTIFICATE
        present = self.find(req.other)
        if present is not None:
            if present.device_type != other_type:
                return JoinResponseCode.INCOMPATIBLE_WITH_EXISTING_ENTRY
            return JoinResponseCode.SUCCESS  # MP178: a re-sent join of a present device succeeds
        if len(self.entries) >= self.capacity:
            return JoinResponseCode.DEVICE_LOG_FULL
        return JoinResponseCode.SUCCESS

    def join(self, req: JoinRequest) -> JoinResponseCode:
        """Apply a join; the log changes only on success of a device not yet present."""
        code = self.check_join(req)
        if code is JoinResponseCode.SUCCESS and self.find(req.other) is None:
            self.entries.append(Entry(req.other, DeviceType(req.other_type), JoinMethodAndRole(req.method)))
        return code

    def unjoin(self, eui: bytes) -> UnjoinResponseCode:
        """CS04AC / CS04B: remove the partner, or 1 when it is not in the log (never an inventory check)."""
        e = self.find(eui)
        if e is None:
            return UnjoinResponseCode.NOT_IN_DEVICE_LOG
        self.entries.remove(e)
        return UnjoinResponseCode.SUCCESS

    def listing(self) -> list[dict]:
        """The CS07 DeviceLogEntries value."""
        return [{"deviceId": e.eui, "deviceType": int(e.device_type)} for e in self.entries]

    def to_json(self) -> list[dict]:
        return [e.to_json() for e in self.entries]
