"""Assembling a hub from `chf run` options and serving it: the only place that touches files and sockets."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from gbcs import codes
from gbcs.keys import ACB_EUI, KeyStore

from .clock import Clock, parse_clock
from .faults import FaultTable, parse_fault
from .han import Han, HanCommand, HanEvent, RecordingHan
from .hub import Hub, HubConfig, Outcome
from .identity import PROFILES, HubIdentity
from .keygen import Pki, init_keys
from .store import Store
from .wan import Dispatcher, TcpWan, serve_serial

log = logging.getLogger("chf.runtime")


@dataclass
class RunOptions:
    state: str = "state"
    keys: str | None = None
    hub_id: str | None = None
    profile: str = "default"
    wan: str = "127.0.0.1:4059"
    radio: str = "none"
    faults: list[str] = field(default_factory=list)
    clock: str = "real"
    manufacturer: str | None = None
    model: str | None = None
    firmware_version: str | None = None  # hex, 4 bytes
    extended_pan_id: str | None = None   # hex, 8 bytes
    capacity: int | None = None
    trust: list[str] = field(default_factory=list)  # EUI=ROLE: more remote parties (roles of gbcs.codes.Role)


def _hex(v: str | None, n: int, name: str) -> bytes | None:
    if v is None:
        return None
    try:
        b = bytes.fromhex(v)
    except ValueError:
        b = b""
    if len(b) != n:
        raise SystemExit(f"chf run: {name} takes {n} bytes of hex, got {v!r}")
    return b


_locks: dict[str, object] = {}


def _lock_state(state_dir: Path) -> None:
    """One hub per state directory: two processes committing to one database would interleave their counters.
    The kernel drops the lock when the process dies, however it dies."""
    import fcntl

    key = str(state_dir.resolve())
    if key in _locks:
        return
    f = open(state_dir / "hub.lock", "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SystemExit(f"chf run: another hub is running on {state_dir} (state/hub.lock is held)") from None
    _locks[key] = f


def build_hub(opts: RunOptions, clock: Clock | None = None) -> Hub:
    if opts.profile not in PROFILES:
        raise SystemExit(f"chf run: unknown profile {opts.profile!r} (choose from {', '.join(PROFILES)})")
    state_dir = Path(opts.state)
    state_dir.mkdir(parents=True, exist_ok=True)
    _lock_state(state_dir)
    keys_dir = Path(opts.keys) if opts.keys else state_dir / "keys"
    pki = Pki.load(keys_dir)
    if opts.keys is None and pki is None:
        pki = init_keys(keys_dir)
    identity: HubIdentity = PROFILES[opts.profile]
    acb, parties = ACB_EUI, {}
    if pki is not None:
        identity = identity.with_overrides(eui=pki.eui("hub"))
        acb = pki.eui("acb")
        parties = {pki.eui("supplier"): codes.Role.SUPPLIER, pki.eui("network_operator"): codes.Role.NETWORK_OPERATOR}
    for t in opts.trust:
        eui_hex, _, role = t.partition("=")
        try:
            parties[bytes.fromhex(eui_hex)] = codes.Role(role)
        except ValueError:
            raise SystemExit(f"chf run: --trust EUI=ROLE expected (roles: {', '.join(r.value for r in codes.Role)})")
    identity = identity.with_overrides(
        eui=bytes.fromhex(opts.hub_id) if opts.hub_id else None,
        manufacturer=opts.manufacturer.encode() if opts.manufacturer else None,
        model=opts.model.encode() if opts.model else None,
        firmware_version=_hex(opts.firmware_version, 4, "--firmware-version"),
        extended_pan_id=_hex(opts.extended_pan_id, 8, "--extended-pan-id"))
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    config = HubConfig(identity, acb, parties, opts.capacity or HubConfig.device_log_capacity)
    store = Store(state_dir / f"hub-{identity.eui.hex()}.sqlite")
    faults = FaultTable([parse_fault(f) for f in opts.faults])
    return Hub(config, keys, store, clock or parse_clock(opts.clock), faults=faults)


class HubRuntime:
    """Ties one hub to its HAN on an asyncio loop: outcomes' radio commands are carried out in order after the
    hub committed, radio events go into the hub on the dispatcher's worker thread (never on the loop)."""

    def __init__(self, dispatcher: Dispatcher, han: Han) -> None:
        self.d = dispatcher
        self.han = han
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[HanCommand] | None = None
        self.task: asyncio.Task | None = None
        dispatcher.after = self.after

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._commands())
        await self.han.start(self.on_event)

    def after(self, outcome: Outcome) -> None:
        """Thread-safe: forward device frames, queue radio commands (in order) for the loop."""
        self.d.forward(outcome)
        if outcome.han and self.loop is not None and self.queue is not None:
            for cmd in outcome.han:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, cmd)

    async def _commands(self) -> None:
        assert self.queue is not None
        while True:
            cmd = await self.queue.get()
            try:
                await self.han.execute(cmd)
            except Exception:  # noqa: BLE001 - a radio failure must not stop the hub
                log.exception("HAN command %s failed", type(cmd).__name__)

    def on_event(self, event: HanEvent) -> None:
        """Called on the loop by the radio adapter."""
        assert self.loop is not None
        self.loop.create_task(self._event(event))

    async def _event(self, event: HanEvent) -> None:
        assert self.loop is not None
        out = await self.loop.run_in_executor(self.d.executor, self.d.hub.han_event, event)
        self.after(out)
        if len(out):
            self.d.broadcast(list(out))

    async def tick(self) -> None:
        assert self.loop is not None
        out = await self.loop.run_in_executor(self.d.executor, self.d.hub.tick)
        self.after(out)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.han.stop()


@dataclass
class ServedHub:
    """One hub served on a loop: its WAN port, its HAN runtime, its window ticker."""

    hub: Hub
    dispatcher: Dispatcher
    runtime: HubRuntime
    wan: TcpWan
    host: str
    port: int
    ticker: asyncio.Task

    async def close(self) -> None:
        self.ticker.cancel()
        await self.wan.close()
        await self.runtime.stop()


async def start_hub(hub: Hub, han: Han | None = None, *, tick_s: float = 1.0) -> tuple[Dispatcher, HubRuntime]:
    """Bring up a hub's HAN runtime (the radio starts here) before its WAN port opens."""
    d = Dispatcher(hub, allow_join=han is None)
    runtime = HubRuntime(d, han if han is not None else RecordingHan())
    await runtime.start()
    return d, runtime


async def open_wan(hub: Hub, d: Dispatcher, runtime: HubRuntime, host: str, port: int,
                   tick_s: float = 1.0) -> ServedHub:
    wan = TcpWan(d, host, port)
    h, p = await wan.start()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(tick_s)
            await runtime.tick()

    return ServedHub(hub, d, runtime, wan, h, p, asyncio.create_task(ticker()))


async def wait_for_stop() -> None:
    """Until SIGINT or SIGTERM (on the main thread), or forever."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
    await stop.wait()


async def _serve_tcp(hub: Hub, host: str, port: int, ready: "asyncio.Future[tuple[str, int]] | None" = None,
                     quiet: bool = False, han: Han | None = None) -> None:
    d, runtime = await start_hub(hub, han)
    served = await open_wan(hub, d, runtime, host, port)
    if not quiet:
        print(f"listening on {served.host}:{served.port}", flush=True)
    if ready is not None:
        ready.set_result((served.host, served.port))
    try:
        await wait_for_stop()
    finally:
        await served.close()


class ServerThread:
    """A hub's TCP WAN server on a background thread: for the demo, test rigs and tests (`with` closes it)."""

    def __init__(self, hub: Hub, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        ready: asyncio.Future = self.loop.create_future()
        def target() -> None:
            try:
                self.loop.run_until_complete(_serve_tcp(hub, host, port, ready, quiet=True))
            except asyncio.CancelledError:
                pass  # closed by close()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: ready.add_done_callback(lambda _: done.set()))
        if not done.wait(10):
            raise RuntimeError("hub server did not start")
        self.host, self.port = ready.result()

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(opts: RunOptions) -> int:
    if opts.radio != "none":
        raise SystemExit(f"chf run: --radio {opts.radio} is not available yet: only 'none' (no HAN) is")
    hub = build_hub(opts)
    if opts.wan.startswith("serial://"):
        url = opts.wan[len("serial://"):]
        print(f"listening on serial {url}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            serve_serial(Dispatcher(hub), url, stop=stop)
        except KeyboardInterrupt:
            pass
        return 0
    host, _, port = opts.wan.rpartition(":")
    if not host or not port.isdigit():
        print(f"chf run: --wan HOST:PORT or serial://DEVICE expected, got {opts.wan!r}", file=sys.stderr)
        return 2
    asyncio.run(_serve_tcp(hub, host, int(port)))
    return 0
