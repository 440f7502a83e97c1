"""The CHF security log under attack: rejections cost no disk write each, repeats coalesce, noise evicts noise.

A rejected frame is recorded in memory at once and reaches the store with the next commit (an accepted command,
or `Hub.flush` from the clock tick at most once a second), so a flood of failing frames costs microseconds per
frame instead of a SQLite commit each. The entry's other information names the claimed sender and the counter
of the rejected frame, and how many such frames it stands for; unauthenticated noise (malformed frames, unknown
senders, bad MACs) is evicted before the events of authenticated senders (replays, missing authority, CS14).
The log's size stays the GBCS fixed 100 entries (`chf.core.log_entry.LOG_CAPACITY`). Policy ours [I]; codes are the GBCS
alert codes of `chf.core.rejection.Rejection` (names from wireshark `epan/dissectors/packet-gbcs.c`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chf.core.log_entry import LOG_CAPACITY, LogEntry

# Rejections whose sender is not authenticated: anyone can produce them (Rejection.MALFORMED, AUTHENTICATION,
# UNKNOWN_SOURCE, and NOT_DELIVERED / NOT_RETRIEVED: routed frames are never authenticated by the CHF).
UNAUTHENTICATED_CODES = frozenset({0x8F1E, 0x8F3D, 0x8F3E, 0x8F84, 0x819D})
NO_SENDER = bytes(8)
MAX_REPEATS = 0xFFFFFFFF


@dataclass(frozen=True)
class RejectionInfo:
    """Other information of a rejection entry: claimed sender (8), its counter (8), repeats (4), big-endian."""

    originator: bytes = NO_SENDER
    counter: int = 0
    repeats: int = 1

    def encode(self) -> bytes:
        return self.originator + self.counter.to_bytes(8, "big") + min(self.repeats, MAX_REPEATS).to_bytes(4, "big")

    @classmethod
    def decode(cls, info: bytes) -> "RejectionInfo | None":
        if len(info) != 20:
            return None
        return cls(info[:8], int.from_bytes(info[8:16], "big"), int.from_bytes(info[16:], "big"))


def append(log: list[LogEntry], entry: LogEntry, capacity: int = LOG_CAPACITY) -> None:
    """Add `entry` with the next sequence number; when over capacity the oldest unauthenticated entry goes first,
    the oldest entry of all only when there is none."""
    entry.seq = max((e.seq for e in log), default=0) + 1
    log.append(entry)
    while len(log) > capacity:
        i = next((i for i, e in enumerate(log) if e.code in UNAUTHENTICATED_CODES), 0)
        del log[i]


def record_rejection(log: list[LogEntry], timestamp: int, code: int, originator: bytes | None,
                     counter: int | None, capacity: int = LOG_CAPACITY) -> LogEntry:
    """Record one rejected frame; a repeat of the same failure from the same claimed sender updates an entry in
    place (latest counter, repeats + 1): anywhere in the log for unauthenticated noise, the newest entry
    otherwise. Returns the entry written or updated."""
    sender = originator if originator is not None and len(originator) == 8 else NO_SENDER
    ctr = counter if counter is not None and 0 <= counter < 1 << 64 else 0
    candidates = reversed(log) if code in UNAUTHENTICATED_CODES else log[-1:]
    for e in candidates:
        info = RejectionInfo.decode(e.info)
        if e.code == code and info is not None and info.originator == sender:
            e.info = RejectionInfo(sender, ctr, info.repeats + 1).encode()
            return e
    entry = LogEntry(timestamp, code, RejectionInfo(sender, ctr).encode())
    append(log, entry, capacity)
    return entry
