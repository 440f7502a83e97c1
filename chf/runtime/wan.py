"""The WAN port: GFI text framing over TCP (asyncio, many clients) or a serial line (pyserial).

One frame per line, `GBCS:DATA#0:<len>:<HEX>` + CRLF, both ways (DCC GFI framing). A malformed line gets one
`ERROR ...` line back and the connection stays usable. Lines starting `CHF:` are the control channel for test
rigs (faults, state, simulated joins); they never carry GBCS, and only peers allowed by `WanLimits.control_from`
(loopback by default) may use them, on a serial line only with `--control-from serial`. Unsolicited alerts (from
the HAN side or the clock) go to every connected client; with none connected they wait in a bounded outbox.
Connections are capped in all and per source address, a connection that sends no frame times out, clients take
turns line by line so one flood cannot starve another (chf/runtime/wan_limits.py), and frames the CHF only routes
to a device run on their own lane behind the CHF's own commands (`Dispatcher`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterator

from chf.core.faults import FaultSpecError, parse_fault
from chf.core.han import HanCommand, Tunnel, Undelivered
from chf.core.hub import Hub, Outcome
from chf.core.quiet_log import QuietLog
from chf.runtime.handoff import on_loop
from chf.runtime.hub_lane import HubLane
from chf.runtime.wan_limits import LineSplitter, Piece, WanLimits
from gbcs.errors import DecodeError
from gbcs.frame import peek_recipient
from gbcs.gfi import MAX_LINE as GFI_MAX_LINE
from gbcs.gfi import decode_line, encode_line

log = logging.getLogger("chf.runtime.wan")

MAX_LINE = GFI_MAX_LINE  # one limit: the longest GFI line of the longest frame decode_line accepts (gbcs.gfi)
OUTBOX = 1000
LINGER_S = 1.0  # after an idle-timeout line: how long we read and drop what a peer still sends (_linger)
LINGER_BYTES = 1 << 20


class Access(Enum):
    """Who may use a control command."""

    CONTROL = "peers allowed by --control-from (loopback by default)"


@dataclass(frozen=True)
class ControlCommand:
    """One `CHF:` control command: its name, its arguments (for the help text), who may use it, and its handler.

    `on_loop` handlers touch asyncio objects (the emulated clock's sleepers, the medium's events): the dispatcher
    runs them on the event loop that drives the radio, never on its worker thread."""

    name: str
    args: str
    handler: Callable[[list[str]], str]
    access: Access = Access.CONTROL
    on_loop: bool = False

    def usage(self) -> str:
        return f"CHF:{self.name}{' ' + self.args if self.args else ''}"


@dataclass
class Answer:
    """What one line got back, and whether it keeps its connection's slot: a complete GFI frame (whatever the hub
    makes of it) or an allowed control command counts; an empty, malformed or refused line does not."""

    lines: list[bytes]
    active: bool


PEEK_BYTES = 48  # enough of a frame to read its business recipient (gbcs.frame.peek_recipient)


class PriorityLock:
    """The hub's lock, with two kinds of caller: urgent (the CHF's own commands, HAN events, controls) and routine
    (frames the CHF only routes to a device). A routine caller waits while an urgent one is waiting, so routed
    traffic never queues ahead of the hub's own commands; urgent callers take the lock as before. Reentrant."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._gate = threading.Condition(threading.Lock())
        self._urgent = 0
        self._owner: int | None = None
        self._depth = 0

    @contextmanager
    def held(self, routine: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        if routine and self._owner != me:
            with self._gate:
                while self._urgent:
                    self._gate.wait()
            self.lock.acquire()
        else:
            with self._gate:
                self._urgent += 1
            try:
                self.lock.acquire()
            finally:
                with self._gate:
                    self._urgent -= 1
                    if not self._urgent:
                        self._gate.notify_all()
        self._owner, self._depth = me, self._depth + 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self._owner = None
            self.lock.release()


class Dispatcher:
    """Turns one received line into the lines to send back, one input at a time around the sans-I/O hub.

    Hub work (signature checks, commits) runs off the event loop that drives the radio, under the hub's lock
    whichever port (TCP, serial, HAN, clock) it came from: the runtime serialises, the core has no lock. Two lanes:
    the CHF's own commands, HAN events and controls run on `executor` (a `HubLane`: GBCS lines waiting together
    there run as one group with one commit, `answer_group`, and are answered only after it); frames the CHF only
    routes to a device in its log run on `routed_executor` and take the lock as routine callers (`PriorityLock`),
    so a routed flood never delays a hub command. A routed frame goes to the HAN only if `admit(tunnel)` finds room
    for it (the runtime bounds what the HAN holds per device and in all); one that does not fit is refused with an
    `ERROR` line and a security-log entry (`Hub._undelivered`). After every committed outcome `after(outcome)` is
    called (the runtime carries out radio commands and forwards device frames; `_deliver` is the one place both
    lanes release outcomes); `send_to(origin, frames)` delivers a device's response to the connection its command
    came on, `broadcast(frames)` sends alerts to every client."""

    def __init__(self, hub: Hub, *, allow_join: bool = True) -> None:
        self.hub = hub
        self.priority = PriorityLock()
        self.lock = self.priority.lock  # for readers outside the hub's entry points (snapshots, control handlers)
        self.allow_join = allow_join  # CHF:JOIN simulates a join: only with no radio (`--radio none`)
        self.executor: HubLane[Answer] = HubLane(self.answer_group, name="hub")
        self.routed_executor = ThreadPoolExecutor(1, thread_name_prefix="routed")
        self.broadcast: Callable[[list[bytes]], None] = lambda frames: None
        self.send_to: Callable[[object, list[bytes]], bool] = lambda origin, frames: False
        self.after: Callable[[Outcome], None] = self.forward
        self.admit: Callable[[Tunnel], str | None] = lambda tunnel: None  # None: queued; else why not
        self.loop: asyncio.AbstractEventLoop | None = None  # the radio's loop, for `on_loop` control commands
        self.controls: dict[str, ControlCommand] = {}
        # see every GBCS frame of a WAN exchange: tap("in", frame) for what came in, ("out", frame) for what goes
        # back (the bench dashboard's frame feed); called on the worker thread, so a tap only queues; empty: no cost
        self.taps: list[Callable[[str, bytes], None]] = []
        for c in (ControlCommand("PING", "", lambda a: "CHF:OK PONG"),
                  ControlCommand("FAULT", "SPEC", self._fault),
                  ControlCommand("FAULTS", "", lambda a: "CHF:OK " + " ".join(f.spec() for f in self.hub.faults.list())),
                  ControlCommand("CLEAR-FAULTS", "", self._clear_faults),
                  ControlCommand("STATE", "", lambda a: "CHF:OK " + json.dumps(self.hub.snapshot(), separators=(",", ":"))),
                  ControlCommand("TICK", "", self._tick),
                  ControlCommand("JOIN", "EUI KEY [historic]", self._join)):
            self.add_control(c)

    def add_control(self, command: ControlCommand) -> None:
        """More `CHF:` commands (the bench adds HAN, POWER, ADVANCE)."""
        self.controls[command.name] = command

    def shutdown(self) -> None:
        """End the hub's threads once nothing more will come (a stopped hub: `ServedHub.close`)."""
        self.executor.shutdown()
        self.routed_executor.shutdown()

    def call(self, fn: Callable[..., Outcome], *args: object, routine: bool = False) -> Outcome:
        """Run one hub entry point under the lock (`routine`: after any urgent caller waiting for it). A failure
        the core did not name is a bug: it is logged with its traceback and the hub goes back to its last
        committed state, so no input takes the hub down."""
        with self.priority.held(routine):
            try:
                return fn(*args)
            except Exception:
                log.exception("unexpected failure in %s; state reloaded from the store", getattr(fn, "__name__", fn))
                self.hub.reload()
                return Outcome()

    def tap(self, direction: str, frames: list[bytes]) -> None:
        """Tell the taps about frames; a tap that raises is logged and dropped (it never fails an exchange)."""
        for t in list(self.taps):
            for f in frames:
                try:
                    t(direction, f)
                except Exception:
                    log.exception("WAN tap %r failed: dropped", t)
                    self.taps.remove(t)
                    break

    def forward(self, outcome: Outcome) -> None:
        """Pass device frames up: a response to its command's connection (else everyone), alerts to everyone."""
        for frame, origin in outcome.forward:
            if origin is None or not self.send_to(origin, [frame]):
                self.broadcast([frame])

    def is_routed(self, raw: bytes) -> bool:
        """Whether a line is a GFI frame for someone other than the CHF, judged from its first bytes only (cheap
        enough for the event loop): it then goes to the routed lane. Anything unclear goes to the hub's lane."""
        text = raw.lstrip()
        if not text.startswith(b"GBCS:DATA#0:"):
            return False
        rest = text[12:12 + 8 + 2 * PEEK_BYTES]
        colon = rest.find(b":")
        if colon <= 0:
            return False
        head = rest[colon + 1:]
        head = head[:len(head) & ~1]
        try:
            data = bytes.fromhex(head.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return False
        recipient = peek_recipient(data)
        return recipient is not None and recipient != self.hub.eui

    def line(self, raw: bytes, origin: object = None) -> list[bytes]:
        return self.answer(raw, origin).lines

    def answer(self, raw: bytes, origin: object = None, routed: bool = False) -> Answer:
        """The lines to send back for one line (`routed`: it came on the routed lane)."""
        text = raw.strip(b"\r\n \t")
        if not text:
            return Answer([], False)
        if text.startswith(b"CHF:"):
            return Answer([self._control(text[4:].decode("ascii", "replace")).encode("ascii", "replace") + b"\r\n"],
                          True)
        try:
            frame = decode_line(text)
        except DecodeError as e:
            return Answer([f"ERROR {e.field} at {e.offset}: {e.reason}\r\n".encode()], False)
        if self.taps:
            self.tap("in", [frame])
        return self._deliver(self.call(self.hub.handle, frame, origin, routine=routed), routed)

    def answer_group(self, lines: Sequence[tuple[bytes, object]]) -> list[Answer]:
        """The lines to send back for lines that arrived together on the hub's lane (group commit): their GBCS
        frames go through the core as one group with one commit (`Hub.handle_group`), and their outcomes are
        carried out and answered only after it. Control and empty lines are answered one by one after the group."""
        answers: list[Answer | None] = [None] * len(lines)
        frames: list[tuple[int, bytes, object]] = []
        for i, (raw, origin) in enumerate(lines):
            text = raw.strip(b"\r\n \t")
            if not text or text.startswith(b"CHF:"):
                continue
            try:
                frames.append((i, decode_line(text), origin))
            except DecodeError as e:
                answers[i] = Answer([f"ERROR {e.field} at {e.offset}: {e.reason}\r\n".encode()], False)
        if frames:
            if self.taps:
                self.tap("in", [frame for _, frame, _ in frames])
            outs = self._group([(frame, origin) for _, frame, origin in frames])
            for (i, _, _), out in zip(frames, outs, strict=True):
                answers[i] = self._deliver(out, routed=False)
        return [a if a is not None else self.answer(*lines[i]) for i, a in enumerate(answers)]

    def _group(self, frames: list[tuple[bytes, object]]) -> list[Outcome]:
        """`Hub.handle_group` under the lock. A failure the core did not name is a bug: logged, the hub goes back
        to its last commit (nothing of the group was answered) and each command runs again on its own (`call`), so
        one poisonous frame costs the others of its group nothing but time."""
        with self.priority.held():
            try:
                return self.hub.handle_group(frames)
            except Exception:
                log.exception("unexpected failure in a group of %d command(s); state reloaded, each run again alone",
                              len(frames))
                self.hub.reload()
            return [self.call(self.hub.handle, frame, origin) for frame, origin in frames]

    def _deliver(self, out: Outcome, routed: bool) -> Answer:
        """Carry out one committed outcome (routed frames the HAN has room for, `after`) and make its answer."""
        if self.taps:
            self.tap("out", out.frames)
        errors: list[bytes] = []
        if any(isinstance(c, Tunnel) for c in out.han):
            kept: list[HanCommand] = []
            for c in out.han:
                why = self.admit(c) if isinstance(c, Tunnel) else None
                if why is None:
                    kept.append(c)
                    continue
                self.call(self.hub.han_event, Undelivered(c.eui, c.frame, why), routine=routed)
                errors.append(f"ERROR {why}\r\n".encode())
            out.han = kept
        self.after(out)
        return Answer([encode_line(f) for f in out.frames] + errors, True)

    def _control(self, cmd: str) -> str:
        parts = cmd.split()
        if not parts:
            return "CHF:ERROR empty control command"
        op, args = parts[0].upper(), parts[1:]
        command = self.controls.get(op)
        if command is None:
            return f"CHF:ERROR unknown control command {op!r} ({', '.join(self.controls)})"
        try:
            if command.on_loop:
                return self._on_loop(command.handler, args)
            with self.lock:
                return command.handler(args)
        except (FaultSpecError, ValueError) as e:
            return f"CHF:ERROR {e}"

    def _on_loop(self, handler: Callable[[list[str]], str], args: list[str]) -> str:
        """Run a handler on the radio's loop and wait for its answer (asyncio objects belong to their loop)."""
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            return handler(args)

        async def run() -> str:
            return handler(args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    # ------------------------------------------------------------------------------------- built-in controls
    def _fault(self, args: list[str]) -> str:
        if len(args) != 1:
            raise ValueError("CHF:FAULT SPEC")
        self.hub.faults.add(parse_fault(args[0]))
        return f"CHF:OK fault {args[0]}"

    def _clear_faults(self, args: list[str]) -> str:
        self.hub.faults.clear()
        return "CHF:OK"

    def _tick(self, args: list[str]) -> str:
        self.after(self.call(self.hub.tick))
        return "CHF:OK"

    def _join(self, args: list[str]) -> str:
        if len(args) not in (2, 3):
            raise ValueError("CHF:JOIN EUI KEY [historic]")
        if not self.allow_join:
            return "CHF:ERROR CHF:JOIN simulates a join and is only for --radio none; this hub has a radio"
        out = self.call(self.hub.device_joined, bytes.fromhex(args[0]), bytes.fromhex(args[1]),
                        len(args) == 3 and args[2] == "historic")
        self.after(out)
        if out.rejection is not None:
            return f"CHF:ERROR join refused ({out.rejection[0].name}): {out.rejection[1]}"
        self.broadcast(list(out.frames))
        return f"CHF:OK {len(out.frames)} alert(s)"


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close gently: send FIN after our last line and read (and drop) what the peer still sends for a moment.
    Closing a socket with unread input sends a TCP reset, which can discard our last line before the peer
    reads it (RFC 1122 4.2.2.13); a peer still talking gets at most LINGER_S and LINGER_BYTES more."""
    try:
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_S):
            got = 0
            while got < LINGER_BYTES and (chunk := await reader.read(65536)):
                got += len(chunk)
    except (TimeoutError, ConnectionError, OSError):
        pass


class TcpWan:
    """asyncio TCP server speaking GFI lines."""

    def __init__(self, dispatcher: Dispatcher, host: str = "127.0.0.1", port: int = 4059,
                 limits: WanLimits | None = None) -> None:
        self.d = dispatcher
        self.host, self.port = host, port
        self.limits = limits or WanLimits()
        self.clients: set[asyncio.StreamWriter] = set()
        self._per_host: dict[str | None, int] = {}  # connections held per source address
        self.outbox: deque[bytes] = deque(maxlen=OUTBOX)
        self.server: asyncio.base_events.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.quiet = QuietLog(log)
        self._tasks: set[asyncio.Task] = set()
        dispatcher.broadcast = self._threadsafe(self._broadcast)
        dispatcher.send_to = self._send_to

    def _threadsafe(self, fn: Callable[[list[bytes]], None]) -> Callable[[list[bytes]], None]:
        """Writers belong to the loop: calls from the hub's worker thread are handed to it."""
        def call(frames: list[bytes]) -> None:
            if self.loop is None:
                fn(frames)
            else:
                on_loop(self.loop, fn, frames)
        return call

    def _send_to(self, origin: object, frames: list[bytes]) -> bool:
        if origin not in self.clients:
            return False
        w: asyncio.StreamWriter = origin  # type: ignore[assignment]
        lines = [encode_line(f) for f in frames]
        loop = self.loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(lambda: [w.write(ln) for ln in lines])
        else:
            for ln in lines:
                w.write(ln)
        return True

    async def start(self) -> tuple[str, int]:
        loop = self.loop = asyncio.get_running_loop()
        default = loop.get_exception_handler()

        def quiet_handler(lp: asyncio.AbstractEventLoop, ctx: dict) -> None:
            # asyncio logs every failed accept() (e.g. EMFILE) with a traceback: one line per minute instead
            if "accept" in str(ctx.get("message", "")):
                self.quiet.log("accept", f"cannot accept connections: {ctx.get('exception') or ctx.get('message')}")
            elif default is not None:
                default(lp, ctx)
            else:
                lp.default_exception_handler(ctx)

        loop.set_exception_handler(quiet_handler)
        self.server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_LINE)
        sock = self.server.sockets[0].getsockname()
        return sock[0], sock[1]

    def _broadcast(self, frames: list[bytes]) -> None:
        lines = [encode_line(f) for f in frames]
        if not self.clients:
            self.outbox.extend(lines)
            return
        for w in list(self.clients):
            for ln in lines:
                w.write(ln)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = writer.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else None
        refusal = None
        if len(self.clients) >= self.limits.max_connections:
            refusal = f"too many connections ({self.limits.max_connections}); try later"
            self.quiet.log("cap", f"connection refused: {self.limits.max_connections} clients already connected")
        elif self._per_host.get(host, 0) >= self.limits.per_source:
            refusal = f"too many connections from {host} ({self.limits.per_source}); try later"
            self.quiet.log("per-source", f"connection refused: {host} already holds {self.limits.per_source}")
        if refusal is not None:
            try:
                writer.write(f"ERROR {refusal}\r\n".encode())
                writer.close()
            except Exception:
                pass
            return
        control_ok = self.limits.control_allowed(host)
        self.clients.add(writer)
        self._per_host[host] = self._per_host.get(host, 0) + 1
        while self.outbox:
            writer.write(self.outbox.popleft())
        lines = LineSplitter(MAX_LINE)
        loop = asyncio.get_running_loop()
        try:
            # The slot is kept by frames: a complete GFI frame line (whatever the hub makes of it) or an allowed
            # control command restarts the idle timer; empty, malformed, over-long or refused lines do not.
            deadline = loop.time() + self.limits.idle_timeout
            eof = False
            while not eof:
                try:
                    async with asyncio.timeout_at(deadline):  # no task per read, as wait_for would make
                        chunk = await reader.read(65536)
                except TimeoutError:
                    writer.write(f"ERROR no frame for {self.limits.idle_timeout:g} s; closing\r\n".encode())
                    await _linger(reader, writer)
                    break
                eof = not chunk
                for piece in lines.feed(chunk) if chunk else lines.end():
                    if piece is Piece.OVERSIZE:
                        writer.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
                    elif piece.lstrip().startswith(b"CHF:") and not control_ok:
                        self.quiet.log("control", f"control line refused from {host}", logging.WARNING)
                        writer.write(f"CHF:ERROR control channel not open to {host} (see --control-from)\r\n"
                                     .encode())
                    else:
                        answer = await self._line(piece, writer)
                        if answer.active:
                            deadline = loop.time() + self.limits.idle_timeout
                        if answer.lines:
                            writer.write(b"".join(answer.lines))  # a response and its alerts: one send
                    await writer.drain()
                    await asyncio.sleep(0)  # one line per turn: clients take turns, a flood cannot starve another
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(writer)
            left = self._per_host.get(host, 1) - 1
            if left > 0:
                self._per_host[host] = left
            else:
                self._per_host.pop(host, None)
            try:
                writer.close()
            except Exception:
                pass

    async def _line(self, raw: bytes, writer: asyncio.StreamWriter) -> Answer:
        """Hub work off the loop, on the dispatcher's lane for it: the loop stays free for the radio and other
        clients, and routed frames never queue ahead of the CHF's own commands. A GBCS line for the CHF joins the
        hub lane's next group (group commit: answered once the group has committed)."""
        loop = asyncio.get_running_loop()
        if self.d.is_routed(raw):
            return await loop.run_in_executor(self.d.routed_executor, self.d.answer, raw, writer, True)
        if raw.lstrip().startswith(b"CHF:"):
            return await loop.run_in_executor(self.d.executor, self.d.answer, raw, writer, False)
        done: asyncio.Future[Answer] = loop.create_future()
        self.d.executor.put_line(raw, writer, done)
        return await done

    async def close(self) -> None:
        """Stop accepting, then end every client's handler (no task is left pending on a closing loop)."""
        if self.server is not None:
            self.server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


def serve_serial(dispatcher: Dispatcher, url: str, baudrate: int = 115200,
                 stop: threading.Event | None = None, ready: threading.Event | None = None,
                 control: bool = False) -> None:
    """Blocking loop: GFI lines over a serial port (any pyserial URL: /dev/ttyUSB1, socket://host:port, ...).

    A serial line is not a local cable (a `socket://` URL reaches the network, a USB adapter anyone in the room):
    `CHF:` control lines are refused unless `control` (`--control-from serial`). `ready` is set once the port is
    open (pyserial flushes its input while opening)."""
    import serial  # pyserial

    stop = stop or threading.Event()
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
    if ready is not None:
        ready.set()
    dispatcher.broadcast = lambda frames: [port.write(encode_line(f)) for f in frames]
    lines = LineSplitter(MAX_LINE)
    try:
        while not stop.is_set():
            chunk = port.read(4096)
            if not chunk:
                continue
            for piece in lines.feed(chunk):
                if piece is Piece.OVERSIZE:
                    port.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
                    continue
                if piece.lstrip().startswith(b"CHF:") and not control:
                    port.write(b"CHF:ERROR control channel not open on a serial line (see --control-from serial)\r\n")
                    continue
                for out in dispatcher.line(piece):
                    port.write(out)
    finally:
        port.close()
