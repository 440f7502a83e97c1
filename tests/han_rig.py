"""Helpers for the HAN tests: a frozen emulated clock, hubs on VirtualRadio, emulated nodes with a fake application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from chf.core.han import HanEvent
from zigbee.clock import EmulatedClock
from zigbee.device_app import DeviceOutcome
from zigbee.medium import Medium
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
