"""Helpers for the HAN tests: a frozen emulated clock, hubs on VirtualRadio, emulated nodes with a fake application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from chf.core.han import HanEvent
from zigbee.clock import EmulatedClock
from zigbee.device_app import DeviceOutcome
from zigbee.medium import Beacon, Medium
from zigbee.node import DeviceType, EmulatedNode
from zigbee.zigpy_han import ZigpyHan, open_virtual

HUB_A = bytes.fromhex("02C0FFEE0000A001")
HUB_B = bytes.fromhex("02C0FFEE0000B001")
ESME = bytes.fromhex("02C0FFEE000E5E01")
GSME = bytes.fromhex("02C0FFEE00065E01")
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505")
OTHER_CODE = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
DIVORCE = b"DIVORCE"


@dataclass
class EchoApp:
    """Answers each frame with itself; a frame equal to DIVORCE is answered and then divorces."""

    seen: list[bytes] = field(default_factory=list)

    def attach_radio(self, radio) -> None:
        self.radio = radio

    def handle(self, frame: bytes) -> DeviceOutcome:
        self.seen.append(frame)
        return DeviceOutcome([frame], divorce=frame == DIVORCE)

    def snapshot(self) -> dict:
        return {"frames": len(self.seen)}


@dataclass
class Hub:
    han: ZigpyHan
    events: list[HanEvent]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


async def hub(medium: Medium, eui: bytes, **kw) -> Hub:
    han = await open_virtual(medium, eui, medium.clock, **kw)
    events: list[HanEvent] = []
    await han.start(events.append)
    return Hub(han, events)


async def node(medium: Medium, eui: bytes = ESME, kind: DeviceType = DeviceType.ESME, code: bytes = INSTALL_CODE,
               keep_alive_s: float = 30.0) -> EmulatedNode:
    n = EmulatedNode(medium, eui, kind, code, EchoApp(), keep_alive_s=keep_alive_s)
    await n.start()
    return n


@dataclass(frozen=True)
class Scan:
    """One active scan by a node: when (emulated seconds) and which networks it found."""

    node: bytes
    at: float
    beacons: tuple[Beacon, ...]

    def saw(self, hub: bytes, *, permit: bool | None = None) -> bool:
        return any(b.hub == hub and (permit is None or b.permit_joining is permit) for b in self.beacons)


class Scans(list):
    """Every scan the nodes of a medium make from now on (`record_scans`): the sign that a node has looked for a
    network and acted on what it found, even when that left nothing in the medium's trace (a scan that finds no
    network permitting joining, a join it did not try). A node's scan and its join attempt run in one turn of
    the loop, so a scan seen from the test's side of `until` is an attempt finished."""

    def by(self, node: bytes, *, since: float | None = None, after: int = 0) -> list[Scan]:
        """`node`'s scans at emulated time `since` or later, among those after the first `after` recorded."""
        return [s for s in self[after:] if s.node == node and (since is None or s.at >= since)]


def record_scans(medium: Medium) -> Scans:
    scans = Scans()
    real = medium.scan

    def scan(node: bytes) -> list[Beacon]:
        found = real(node)
        scans.append(Scan(bytes(node), medium.clock.seconds(), tuple(found)))
        return found

    medium.scan = scan  # type: ignore[method-assign]
    return scans


def frozen() -> Medium:
    return Medium(EmulatedClock(time_scale=0), seed=1)


async def until(pred: Callable[[], bool], *, clock: EmulatedClock | None = None, step: float = 0.0,
                tries: int = 400) -> bool:
    """Let the loop run (and move the frozen clock by `step` each turn) until `pred()` holds."""
    for _ in range(tries):
        if pred():
            return True
        if clock is not None and step:
            clock.advance(step)
        await asyncio.sleep(0.005)
    return pred()
