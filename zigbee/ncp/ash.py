"""ASH, the UART framing under EZSP (Silicon Labs UG101), NCP side, sans-I/O.

Frame layouts are declared with construct (`FRAME`): a control byte (DATA `0fffraaa`, ACK `100rnaaa`, NAK
`101rnaaa`, RST 0xC0, RSTACK 0xC1 version reset-code, ERROR 0xC2 version code), the DATA payload XORed with
the LFSR pseudo-random stream (seed 0x42, XOR 0xB8 when the shifted-out bit is 1), and a CRC-CCITT trailer
(initial value 0xFFFF, big-endian) over control and payload. Byte stuffing (0x7E 0x7D 0x11 0x13 0x18 0x1A
escaped as 0x7D, byte ^ 0x20) and cutting the byte stream at FLAG bytes are stream transforms, not layouts:
they are plain functions here (`stuff`, `unstuff`, `AshNcp.receive`).

`AshNcp` is the NCP's half of the link: it acknowledges each in-sequence DATA frame from the host, NAKs a frame
with a bad CRC or out of sequence (once, until a good frame clears the reject condition), acknowledges a
retransmission it already has without delivering it twice, answers RST with RSTACK (which zeroes both frame
counters), and keeps up to `window` of its own DATA frames in flight: a NAK or an acknowledgement timeout
(`t_rx_ack`) makes it send them again with the reTx flag. It reads no clock: callers pass `now`.
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass, field

import construct as c

FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL = 0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A
RESERVED = frozenset((FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL))
ASH_VERSION = 2
MAX_PAYLOAD = 128  # EZSP frames are at most 200 bytes on the wire; the randomising stream covers 256


class ResetCode(enum.IntEnum):
    """NCP reset codes carried by RSTACK and ERROR (UG101 table 4)."""

    UNKNOWN = 0x00
    EXTERNAL = 0x01
    POWER_ON = 0x02
    WATCHDOG = 0x03
    ASSERT = 0x06
    BOOTLOADER = 0x09
    SOFTWARE = 0x0B
    EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT = 0x51


def _pseudo_random(length: int) -> bytes:
    out, rand = bytearray(), 0x42
    for _ in range(length):
        out.append(rand)
        rand = (rand >> 1) ^ 0xB8 if rand & 1 else rand >> 1
    return bytes(out)


PSEUDO_RANDOM = _pseudo_random(1024)  # longer than any frame the 1 KiB receive buffer can hold


def randomise(data: bytes) -> bytes:
    """XOR with the pseudo-random stream (its own inverse)."""
    if len(data) > len(PSEUDO_RANDOM):
        raise c.ConstructError(f"DATA payload of {len(data)} octets")
    return bytes(a ^ b for a, b in zip(data, PSEUDO_RANDOM[:len(data)], strict=True))


class _Randomised(c.Adapter):
    def _decode(self, obj, context, path):
        return randomise(obj)

    def _encode(self, obj, context, path):
        return randomise(obj)


class _Crc16Trailer(c.Subconstruct):
    """The wrapped frame followed by CRC-CCITT (0xFFFF, big-endian) of its bytes; a mismatch is a parse error."""

    def _parse(self, stream, context, path):
        data = c.stream_read_entire(stream, path)
        if len(data) < 3:
            raise c.ChecksumError(f"frame too short ({len(data)} bytes)", path=path)
        body, crc = data[:-2], int.from_bytes(data[-2:], "big")
        if binascii.crc_hqx(body, 0xFFFF) != crc:
            raise c.ChecksumError(f"bad CRC {crc:04x}", path=path)
        return self.subcon._parsereport(c.io.BytesIO(body), context, path)

    def _build(self, obj, stream, context, path):
        body = self.subcon.build(obj, **context)
        c.stream_write(stream, body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big"), len(body) + 2, path)
        return obj


DATA = c.Struct(
    "control" / c.BitStruct("kind" / c.Const(0, c.Bit), "frm_num" / c.BitsInteger(3), "re_tx" / c.Flag,
                            "ack_num" / c.BitsInteger(3)),
    "payload" / _Randomised(c.GreedyBytes),
)
ACK = c.Struct(
    "control" / c.BitStruct("kind" / c.Const(0b100, c.BitsInteger(3)), "res" / c.Bit, "n_rdy" / c.Flag,
                            "ack_num" / c.BitsInteger(3)),
    c.Terminated,
)
NAK = c.Struct(
    "control" / c.BitStruct("kind" / c.Const(0b101, c.BitsInteger(3)), "res" / c.Bit, "n_rdy" / c.Flag,
                            "ack_num" / c.BitsInteger(3)),
    c.Terminated,
)
RST = c.Struct("control" / c.Const(b"\xc0"), c.Terminated)
RSTACK = c.Struct("control" / c.Const(b"\xc1"), "version" / c.Int8ub, "reset_code" / c.Int8ub, c.Terminated)
ERROR = c.Struct("control" / c.Const(b"\xc2"), "version" / c.Int8ub, "reset_code" / c.Int8ub, c.Terminated)

KINDS = {"data": DATA, "ack": ACK, "nak": NAK, "rst": RST, "rstack": RSTACK, "error": ERROR}
FRAME = _Crc16Trailer(c.Select(*KINDS.values()))
"""Any ASH frame, unstuffed, with its CRC (parse only; build one kind with `build`)."""


def kind_of(control: int) -> str:
    if control & 0x80 == 0:
        return "data"
    if control & 0xE0 == 0x80:
        return "ack"
    if control & 0xE0 == 0xA0:
        return "nak"
    return {0xC0: "rst", 0xC1: "rstack", 0xC2: "error"}.get(control, "unknown")


def build(kind: str, **fields: object) -> bytes:
    """One frame of `kind` with its CRC, not stuffed."""
    return _Crc16Trailer(KINDS[kind]).build(fields)


def parse(frame: bytes) -> tuple[str, c.Container]:
    """An unstuffed frame: (kind, fields); raises construct.ConstructError on a bad CRC or layout."""
    if not frame:
        raise c.ConstructError("empty frame")
    kind = kind_of(frame[0])
    if kind == "unknown":
        raise c.ConstructError(f"unknown control byte {frame[0]:02x}")
    return kind, _Crc16Trailer(KINDS[kind]).parse(frame)


def stuff(frame: bytes) -> bytes:
    out = bytearray()
    for b in frame:
        if b in RESERVED:
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    out, escaped = bytearray(), False
    for b in data:
        if escaped:
            out.append(b ^ 0x20)
            escaped = False
        elif b == ESCAPE:
            escaped = True
        else:
            out.append(b)
    if escaped:
        raise c.ConstructError("frame ends in an escape byte")
    return bytes(out)


def wire(frame: bytes) -> bytes:
    """A frame as it goes on the wire: stuffed, then FLAG."""
    return stuff(frame) + bytes((FLAG,))


# ------------------------------------------------------------------------------------------ the NCP's link
@dataclass(frozen=True)
class ResetRequested:
    """The host sent RST: the NCP resets (the link is reset already and RSTACK is queued)."""


@dataclass(frozen=True)
class DataReceived:
    payload: bytes


AshEvent = ResetRequested | DataReceived


@dataclass
class _Pending:
    frm_num: int
    payload: bytes
    sent_at: float
    tries: int = 1


@dataclass
class LinkStats:
    """What the link saw: for tests and `CHF:HAN`-style views."""

    data_in: int = 0
    data_out: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    retransmissions: int = 0
    bad_frames: int = 0
    resets: int = 0
    timeouts: int = 0


@dataclass
class AshNcp:
    window: int = 4          # DATA frames of ours unacknowledged at a time (ASH allows 1-7)
    t_rx_ack: float = 1.6    # seconds before an unacknowledged DATA frame is sent again
    max_tries: int = 5       # sends of one frame before the link gives up (ERROR frame)
    connected: bool = False  # after RSTACK: DATA may flow
    stats: LinkStats = field(default_factory=LinkStats)
    damage_out: int = 0      # fault injection: damage the CRC of this many of our next DATA frames
    damage_in: int = 0       # fault injection: treat this many of the host's next DATA frames as damaged

    def __post_init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False
        self._out = bytearray()
        self._rx_seq = 0     # the next frame number we expect from the host (our ackNum)
        self._tx_seq = 0     # the number of our next new DATA frame
        self._reject = False
        self._pending: list[_Pending] = []   # sent, not yet acknowledged, oldest first
        self._queue: list[bytes] = []        # waiting for room in the window

    # -------------------------------------------------------------------------------------- output
    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def _write(self, frame: bytes) -> None:
        self._out += wire(frame)

    def reset_ack(self, code: ResetCode = ResetCode.SOFTWARE) -> None:
        """The NCP (re)started: zero the counters, drop what was in flight, send RSTACK."""
        self._rx_seq = self._tx_seq = 0
        self._reject = False
        self._pending.clear()
        self._queue.clear()
        self.connected = True
        self.stats.resets += 1
        self._write(build("rstack", version=ASH_VERSION, reset_code=int(code)))

    def fail(self, code: ResetCode = ResetCode.EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT) -> None:
        self.connected = False
        self._pending.clear()
        self._queue.clear()
        self._write(build("error", version=ASH_VERSION, reset_code=int(code)))

    def send(self, payload: bytes, now: float) -> None:
        """Queue an EZSP frame for the host; it goes out when the window has room."""
        if not self.connected:
            return
        self._queue.append(bytes(payload))
        self._pump(now)

    def _pump(self, now: float) -> None:
        while self._queue and len(self._pending) < self.window:
            p = _Pending(self._tx_seq, self._queue.pop(0), now)
            self._tx_seq = (self._tx_seq + 1) & 7
            self._pending.append(p)
            self._send_data(p, re_tx=False)

    def _send_data(self, p: _Pending, *, re_tx: bool) -> None:
        self.stats.data_out += 1
        frame = build("data", control={"frm_num": p.frm_num, "re_tx": re_tx, "ack_num": self._rx_seq},
                      payload=p.payload)
        if self.damage_out > 0 and not re_tx:
            self.damage_out -= 1
            frame = frame[:-1] + bytes((frame[-1] ^ 0x01,))  # a bit flipped on the wire: the CRC fails
        self._write(frame)

    def _ack(self) -> None:
        self._write(build("ack", control={"res": 0, "n_rdy": False, "ack_num": self._rx_seq}))

    def _nak(self) -> None:
        if not self._reject:
            self.stats.naks_sent += 1
            self._write(build("nak", control={"res": 0, "n_rdy": False, "ack_num": self._rx_seq}))
            self._reject = True

    # -------------------------------------------------------------------------------------- timers
    def next_deadline(self) -> float | None:
        if not self._pending:
            return None
        return self._pending[0].sent_at + self.t_rx_ack

    def on_timer(self, now: float) -> None:
        """Resend what the host has not acknowledged in time; give up after `max_tries`."""
        if not self._pending or now < self._pending[0].sent_at + self.t_rx_ack:
            return
        self.stats.timeouts += 1
        if self._pending[0].tries >= self.max_tries:
            self.fail()
            return
        self._resend(now)

    def _resend(self, now: float) -> None:
        for p in self._pending:
            p.tries += 1
            p.sent_at = now
            self.stats.retransmissions += 1
            self._send_data(p, re_tx=True)

    # -------------------------------------------------------------------------------------- input
    def receive(self, data: bytes, now: float) -> list[AshEvent]:
        """Bytes from the host; returns what the NCP above must act on."""
        events: list[AshEvent] = []
        self._buffer += data
        while self._buffer:
            if self._discarding:  # after SUBSTITUTE: drop up to the next FLAG
                i = self._buffer.find(FLAG)
                if i < 0:
                    self._buffer.clear()
                    break
                del self._buffer[:i + 1]
                self._discarding = False
                continue
            i = next((k for k, b in enumerate(self._buffer) if b in (FLAG, CANCEL, SUBSTITUTE, XON, XOFF)), -1)
            if i < 0:
                break
            b = self._buffer[i]
            if b in (XON, XOFF):  # flow control bytes are not data (the NCP does not pause)
                del self._buffer[i]
                continue
            if b == CANCEL:      # everything since the last FLAG is void
                del self._buffer[:i + 1]
                continue
            if b == SUBSTITUTE:  # a low-level error: void up to the next FLAG
                del self._buffer[:i + 1]
                self._discarding = True
                continue
            raw = bytes(self._buffer[:i])
            del self._buffer[:i + 1]
            if raw:
                events += self._frame(raw, now)
        if len(self._buffer) > 1024:  # garbage without FLAG
            self._buffer.clear()
        return events

    def _frame(self, raw: bytes, now: float) -> list[AshEvent]:
        try:
            frame = unstuff(raw)
            if self.damage_in > 0 and frame and frame[0] & 0x80 == 0:
                self.damage_in -= 1
                frame = frame[:-1] + bytes((frame[-1] ^ 0x01,))
            kind, f = parse(frame)
        except c.ConstructError:
            self.stats.bad_frames += 1
            if raw and unstuff_first(raw) & 0x80 == 0 and self.connected:
                self._nak()  # a damaged DATA frame: ask for it again
            return []
        if kind == "rst":
            self.reset_ack(ResetCode.SOFTWARE)
            return [ResetRequested()]
        if not self.connected:
            return []  # before RSTACK nothing but RST counts
        if kind in ("data", "ack", "nak"):
            self._acknowledged(f.control.ack_num, now)
        if kind == "nak":
            self.stats.naks_received += 1
            self._resend(now)
            return []
        if kind != "data":
            return []
        ctl = f.control
        if ctl.frm_num == self._rx_seq:
            self._rx_seq = (self._rx_seq + 1) & 7
            self._reject = False
            self.stats.data_in += 1
            self._ack()
            return [DataReceived(bytes(f.payload))]
        if ctl.re_tx:
            self._ack()  # a frame we already have, sent again: acknowledge, do not deliver twice
            return []
        self._nak()
        return []

    def _acknowledged(self, ack_num: int, now: float) -> None:
        """The host expects `ack_num` next: every frame of ours before it has arrived."""
        if self._pending:
            count = (ack_num - self._pending[0].frm_num) & 7
            if 1 <= count <= len(self._pending):
                del self._pending[:count]
        self._pump(now)


def unstuff_first(raw: bytes) -> int:
    """The control byte of a stuffed frame (0xFF when there is none)."""
    if not raw:
        return 0xFF
    return raw[1] ^ 0x20 if raw[0] == ESCAPE and len(raw) > 1 else raw[0]
