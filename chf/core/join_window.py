"""The CCS01 join window on the injected clock (gbcs-mapping-table CCS01).

A device in the Historic Device Log may use its historic TC link key for the first half of join_timeout and
its install code for the second half; any other device uses its install code for the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from chf.core.clock import add_seconds

KEY_ESTABLISHMENT_GRACE = timedelta(seconds=600)
"""How long a closed window is kept: a device the trust centre admitted inside it reports its join when CBKE has
given it a key (`Joined.admitted_at`), which may be after the window closed (docs/cbke.md)."""


class JoinPhase(Enum):
    HISTORIC_KEY = "historic TC link key"
    INSTALL_CODE = "install code"
    CLOSED = "closed"


@dataclass
class JoinWindow:
    eui: bytes
    opened_at: datetime
    timeout: int  # seconds (gbcs-use-cases.html CCS01 join_timeout)
    install_code: bytes
    historic_key: bytes | None = None

    @property
    def closes_at(self) -> datetime:
        return add_seconds(self.opened_at, self.timeout)  # clamped at the end of the date range

    @property
    def half_way(self) -> datetime:
        return add_seconds(self.opened_at, self.timeout / 2)

    def phase(self, now: datetime) -> JoinPhase:
        if now < self.opened_at or now >= self.closes_at:
            return JoinPhase.CLOSED
        if self.historic_key is not None and now < self.half_way:
            return JoinPhase.HISTORIC_KEY
        return JoinPhase.INSTALL_CODE
