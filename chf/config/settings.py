"""Every numeric setting of a hub or bench, with its range: `chf run` flags, bench-file keys, control arguments.

One table, so the command line, the bench file and the control channel refuse the same values in the same words:
`check(name, value, label)` returns the value or raises `SettingError`, one line naming the setting, its range
and the value given ("--time-scale takes 0.01 to 1000 (emulated seconds per real second), got inf"). NaN and
infinities are never in range. The ranges are ours [I] (no GBCS figure applies): wide enough for every bench we
know, narrow enough that nothing spins, overflows or never starts. They are listed in docs/robustness.md
("Settings and their ranges") and README "Security and robustness".
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class SettingError(ValueError):
    """A numeric setting outside its range; the text is one line."""


@dataclass(frozen=True)
class Setting:
    lo: float
    hi: float
    unit: str
    integer: bool = False

    def describe(self) -> str:
        notes = [n for n in (self.unit, "a whole number" if self.integer else "") if n]
        return f"{self.lo:g} to {self.hi:g}" + (f" ({', '.join(notes)})" if notes else "")

    def check(self, value: object, label: str) -> float:
        """The value as a number, or SettingError. Booleans and strings are not numbers."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and self.integer and not isinstance(value, int):
            ok = isinstance(value, float) and value.is_integer()
        if ok:
            try:
                ok = math.isfinite(value) and self.lo <= value <= self.hi  # type: ignore[arg-type]
            except OverflowError:  # an int too big for a float
                ok = False
        if not ok:
            if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
                shown = f"a {value.bit_length()}-bit integer"
            else:
                shown = repr(value) if not isinstance(value, str) else repr(value[:40])
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise SettingError(f"{label} takes {self.describe()}, got {shown}")
        return int(value) if self.integer else float(value)  # type: ignore[arg-type]


DAY = 86400.0
MIN_REAL_PERIOD_S = 0.005  # a meter timer (keep-alive, GSME poll) firing more often than this in real time spins

SETTINGS: dict[str, Setting] = {
    # chf run (and bench-file keys of the same meaning)
    "capacity": Setting(1, 1024, "device log entries", integer=True),
    "time_scale": Setting(0.01, 1000, "emulated seconds per real second"),
    "keep_alive_s": Setting(1, DAY, "emulated seconds"),
    "gsme_poll_s": Setting(0.01, DAY, "emulated seconds"),
    "max_connections": Setting(1, 65536, "connections", integer=True),
    "max_per_source": Setting(1, 65536, "connections from one address", integer=True),
    "idle_timeout": Setting(0.1, DAY, "seconds"),
    "port": Setting(0, 65535, "", integer=True),
    "seed": Setting(-(1 << 63), (1 << 63) - 1, "", integer=True),
    # control channel
    "advance_s": Setting(0, 366 * DAY, "emulated seconds"),
    # chf send / triage / inventory
    "wait_s": Setting(0, 3600, "seconds"),
    "join_timeout": Setting(0, 65535, "seconds, CCS01 join_timeout is long-unsigned", integer=True),
}


def check(name: str, value: object, label: str | None = None) -> float:
    """`value` for setting `name` (a key of SETTINGS), or SettingError in one line (`label` names it)."""
    return SETTINGS[name].check(value, label or name)


def check_int(name: str, value: object, label: str | None = None) -> int:
    return int(check(name, value, label))


def check_timing(time_scale: float, keep_alive_s: float, gsme_poll_s: float,
                 labels: tuple[str, str, str] = ("time_scale", "keep_alive_s", "gsme_poll_s")) -> None:
    """A bench's clock settings, each in range and together workable: at `time_scale`, no meter timer may fire
    more often than every MIN_REAL_PERIOD_S of real time (it would take the whole CPU)."""
    ts = check("time_scale", time_scale, labels[0])
    for name, value, label in (("keep_alive_s", keep_alive_s, labels[1]), ("gsme_poll_s", gsme_poll_s, labels[2])):
        v = check(name, value, label)
        if v / ts < MIN_REAL_PERIOD_S:
            raise SettingError(f"{label} {v:g} at {labels[0]} {ts:g} fires every {v / ts * 1000:.2g} ms of real time "
                               f"(at least {MIN_REAL_PERIOD_S * 1000:g} ms): raise {label} to "
                               f"{math.ceil(MIN_REAL_PERIOD_S * ts * 100) / 100:g} or lower {labels[0]}")
