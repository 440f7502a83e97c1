"""The hub's persistence port: `Store` loads and commits `HubState` as one unit. The SQLite adapter is
`chf.runtime.sqlite_store`; tests may use an in-memory one. A failing commit raises `StoreError` and the hub
then answers nothing (nothing unacknowledged is reported as done). One `save` may cover several commands (group
commit, `Hub.handle_group`): `save` writes whatever changed since the last successful one."""

from __future__ import annotations

from typing import Protocol

from chf.core.errors import StoreError
from chf.core.state import HubState

__all__ = ["Store", "StoreError"]


class Store(Protocol):
    def load(self, default_epid: bytes, capacity: int) -> HubState:
        """The committed state (a fresh one with `default_epid` and a device log of `capacity` when there is none)."""
        ...

    def save(self, st: HubState) -> None:
        """Commit the whole state atomically, or raise `StoreError` and leave the committed state as it was."""
        ...
