"""The emulated clock a bench shares: hubs' windows, meters' keep-alives and the medium's latency all read it.

Emulated time runs at `time_scale` emulated seconds per real second (0 freezes it) and jumps with `advance`;
`sleep` wakes early when a jump passes its deadline, so a test can move a meter through three keep-alive
periods without waiting for them (docs/han.md "Time").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone

from chf.core.clock import add_seconds

MAX_TIME_SCALE = 1e6  # beyond any bench (chf.config.settings allows 1000): emulated time must stay representable


def _check_scale(value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= MAX_TIME_SCALE):
        raise ValueError(f"time_scale must be 0 to {MAX_TIME_SCALE:g}, got {value!r}")
    return float(value)


class EmulatedClock:
    """`now()` and `monotonic()` satisfy `chf.core.clock.Clock`; `seconds()` is the monotonic emulated time sleeps
    are measured in."""

    def __init__(self, start: datetime | None = None, time_scale: float = 1.0) -> None:
        self._scale = _check_scale(time_scale)
        start = start or datetime.now(timezone.utc)
        self._start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        self._real0 = time.monotonic()
        self._emu0 = 0.0  # emulated seconds since `start` at real time `_real0`
        self._waiters: set[asyncio.Future[None]] = set()

    # ---------------------------------------------------------------------------------------- reading
    def seconds(self) -> float:
        """Emulated seconds since the clock's start."""
        return self._emu0 + (time.monotonic() - self._real0) * self._scale

    def now(self) -> datetime:
        return add_seconds(self._start, self.seconds())  # clamped at 9999-12-31, never OverflowError

    def monotonic(self) -> float:
        return self.seconds()

    # ---------------------------------------------------------------------------------------- steering
    @property
    def time_scale(self) -> float:
        return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        value = _check_scale(value)
        self._emu0, self._real0 = self.seconds(), time.monotonic()
        self._scale = value
        self._wake()

    def advance(self, seconds: float) -> None:
        """Jump emulated time forward; sleepers whose deadline has passed wake up."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward by a finite number of seconds, got {seconds}")
        self._emu0 += seconds
        self._wake()

    def _wake(self) -> None:
        for f in list(self._waiters):
            if not f.done():
                f.set_result(None)

    def real_delay(self, emulated_seconds: float) -> float | None:
        """Real seconds until `emulated_seconds` have passed at the current scale; None when time is frozen."""
        if emulated_seconds <= 0:
            return 0.0
        return emulated_seconds / self._scale if self._scale > 0 else None

    def alarm(self, emulated_seconds: float, fut: "asyncio.Future[None]") -> Callable[[], None]:
        """Resolve `fut` when `emulated_seconds` have passed, or earlier when the clock jumps or changes scale (the
        waiter then looks at the clock again); returns what cancels it. One future and one timer: cheaper than
        `sleep` for the thousands of emulated meters of a big bench, each idling between keep-alives."""
        def ring() -> None:
            if not fut.done():
                fut.set_result(None)

        delay = self.real_delay(max(0.0, emulated_seconds))
        timer = asyncio.get_running_loop().call_later(delay, ring) if delay is not None else None
        self._waiters.add(fut)

        def cancel() -> None:
            if timer is not None:
                timer.cancel()
            self._waiters.discard(fut)
        return cancel

    async def sleep(self, emulated_seconds: float) -> None:
        """Sleep until the emulated clock reaches now + `emulated_seconds` (real waits or `advance` jumps)."""
        if math.isnan(emulated_seconds):
            raise ValueError("cannot sleep for NaN seconds")
        deadline = self.seconds() + emulated_seconds
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - self.seconds()
            if remaining <= 0:
                return
            f: asyncio.Future[None] = loop.create_future()
            self._waiters.add(f)
            try:
                await asyncio.wait({f}, timeout=self.real_delay(remaining))
            finally:
                self._waiters.discard(f)
                if not f.done():
                    f.cancel()
