"""`chf send`: talk to a hub over its WAN port as a remote party (GFI lines over TCP)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable

from gbcs.errors import DecodeError
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.grouping_header import Cra


@dataclass
class Exchange:
    sent: bytes
    received: list[bytes]
    settled: bool = False  # every alert the response's outcome raised is in `received` (`send(settle=True)`)

    @property
    def response(self) -> bytes | None:
        """The response to what was sent: CRA 02 echoing the command's counter (as every RTDS response does)."""
        try:
            counter = decode_frame(self.sent).header.counter
        except DecodeError:
            counter = None
        for f in self.received:
            try:
                h = decode_frame(f).header
            except DecodeError:
                continue
            if h.cra is Cra.RESPONSE and (counter is None or h.counter == counter):
                return f
        return None


def send(host: str, port: int, frame: bytes, wait: float = 2.0, connect_timeout: float = 5.0,
         linger: float | None = None, settle: bool = False,
         until: Callable[[list[bytes]], bool] | None = None) -> Exchange:
    """Send one frame; collect every frame received within `wait` seconds. With `linger`, stop early that many
    seconds after the response (rigs and the demo, where the alerts follow the response at once).

    With `settle`, stop as soon as the response and the alerts it raised are in: once the response has come, one
    `CHF:PING` is sent on the same connection; the hub writes all the frames of one input's outcome (the response,
    then its alerts, such as the CS14 after a CCS01) before it reads the next line, so they are all in when its
    reply is (`Exchange.settled`). `until(received)` then says whether anything more is still to come (a CCS01's
    CS14 with the joined device's hash); `wait` stays the most it waits. A hub that does not answer `CHF:` lines
    is waited for the whole `wait`, as before."""
    received: list[bytes] = []
    settled = False
    with socket.create_connection((host, port), timeout=connect_timeout) as s:
        s.sendall(encode_line(frame))
        deadline = time.monotonic() + wait
        buf = b""
        got_response_at: float | None = None
        pinged = False
        while True:
            if settled and (until is None or until(received)):
                break
            now = time.monotonic()
            end = deadline if got_response_at is None or linger is None else min(deadline, got_response_at + linger)
            if now >= end:
                break
            s.settimeout(end - now)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"GBCS:"):
                    try:
                        received.append(decode_line(line))
                    except DecodeError:
                        continue
                    if got_response_at is None and Exchange(frame, received).response is not None:
                        got_response_at = time.monotonic()
                        if settle:
                            s.sendall(b"CHF:PING\r\n")
                            pinged = True
                elif line.startswith(b"CHF:") and pinged:
                    settled = True
    return Exchange(frame, received, settled)


def control(host: str, port: int, command: str, timeout: float = 5.0) -> tuple[str, list[bytes]]:
    """Send one `CHF:` control line; return its reply line and any GBCS frames (alerts) that came before it."""
    frames: list[bytes] = []
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"CHF:{command}\r\n".encode())
        buf = b""
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"CHF:"):
                    return line.decode().strip(), frames
                if line.startswith(b"GBCS:"):
                    try:
                        frames.append(decode_line(line))
                    except DecodeError:
                        pass
            chunk = s.recv(65536)
            if not chunk:
                return "", frames
            buf += chunk
