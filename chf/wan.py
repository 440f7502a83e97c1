"""The WAN port: GFI text framing over TCP (asyncio, many clients) or a serial line (pyserial).

One frame per line, `GBCS:DATA#0:<len>:<HEX>` + CRLF, both ways (GBCS.md §2.1). A malformed line gets one
`ERROR ...` line back and the connection stays usable. Lines starting `CHF:` are the control channel for test
rigs (faults, state, simulated joins); they never carry GBCS. Unsolicited alerts (from the HAN side or the
clock) go to every connected client; with none connected they wait in a bounded outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from typing import Callable

from gbcs.errors import DecodeError
from gbcs.gfi import decode_line, encode_line

from .faults import FaultSpecError, parse_fault
from .hub import Hub

log = logging.getLogger("chf.wan")

MAX_LINE = 1 << 17  # a GFI line for a 64 KiB frame is ~128 KiB
OUTBOX = 1000


class Dispatcher:
    """Turns one received line into the lines to send back; thread-safe around the sans-I/O hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.lock = hub.lock
        self.broadcast: Callable[[list[bytes]], None] = lambda frames: None

    def line(self, raw: bytes) -> list[bytes]:
        text = raw.strip(b"\r\n \t")
        if not text:
            return []
        if text.startswith(b"CHF:"):
            return [self._control(text[4:].decode("ascii", "replace")).encode("ascii", "replace") + b"\r\n"]
        try:
            frame = decode_line(text)
        except DecodeError as e:
            return [f"ERROR {e.field} at {e.offset}: {e.reason}\r\n".encode()]
        with self.lock:
            frames = self.hub.handle(frame)
        return [encode_line(f) for f in frames]

    def _control(self, cmd: str) -> str:
        parts = cmd.split()
        if not parts:
            return "CHF:ERROR empty control command"
        op, args = parts[0].upper(), parts[1:]
        with self.lock:
            try:
                if op == "PING":
                    return "CHF:OK PONG"
                if op == "FAULT" and len(args) == 1:
                    self.hub.faults.add(parse_fault(args[0]))
                    return f"CHF:OK fault {args[0]}"
                if op == "FAULTS":
                    return "CHF:OK " + " ".join(f.spec() for f in self.hub.faults.list())
                if op == "CLEAR-FAULTS":
                    self.hub.faults.clear()
                    return "CHF:OK"
                if op == "STATE":
                    return "CHF:OK " + json.dumps(self.hub.snapshot(), separators=(",", ":"))
                if op == "TICK":
                    self.hub.tick()
                    return "CHF:OK"
                if op == "JOIN" and len(args) in (2, 3):
                    alerts = self.hub.device_joined(bytes.fromhex(args[0]), bytes.fromhex(args[1]),
                                                    historic=len(args) == 3 and args[2] == "historic")
                    self.broadcast(alerts)
                    return f"CHF:OK {len(alerts)} alert(s)"
            except (FaultSpecError, ValueError) as e:
                return f"CHF:ERROR {e}"
        return f"CHF:ERROR unknown control command {op!r} (PING, FAULT, FAULTS, CLEAR-FAULTS, STATE, TICK, JOIN)"


class TcpWan:
    """asyncio TCP server speaking GFI lines."""

    def __init__(self, dispatcher: Dispatcher, host: str = "127.0.0.1", port: int = 4059) -> None:
        self.d = dispatcher
        self.host, self.port = host, port
        self.clients: set[asyncio.StreamWriter] = set()
        self.outbox: deque[bytes] = deque(maxlen=OUTBOX)
        self.server: asyncio.base_events.Server | None = None
        dispatcher.broadcast = self._broadcast

    async def start(self) -> tuple[str, int]:
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
        self.clients.add(writer)
        while self.outbox:
            writer.write(self.outbox.popleft())
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError as e:
                    # Oversize line: drop it up to its end, say so, keep the connection.
                    await reader.readexactly(e.consumed)
                    while True:
                        try:
                            await reader.readuntil(b"\n")
                            break
                        except asyncio.LimitOverrunError as e2:
                            await reader.readexactly(e2.consumed)
                    writer.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
                    await writer.drain()
                    continue
                except asyncio.IncompleteReadError as e:
                    if e.partial.strip():
                        for out in self.d.line(e.partial):
                            writer.write(out)
                    break
                for out in self.d.line(raw):
                    writer.write(out)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(writer)
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
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
    buf = bytearray()
    try:
        while not stop.is_set():
            chunk = port.read(4096)
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                i = buf.index(b"\n")
                line, buf = bytes(buf[:i + 1]), buf[i + 1:]
                for out in dispatcher.line(line):
                    port.write(out)
            if len(buf) > MAX_LINE:
                buf.clear()
                port.write(f"ERROR line longer than {MAX_LINE} bytes\r\n".encode())
    finally:
        port.close()
