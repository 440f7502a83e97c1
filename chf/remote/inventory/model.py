"""What the inventory mirror holds per device: SMI status, device kind, the CHF it is Associated with, MPxN links.

The Smart Metering Inventory records, per Device, its Device Type and ID, "for Devices other than Type 2 Devices,
its SMI Status … and its SMI Status history", a Smart Meter's MPAN/MPRN and the Communications Hub Function it is
associated with, and for other Devices the Smart Meter they are associated with (SEC Section A, definition of
"Smart Metering Inventory", https://smartenergycodecompany.co.uk/glossary/smart-metering-inventory/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class SmiStatus(str, Enum):
    """SMI Status values, spelt as the SEC spells them.

    'pending' and 'whitelisted' are named by SECMP0013 (DCC PIA §2.6.1 and Annex A: SEC Appendix AB new clause 15.5;
    Annex B: SEC Appendix AC clause 4.3 as amended). 'commissioned' and 'decommissioned' are SEC defined terms
    (https://smartenergycodecompany.co.uk/glossary/commissioned/: "not subsequently been Decommissioned or
    Suspended"); 'installed not commissioned', 'withdrawn', 'suspended', 'recovery' and 'recovered' are the other
    statuses of SEC Appendix AC (Inventory Enrolment and Withdrawal Procedures) — no public copy was read here, so
    no rule below sets them: they are held only when `chf inventory set` puts them there.
    """

    PENDING = "pending"
    WHITELISTED = "whitelisted"
    INSTALLED_NOT_COMMISSIONED = "installed not commissioned"
    COMMISSIONED = "commissioned"
    DECOMMISSIONED = "decommissioned"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    RECOVERY = "recovery"
    RECOVERED = "recovered"


# Statuses in which the device should be on no CHF's whitelist (a device "no longer Associated with any"
# Communications Hub Function after a Disconnect, SEC Appendix AB clause 15.5; off the estate otherwise).
OFF_HAN_STATUSES = frozenset({SmiStatus.PENDING, SmiStatus.DECOMMISSIONED, SmiStatus.WITHDRAWN})


class DeviceKind(str, Enum):
    """Device types as the inventory names them; two wire numberings map onto these (below)."""

    ESME = "esme"
    GSME = "gsme"
    CHF = "chf"
    GPF = "gpf"
    HCALCS = "hcalcs"
    PPMID = "ppmid"
    IHD = "ihd"
    CAD = "cad"
    TYPE2 = "type2"  # a Type 2 device whose kind (IHD, CAD) we were not told
    HHT = "hht"
    UNKNOWN = "unknown"


# register_device.device_type of CCS01 (gbcs-use-cases.html CCS01: 0 ESME, 1 GSME, 13 HC ALCS, 128 IHD, 130 CAD,
# 132 PPMID; 254 GPF; 253 is this project's provisional HHT value, chf/core/device_log.py).
_CHF_LOG_TYPES = {0: DeviceKind.ESME, 1: DeviceKind.GSME, 13: DeviceKind.HCALCS, 128: DeviceKind.IHD,
                  130: DeviceKind.CAD, 132: DeviceKind.PPMID, 253: DeviceKind.HHT, 254: DeviceKind.GPF}
# GBCS DeviceType of join commands and meter device logs (CS03x, CS07): GBCS v0.8.1 JoinDevice table — gSME(0),
# eSME(1), CHF(2), GPF(3), type1HANConnectedAuxiliaryLoadControlSwitch(4), type1PrepaymentInterfaceDevice(5),
# type2(6) (gbcs/asn1/common.asn DeviceType).
_GBCS_TYPES = {0: DeviceKind.GSME, 1: DeviceKind.ESME, 2: DeviceKind.CHF, 3: DeviceKind.GPF, 4: DeviceKind.HCALCS,
               5: DeviceKind.PPMID, 6: DeviceKind.TYPE2}
_GBCS_BY_KIND = {v: k for k, v in _GBCS_TYPES.items()} | {DeviceKind.IHD: 6, DeviceKind.CAD: 6}


def kind_from_chf_log(value: int) -> DeviceKind:
    return _CHF_LOG_TYPES.get(value, DeviceKind.UNKNOWN)


def kind_from_gbcs(value: int) -> DeviceKind:
    return _GBCS_TYPES.get(value, DeviceKind.UNKNOWN)


def gbcs_type_of(kind: DeviceKind) -> int | None:
    """The GBCS DeviceType number of a kind (for CS03x `--other-type`), None when it has none."""
    return _GBCS_BY_KIND.get(kind)


def is_type2(kind: DeviceKind) -> bool:
    """A Type 2 Device: one holding no Device Security Credentials, which GBCS join commands class as `type2` —
    the IHD and the CAD (GBCS v0.8.1 JoinDevice table lists only HCALCS and PPMID as 'type1' HAN devices).
    The SMI keeps no SMI Status for it (SEC Section A "Smart Metering Inventory" (d)), hence the exception in
    SEC Appendix AC clause 4.3(c) as SECMP0013 amends it."""
    return kind in (DeviceKind.IHD, DeviceKind.CAD, DeviceKind.TYPE2)


def is_smart_meter(kind: DeviceKind) -> bool:
    """Smart Meters are the ESME and the GSME; only they carry MPAN/MPRN links (SEC Appendix AC clause 4.3(b))."""
    return kind in (DeviceKind.ESME, DeviceKind.GSME)


@dataclass(frozen=True)
class Cause:
    """Why the mirror changed: the service request, the GBCS use case, and the frame(s) that told us."""

    service_request: str  # e.g. "SR 8.15"
    use_case: str         # e.g. "CCS01", "Disconnect", "CS14"
    message: str          # e.g. "response success, counter 0x…, from …"

    def text(self) -> str:
        return f"{self.service_request} ({self.use_case}): {self.message}"


@dataclass(frozen=True)
class Transition:
    """One change in the mirror's history of a device."""

    at: str  # ISO 8601 UTC
    eui: str
    field: str  # smi_status, chf, mpxn, device_type, hashed_key, join
    old: str | None
    new: str | None
    cause: str


@dataclass
class DeviceRecord:
    """One device as the mirror holds it (EUIs upper-case hex; `hashed_key` "" = the empty hash of CS14)."""

    eui: str
    kind: DeviceKind = DeviceKind.UNKNOWN
    smi_status: SmiStatus | None = None
    chf: str | None = None
    mpxns: list[str] = field(default_factory=list)
    hashed_key: str | None = None  # None: never seen
    install_code: str | None = None
    joined: dict[str, DeviceKind] = field(default_factory=dict)  # for a meter: devices in its own device log
    updated_at: str | None = None

    def as_dict(self) -> dict:
        return {"eui": self.eui, "device_type": self.kind.value,
                "smi_status": self.smi_status.value if self.smi_status else None, "chf": self.chf,
                "mpxns": list(self.mpxns), "hashed_tc_link_key": self.hashed_key,
                "install_code": self.install_code,
                "joined": {k: v.value for k, v in sorted(self.joined.items())}, "updated_at": self.updated_at}


@dataclass
class InventoryView:
    """A snapshot of the whole mirror: what `reconcile` compares against the device logs."""

    devices: dict[str, DeviceRecord] = field(default_factory=dict)

    def get(self, eui: str) -> DeviceRecord | None:
        return self.devices.get(eui.upper())
