"""Who the hub is: configuration, not state (the issue's "Hub identity is configuration")."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class HubIdentity:
    """Identity values the CHF COSEM objects serve (RTDS ECS26i/ECS26n/ECS52)."""

    eui: bytes                 # Device ID 0-0:96.1.1.255 and grouping-header entity ID
    model: bytes               # ModelType(CommsHub) 0-0:96.1.4.255: image type + OTA HW version, 4+4 hex chars
    manufacturer: bytes        # CHManufacturerIdentifier 0-0:96.1.6.255: ZigBee manufacturer ID, 4 hex chars
    firmware_version: bytes    # FirmwareVersion 0-0:0.2.1.255: OTA header file version, 4 bytes
    extended_pan_id: bytes     # the HAN's Extended PAN ID (= GPF entity ID on a real hub)

    def with_overrides(self, **kw: bytes | None) -> "HubIdentity":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


# The RTDS hub: EUI from rtds/README.md; model "ATGTypeY" and manufacturer "CSW " from
# 6.2.4_ECS26n/ECS26n_6.2.4_SUCCESS_RESPONSE_GBCS.HEX; Extended PAN ID from 8.9_CCS07 / NA_CS14.
# RTDS's ECS26i response carries the manufacturer as 3 bytes ("CSW"), ECS26n as 4 ("CSW "): one object cannot
# hold both, so the profile keeps the 4-octet form of RTDS ECS26n; `--manufacturer CSW` gives the other.
RTDS = HubIdentity(
    eui=bytes.fromhex("00DB1234567890A2"),
    model=b"ATGTypeY",
    manufacturer=b"CSW ",
    firmware_version=bytes.fromhex("00020000"),
    extended_pan_id=bytes.fromhex("0001020304050607"),
)

DEFAULT = HubIdentity(
    eui=bytes.fromhex("02C0FFEE00000001"),
    model=b"CMHB0001",
    manufacturer=b"C0DE",
    firmware_version=bytes.fromhex("00010000"),
    extended_pan_id=bytes.fromhex("02C0FFEE00000001"),
)

PROFILES = {"default": DEFAULT, "rtds": RTDS}
