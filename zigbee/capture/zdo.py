"""The ZDO frames a capture of a join holds: Device_annce (ZigBee spec 05-3474 §2.4.3.1.11), APS profile 0x0000,
cluster 0x0013, endpoint 0 both ways, broadcast to 0xFFFD: sequence number, NWK address u16, IEEE address
(LE), capability."""

from __future__ import annotations

import construct as c  # type: ignore[import-untyped]

from .security import eui_to_air

ZDO_PROFILE = 0x0000
ZDO_ENDPOINT = 0
DEVICE_ANNCE = 0x0013

DeviceAnnceLayout = c.Struct("tsn" / c.Int8ul, "nwk" / c.Int16ul, "ieee" / c.Bytes(8), "capability" / c.Int8ul)


def device_annce(tsn: int, nwk: int, eui: bytes, capability: int) -> bytes:
    return bytes(DeviceAnnceLayout.build({"tsn": tsn, "nwk": nwk, "ieee": eui_to_air(eui), "capability": capability}))
