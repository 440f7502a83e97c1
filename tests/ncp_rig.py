"""Helpers for the stick tests: a bench serving emulated coordinator sticks (`[[ncp]]`) beside virtual hubs, and
hubs run on those sticks through the unmodified radio libraries (bellows, zigpy-znp), in this process.

`StickHub` does what `chf run --radio KIND:URL` does (`chf.runtime.run.open_hub_radio` + the hub's WAN port) on
its own thread and event loop, so a test can stop it (the stick falls silent) and start it again on the same
state and stick. Everything reaches the hubs through their WAN ports, as a remote party would send it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Callable

from chf.config.bench_file import parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _cs14_hash
from chf.runtime.bench import BenchThread
from chf.runtime.hub_runtime import RunOptions, build_hub, open_wan, start_hub
from chf.runtime.run import open_hub_radio
from gbcs import dlms, message
from gbcs.authentication import Verdict
from gbcs.frame import decode_frame
from hw.radio_url import parse_radio_url
from zigbee.zigpy_han import ZigpyHan

A, B = "02C0FFEE0000A001", "02C0FFEE0000B001"
ESME, ESME2, GSME = "02C0FFEE000E5E01", "02C0FFEE000E5E02", "02C0FFEE00065E01"
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")
IC2 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
IC3 = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")


def bench_text(kind: str, *, scale: float = 10, pty: bool = False, gsme_poll_s: float = 2.0) -> str:
    where = "pty = true" if pty else 'listen = "127.0.0.1:0"'
    return f"""
keys = "keys"
keep_alive_s = 30
time_scale = {scale}
gsme_poll_s = {gsme_poll_s}
[[ncp]]
name = "A"
kind = "{kind}"
eui = "{A}"
{where}
[[hub]]
name = "B"
eui = "{B}"
wan = "127.0.0.1:0"
[[meter]]
type = "esme"
eui = "{ESME}"
install_code = "{IC.hex()}"
[[meter]]
type = "esme"
eui = "{ESME2}"
install_code = "{IC2.hex()}"
[[meter]]
type = "gsme"
eui = "{GSME}"
install_code = "{IC3.hex()}"
"""


class StickHub:
    """A hub on an emulated stick, as `chf run --radio URL --hub-id A --keys DIR --state DIR` runs it."""

    def __init__(self, url: str, state: Path, keys: Path, eui: str = A, time_scale: float = 1.0) -> None:
        self.opts = RunOptions(state=str(state), keys=str(keys), hub_id=eui, wan="127.0.0.1:0", radio=url,
                               clock=f"scaled:{time_scale}", extended_pan_id=eui)  # as run_hardware does
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.served = None
        self.han: ZigpyHan | None = None
        ready = threading.Event()

        def target() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start())
            except BaseException as e:  # reported to the test thread
                self.error = e
            finally:
                ready.set()
            if self.error is None:
                self.loop.run_forever()

        self.thread = threading.Thread(target=target, daemon=True, name="stick-hub")
        self.started = time.monotonic()
        self.thread.start()
        ready.wait(120)
        if self.error is not None:
            raise self.error
        assert self.served is not None, "the stick hub did not start within 120 s"
        self.startup_s = time.monotonic() - self.started
        self.address = (self.served.host, self.served.port)

    async def _start(self) -> None:
        hub = build_hub(self.opts)
        self.hub = hub
        app = await open_hub_radio(parse_radio_url(self.opts.radio), Path(self.opts.state), hub.state.extended_pan_id)
        self.han = ZigpyHan(app, started=True)
        d, runtime = await start_hub(hub, self.han)
        self.served = await open_wan(hub, d, runtime, "127.0.0.1", 0)

    def call(self, fn: Callable[[], object]) -> object:
        return asyncio.run_coroutine_threadsafe(_call(fn), self.loop).result(30)

    def run(self, coro: object, timeout: float = 60) -> object:
        """Await `coro` on the hub's loop (where its radio library runs)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        """The hub's process ends: the radio library shuts down and the stick's host goes."""
        if self.served is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.served.close(), self.loop).result(60)
            self.hub.store.close()
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        from chf.runtime.hub_runtime import release_locks

        release_locks()  # this process may start a hub on the same state again (a restarted `chf run`)


async def library_app(url: str, **config: object):
    """The radio library's application on its own (no hub), started, with the hub's radio config plus `config`."""
    from zigbee.zigpy_han import hub_app_class, hub_radio_config

    radio = parse_radio_url(url)
    cls = hub_app_class(radio.controller_class())
    return await cls.new(radio.zigpy_config(None, **hub_radio_config(bytes.fromhex(A)), **config), auto_form=True)


async def _call(fn: Callable[[], object]) -> object:
    return fn()


class StickRig:
    """A bench with [[ncp]] A (`kind`) and virtual hub B, three meters, and hub A on the stick."""

    def __init__(self, tmp: Path, kind: str, *, form: str = "tcp", scale: float = 10, start_a: bool = True) -> None:
        self.tmp, self.kind, self.form = tmp, kind, form
        self.bench = parse(bench_text(kind, scale=scale, pty=form == "pty"), tmp / "bench.toml")
        self.bt = BenchThread(self.bench)
        self.remote = BenchRemote(self.bench.keys, tmp / "counters.json")
        self.links: dict[str, HubLink] = {"B": HubLink(*self.bt.address("B"))}
        self.euis = {"A": bytes.fromhex(A), "B": bytes.fromhex(B)}
        self.window = 90 / scale + 5
        self.hub_a: StickHub | None = None
        if start_a:
            self.start_a()

    @property
    def stick(self):
        assert self.bt.running is not None
        return self.bt.running.sticks["A"].stick

    def url(self) -> str:
        assert self.bt.running is not None
        address = self.bt.running.sticks["A"].address
        return f"{self.kind}:{address}" if address.startswith("/") else f"{self.kind}:{self.form}://{address}"

    def start_a(self) -> StickHub:
        self.hub_a = StickHub(self.url(), self.tmp / "state-A", self.bench.keys, time_scale=self.bench.time_scale)
        self.links["A"] = HubLink(*self.hub_a.address)
        return self.hub_a

    def stop_a(self) -> None:
        if "A" in self.links:
            self.links.pop("A").close()
        if self.hub_a is not None:
            self.hub_a.close()
            self.hub_a = None

    @property
    def server(self):
        assert self.bt.running is not None
        return self.bt.running.sticks["A"].server

    def on_bench(self, fn: Callable[[], object]) -> object:
        return self.bt.call(fn)

    def node(self, eui: str):
        assert self.bt.running is not None
        return self.bt.running.nodes[bytes.fromhex(eui)]

    def chf(self, hub: str, uc: str, timeout: float = 10, **p: object) -> bytes | None:
        return self.links[hub].request(self.remote.chf(self.euis[hub], uc, **p), timeout)

    def meter(self, hub: str, eui: str, uc: str, timeout: float = 10, **p: object) -> bytes | None:
        return self.links[hub].request(self.remote.meter(self.euis[hub], bytes.fromhex(eui), uc, **p), timeout)

    def join(self, hub: str, eui: str, ic: bytes, device_type: str = "esme") -> bytes | None:
        """CCS01; the hash the CS14 reports once the meter has joined (None if it did not within the window)."""
        link = self.links[hub]
        mark = sum(1 for t in link.journal if t.direction == "received")
        r = self.chf(hub, "CCS01", device=bytes.fromhex(eui), install_code=ic, device_type=device_type)
        assert r is not None and all(x.result == 0 for x in dlms.decode(decode_frame(r).header.payload).results)
        f = link.wait_for(lambda f: bool(_cs14_hash(f, bytes.fromhex(eui))), self.window, mark)
        return _cs14_hash(f, bytes.fromhex(eui)) if f else None

    def valid(self, frame: bytes | None) -> bool:
        return frame is not None and message.decode(frame, self.remote.keys).mac is Verdict.VALID

    def cs07_ok(self, hub: str, eui: str, tries: int = 3, timeout: float = 10) -> bool:
        for _ in range(tries):
            if self.valid(self.meter(hub, eui, "CS07", timeout=timeout)):
                return True
        return False

    def advance_until(self, hub: str, cond: Callable[[], bool], seconds: float = 30, step: int = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if cond():
                return True
            self.links[hub].control(f"ADVANCE {step}")
            time.sleep(0.1)
        return cond()

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.links.clear()
        if self.hub_a is not None:
            self.hub_a.close()
        self.bt.close()
