"""Z-Stack MT, NCP side: the requests the emulator models, an NV memory with a factory image of our own making,
and `ZnpNcp`, the state machine that answers a host (zigpy-znp) on behalf of an `EmulatedStick`.

The emulated firmware is a Z-Stack 3.30 coordinator on a CC2652 (a Sonoff ZBDongle-P): structs in NV memory
are aligned (UTIL.AssocFindDevice answers with the 36-octet associated-device struct), the extended NV
system exists (SYS.NVLength of the TCLK table answers), SYS.Version reports a 2023 build.

Z-Stack keeps its network in NV items that the host reads and writes as raw firmware structures: the NIB,
the active network key, the network security material table, the address manager table, the TC link key
seed and tables. The emulator keeps exactly those bytes (`ZnpNv`, kept by the stick for the bench's life) and
reads what it needs from them: the channel, PAN ID and Extended PAN ID the radio beacons (NIB), the members
and their TC link keys (address manager, the seed-hashed TCLK table and the unhashed APS key tables). The
layouts are declared below with construct, with C alignment (`_cstruct`), not borrowed from zigpy-znp.

Semantics follow what a Z-Stack 3.30 coordinator does for these requests: a reset with STARTUP_OPTION
ClearState forgets the network (and ClearConfig the configuration) and recreates the stack's own items that
were deleted (EXTADDR comes back as the hardware address); BDB formation forms a network from PANID,
APS_USE_EXT_PANID, PRECFGKEY and the BDB primary channels, or restores the one in NV; an unknown request is
answered `RPC_Core` error InvalidCommandId (zigpy-znp's CommandNotRecognized).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import construct as c
import zigpy.types as zt
from zigpy.util import convert_install_code

from chf.core.han import JoinMethod
from zigbee.ncp.mt import CommandType, MtFrame, MtStream, Subsystem
from zigbee.ncp.stick import EmulatedStick, Endpoint, NetworkParams

log = logging.getLogger(__name__)

SREQ, AREQ, SRSP = CommandType.SREQ, CommandType.AREQ, CommandType.SRSP
SYS, AF, ZDO, UTIL, APP_CNF, RPC = (Subsystem.SYS, Subsystem.AF, Subsystem.ZDO, Subsystem.UTIL, Subsystem.APP_CNF,
                                    Subsystem.RPC_ERROR)

# ------------------------------------------------------------------------------------------ statuses, constants
SUCCESS, FAILURE, INVALID_PARAMETER = 0x00, 0x01, 0x02
NV_ITEM_UNINIT, NV_OPER_FAILED, NV_BAD_ITEM_LEN = 0x09, 0x0A, 0x0C
APS_NO_ACK, NWK_NO_ROUTE = 0xB7, 0xCD
ROUTING_SUCCESS, ROUTING_NO_ENTRY = 0, 4
RPC_INVALID_COMMAND_ID = 0x02

CAPABILITIES = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0100 | 0x0200 | 0x0400
VERSION = {"transport_rev": 2, "product_id": 1, "major_rel": 2, "minor_rel": 7, "maint_rel": 1,
           "code_revision": 20230507, "bootloader_build_type": 0, "bootloader_revision": 0xFFFFFFFF}
RESET_POWER_UP, RESET_EXTERNAL, RESET_WATCHDOG = 0x00, 0x01, 0x02
STATE_STARTING_AS_COORDINATOR, STATE_STARTED_AS_COORDINATOR = 0x08, 0x09
BDB_SUCCESS, BDB_IN_PROGRESS, BDB_FORMATION_FAILURE, BDB_NETWORK_RESTORED = 0, 1, 8, 13
BDB_MODE_NONE, BDB_MODE_FORMATION = 0x00, 0x04
STARTUP_CLEAR_CONFIG, STARTUP_CLEAR_STATE = 0x01, 0x02
IC_FORMAT_INSTALL_CODE_AND_CRC, IC_FORMAT_DERIVED_KEY = 1, 2
ADDR_GROUP, ADDR_NWK, ADDR_IEEE, ADDR_BROADCAST = 0x01, 0x02, 0x03, 0x0F
ADDRMGR_ASSOC, ADDRMGR_SECURITY = 0x01, 0x02
AUTHENTICATED_CBCK = 0x01
KEY_ATTR_VERIFIED, KEY_TYPE_NONE = 0x02, 0x00

SYS_ID_ZSTACK = 1
EX_LEGACY, EX_ADDRMGR, EX_TCLK_TABLE, EX_APS_KEY_DATA_TABLE, EX_NWK_SEC_MATERIAL_TABLE = 0x0000, 0x0001, 0x0004, \
    0x0006, 0x0007
TABLE_SIZE = 32          # entries of the address manager, TCLK and APS key tables of this image
SEC_MATERIAL_ENTRIES = 4
MAX_NV_CHUNK = 244       # octets one NV read answer carries
MAX_INCOMING_MSG = 230   # longest AF.IncomingMsg payload in one MT frame; longer: AF.IncomingMsgExt

# OSAL (legacy) NV item IDs this firmware knows
NV_EXTADDR, NV_BOOTCOUNTER, NV_STARTUP_OPTION, NV_NIB = 0x0001, 0x0002, 0x0003, 0x0021
NV_EXTENDED_PAN_ID, NV_BCAST_DELIVERY_TIME = 0x002D, 0x0030
NV_CONCENTRATOR_ENABLE, NV_CONCENTRATOR_DISCOVERY, NV_CONCENTRATOR_RC, NV_SRC_RTG_EXPIRY_TIME = 0x0032, 0x0033, \
    0x0036, 0x0038
NV_NWK_ACTIVE_KEY_INFO, NV_NWK_ALTERN_KEY_INFO, NV_NWK_CHILD_AGE_ENABLE = 0x003A, 0x003B, 0x003E
NV_APS_USE_EXT_PANID, NV_APS_LINK_KEY_TABLE, NV_BDBNODEISONANETWORK = 0x0047, 0x004C, 0x0055
NV_PRECFGKEY, NV_PRECFGKEYS_ENABLE, NV_PANID, NV_CHANLIST, NV_LOGICAL_TYPE = 0x0062, 0x0063, 0x0083, 0x0084, 0x0087
NV_ZDO_DIRECT_CB, NV_TCLK_SEED = 0x008F, 0x0101
DEFAULT_CHANNELS = (1 << 11) | (1 << 15) | (1 << 20) | (1 << 25)

# ------------------------------------------------------------------------------------------ payload layouts
U8, U16, U32, I8 = c.Int8ul, c.Int16ul, c.Int32ul, c.Int8sl
EUI64 = c.Bytes(8)                                 # least significant byte first, as on the wire
KEY = c.Bytes(16)
SHORT_BYTES = c.Prefixed(c.Int8ul, c.GreedyBytes)
LONG_BYTES = c.Prefixed(c.Int16ul, c.GreedyBytes)
CLUSTER_LIST = c.PrefixedArray(c.Int8ul, U16)
ADDR_MODE_ADDRESS = c.Struct("mode" / U8, "address" / c.Bytes(8))  # NWK/group: 2 octets then zeros
S = c.Struct

_FIELD_SIZES: dict[int, int] = {}


def _cstruct(*fields: tuple[str, c.Construct, int]) -> c.Struct:
    """A C struct with natural alignment: each field is (name, layout, alignment); padding is 0x00."""
    parts: list[c.Construct] = []
    offset, biggest = 0, 1
    for name, sub, align in fields:
        pad = (-offset) % align
        if pad:
            parts.append(c.Padding(pad))
        parts.append(name / sub)
        offset += pad + sub.sizeof()
        biggest = max(biggest, align)
    tail = (-offset) % biggest
    if tail:
        parts.append(c.Padding(tail))
    return c.Struct(*parts)


NWK_KEY_DESC = _cstruct(("key_seq_num", U8, 1), ("key", KEY, 1))
NIB = _cstruct(
    ("sequence_num", U8, 1), ("passive_ack_timeout", U8, 1), ("max_broadcast_retries", U8, 1),
    ("max_children", U8, 1), ("max_depth", U8, 1), ("max_routers", U8, 1), ("dummy_neighbor_table", U8, 1),
    ("broadcast_delivery_time", U8, 1), ("report_constant_cost", U8, 1), ("route_disc_retries", U8, 1),
    ("dummy_routing_table", U8, 1), ("secure_all_frames", U8, 1), ("security_level", U8, 1), ("sym_link", U8, 1),
    ("capability_flags", U8, 1), ("transaction_persistence_time", U16, 2), ("nwk_protocol_version", U8, 1),
    ("route_discovery_time", U8, 1), ("route_expiry_time", U8, 1), ("nwk_dev_address", U16, 2),
    ("nwk_logical_channel", U8, 1), ("nwk_coord_address", U16, 2), ("nwk_coord_ext_address", EUI64, 1),
    ("nwk_pan_id", U16, 2), ("nwk_state", U16, 2), ("channel_list", U32, 4), ("beacon_order", U8, 1),
    ("super_frame_order", U8, 1), ("scan_duration", U8, 1), ("batt_life_ext", U8, 1),
    ("allocated_router_addresses", U32, 4), ("allocated_end_device_addresses", U32, 4), ("node_depth", U8, 1),
    ("extended_pan_id", EUI64, 1), ("nwk_key_loaded", U8, 1), ("spare1", NWK_KEY_DESC, 1),
    ("spare2", NWK_KEY_DESC, 1), ("spare3", U8, 1), ("spare4", U8, 1), ("nwk_link_status_period", U8, 1),
    ("nwk_router_age_limit", U8, 1), ("nwk_use_multicast", U8, 1), ("nwk_is_concentrator", U8, 1),
    ("nwk_concentrator_discovery_time", U8, 1), ("nwk_concentrator_radius", U8, 1), ("nwk_all_fresh", U8, 1),
    ("nwk_manager_addr", U16, 2), ("nwk_total_transmissions", U16, 2), ("nwk_update_id", U8, 1),
)
NWK_SEC_MATERIAL = _cstruct(("frame_counter", U32, 4), ("extended_pan_id", EUI64, 1))
ADDRMGR_ENTRY = _cstruct(("type", U8, 1), ("nwk_addr", U16, 2), ("ext_addr", EUI64, 1))
TCLK_DEV_ENTRY = _cstruct(("tx_frame_counter", U32, 4), ("rx_frame_counter", U32, 4), ("ext_addr", EUI64, 1),
                          ("key_attributes", U8, 1), ("key_type", U8, 1), ("seed_shift_ic_index", U8, 1))
APS_KEY_DATA = _cstruct(("key", KEY, 1), ("tx_frame_counter", U32, 4), ("rx_frame_counter", U32, 4))
APS_LINK_KEY_ENTRY = _cstruct(("address_manager_index", U16, 2), ("link_key_nv_id", U16, 2),
                              ("authentication_state", U8, 1))
APS_LINK_KEY_TABLE = c.Struct("entries" / c.PrefixedArray(c.Int16ul, APS_LINK_KEY_ENTRY), "rest" / c.GreedyBytes)
ASSOCIATED_DEVICE = _cstruct(
    ("short_addr", U16, 2), ("addr_idx", U16, 2), ("node_relation", U8, 1), ("dev_status", U8, 1),
    ("assoc_cnt", U8, 1), ("age", U8, 1),
    ("link_info", _cstruct(("tx_counter", U8, 1), ("tx_cost", U8, 1), ("rx_lqi", U8, 1), ("in_key_seq_num", U8, 1),
                           ("in_frm_cntr", U32, 4), ("tx_failure", U16, 2)), 4),
    ("end_dev", _cstruct(("end_dev_cfg", U8, 1), ("device_timeout", U32, 4)), 4),
    ("timeout_counter", U32, 4), ("keepalive_rcv", U8, 1), ("ctrl", U8, 1))

EMPTY_ADDRMGR = b"\xff" * ADDRMGR_ENTRY.sizeof()


@dataclass(frozen=True)
class Request:
    name: str
    subsystem: int
    cmd1: int
    request: c.Construct
    response: c.Construct | None  # None: an AREQ with no synchronous response


def _table(*reqs: Request) -> dict[tuple[int, int], Request]:
    return {(r.subsystem, r.cmd1): r for r in reqs}


STATUS = S("status" / U8)
# The requests the emulator models. Every one has a handler in ZnpNcp (`_<name>`).
REQUESTS: dict[tuple[int, int], Request] = _table(
    Request("SYS.ResetReq", SYS, 0x00, S("type" / U8), None),
    Request("SYS.Ping", SYS, 0x01, S(), S("capabilities" / U16)),
    Request("SYS.Version", SYS, 0x02, S(), S("transport_rev" / U8, "product_id" / U8, "major_rel" / U8,
                                            "minor_rel" / U8, "maint_rel" / U8, "code_revision" / U32,
                                            "bootloader_build_type" / U8, "bootloader_revision" / U32)),
    Request("SYS.OSALNVItemInit", SYS, 0x07, S("id" / U16, "item_len" / U16, "value" / SHORT_BYTES), STATUS),
    Request("SYS.OSALNVRead", SYS, 0x08, S("id" / U16, "offset" / U8), S("status" / U8, "value" / SHORT_BYTES)),
    Request("SYS.OSALNVWrite", SYS, 0x09, S("id" / U16, "offset" / U8, "value" / SHORT_BYTES), STATUS),
    Request("SYS.OSALNVDelete", SYS, 0x12, S("id" / U16, "item_len" / U16), STATUS),
    Request("SYS.OSALNVLength", SYS, 0x13, S("id" / U16), S("item_len" / U16)),
    Request("SYS.SetTxPower", SYS, 0x14, S("tx_power" / I8), S("status_or_power" / I8)),
    Request("SYS.OSALNVReadExt", SYS, 0x1C, S("id" / U16, "offset" / U16), S("status" / U8, "value" / SHORT_BYTES)),
    Request("SYS.OSALNVWriteExt", SYS, 0x1D, S("id" / U16, "offset" / U16, "value" / LONG_BYTES), STATUS),
    Request("SYS.NVCreate", SYS, 0x30, S("sys_id" / U8, "item_id" / U16, "sub_id" / U16, "length" / U32), STATUS),
    Request("SYS.NVDelete", SYS, 0x31, S("sys_id" / U8, "item_id" / U16, "sub_id" / U16), STATUS),
    Request("SYS.NVLength", SYS, 0x32, S("sys_id" / U8, "item_id" / U16, "sub_id" / U16), S("length" / U32)),
    Request("SYS.NVRead", SYS, 0x33, S("sys_id" / U8, "item_id" / U16, "sub_id" / U16, "offset" / U16,
                                       "length" / U8), S("status" / U8, "value" / SHORT_BYTES)),
    Request("SYS.NVWrite", SYS, 0x34, S("sys_id" / U8, "item_id" / U16, "sub_id" / U16, "offset" / U16,
                                        "value" / SHORT_BYTES), STATUS),
    Request("AF.Register", AF, 0x00, S("endpoint" / U8, "profile_id" / U16, "device_id" / U16,
                                       "device_version" / U8, "latency_req" / U8, "input_clusters" / CLUSTER_LIST,
                                       "output_clusters" / CLUSTER_LIST), STATUS),
    Request("AF.DataRequestExt", AF, 0x02, S("dst" / ADDR_MODE_ADDRESS, "dst_endpoint" / U8, "dst_pan_id" / U16,
                                             "src_endpoint" / U8, "cluster_id" / U16, "tsn" / U8, "options" / U8,
                                             "radius" / U8, "data" / LONG_BYTES), STATUS),
    Request("AF.Delete", AF, 0x04, S("endpoint" / U8), STATUS),
    Request("ZDO.MgmtPermitJoinReq", ZDO, 0x36, S("addr_mode" / U8, "dst" / U16, "duration" / U8,
                                                  "tc_significance" / U8), STATUS),
    Request("ZDO.MsgCallbackRegister", ZDO, 0x3E, S("cluster_id" / U16), STATUS),
    Request("ZDO.ExtRouteDisc", ZDO, 0x45, S("dst" / U16, "options" / U8, "radius" / U8), STATUS),
    Request("ZDO.ExtRouteChk", ZDO, 0x46, S("dst" / U16, "rt_status" / U8, "options" / U8), STATUS),
    Request("UTIL.LEDControl", UTIL, 0x0A, S("led" / U8, "mode" / U8), STATUS),
    Request("UTIL.AssocFindDevice", UTIL, 0x49, S("index" / U8), S("device" / c.GreedyBytes)),
    Request("AppConfig.BDBAddInstallCode", APP_CNF, 0x04, S("install_code_format" / U8, "ieee" / EUI64,
                                                            "install_code" / c.GreedyBytes), STATUS),
    Request("AppConfig.BDBStartCommissioning", APP_CNF, 0x05, S("mode" / U8), STATUS),
    Request("AppConfig.BDBSetJoinUsesInstallCodeKey", APP_CNF, 0x06, S("enabled" / U8), STATUS),
    Request("AppConfig.BDBSetChannel", APP_CNF, 0x08, S("is_primary" / U8, "channel" / U32), STATUS),
)
REQUESTS_BY_NAME = {r.name: (r.subsystem, r.cmd1) for r in REQUESTS.values()}

CALLBACKS: dict[str, tuple[int, int, c.Construct]] = {
    "SYS.ResetInd": (SYS, 0x80, S("reason" / U8, "transport_rev" / U8, "product_id" / U8, "major_rel" / U8,
                                  "minor_rel" / U8, "maint_rel" / U8)),
    "AF.DataConfirm": (AF, 0x80, S("status" / U8, "endpoint" / U8, "tsn" / U8)),
    "AF.IncomingMsg": (AF, 0x81, S("group_id" / U16, "cluster_id" / U16, "src_addr" / U16, "src_endpoint" / U8,
                                   "dst_endpoint" / U8, "was_broadcast" / U8, "lqi" / U8, "security_use" / U8,
                                   "timestamp" / U32, "tsn" / U8, "data" / SHORT_BYTES, "mac_src_addr" / U16,
                                   "msg_result_radius" / U8)),
    "AF.IncomingMsgExt": (AF, 0x82, S("group_id" / U16, "cluster_id" / U16, "src" / ADDR_MODE_ADDRESS,
                                      "src_endpoint" / U8, "src_pan_id" / U16, "dst_endpoint" / U8,
                                      "was_broadcast" / U8, "lqi" / U8, "security_use" / U8, "timestamp" / U32,
                                      "tsn" / U8, "data" / LONG_BYTES, "mac_src_addr" / U16,
                                      "msg_result_radius" / U8)),
    "ZDO.MgmtPermitJoinRsp": (ZDO, 0xB6, S("src" / U16, "status" / U8)),
    "ZDO.StateChangeInd": (ZDO, 0xC0, S("state" / U8)),
    "ZDO.LeaveInd": (ZDO, 0xC9, S("nwk" / U16, "ieee" / EUI64, "request" / U8, "remove" / U8, "rejoin" / U8)),
    "ZDO.TCDevInd": (ZDO, 0xCA, S("src_nwk" / U16, "src_ieee" / EUI64, "parent_nwk" / U16)),
    "ZDO.MsgCbIncoming": (ZDO, 0xFF, S("src" / U16, "is_broadcast" / U8, "cluster_id" / U16, "security_use" / U8,
                                       "tsn" / U8, "mac_dst" / U16, "data" / c.GreedyBytes)),
    "AppConfig.BDBCommissioningNotification": (APP_CNF, 0x80, S("status" / U8, "mode" / U8,
                                                               "remaining_modes" / U8)),
}
RPC_ERROR = S("error_code" / U8, "cmd0" / U8, "cmd1" / U8)


def le(eui: bytes) -> bytes:
    return bytes(eui)[::-1]


def hashed_key(seed: bytes, shift: int, eui: bytes) -> bytes:
    """A TC link key Z-Stack derives from its TCLK seed: the seed rotated left by `shift` octets, XORed with the
    device's IEEE address (least significant octet first) twice over."""
    rotated = seed[shift:] + seed[:shift]
    return bytes(a ^ b for a, b in zip(rotated, le(eui) * 2, strict=True))


# ------------------------------------------------------------------------------------------ NV memory
Key = tuple[int, int, int]  # (system ID, item ID, sub ID); legacy OSAL item N is (ZSTACK, LEGACY, N)


def legacy(nv_id: int) -> Key:
    return SYS_ID_ZSTACK, EX_LEGACY, nv_id


def factory_image(eui: bytes) -> dict[Key, bytes]:
    """Our own factory NV image of an unformed Z-Stack 3.30 coordinator: the stack's configuration items and
    empty tables, no network (no NIB)."""
    img: dict[Key, bytes] = {
        legacy(NV_EXTADDR): le(eui),
        legacy(NV_BOOTCOUNTER): b"\x00\x00",
        legacy(NV_STARTUP_OPTION): b"\x00",
        legacy(NV_LOGICAL_TYPE): b"\x00",
        legacy(NV_CONCENTRATOR_ENABLE): b"\x01",
        legacy(NV_CONCENTRATOR_DISCOVERY): bytes((120,)),
        legacy(NV_CONCENTRATOR_RC): b"\x01",
        legacy(NV_SRC_RTG_EXPIRY_TIME): bytes((255,)),
        legacy(NV_NWK_CHILD_AGE_ENABLE): b"\x00",
        legacy(NV_BCAST_DELIVERY_TIME): bytes((30,)),
        legacy(NV_ZDO_DIRECT_CB): b"\x01",
        legacy(NV_PANID): b"\xff\xff",
        legacy(NV_CHANLIST): DEFAULT_CHANNELS.to_bytes(4, "little"),
        legacy(NV_APS_USE_EXT_PANID): b"\x00" * 8,
        legacy(NV_EXTENDED_PAN_ID): le(eui),
        legacy(NV_PRECFGKEY): os.urandom(16),
        legacy(NV_PRECFGKEYS_ENABLE): b"\x00",
        legacy(NV_TCLK_SEED): os.urandom(16),
        legacy(NV_APS_LINK_KEY_TABLE): APS_LINK_KEY_TABLE.build(
            {"entries": [], "rest": b"\x00" * (APS_LINK_KEY_ENTRY.sizeof() * TABLE_SIZE)}),
        legacy(NV_BDBNODEISONANETWORK): b"\x00",
    }
    for sub in range(TABLE_SIZE):
        img[(SYS_ID_ZSTACK, EX_ADDRMGR, sub)] = EMPTY_ADDRMGR
        img[(SYS_ID_ZSTACK, EX_TCLK_TABLE, sub)] = b"\x00" * TCLK_DEV_ENTRY.sizeof()
        img[(SYS_ID_ZSTACK, EX_APS_KEY_DATA_TABLE, sub)] = b"\x00" * APS_KEY_DATA.sizeof()
    for sub in range(SEC_MATERIAL_ENTRIES):
        img[(SYS_ID_ZSTACK, EX_NWK_SEC_MATERIAL_TABLE, sub)] = b"\x00" * NWK_SEC_MATERIAL.sizeof()
    return img


# Items a ClearState boot resets (the network), and those ClearConfig resets (the commissioning settings)
STATE_ITEMS = {legacy(NV_NIB), legacy(NV_NWK_ACTIVE_KEY_INFO), legacy(NV_NWK_ALTERN_KEY_INFO),
               legacy(NV_APS_LINK_KEY_TABLE), legacy(NV_BDBNODEISONANETWORK)}
STATE_TABLES = {EX_ADDRMGR, EX_TCLK_TABLE, EX_APS_KEY_DATA_TABLE, EX_NWK_SEC_MATERIAL_TABLE}
CONFIG_ITEMS = {legacy(n) for n in (NV_PANID, NV_CHANLIST, NV_APS_USE_EXT_PANID, NV_EXTENDED_PAN_ID, NV_PRECFGKEY,
                                    NV_PRECFGKEYS_ENABLE, NV_LOGICAL_TYPE)}


@dataclass
class ZnpNv:
    """The stick's NV memory: raw items, as Z-Stack keeps them (kept for the bench's life)."""

    eui: bytes
    items: dict[Key, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.items:
            self.items = factory_image(self.eui)
        self._factory = factory_image(self.eui)

    def get(self, nv_id: int) -> bytes | None:
        return self.items.get(legacy(nv_id))

    def put(self, nv_id: int, value: bytes) -> None:
        self.items[legacy(nv_id)] = bytes(value)

    def table(self, item_id: int) -> list[bytes]:
        out, sub = [], 0
        while (SYS_ID_ZSTACK, item_id, sub) in self.items:
            out.append(self.items[(SYS_ID_ZSTACK, item_id, sub)])
            sub += 1
        return out

    def boot(self) -> None:
        """A (re)boot: apply STARTUP_OPTION, recreate the stack's own items that are missing."""
        option = (self.get(NV_STARTUP_OPTION) or b"\x00")[0]
        if option & STARTUP_CLEAR_STATE:
            for k in list(self.items):
                if k in STATE_ITEMS or k[1] in STATE_TABLES:
                    del self.items[k]
        if option & STARTUP_CLEAR_CONFIG:
            for k in CONFIG_ITEMS:
                self.items.pop(k, None)
        if option & (STARTUP_CLEAR_STATE | STARTUP_CLEAR_CONFIG):
            self.put(NV_STARTUP_OPTION, b"\x00")
        for k, v in self._factory.items():
            if k not in self.items and k != legacy(NV_PRECFGKEY) and k != legacy(NV_TCLK_SEED):
                self.items[k] = v
        for k in (legacy(NV_PRECFGKEY), legacy(NV_TCLK_SEED)):
            self.items.setdefault(k, os.urandom(16))
        count = int.from_bytes(self.get(NV_BOOTCOUNTER) or b"\x00\x00", "little")
        self.put(NV_BOOTCOUNTER, ((count + 1) & 0xFFFF).to_bytes(2, "little"))

    # -------------------------------------------------------------------------------------- the network
    def nib(self) -> c.Container | None:
        raw = self.get(NV_NIB)
        if raw is None or len(raw) != NIB.sizeof():
            return None
        return NIB.parse(raw)

    def formed(self) -> bool:
        n = self.nib()
        return n is not None and n.nwk_logical_channel != 0 and bool(n.nwk_key_loaded) \
            and (self.get(NV_BDBNODEISONANETWORK) or b"\x00")[0] == 1

    def addrmgr(self) -> list[c.Container]:
        return [ADDRMGR_ENTRY.parse(e) for e in self.table(EX_ADDRMGR)]

    def members(self) -> dict[bytes, int]:
        out = {}
        for e in self.addrmgr():
            if e.type == 0xFF or not e.type & (ADDRMGR_ASSOC | ADDRMGR_SECURITY):
                continue
            if e.ext_addr in (b"\x00" * 8, b"\xff" * 8) or e.nwk_addr >= 0xFFF8:
                continue
            out[le(e.ext_addr)] = e.nwk_addr
        return out

    def link_key(self, eui: bytes) -> bytes | None:
        """The device's TC link key: seed-hashed (TCLK table) or unhashed (APS link key and key data tables)."""
        seed = self.get(NV_TCLK_SEED)
        for raw in self.table(EX_TCLK_TABLE):
            e = TCLK_DEV_ENTRY.parse(raw)
            if e.ext_addr == le(eui) and seed is not None:
                return hashed_key(seed, e.seed_shift_ic_index & 0x0F, eui)
        entries = self.addrmgr()
        raw_table = self.get(NV_APS_LINK_KEY_TABLE)
        if raw_table is None:
            return None
        keys = self.table(EX_APS_KEY_DATA_TABLE)
        for link in APS_LINK_KEY_TABLE.parse(raw_table).entries:
            if link.authentication_state != AUTHENTICATED_CBCK or link.address_manager_index >= len(entries):
                continue
            if entries[link.address_manager_index].ext_addr == le(eui) and link.link_key_nv_id < len(keys):
                return APS_KEY_DATA.parse(keys[link.link_key_nv_id]).key
        return None

    def set_member(self, eui: bytes, nwk: int, *, child: bool, secured: bool) -> int | None:
        """Put `eui` in the address manager; its index (None: the table is full)."""
        entries = self.table(EX_ADDRMGR)
        index = next((i for i, raw in enumerate(entries) if ADDRMGR_ENTRY.parse(raw).ext_addr == le(eui)), None)
        if index is None:
            index = next((i for i, raw in enumerate(entries) if raw == EMPTY_ADDRMGR), None)
        if index is None:
            return None
        kind = (ADDRMGR_ASSOC if child else 0) | (ADDRMGR_SECURITY if secured else 0)
        self.items[(SYS_ID_ZSTACK, EX_ADDRMGR, index)] = ADDRMGR_ENTRY.build(
            {"type": kind, "nwk_addr": nwk, "ext_addr": le(eui)})
        return index

    def set_link_key(self, eui: bytes, key: bytes) -> bool:
        """Store an unhashed TC link key (an emulated key establishment's): APS key data + link key tables."""
        index = next((i for i, e in enumerate(self.addrmgr()) if e.ext_addr == le(eui)), None)
        raw_table = self.get(NV_APS_LINK_KEY_TABLE)
        if index is None or raw_table is None:
            return False
        table = APS_LINK_KEY_TABLE.parse(raw_table)
        entries = [dict(address_manager_index=e.address_manager_index, link_key_nv_id=e.link_key_nv_id,
                        authentication_state=e.authentication_state) for e in table.entries]
        for t_raw in range(len(self.table(EX_TCLK_TABLE))):  # a hashed key for the device is superseded
            if TCLK_DEV_ENTRY.parse(self.items[(SYS_ID_ZSTACK, EX_TCLK_TABLE, t_raw)]).ext_addr == le(eui):
                self.items[(SYS_ID_ZSTACK, EX_TCLK_TABLE, t_raw)] = b"\x00" * TCLK_DEV_ENTRY.sizeof()
        slot = next((e["link_key_nv_id"] for e in entries if e["address_manager_index"] == index), None)
        if slot is None:
            used = {e["link_key_nv_id"] for e in entries}
            slot = next((i for i in range(len(self.table(EX_APS_KEY_DATA_TABLE))) if i not in used), None)
            if slot is None:
                return False
            entries.append(dict(address_manager_index=index, link_key_nv_id=slot,
                                authentication_state=AUTHENTICATED_CBCK))
        self.items[(SYS_ID_ZSTACK, EX_APS_KEY_DATA_TABLE, slot)] = APS_KEY_DATA.build(
            {"key": key, "tx_frame_counter": 0, "rx_frame_counter": 0})
        size = len(raw_table)
        body = APS_LINK_KEY_TABLE.build({"entries": entries, "rest": b""})
        self.put(NV_APS_LINK_KEY_TABLE, body.ljust(size, b"\x00"))
        return True

    def leave(self, eui: bytes) -> None:
        """`eui` left the network: Z-Stack's trust centre removes the device, its address manager entry and its
        TC link keys (hashed or not), so it joins again only where it is permitted anew."""
        entries = self.addrmgr()
        index = next((i for i, e in enumerate(entries) if e.ext_addr == le(eui)), None)
        for sub, raw in enumerate(self.table(EX_TCLK_TABLE)):
            if TCLK_DEV_ENTRY.parse(raw).ext_addr == le(eui):
                self.items[(SYS_ID_ZSTACK, EX_TCLK_TABLE, sub)] = b"\x00" * TCLK_DEV_ENTRY.sizeof()
        if index is None:
            return
        self.items[(SYS_ID_ZSTACK, EX_ADDRMGR, index)] = EMPTY_ADDRMGR
        raw_table = self.get(NV_APS_LINK_KEY_TABLE)
        if raw_table is None:
            return
        kept = []
        for e in APS_LINK_KEY_TABLE.parse(raw_table).entries:
            if e.address_manager_index == index:
                self.items[(SYS_ID_ZSTACK, EX_APS_KEY_DATA_TABLE, e.link_key_nv_id)] = b"\x00" * APS_KEY_DATA.sizeof()
            else:
                kept.append(dict(address_manager_index=e.address_manager_index, link_key_nv_id=e.link_key_nv_id,
                                 authentication_state=e.authentication_state))
        body = APS_LINK_KEY_TABLE.build({"entries": kept, "rest": b""})
        self.put(NV_APS_LINK_KEY_TABLE, body.ljust(len(raw_table), b"\x00"))


# ------------------------------------------------------------------------------------------ the NCP
class ZnpNcp:
    """The Z-Stack side of one host session on `stick` (a `zigbee.ncp.stick.Session`).

    `handle(frame)` takes one MT frame from the host; frames for the host (SRSPs, then AREQ callbacks) are
    handed to `send`. `reset()` is a soft reset of the firmware."""

    def __init__(self, stick: EmulatedStick, send: Callable[[MtFrame], None]) -> None:
        if stick.nv is None:
            stick.nv = ZnpNv(stick.eui)
        assert isinstance(stick.nv, ZnpNv)
        self.stick = stick
        self.nv: ZnpNv = stick.nv
        self.send = send
        self.used: Counter[str] = Counter()
        self.unknown: Counter[tuple[int, int, int]] = Counter()
        self._handling = False
        self._callbacks: list[MtFrame] = []
        self.boot(announce=False)

    # -------------------------------------------------------------------------------------- RAM
    def boot(self, *, announce: bool, reason: int = RESET_EXTERNAL) -> None:
        """The firmware starts: NV boot processing, network down until BDB commissioning, RAM afresh."""
        self.nv.boot()
        self._up = False
        self._primary_channels = DEFAULT_CHANNELS
        self._secondary_channels = 0
        self._install_code_joins = False
        self._timestamp0 = time.monotonic()
        self.stick.reset_ram()
        self.stick.endpoints.clear()
        self.stick.manufacturer_code = 0x0000
        if announce:
            self.callback("SYS.ResetInd", reason=reason, transport_rev=VERSION["transport_rev"],
                          product_id=VERSION["product_id"], major_rel=VERSION["major_rel"],
                          minor_rel=VERSION["minor_rel"], maint_rel=VERSION["maint_rel"])

    # -------------------------------------------------------------------------------------- framing
    def handle(self, frame: MtFrame) -> None:
        req = REQUESTS.get((frame.subsystem, frame.cmd1))
        if req is None or frame.type != (SREQ if req.response is not None else AREQ):
            self.unknown[frame.header] += 1
            log.warning("znp %s: request %02X %02X not modelled: RPC error", self.stick.name,
                        (frame.type << 5) | frame.subsystem, frame.cmd1)
            if frame.type == SREQ:
                self._rpc_error(frame, RPC_INVALID_COMMAND_ID)
            return
        try:
            args = req.request.parse(frame.payload)
        except c.ConstructError:
            self._rpc_error(frame, 0x03)  # InvalidParameter
            return
        self.used[req.name] += 1
        self._handling = True
        try:
            result = getattr(self, "_" + req.name.split(".", 1)[1])(args)
            if req.response is not None:
                self.send(MtFrame(SRSP, req.subsystem, req.cmd1, req.response.build(result or {})))
        finally:
            self._handling = False
        self._flush()

    def _rpc_error(self, frame: MtFrame, code: int) -> None:
        self.send(MtFrame(SRSP, RPC, 0x00, RPC_ERROR.build(
            {"error_code": code, "cmd0": (frame.type << 5) | frame.subsystem, "cmd1": frame.cmd1})))

    def callback(self, name: str, **fields: Any) -> None:
        subsystem, cmd1, layout = CALLBACKS[name]
        self._callbacks.append(MtFrame(AREQ, subsystem, cmd1, layout.build(fields)))
        if not self._handling:
            self._flush()

    def _flush(self) -> None:
        out, self._callbacks = self._callbacks, []
        for f in out:
            self.send(f)

    # -------------------------------------------------------------------------------------- Session
    def network(self) -> NetworkParams | None:
        if not self._up:
            return None
        n = self.nv.nib()
        if n is None:
            return None
        return NetworkParams(n.nwk_pan_id, le(n.extended_pan_id), n.nwk_logical_channel)

    def link_key(self, eui: bytes) -> bytes | None:
        return self.nv.link_key(eui)

    def members(self) -> dict[bytes, int]:
        return self.nv.members()

    def admitted(self, eui: bytes, nwk: int, key: bytes, method: JoinMethod, rejoin: bool) -> None:
        dev = self.stick.medium.nodes.get(eui)
        sleepy = bool(getattr(getattr(dev, "device_type", None), "sleepy", False))
        if self.nv.set_member(eui, nwk, child=sleepy, secured=True) is None:
            log.warning("znp %s: address manager full, %s not kept", self.stick.name, eui.hex())
        elif method is not JoinMethod.TC_REJOIN and not self.nv.set_link_key(eui, key):
            log.warning("znp %s: key tables full, no TC link key kept for %s", self.stick.name, eui.hex())
        self.callback("ZDO.TCDevInd", src_nwk=nwk, src_ieee=le(eui), parent_nwk=0x0000)

    def refused(self, eui: bytes, nwk: int, rejoin: bool) -> None:
        log.info("znp %s: join of %s refused (wrong key)", self.stick.name, eui.hex())

    def left(self, eui: bytes, nwk: int) -> None:
        self.nv.leave(eui)
        self.callback("ZDO.LeaveInd", nwk=nwk, ieee=le(eui), request=0, remove=0, rejoin=0)

    def packet_received(self, packet: zt.ZigbeePacket) -> None:
        data = packet.data.serialize()
        broadcast = packet.dst is not None and packet.dst.addr_mode == zt.AddrMode.Broadcast
        src = int(packet.src.address) if packet.src.addr_mode == zt.AddrMode.NWK else 0xFFFE
        if packet.profile_id == 0 and packet.dst_ep == 0:
            if not data:
                return
            self.callback("ZDO.MsgCbIncoming", src=src, is_broadcast=int(broadcast), cluster_id=packet.cluster_id,
                          security_use=0, tsn=data[0], mac_dst=0x0000, data=data[1:])
            return
        common = {"group_id": 0, "cluster_id": packet.cluster_id, "src_endpoint": packet.src_ep or 0,
                  "dst_endpoint": packet.dst_ep or 0, "was_broadcast": int(broadcast), "lqi": packet.lqi or 255,
                  "security_use": 0, "timestamp": int((time.monotonic() - self._timestamp0) * 1000) & 0xFFFFFFFF,
                  "tsn": packet.tsn or 0, "data": data, "mac_src_addr": src, "msg_result_radius": 0}
        if len(data) <= MAX_INCOMING_MSG:
            self.callback("AF.IncomingMsg", src_addr=src, **common)
        else:  # the host has to fetch the rest with AF.DataRetrieve (not modelled): Z-Stack's huge-message path
            self.callback("AF.IncomingMsgExt", src={"mode": ADDR_NWK, "address": src.to_bytes(2, "little") + bytes(6)},
                          src_pan_id=0, **common)

    # -------------------------------------------------------------------------------------- SYS
    def _ResetReq(self, a: c.Container) -> None:
        self.boot(announce=True, reason=RESET_EXTERNAL)

    def _Ping(self, a: c.Container) -> dict:
        return {"capabilities": CAPABILITIES}

    def _Version(self, a: c.Container) -> dict:
        return dict(VERSION)

    def _nv_value(self, key: Key) -> bytes | None:
        return self.nv.items.get(key)

    def _OSALNVItemInit(self, a: c.Container) -> dict:
        key = legacy(a.id)
        if key in self.nv.items:
            return {"status": SUCCESS}
        self.nv.items[key] = bytes(a.value).ljust(a.item_len, b"\x00")[:a.item_len]
        return {"status": NV_ITEM_UNINIT}

    def _OSALNVRead(self, a: c.Container) -> dict:
        v = self._nv_value(legacy(a.id))
        if v is None:
            return {"status": INVALID_PARAMETER, "value": b""}
        return {"status": SUCCESS, "value": v[a.offset:a.offset + MAX_NV_CHUNK]}

    def _OSALNVReadExt(self, a: c.Container) -> dict:
        v = self._nv_value(legacy(a.id))
        if v is None:
            return {"status": INVALID_PARAMETER, "value": b""}
        return {"status": SUCCESS, "value": v[a.offset:a.offset + MAX_NV_CHUNK]}

    def _write(self, key: Key, offset: int, value: bytes) -> dict:
        v = self._nv_value(key)
        if v is None:
            return {"status": NV_ITEM_UNINIT}
        if offset + len(value) > len(v):
            return {"status": NV_BAD_ITEM_LEN}
        self.nv.items[key] = v[:offset] + bytes(value) + v[offset + len(value):]
        return {"status": SUCCESS}

    def _OSALNVWrite(self, a: c.Container) -> dict:
        return self._write(legacy(a.id), a.offset, a.value)

    def _OSALNVWriteExt(self, a: c.Container) -> dict:
        return self._write(legacy(a.id), a.offset, a.value)

    def _OSALNVDelete(self, a: c.Container) -> dict:
        v = self._nv_value(legacy(a.id))
        if v is None:
            return {"status": NV_ITEM_UNINIT}
        if len(v) != a.item_len:
            return {"status": NV_BAD_ITEM_LEN}
        del self.nv.items[legacy(a.id)]
        return {"status": SUCCESS}

    def _OSALNVLength(self, a: c.Container) -> dict:
        v = self._nv_value(legacy(a.id))
        return {"item_len": 0 if v is None else len(v)}

    def _SetTxPower(self, a: c.Container) -> dict:
        return {"status_or_power": SUCCESS}

    def _NVCreate(self, a: c.Container) -> dict:
        key = (a.sys_id, a.item_id, a.sub_id)
        if key in self.nv.items:
            return {"status": SUCCESS}
        self.nv.items[key] = b"\xff" * a.length
        return {"status": NV_ITEM_UNINIT}

    def _NVDelete(self, a: c.Container) -> dict:
        if self.nv.items.pop((a.sys_id, a.item_id, a.sub_id), None) is None:
            return {"status": NV_ITEM_UNINIT}
        return {"status": SUCCESS}

    def _NVLength(self, a: c.Container) -> dict:
        v = self._nv_value((a.sys_id, a.item_id, a.sub_id))
        return {"length": 0 if v is None else len(v)}

    def _NVRead(self, a: c.Container) -> dict:
        v = self._nv_value((a.sys_id, a.item_id, a.sub_id))
        if v is None:
            return {"status": NV_ITEM_UNINIT, "value": b""}
        return {"status": SUCCESS, "value": v[a.offset:a.offset + min(a.length, MAX_NV_CHUNK)]}

    def _NVWrite(self, a: c.Container) -> dict:
        return self._write((a.sys_id, a.item_id, a.sub_id), a.offset, a.value)

    # -------------------------------------------------------------------------------------- UTIL
    def _LEDControl(self, a: c.Container) -> dict:
        return {"status": SUCCESS}  # a build with LEDs (one without never answers)

    def _AssocFindDevice(self, a: c.Container) -> dict:
        """The associated-device struct in its in-memory (aligned) form: what tells the host the alignment."""
        return {"device": ASSOCIATED_DEVICE.build({
            "short_addr": 0xFFFF, "addr_idx": 0xFFFF, "node_relation": 0xFF, "dev_status": 0, "assoc_cnt": 0,
            "age": 0, "link_info": {"tx_counter": 0, "tx_cost": 0, "rx_lqi": 0, "in_key_seq_num": 0,
                                    "in_frm_cntr": 0, "tx_failure": 0},
            "end_dev": {"end_dev_cfg": 0, "device_timeout": 0}, "timeout_counter": 0, "keepalive_rcv": 0,
            "ctrl": 0})}

    # -------------------------------------------------------------------------------------- AF
    def _Register(self, a: c.Container) -> dict:
        if a.endpoint in self.stick.endpoints:
            return {"status": 0xB8}  # APS duplicate entry
        self.stick.endpoints[a.endpoint] = Endpoint(a.endpoint, a.profile_id, a.device_id, a.device_version,
                                                    tuple(a.input_clusters), tuple(a.output_clusters))
        return {"status": SUCCESS}

    def _Delete(self, a: c.Container) -> dict:
        return {"status": SUCCESS if self.stick.endpoints.pop(a.endpoint, None) else INVALID_PARAMETER}

    def _DataRequestExt(self, a: c.Container) -> dict:
        if not self._up:
            return {"status": 0xC2}  # NWK invalid request: no network
        mode, raw = a.dst.mode, bytes(a.dst.address)
        if mode == ADDR_IEEE:
            dst = zt.AddrModeAddress(addr_mode=zt.AddrMode.IEEE, address=zt.EUI64(raw))
        elif mode == ADDR_BROADCAST:
            dst = zt.AddrModeAddress(addr_mode=zt.AddrMode.Broadcast,
                                     address=zt.BroadcastAddress(int.from_bytes(raw[:2], "little")))
        elif mode == ADDR_GROUP:
            dst = zt.AddrModeAddress(addr_mode=zt.AddrMode.Group, address=zt.Group(int.from_bytes(raw[:2], "little")))
        else:
            dst = zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(int.from_bytes(raw[:2], "little")))
        endpoint = self.stick.endpoints.get(a.src_endpoint)
        profile = 0 if a.dst_endpoint == 0 else (endpoint.profile if endpoint else 0x0104)
        packet = zt.ZigbeePacket(
            src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(0x0000)), src_ep=a.src_endpoint,
            dst=dst, dst_ep=a.dst_endpoint, tsn=a.tsn, profile_id=profile, cluster_id=a.cluster_id,
            data=zt.SerializableBytes(bytes(a.data)))
        ok = True if mode == ADDR_GROUP else self.stick.send(packet)
        if a.dst_endpoint != 0 and mode in (ADDR_NWK, ADDR_IEEE):
            self.callback("AF.DataConfirm", status=SUCCESS if ok else APS_NO_ACK, endpoint=a.src_endpoint, tsn=a.tsn)
        return {"status": SUCCESS}

    # -------------------------------------------------------------------------------------- ZDO
    def _MgmtPermitJoinReq(self, a: c.Container) -> dict:
        if not self._up:
            return {"status": 0xC2}
        self.stick.permit(a.duration if a.duration != 0xFF else float("inf"))
        src = 0x0000 if a.addr_mode == ADDR_BROADCAST or a.dst == 0x0000 else a.dst
        if a.addr_mode == ADDR_BROADCAST:  # the routers hear it too (the emulated meters ignore it)
            data = bytes((0, a.duration, a.tc_significance))
            self.stick.send(zt.ZigbeePacket(
                src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(0)), src_ep=0,
                dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.Broadcast, address=zt.BroadcastAddress(a.dst)),
                dst_ep=0, tsn=0, profile_id=0, cluster_id=0x0036, data=zt.SerializableBytes(data)))
        self.callback("ZDO.MgmtPermitJoinRsp", src=src, status=SUCCESS)
        return {"status": SUCCESS}

    def _MsgCallbackRegister(self, a: c.Container) -> dict:
        return {"status": SUCCESS}

    def _ExtRouteDisc(self, a: c.Container) -> dict:
        return {"status": SUCCESS}

    def _ExtRouteChk(self, a: c.Container) -> dict:
        return {"status": ROUTING_SUCCESS if a.dst in self.nv.members().values() else ROUTING_NO_ENTRY}

    # -------------------------------------------------------------------------------------- AppConfig
    def _BDBAddInstallCode(self, a: c.Container) -> dict:
        code = bytes(a.install_code)
        if a.install_code_format == IC_FORMAT_DERIVED_KEY and len(code) == 16:
            key = code
        elif a.install_code_format == IC_FORMAT_INSTALL_CODE_AND_CRC:
            derived = convert_install_code(code)
            if derived is None:
                return {"status": INVALID_PARAMETER}
            key = bytes(derived)
        else:
            return {"status": INVALID_PARAMETER}
        self.stick.add_transient_key(le(bytes(a.ieee)), key)
        return {"status": SUCCESS}

    def _BDBSetJoinUsesInstallCodeKey(self, a: c.Container) -> dict:
        self._install_code_joins = bool(a.enabled)
        return {"status": SUCCESS}

    def _BDBSetChannel(self, a: c.Container) -> dict:
        if a.is_primary:
            self._primary_channels = a.channel
        else:
            self._secondary_channels = a.channel
        return {"status": SUCCESS}

    def _BDBStartCommissioning(self, a: c.Container) -> dict:
        if not a.mode & BDB_MODE_FORMATION:
            return {"status": SUCCESS}  # steering and finding-binding: nothing to do on the emulated air
        notify = "AppConfig.BDBCommissioningNotification"
        if self.nv.formed():
            self.callback(notify, status=BDB_NETWORK_RESTORED, mode=BDB_MODE_FORMATION,
                          remaining_modes=BDB_MODE_FORMATION)
            self._start()
            self.callback(notify, status=BDB_SUCCESS, mode=BDB_MODE_FORMATION, remaining_modes=BDB_MODE_NONE)
            return {"status": SUCCESS}
        self.callback(notify, status=BDB_IN_PROGRESS, mode=BDB_MODE_FORMATION, remaining_modes=BDB_MODE_FORMATION)
        self.callback("ZDO.StateChangeInd", state=STATE_STARTING_AS_COORDINATOR)
        self._form()
        self._start()
        self.callback(notify, status=BDB_SUCCESS, mode=BDB_MODE_FORMATION, remaining_modes=BDB_MODE_NONE)
        return {"status": SUCCESS}

    def _form(self) -> None:
        """Form a network from the commissioning settings in NV and the BDB primary channels."""
        pan = int.from_bytes(self.nv.get(NV_PANID) or b"\xff\xff", "little")
        if pan >= 0xFFFE:
            pan = int.from_bytes(os.urandom(2), "little") % 0xFFF0 + 1
        epid = self.nv.get(NV_APS_USE_EXT_PANID) or b"\x00" * 8
        if epid in (b"\x00" * 8, b"\xff" * 8):
            epid = self.nv.get(NV_EXTADDR) or le(self.stick.eui)
        key = self.nv.get(NV_PRECFGKEY) or os.urandom(16)
        channels = [ch for ch in range(11, 27) if self._primary_channels & (1 << ch)] or [11]
        channel = channels[0]
        zero_key = {"key_seq_num": 0, "key": b"\x00" * 16}
        self.nv.put(NV_NIB, NIB.build({
            "sequence_num": 0, "passive_ack_timeout": 5, "max_broadcast_retries": 2, "max_children": 0,
            "max_depth": 20, "max_routers": 0, "dummy_neighbor_table": 0, "broadcast_delivery_time": 30,
            "report_constant_cost": 0, "route_disc_retries": 0, "dummy_routing_table": 0, "secure_all_frames": 1,
            "security_level": 5, "sym_link": 1, "capability_flags": 0x8F, "transaction_persistence_time": 7,
            "nwk_protocol_version": 2, "route_discovery_time": 13, "route_expiry_time": 0, "nwk_dev_address": 0x0000,
            "nwk_logical_channel": channel, "nwk_coord_address": 0x0000, "nwk_coord_ext_address": b"\x00" * 8,
            "nwk_pan_id": pan, "nwk_state": 8, "channel_list": 1 << channel, "beacon_order": 15,
            "super_frame_order": 15, "scan_duration": 4, "batt_life_ext": 0, "allocated_router_addresses": 1,
            "allocated_end_device_addresses": 1, "node_depth": 0, "extended_pan_id": epid, "nwk_key_loaded": 1,
            "spare1": zero_key, "spare2": zero_key, "spare3": 0, "spare4": 0, "nwk_link_status_period": 60,
            "nwk_router_age_limit": 3, "nwk_use_multicast": 0, "nwk_is_concentrator": 1,
            "nwk_concentrator_discovery_time": 120, "nwk_concentrator_radius": 10, "nwk_all_fresh": 1,
            "nwk_manager_addr": 0x0000, "nwk_total_transmissions": 0, "nwk_update_id": 0}))
        self.nv.put(NV_NWK_ACTIVE_KEY_INFO, NWK_KEY_DESC.build({"key_seq_num": 0, "key": key}))
        self.nv.put(NV_NWK_ALTERN_KEY_INFO, NWK_KEY_DESC.build({"key_seq_num": 0, "key": key}))
        self.nv.put(NV_EXTENDED_PAN_ID, epid)
        self.nv.put(NV_BDBNODEISONANETWORK, b"\x01")
        rows = self.nv.table(EX_NWK_SEC_MATERIAL_TABLE)
        if not any(NWK_SEC_MATERIAL.parse(r).extended_pan_id == epid for r in rows) and rows:
            self.nv.items[(SYS_ID_ZSTACK, EX_NWK_SEC_MATERIAL_TABLE, 0)] = NWK_SEC_MATERIAL.build(
                {"frame_counter": 0, "extended_pan_id": epid})

    def _start(self) -> None:
        self._up = True
        self.callback("ZDO.StateChangeInd", state=STATE_STARTED_AS_COORDINATOR)
        self.stick.network_started()


# ------------------------------------------------------------------------------------------ MT + session
class ZnpLink:
    """One host connection to a Z-Stack stick: MT framing under the session (sans-I/O: bytes in, bytes out)."""

    kind = "znp"
    startup_reset_delay = None  # a network-attached Z-Stack says nothing until asked

    def __init__(self, stick: EmulatedStick) -> None:
        self.stick = stick
        self.stream = MtStream()
        self._out = bytearray()
        self.session = ZnpNcp(stick, self._send)
        self.wakeup: Callable[[], None] | None = None
        self.damage_out = 0  # fault injection: flip a bit in the FCS of this many of our next frames
        self.damage_in = 0   # fault injection: flip a bit in the FCS of this many of the host's next frames

    def _send(self, frame: MtFrame) -> None:
        raw = frame.to_bytes()
        if self.damage_out > 0:
            self.damage_out -= 1
            raw = raw[:-1] + bytes((raw[-1] ^ 0x01,))
        self._out += raw
        if self.wakeup is not None:
            self.wakeup()

    def reset_stick(self) -> None:
        """The firmware resets on its own (a watchdog): SYS.ResetInd, network down until the host starts it."""
        self.session.boot(announce=True, reason=RESET_WATCHDOG)

    def attach(self) -> None:
        self.stick.attach(self.session)

    def detach(self) -> None:
        self.stick.detach(self.session)

    def startup_reset(self) -> None:
        pass

    def receive(self, data: bytes) -> None:
        if self.damage_in > 0 and data and data[0] == 0xFE and len(data) >= 5 and len(data) == data[1] + 5:
            self.damage_in -= 1
            data = data[:-1] + bytes((data[-1] ^ 0x01,))
        for frame in self.stream.feed(data):
            self.session.handle(frame)

    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self) -> None:
        pass
