"""`chf send`: talk to a hub over its WAN port as a remote party (GFI lines over TCP)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from gbcs.errors import DecodeError
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.grouping_header import Cra


@dataclass
class Exchange:
    sent: bytes
    received: list[bytes]

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
         linger: float | None = None) -> Exchange:
    """Send one frame; collect every frame received within `wait` seconds. With `linger`, stop early that many
    seconds after the response (rigs and the demo, where the alerts follow the response at once)."""
    received: list[bytes] = []
    with socket.create_connection((host, port), timeout=connect_timeout) as s:
        s.sendall(encode_line(frame))
        deadline = time.monotonic() + wait
        buf = b""
        got_response_at: float | None = None
        while True:
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
    return Exchange(frame, received)


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
