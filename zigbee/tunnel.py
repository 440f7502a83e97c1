"""GBCS over the HAN: the ZSE Tunnelling cluster 0x0704 and the GBCS tunnel header of sleepy devices.

Commands and fields: ZigBee Smart Energy 1.2a (07-5356-19) Annex D.6 "Tunneling Cluster". zigpy 2.4 ships the
cluster as an empty stub (`zigpy/zcl/clusters/smartenergy.py` `Tunneling`), so `GbcsTunneling` subclasses it
with the commands GBCS uses, in zigpy's own command/type machinery, kept out of zigpy's cluster registry.
GBCS rules (GBCS §10.2.2, as quoted in Silicon Labs' `comms-hub-function/tunnel-manager.c`): protocol ID 6
"GB-HGRP", manufacturer code 0xFFFF (not used), flow control off, maximum incoming transfer size 1500 octets
both ways. A GSME (sleepy) requests the tunnel itself and fetches queued frames with the GBCS tunnel header
GET (0x01) → GET-RESPONSE (0x02 ‖ messages remaining ‖ frame) and sends its own frames as PUT (0x03)
(Silicon Labs `comms-hub-function.c` `emAfPluginCommsHubFunctionTunnelDataReceivedCallback`); other devices
exchange bare frames. A frame longer than one transfer goes as GBT blocks (`gbcs.gbt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.smartenergy import Tunneling
from zigpy.zcl.foundation import ZCLCommandDef

from gbcs import gbt

GB_HGRP_PROTOCOL_ID = 6
MANUFACTURER_CODE_NOT_USED = 0xFFFF
MAX_TRANSFER_SIZE = 1500


class TunnelStatus(t.enum8):
    Success = 0x00
    Busy = 0x01
    No_More_Tunnel_IDs = 0x02
    Protocol_Not_Supported = 0x03
    Flow_Control_Not_Supported = 0x04


class TransferDataStatus(t.enum8):
    No_Such_Tunnel = 0x00
    Wrong_Device = 0x01
    Data_Overflow = 0x02


class GbcsTunneling(Tunneling):
    """Tunnelling with the commands GBCS uses (ZSE 1.2a D.6.2.4 client→server, D.6.2.5 server→client)."""

    _skip_registry = True  # a per-use definition; zigpy's global cluster registry keeps its stub

    class ServerCommandDefs(foundation.BaseCommandDefs):
        request_tunnel: Final = ZCLCommandDef(id=0x00, schema={
            "protocol_id": t.uint8_t, "manufacturer_code": t.uint16_t, "flow_control_support": t.Bool,
            "maximum_incoming_transfer_size": t.uint16_t})
        close_tunnel: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x02, schema={"tunnel_id": t.uint16_t, "data": t.Bytes})
        transfer_data_error: Final = ZCLCommandDef(id=0x03, schema={"tunnel_id": t.uint16_t,
                                                                    "status": TransferDataStatus})

    class ClientCommandDefs(foundation.BaseCommandDefs):
        request_tunnel_response: Final = ZCLCommandDef(id=0x00, schema={
            "tunnel_id": t.uint16_t, "tunnel_status": TunnelStatus, "maximum_incoming_transfer_size": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t, "data": t.Bytes})
        transfer_data_error: Final = ZCLCommandDef(id=0x02, schema={"tunnel_id": t.uint16_t,
                                                                    "status": TransferDataStatus})
        tunnel_closure_notification: Final = ZCLCommandDef(id=0x06, schema={"tunnel_id": t.uint16_t})


class TunnelError(ValueError):
    """A tunnel frame that does not decode (wrong cluster command, short payload)."""


@dataclass(frozen=True)
class TunnelCommand:
    """One decoded Tunnelling command: `name` as in `GbcsTunneling`, `to_server` its direction."""

    tsn: int
    name: str
    to_server: bool
    fields: dict[str, Any]


def _defs(to_server: bool) -> type[foundation.BaseCommandDefs]:
    return GbcsTunneling.ServerCommandDefs if to_server else GbcsTunneling.ClientCommandDefs


# ZCL frame control of a cluster-specific command with default response disabled, per direction (ZCL r8 §2.4.1.1:
# frame type 01, manufacturer specific 0, direction bit 3, disable default response bit 4)
_FC_TO_SERVER = 0x11
_FC_TO_CLIENT = 0x19
_TRANSFER_DATA_ID = {True: 0x02, False: 0x01}  # `transfer_data` in each direction (the defs below)


def encode(name: str, *, to_server: bool, tsn: int, **fields: Any) -> bytes:
    """ZCL header ‖ payload of Tunnelling command `name` (e.g. `transfer_data`) in the given direction.

    TransferData, the command every poll and every GBCS frame rides on, is laid out directly (the same bytes zigpy
    makes: tests/test_tunnel_decode.py); the rest go through zigpy's ZCL types."""
    if name == "transfer_data" and fields.keys() == {"tunnel_id", "data"} and 0 <= tsn <= 0xFF:
        tid, data = fields["tunnel_id"], fields["data"]
        if isinstance(tid, int) and 0 <= tid <= 0xFFFF and isinstance(data, (bytes, bytearray)):
            return bytes((_FC_TO_SERVER if to_server else _FC_TO_CLIENT, tsn, _TRANSFER_DATA_ID[to_server],
                          tid & 0xFF, tid >> 8)) + bytes(data)
    cmd = getattr(_defs(to_server), name)
    direction = foundation.Direction.Client_to_Server if to_server else foundation.Direction.Server_to_Client
    hdr = foundation.ZCLHeader.cluster(tsn, cmd.id, direction=direction)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=True)
    return hdr.serialize() + cmd.schema(**fields).serialize()


def decode(data: bytes) -> TunnelCommand:
    if len(data) >= 5 and data[0] in (_FC_TO_SERVER, _FC_TO_CLIENT, _FC_TO_SERVER & ~0x10, _FC_TO_CLIENT & ~0x10):
        to_server = not data[0] & 0x08
        if data[2] == _TRANSFER_DATA_ID[to_server]:  # laid out directly, as `encode` makes it
            return TunnelCommand(data[1], "transfer_data", to_server,
                                 {"tunnel_id": t.uint16_t(data[3] | data[4] << 8), "data": t.Bytes(data[5:])})
    try:
        hdr, payload = foundation.ZCLHeader.deserialize(data)
    except (ValueError, KeyError) as e:
        raise TunnelError(f"ZCL header: {e}") from None
    if not hdr.frame_control.is_cluster:
        raise TunnelError(f"general command 0x{hdr.command_id:02X} on the tunnel cluster")
    to_server = hdr.direction == foundation.Direction.Client_to_Server
    for cmd in _defs(to_server):
        if cmd.id == hdr.command_id:
            try:
                value, rest = cmd.schema.deserialize(payload)
            except (ValueError, KeyError) as e:
                raise TunnelError(f"{cmd.name}: {e}") from None
            if rest:
                raise TunnelError(f"{cmd.name}: {len(rest)} trailing bytes")
            return TunnelCommand(hdr.tsn, cmd.name, to_server, value.as_dict())
    raise TunnelError(f"command 0x{hdr.command_id:02X} ({'to server' if to_server else 'to client'}) not handled")


# ------------------------------------------------------------------------------------------ GBCS tunnel header
class Header(IntEnum):
    """First byte of a sleepy device's tunnel data (GBCS §10.2.2; Silicon Labs `comms-hub-function.c`)."""

    GET = 0x01
    GET_RESPONSE = 0x02
    PUT = 0x03


def get() -> bytes:
    return bytes((Header.GET,))


def get_response(remaining: int, frame: bytes = b"") -> bytes:
    return bytes((Header.GET_RESPONSE, min(remaining, 0xFF))) + frame


def put(frame: bytes) -> bytes:
    return bytes((Header.PUT,)) + frame


# ------------------------------------------------------------------------------------------ GBT
GET_RESPONSE_OVERHEAD = 2


def transfers(frame: bytes, *, header: int = 0, max_transfer: int = MAX_TRANSFER_SIZE) -> list[bytes]:
    """The tunnel transfers that carry `frame`: itself, or GBT blocks (`gbcs.gbt.split_frame`) each fitting with
    `header` tunnel-header bytes into `max_transfer` octets (the MaximumIncomingTransferSize, GBCS §10.2.2)."""
    room = max_transfer - header
    if len(frame) <= room:
        return [frame]
    size = room - 48  # routing header + GBT header; shrunk below if the encoded lengths need more
    while size > 0:
        blocks = gbt.split_frame(frame, size)
        if max(map(len, blocks)) <= room:
            return blocks
        size -= max(map(len, blocks)) - room
    raise ValueError(f"max_transfer {max_transfer} leaves no room for a GBT block")


class Reassembly:
    """Whole frames out of tunnel transfers: a bare frame passes through, GBT blocks are collected."""

    def __init__(self) -> None:
        self._gbt = gbt.Reassembler()

    def add(self, data: bytes) -> bytes | None:
        return self._gbt.add(data) if gbt.is_gbt(data) else data
