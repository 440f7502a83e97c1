"""The hub's injected clock: every window and timestamp reads it, so tests run without sleeps.

Date arithmetic on the hub's clock is safe at the ends of `datetime`'s range (years 1 to 9999): `add_seconds`
clamps a deadline to the last representable instant instead of raising OverflowError, and `zigbee_seconds` clamps
a log timestamp to what ZigBee UTCTime (an unsigned 32-bit count of seconds since 2000) can hold, 2000-01-01 to
2136-02-07T06:28:15Z. `clock_notice` says at start when a fixed clock is where either clamp applies.
"""

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


MAX_TIME = datetime.max.replace(tzinfo=timezone.utc)
MIN_TIME = datetime.min.replace(tzinfo=timezone.utc)


def as_utc(t: datetime) -> datetime:
    """`t` in UTC (a naive time is taken as UTC); ValueError when UTC would leave years 1-9999."""
    if t.tzinfo is None:
        return t.replace(tzinfo=timezone.utc)
    try:
        return t.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{t.isoformat()} is outside the years 1-9999 in UTC") from None


def add_seconds(t: datetime, seconds: float) -> datetime:
    """`t` + `seconds`, clamped to [MIN_TIME, MAX_TIME] (a join window opened on 9999-12-31 ends there)."""
    try:
        return t + timedelta(seconds=seconds)
    except OverflowError:
        return MAX_TIME if seconds > 0 else MIN_TIME


class FixedClock:
    """A clock that stands still at `at` (conformance runs: timestamps in responses are reproducible)."""

    def __init__(self, at: datetime) -> None:
        self.at = as_utc(at)

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()  # stands still with `at`; moves only when a ManualClock is advanced


class ManualClock(FixedClock):
    """A clock tests move forward by hand."""

    def advance(self, seconds: float) -> None:
        self.at = add_seconds(self.at, seconds)


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


ZIGBEE_MAX_SECONDS = 0xFFFFFFFF  # UTCTime is unsigned 32-bit: 2136-02-07T06:28:15Z


def zigbee_seconds(t: datetime) -> int:
    """Seconds since 2000-01-01 UTC: the ZigBee UTCTime GBCS logs use (RTDS 6.13_ECS35c timestamps), clamped to
    what the 32-bit field holds (before 2000: 0; after 2136-02-07T06:28:15Z: 0xFFFFFFFF)."""
    return max(0, min(ZIGBEE_MAX_SECONDS, int((t - ZIGBEE_EPOCH).total_seconds())))


def clock_notice(clock: Clock) -> str | None:
    """What a clock set near the ends of the range changes, said once at start (None for an ordinary date)."""
    now = clock.now()
    notes = []
    if now < ZIGBEE_EPOCH or zigbee_seconds(now) >= ZIGBEE_MAX_SECONDS:
        notes.append("log timestamps (ZigBee UTCTime, 2000-01-01 to 2136-02-07T06:28:15Z) are clamped to that range")
    if add_seconds(now, 65535) >= MAX_TIME:
        notes.append("join windows and the joining deadline end at 9999-12-31T23:59:59.999999Z at the latest")
    if not notes:
        return None
    return f"clock at {now.isoformat()}: " + "; ".join(notes)
