"""HAN figures on the virtual radio (wall time, printed never asserted): one ESME's join (permit → install-code
join → zigpy's interview) plus its first GBCS tunnel round trip (RequestTunnel, TransferData both ways).

`bench_han()` returns rows in the `benchmarks.__main__` table format: `[(measure, figure)]`.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from chf.core.han import FrameReceived, Permit, Tunnel
from zigbee.clock import EmulatedClock
from zigbee.device_app import DeviceOutcome
from zigbee.keys import install_code_key
from zigbee.medium import Medium
from zigbee.node import DeviceType, EmulatedNode
from zigbee.virtual_radio import to_ieee
from zigbee.zigpy_han import open_virtual

HUB = bytes.fromhex("02C0FFEE0000A001")
METER = bytes.fromhex("02C0FFEE000E5E01")
CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505")
FRAME = bytes.fromhex("DF09") + bytes(120)  # a frame-sized payload; the fake meter echoes it


class _Echo:
    def attach_radio(self, radio: object) -> None:
        pass

    def handle(self, frame: bytes) -> DeviceOutcome:
        return DeviceOutcome([frame])

    def snapshot(self) -> dict:
        return {}


async def _once() -> tuple[float, float]:
    clock = EmulatedClock(time_scale=0)
    medium = Medium(clock)
    han = await open_virtual(medium, HUB, clock)
    got = asyncio.Event()
    await han.start(lambda e: got.set() if isinstance(e, FrameReceived) else None)
    node = EmulatedNode(medium, METER, DeviceType.ESME, CODE, _Echo())
    await node.start()
    t0 = time.perf_counter()
    await han.execute(Permit(METER, install_code_key(CODE), 60))
    while True:  # joined and interviewed by zigpy
        dev = han.app.devices.get(to_ieee(METER))
        if dev is not None and dev.is_initialized and dev.model is not None:
            break
        await asyncio.sleep(0.0005)
    t1 = time.perf_counter()
    await han.execute(Tunnel(METER, FRAME))
    await asyncio.wait_for(got.wait(), 5)
    t2 = time.perf_counter()
    await node.stop()
    await han.stop()
    return t1 - t0, t2 - t1


def bench_han(repeats: int = 7) -> list[tuple[str, str]]:
    runs = [asyncio.run(_once()) for _ in range(repeats)]
    join = statistics.median(r[0] for r in runs) * 1000
    trip = statistics.median(r[1] for r in runs) * 1000
    total = statistics.median(r[0] + r[1] for r in runs) * 1000
    return [("HAN (virtual radio): ESME join + zigpy interview", f"{join:.1f} ms (median of {repeats})"),
            ("HAN (virtual radio): first tunnel round trip", f"{trip:.1f} ms (incl. RequestTunnel)"),
            ("HAN (virtual radio): join + first round trip", f"{total:.1f} ms")]


if __name__ == "__main__":
    for k, v in bench_han():
        print(f"{k}: {v}")
