"""Rate-limited logging: one line per condition per interval, so a flood cannot fill the disk with the same
complaint (a hub's log is a bounded resource like any other). Lines skipped are counted in the next one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class QuietLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.now = now
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, key: str, message: str, level: int = logging.WARNING) -> bool:
        """Log `message` unless condition `key` was logged less than `interval` ago; True when it was logged."""
        t = self.now()
        last = self._last.get(key)
        if last is not None and t - last < self.interval:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return False
        skipped = self._skipped.pop(key, 0)
        self._last[key] = t
        if len(self._last) > 1024:  # conditions are few; keys are never attacker-chosen, but stay bounded anyway
            self._last.pop(next(iter(self._last)))
        self.logger.log(level, "%s%s", message, f" ({skipped} more like it not shown)" if skipped else "")
        return True
