"""The WAN port: GFI text framing over TCP (asyncio, many clients) or a serial line (pyserial).

One frame per line, `GBCS:DATA#0:<len>:<HEX>` + CRLF, both ways (DCC GFI framing). A malformed line gets one
`ERROR ...` line back and the connection stays usable. Lines starting `CHF:` are the control channel for test
rigs (faults, state, simulated joins); they never carry GBCS, and only peers allowed by `WanLimits.control_from`
(loopback by default) may use them. Unsolicited alerts (from the HAN side or the clock) go to every connected
client; with none connected they wait in a bounded outbox. Connections are capped, silent ones time out, and
clients take turns line by line so one flood cannot starve another (chf/runtime/wan_limits.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from chf.core.faults import FaultSpecError, parse_fault
from chf.core.hub import Hub, Outcome
from chf.core.quiet_log import QuietLog
from chf.runtime.wan_limits import LineSplitter, Piece, WanLimits
from gbcs.errors import DecodeError
from gbcs.gfi import decode_line, encode_line

log = logging.getLogger("chf.runtime.wan")

MAX_LINE = 1 << 17  # a GFI line for a 64 KiB frame is ~128 KiB
OUTBOX = 1000


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


class Dispatcher:
    """Turns one received line into the lines to send back, one input at a time around the sans-I/O hub.

    Hub work (signature checks, commits) runs on the dispatcher's one worker thread (`executor`), off the event
    loop that drives the radio, and under `lock` whichever port (TCP, serial, HAN, clock) it came from: the
    runtime serialises, the core has no lock. After every outcome `after(outcome)` is called (the runtime carries
    out radio commands and forwards device frames); `send_to(origin, frames)` delivers a device's response to the
    connection its command came on, `broadcast(frames)` sends alerts to every client."""

    def __init__(self, hub: Hub, *, allow_join: bool = True) -> None:
        self.hub = hub
        self.lock = threading.RLock()
        self.allow_join = allow_join  # CHF:JOIN simulates a join: only with no radio (`--radio none`)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="hub")
        self.broadcast: Callable[[list[bytes]], None] = lambda frames: None
        self.send_to: Callable[[object, list[bytes]], bool] = lambda origin, frames: False
        self.after: Callable[[Outcome], None] = self.forward
        self.loop: asyncio.AbstractEventLoop | None = None  # the radio's loop, for `on_loop` control commands
        self.controls: dict[str, ControlCommand] = {}
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

    def call(self, fn: Callable[..., Outcome], *args: object) -> Outcome:
        """Run one hub entry point under the lock. A failure the core did not name is a bug: it is logged with its
        traceback and the hub goes back to its last committed state, so no input takes the hub down."""
        with self.lock:
            try:
                return fn(*args)
            except Exception:
                log.exception("unexpected failure in %s; state reloaded from the store", getattr(fn, "__name__", fn))
                self.hub.reload()
                return Outcome()

    def forward(self, outcome: Outcome) -> None:
        """Pass device frames up: a response to its command's connection (else everyone), alerts to everyone."""
        for frame, origin in outcome.forward:
            if origin is None or not self.send_to(origin, [frame]):
                self.broadcast([frame])

    def line(self, raw: bytes, origin: object = None) -> list[bytes]:
        text = raw.strip(b"\r\n \t")
        if not text:
            return []
        if text.startswith(b"CHF:"):
            return [self._control(text[4:].decode("ascii", "replace")).encode("ascii", "replace") + b"\r\n"]
        try:
            frame = decode_line(text)
        except DecodeError as e:
            return [f"ERROR {e.field} at {e.offset}: {e.reason}\r\n".encode()]
        out = self.call(self.hub.handle, frame, origin)
        self.after(out)
        return [encode_line(f) for f in out.frames]

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


class TcpWan:
    """asyncio TCP server speaking GFI lines."""

    def __init__(self, dispatcher: Dispatcher, host: str = "127.0.0.1", port: int = 4059,
                 limits: WanLimits | None = None) -> None:
        self.d = dispatcher
        self.host, self.port = host, port
        self.limits = limits or WanLimits()
        self.clients: set[asyncio.StreamWriter] = set()
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
            loop = self.loop
            if loop is None or not loop.is_running():
                fn(frames)
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                fn(frames)
            else:
                loop.call_soon_threadsafe(fn, frames)
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
        if len(self.clients) >= self.limits.max_connections:
            self.quiet.log("cap", f"connection refused: {self.limits.max_connections} clients already connected")
            try:
                writer.write(f"ERROR too many connections ({self.limits.max_connections}); try later\r\n".encode())
                writer.close()
            except Exception:
                pass
            return
        control_ok = self.limits.control_allowed(host)
        self.clients.add(writer)
        while self.outbox:
            writer.write(self.outbox.popleft())
        lines = LineSplitter(MAX_LINE)
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + self.limits.idle_timeout
            eof = False
            while not eof:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    writer.write(f"ERROR no complete line for {self.limits.idle_timeout:g} s; closing\r\n".encode())
                    break
                eof = not chunk
                for piece in lines.feed(chunk) if chunk else lines.end():
                    deadline = loop.time() + self.limits.idle_timeout
                    if piece is Piece.OVERSIZE:
                        writer.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
                    elif piece.lstrip().startswith(b"CHF:") and not control_ok:
                        self.quiet.log("control", f"control line refused from {host}", logging.WARNING)
                        writer.write(f"CHF:ERROR control channel not open to {host} (see --control-from)\r\n"
                                     .encode())
                    else:
                        for out in await self._line(piece, writer):
                            writer.write(out)
                    await writer.drain()
                    await asyncio.sleep(0)  # one line per turn: clients take turns, a flood cannot starve another
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(writer)
            try:
                writer.close()
            except Exception:
                pass

    async def _line(self, raw: bytes, writer: asyncio.StreamWriter) -> list[bytes]:
        """Hub work on the dispatcher's worker thread: the loop stays free for the radio and other clients."""
        return await asyncio.get_running_loop().run_in_executor(self.d.executor, self.d.line, raw, writer)

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
                 stop: threading.Event | None = None, ready: threading.Event | None = None) -> None:
    """Blocking loop: GFI lines over a serial port (any pyserial URL: /dev/ttyUSB1, socket://host:port, ...).

    `ready` is set once the port is open (pyserial flushes its input while opening)."""
    import serial  # pyserial

    stop = stop or threading.Event()
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
    if ready is not None:
        ready.set()
    dispatcher.broadcast = lambda frames: [port.write(encode_line(f)) for f in frames]
    lines = LineSplitter(MAX_LINE)  # a serial line is a local link: the control channel stays open on it
    try:
        while not stop.is_set():
            chunk = port.read(4096)
            if not chunk:
                continue
            for piece in lines.feed(chunk):
                if piece is Piece.OVERSIZE:
                    port.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
                    continue
                for out in dispatcher.line(piece):
                    port.write(out)
    finally:
        port.close()
