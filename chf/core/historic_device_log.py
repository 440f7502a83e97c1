"""The CHF Historic Device Log: recently removed devices with their TC link keys (mapping table CCS01/CCS02; SEC CRP535).

Rules (mapping table CCS02): a device removed by CCS02 that holds a TC link key is recorded before removal,
unless it is an HHT; a device already present is updated; 15 entries, the oldest overwritten. Updating an entry
makes it the most recent. A GPF never holds a TC link key, so it never appears here.
"""

from __future__ import annotations

from dataclasses import dataclass

CAPACITY = 15


@dataclass
class HistoricEntry:
    eui: bytes
    tc_link_key: bytes


class HistoricDeviceLog:
    def __init__(self, entries: list[HistoricEntry] | None = None, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: dict[bytes, HistoricEntry] = {e.eui: e for e in entries or []}  # oldest first

    def __contains__(self, eui: bytes) -> bool:
        return eui in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, eui: bytes) -> HistoricEntry | None:
        return self._entries.get(eui)

    def entries(self) -> list[HistoricEntry]:
        """Oldest first."""
        return list(self._entries.values())

    def record(self, eui: bytes, tc_link_key: bytes) -> HistoricEntry | None:
        """Record (or refresh) `eui`; returns the entry overwritten to make room, if any."""
        self._entries.pop(eui, None)
        evicted = None
        if len(self._entries) >= self.capacity:
            oldest = next(iter(self._entries))
            evicted = self._entries.pop(oldest)
        self._entries[eui] = HistoricEntry(eui, tc_link_key)
        return evicted
