"""The GBCS half of emulated HAN devices (ESME, GSME, PPMID, HCALCS): `zigbee.device_app.DeviceApplication`s.

`HanDeviceApplication` authenticates each command like a device (known originator and role, MAC, supplier
signature on critical commands, per-originator anti-replay) and answers the HAN-membership use cases (CS03x,
CS04x, CS07), the identity reads (ECS52 on the ESME, GCS38 on the GSME, CS08 on the PPMID/HCALCS) and the
PROVISIONAL SECMP0013 Disconnect Smart Meter from HAN. `rtds_rig` holds the RTDS HAN as data. docs/devices.md.
"""

from __future__ import annotations

from gbcs import codes
from gbcs.asn1 import DeviceType
from gbcs.keys import KeyStore
from zigbee.devices.application import Fault, HanDeviceApplication
from zigbee.devices.device_log import DeviceLog, Entry, JoinRequest

__all__ = ["DeviceLog", "DeviceType", "Entry", "Fault", "HanDeviceApplication", "JoinRequest", "esme", "gsme",
           "hcalcs", "ppmid", "remote_parties"]


def remote_parties(supplier: bytes, acb: bytes, network_operator: bytes | None = None) -> dict[bytes, codes.Role]:
    """The remote parties a device trusts, by role (its trust-anchor cells, in GBCS terms)."""
    out = {supplier: codes.Role.SUPPLIER, acb: codes.Role.ACCESS_CONTROL_BROKER}
    if network_operator is not None:
        out[network_operator] = codes.Role.NETWORK_OPERATOR
    return out


def _make(t: DeviceType):
    def make(eui: bytes, keys: KeyStore, parties: dict[bytes, codes.Role], **kw) -> HanDeviceApplication:
        return HanDeviceApplication(eui, t, keys, parties, **kw)
    make.__doc__ = f"A fresh {t.name} application (keyword arguments as HanDeviceApplication's)."
    return make


esme = _make(DeviceType.ESME)
gsme = _make(DeviceType.GSME)
ppmid = _make(DeviceType.PPMID)
hcalcs = _make(DeviceType.HCALCS)
