"""ZCL frames in APS payloads (ZCL r8 §2.4): the header, the Keep-Alive cluster 0x0025 reads, and the
Tunnelling cluster 0x0704 commands GBCS uses (encoded and decoded by `zigbee.tunnel`).

Header: frame control u8 (bits 0-1 frame type: 0 profile-wide, 1 cluster-specific; 2 manufacturer-specific;
3 direction, 1 = server to client; 4 disable default response), [manufacturer code u16], sequence number,
command identifier. Keep-Alive (ZSE 1.2a §D.9 / WIRESHARK.md §6): attributes 0x0000 Keep-Alive Base (uint8,
minutes) and 0x0001 Keep-Alive Jitter (uint16, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c  # type: ignore[import-untyped]

from zigbee import tunnel

from .errors import FrameError

SE_PROFILE = 0x0109
KEEP_ALIVE_CLUSTER = 0x0025
TUNNELLING_CLUSTER = 0x0704
KEEP_ALIVE_BASE = 0x0000
KEEP_ALIVE_JITTER = 0x0001
READ_ATTRIBUTES = 0x00
READ_ATTRIBUTES_RESPONSE = 0x01
DEFAULT_RESPONSE = 0x0B
UINT8 = 0x20
UINT16 = 0x21

FrameControl = c.BitStruct(
    "reserved" / c.BitsInteger(3),
    "disable_default_response" / c.Flag,
    "to_client" / c.Flag,
    "manufacturer_specific" / c.Flag,
    "frame_type" / c.BitsInteger(2),
)

ZclHeaderLayout = c.Struct(
    "fcf" / FrameControl,
    "manufacturer" / c.If(c.this.fcf.manufacturer_specific, c.Int16ul),
    "tsn" / c.Int8ul,
    "command" / c.Int8ul,
    "payload" / c.GreedyBytes,
)


@dataclass(frozen=True)
class ZclFrame:
    tsn: int
    command: int
    payload: bytes = b""
    cluster_specific: bool = False
    to_client: bool = False
    disable_default_response: bool = False
    manufacturer: int | None = None

    def encode(self) -> bytes:
        return bytes(ZclHeaderLayout.build({
            "fcf": {"reserved": 0, "disable_default_response": self.disable_default_response,
                    "to_client": self.to_client, "manufacturer_specific": self.manufacturer is not None,
                    "frame_type": int(self.cluster_specific)},
            "manufacturer": self.manufacturer, "tsn": self.tsn, "command": self.command, "payload": self.payload,
        }))

    @classmethod
    def decode(cls, data: bytes) -> ZclFrame:
        try:
            v = ZclHeaderLayout.parse(data)
        except c.ConstructError as e:
            raise FrameError("zcl", f"header: {e}") from None
        if v.fcf.frame_type > 1:
            raise FrameError("zcl", f"reserved frame type {v.fcf.frame_type}")
        return cls(int(v.tsn), int(v.command), bytes(v.payload), bool(v.fcf.frame_type), bool(v.fcf.to_client),
                   bool(v.fcf.disable_default_response), None if v.manufacturer is None else int(v.manufacturer))


def read_attributes(tsn: int, attributes: list[int]) -> bytes:
    """Profile-wide Read Attributes, client to server (`10 tsn 00 | ids`)."""
    return ZclFrame(tsn, READ_ATTRIBUTES, b"".join(a.to_bytes(2, "little") for a in attributes),
                    disable_default_response=True).encode()


def keep_alive_read(tsn: int) -> bytes:
    """The TC keep-alive: read Keep-Alive Base and Jitter (`10 tsn 00 | 0000 0100`)."""
    return read_attributes(tsn, [KEEP_ALIVE_BASE, KEEP_ALIVE_JITTER])


def keep_alive_response(tsn: int, base_minutes: int, jitter_seconds: int) -> bytes:
    """Read Attributes Response with both attributes (`18 tsn 01 | 0000 00 20 bb | 0100 00 21 jjjj`)."""
    body = (KEEP_ALIVE_BASE.to_bytes(2, "little") + bytes((0, UINT8, base_minutes))
            + KEEP_ALIVE_JITTER.to_bytes(2, "little") + bytes((0, UINT16)) + jitter_seconds.to_bytes(2, "little"))
    return ZclFrame(tsn, READ_ATTRIBUTES_RESPONSE, body, to_client=True, disable_default_response=True).encode()


def request_tunnel(tsn: int, *, protocol_id: int = tunnel.GB_HGRP_PROTOCOL_ID,
                   manufacturer_code: int = tunnel.MANUFACTURER_CODE_NOT_USED, flow_control: bool = False,
                   max_transfer: int = tunnel.MAX_TRANSFER_SIZE) -> bytes:
    """RequestTunnel, client to server (ZSE 1.2a D.6.2.4.1), as `zigbee.tunnel` encodes it."""
    return tunnel.encode("request_tunnel", to_server=True, tsn=tsn, protocol_id=protocol_id,
                         manufacturer_code=manufacturer_code, flow_control_support=flow_control,
                         maximum_incoming_transfer_size=max_transfer)


def request_tunnel_response(tsn: int, tunnel_id: int, status: int = tunnel.TunnelStatus.Success,
                            max_transfer: int = tunnel.MAX_TRANSFER_SIZE) -> bytes:
    return tunnel.encode("request_tunnel_response", to_server=False, tsn=tsn, tunnel_id=tunnel_id,
                         tunnel_status=status, maximum_incoming_transfer_size=max_transfer)


def transfer_data(tsn: int, tunnel_id: int, data: bytes, *, to_server: bool) -> bytes:
    """TransferData: client to server (command 02) or server to client (01)."""
    return tunnel.encode("transfer_data", to_server=to_server, tsn=tsn, tunnel_id=tunnel_id, data=data)


def decode_tunnel(data: bytes) -> tunnel.TunnelCommand:
    """A Tunnelling command (`zigbee.tunnel.decode`); `FrameError` when it does not decode."""
    try:
        return tunnel.decode(data)
    except tunnel.TunnelError as e:
        raise FrameError("zcl", f"tunnelling: {e}") from None
