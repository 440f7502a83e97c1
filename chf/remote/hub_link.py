"""A remote party's lasting connection to one hub's WAN port: send commands, collect every frame that comes
back (responses, and alerts that arrive later, such as CS14 after a join), wait for one that matches.

`chf send` opens a connection per command; triage and reconcile keep one per hub so that no alert is missed
between two commands. Every frame sent or received is kept in `journal` (for reports).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

from gbcs.errors import DecodeError
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.grouping_header import Cra, GroupingHeader


@dataclass(frozen=True)
class Traffic:
    """One frame on the wire, as the remote party saw it."""

    direction: str  # "sent" or "received"
    frame: bytes
    at: float       # time.monotonic()
    by: int = 0     # the thread that sent it (threading.get_ident()); 0 for a frame received


def header(frame: bytes) -> GroupingHeader | None:
    try:
        return decode_frame(frame).header
    except DecodeError:
        return None


class Head(NamedTuple):
    """What matching a frame needs from its grouping header."""

    cra: Cra
    originator: bytes
    recipient: bytes
    counter: int
    message_code: int


@lru_cache(maxsize=4096)
def head(frame: bytes) -> Head | None:
    """`header(frame)`'s fields for matching, decoded once per frame (threads sharing a link each look at every
    frame that comes in while they wait)."""
    h = header(frame)
    return None if h is None else Head(h.cra, h.originator, h.recipient, h.counter, h.message_code)


class HubLinkError(ConnectionError):
    """The hub's WAN port could not be reached or closed the connection."""


class HubLink:
    def __init__(self, host: str, port: int, connect_timeout: float = 5.0) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as e:
            raise HubLinkError(f"cannot reach the hub at {host}:{port}: {e.strerror or e}") from None
        self.sock.settimeout(None)
        self.where = f"{host}:{port}"
        self.journal: list[Traffic] = []
        self._frames: list[bytes] = []
        self._controls: list[str] = []
        self._cv = threading.Condition()
        self._send_lock = threading.Lock()  # one writer at a time: threads sharing the link (triage --parallel)
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._closed = True
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                with self._cv:
                    if line.startswith(b"GBCS:"):
                        try:
                            f = decode_line(line)
                        except DecodeError:
                            continue
                        self._frames.append(f)
                        self.journal.append(Traffic("received", f, time.monotonic()))
                    elif line.startswith(b"CHF:"):
                        self._controls.append(line.decode("ascii", "replace"))
                    self._cv.notify_all()

    def send(self, frame: bytes) -> int:
        """Send a frame; return the index from which frames received after it are looked for. Threads may share
        a link: frames go out whole, in the order they appear in `journal`."""
        with self._send_lock:
            with self._cv:
                mark = len(self._frames)
                self.journal.append(Traffic("sent", frame, time.monotonic(), threading.get_ident()))
            try:
                self.sock.sendall(encode_line(frame))
            except OSError as e:
                raise HubLinkError(f"hub at {self.where}: {e.strerror or e}") from None
        return mark

    def wait_for(self, match: Callable[[bytes], bool], timeout: float, since: int = 0) -> bytes | None:
        """The first frame received (from index `since`) that `match`es, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cv:
            while True:
                while i < len(self._frames):
                    f = self._frames[i]
                    i += 1
                    if match(f):
                        return f
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cv.wait(left)

    def request(self, frame: bytes, timeout: float) -> bytes | None:
        """Send a command; the response to it (CRA 02, the command's counter, from its target) or None."""
        return self.answer(frame, timeout, self.send(frame))

    def answer(self, frame: bytes, timeout: float, since: int) -> bytes | None:
        """The response to a command already sent (`since`: what `send` returned for it), or None."""
        h = head(frame)
        if h is None:
            return None
        mark = since

        def answers(f: bytes) -> bool:
            r = head(f)
            return r is not None and r.cra is Cra.RESPONSE and r.counter == h.counter and \
                r.originator == h.recipient and r.recipient == h.originator
        return self.wait_for(answers, timeout, mark)

    def control(self, command: str, timeout: float = 10.0) -> str:
        """One `CHF:` control line; its reply line."""
        with self._send_lock:  # the hub answers a connection's control lines in order: the reply at `mark` is ours
            with self._cv:
                mark = len(self._controls)
            try:
                self.sock.sendall(f"CHF:{command}\r\n".encode())
            except OSError as e:
                raise HubLinkError(f"hub at {self.where}: {e.strerror or e}") from None
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self._controls) <= mark:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return ""
                self._cv.wait(left)
            return self._controls[mark]

    def settle(self, timeout: float) -> bool:
        """Wait until every frame the hub wrote on this connection before now is in `journal`: one `CHF:PING`
        round trip. The hub handles a connection's lines in order and writes all the frames of one input's
        outcome (a response and the alerts it raised, such as the CS14 after a CCS01, CCS02 or CCS03) before it
        reads the next line, so they are all in once the reply to the ping is. A hub that keeps its control
        channel from this peer still answers the line (`CHF:ERROR ...`), which marks the point as well.
        False when no reply came within `timeout` (or the connection closed); HubLinkError if it cannot send."""
        return self.control("PING", timeout) != ""

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> "HubLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
