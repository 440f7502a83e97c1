"""Serving an emulated stick to a host: a TCP listener (`HOST:PORT`, port 0 picks one: the radio library's
`socket://` or `tcp://` URL) or a pseudo-terminal (`/dev/pts/N`: the serial path, as a USB stick's tty).

The byte stream goes to a sans-I/O link (`zigbee.ncp.ezsp.EzspLink`, `zigbee.ncp.znp.ZnpLink`); this module
only moves bytes and runs the link's timers on the bench's event loop. One host at a time, as on a real stick: a
second TCP client is turned away while the first is connected. When the host goes (the socket closes, the pty's
last opener closes it) its session is detached and the stick's radio falls silent until the next host connects.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
import tty
from typing import Callable, Protocol

from zigbee.ncp.stick import EmulatedStick

log = logging.getLogger(__name__)

PTY_POLL_S = 0.05  # how often a pty without a host is looked at for one


class Link(Protocol):
    kind: str
    startup_reset_delay: float | None
    wakeup: Callable[[], None] | None

    def attach(self) -> None: ...

    def detach(self) -> None: ...

    def startup_reset(self) -> None: ...

    def reset_stick(self) -> None: ...

    def receive(self, data: bytes) -> None: ...

    def data_to_send(self) -> bytes: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self) -> None: ...


def make_link(stick: EmulatedStick) -> Link:
    if stick.kind == "ezsp":
        from zigbee.ncp.ezsp import EzspLink

        return EzspLink(stick)
    if stick.kind == "znp":
        from zigbee.ncp.znp import ZnpLink

        return ZnpLink(stick)
    raise ValueError(f"unknown stick kind {stick.kind!r}")


class _Pump:
    """Writes what a link has to send and runs its timers (monotonic deadlines) on the loop."""

    def __init__(self, link: Link, write: Callable[[bytes], None]) -> None:
        self.link = link
        self.write = write
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._scheduled = False
        self.closed = False
        link.wakeup = self.soon

    def soon(self) -> None:
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        out = self.link.data_to_send()
        if out:
            try:
                self.write(out)
            except OSError as e:
                log.debug("stick write failed: %s", e)
        self._arm()

    def _arm(self) -> None:
        deadline = self.link.next_deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._timer = self.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if not self.closed:
            self.link.on_timer()
            self.flush()

    def feed(self, data: bytes) -> None:
        self.link.receive(data)
        self.flush()

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()


class StickServer:
    """Serves `stick` on TCP or a pty until `close()`."""

    def __init__(self, stick: EmulatedStick, link_factory: Callable[[EmulatedStick], Link] = make_link) -> None:
        self.stick = stick
        self.link_factory = link_factory
        self.host: str | None = None
        self.port: int | None = None
        self.pty_path: str | None = None
        self._server: asyncio.base_events.Server | None = None
        self._busy = False
        self._client_tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._master: int | None = None
        self._pty_pump: _Pump | None = None
        self._pty_poll: asyncio.TimerHandle | None = None
        self.sessions = 0  # hosts served so far
        self.link: Link | None = None  # the connected host's link (tests inject faults through it)

    @property
    def address(self) -> str:
        return self.pty_path if self.pty_path else f"{self.host}:{self.port}"

    # -------------------------------------------------------------------------------------- TCP
    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._client, host, port)
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        return self.host, self.port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._busy:
            log.warning("stick %s: a second host connected; turned away", self.stick.name)
            writer.close()
            return
        self._busy = True
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._client_tasks.add(task)
        link = self.link_factory(self.stick)
        pump = _Pump(link, writer.write)
        link.attach()
        self.link = link
        self.sessions += 1
        reset_timer = None
        if link.startup_reset_delay is not None:
            def announce() -> None:
                link.startup_reset()
                pump.flush()
            reset_timer = asyncio.get_running_loop().call_later(link.startup_reset_delay, announce)
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                pump.feed(data)
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # closing: the stream server's callback must not see a cancelled task (Python 3.11)
        finally:
            if reset_timer is not None:
                reset_timer.cancel()
            pump.close()
            link.detach()
            if self.link is link:
                self.link = None
            self._busy = False
            self._writers.discard(writer)
            if task is not None:
                self._client_tasks.discard(task)
            writer.close()

    def drop_host(self) -> None:
        """Cut the host's TCP connection (as a pulled network cable would)."""
        for w in list(self._writers):
            w.transport.abort()

    def reset_stick(self) -> None:
        """The stick resets on its own while a host is connected (EZSP: RSTACK; Z-Stack: SYS.ResetInd)."""
        if self.link is not None:
            self.link.reset_stick()

    # -------------------------------------------------------------------------------------- pty
    async def start_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        self.pty_path = os.ttyname(slave)
        os.close(slave)  # the host opens it; a read of the master fails with EIO while nobody has
        os.set_blocking(master, False)
        self._master = master
        self._poll_pty()
        return self.pty_path

    def _poll_pty(self) -> None:
        """Nobody has the pty open: look again soon (a read of the master is EIO until a host opens it)."""
        self._pty_poll = None
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            data = b""
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            self._pty_poll = asyncio.get_running_loop().call_later(PTY_POLL_S, self._poll_pty)
            return
        self._pty_attach()
        if data:
            assert self._pty_pump is not None
            self._pty_pump.feed(data)

    def _pty_attach(self) -> None:
        master = self._master
        assert master is not None
        link = self.link_factory(self.stick)
        self._pty_pump = _Pump(link, lambda b: _write_all(master, b))
        link.attach()
        self.link = link
        self.sessions += 1
        asyncio.get_running_loop().add_reader(master, self._pty_readable)

    def _pty_readable(self) -> None:
        assert self._master is not None and self._pty_pump is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if data:
            self._pty_pump.feed(data)
            return
        asyncio.get_running_loop().remove_reader(self._master)  # the host closed the pty
        self._pty_pump.close()
        self._pty_pump.link.detach()
        self._pty_pump = None
        self.link = None
        self._pty_poll = asyncio.get_running_loop().call_later(PTY_POLL_S, self._poll_pty)

    # -------------------------------------------------------------------------------------- closing
    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            for task in list(self._client_tasks):
                task.cancel()
            await asyncio.gather(*self._client_tasks, return_exceptions=True)
            self._server = None
        if self._master is not None:
            if self._pty_poll is not None:
                self._pty_poll.cancel()
            if self._pty_pump is not None:
                asyncio.get_running_loop().remove_reader(self._master)
                self._pty_pump.close()
                self._pty_pump.link.detach()
                self._pty_pump = None
            os.close(self._master)
            self._master = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        view = view[n:]
