"""Scenes for the capture tests: a hub, an ESME and a GSME join, keep alive and exchange GBCS frames over the
Tunnelling cluster, written with `zigbee.capture.HanCapture`. Frame numbers of interest are returned so the
tests can compare our reader and tshark frame by frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtds_data import frame
from zigbee import tunnel
from zigbee.capture import HanCapture, zcl

HUB = bytes.fromhex("000d6f0000000001")
ESME = bytes.fromhex("000d6f000a0b0c02")
GSME = bytes.fromhex("000d6f000a0b0c03")
PAN = 0x1234
NETWORK_KEY = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
ESME_INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505")  # spec example: link key 66B6…02BB
ESME_LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
GSME_LINK_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
ESME_TC_LINK_KEY = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")  # after (emulated) key establishment
HUB_EP, NODE_EP = 0x0A, 0x01
T0 = 1_700_000_000.0

GCS07_COMMAND = "3.1_GCS07/GCS07_3.1_SUCCESS_COMMAND_GBCS.HEX"     # 88 octets, message code 0x0071, counter 1002
GCS07_RESPONSE = "3.1_GCS07/GCS07_3.1_SUCCESS_RESPONSE_GBCS.HEX"   # 73 octets
LARGE = "6.23_CS02bSupplierByTransCoS/CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX"  # 1902


@dataclass
class Scene:
    path: Path
    keys_path: Path
    marks: dict[str, list[int]] = field(default_factory=dict)
    gbcs: dict[str, bytes] = field(default_factory=dict)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


def tunnel_frame(cap: HanCapture, src: bytes, dst: bytes, payload: bytes) -> list[int]:
    se, de = (HUB_EP, NODE_EP) if src == HUB else (NODE_EP, HUB_EP)
    return cap.aps_data(src, dst, profile=zcl.SE_PROFILE, cluster=zcl.TUNNELLING_CLUSTER, payload=payload,
                        src_endpoint=se, dst_endpoint=de)


def join_and_tunnel(path: Path, *, large: bool = False, pcapng: bool | None = None) -> Scene:
    """ESME: install-code join, keep-alive, the hub's RequestTunnel, GCS07 command and response (each APS
    fragmented); optionally a 1902-octet command as two GBT blocks. GSME: join, its own RequestTunnel, GET,
    GET-RESPONSE with the command, PUT with the response."""
    command, response = frame(GCS07_COMMAND), frame(GCS07_RESPONSE)
    s = Scene(path, Path(f"{path}.keys"), gbcs={"command": command, "response": response})
    with HanCapture(path, clock=Clock(), pcapng=pcapng) as cap:
        cap.add_network(HUB, pan_id=PAN, extended_pan_id=HUB, network_key=NETWORK_KEY)
        cap.add_node(ESME, install_code=ESME_INSTALL_CODE)
        cap.add_node(GSME, link_key=GSME_LINK_KEY, capability=0x80)
        s.marks["join"] = cap.join(ESME, HUB)
        cap.set_link_key(ESME, ESME_TC_LINK_KEY)  # key establishment done: the TC link key from now on
        s.marks["keep_alive"] = cap.keep_alive(ESME, HUB)
        s.marks["request_tunnel"] = tunnel_frame(cap, HUB, ESME, zcl.request_tunnel(1))
        s.marks["request_tunnel_response"] = tunnel_frame(cap, ESME, HUB, zcl.request_tunnel_response(1, 7))
        s.marks["command"] = tunnel_frame(cap, HUB, ESME, zcl.transfer_data(2, 7, command, to_server=True))
        s.marks["response"] = tunnel_frame(cap, ESME, HUB, zcl.transfer_data(3, 7, response, to_server=False))
        if large:
            big = frame(LARGE)
            s.gbcs["large"] = big
            s.marks["large"] = []
            for i, block in enumerate(tunnel.transfers(big)):
                s.marks["large"] += tunnel_frame(cap, HUB, ESME, zcl.transfer_data(10 + i, 7, block, to_server=True))
        s.marks["gsme_join"] = cap.join(GSME, HUB)
        s.marks["gsme_request"] = tunnel_frame(cap, GSME, HUB, zcl.request_tunnel(1))
        s.marks["gsme_response"] = tunnel_frame(cap, HUB, GSME, zcl.request_tunnel_response(1, 3))
        s.marks["get"] = tunnel_frame(cap, GSME, HUB, zcl.transfer_data(2, 3, tunnel.get(), to_server=True))
        s.marks["get_response"] = tunnel_frame(cap, HUB, GSME, zcl.transfer_data(
            2, 3, tunnel.get_response(0, command), to_server=False))
        s.marks["put"] = tunnel_frame(cap, GSME, HUB, zcl.transfer_data(3, 3, tunnel.put(response), to_server=True))
        s.marks["leave"] = cap.leave(GSME)
    return s
