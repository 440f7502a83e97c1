"""IEEE 802.15.4 MAC frames as ZigBee uses them (802.15.4-2003 frame format, version 0; no MAC security).

Frame: frame control u16 LE, sequence number, destination PAN and address, source PAN (left out under PAN ID
compression) and address, payload, FCS (802.15.4-2003 §7.2.1). Addresses are `int` (16-bit short) or `bytes`
(an EUI-64 in commshub's order, most significant octet first; reversed on the air). The FCS is CRC-16/KERMIT
(poly 0x1021 reflected, init 0, no final XOR), LSB first (§7.2.1.9; WIRESHARK.md §1, link type 195).

Beacons carry the superframe specification, GTS and pending-address fields (§7.2.2.1) and the ZigBee beacon
payload (`nwk.ZigbeeBeacon`); MAC commands (§7.3) used by ZigBee joins are typed: association request and
response, data request, beacon request, orphan notification; others keep their raw body.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import construct as c  # type: ignore[import-untyped]

from .compiled import Parser, Remembered, builder
from .errors import FrameError
from .security import eui_from_air, eui_to_air

Address = int | bytes  # 16-bit short address, or EUI-64 (8 octets, commshub order)

BROADCAST_PAN = 0xFFFF
BROADCAST_ADDR = 0xFFFF
MAX_PSDU = 127  # aMaxPHYPacketSize: octets of MAC frame including its FCS
FCS_SIZE = 2


class FrameType(IntEnum):
    BEACON = 0
    DATA = 1
    ACK = 2
    COMMAND = 3


class AddrMode(IntEnum):
    NONE = 0
    SHORT = 2
    EXTENDED = 3


class Command(IntEnum):
    ASSOCIATION_REQUEST = 0x01
    ASSOCIATION_RESPONSE = 0x02
    DISASSOCIATION_NOTIFICATION = 0x03
    DATA_REQUEST = 0x04
    PAN_ID_CONFLICT = 0x05
    ORPHAN_NOTIFICATION = 0x06
    BEACON_REQUEST = 0x07
    COORDINATOR_REALIGNMENT = 0x08


class AssociationStatus(IntEnum):
    SUCCESS = 0x00
    PAN_AT_CAPACITY = 0x01
    PAN_ACCESS_DENIED = 0x02


# Capability information (§7.3.1.2): the ZigBee joiner's usual values
CAP_ALTERNATE_PAN_COORDINATOR = 0x01
CAP_FFD = 0x02
CAP_MAINS_POWERED = 0x04
CAP_RX_ON_WHEN_IDLE = 0x08
CAP_SECURITY = 0x40
CAP_ALLOCATE_ADDRESS = 0x80
CAPABILITY_ROUTER = CAP_FFD | CAP_MAINS_POWERED | CAP_RX_ON_WHEN_IDLE | CAP_ALLOCATE_ADDRESS  # 0x8E
CAPABILITY_SLEEPY = CAP_ALLOCATE_ADDRESS  # 0x80: a battery end device (a GSME)

# Frame control (§7.2.1.1), a u16 little-endian: ByteSwapped turns it into the most-significant-bit-first order
# BitStruct reads, so the fields are listed from bit 15 down to bit 0.
FrameControl = Remembered(c.ByteSwapped(c.BitStruct(
    "src_mode" / c.BitsInteger(2),
    "version" / c.BitsInteger(2),
    "dst_mode" / c.BitsInteger(2),
    "ie_present" / c.Flag,
    "seq_suppressed" / c.Flag,
    "reserved" / c.BitsInteger(1),
    "pan_id_compression" / c.Flag,
    "ack_request" / c.Flag,
    "pending" / c.Flag,
    "security" / c.Flag,
    "frame_type" / c.BitsInteger(3),
)))

# Conditions are `this` expressions on plain integers, so that the layout compiles (`compiled.builder`).
_NONE, _SHORT, _EXTENDED = int(AddrMode.NONE), int(AddrMode.SHORT), int(AddrMode.EXTENDED)
_ADDRESS = {_SHORT: c.Int16ul, _EXTENDED: c.Bytes(8)}
_fcf = c.this.fcf

MacHeaderLayout = c.Struct(
    "fcf" / FrameControl,
    "seq" / c.If(_fcf.seq_suppressed == 0, c.Int8ul),
    "dst_pan" / c.If(_fcf.dst_mode != _NONE, c.Int16ul),
    "dst" / c.Switch(_fcf.dst_mode, _ADDRESS),
    # the source PAN is there with a source address, unless compressed (both addresses present)
    "src_pan" / c.If((_fcf.src_mode != _NONE) & ((_fcf.pan_id_compression == 0) | (_fcf.dst_mode == _NONE)),
                     c.Int16ul),
    "src" / c.Switch(_fcf.src_mode, _ADDRESS),
    "payload" / c.GreedyBytes,
)
_MAC_HEADER = builder(MacHeaderLayout)
_MAC_HEADER_PARSER = Parser(MacHeaderLayout)

# Superframe specification (§7.2.2.1.2), u16 LE, listed from bit 15 down.
Superframe = c.ByteSwapped(c.BitStruct(
    "association_permit" / c.Flag,
    "pan_coordinator" / c.Flag,
    "reserved" / c.BitsInteger(1),
    "battery_life_extension" / c.Flag,
    "final_cap_slot" / c.BitsInteger(4),
    "superframe_order" / c.BitsInteger(4),
    "beacon_order" / c.BitsInteger(4),
))

BeaconLayout = c.Struct(
    "superframe" / Superframe,
    "gts_spec" / c.BitStruct("permit" / c.Flag, "reserved" / c.BitsInteger(4), "count" / c.BitsInteger(3)),
    "gts_directions" / c.If(c.this.gts_spec.count > 0, c.Int8ul),
    "gts_list" / c.Array(c.this.gts_spec.count, c.Bytes(3)),
    "pending_spec" / c.BitStruct("reserved1" / c.BitsInteger(1), "extended" / c.BitsInteger(3),
                                 "reserved2" / c.BitsInteger(1), "short" / c.BitsInteger(3)),
    "pending_short" / c.Array(c.this.pending_spec.short, c.Int16ul),
    "pending_extended" / c.Array(c.this.pending_spec.extended, c.Bytes(8)),
    "payload" / c.GreedyBytes,
)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()  # the bit loop below run once per octet value: one lookup per octet of a frame


def crc16_kermit(data: bytes) -> int:
    """The 802.15.4 FCS: CRC-16 poly 0x1021 reflected, init 0, no final XOR (check "123456789" = 0x2189)."""
    crc = 0
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def with_fcs(mpdu: bytes) -> bytes:
    return mpdu + crc16_kermit(mpdu).to_bytes(2, "little")


def split_fcs(psdu: bytes) -> tuple[bytes, bool]:
    """(frame without FCS, whether the FCS is right)."""
    if len(psdu) < FCS_SIZE:
        return psdu, False
    body = psdu[:-FCS_SIZE]
    return body, crc16_kermit(body).to_bytes(2, "little") == psdu[-FCS_SIZE:]


def _mode(addr: Address | None) -> AddrMode:
    if addr is None:
        return AddrMode.NONE
    if isinstance(addr, int):
        if not 0 <= addr <= 0xFFFF:
            raise ValueError(f"short address 0x{addr:X} out of range")
        return AddrMode.SHORT
    if len(addr) != 8:
        raise ValueError(f"an EUI-64 has 8 octets, not {len(addr)}")
    return AddrMode.EXTENDED


def _wire(addr: Address | None) -> int | bytes | None:
    return eui_to_air(addr) if isinstance(addr, bytes) else addr


def _unwire(raw: object) -> Address | None:
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        return eui_from_air(bytes(raw))
    assert isinstance(raw, int)
    return raw


@dataclass(frozen=True)
class MacFrame:
    """One MAC frame without its FCS. `src_pan` None with both addresses present means PAN ID compression."""

    frame_type: FrameType
    seq: int
    dst_pan: int | None = None
    dst: Address | None = None
    src_pan: int | None = None
    src: Address | None = None
    payload: bytes = b""
    ack_request: bool = False
    pending: bool = False
    security: bool = False
    version: int = 0

    @property
    def pan_id(self) -> int | None:
        return self.dst_pan if self.dst_pan is not None else self.src_pan

    def encode(self, *, fcs: bool = True) -> bytes:
        dst_mode, src_mode = _mode(self.dst), _mode(self.src)
        if (self.dst_pan is None) != (dst_mode == AddrMode.NONE):
            raise ValueError("a destination PAN goes with a destination address")
        compress = src_mode != AddrMode.NONE and dst_mode != AddrMode.NONE and self.src_pan is None
        if src_mode != AddrMode.NONE and dst_mode == AddrMode.NONE and self.src_pan is None:
            raise ValueError("a source address without a destination needs its source PAN")
        if src_mode == AddrMode.NONE and self.src_pan is not None:
            raise ValueError("a source PAN goes with a source address")
        mpdu = bytes(_MAC_HEADER.build({
            "fcf": {"src_mode": src_mode, "version": self.version, "dst_mode": dst_mode, "ie_present": False,
                    "seq_suppressed": False, "reserved": 0, "pan_id_compression": compress,
                    "ack_request": self.ack_request, "pending": self.pending, "security": self.security,
                    "frame_type": int(self.frame_type)},
            "seq": self.seq, "dst_pan": self.dst_pan, "dst": _wire(self.dst), "src_pan": self.src_pan,
            "src": _wire(self.src), "payload": self.payload,
        }))
        return with_fcs(mpdu) if fcs else mpdu

    @classmethod
    def decode(cls, mpdu: bytes) -> MacFrame:
        """A frame without its FCS (see `split_fcs`)."""
        try:
            v = _MAC_HEADER_PARSER.parse(mpdu)
        except (c.ConstructError, ValueError) as e:
            raise FrameError("mac", f"header: {e}") from None
        f = v.fcf
        if f.seq_suppressed or f.ie_present:
            raise FrameError("mac", "802.15.4-2015 frames (sequence suppressed, IEs) are not read")
        if f.dst_mode == 1 or f.src_mode == 1:
            raise FrameError("mac", "reserved addressing mode 1")
        try:
            ftype = FrameType(int(f.frame_type))
        except ValueError:
            raise FrameError("mac", f"frame type {int(f.frame_type)} is not beacon, data, ack or command") from None
        return cls(ftype, int(v.seq), None if v.dst_pan is None else int(v.dst_pan), _unwire(v.dst),
                   None if v.src_pan is None else int(v.src_pan), _unwire(v.src), bytes(v.payload),
                   bool(f.ack_request), bool(f.pending), bool(f.security), int(f.version))


# ------------------------------------------------------------------------------------------ beacons
@dataclass(frozen=True)
class BeaconFields:
    """The MAC beacon payload (§7.2.2.1): superframe specification, no GTS, no pending addresses, then the
    beacon payload (ZigBee's, `nwk.ZigbeeBeacon`). Non-beacon network defaults: orders 15, final CAP slot 15."""

    payload: bytes = b""
    association_permit: bool = True
    pan_coordinator: bool = True
    beacon_order: int = 15
    superframe_order: int = 15
    final_cap_slot: int = 15
    battery_life_extension: bool = False

    def encode(self) -> bytes:
        return bytes(BeaconLayout.build({
            "superframe": {"association_permit": self.association_permit, "pan_coordinator": self.pan_coordinator,
                           "reserved": 0, "battery_life_extension": self.battery_life_extension,
                           "final_cap_slot": self.final_cap_slot, "superframe_order": self.superframe_order,
                           "beacon_order": self.beacon_order},
            "gts_spec": {"permit": False, "reserved": 0, "count": 0}, "gts_directions": None, "gts_list": [],
            "pending_spec": {"reserved1": 0, "extended": 0, "reserved2": 0, "short": 0},
            "pending_short": [], "pending_extended": [], "payload": self.payload,
        }))

    @classmethod
    def decode(cls, data: bytes) -> BeaconFields:
        try:
            v = BeaconLayout.parse(data)
        except c.ConstructError as e:
            raise FrameError("mac", f"beacon: {e}") from None
        s = v.superframe
        return cls(bytes(v.payload), bool(s.association_permit), bool(s.pan_coordinator), int(s.beacon_order),
                   int(s.superframe_order), int(s.final_cap_slot), bool(s.battery_life_extension))


# ------------------------------------------------------------------------------------------ commands
@dataclass(frozen=True)
class AssociationRequest:
    capability: int = CAPABILITY_ROUTER


@dataclass(frozen=True)
class AssociationResponse:
    short_address: int
    status: int = AssociationStatus.SUCCESS


@dataclass(frozen=True)
class BareCommand:
    """A command without a body: data request, beacon request, orphan notification, PAN ID conflict."""

    command: Command


@dataclass(frozen=True)
class OtherCommand:
    command_id: int
    body: bytes


MacCommand = AssociationRequest | AssociationResponse | BareCommand | OtherCommand

_BARE = {Command.DATA_REQUEST, Command.BEACON_REQUEST, Command.ORPHAN_NOTIFICATION, Command.PAN_ID_CONFLICT}
AssociationResponseLayout = c.Struct("short_address" / c.Int16ul, "status" / c.Int8ul)


def encode_command(cmd: MacCommand) -> bytes:
    if isinstance(cmd, AssociationRequest):
        return bytes((Command.ASSOCIATION_REQUEST, cmd.capability))
    if isinstance(cmd, AssociationResponse):
        return bytes((Command.ASSOCIATION_RESPONSE,)) + bytes(AssociationResponseLayout.build(
            {"short_address": cmd.short_address, "status": cmd.status}))
    if isinstance(cmd, BareCommand):
        return bytes((cmd.command,))
    return bytes((cmd.command_id,)) + cmd.body


def decode_command(payload: bytes) -> MacCommand:
    if not payload:
        raise FrameError("mac", "command frame without a command identifier")
    cid, body = payload[0], payload[1:]
    try:
        if cid == Command.ASSOCIATION_REQUEST and len(body) == 1:
            return AssociationRequest(body[0])
        if cid == Command.ASSOCIATION_RESPONSE:
            v = AssociationResponseLayout.parse(body)
            return AssociationResponse(int(v.short_address), int(v.status))
    except c.ConstructError as e:
        raise FrameError("mac", f"command 0x{cid:02X}: {e}") from None
    if cid in _BARE and not body:
        return BareCommand(Command(cid))
    return OtherCommand(cid, body)


# ------------------------------------------------------------------------------------------ builders
def beacon_request(seq: int) -> MacFrame:
    """Broadcast beacon request from a device without an address (`03 08 seq ffff ffff 07`)."""
    return MacFrame(FrameType.COMMAND, seq, BROADCAST_PAN, BROADCAST_ADDR,
                    payload=encode_command(BareCommand(Command.BEACON_REQUEST)))


def beacon(seq: int, pan_id: int, src: int, fields: BeaconFields) -> MacFrame:
    return MacFrame(FrameType.BEACON, seq, src_pan=pan_id, src=src, payload=fields.encode())


def ack(seq: int, *, pending: bool = False) -> MacFrame:
    return MacFrame(FrameType.ACK, seq, pending=pending)


def command(seq: int, pan_id: int, dst: Address, src: Address, cmd: MacCommand, *, src_pan: int | None = None,
            ack_request: bool = True) -> MacFrame:
    """A command frame; the source PAN is compressed away unless `src_pan` is given (association request)."""
    return MacFrame(FrameType.COMMAND, seq, pan_id, dst, src_pan, src, encode_command(cmd), ack_request=ack_request)


def data(seq: int, pan_id: int, dst: Address, src: Address, payload: bytes) -> MacFrame:
    """A data frame within a PAN (PAN ID compressed), ack requested unless it is broadcast."""
    return MacFrame(FrameType.DATA, seq, pan_id, dst, None, src, payload, ack_request=dst != BROADCAST_ADDR)
