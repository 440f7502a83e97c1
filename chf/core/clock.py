"""The hub's injected clock: every window and timestamp reads it, so tests run without sleeps."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (rate limits, intervals); its origin means nothing."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


class ScaledClock:
    """Wall time from now on, running `factor` times as fast: a hub on a bench's [[ncp]] stick (its own process)
    whose join windows keep pace with a bench running at `time_scale` emulated seconds per real second."""

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"--clock scaled:FACTOR takes a positive factor, got {factor}")
        self.factor = factor
        self._real0 = time.monotonic()
        self._start = datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return (time.monotonic() - self._real0) * self.factor

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())


class FixedClock:
    """A clock that stands still at `at` (conformance runs: timestamps in responses are reproducible)."""

    def __init__(self, at: datetime) -> None:
        self.at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()  # stands still with `at`; moves only when a ManualClock is advanced


class ManualClock(FixedClock):
    """A clock tests move forward by hand."""

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def parse_clock(spec: str) -> Clock:
    """`real`, `fixed:ISO8601` or `scaled:FACTOR` (the `--clock` option)."""
    if spec == "real":
        return SystemClock()
    if spec.startswith("scaled:"):
        try:
            return ScaledClock(float(spec[7:]))
        except ValueError as e:
            raise ValueError(f"--clock scaled:FACTOR expected (a positive number), got {spec!r}: {e}") from None
    if spec.startswith("fixed:"):
        try:
            return FixedClock(datetime.fromisoformat(spec[6:]))
        except ValueError as e:
            raise ValueError(f"--clock fixed:ISO8601 expected, got {spec!r}: {e}") from None
    raise ValueError(f"--clock must be 'real', 'fixed:ISO8601' or 'scaled:FACTOR', got {spec!r}")


def dlms_date_time(t: datetime) -> bytes:
    """12-byte DLMS date-time in UTC as RTDS CHF frames carry it: weekday, deviation and status 'not specified'
    (`07DF0101FF000000008000FF` in 8.9_CCS07 and NA_CS14), hundredths 0."""
    t = t.astimezone(timezone.utc)
    return t.year.to_bytes(2, "big") + bytes((t.month, t.day, 0xFF, t.hour, t.minute, t.second, 0)) \
        + b"\x80\x00\xFF"


ZIGBEE_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def zigbee_seconds(t: datetime) -> int:
    """Seconds since 2000-01-01 UTC: the ZigBee UTCTime GBCS logs use (RTDS 6.13_ECS35c timestamps)."""
    return int((t - ZIGBEE_EPOCH).total_seconds())
