"""EZSP, NCP side: frames (construct), the command table the emulator models, and `EzspNcp`, the state machine
that answers a host (bellows) on behalf of an `EmulatedStick`.

Version: EZSP protocol 13 (EmberZNet 7.4, the firmware on current Sonoff ZBDongle-E / SkyConnect images).
bellows opens every session with `version(4)` in the legacy header (`seq fc id8`); the NCP answers 13 in the
same header and from then on reads the extended header (`seq fc_lo fc_hi id16le`, frame format version 1) until
the next reset. Responses set the direction bit; callbacks are sent afterwards as asynchronous callbacks
(callback type 2) with the sequence number of the last command, which the host no longer awaits.

The layouts of every modelled command, response and callback are declared below (`COMMANDS`, `CALLBACKS`);
payload structs (EmberNetworkParameters, EmberApsFrame, SecurityManagerContext, ...) are our own construct
declarations, not the host library's types, so an encoding error on either side shows. A command the table
does not hold is answered `invalidCommand(ERROR_INVALID_FRAME_ID)`, as a real NCP does; `unknown` counts them.

Non-volatile state (`EzspNv`: the formed network, keys, key table, members, frame counters) belongs to the stick
and outlives the session; a session's RAM (negotiated version, network up or down, configuration values,
policies, address and multicast tables) starts afresh on every reset.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import construct as c
import zigpy.types as t

from chf.core.han import JoinMethod
from zigbee.ncp.stick import EmulatedStick, Endpoint, NetworkParams

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 13
STACK_TYPE = 2            # mesh stack
STACK_VERSION = 0x7440    # EmberZNet 7.4.4
VERSION_INFO = (0, 7, 4, 4, 0, 170)  # build, major, minor, patch, special, type (getValue VERSION_INFO, 7 bytes)
KEY_TABLE_SIZE = 16
ADDRESS_TABLE_SIZE = 16
MULTICAST_TABLE_SIZE = 16
CHILD_TABLE_SIZE = 64
MAX_APS_PAYLOAD = 82      # octets of one unfragmented APS frame (longer sends: MESSAGE_TOO_LONG)
FRAGMENT_PAYLOAD = 80     # octets per APS fragment of a long incoming frame
COUNTER_TYPES = 41        # EmberCounterType values readCounters returns
KEY_ESTABLISHMENT_S = 1.0  # after a join, the emulated key establishment's key reaches the key table

# ------------------------------------------------------------------------------------------ statuses
SUCCESS = 0x00
ERR_FATAL = 0x01
DELIVERY_FAILED = 0x66
INVALID_CALL = 0x70
MESSAGE_TOO_LONG = 0x74
NETWORK_UP = 0x90
NETWORK_DOWN = 0x91
NOT_JOINED = 0x93
INDEX_OUT_OF_RANGE = 0xB1
TABLE_ENTRY_ERASED = 0xB6
EZSP_SUCCESS = 0x00
EZSP_ERROR_INVALID_FRAME_ID = 0x31
EZSP_ERROR_INVALID_VALUE = 0x36
EZSP_ERROR_INVALID_ID = 0x37
EZSP_ERROR_INVALID_CALL = 0x38
SL_OK = 0x00
SL_INVALID_INDEX = 0x27
SL_NOT_FOUND = 0x2D
SL_INVALID_STATE = 0x02

NETWORK_STATUS_NO_NETWORK, NETWORK_STATUS_JOINED = 0, 2
NODE_COORDINATOR, NODE_ROUTER, NODE_SLEEPY_END_DEVICE, NODE_UNKNOWN = 1, 2, 4, 0
DEVICE_SECURED_REJOIN, DEVICE_UNSECURED_JOIN, DEVICE_LEFT, DEVICE_UNSECURED_REJOIN = 0, 1, 2, 3
DECISION_USE_PRECONFIGURED_KEY, DECISION_DENY_JOIN, DECISION_NO_ACTION = 0, 2, 3
INCOMING_UNICAST, INCOMING_BROADCAST = 0, 4
OUTGOING_DIRECT, OUTGOING_MULTICAST, OUTGOING_BROADCAST = 0, 3, 6
KEY_TYPE_NETWORK, KEY_TYPE_TC_LINK, KEY_TYPE_APP_LINK = 1, 2, 4
TC_LINK_KEY_ESTABLISHED = 3
APS_OPTION_FRAGMENT = 0x8000
CURRENT_HAVE_TC_LINK_KEY = 0x0010
INITIAL_HAVE_NETWORK_KEY = 0x0200
HASHED_LINK_KEY = 0x0084  # TRUST_CENTER_USES_HASHED_LINK_KEY in both the initial and current bitmasks

# Configuration values a fresh NCP reports (getConfigurationValue); the host may set others.
DEFAULT_CONFIG = {0x01: 75, 0x02: 16, 0x03: 10, 0x04: 2, 0x05: ADDRESS_TABLE_SIZE, 0x06: MULTICAST_TABLE_SIZE,
                  0x07: 16, 0x08: 8, 0x0C: 2, 0x0D: 5, 0x10: 30, 0x11: 32, 0x12: 7680, 0x13: 8, 0x19: 2,
                  0x1A: 200, 0x1E: KEY_TABLE_SIZE, 0x2A: 0, 0x2D: 1, 0x36: 300}
CONFIG_KEY_TABLE_SIZE, CONFIG_ADDRESS_TABLE_SIZE, CONFIG_MULTICAST_TABLE_SIZE = 0x1E, 0x05, 0x06
VALUE_FREE_BUFFERS, VALUE_VERSION_INFO, VALUE_NWK_FRAME_COUNTER, VALUE_APS_FRAME_COUNTER = 0x03, 0x11, 0x23, 0x24
VALUE_NODE_SHORT_ID = 0x0B
MFG_STRING, MFG_BOARD_NAME, MFG_MANUF_ID, MFG_CUSTOM_EUI_64 = 0x01, 0x02, 0x03, 0x0C

# ------------------------------------------------------------------------------------------ frame layouts
FRAME_CONTROL = c.BitStruct(
    "response" / c.Flag, "network_index" / c.BitsInteger(2), "callback_type" / c.BitsInteger(2),
    "callback_pending" / c.Flag, "truncated" / c.Flag, "overflow" / c.Flag)
FRAME_CONTROL_HIGH = c.BitStruct(
    "security_enabled" / c.Flag, "padding_enabled" / c.Flag, c.Padding(4), "frame_format_version" / c.BitsInteger(2))
LEGACY_FRAME = c.Struct("sequence" / c.Int8ul, "control" / FRAME_CONTROL, "frame_id" / c.Int8ul,
                        "parameters" / c.GreedyBytes)
EXTENDED_FRAME = c.Struct("sequence" / c.Int8ul, "control" / FRAME_CONTROL, "control_high" / FRAME_CONTROL_HIGH,
                          "frame_id" / c.Int16ul, "parameters" / c.GreedyBytes)
CALLBACK_ASYNC = 2

# ------------------------------------------------------------------------------------------ payload types
U8, U16, U32, I8 = c.Int8ul, c.Int16ul, c.Int32ul, c.Int8sl
BOOL = c.Flag
EUI64 = c.Bytes(8)           # least significant byte first, as on the wire
KEY = c.Bytes(16)
LV = c.Prefixed(c.Int8ul, c.GreedyBytes)
LV32 = c.Prefixed(c.Int32ul, c.GreedyBytes)

NETWORK_PARAMETERS = c.Struct(
    "extended_pan_id" / EUI64, "pan_id" / U16, "radio_tx_power" / U8, "radio_channel" / U8, "join_method" / U8,
    "nwk_manager_id" / U16, "nwk_update_id" / U8, "channels" / U32)
APS_FRAME = c.Struct(
    "profile_id" / U16, "cluster_id" / U16, "source_endpoint" / U8, "destination_endpoint" / U8, "options" / U16,
    "group_id" / U16, "sequence" / U8)
INITIAL_SECURITY_STATE = c.Struct(
    "bitmask" / U16, "preconfigured_key" / KEY, "network_key" / KEY, "network_key_sequence_number" / U8,
    "preconfigured_trust_center_eui64" / EUI64)
CURRENT_SECURITY_STATE = c.Struct("bitmask" / U16, "trust_center_long_address" / EUI64)
SECURITY_CONTEXT = c.Struct(
    "core_key_type" / U8, "key_index" / U8, "derived_type" / U16, "eui64" / EUI64, "multi_network_index" / U8,
    "flags" / U8, "psa_key_alg_permission" / U32)
NETWORK_KEY_INFO = c.Struct(
    "network_key_set" / BOOL, "alternate_network_key_set" / BOOL, "network_key_sequence_number" / U8,
    "alt_network_key_sequence_number" / U8, "network_key_frame_counter" / U32)
APS_KEY_METADATA = c.Struct(
    "bitmask" / U16, "outgoing_frame_counter" / U32, "incoming_frame_counter" / U32, "ttl_in_seconds" / U16)
CHILD_DATA = c.Struct(
    "eui64" / EUI64, "type" / U8, "id" / U16, "phy" / U8, "power" / U8, "timeout" / U8, "timeout_remaining" / U32)
MULTICAST_ENTRY = c.Struct("multicast_id" / U16, "endpoint" / U8, "network_index" / U8)


def S(*fields: c.Subconstruct) -> c.Struct:
    return c.Struct(*fields)


@dataclass(frozen=True)
class Command:
    id: int
    name: str
    request: c.Construct
    response: c.Construct


def _table(*commands: Command) -> dict[int, Command]:
    return {cmd.id: cmd for cmd in commands}


# The commands the emulator models (EZSP v13 IDs). Every one has a handler in EzspNcp (`_<name>`).
COMMANDS: dict[int, Command] = _table(
    Command(0x0000, "version", S("desired_protocol_version" / U8),
            S("protocol_version" / U8, "stack_type" / U8, "stack_version" / U16)),
    Command(0x0002, "addEndpoint", S("endpoint" / U8, "profile_id" / U16, "device_id" / U16, "device_version" / U8,
                                     "input_count" / U8, "output_count" / U8,
                                     "input_clusters" / c.Array(c.this.input_count, U16),
                                     "output_clusters" / c.Array(c.this.output_count, U16)), S("status" / U8)),
    Command(0x0005, "nop", S(), S()),
    Command(0x000B, "getMfgToken", S("token_id" / U8), S("token_data" / LV)),
    Command(0x000C, "setMfgToken", S("token_id" / U8, "token_data" / LV), S("status" / U8)),
    Command(0x0010, "setConcentrator", S("on" / BOOL, "concentrator_type" / U16, "min_time" / U16, "max_time" / U16,
                                         "route_error_threshold" / U8, "delivery_failure_threshold" / U8,
                                         "max_hops" / U8), S("status" / U8)),
    Command(0x0015, "setManufacturerCode", S("code" / U16), S()),
    Command(0x0017, "networkInit", S("bitmask" / U16), S("status" / U8)),
    Command(0x0018, "networkState", S(), S("status" / U8)),
    Command(0x001A, "startScan", S("scan_type" / U8, "channel_mask" / U32, "duration" / U8), S("status" / U8)),
    Command(0x001E, "formNetwork", S("parameters" / NETWORK_PARAMETERS), S("status" / U8)),
    Command(0x0020, "leaveNetwork", S(), S("status" / U8)),
    Command(0x0022, "permitJoining", S("duration" / U8), S("status" / U8)),
    Command(0x0026, "getEui64", S(), S("eui64" / EUI64)),
    Command(0x0027, "getNodeId", S(), S("node_id" / U16)),
    Command(0x0028, "getNetworkParameters", S(),
            S("status" / U8, "node_type" / U8, "parameters" / NETWORK_PARAMETERS)),
    Command(0x0034, "sendUnicast", S("type" / U8, "index_or_destination" / U16, "aps_frame" / APS_FRAME,
                                     "message_tag" / U8, "message_contents" / LV), S("status" / U8, "sequence" / U8)),
    Command(0x0036, "sendBroadcast", S("destination" / U16, "aps_frame" / APS_FRAME, "radius" / U8,
                                       "message_tag" / U8, "message_contents" / LV),
            S("status" / U8, "sequence" / U8)),
    Command(0x0038, "sendMulticast", S("aps_frame" / APS_FRAME, "hops" / U8, "nonmember_radius" / U8,
                                       "message_tag" / U8, "message_contents" / LV),
            S("status" / U8, "sequence" / U8)),
    Command(0x0039, "sendReply", S("sender" / U16, "aps_frame" / APS_FRAME, "message_contents" / LV),
            S("status" / U8)),
    Command(0x0047, "customFrame", S("payload" / LV), S("status" / U8, "reply" / LV)),
    Command(0x004A, "getChildData", S("index" / U8), S("status" / U8, "child_data" / CHILD_DATA)),
    Command(0x0052, "getConfigurationValue", S("config_id" / U8), S("status" / U8, "value" / U16)),
    Command(0x0053, "setConfigurationValue", S("config_id" / U8, "value" / U16), S("status" / U8)),
    Command(0x0055, "setPolicy", S("policy_id" / U8, "decision_id" / U8), S("status" / U8)),
    Command(0x005A, "setSourceRouteDiscoveryMode", S("mode" / U8), S("remaining_time" / U32)),
    Command(0x005E, "getAddressTableRemoteEui64", S("index" / U8), S("eui64" / EUI64)),
    Command(0x005F, "getAddressTableRemoteNodeId", S("index" / U8), S("node_id" / U16)),
    Command(0x0060, "lookupNodeIdByEui64", S("eui64" / EUI64), S("node_id" / U16)),
    Command(0x0061, "lookupEui64ByNodeId", S("node_id" / U16), S("status" / U8, "eui64" / EUI64)),
    Command(0x0063, "getMulticastTableEntry", S("index" / U8), S("status" / U8, "value" / MULTICAST_ENTRY)),
    Command(0x0064, "setMulticastTableEntry", S("index" / U8, "value" / MULTICAST_ENTRY), S("status" / U8)),
    Command(0x0065, "readAndClearCounters", S(), S("values" / c.Array(COUNTER_TYPES, U16))),
    Command(0x0068, "setInitialSecurityState", S("state" / INITIAL_SECURITY_STATE), S("status" / U8)),
    Command(0x0069, "getCurrentSecurityState", S(), S("status" / U8, "state" / CURRENT_SECURITY_STATE)),
    Command(0x006B, "clearTransientLinkKeys", S(), S()),
    Command(0x0075, "findKeyTableEntry", S("address" / EUI64, "link_key" / BOOL), S("index" / U8)),
    Command(0x0076, "eraseKeyTableEntry", S("index" / U8), S("status" / U8)),
    Command(0x0077, "tokenFactoryReset", S("exclude_outgoing_fc" / BOOL, "exclude_boot_counter" / BOOL), S()),
    Command(0x007E, "setExtendedTimeout", S("remote_eui64" / EUI64, "extended_timeout" / BOOL), S()),
    Command(0x007F, "getExtendedTimeout", S("remote_eui64" / EUI64), S("extended_timeout" / BOOL)),
    Command(0x0082, "replaceAddressTableEntry", S("index" / U8, "new_eui64" / EUI64, "new_id" / U16,
                                                  "new_extended_timeout" / BOOL),
            S("status" / U8, "old_eui64" / EUI64, "old_id" / U16, "old_extended_timeout" / BOOL)),
    Command(0x0099, "setRadioPower", S("power" / I8), S("status" / U8)),
    Command(0x00A8, "removeDevice", S("dest_short" / U16, "dest_long" / EUI64, "target_long" / EUI64),
            S("status" / U8)),
    Command(0x00AA, "getValue", S("value_id" / U8), S("status" / U8, "value" / LV)),
    Command(0x00AB, "setValue", S("value_id" / U8, "value" / LV), S("status" / U8)),
    Command(0x00AC, "setChildData", S("index" / U8, "child_data" / CHILD_DATA), S("status" / U8)),
    Command(0x00B1, "clearKeyTable", S(), S("status" / U8)),
    Command(0x00E2, "gpSinkTableClearAll", S(), S()),
    Command(0x00F1, "readCounters", S(), S("values" / c.Array(COUNTER_TYPES, U16))),
    Command(0x0102, "getTokenData", S("token" / U32, "index" / U32), S("status" / U8, "value" / LV32)),
    Command(0x0103, "setTokenData", S("token" / U32, "index" / U32, "token_data" / LV32), S("status" / U8)),
    Command(0x010D, "exportLinkKeyByEui", S("eui64" / EUI64),
            S("plaintext_key" / KEY, "index" / U8, "key_data" / APS_KEY_METADATA, "status" / U32)),
    Command(0x010E, "importLinkKey", S("index" / U8, "address" / EUI64, "key" / KEY), S("status" / U32)),
    Command(0x010F, "exportLinkKeyByIndex", S("index" / U8),
            S("eui64" / EUI64, "plaintext_key" / KEY, "key_data" / APS_KEY_METADATA, "status" / U32)),
    Command(0x0111, "importTransientKey", S("eui64" / EUI64, "plaintext_key" / KEY, "flags" / U8),
            S("status" / U32)),
    Command(0x0114, "exportKey", S("context" / SECURITY_CONTEXT), S("key" / KEY, "status" / U32)),
    Command(0x0115, "importKey", S("context" / SECURITY_CONTEXT, "key" / KEY), S("status" / U32)),
    Command(0x0116, "getNetworkKeyInfo", S(), S("status" / U32, "network_key_info" / NETWORK_KEY_INFO)),
)
COMMAND_IDS = {cmd.name: cmd.id for cmd in COMMANDS.values()}

CALLBACKS: dict[str, tuple[int, c.Construct]] = {
    "invalidCommand": (0x0058, S("status" / U8)),
    "stackStatusHandler": (0x0019, S("status" / U8)),
    "scanCompleteHandler": (0x001C, S("channel" / U8, "status" / U8)),
    "trustCenterJoinHandler": (0x0024, S("new_node_id" / U16, "new_node_eui64" / EUI64, "status" / U8,
                                         "policy_decision" / U8, "parent_of_new_node_id" / U16)),
    "messageSentHandler": (0x003F, S("type" / U8, "index_or_destination" / U16, "aps_frame" / APS_FRAME,
                                     "message_tag" / U8, "status" / U8, "message_contents" / LV)),
    "incomingMessageHandler": (0x0045, S("type" / U8, "aps_frame" / APS_FRAME, "last_hop_lqi" / U8,
                                         "last_hop_rssi" / I8, "sender" / U16, "binding_index" / U8,
                                         "address_index" / U8, "message_contents" / LV)),
    "energyScanResultHandler": (0x0048, S("channel" / U8, "max_rssi_value" / I8)),
    "zigbeeKeyEstablishmentHandler": (0x009B, S("partner" / EUI64, "status" / U8)),
}


def le(eui: bytes) -> bytes:
    """MSB-first (the medium's) ↔ least significant byte first (the wire's)."""
    return bytes(eui)[::-1]


# ------------------------------------------------------------------------------------------ NV memory
@dataclass
class KeyEntry:
    eui: bytes  # most significant byte first
    key: bytes
    outgoing_frame_counter: int = 0
    incoming_frame_counter: int = 0


@dataclass
class EzspNv:
    """The stick's tokens: what survives resets and host reconnects (for the life of the bench)."""

    network: dict[str, Any] | None = None           # formNetwork parameters (wire field names) when formed
    security: dict[str, Any] | None = None          # the last setInitialSecurityState
    network_key: bytes = b"\x00" * 16
    network_key_seq: int = 0
    tc_link_key: bytes = b"\x00" * 16               # the preconfigured key (the hashed-link-key seed)
    security_bitmask: int = 0
    nwk_frame_counter: int = 0
    aps_frame_counter: int = 0
    key_table: list[KeyEntry | None] = field(default_factory=lambda: [None] * KEY_TABLE_SIZE)
    members: dict[bytes, tuple[int, bool]] = field(default_factory=dict)  # EUI → (short address, sleepy)
    boot_counter: int = 0

    def factory_reset(self, *, keep_outgoing_fc: bool) -> None:
        fc = (self.nwk_frame_counter, self.aps_frame_counter)
        self.__init__()  # type: ignore[misc]
        if keep_outgoing_fc:
            self.nwk_frame_counter, self.aps_frame_counter = fc

    def key_index(self, eui: bytes) -> int | None:
        return next((i for i, e in enumerate(self.key_table) if e is not None and e.eui == eui), None)

    def set_key(self, eui: bytes, key: bytes) -> int | None:
        i = self.key_index(eui)
        if i is None:
            i = next((k for k, e in enumerate(self.key_table) if e is None), None)
        if i is None:
            return None
        self.key_table[i] = KeyEntry(eui, key)
        return i


# ------------------------------------------------------------------------------------------ the NCP
class InvalidCommand(Exception):
    def __init__(self, status: int = EZSP_ERROR_INVALID_FRAME_ID) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class _Pending:
    key: bytes
    deadline: float


class EzspNcp:
    """The EZSP side of one host session on `stick` (a `zigbee.ncp.stick.Session`).

    `handle(frame)` takes one EZSP frame from the host; frames for the host (responses, then callbacks) are
    handed to `send`, which the link layer (ASH) carries. `reset()` is an NCP reset; `on_timer(now)` completes
    key establishments whose time has come (`next_deadline()`)."""

    def __init__(self, stick: EmulatedStick, send: Callable[[bytes], None]) -> None:
        if stick.nv is None:
            stick.nv = EzspNv()
        assert isinstance(stick.nv, EzspNv)
        self.stick = stick
        self.nv: EzspNv = stick.nv
        self.send = send
        self.used: Counter[str] = Counter()     # commands handled, by name (the drift test reads this)
        self.unknown: Counter[int] = Counter()  # frame IDs answered with invalidCommand
        self.reset()

    # -------------------------------------------------------------------------------------- session RAM
    def reset(self) -> None:
        self._extended = False
        self._up = False
        self._seq = 0
        self._config = dict(DEFAULT_CONFIG)
        self._values: dict[int, bytes] = {}
        self._policies: dict[int, int] = {}
        self._extended_timeout: dict[bytes, bool] = {}
        self._address_table: list[tuple[bytes, int, bool]] = [(b"\x00" * 8, 0xFFFF, False)] * ADDRESS_TABLE_SIZE
        self._multicast: list[dict[str, int]] = [{"multicast_id": 0, "endpoint": 0, "network_index": 0}] \
            * MULTICAST_TABLE_SIZE
        self._aps_seq = 0
        self._establishing: dict[bytes, _Pending] = {}
        self._callbacks: list[bytes] = []
        self.stick.reset_ram()
        self.nv.boot_counter += 1

    # -------------------------------------------------------------------------------------- framing
    def handle(self, frame: bytes) -> None:
        """One EZSP frame from the host."""
        try:
            if self._extended:
                f = EXTENDED_FRAME.parse(frame)
            else:
                f = LEGACY_FRAME.parse(frame)
        except c.ConstructError:
            log.warning("ezsp %s: unreadable frame %s", self.stick.name, frame.hex())
            return
        self._seq = f.sequence
        extended = self._extended
        cmd = COMMANDS.get(f.frame_id)
        if not extended and f.frame_id != 0x0000:
            cmd = None  # before version() only version is understood
        if cmd is None:
            self.unknown[f.frame_id] += 1
            log.warning("ezsp %s: frame 0x%04X not modelled: invalidCommand", self.stick.name, f.frame_id)
            self._respond(f.sequence, extended, 0x0058, CALLBACKS["invalidCommand"][1].build(
                {"status": EZSP_ERROR_INVALID_FRAME_ID}))
            return
        try:
            request = cmd.request.parse(f.parameters)
        except c.ConstructError:
            self._respond(f.sequence, extended, 0x0058, CALLBACKS["invalidCommand"][1].build(
                {"status": EZSP_ERROR_INVALID_VALUE}))
            return
        self.used[cmd.name] += 1
        self._handling = True
        try:
            result = getattr(self, "_" + cmd.name)(request)
        except InvalidCommand as e:
            self._respond(f.sequence, extended, 0x0058, CALLBACKS["invalidCommand"][1].build({"status": e.status}))
        else:
            self._respond(f.sequence, extended, cmd.id, cmd.response.build(result or {}))
        finally:
            self._handling = False
        self._flush_callbacks()

    def _header(self, seq: int, extended: bool, frame_id: int, *, callback: bool) -> bytes:
        control = {"response": True, "network_index": 0, "callback_type": CALLBACK_ASYNC if callback else 0,
                   "callback_pending": False, "truncated": False, "overflow": False}
        if extended:
            return EXTENDED_FRAME.build({"sequence": seq, "control": control, "frame_id": frame_id, "parameters": b"",
                                         "control_high": {"security_enabled": False, "padding_enabled": False,
                                                          "frame_format_version": 1}})
        return LEGACY_FRAME.build({"sequence": seq, "control": control, "frame_id": frame_id, "parameters": b""})

    def _respond(self, seq: int, extended: bool, frame_id: int, parameters: bytes) -> None:
        self.send(self._header(seq, extended, frame_id, callback=False) + parameters)

    def callback(self, name: str, **fields: Any) -> None:
        """Queue a callback for the host; it goes out after the response to the command being handled (or now)."""
        frame_id, layout = CALLBACKS[name]
        self._callbacks.append(self._header(self._seq, self._extended, frame_id, callback=True) + layout.build(fields))
        if not self._handling:
            self._flush_callbacks()

    _handling = False

    def _flush_callbacks(self) -> None:
        out, self._callbacks = self._callbacks, []
        for frame in out:
            self.send(frame)

    # -------------------------------------------------------------------------------------- timers
    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._establishing.values()), default=None)

    def on_timer(self, now: float) -> None:
        for eui in [e for e, p in self._establishing.items() if p.deadline <= now]:
            self._establish(eui)

    # -------------------------------------------------------------------------------------- Session
    def network(self) -> NetworkParams | None:
        n = self.nv.network
        if not self._up or n is None:
            return None
        return NetworkParams(n["pan_id"], le(n["extended_pan_id"]), n["radio_channel"])

    def link_key(self, eui: bytes) -> bytes | None:
        i = self.nv.key_index(eui)
        if i is not None:
            return self.nv.key_table[i].key  # type: ignore[union-attr]
        p = self._establishing.get(eui)
        return p.key if p is not None else None

    def members(self) -> dict[bytes, int]:
        return {e: nwk for e, (nwk, _) in self.nv.members.items()}

    def admitted(self, eui: bytes, nwk: int, key: bytes, method: JoinMethod, rejoin: bool) -> None:
        dev = self.stick.medium.nodes.get(eui)
        sleepy = bool(getattr(getattr(dev, "device_type", None), "sleepy", False))
        self.nv.members[eui] = (nwk, sleepy)
        if method is JoinMethod.TC_REJOIN:
            status = DEVICE_UNSECURED_REJOIN
        else:
            # A new association: any key the device had is stale. The key the join ends with (key establishment,
            # or the TC link key it joined with) reaches the key table KEY_ESTABLISHMENT_S later, as a real key
            # establishment takes a while after the join: the host's clean-up after an unsecured join (bellows
            # erases the device's key-table entry, once per callback handler it registered) is over by then.
            status = DEVICE_UNSECURED_JOIN
            i = self.nv.key_index(eui)
            if i is not None:
                self.nv.key_table[i] = None
            self._establishing[eui] = _Pending(key, time.monotonic() + KEY_ESTABLISHMENT_S)
        self.callback("trustCenterJoinHandler", new_node_id=nwk, new_node_eui64=le(eui), status=status,
                      policy_decision=DECISION_USE_PRECONFIGURED_KEY, parent_of_new_node_id=0x0000)

    def _establish(self, eui: bytes) -> None:
        p = self._establishing.pop(eui, None)
        if p is None:
            return
        if self.nv.set_key(eui, p.key) is None:
            log.warning("ezsp %s: key table full, no TC link key kept for %s", self.stick.name, eui.hex())
        self.callback("zigbeeKeyEstablishmentHandler", partner=le(eui), status=TC_LINK_KEY_ESTABLISHED)

    def refused(self, eui: bytes, nwk: int, rejoin: bool) -> None:
        self.callback("trustCenterJoinHandler", new_node_id=nwk, new_node_eui64=le(eui),
                      status=DEVICE_UNSECURED_REJOIN if rejoin else DEVICE_UNSECURED_JOIN,
                      policy_decision=DECISION_DENY_JOIN, parent_of_new_node_id=0x0000)

    def left(self, eui: bytes, nwk: int) -> None:
        self.nv.members.pop(eui, None)
        self.callback("trustCenterJoinHandler", new_node_id=nwk, new_node_eui64=le(eui), status=DEVICE_LEFT,
                      policy_decision=DECISION_NO_ACTION, parent_of_new_node_id=0xFFFF)

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        data = packet.data.serialize()
        broadcast = packet.dst is not None and packet.dst.addr_mode == t.AddrMode.Broadcast
        sender = int(packet.src.address) if packet.src.addr_mode == t.AddrMode.NWK else 0xFFFE
        aps = {"profile_id": int(packet.profile_id), "cluster_id": int(packet.cluster_id),
               "source_endpoint": int(packet.src_ep or 0), "destination_endpoint": int(packet.dst_ep or 0),
               "options": 0, "group_id": 0, "sequence": self._next_aps_seq()}
        common = {"type": INCOMING_BROADCAST if broadcast else INCOMING_UNICAST, "last_hop_lqi": packet.lqi or 255,
                  "last_hop_rssi": max(-128, min(127, packet.rssi or 0)), "sender": sender, "binding_index": 0xFF,
                  "address_index": 0xFF}
        if len(data) <= MAX_APS_PAYLOAD:
            self.callback("incomingMessageHandler", aps_frame=aps, message_contents=data, **common)
            return
        # APS fragmentation: the host reassembles (fragment count and index in the group ID field)
        parts = [data[i:i + FRAGMENT_PAYLOAD] for i in range(0, len(data), FRAGMENT_PAYLOAD)]
        for index, part in enumerate(parts):
            frag = dict(aps, options=APS_OPTION_FRAGMENT, group_id=(len(parts) << 8) | index)
            self.callback("incomingMessageHandler", aps_frame=frag, message_contents=part, **common)

    def _next_aps_seq(self) -> int:
        self._aps_seq = (self._aps_seq + 1) & 0xFF
        return self._aps_seq

    # -------------------------------------------------------------------------------------- handlers
    def _version(self, r: c.Container) -> dict:
        self._extended = PROTOCOL_VERSION >= 8
        return {"protocol_version": PROTOCOL_VERSION, "stack_type": STACK_TYPE, "stack_version": STACK_VERSION}

    def _nop(self, r: c.Container) -> dict:
        return {}

    def _addEndpoint(self, r: c.Container) -> dict:
        if self._up:
            return {"status": EZSP_ERROR_INVALID_CALL}
        self.stick.endpoints[r.endpoint] = Endpoint(r.endpoint, r.profile_id, r.device_id, r.device_version,
                                                    tuple(r.input_clusters), tuple(r.output_clusters))
        return {"status": EZSP_SUCCESS}

    def _getMfgToken(self, r: c.Container) -> dict:
        tokens = {MFG_STRING: b"commshub".ljust(16, b"\xff"), MFG_BOARD_NAME: b"emulated EZSP".ljust(16, b"\xff"),
                  MFG_MANUF_ID: (0x1049).to_bytes(2, "little"), MFG_CUSTOM_EUI_64: b"\xff" * 8}
        return {"token_data": tokens.get(r.token_id, b"")}

    def _setMfgToken(self, r: c.Container) -> dict:
        return {"status": INVALID_CALL}  # manufacturing tokens are write-once: not emulated

    def _setConcentrator(self, r: c.Container) -> dict:
        return {"status": SUCCESS}

    def _setManufacturerCode(self, r: c.Container) -> dict:
        self.stick.manufacturer_code = r.code
        return {}

    def _networkInit(self, r: c.Container) -> dict:
        if self._up:
            return {"status": INVALID_CALL}
        if self.nv.network is None:
            return {"status": NOT_JOINED}
        self._up = True
        self.callback("stackStatusHandler", status=NETWORK_UP)
        self.stick.network_started()
        return {"status": SUCCESS}

    def _networkState(self, r: c.Container) -> dict:
        return {"status": NETWORK_STATUS_JOINED if self._up else NETWORK_STATUS_NO_NETWORK}

    def _startScan(self, r: c.Container) -> dict:
        channels = [ch for ch in range(11, 27) if r.channel_mask & (1 << ch)]
        if r.scan_type == 0:  # energy scan: every channel quiet on the emulated air
            for ch in channels:
                self.callback("energyScanResultHandler", channel=ch, max_rssi_value=-90)
        self.callback("scanCompleteHandler", channel=0, status=SUCCESS)
        return {"status": SUCCESS}

    def _formNetwork(self, r: c.Container) -> dict:
        if self._up:
            return {"status": INVALID_CALL}
        p = dict(r.parameters)
        p.pop("_io", None)
        self.nv.network = p
        sec = self.nv.security or {}
        self.nv.network_key = sec.get("network_key", self.nv.network_key)
        self.nv.network_key_seq = sec.get("network_key_sequence_number", 0)
        self.nv.tc_link_key = sec.get("preconfigured_key", self.nv.tc_link_key)
        self.nv.security_bitmask = sec.get("bitmask", 0)
        self._up = True
        self.callback("stackStatusHandler", status=NETWORK_UP)
        self.stick.network_started()
        return {"status": SUCCESS}

    def _leaveNetwork(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": INVALID_CALL}
        self._up = False
        self.nv.network = None
        self.nv.members.clear()
        self.callback("stackStatusHandler", status=NETWORK_DOWN)
        return {"status": SUCCESS}

    def _permitJoining(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": INVALID_CALL}
        self.stick.permit(float("inf") if r.duration == 0xFF else r.duration)
        return {"status": SUCCESS}

    def _getEui64(self, r: c.Container) -> dict:
        return {"eui64": le(self.stick.eui)}

    def _getNodeId(self, r: c.Container) -> dict:
        return {"node_id": 0x0000 if self._up else 0xFFFE}

    def _getNetworkParameters(self, r: c.Container) -> dict:
        n = self.nv.network
        if not self._up or n is None:
            zero = {"extended_pan_id": b"\x00" * 8, "pan_id": 0, "radio_tx_power": 0, "radio_channel": 0,
                    "join_method": 0, "nwk_manager_id": 0, "nwk_update_id": 0, "channels": 0}
            return {"status": NOT_JOINED, "node_type": NODE_UNKNOWN, "parameters": zero}
        return {"status": SUCCESS, "node_type": NODE_COORDINATOR, "parameters": n}

    def _packet(self, aps: c.Container, dst: t.AddrModeAddress, data: bytes) -> t.ZigbeePacket:
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)), src_ep=aps.source_endpoint,
            dst=dst, dst_ep=aps.destination_endpoint, tsn=aps.sequence, profile_id=aps.profile_id,
            cluster_id=aps.cluster_id, data=t.SerializableBytes(data))

    def _sent(self, kind: int, dst: int, aps: c.Container, tag: int, ok: bool, data: bytes) -> None:
        frame = {k: v for k, v in aps.items() if not k.startswith("_")}
        self.callback("messageSentHandler", type=kind, index_or_destination=dst, aps_frame=frame, message_tag=tag,
                      status=SUCCESS if ok else DELIVERY_FAILED, message_contents=data)

    def _unsendable(self, data: bytes) -> dict | None:
        """Why a send is refused before it reaches the air (the stack's status), or None."""
        if not self._up:
            return {"status": NETWORK_DOWN, "sequence": 0}
        if len(data) > MAX_APS_PAYLOAD:
            return {"status": MESSAGE_TOO_LONG, "sequence": 0}
        return None

    def _sendUnicast(self, r: c.Container) -> dict:
        data = bytes(r.message_contents)
        if (refused := self._unsendable(data)) is not None:
            return refused
        dst = t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(r.index_or_destination))
        ok = self.stick.send(self._packet(r.aps_frame, dst, data))
        self._sent(r.type, r.index_or_destination, r.aps_frame, r.message_tag, ok, data)
        return {"status": SUCCESS, "sequence": self._next_aps_seq()}

    def _sendBroadcast(self, r: c.Container) -> dict:
        data = bytes(r.message_contents)
        if (refused := self._unsendable(data)) is not None:
            return refused
        dst = t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=t.BroadcastAddress(r.destination))
        self.stick.send(self._packet(r.aps_frame, dst, data))
        self._sent(OUTGOING_BROADCAST, r.destination, r.aps_frame, r.message_tag, True, data)
        return {"status": SUCCESS, "sequence": self._next_aps_seq()}

    def _sendMulticast(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": NETWORK_DOWN, "sequence": 0}
        self._sent(OUTGOING_MULTICAST, r.aps_frame.group_id, r.aps_frame, r.message_tag, True,
                   bytes(r.message_contents))  # no groups on the emulated air
        return {"status": SUCCESS, "sequence": self._next_aps_seq()}

    def _sendReply(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": NETWORK_DOWN}
        if r.aps_frame.options & APS_OPTION_FRAGMENT and not r.message_contents:
            return {"status": SUCCESS}  # a fragment acknowledgement: our fragments are not lost
        dst = t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(r.sender))
        self.stick.send(self._packet(r.aps_frame, dst, bytes(r.message_contents)))
        return {"status": SUCCESS}

    def _customFrame(self, r: c.Container) -> dict:
        return {"status": INVALID_CALL, "reply": b""}  # no XNCP extensions in this firmware

    def _getChildData(self, r: c.Container) -> dict:
        members = list(self.nv.members.items())
        if r.index >= len(members):
            return {"status": NOT_JOINED, "child_data": {"eui64": b"\x00" * 8, "type": NODE_UNKNOWN, "id": 0xFFFF,
                                                         "phy": 0, "power": 0, "timeout": 0,
                                                         "timeout_remaining": 0}}
        eui, (nwk, sleepy) = members[r.index]
        return {"status": SUCCESS, "child_data": {
            "eui64": le(eui), "type": NODE_SLEEPY_END_DEVICE if sleepy else NODE_ROUTER, "id": nwk, "phy": 0,
            "power": 0, "timeout": 0, "timeout_remaining": 0}}

    def _setChildData(self, r: c.Container) -> dict:
        d = r.child_data
        if r.index >= CHILD_TABLE_SIZE:
            return {"status": INDEX_OUT_OF_RANGE}
        self.nv.members[le(d.eui64)] = (d.id, d.type == NODE_SLEEPY_END_DEVICE)
        return {"status": SUCCESS}

    def _getConfigurationValue(self, r: c.Container) -> dict:
        if r.config_id not in self._config:
            return {"status": EZSP_ERROR_INVALID_ID, "value": 0}
        return {"status": EZSP_SUCCESS, "value": self._config[r.config_id]}

    def _setConfigurationValue(self, r: c.Container) -> dict:
        if self._up:
            return {"status": EZSP_ERROR_INVALID_CALL}
        if r.config_id in (CONFIG_KEY_TABLE_SIZE, CONFIG_ADDRESS_TABLE_SIZE, CONFIG_MULTICAST_TABLE_SIZE) \
                and r.value > self._config[r.config_id]:
            return {"status": EZSP_ERROR_INVALID_VALUE}  # the tables of this firmware are fixed
        self._config[r.config_id] = r.value
        return {"status": EZSP_SUCCESS}

    def _setPolicy(self, r: c.Container) -> dict:
        self._policies[r.policy_id] = r.decision_id
        return {"status": EZSP_SUCCESS}

    def _setSourceRouteDiscoveryMode(self, r: c.Container) -> dict:
        return {"remaining_time": 0}

    def _getAddressTableRemoteEui64(self, r: c.Container) -> dict:
        if r.index >= ADDRESS_TABLE_SIZE:
            return {"eui64": b"\x00" * 8}
        return {"eui64": le(self._address_table[r.index][0])}

    def _getAddressTableRemoteNodeId(self, r: c.Container) -> dict:
        if r.index >= ADDRESS_TABLE_SIZE:
            return {"node_id": 0xFFFF}
        return {"node_id": self._address_table[r.index][1]}

    def _replaceAddressTableEntry(self, r: c.Container) -> dict:
        if r.index >= ADDRESS_TABLE_SIZE:
            return {"status": INDEX_OUT_OF_RANGE, "old_eui64": b"\x00" * 8, "old_id": 0xFFFF,
                    "old_extended_timeout": False}
        old = self._address_table[r.index]
        self._address_table[r.index] = (le(r.new_eui64), r.new_id, bool(r.new_extended_timeout))
        self._extended_timeout[le(r.new_eui64)] = bool(r.new_extended_timeout)
        return {"status": SUCCESS, "old_eui64": le(old[0]), "old_id": old[1], "old_extended_timeout": old[2]}

    def _lookupNodeIdByEui64(self, r: c.Container) -> dict:
        eui = le(r.eui64)
        if eui == self.stick.eui:
            return {"node_id": 0x0000}
        m = self.nv.members.get(eui)
        return {"node_id": m[0] if m else 0xFFFF}

    def _lookupEui64ByNodeId(self, r: c.Container) -> dict:
        if r.node_id == 0x0000:
            return {"status": SUCCESS, "eui64": le(self.stick.eui)}
        eui = next((e for e, (n, _) in self.nv.members.items() if n == r.node_id), None)
        return {"status": SUCCESS, "eui64": le(eui)} if eui else {"status": ERR_FATAL, "eui64": b"\x00" * 8}

    def _getMulticastTableEntry(self, r: c.Container) -> dict:
        if r.index >= MULTICAST_TABLE_SIZE:
            return {"status": INDEX_OUT_OF_RANGE, "value": {"multicast_id": 0, "endpoint": 0, "network_index": 0}}
        return {"status": SUCCESS, "value": self._multicast[r.index]}

    def _setMulticastTableEntry(self, r: c.Container) -> dict:
        if r.index >= MULTICAST_TABLE_SIZE:
            return {"status": INDEX_OUT_OF_RANGE}
        self._multicast[r.index] = {k: v for k, v in r.value.items() if not k.startswith("_")}
        return {"status": SUCCESS}

    def _readAndClearCounters(self, r: c.Container) -> dict:
        return {"values": [0] * COUNTER_TYPES}

    def _readCounters(self, r: c.Container) -> dict:
        return {"values": [0] * COUNTER_TYPES}

    def _setInitialSecurityState(self, r: c.Container) -> dict:
        if self._up:
            return {"status": INVALID_CALL}
        self.nv.security = {k: v for k, v in r.state.items() if not k.startswith("_")}
        return {"status": SUCCESS}

    def _getCurrentSecurityState(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": NOT_JOINED, "state": {"bitmask": 0, "trust_center_long_address": b"\x00" * 8}}
        bitmask = CURRENT_HAVE_TC_LINK_KEY | (self.nv.security_bitmask & HASHED_LINK_KEY)
        return {"status": SUCCESS, "state": {"bitmask": bitmask, "trust_center_long_address": le(self.stick.eui)}}

    def _clearTransientLinkKeys(self, r: c.Container) -> dict:
        self.stick.clear_transient_keys()
        return {}

    def _findKeyTableEntry(self, r: c.Container) -> dict:
        i = self.nv.key_index(le(r.address))
        return {"index": 0xFF if i is None else i}

    def _eraseKeyTableEntry(self, r: c.Container) -> dict:
        if r.index >= KEY_TABLE_SIZE:
            return {"status": INDEX_OUT_OF_RANGE}
        self.nv.key_table[r.index] = None
        return {"status": SUCCESS}

    def _clearKeyTable(self, r: c.Container) -> dict:
        self.nv.key_table = [None] * KEY_TABLE_SIZE
        self._establishing.clear()
        return {"status": SUCCESS}

    def _tokenFactoryReset(self, r: c.Container) -> dict:
        self.nv.factory_reset(keep_outgoing_fc=bool(r.exclude_outgoing_fc))
        self._establishing.clear()
        return {}

    def _setExtendedTimeout(self, r: c.Container) -> dict:
        self._extended_timeout[le(r.remote_eui64)] = bool(r.extended_timeout)
        return {}

    def _getExtendedTimeout(self, r: c.Container) -> dict:
        return {"extended_timeout": self._extended_timeout.get(le(r.remote_eui64), False)}

    def _setRadioPower(self, r: c.Container) -> dict:
        return {"status": SUCCESS}

    def _removeDevice(self, r: c.Container) -> dict:
        if not self._up:
            return {"status": NETWORK_DOWN}
        self.nv.members.pop(le(r.target_long), None)
        return {"status": SUCCESS}

    def _getValue(self, r: c.Container) -> dict:
        if r.value_id == VALUE_VERSION_INFO:
            build, major, minor, patch, special, typ = VERSION_INFO
            return {"status": EZSP_SUCCESS, "value": build.to_bytes(2, "little") + bytes((major, minor, patch, special,
                                                                                             typ))}
        if r.value_id == VALUE_FREE_BUFFERS:
            return {"status": EZSP_SUCCESS, "value": bytes((0xF0,))}
        if r.value_id == VALUE_NODE_SHORT_ID:
            return {"status": EZSP_SUCCESS, "value": (0x0000 if self._up else 0xFFFE).to_bytes(2, "little")}
        if r.value_id == VALUE_NWK_FRAME_COUNTER:
            return {"status": EZSP_SUCCESS, "value": self.nv.nwk_frame_counter.to_bytes(4, "little")}
        if r.value_id == VALUE_APS_FRAME_COUNTER:
            return {"status": EZSP_SUCCESS, "value": self.nv.aps_frame_counter.to_bytes(4, "little")}
        if r.value_id in self._values:
            return {"status": EZSP_SUCCESS, "value": self._values[r.value_id]}
        return {"status": EZSP_ERROR_INVALID_ID, "value": b""}

    def _setValue(self, r: c.Container) -> dict:
        value = bytes(r.value)
        if r.value_id in (VALUE_NWK_FRAME_COUNTER, VALUE_APS_FRAME_COUNTER):
            if self._up or len(value) != 4:
                return {"status": EZSP_ERROR_INVALID_CALL}
            if r.value_id == VALUE_NWK_FRAME_COUNTER:
                self.nv.nwk_frame_counter = int.from_bytes(value, "little")
            else:
                self.nv.aps_frame_counter = int.from_bytes(value, "little")
            return {"status": EZSP_SUCCESS}
        self._values[r.value_id] = value
        return {"status": EZSP_SUCCESS}

    def _gpSinkTableClearAll(self, r: c.Container) -> dict:
        return {}

    def _getTokenData(self, r: c.Container) -> dict:
        return {"status": INVALID_CALL, "value": b""}  # the NV3 token interface is not emulated

    def _setTokenData(self, r: c.Container) -> dict:
        return {"status": INVALID_CALL}

    def _metadata(self, e: KeyEntry | None) -> dict:
        if e is None:
            return {"bitmask": 0, "outgoing_frame_counter": 0, "incoming_frame_counter": 0, "ttl_in_seconds": 0}
        return {"bitmask": 0x0106 | 0x0008, "outgoing_frame_counter": e.outgoing_frame_counter,
                "incoming_frame_counter": e.incoming_frame_counter, "ttl_in_seconds": 0}

    def _exportLinkKeyByEui(self, r: c.Container) -> dict:
        i = self.nv.key_index(le(r.eui64))
        if i is None:
            return {"plaintext_key": b"\x00" * 16, "index": 0xFF, "key_data": self._metadata(None),
                    "status": SL_NOT_FOUND}
        e = self.nv.key_table[i]
        return {"plaintext_key": e.key, "index": i, "key_data": self._metadata(e), "status": SL_OK}  # type: ignore

    def _exportLinkKeyByIndex(self, r: c.Container) -> dict:
        if r.index >= KEY_TABLE_SIZE:
            return {"eui64": b"\x00" * 8, "plaintext_key": b"\x00" * 16, "key_data": self._metadata(None),
                    "status": SL_INVALID_INDEX}
        e = self.nv.key_table[r.index]
        if e is None:
            return {"eui64": b"\x00" * 8, "plaintext_key": b"\x00" * 16, "key_data": self._metadata(None),
                    "status": SL_NOT_FOUND}
        return {"eui64": le(e.eui), "plaintext_key": e.key, "key_data": self._metadata(e), "status": SL_OK}

    def _importLinkKey(self, r: c.Container) -> dict:
        if r.index >= KEY_TABLE_SIZE:
            return {"status": SL_INVALID_INDEX}
        self.nv.key_table[r.index] = KeyEntry(le(r.address), bytes(r.key))
        return {"status": SL_OK}

    def _importTransientKey(self, r: c.Container) -> dict:
        self.stick.add_transient_key(le(r.eui64), bytes(r.plaintext_key))
        return {"status": SL_OK}

    def _exportKey(self, r: c.Container) -> dict:
        ctx = r.context
        if ctx.core_key_type == KEY_TYPE_NETWORK:
            return {"key": self.nv.network_key, "status": SL_OK}
        if ctx.core_key_type == KEY_TYPE_TC_LINK:
            return {"key": self.nv.tc_link_key, "status": SL_OK}
        if ctx.core_key_type == KEY_TYPE_APP_LINK:
            i = self.nv.key_index(le(ctx.eui64)) if ctx.flags & 0x02 else (
                ctx.key_index if ctx.key_index < KEY_TABLE_SIZE else None)
            e = self.nv.key_table[i] if i is not None else None
            return {"key": e.key, "status": SL_OK} if e else {"key": b"\x00" * 16, "status": SL_NOT_FOUND}
        return {"key": b"\x00" * 16, "status": SL_NOT_FOUND}

    def _importKey(self, r: c.Container) -> dict:
        ctx = r.context
        if ctx.core_key_type == KEY_TYPE_NETWORK:
            self.nv.network_key = bytes(r.key)
        elif ctx.core_key_type == KEY_TYPE_TC_LINK:
            self.nv.tc_link_key = bytes(r.key)
        else:
            return {"status": SL_INVALID_STATE}
        return {"status": SL_OK}

    def _getNetworkKeyInfo(self, r: c.Container) -> dict:
        return {"status": SL_OK, "network_key_info": {
            "network_key_set": self.nv.network is not None and self._up, "alternate_network_key_set": False,
            "network_key_sequence_number": self.nv.network_key_seq, "alt_network_key_sequence_number": 0,
            "network_key_frame_counter": self.nv.nwk_frame_counter}}


# ------------------------------------------------------------------------------------------ ASH + EZSP
class EzspLink:
    """One host connection to an EZSP stick: ASH framing under the EZSP session (sans-I/O: bytes in, bytes out).

    `attach()` when a host connects; `receive(data)` with what it sent; `data_to_send()` for the bytes to
    write; `next_deadline()` / `on_timer()` for ASH retransmissions and key establishment; `startup_reset()`
    sends the RSTACK a network-attached NCP sends when a host connects (bellows waits for it on socket://)."""

    kind = "ezsp"
    startup_reset_delay = 0.2  # seconds after a TCP connect (sooner, bellows is not yet listening for it)

    def __init__(self, stick: EmulatedStick, clock: Callable[[], float] = time.monotonic) -> None:
        from zigbee.ncp.ash import AshNcp

        self.clock = clock
        self.ash = AshNcp()
        self.session = EzspNcp(stick, self._send)
        self.stick = stick
        self.heard = False  # the host has sent something (no proactive RSTACK any more)
        self.wakeup: Callable[[], None] | None = None  # the transport: something to send

    def _send(self, frame: bytes) -> None:
        self.ash.send(frame, self.clock())
        if self.wakeup is not None:
            self.wakeup()

    def attach(self) -> None:
        self.stick.attach(self.session)

    def detach(self) -> None:
        self.stick.detach(self.session)

    def reset_stick(self) -> None:
        """The stick resets on its own (a watchdog): RAM lost, network down, an RSTACK nobody asked for."""
        from zigbee.ncp.ash import ResetCode

        self.session.reset()
        self.ash.reset_ack(ResetCode.WATCHDOG)
        if self.wakeup is not None:
            self.wakeup()

    def startup_reset(self) -> None:
        from zigbee.ncp.ash import ResetCode

        if not self.heard:
            self.session.reset()
            self.ash.reset_ack(ResetCode.SOFTWARE)

    def receive(self, data: bytes) -> None:
        from zigbee.ncp.ash import DataReceived, ResetRequested

        self.heard = True
        for ev in self.ash.receive(data, self.clock()):
            if isinstance(ev, ResetRequested):
                self.session.reset()
            elif isinstance(ev, DataReceived):
                self.session.handle(ev.payload)

    def data_to_send(self) -> bytes:
        return self.ash.data_to_send()

    def next_deadline(self) -> float | None:
        times = [x for x in (self.ash.next_deadline(), self.session.next_deadline()) if x is not None]
        return min(times, default=None)

    def on_timer(self) -> None:
        now = self.clock()
        self.ash.on_timer(now)
        self.session.on_timer(now)
