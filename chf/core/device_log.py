"""The CHF Device Log: the HAN whitelist (COSEM IC 104 instance 0-0:30.3.0.255).

Everything that changes the whitelist lives here, next to the exception it implements:
- re-adding a present device keeps its key and succeeds (mapping table CCS01; MP178 "accept a re-sent join");
- a TC link key replaces the install code once the device has joined (mapping table CS14);
- capacity is configurable, default 16 (Silicon Labs GBCS Device Log component default, 16–32; no public CHTS
  figure exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from chf.core.install_code import hash_key
from gbcs.chf_objects import DeviceType as DeviceType  # re-exported: the device log speaks of it
from gbcs.chf_objects import Status as Status

DEFAULT_CAPACITY = 16


# A restored entry (CCS03 carries only EUI and hashed key) has no device type until the device says more.
UNKNOWN_DEVICE_TYPE = 0xFF


@dataclass
class LinkStats:
    """The diagnostic part of an active_device_element (RTDS 8.9_CCS06)."""

    max_rssi: int = 0
    average_rssi: int = 0
    min_rssi: int = 0
    max_lqi: int = 0
    average_lqi: int = 0
    min_lqi: int = 0
    hops: int = 0
    transmission_failures: int = 0
    transmission_successes: int = 0
    application_version: int = 0
    stack_version: int = 0


@dataclass
class DeviceLogEntry:
    eui: bytes
    device_type: int
    install_code: bytes | None
    tc_link_key: bytes | None = None
    status: Status = Status.AUTHORISED
    last_communication: datetime | None = None
    stats: LinkStats = field(default_factory=LinkStats)

    @property
    def hashed_tc_link_key(self) -> bytes:
        """AES-MMO hash of the TC link key, or b"" until one exists (mapping table CS14)."""
        return hash_key(self.tc_link_key) if self.tc_link_key else b""


def record_link(entry: DeviceLogEntry, lqi: int | None, rssi: int | None) -> None:
    """Fold one reception's LQI/RSSI into the entry's CCS06 statistics (max, min, running average) and count a
    successful transmission."""
    s = entry.stats
    n = s.transmission_successes
    s.transmission_successes = min(n + 1, 255)  # an unsigned(8) in the CCS06 element: it saturates
    if lqi is not None:
        s.max_lqi = max(s.max_lqi, lqi) if n else lqi
        s.min_lqi = min(s.min_lqi, lqi) if n else lqi
        s.average_lqi = round((s.average_lqi * n + lqi) / (n + 1))
    if rssi is not None:
        s.max_rssi = max(s.max_rssi, rssi) if n else rssi
        s.min_rssi = min(s.min_rssi, rssi) if n else rssi
        s.average_rssi = round((s.average_rssi * n + rssi) / (n + 1))


class AddOutcome(Enum):
    ADDED = "added"
    ALREADY_PRESENT = "already present"  # key parameter discarded, success (mapping table CCS01)
    FULL = "full"


class DeviceLog:
    """Ordered whitelist of at most `capacity` devices."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, entries: list[DeviceLogEntry] | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: dict[bytes, DeviceLogEntry] = {e.eui: e for e in entries or []}

    def __contains__(self, eui: bytes) -> bool:
        return eui in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, eui: bytes) -> DeviceLogEntry | None:
        return self._entries.get(eui)

    def entries(self) -> list[DeviceLogEntry]:
        return list(self._entries.values())

    def add(self, eui: bytes, device_type: int, install_code: bytes) -> AddOutcome:
        if eui in self._entries:
            return AddOutcome.ALREADY_PRESENT
        if len(self._entries) >= self.capacity:
            return AddOutcome.FULL
        self._entries[eui] = DeviceLogEntry(eui, device_type, install_code)
        return AddOutcome.ADDED

    def remove(self, eui: bytes) -> DeviceLogEntry | None:
        return self._entries.pop(eui, None)

    def set_tc_link_key(self, eui: bytes, key: bytes) -> bool:
        """Record the TC link key a device joined with; True when the hash (and so the backup) changed."""
        e = self._entries.get(eui)
        if e is None or e.tc_link_key == key:
            return False
        e.tc_link_key = key
        return True

    def replace_all(self, entries: list[DeviceLogEntry]) -> None:
        """CCS03 restore: the whole log becomes `entries` (truncated to capacity by the caller's check)."""
        self._entries = {e.eui: e for e in entries}
