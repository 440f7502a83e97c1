"""Assembling a hub from `chf run` options and serving it: the only place that touches files and sockets."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from chf.config.hostport import parse_host_port
from chf.config.keygen import Pki, init_keys
from chf.config.settings import SettingError, check, check_timing
from chf.core.clock import Clock, clock_notice, parse_clock
from chf.core.faults import FaultTable, parse_fault
from chf.core.han import Han, HanCommand, HanEvent, RecordingHan, Tunnel, Undelivered
from chf.core.hub import Hub, HubConfig, Outcome
from chf.core.identity import PROFILES, HubIdentity
from chf.core.errors import ConfigurationError
from chf.core.store import StoreError
from chf.runtime.handoff import handoff
from chf.runtime.sqlite_store import SqliteStore
from chf.runtime.wan import Dispatcher, TcpWan, serve_serial
from chf.runtime.wan_limits import FD_RESERVE, WanLimits, exposure_notice, parse_control_from
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
    control_from: list[str] = field(default_factory=list)  # widens the control channel beyond loopback
    max_connections: int | None = None
    idle_timeout: float | None = None
    disconnect_code: int | None = None  # provisional SECMP0013 Disconnect message code (None: 0xF013)
    cbke_keys: str | None = None  # stick: host-side CBKE with the stick's ZigBee certificate from this PKI (UNTESTED)
    max_per_source: int | None = None  # WAN connections one address may hold (default max(1, cap / 4))
    time_scale: float = 1.0     # virtual radio: emulated seconds per real second
    keep_alive_s: float = 30.0  # virtual radio: emulated meters' TC keep-alive period
    gsme_poll_s: float = 0.5    # virtual radio: how often an emulated GSME polls for queued frames


def check_options(opts: RunOptions) -> None:
    """Every numeric option within its range (chf.config.settings), before anything is opened or written;
    ConfigurationError in one line otherwise."""
    try:
        if opts.capacity is not None:
            check("capacity", opts.capacity, "--capacity")
        if opts.max_connections is not None:
            check("max_connections", opts.max_connections, "--max-connections")
        if opts.max_per_source is not None:
            check("max_per_source", opts.max_per_source, "--max-per-source")
        if opts.idle_timeout is not None:
            check("idle_timeout", opts.idle_timeout, "--idle-timeout")
        check_timing(opts.time_scale, opts.keep_alive_s, opts.gsme_poll_s,
                     ("--time-scale", "--keep-alive", "--gsme-poll"))
    except SettingError as e:
        raise ConfigurationError(str(e)) from None


MAX_CAPACITY = 1024  # device log entries: far above any real hub's (16-32), low enough to stay a small record
                     # (the range is chf.config.settings "capacity")
MODEL_LEN = 8        # ModelType(CommsHub): 4 + 4 characters (chf.core.identity)
MANUFACTURER_LEN = 4  # CHManufacturerIdentifier: a 4-character ZigBee manufacturer id (chf.core.identity)


def wan_address(wan: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[IPv6]:PORT`) as (host, port); ValueError saying what is wrong (chf.config.hostport)."""
    try:
        return parse_host_port(wan)
    except ValueError as e:
        raise ValueError(f"--wan {e}") from None


def parse_wan(wan: str) -> tuple[str, int] | None:
    """`HOST:PORT` as (host, port), None for `serial://...`; ConfigurationError with one line for anything else."""
    if wan.startswith("serial://"):
        return None
    try:
        return wan_address(wan)
    except ValueError as e:
        raise ConfigurationError(f"{e} (or serial://DEVICE)") from None


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


MARKERS_ENV = "XDG_STATE_HOME"  # per-user markers live in $XDG_STATE_HOME/commshub/used-state (~/.local/state)


def marker_home() -> Path | None:
    """Where per-user "this state was used" markers live: outside every state directory, so deleting a state
    directory (or its database files) does not delete them. None when the user has no home to keep them in."""
    xdg = os.environ.get(MARKERS_ENV)
    try:
        base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    except RuntimeError:  # no HOME and no passwd entry
        return None
    return base / "commshub" / "used-state"


def markers(state_dir: Path, eui: bytes) -> list[Path]:
    """The markers of hub `eui`'s state in `state_dir`: beside the database (`hub-<eui>.marker`), and per user,
    keyed by the hub's EUI and the state directory's real path (`rm -r state` or `rm state/hub-*.sqlite*` leaves
    it), plus the name older versions wrote (`hub-<eui>.sqlite.marker`), read only."""
    out = [state_dir / f"hub-{eui.hex()}.marker"]
    home = marker_home()
    if home is not None:
        key = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
        out.append(home / f"hub-{eui.hex()}-{key}.marker")
    out.append(state_dir / f"hub-{eui.hex()}.sqlite.marker")
    return out


def _write_marker(path: Path, ident: str, state_dir: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(f"{ident}\n{state_dir.resolve()}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_continuity(store: SqliteStore, db: Path, eui: bytes, fresh: bool) -> None:
    """Refuse to start on an emptied, truncated, deleted or swapped database in a state directory that was used
    before: its anti-replay counters would be gone and old commands accepted again. `fresh` starts afresh on
    purpose. The markers hold the database's random id (docs/robustness.md)."""
    state_dir = db.parent
    beside, *others = markers(state_dir, eui)
    found: dict[Path, str] = {}
    for m in (beside, *others):
        try:
            if m.exists():
                found[m] = m.read_text().split("\n", 1)[0].strip()
        except OSError as e:
            raise ConfigurationError(f"cannot read {m}: {e.strerror}") from None
    ident = store.instance_id()
    if found and ident not in found.values() and not fresh:
        what = "is empty or missing" if ident is None else "is not the one this state directory was using"
        m = next(iter(found))
        raise ConfigurationError(f"{db} {what}, but {m} shows this state was used before: its replay counters "
                                 "would be lost. Restore the state directory from a backup, or start afresh on "
                                 "purpose with `chf run --fresh`.")
    if ident is None or (fresh and ident not in found.values()):
        ident = ident if ident is not None and not found else store.new_instance_id()
    for m in (beside, *others[:-1]):
        if found.get(m) == ident:
            continue
        try:
            _write_marker(m, ident, state_dir)
        except OSError as e:
            if m == beside:
                raise ConfigurationError(f"cannot write {m}: {e.strerror}") from None
            log.warning("cannot write the per-user state marker %s (%s): a deleted state directory will not be "
                        "noticed at the next start", m, e.strerror)
    old = others[-1]
    if old in found:
        try:
            old.unlink()
        except OSError:
            pass


def build_hub(opts: RunOptions, clock: Clock | None = None, keys: KeyStore | None = None) -> Hub:
    """A hub from `chf run` options; `keys` shares one loaded key store between the hubs of a bench."""
    if opts.profile not in PROFILES:
        raise ConfigurationError(f"unknown profile {opts.profile!r} (choose from {', '.join(PROFILES)})")
    parse_wan(opts.wan)
    check_options(opts)
    try:
        clock = clock or parse_clock(opts.clock)
    except ValueError as e:
        raise ConfigurationError(str(e)) from None
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
            eui, party_role = bytes.fromhex(eui_hex), codes.Role(role)
        except ValueError:
            eui, party_role = b"", None
        if len(eui) != 8 or party_role is None:
            raise ConfigurationError(f"--trust EUI=ROLE expected, EUI 16 hex digits (roles: "
                                     f"{', '.join(r.value for r in codes.Role)}), got {t!r}")
        parties[eui] = party_role
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
        _check_continuity(store, db, identity.eui, opts.fresh)
        return Hub(config, keys, store, clock, faults=faults)
    except StoreError:
        raise  # a ChfError already: the CLI prints it


ROUTED_PER_DEVICE = 8  # routed frames the HAN side holds for one device (queued or in transit) [I]
ROUTED_TOTAL = 64      # ... and for all devices together [I]


class HubRuntime:
    """Ties one hub to its HAN on an asyncio loop: outcomes' radio commands are carried out in order after the
    hub committed, radio events go into the hub on the dispatcher's worker thread (never on the loop).

    The hub's own radio commands (Permit, Remove, FormNetwork) run in order on one task; routed frames (Tunnel)
    run on a task per device, so a slow or flooded device never holds up a join window. What the HAN side holds
    is bounded: at most `per_device` routed frames per device and `total` in all, counting the radio's own queues
    (a sleepy GSME's, `Han.backlog`); `admit` refuses a frame that does not fit (chf.runtime.wan `Dispatcher`)."""

    def __init__(self, dispatcher: Dispatcher, han: Han, *, per_device: int = ROUTED_PER_DEVICE,
                 total: int = ROUTED_TOTAL) -> None:
        self.d = dispatcher
        self.han = han
        self.per_device, self.total = per_device, total
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[HanCommand] | None = None
        self.task: asyncio.Task | None = None
        self._slots = threading.Lock()
        self._routed: dict[bytes, int] = {}  # admitted routed frames not yet handed over, per device
        self._admitted: set[int] = set()     # id() of admitted Tunnel commands
        self._lanes: dict[bytes, deque[Tunnel]] = {}  # loop-owned: each device's routed frames, in order
        self._lane_tasks: dict[bytes, asyncio.Task] = {}
        dispatcher.after = self.after
        dispatcher.admit = self.admit

    async def start(self) -> None:
        self.loop = self.d.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._commands())
        await self.han.start(self.on_event)

    def _held(self, eui: bytes | None) -> int:
        backlog = getattr(self.han, "backlog", None)
        return int(backlog(eui)) if backlog is not None else 0

    def admit(self, cmd: Tunnel) -> str | None:
        """Thread-safe: reserve room for a routed frame, or say why there is none (then nothing is reserved)."""
        eui = cmd.eui
        held, held_all = self._held(eui), self._held(None)
        with self._slots:
            n = self._routed.get(eui, 0) + held
            if n >= self.per_device:
                return (f"HAN buffer full: {n} frame(s) already queued for {eui.hex().upper()} (at most "
                        f"{self.per_device} per device); frame not forwarded")
            n_all = sum(self._routed.values()) + held_all
            if n_all >= self.total:
                return (f"HAN buffer full: {n_all} frame(s) queued for the HAN (at most {self.total} in all); "
                        f"frame for {eui.hex().upper()} not forwarded")
            self._routed[eui] = self._routed.get(eui, 0) + 1
            self._admitted.add(id(cmd))
        return None

    def _release(self, cmd: Tunnel) -> None:
        with self._slots:
            if id(cmd) in self._admitted:
                self._admitted.discard(id(cmd))
                left = self._routed.get(cmd.eui, 1) - 1
                if left > 0:
                    self._routed[cmd.eui] = left
                else:
                    self._routed.pop(cmd.eui, None)

    def routed_backlog(self, eui: bytes | None = None) -> int:
        """Routed frames admitted and not yet handed to the radio (for one device, or all)."""
        with self._slots:
            return self._routed.get(eui, 0) if eui is not None else sum(self._routed.values())

    def after(self, outcome: Outcome) -> None:
        """Thread-safe: forward device frames, queue radio commands (in order) for the loop. They go over with
        as few wake-ups of the loop as can be (chf.runtime.handoff: one for a whole group of commands)."""
        self.d.forward(outcome)
        if outcome.han and self.loop is not None and self.queue is not None:
            handoff(self.loop).post(self._take, list(outcome.han))

    def _take(self, cmds: list[HanCommand]) -> None:
        """On the loop: one outcome's radio commands, in order."""
        assert self.queue is not None
        for cmd in cmds:
            if isinstance(cmd, Tunnel):
                self._route(cmd)
            else:
                self.queue.put_nowait(cmd)

    def _route(self, cmd: Tunnel) -> None:
        lane = self._lanes.setdefault(cmd.eui, deque())
        lane.append(cmd)
        if cmd.eui not in self._lane_tasks:
            self._lane_tasks[cmd.eui] = asyncio.get_running_loop().create_task(self._lane(cmd.eui))

    async def _lane(self, eui: bytes) -> None:
        lane = self._lanes[eui]
        try:
            while lane:
                cmd = lane.popleft()
                try:
                    await self.han.execute(cmd)
                except Exception:
                    log.exception("HAN command Tunnel to %s failed", eui.hex().upper())
                finally:
                    self._release(cmd)
        finally:
            self._lane_tasks.pop(eui, None)
            if not lane:
                self._lanes.pop(eui, None)
            else:  # cancelled with frames left: they are not carried out, so their room is free again
                while lane:
                    self._release(lane.popleft())

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
        if isinstance(event, Undelivered):  # caused by routed traffic: on its lane, behind the hub's own work
            out = await self.loop.run_in_executor(self.d.routed_executor, partial(
                self.d.call, self.d.hub.han_event, event, routine=True))
        else:
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
        tasks = list(self._lane_tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
        # the last commit is disk work: on the hub's worker thread, not on the loop that drives the radio; then the
        # store is closed there too (SQLite folds its write-ahead log into the database file on a clean close, so a
        # stopped hub leaves one file), and the hub's threads end
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.dispatcher.executor, self.dispatcher.call, self.hub.flush)
        close_store = getattr(self.hub.store, "close", None)
        if close_store is not None:
            await loop.run_in_executor(self.dispatcher.executor, close_store)
        await loop.run_in_executor(None, self.dispatcher.shutdown)


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
        for notice in (exposure_notice(served.host, served.port, served.wan.limits), served.wan.limits.notice,
                       clock_notice(hub.clock)):
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

    def __init__(self, hub: Hub, host: str = "127.0.0.1", port: int = 0, limits: WanLimits | None = None,
                 han: Han | None = None) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        ready: asyncio.Future = self.loop.create_future()
        def target() -> None:
            try:
                self.loop.run_until_complete(_serve_tcp(hub, host, port, ready, quiet=True, han=han, limits=limits))
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


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never above the hard limit); the (soft, hard) limits after."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    if soft != inf and soft < wanted:
        new = wanted if hard == inf else min(wanted, hard)
        if new > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
                soft = new
            except (ValueError, OSError) as e:
                log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, new, e)
    return soft, hard


def wan_limits(opts: RunOptions) -> WanLimits:
    """The WAN limits from the options. The soft descriptor limit is raised towards the hard one so the connection
    cap fits (`FD_RESERVE` kept back for the database, logs and listener); where it cannot fit, the cap is lowered,
    and `limits.notice` says to what and why (printed at start)."""
    check_options(opts)
    try:
        nets, serial = parse_control_from(opts.control_from)
    except ValueError as e:
        raise ConfigurationError(f"{e}") from None
    limits = WanLimits(control_from=nets, control_serial=serial)
    if opts.idle_timeout is not None:
        limits.idle_timeout = float(opts.idle_timeout)
    if opts.max_connections is not None:
        limits.max_connections = int(opts.max_connections)
    if opts.max_per_source is not None:
        limits.max_per_source = int(opts.max_per_source)
    asked = limits.max_connections
    soft, hard = raise_fd_limit(asked + FD_RESERVE)
    import resource

    why = "--max-connections" if opts.max_connections is not None else "the default"
    if soft != resource.RLIM_INFINITY and soft - FD_RESERVE < asked:
        limits.max_connections = max(1, soft - FD_RESERVE)
        limits.lowered = True
        why = (f"lowered from {asked}: the descriptor limit is {soft} (hard limit "
               f"{'unlimited' if hard == resource.RLIM_INFINITY else hard}) and {FD_RESERVE} are kept back for the "
               f"database, logs and listener; raise it with `ulimit -n`")
    per = min(limits.per_source, limits.max_connections)
    limits.notice = (f"chf run: up to {limits.max_connections} WAN connection(s) ({why}), {per} per source address"
                     f"{' (--max-per-source)' if opts.max_per_source is not None else ' (a quarter)'}; a connection "
                     f"sending no frame for {limits.idle_timeout:g} s is closed")
    return limits


def run(opts: RunOptions) -> int:
    where = parse_wan(opts.wan)
    limits = wan_limits(opts)
    hub = build_hub(opts)
    if where is None:
        url = opts.wan[len("serial://"):]
        ctl = "open (--control-from serial)" if limits.control_serial else "closed (add --control-from serial)"
        print(f"chf run: a serial WAN line is not a local cable: whatever is on its far end (a socket:// or rfc2217:// "
              f"URL reaches the network) may send GBCS frames; the CHF: control channel on it is {ctl}",
              file=sys.stderr, flush=True)
        notice = clock_notice(hub.clock)
        if notice:
            print(notice, file=sys.stderr, flush=True)
        stop, ready = threading.Event(), threading.Event()
        # said once the port is open: pyserial flushes its input while opening, so a peer that sent earlier lost it
        threading.Thread(target=lambda: ready.wait() and print(f"listening on serial {url}", flush=True),
                         daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            serve_serial(Dispatcher(hub), url, stop=stop, ready=ready, control=limits.control_serial)
        except KeyboardInterrupt:
            pass
        return 0
    host, port = where
    try:
        asyncio.run(_serve_tcp(hub, host, port, limits=limits))
    except OSError as e:
        raise ConfigurationError(f"cannot listen on {opts.wan}: {e.strerror or e}") from None
    return 0
