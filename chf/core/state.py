"""Everything the hub remembers between commands, as one record the store saves atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chf.core.device_log import DEFAULT_CAPACITY, DeviceLog
from chf.core.historic_device_log import HistoricDeviceLog
from chf.core.join_window import JoinWindow
from chf.core.log_entry import LOG_CAPACITY, LogEntry
from chf.core.security_log import append as _append_security

__all__ = ["LOG_CAPACITY", "HubState", "LogEntry"]

@dataclass
class HubState:
    extended_pan_id: bytes
    device_log: DeviceLog = field(default_factory=lambda: DeviceLog(DEFAULT_CAPACITY))
    historic_log: HistoricDeviceLog = field(default_factory=HistoricDeviceLog)
    counters: dict[bytes, int] = field(default_factory=dict)  # last accepted originator counter per sender
    alert_counter: int = 0  # the hub's own originator counter for alerts (strictly increasing)
    join_timeout: int = 0
    joining_enabled_until: datetime | None = None
    join_windows: dict[bytes, JoinWindow] = field(default_factory=dict)
    event_log: list[LogEntry] = field(default_factory=list)
    security_log: list[LogEntry] = field(default_factory=list)

    def log_event(self, entry: LogEntry) -> None:
        _append(self.event_log, entry)

    def log_security(self, entry: LogEntry) -> None:
        _append_security(self.security_log, entry)  # the eviction policy lives with the rejection recording


def _append(log: list[LogEntry], entry: LogEntry) -> None:
    entry.seq = (log[-1].seq if log else 0) + 1
    log.append(entry)
    del log[:-LOG_CAPACITY]
