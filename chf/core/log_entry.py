"""One record of the CHF event or security log, and how many such records the hub keeps."""

from __future__ import annotations

from dataclasses import dataclass

LOG_CAPACITY = 100  # entries kept per CHF log (event, security); oldest dropped [I: no public CHTS figure]


@dataclass
class LogEntry:
    """One CHF event or security log record: ZigBee UTC seconds, event/alert code, other information
    (the compact-array element of RTDS 6.13_ECS35c / 6.13_ECS35d responses)."""

    timestamp: int
    code: int
    info: bytes = b""
    seq: int = 0  # position in the hub's whole history of such entries (assigned when logged)
