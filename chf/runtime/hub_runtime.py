"""Assembling a hub from `chf run` options and serving it: the only place that touches files and sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from chf.config.keygen import Pki, init_keys
from chf.core.clock import Clock, parse_clock
from chf.core.faults import FaultTable, parse_fault
from chf.core.han import Han, HanCommand, HanEvent, RecordingHan
from chf.core.hub import Hub, HubConfig, Outcome
from chf.core.identity import PROFILES, HubIdentity
from chf.core.errors import ConfigurationError
from chf.core.store import StoreError
from chf.runtime.sqlite_store import SqliteStore
from chf.runtime.wan import Dispatcher, TcpWan, serve_serial
from chf.runtime.wan_limits import DEFAULT_CONTROL_FROM, FD_RESERVE, WanLimits, exposure_notice, parse_networks
from gbcs import codes
from gbcs.keys import ACB_EUI, KeyStore

log = logging.getLogger("chf.runtime.hub_runtime")


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
    fresh: bool = False  # accept an empty or missing database in a state directory used before
    control_from: list[str] = field(default_factory=list)  # networks allowed on the CHF: control channel
    max_connections: int | None = None
    idle_timeout: float | None = None
    disconnect_code: int | None = None  # provisional SECMP0013 Disconnect message code (None: 0xF013)
    cbke_keys: str | None = None  # stick: host-side CBKE with the stick's ZigBee certificate from this PKI (UNTESTED)


MAX_CAPACITY = 1024  # device log entries: far above any real hub's (16-32), low enough to stay a small record
MODEL_LEN = 8        # ModelType(CommsHub): 4 + 4 characters (chf.core.identity)
MANUFACTURER_LEN = 4  # CHManufacturerIdentifier: a 4-character ZigBee manufacturer id (chf.core.identity)


def wan_address(wan: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[IPv6]:PORT`) as (host, port); ValueError saying what is wrong."""
    host, _, port = wan.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--wan HOST:PORT (port 0-65535) expected, got {wan!r}")
    return host, int(port)


def parse_wan(wan: str) -> tuple[str, int] | None:
    """`HOST:PORT` as (host, port), None for `serial://...`; ConfigurationError with one line for anything else."""
    if wan.startswith("serial://"):
        return None
    try:
        return wan_address(wan)
    except ValueError:
        raise ConfigurationError(f"--wan HOST:PORT (port 0-65535) or serial://DEVICE expected, got {wan!r}") from None


def _hex(v: str | None, n: int, name: str) -> bytes | None:
    if v is None:
        return None
    try:
        b = bytes.fromhex(v)
    except ValueError:
        b = b""
    if len(b) != n:
        raise ConfigurationError(f"{name} takes {n} bytes of hex, got {v!r}")
    return b


_locks: dict[str, object] = {}


def _lock_state(state_dir: Path) -> None:
    """One hub per state directory: two processes committing to one database would interleave their counters.
    The kernel drops the lock when the process dies, however it dies."""
    import fcntl

    key = str(state_dir.resolve())
    if key in _locks:
        return
    f = open(state_dir / "hub.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise ConfigurationError(f"another hub is running on {state_dir} (state/hub.lock is held)") from None
    _locks[key] = f


def _lock_database(db: Path) -> None:
    """Lock the database file itself as well (flock, which Linux keeps apart from SQLite's own fcntl locks):
    deleting hub.lock must not let a second hub commit to the same counters."""
    import fcntl

    key = str(db.resolve())
    if key in _locks:
        return
    fd = os.open(db, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConfigurationError(f"another hub is using {db} (the database is locked)") from None
    _locks[key] = fd  # never closed: closing any descriptor of the file would drop SQLite's locks too


def release_locks() -> None:
    """Drop every state and database lock this process holds (tests that restart a hub in one process; close
    the hub's store first, since closing the database's descriptor also drops SQLite's own locks)."""
    for held in _locks.values():
        if isinstance(held, int):
            os.close(held)
        else:
            held.close()  # type: ignore[attr-defined]
    _locks.clear()


def _marker(db: Path) -> Path:
    return db.with_name(db.name + ".marker")


def _check_continuity(store: SqliteStore, db: Path, fresh: bool) -> None:
    """Refuse to start on an emptied, truncated or swapped database in a state directory that was used before:
    its anti-replay counters would be gone and old commands accepted again. `fresh` starts afresh on purpose."""
    marker = _marker(db)
    ident = store.instance_id()
    try:
        expected = marker.read_text().strip() if marker.exists() else None
    except OSError as e:
        raise ConfigurationError(f"cannot read {marker}: {e.strerror}") from None
    if expected is not None and ident != expected and not fresh:
        what = "is empty or missing" if ident is None else "is not the one this state directory was using"
        raise ConfigurationError(f"{db} {what}, but {marker.name} shows this state was used before: its replay "
                         "counters would be lost. Restore the database from a backup, or start afresh on purpose "
                         "with `chf run --fresh`.")
    if ident is None or ident != expected:
        ident = ident if ident is not None and expected is None else store.new_instance_id()
        tmp = marker.with_name(marker.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(ident + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, marker)


def build_hub(opts: RunOptions, clock: Clock | None = None, keys: KeyStore | None = None) -> Hub:
    """A hub from `chf run` options; `keys` shares one loaded key store between the hubs of a bench."""
    if opts.profile not in PROFILES:
        raise ConfigurationError(f"unknown profile {opts.profile!r} (choose from {', '.join(PROFILES)})")
    parse_wan(opts.wan)
    if opts.capacity is not None and not 1 <= opts.capacity <= MAX_CAPACITY:
        raise ConfigurationError(f"--capacity takes 1 to {MAX_CAPACITY} devices, got {opts.capacity}")
    for name, v, n in (("--model", opts.model, MODEL_LEN), ("--manufacturer", opts.manufacturer, MANUFACTURER_LEN)):
        if v is not None and (not v or not v.isascii() or len(v) > n):
            raise ConfigurationError(f"{name} takes 1 to {n} ASCII characters, got {v[:20]!r}")
    if opts.hub_id is not None:
        _hex(opts.hub_id, 8, "--hub-id")
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
            raise ConfigurationError(f"--trust EUI=ROLE expected (roles: {', '.join(r.value for r in codes.Role)})") \
                from None
    identity = identity.with_overrides(
        eui=bytes.fromhex(opts.hub_id) if opts.hub_id else None,
        manufacturer=opts.manufacturer.encode() if opts.manufacturer else None,
        model=opts.model.encode() if opts.model else None,
        firmware_version=_hex(opts.firmware_version, 4, "--firmware-version"),
        extended_pan_id=_hex(opts.extended_pan_id, 8, "--extended-pan-id"))
    if keys is None or keys.acb != acb:
        keys = KeyStore.from_directory(keys_dir, acb=acb)
    config = HubConfig(identity, acb, parties, opts.capacity if opts.capacity is not None
                       else HubConfig.device_log_capacity, opts.disconnect_code)
    db = state_dir / f"hub-{identity.eui.hex()}.sqlite"
    faults = FaultTable([parse_fault(f) for f in opts.faults])
    _lock_database(db)
    try:
        store = SqliteStore(db, check=True)
        _check_continuity(store, db, opts.fresh)
        return Hub(config, keys, store, clock or parse_clock(opts.clock), faults=faults)
    except StoreError:
        raise  # a ChfError already: the CLI prints it


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
        self.loop = self.d.loop = asyncio.get_running_loop()
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
            except Exception:
                log.exception("HAN command %s failed", type(cmd).__name__)

    def on_event(self, event: HanEvent) -> None:
        """Called on the loop by the radio adapter."""
        assert self.loop is not None
        self.loop.create_task(self._event(event))

    async def _event(self, event: HanEvent) -> None:
        assert self.loop is not None
        out = await self.loop.run_in_executor(self.d.executor, self.d.call, self.d.hub.han_event, event)
        self.after(out)
        if out.frames:
            self.d.broadcast(list(out.frames))

    async def tick(self) -> None:
        assert self.loop is not None
        if not self.d.hub.needs_tick():
            return
        out = await self.loop.run_in_executor(self.d.executor, self.d.call, self.d.hub.tick)
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
        # the last commit is disk work: on the hub's worker thread, not on the loop that drives the radio
        await asyncio.get_running_loop().run_in_executor(self.dispatcher.executor, self.dispatcher.call,
                                                         self.hub.flush)


async def start_hub(hub: Hub, han: Han | None = None, *, tick_s: float = 1.0) -> tuple[Dispatcher, HubRuntime]:
    """Bring up a hub's HAN runtime (the radio starts here) before its WAN port opens."""
    d = Dispatcher(hub, allow_join=han is None)
    runtime = HubRuntime(d, han if han is not None else RecordingHan())
    await runtime.start()
    return d, runtime


async def open_wan(hub: Hub, d: Dispatcher, runtime: HubRuntime, host: str, port: int,
                   tick_s: float = 1.0, limits: WanLimits | None = None) -> ServedHub:
    wan = TcpWan(d, host, port, limits)
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
                     quiet: bool = False, han: Han | None = None, limits: WanLimits | None = None) -> None:
    d, runtime = await start_hub(hub, han)
    served = await open_wan(hub, d, runtime, host, port, limits=limits)
    if not quiet:
        notice = exposure_notice(served.host, served.port, served.wan.limits)
        if notice:
            print(notice, file=sys.stderr, flush=True)
        print(f"listening on {served.host}:{served.port}", flush=True)
    if ready is not None:
        ready.set_result((served.host, served.port))
    try:
        await wait_for_stop()
    finally:
        await served.close()


class ServerThread:
    """A hub's TCP WAN server on a background thread: for the demo, test rigs and tests (`with` closes it)."""

    def __init__(self, hub: Hub, host: str = "127.0.0.1", port: int = 0, limits: WanLimits | None = None) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        ready: asyncio.Future = self.loop.create_future()
        def target() -> None:
            try:
                self.loop.run_until_complete(_serve_tcp(hub, host, port, ready, quiet=True, limits=limits))
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


def wan_limits(opts: RunOptions) -> WanLimits:
    """The WAN limits from the options; the connection cap stays below the process's descriptor limit."""
    import resource

    try:
        nets = parse_networks(opts.control_from or list(DEFAULT_CONTROL_FROM))
    except ValueError as e:
        raise ConfigurationError(f"{e}") from None
    limits = WanLimits(control_from=nets)
    if opts.idle_timeout is not None:
        if not opts.idle_timeout > 0:
            raise ConfigurationError("--idle-timeout takes a positive number of seconds")
        limits.idle_timeout = opts.idle_timeout
    if opts.max_connections is not None:
        if opts.max_connections < 1:
            raise ConfigurationError("--max-connections takes a positive number")
        limits.max_connections = opts.max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        limits.max_connections = max(1, min(limits.max_connections, soft - FD_RESERVE))
    return limits


def run(opts: RunOptions) -> int:
    where = parse_wan(opts.wan)
    limits = wan_limits(opts)
    hub = build_hub(opts)
    if where is None:
        url = opts.wan[len("serial://"):]
        print(f"listening on serial {url}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            serve_serial(Dispatcher(hub), url, stop=stop)
        except KeyboardInterrupt:
            pass
        return 0
    host, port = where
    try:
        asyncio.run(_serve_tcp(hub, host, port, limits=limits))
    except OSError as e:
        raise ConfigurationError(f"cannot listen on {opts.wan}: {e.strerror or e}") from None
    return 0
