"""ZigBee NWK frames (spec 05-3474 §3.3), NWK commands (§3.4), NWK security (§4.3) and the ZigBee beacon payload.

Header: frame control u16 LE (bits 0-1 type, 2-5 protocol version, 6-7 discover route, 8 multicast,
9 security, 10 source route, 11 destination IEEE, 12 source IEEE, 13 end-device initiator), destination and
source short addresses, radius, sequence number, [destination EUI-64], [source EUI-64], [multicast control],
[source route subframe: relay count, relay index, relays]. A secured frame continues with the auxiliary header
(key identifier 1, extended nonce, key sequence number) and the encrypted payload ‖ MIC-32 (`security`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import construct as c  # type: ignore[import-untyped]

from .compiled import Parser, Remembered, builder
from .errors import FrameError, UnknownSource
from .security import AuxHeader, Opened, eui_from_air, eui_to_air, open_sealed, seal

PROTOCOL_VERSION = 2  # ZigBee PRO (2007 and later)
DEFAULT_RADIUS = 30   # 2 × nwkMaxDepth (15), the ZigBee PRO default; WIRESHARK.md frames use 0x1E
BROADCAST_ALL = 0xFFFF
BROADCAST_RX_ON = 0xFFFD  # all devices with macRxOnWhenIdle
BROADCAST_ROUTERS = 0xFFFC


class NwkFrameType(IntEnum):
    DATA = 0
    COMMAND = 1
    INTER_PAN = 3


class DiscoverRoute(IntEnum):
    SUPPRESS = 0
    ENABLE = 1


class NwkCommandId(IntEnum):
    ROUTE_REQUEST = 0x01
    ROUTE_REPLY = 0x02
    NETWORK_STATUS = 0x03
    LEAVE = 0x04
    ROUTE_RECORD = 0x05
    REJOIN_REQUEST = 0x06
    REJOIN_RESPONSE = 0x07
    LINK_STATUS = 0x08
    NETWORK_REPORT = 0x09
    NETWORK_UPDATE = 0x0A
    END_DEVICE_TIMEOUT_REQUEST = 0x0B
    END_DEVICE_TIMEOUT_RESPONSE = 0x0C


# u16 LE, fields from bit 15 down (see mac.FrameControl)
FrameControl = Remembered(c.ByteSwapped(c.BitStruct(
    "reserved" / c.BitsInteger(2),
    "end_device_initiator" / c.Flag,
    "src_ieee" / c.Flag,
    "dst_ieee" / c.Flag,
    "source_route" / c.Flag,
    "security" / c.Flag,
    "multicast" / c.Flag,
    "discover_route" / c.BitsInteger(2),
    "version" / c.BitsInteger(4),
    "frame_type" / c.BitsInteger(2),
)))

NwkHeaderLayout = c.Struct(
    "fcf" / FrameControl,
    "dst" / c.Int16ul,
    "src" / c.Int16ul,
    "radius" / c.Int8ul,
    "seq" / c.Int8ul,
    "dst_ieee" / c.If(c.this.fcf.dst_ieee, c.Bytes(8)),
    "src_ieee" / c.If(c.this.fcf.src_ieee, c.Bytes(8)),
    "multicast_control" / c.If(c.this.fcf.multicast, c.Int8ul),
    "source_route" / c.If(c.this.fcf.source_route, c.Struct(
        "relay_count" / c.Int8ul, "relay_index" / c.Int8ul, "relays" / c.Array(c.this.relay_count, c.Int16ul))),
)


_NWK_HEADER = builder(NwkHeaderLayout)
_NWK_HEADER_PARSER = Parser(NwkHeaderLayout)


@dataclass(frozen=True)
class NwkHeader:
    frame_type: NwkFrameType
    dst: int
    src: int
    seq: int
    radius: int = DEFAULT_RADIUS
    discover_route: DiscoverRoute = DiscoverRoute.ENABLE
    security: bool = True
    dst_ieee: bytes | None = None
    src_ieee: bytes | None = None
    multicast_control: int | None = None
    relays: tuple[int, ...] | None = None  # source route, with `relay_index`
    relay_index: int = 0
    end_device_initiator: bool = False
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return bytes(_NWK_HEADER.build({
            "fcf": {"reserved": 0, "end_device_initiator": self.end_device_initiator,
                    "src_ieee": self.src_ieee is not None, "dst_ieee": self.dst_ieee is not None,
                    "source_route": self.relays is not None, "security": self.security,
                    "multicast": self.multicast_control is not None, "discover_route": int(self.discover_route),
                    "version": self.version, "frame_type": int(self.frame_type)},
            "dst": self.dst, "src": self.src, "radius": self.radius, "seq": self.seq,
            "dst_ieee": None if self.dst_ieee is None else eui_to_air(self.dst_ieee),
            "src_ieee": None if self.src_ieee is None else eui_to_air(self.src_ieee),
            "multicast_control": self.multicast_control,
            "source_route": None if self.relays is None else {
                "relay_count": len(self.relays), "relay_index": self.relay_index, "relays": list(self.relays)},
        }))

    @classmethod
    def decode(cls, data: bytes) -> tuple[NwkHeader, int]:
        try:
            v = _NWK_HEADER_PARSER.parse(data)
        except c.ConstructError as e:
            raise FrameError("nwk", f"header: {e}") from None
        f = v.fcf
        if f.frame_type == 2:
            raise FrameError("nwk", "reserved frame type 2")
        sr = v.source_route
        hdr = cls(NwkFrameType(int(f.frame_type)), int(v.dst), int(v.src), int(v.seq), int(v.radius),
                  DiscoverRoute(int(f.discover_route)) if f.discover_route < 2 else DiscoverRoute.ENABLE,
                  bool(f.security),
                  None if v.dst_ieee is None else eui_from_air(bytes(v.dst_ieee)),
                  None if v.src_ieee is None else eui_from_air(bytes(v.src_ieee)),
                  None if v.multicast_control is None else int(v.multicast_control),
                  None if sr is None else tuple(int(r) for r in sr.relays),
                  0 if sr is None else int(sr.relay_index), bool(f.end_device_initiator), int(f.version))
        return hdr, len(hdr.encode())


@dataclass(frozen=True)
class NwkFrame:
    """A NWK frame. `payload` is the plaintext when `aux` is None or the frame was decrypted (`key` set);
    for a secured frame read without a fitting key it is the ciphertext ‖ MIC."""

    header: NwkHeader
    payload: bytes
    aux: AuxHeader | None = None
    key: bytes | None = None
    key_label: str = ""

    @property
    def decrypted(self) -> bool:
        return self.aux is None or self.key is not None


def encode(header: NwkHeader, payload: bytes, *, key: bytes | None = None, aux: AuxHeader | None = None) -> bytes:
    """A NWK frame; with `header.security`, `payload` is encrypted under the network `key` with `aux`
    (key identifier 1, extended nonce: the transmitter's EUI-64 in `aux.source`)."""
    hdr = header.encode()
    if not header.security:
        return hdr + payload
    if key is None or aux is None or aux.source is None:
        raise ValueError("a secured NWK frame needs the network key and an auxiliary header with the source EUI-64")
    return seal(key, hdr, aux, aux.source, payload)


def decode(data: bytes) -> NwkFrame:
    """Split a NWK frame into header, auxiliary header and payload, without decrypting."""
    header, n = NwkHeader.decode(data)
    if not header.security:
        return NwkFrame(header, data[n:])
    aux, m = AuxHeader.decode(data[n:], "nwk")
    return NwkFrame(header, data[n + m:], aux)


def decrypt(data: bytes, keys: Iterable[tuple[bytes, str]], source: bytes | None = None) -> NwkFrame:
    """Decode and decrypt with the first of `keys` (network key, label) whose MIC matches. The nonce's EUI-64 is
    the auxiliary header's, else `source` (the transmitter's, from an address map); `SecurityError` if none fits."""
    header, n = NwkHeader.decode(data)
    if not header.security:
        return NwkFrame(header, data[n:])
    aux, m = AuxHeader.decode(data[n:], "nwk")
    eui = aux.source or source
    if eui is None:
        raise UnknownSource("nwk", "source EUI-64 unknown (no extended nonce, transmitter not seen)")
    opened: Opened = open_sealed(((k, k, label) for k, label in keys), data[:n], aux, eui, data[n + m:], "nwk")
    return NwkFrame(header, opened.plaintext, aux, opened.key, opened.label)


# ------------------------------------------------------------------------------------------ NWK commands
LeaveOptions = c.BitStruct("remove_children" / c.Flag, "request" / c.Flag, "rejoin" / c.Flag,
                           "reserved" / c.BitsInteger(5))
RejoinResponseLayout = c.Struct("network_address" / c.Int16ul, "status" / c.Int8ul)


@dataclass(frozen=True)
class Leave:
    """§3.4.4: options bit 5 rejoin, bit 6 request (a parent tells a child to leave), bit 7 remove children."""

    rejoin: bool = False
    request: bool = False
    remove_children: bool = False


@dataclass(frozen=True)
class RejoinRequest:
    """§3.4.6: the device's capability information (as in the MAC association request)."""

    capability: int


@dataclass(frozen=True)
class RejoinResponse:
    """§3.4.7: the (possibly new) network address and the rejoin status (0 success, as MAC association)."""

    network_address: int
    status: int = 0


@dataclass(frozen=True)
class OtherNwkCommand:
    command_id: int
    body: bytes


NwkCommand = Leave | RejoinRequest | RejoinResponse | OtherNwkCommand


def encode_command(cmd: NwkCommand) -> bytes:
    if isinstance(cmd, Leave):
        return bytes((NwkCommandId.LEAVE,)) + bytes(LeaveOptions.build(
            {"remove_children": cmd.remove_children, "request": cmd.request, "rejoin": cmd.rejoin, "reserved": 0}))
    if isinstance(cmd, RejoinRequest):
        return bytes((NwkCommandId.REJOIN_REQUEST, cmd.capability))
    if isinstance(cmd, RejoinResponse):
        return bytes((NwkCommandId.REJOIN_RESPONSE,)) + bytes(RejoinResponseLayout.build(
            {"network_address": cmd.network_address, "status": cmd.status}))
    return bytes((cmd.command_id,)) + cmd.body


def decode_command(payload: bytes) -> NwkCommand:
    if not payload:
        raise FrameError("nwk", "command frame without a command identifier")
    cid, body = payload[0], payload[1:]
    if cid == NwkCommandId.LEAVE and len(body) == 1:
        v = LeaveOptions.parse(body)
        return Leave(bool(v.rejoin), bool(v.request), bool(v.remove_children))
    if cid == NwkCommandId.REJOIN_REQUEST and len(body) == 1:
        return RejoinRequest(body[0])
    if cid == NwkCommandId.REJOIN_RESPONSE and len(body) == 3:
        r = RejoinResponseLayout.parse(body)
        return RejoinResponse(int(r.network_address), int(r.status))
    return OtherNwkCommand(cid, body)


# ------------------------------------------------------------------------------------------ beacon payload
ZigbeeBeaconLayout = c.Struct(
    "protocol_id" / c.Int8ul,
    "stack" / c.BitStruct("protocol_version" / c.BitsInteger(4), "stack_profile" / c.BitsInteger(4)),
    "capacity" / c.BitStruct("end_device_capacity" / c.Flag, "device_depth" / c.BitsInteger(4),
                             "router_capacity" / c.Flag, "reserved" / c.BitsInteger(2)),
    "extended_pan_id" / c.Bytes(8),
    "tx_offset" / c.Int24ul,
    "update_id" / c.Int8ul,
)


@dataclass(frozen=True)
class ZigbeeBeacon:
    """The ZigBee beacon payload (§3.6.7, Table 3.56): protocol ID 0, stack profile 2 (PRO), protocol version 2,
    router/end-device capacity, depth, Extended PAN ID (commshub order), Tx offset, nwkUpdateId."""

    extended_pan_id: bytes
    router_capacity: bool = True
    end_device_capacity: bool = True
    device_depth: int = 0
    stack_profile: int = 2
    protocol_version: int = PROTOCOL_VERSION
    tx_offset: int = 0xFFFFFF
    update_id: int = 0

    def encode(self) -> bytes:
        return bytes(ZigbeeBeaconLayout.build({
            "protocol_id": 0,
            "stack": {"protocol_version": self.protocol_version, "stack_profile": self.stack_profile},
            "capacity": {"end_device_capacity": self.end_device_capacity, "device_depth": self.device_depth,
                         "router_capacity": self.router_capacity, "reserved": 0},
            "extended_pan_id": eui_to_air(self.extended_pan_id), "tx_offset": self.tx_offset,
            "update_id": self.update_id,
        }))

    @classmethod
    def decode(cls, data: bytes) -> ZigbeeBeacon:
        try:
            v = ZigbeeBeaconLayout.parse(data)
        except c.ConstructError as e:
            raise FrameError("nwk", f"ZigBee beacon payload: {e}") from None
        if v.protocol_id != 0:
            raise FrameError("nwk", f"beacon protocol ID {v.protocol_id} is not ZigBee's (0)")
        return cls(eui_from_air(bytes(v.extended_pan_id)), bool(v.capacity.router_capacity),
                   bool(v.capacity.end_device_capacity), int(v.capacity.device_depth), int(v.stack.stack_profile),
                   int(v.stack.protocol_version), int(v.tx_offset), int(v.update_id))

