"""Limits of the WAN port: who may use the control channel, how many connections (in all and from one address),
how long a connection that sends no frame keeps its slot, and a bounded line splitter (sans-I/O, so it is
property-tested on its own).

A firmware hub has a fixed number of sockets and buffers; these defaults are ours [I] (no public GBCS figure) and
are documented in docs/robustness.md. The `CHF:` control channel (state, faults, simulated joins) is a test-rig
facility, not GBCS: by default only loopback peers may use it, and never a serial line unless `serial` is named.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_CONTROL_FROM = ("127.0.0.0/8", "::1/128")
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds without one complete frame (or allowed control line): then the slot is freed
FD_RESERVE = 64  # descriptors kept back from the connection cap for the database, logs and the listener
SERIAL = "serial"  # --control-from keyword: the control channel is open on a serial WAN line too
NOBODY = "none"    # --control-from keyword: the control channel is closed to every peer, loopback included


def default_per_source(max_connections: int) -> int:
    """A quarter of the slots per source address (at least one): one peer cannot hold them all."""
    return max(1, max_connections // 4)


def parse_networks(specs: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """`--control-from` values (comma-separated CIDRs or addresses); ValueError names the bad one. The keywords
    `serial` and `none` are read by `parse_control_from`, not here."""
    out: list[Network] = []
    for spec in specs:
        for raw in spec.split(","):
            part = raw.strip()
            if not part:
                continue
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"--control-from: {part!r} is not an IP address or network "
                                 f"(or the keyword {SERIAL!r} or {NOBODY!r})") from None
    return tuple(out)


def parse_control_from(specs: list[str] | tuple[str, ...]) -> tuple[tuple[Network, ...], bool]:
    """`--control-from` as (networks, serial): the values widen the loopback default; `serial` also opens the
    control channel on a serial WAN line; `none` (alone) closes it to everyone, loopback included."""
    words = [p.strip() for s in specs for p in s.split(",") if p.strip()]
    keywords = {w.lower() for w in words if w.lower() in (SERIAL, NOBODY)}
    nets = parse_networks([w for w in words if w.lower() not in (SERIAL, NOBODY)])
    if NOBODY in keywords:
        if len(words) > 1:
            raise ValueError(f"--control-from {NOBODY} closes the control channel; it cannot be combined with "
                             f"{', '.join(w for w in words if w.lower() != NOBODY)}")
        return (), False
    return parse_networks(DEFAULT_CONTROL_FROM) + nets, SERIAL in keywords


@dataclass
class WanLimits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    control_from: tuple[Network, ...] = field(default_factory=lambda: parse_networks(DEFAULT_CONTROL_FROM))
    max_per_source: int | None = None  # connections from one address; None: default_per_source(max_connections)
    control_serial: bool = False       # the control channel on a serial WAN line (`--control-from serial`)
    notice: str | None = None          # what the cap really is and why, said at start (hub_runtime.wan_limits)
    lowered: bool = False              # the cap is below what was asked (the descriptor limit)

    @property
    def per_source(self) -> int:
        return self.max_per_source if self.max_per_source is not None else default_per_source(self.max_connections)

    def control_allowed(self, peer: str | None) -> bool:
        """Whether a peer address may send `CHF:` control lines (an unknown peer may not)."""
        if peer is None:
            return False
        try:
            ip = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.control_from)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_notice(host: str, port: int, limits: WanLimits) -> str | None:
    """What a hub bound beyond loopback exposes, said once at start (None when bound to loopback only)."""
    if is_loopback(host):
        return None
    return (f"chf run: WAN port {host}:{port} is reachable from the network: any host that can reach it may send "
            f"GBCS frames (only authenticated commands are acted on); the CHF: control channel (state, install "
            f"codes, faults, joins) {control_summary(limits)}")


def control_summary(limits: WanLimits) -> str:
    """Who may use the control channel, in words that match README "Security and robustness"."""
    if not limits.control_from:
        return "is closed to every peer (--control-from none)"
    return (f"is open to {', '.join(str(n) for n in limits.control_from)} only (--control-from widens it)")


class Piece(Enum):
    OVERSIZE = "oversize"  # a line longer than the limit was dropped (up to its newline or EOF)


class LineSplitter:
    """Bytes in, complete lines out (newline included), at most `max_line` bytes buffered: an over-long line is
    discarded up to its end and reported once as `Piece.OVERSIZE`."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.buf = bytearray()
        self.discarding = False

    def feed(self, data: bytes) -> list[bytes | Piece]:
        out: list[bytes | Piece] = []
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl + 1
            chunk = data[start:end]
            start = end
            if self.discarding:
                if nl >= 0:
                    self.discarding = False
                    out.append(Piece.OVERSIZE)
                continue
            if len(self.buf) + len(chunk) > self.max_line:
                self.buf.clear()
                if nl >= 0:
                    out.append(Piece.OVERSIZE)
                else:
                    self.discarding = True
                continue
            self.buf += chunk
            if nl >= 0:
                out.append(bytes(self.buf))
                self.buf.clear()
        return out

    def end(self) -> list[bytes | Piece]:
        """At EOF: the unterminated last line, or the report of an over-long one."""
        if self.discarding:
            self.discarding = False
            return [Piece.OVERSIZE]
        rest, self.buf = bytes(self.buf), bytearray()
        return [rest] if rest.strip() else []
