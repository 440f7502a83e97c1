"""Z-Stack Monitor and Test (MT) frames over UART, sans-I/O, declared with construct.

A frame is `SOF(0xFE) | length | cmd0 | cmd1 | payload | FCS`: `length` counts the payload (at most 250
octets), `cmd0` is the command type (bits 7-5: POLL 0, SREQ 1, AREQ 2, SRSP 3) and subsystem (bits 4-0: RPC
error 0, SYS 1, MAC 2, AF 4, ZDO 5, SAPI 6, UTIL 7, APP 9, APP_CNF 15), and FCS is the XOR of length, cmd0,
cmd1 and payload. MT has no acknowledgements, sequence numbers, escaping or randomisation: a receiver skips
bytes until a SOF and drops a frame whose FCS does not match (`MtStream`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import reduce

import construct as c

SOF = 0xFE
MAX_PAYLOAD = 250


class CommandType(enum.IntEnum):
    POLL = 0
    SREQ = 1
    AREQ = 2
    SRSP = 3


class Subsystem(enum.IntEnum):
    RPC_ERROR = 0x00
    SYS = 0x01
    MAC = 0x02
    AF = 0x04
    ZDO = 0x05
    SAPI = 0x06
    UTIL = 0x07
    APP = 0x09
    ZGP = 0x15
    APP_CNF = 0x0F


def _fcs(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


BODY = c.Struct(
    "length" / c.Rebuild(c.Int8ub, c.len_(c.this.payload)),
    "cmd0" / c.BitStruct("type" / c.BitsInteger(3), "subsystem" / c.BitsInteger(5)),
    "cmd1" / c.Int8ub,
    "payload" / c.Bytes(c.this.length),
)
FRAME = c.Struct(
    "sof" / c.Const(bytes((SOF,))),
    "body" / c.RawCopy(BODY),
    "fcs" / c.Checksum(c.Int8ub, _fcs, c.this.body.data),
)


@dataclass(frozen=True)
class MtFrame:
    type: int
    subsystem: int
    cmd1: int
    payload: bytes = b""

    @property
    def header(self) -> tuple[int, int, int]:
        return self.type, self.subsystem, self.cmd1

    def to_bytes(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"MT payload of {len(self.payload)} octets (at most {MAX_PAYLOAD})")
        return FRAME.build({"body": {"value": {"cmd0": {"type": self.type, "subsystem": self.subsystem},
                                               "cmd1": self.cmd1, "payload": self.payload}}})

    @classmethod
    def from_bytes(cls, data: bytes) -> MtFrame:
        f = FRAME.parse(data)
        b = f.body.value
        return cls(b.cmd0.type, b.cmd0.subsystem, b.cmd1, bytes(b.payload))


@dataclass
class StreamStats:
    frames: int = 0
    bad_fcs: int = 0
    skipped_bytes: int = 0


class MtStream:
    """Cuts frames out of a byte stream: bytes before a SOF are skipped, a frame with a bad FCS is dropped (the
    search resumes after its SOF)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.stats = StreamStats()

    def feed(self, data: bytes) -> list[MtFrame]:
        self._buffer += data
        out: list[MtFrame] = []
        while True:
            i = self._buffer.find(SOF)
            if i < 0:
                self.stats.skipped_bytes += len(self._buffer)
                self._buffer.clear()
                break
            if i:
                self.stats.skipped_bytes += i
                del self._buffer[:i]
            if len(self._buffer) < 5:
                break
            length = self._buffer[1]
            if length > MAX_PAYLOAD:
                self.stats.skipped_bytes += 1
                del self._buffer[:1]
                continue
            if len(self._buffer) < length + 5:
                break
            raw = bytes(self._buffer[:length + 5])
            try:
                frame = MtFrame.from_bytes(raw)
            except c.ConstructError:
                self.stats.bad_fcs += 1
                del self._buffer[:1]
                continue
            del self._buffer[:length + 5]
            self.stats.frames += 1
            out.append(frame)
        return out
