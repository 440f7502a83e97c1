"""The hub's only window on the radio: commands out, events in (docs/han.md).

The sans-I/O hub never calls the radio. Each `Hub.handle` / event entry point returns an `Outcome` whose
`han` list holds the commands below; the runtime commits the state first and then carries them out on a
`Han` (zigpy adapter, virtual radio, or `RecordingHan`). Radio events (`Joined`, `Left`, `JoinRefused`,
`FrameReceived`, `Undelivered`) come back into the hub through `Hub.han_event`, under the same lock as
`Hub.handle`. A `Han` may also report how many routed frames it still holds (`backlog`), so the runtime can bound
what it hands over (chf.runtime.hub_runtime `HubRuntime.admit`).
Shapes follow zigpy's `ControllerApplication`: permit with a link key, remove (Mgmt_Leave), form/restore.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Callable, Protocol


# ------------------------------------------------------------------------------------------ commands out
@dataclass(frozen=True)
class Permit:
    """Let `eui` join (or re-join) with `link_key` (already derived: install-code key or a TC link key) for
    `seconds` of hub time. `historic` marks the first half of a CCS01 window (the device's old TC link key)."""

    eui: bytes
    link_key: bytes
    seconds: float
    historic: bool = False


@dataclass(frozen=True)
class Remove:
    """Tell `eui` to leave (ZDO Mgmt_Leave_req) and forget its link key (CCS02)."""

    eui: bytes


@dataclass(frozen=True)
class FormNetwork:
    """(Re-)form the HAN with this Extended PAN ID trusting these TC link keys (CCS03: TC swap-out restore)."""

    extended_pan_id: bytes
    link_keys: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Tunnel:
    """Send a GBCS frame to `eui` over the ZSE Tunnelling cluster (0x0704, protocol ID 6 GB-HGRP)."""

    eui: bytes
    frame: bytes


HanCommand = Permit | Remove | FormNetwork | Tunnel


# ------------------------------------------------------------------------------------------ events in
class JoinMethod(Enum):
    INSTALL_CODE = "install-code"  # joined with its install-code key; key establishment gave a new TC link key
    LINK_KEY = "link-key"          # authenticated with a TC link key the hub handed the radio (historic / restored)
    TC_REJOIN = "tc-rejoin"        # trust-centre re-join with the TC link key it already holds (swap-out, power cut)
    CBKE = "cbke"                  # a device on the HAN replaced its TC link key by CBKE (after a TC swap-out re-join)


@dataclass(frozen=True)
class Joined:
    eui: bytes
    tc_link_key: bytes | None  # None where the radio cannot tell (a real NCP without key export)
    method: JoinMethod = JoinMethod.INSTALL_CODE
    lqi: int | None = None
    rssi: int | None = None
    admitted_at: datetime | None = None  # when the trust centre admitted it, if before now: CBKE came after


@dataclass(frozen=True)
class Left:
    eui: bytes


@dataclass(frozen=True)
class JoinRefused:
    """A join attempt the trust centre refused (not permitted, wrong key): the hub logs it."""

    eui: bytes
    reason: str


@dataclass(frozen=True)
class FrameReceived:
    """A GBCS frame a device sent the CHF over the tunnel (a response or an alert)."""

    eui: bytes
    frame: bytes
    lqi: int | None = None
    rssi: int | None = None


@dataclass(frozen=True)
class MalformedFrame:
    """Tunnel data from a device that the radio side could not make a frame of (e.g. a bad GBT block): the hub
    records it in its security log as it would a malformed WAN frame."""

    eui: bytes
    reason: str


@dataclass(frozen=True)
class Undelivered:
    """A frame routed to `eui` that the HAN side could not take or deliver (its buffer for the device, or for all
    devices, is full; the device is gone): the hub records it in its security log (chf.core.hub `_undelivered`)."""

    eui: bytes
    frame: bytes
    reason: str


HanEvent = Joined | Left | JoinRefused | FrameReceived | MalformedFrame | Undelivered


class Han(Protocol):
    """What a radio adapter implements (zigbee.ZigpyHan, RecordingHan)."""

    async def start(self, on_event: Callable[[HanEvent], None]) -> None:
        """Bring the radio up; from now on call `on_event` (from the radio's loop) for every event."""

    async def execute(self, command: HanCommand) -> None:
        """Carry out one command; errors are logged, never raised into the hub."""

    async def stop(self) -> None:
        """Shut the radio down."""


RECORDED = 1000  # a HAN with no radio keeps the latest commands only: routed floods must not grow it


@dataclass
class RecordingHan:
    """A HAN with no radio (`--radio none`, tests): it records the latest RECORDED commands it was given."""

    commands: deque[HanCommand] = field(default_factory=lambda: deque(maxlen=RECORDED))
    on_event: Callable[[HanEvent], None] | None = None

    async def start(self, on_event: Callable[[HanEvent], None]) -> None:
        self.on_event = on_event

    async def execute(self, command: HanCommand) -> None:
        self.commands.append(command)

    async def stop(self) -> None:
        self.on_event = None
