"""The RTDS HAN as data: the HAN devices the DCC RTDS 4.5.0 frames address, their types and device logs.

Every fact cites the RTDS file it comes from (directory names under RTDS-4.5.0/; docs/rtds-rig.md explains
the derivation). RTDS runs each use case as its own test, so no single sequence of frames describes a
device; the rig's initial device log is therefore what the frames show present:
- a full listing where RTDS reads one (the GSME: 8.9_CS07 SUCCESS RESPONSE) — authoritative, nothing added;
- elsewhere, the partner of every SUCCESS unjoin (present before it) and of every SUCCESS join (present
  after it; a re-sent join of it succeeds, MP178), in the order of the RTDS originator counters.
Types of partners not joined in RTDS come from the one frame that states them (8.9_CS07 SUCCESS RESPONSE).
Fed to a fresh rig device, each listed RTDS command then gets the RTDS response through the GBCS rules of
`device_log` alone; the read failures (8.9_CS07 ERROR, 11.2_ECS52 ERROR, 11.2_CS08 ERROR) follow no rule we
can cite and are reproduced only with an injected `Fault`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chf.core.clock import Clock, SystemClock
from gbcs import codes
from gbcs.asn1 import DeviceType
from gbcs.keys import ACB_EUI, KeyStore
from zigbee.devices.application import DEFAULT_FIRMWARE_VERSION, HanDeviceApplication
from zigbee.devices.device_log import DeviceLog, Entry

SUPPLIER = bytes.fromhex("90B3D51F30010000")  # originator of the RTDS critical commands (e.g. 8.7.1_CS03A1)
ACB = ACB_EUI  # 90B3D51F30000002: originator of the RTDS commands with a supplementary remote party
CHF = bytes.fromhex("00DB1234567890A2")  # the RTDS hub (8.11_CCS01 target)
ESME = bytes.fromhex("00DB1234567890A0")
GSME = bytes.fromhex("00DB1234567890A1")
PPMID = bytes.fromhex("00DB1234567890A4")
HCALCS = bytes.fromhex("00DB1234567890A5")


@dataclass(frozen=True)
class RigEntry:
    eui: bytes
    device_type: DeviceType
    source: str  # the RTDS file(s) showing this entry


@dataclass(frozen=True)
class RigDevice:
    eui: bytes
    device_type: DeviceType
    type_source: str
    log: tuple[RigEntry, ...]
    firmware_version: bytes = DEFAULT_FIRMWARE_VERSION
    firmware_source: str = "default (no RTDS firmware read of this device)"


def _e(hex_eui: str) -> bytes:
    return bytes.fromhex(hex_eui)


_CS07 = "8.9_CS07/CS07_8.9_SUCCESS_RESPONSE_GBCS.HEX"

DEVICES: tuple[RigDevice, ...] = (
    RigDevice(
        ESME, DeviceType.ESME,
        "11.2_ECS52 (Read ESME firmware version, addressed to it); 8.7.1_CS03A1 (Method A Join (Meter))",
        (
            RigEntry(_e("00DB123456789099"), DeviceType.GPF,
                     "8.8.1_CS04ACCritical SUCCESS (unjoined with success at counter 1001: present); type: " + _CS07),
            RigEntry(_e("00DB12345678909A"), DeviceType.HCALCS,
                     "8.7.1_CS03A1 SUCCESS (joined as HCALCS at counter 1000; the ERROR command at 1002 meets it)"),
        ),
        bytes.fromhex("0123ABCD"), "11.2_ECS52 SUCCESS RESPONSE",
    ),
    RigDevice(
        GSME, DeviceType.GSME,
        "8.7.2_CS03B (Method B join with a GPF); NA_PCS02 (Activate Emergency Credit on GSME from PPMID)",
        (
            RigEntry(_e("0102030405060708"), DeviceType.GPF, _CS07 + " (also 8.8.2_CS04B SUCCESS)"),
            RigEntry(_e("00DB123456789099"), DeviceType.GPF, _CS07),
            RigEntry(_e("00DB123456789097"), DeviceType.PPMID, _CS07),
        ),
    ),
    RigDevice(
        PPMID, DeviceType.PPMID,
        "NA_PCS02 (it originates Activate Emergency Credit on GSME from PPMID); 11.2_CS08 SUCCESS",
        (
            RigEntry(_e("0102030405060708"), DeviceType.GPF,
                     "8.8.2_CS04ACNonCritical SUCCESS (unjoined with success at counter 1300); type: " + _CS07),
            RigEntry(_e("00DB123456789093"), DeviceType.ESME,
                     "8.7.2_CS03A2NonCritical SUCCESS (joined as ESME at counter 1300)"),
            RigEntry(_e("00DB123456789094"), DeviceType.GSME,
                     "8.7.2_CS03CNonCritical SUCCESS (joined as GSME at counter 1301)"),
        ),
        bytes.fromhex("0123ABCD"), "11.2_CS08 SUCCESS RESPONSE",
    ),
    RigDevice(
        HCALCS, DeviceType.HCALCS,
        "11.2_CS08 (Read PPMID/HCALCS Firmware Version) and 8.7.1_CS03A2Critical (Method A Join (non Meter)) "
        "address it; the PPMID is 00DB1234567890A4, so this is taken to be the HCALCS (inference)",
        (
            RigEntry(_e("00DB123456789093"), DeviceType.ESME,
                     "8.7.1_CS03A2Critical SUCCESS (joined as ESME at counter 1000)"),
        ),
    ),
)

BY_EUI: dict[bytes, RigDevice] = {d.eui: d for d in DEVICES}


def remote_parties() -> dict[bytes, codes.Role]:
    """The remote parties RTDS devices hear from: the supplier (critical commands) and the ACB."""
    return {SUPPLIER: codes.Role.SUPPLIER, ACB: codes.Role.ACCESS_CONTROL_BROKER}


def build_device(eui: bytes, keys: KeyStore, clock: Clock | None = None,
                 faults: frozenset[str] = frozenset(), disconnect_code: int | None = None) -> HanDeviceApplication:
    """A fresh rig device (KeyError for an EUI the rig does not hold); `disconnect_code` as HanDeviceApplication's."""
    spec = BY_EUI[eui]
    log = DeviceLog(spec.device_type, [Entry(e.eui, e.device_type) for e in spec.log])
    return HanDeviceApplication(spec.eui, spec.device_type, keys, remote_parties(), clock or SystemClock(), log,
                                spec.firmware_version, faults, disconnect_code=disconnect_code)


def build_rig(keys: KeyStore, clock: Clock | None = None,
              faults: dict[bytes, frozenset[str]] | None = None) -> dict[bytes, HanDeviceApplication]:
    """Every rig device, fresh, by EUI."""
    return {d.eui: build_device(d.eui, keys, clock, (faults or {}).get(d.eui, frozenset())) for d in DEVICES}
