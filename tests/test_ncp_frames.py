"""The emulated sticks' protocol cores without sockets: ASH framing and link rules, EZSP frames and the NCP state
machine, MT frames, the Z-Stack NV image and its struct layouts. Golden bytes are from NCP.md and UG101; where a
layout is a firmware structure, the radio library's own type is used as an independent oracle (the emulator
declares its layouts itself, with construct)."""

from __future__ import annotations

import construct as c
import pytest

from zigbee.clock import EmulatedClock
from zigbee.medium import Medium
from zigbee.ncp import ash, ezsp, mt, znp
from zigbee.ncp.stick import EmulatedStick

EUI = bytes.fromhex("02C0FFEE0000A001")


def frames(data: bytes) -> list[tuple[str, c.Container]]:
    out = []
    for raw in data.split(bytes((ash.FLAG,))):
        if raw:
            out.append(ash.parse(ash.unstuff(raw)))
    return out


# ------------------------------------------------------------------------------------------ ASH
def test_ash_golden_bytes():
    assert ash.wire(ash.build("rstack", version=2, reset_code=0x0B)) == bytes.fromhex("c1020b0a527e")
    assert ash.wire(ash.build("ack", control={"res": 0, "n_rdy": False, "ack_num": 1})) == bytes.fromhex("8160597e")
    # the host's first DATA frame, version(4) in the legacy header: payload randomised, CRC-CCITT
    kind, f = ash.parse(bytes.fromhex("004221a850ed2c"))
    assert kind == "data" and f.payload == bytes((0, 0, 0, 4)) and f.control.frm_num == 0
    assert ash.build("data", control={"frm_num": 0, "re_tx": False, "ack_num": 0},
                     payload=bytes((0, 0, 0, 4))) == bytes.fromhex("004221a850ed2c")
    assert ash.PSEUDO_RANDOM[:5] == bytes.fromhex("42 21 a8 54 2a")


def test_ash_stuffing_round_trips_every_reserved_byte():
    data = bytes(range(256))
    stuffed = ash.stuff(data)
    assert not set(stuffed) & {ash.FLAG, ash.XON, ash.XOFF, ash.SUBSTITUTE, ash.CANCEL}
    assert ash.unstuff(stuffed) == data
    with pytest.raises(c.ConstructError):
        ash.parse(bytes.fromhex("004221a850ed2d"))  # one bit of the CRC wrong


def host_data(frm: int, payload: bytes, ack: int = 0, re_tx: bool = False) -> bytes:
    return ash.wire(ash.build("data", control={"frm_num": frm, "re_tx": re_tx, "ack_num": ack}, payload=payload))


def test_ash_rst_rstack_ack_and_delivery():
    link = ash.AshNcp()
    assert link.receive(host_data(0, b"\x01\x02\x03"), 0.0) == []  # nothing counts before the reset
    ev = link.receive(bytes((ash.CANCEL,)) * 32 + ash.wire(ash.build("rst")), 0.0)
    assert ev == [ash.ResetRequested()] and frames(link.data_to_send()) == [("rstack", c.Container(
        control=b"\xc1", version=2, reset_code=0x0B))]
    ev = link.receive(host_data(0, b"hello"), 0.0)
    assert ev == [ash.DataReceived(b"hello")]
    (kind, f), = frames(link.data_to_send())
    assert kind == "ack" and f.control.ack_num == 1
    # our DATA frames carry the piggy-backed acknowledgement and are numbered from 0
    link.send(b"answer", 0.0)
    (kind, f), = frames(link.data_to_send())
    assert kind == "data" and f.control.frm_num == 0 and f.control.ack_num == 1 and f.payload == b"answer"


def test_ash_naks_damaged_and_out_of_sequence_frames_and_acks_retransmissions():
    link = ash.AshNcp()
    link.receive(ash.wire(ash.build("rst")), 0.0)
    link.data_to_send()
    good = ash.build("data", control={"frm_num": 0, "re_tx": False, "ack_num": 0}, payload=b"x")
    bad = good[:-1] + bytes((good[-1] ^ 1,))
    assert link.receive(ash.wire(bad), 0.0) == []
    (kind, f), = frames(link.data_to_send())
    assert kind == "nak" and f.control.ack_num == 0 and link.stats.naks_sent == 1
    assert link.receive(host_data(1, b"y"), 0.0) == []  # out of sequence: still in the reject condition, no NAK
    assert link.data_to_send() == b"" and link.stats.naks_sent == 1
    assert link.receive(host_data(0, b"x", re_tx=True), 0.0) == [ash.DataReceived(b"x")]
    link.data_to_send()
    assert link.receive(host_data(0, b"x", re_tx=True), 0.0) == []  # a copy of what we have: ACK, no delivery
    (kind, f), = frames(link.data_to_send())
    assert kind == "ack" and f.control.ack_num == 1


def test_ash_resends_on_nak_and_on_timeout_then_gives_up():
    link = ash.AshNcp(t_rx_ack=1.0, max_tries=3)
    link.receive(ash.wire(ash.build("rst")), 0.0)
    link.data_to_send()
    link.send(b"one", 0.0)
    link.data_to_send()
    link.receive(ash.wire(ash.build("nak", control={"res": 0, "n_rdy": False, "ack_num": 0})), 0.1)
    (kind, f), = frames(link.data_to_send())
    assert kind == "data" and f.control.re_tx and f.payload == b"one" and link.stats.retransmissions == 1
    assert link.next_deadline() == pytest.approx(1.1)
    link.on_timer(1.2)
    (kind, f), = frames(link.data_to_send())
    assert kind == "data" and f.control.re_tx
    link.on_timer(2.3)
    (kind, f), = frames(link.data_to_send())
    assert kind == "error" and not link.connected
    # acknowledged frames leave the window
    link = ash.AshNcp()
    link.receive(ash.wire(ash.build("rst")), 0.0)
    link.send(b"a", 0.0)
    link.send(b"b", 0.0)
    link.receive(ash.wire(ash.build("ack", control={"res": 0, "n_rdy": False, "ack_num": 2})), 0.0)
    assert link.next_deadline() is None


def test_ash_cancel_substitute_and_flow_control_bytes():
    link = ash.AshNcp()
    link.receive(ash.wire(ash.build("rst")), 0.0)
    noise = bytes((0x55, 0x66, ash.CANCEL))
    assert link.receive(noise + host_data(0, b"a"), 0.0) == [ash.DataReceived(b"a")]
    sub = bytes((0x01, ash.SUBSTITUTE, 0x02, ash.FLAG))
    assert link.receive(sub + host_data(1, b"b"), 0.0) == [ash.DataReceived(b"b")]
    wired = host_data(2, b"c")
    assert link.receive(wired[:2] + bytes((ash.XON,)) + wired[2:], 0.0) == [ash.DataReceived(b"c")]


# ------------------------------------------------------------------------------------------ EZSP
class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def __call__(self, frame: bytes) -> None:
        self.frames.append(frame)


def ncp(kind: str = "ezsp"):
    stick = EmulatedStick(Medium(EmulatedClock(time_scale=0)), EUI, kind)
    sink = Sink()
    core = ezsp.EzspNcp(stick, sink) if kind == "ezsp" else znp.ZnpNcp(stick, sink)
    stick.attach(core)
    return stick, core, sink


def ext(seq: int, name: str, **params: object) -> bytes:
    cmd = ezsp.COMMANDS[ezsp.COMMAND_IDS[name]]
    return bytes((seq, 0x00, 0x01)) + cmd.id.to_bytes(2, "little") + cmd.request.build(params)


def reply(frame: bytes, name: str) -> c.Container:
    f = ezsp.EXTENDED_FRAME.parse(frame)
    assert f.frame_id == ezsp.COMMAND_IDS[name] and f.control.response
    return ezsp.COMMANDS[f.frame_id].response.parse(f.parameters)


def test_ezsp_version_is_negotiated_in_the_legacy_header_then_the_extended_one():
    _, core, sink = ncp()
    core.handle(bytes((0, 0, 0, 4)))  # version(4), legacy header
    assert sink.frames[-1] == bytes((0, 0x80, 0x00, 13, 2)) + (0x7440).to_bytes(2, "little")
    core.handle(ext(1, "version", desired_protocol_version=13))
    assert reply(sink.frames[-1], "version").protocol_version == 13
    assert sink.frames[-1][:5] == bytes((1, 0x80, 0x01, 0x00, 0x00))  # response bit, frame format version 1


def test_ezsp_unknown_frames_get_invalid_command():
    _, core, sink = ncp()
    core.handle(bytes((0, 0, 0x7B, 0)))  # before version: only version is understood
    core.handle(bytes((0, 0, 0, 4)))
    core.handle(ext(2, "version", desired_protocol_version=13))
    core.handle(bytes((3, 0, 1, 0x7B, 0x00, 0x00)))  # getRouteTableEntry: not modelled
    f = ezsp.EXTENDED_FRAME.parse(sink.frames[-1])
    assert f.sequence == 3 and f.frame_id == 0x0058 and f.parameters == bytes((ezsp.EZSP_ERROR_INVALID_FRAME_ID,))
    assert core.unknown[0x7B] == 2


def test_ezsp_formation_keys_and_tables():
    stick, core, sink = ncp()
    core.handle(bytes((0, 0, 0, 4)))
    core.handle(ext(1, "networkInit", bitmask=0))
    assert reply(sink.frames[-1], "networkInit").status == ezsp.NOT_JOINED
    key = bytes(range(16))
    core.handle(ext(2, "setInitialSecurityState", state={
        "bitmask": 0x0200 | ezsp.HASHED_LINK_KEY, "preconfigured_key": b"\x11" * 16, "network_key": key,
        "network_key_sequence_number": 0, "preconfigured_trust_center_eui64": EUI[::-1]}))
    params = {"extended_pan_id": bytes.fromhex("0102030405060708"), "pan_id": 0x1234, "radio_tx_power": 8,
              "radio_channel": 15, "join_method": 0, "nwk_manager_id": 0, "nwk_update_id": 0, "channels": 1 << 15}
    core.handle(ext(3, "formNetwork", parameters=params))
    status = ezsp.EXTENDED_FRAME.parse(sink.frames[-1])
    assert status.frame_id == 0x0019 and status.control.callback_type == 2 and status.parameters == b"\x90"
    assert reply(sink.frames[-2], "formNetwork").status == 0
    assert core.network().pan_id == 0x1234 and core.network().extended_pan_id == bytes.fromhex("0807060504030201")
    core.handle(ext(4, "exportKey", context={"core_key_type": 1, "key_index": 0, "derived_type": 0,
                                             "eui64": b"\x00" * 8, "multi_network_index": 0, "flags": 0,
                                             "psa_key_alg_permission": 0}))
    assert reply(sink.frames[-1], "exportKey").key == key
    core.handle(ext(5, "importLinkKey", index=2, address=bytes.fromhex("015e0e00eeffc002"), key=b"\x22" * 16))
    assert core.link_key(bytes.fromhex("02C0FFEE000E5E01")) == b"\x22" * 16
    core.handle(ext(6, "exportLinkKeyByIndex", index=2))
    r = reply(sink.frames[-1], "exportLinkKeyByIndex")
    assert r.status == 0 and r.plaintext_key == b"\x22" * 16
    core.handle(ext(7, "findKeyTableEntry", address=bytes.fromhex("015e0e00eeffc002"), link_key=True))
    assert reply(sink.frames[-1], "findKeyTableEntry").index == 2
    core.handle(ext(8, "getValue", value_id=0x3A))  # not modelled: non-OK, so write_config skips it
    assert reply(sink.frames[-1], "getValue").status != 0
    # a reset takes the network down; NV keeps it
    core.reset()
    assert core.network() is None and stick.nv.network is not None


def test_ezsp_layouts_match_bellows_types():
    """Oracle: bellows' own structs serialise our declarations' bytes the same way."""
    import bellows.types as bt

    params = {"extended_pan_id": bytes(range(8)), "pan_id": 0x1234, "radio_tx_power": 8, "radio_channel": 15,
              "join_method": 0, "nwk_manager_id": 0, "nwk_update_id": 3, "channels": 1 << 15}
    ours = ezsp.NETWORK_PARAMETERS.build(params)
    theirs, rest = bt.EmberNetworkParameters.deserialize(ours)
    assert not rest and theirs.panId == 0x1234 and theirs.nwkUpdateId == 3 and theirs.radioChannel == 15
    aps = ezsp.APS_FRAME.build({"profile_id": 0x0109, "cluster_id": 0x0704, "source_endpoint": 1,
                                "destination_endpoint": 10, "options": 0x8000, "group_id": 0x0201, "sequence": 7})
    theirs, rest = bt.EmberApsFrame.deserialize(aps)
    assert not rest and theirs.clusterId == 0x0704 and theirs.groupId == 0x0201 and theirs.sequence == 7
    child = ezsp.CHILD_DATA.build({"eui64": bytes(range(8)), "type": 4, "id": 0x1234, "phy": 0, "power": 0,
                                   "timeout": 0, "timeout_remaining": 0})
    theirs, rest = bt.EmberChildDataV10.deserialize(child)
    assert not rest and theirs.id == 0x1234 and theirs.type == bt.EmberNodeType.SLEEPY_END_DEVICE


# ------------------------------------------------------------------------------------------ MT and Z-Stack
def test_mt_golden_bytes_bad_fcs_and_resynchronisation():
    ping = mt.MtFrame(mt.CommandType.SREQ, mt.Subsystem.SYS, 0x01)
    assert ping.to_bytes() == bytes.fromhex("fe00210120")
    s = mt.MtStream()
    bad = bytes.fromhex("fe00210121")
    got = s.feed(b"\xef" * 3 + bad + ping.to_bytes()[:3]) + s.feed(ping.to_bytes()[3:])
    assert got == [ping] and s.stats.bad_fcs == 1 and s.stats.skipped_bytes >= 3


def mt_req(name: str, **fields: object) -> mt.MtFrame:
    sub, cmd1 = znp.REQUESTS_BY_NAME[name]
    req = znp.REQUESTS[(sub, cmd1)]
    kind = mt.CommandType.SREQ if req.response is not None else mt.CommandType.AREQ
    return mt.MtFrame(kind, sub, cmd1, req.request.build(fields))


def test_znp_unknown_requests_get_an_rpc_error():
    _, core, sink = ncp("znp")
    core.handle(mt.MtFrame(mt.CommandType.SREQ, mt.Subsystem.UTIL, 0x00))  # UTIL.GetDeviceInfo: not modelled
    (f,) = sink.frames
    assert (f.type, f.subsystem, f.cmd1) == (mt.CommandType.SRSP, mt.Subsystem.RPC_ERROR, 0x00)
    assert f.payload == bytes((0x02, 0x27, 0x00))  # InvalidCommandId, the request's cmd0 and cmd1


def test_znp_nv_items_and_a_clear_state_boot():
    stick, core, sink = ncp("znp")
    core.handle(mt_req("SYS.OSALNVLength", id=znp.NV_NIB))
    assert znp.REQUESTS_BY_NAME and sink.frames[-1].payload == b"\x00\x00"  # no network in the factory image
    core.handle(mt_req("SYS.OSALNVItemInit", id=0x0F00, item_len=2, value=b"\x55"))
    assert sink.frames[-1].payload == bytes((znp.NV_ITEM_UNINIT,))
    core.handle(mt_req("SYS.OSALNVWriteExt", id=0x0F00, offset=1, value=b"\x66"))
    core.handle(mt_req("SYS.OSALNVReadExt", id=0x0F00, offset=0))
    assert sink.frames[-1].payload == bytes((0, 2, 0x55, 0x66))
    core.handle(mt_req("SYS.OSALNVDelete", id=znp.NV_EXTADDR, item_len=8))
    assert stick.nv.get(znp.NV_EXTADDR) is None
    stick.nv.put(znp.NV_STARTUP_OPTION, bytes((znp.STARTUP_CLEAR_STATE,)))
    core.handle(mt_req("SYS.ResetReq", type=1))
    reset_ind = sink.frames[-1]
    assert (reset_ind.subsystem, reset_ind.cmd1) == (mt.Subsystem.SYS, 0x80)
    assert stick.nv.get(znp.NV_EXTADDR) == EUI[::-1]  # the stack recreates its hardware address
    assert stick.nv.get(znp.NV_STARTUP_OPTION) == b"\x00"


def test_znp_layouts_match_zigpy_znp_structs():
    """Oracle: zigpy-znp's firmware structs read the bytes our declarations build (aligned, as on a CC2652)."""
    import zigpy_znp.types as zt

    assert znp.NIB.sizeof() == zt.NIB.get_size(align=True) == 116
    for ours, theirs in ((znp.ADDRMGR_ENTRY, zt.AddrMgrEntry), (znp.TCLK_DEV_ENTRY, zt.TCLKDevEntry),
                         (znp.APS_KEY_DATA, zt.APSKeyDataTableEntry), (znp.NWK_SEC_MATERIAL, zt.NwkSecMaterialDesc),
                         (znp.APS_LINK_KEY_ENTRY, zt.APSLinkKeyTableEntry),
                         (znp.ASSOCIATED_DEVICE, zt.AssociatedDeviceZStack3)):
        assert ours.sizeof() == theirs.get_size(align=True), theirs.__name__
    stick, core, _ = ncp("znp")
    core.handle(mt_req("AppConfig.BDBStartCommissioning", mode=znp.BDB_MODE_FORMATION))
    nib, rest = zt.NIB.deserialize(stick.nv.get(znp.NV_NIB), align=True)
    assert not rest and nib.nwkLogicalChannel == 11 and nib.nwkKeyLoaded and nib.nwkPanId == core.network().pan_id
    assert nib.extendedPANID.serialize() == stick.nv.get(znp.NV_EXTENDED_PAN_ID)
    assert nib.nwkState == zt.NwkState.NWK_ROUTER and nib.channelList == 1 << 11
    assert zt.NIB.deserialize(nib.serialize(align=True), align=True)[0] == nib


def test_znp_hashed_link_keys_follow_the_tclk_seed():
    """Oracle: zigpy-znp's key derivation from the TCLK seed and a shift."""
    import zigpy_znp.types as zt
    from zigpy_znp.znp.security import compute_key

    seed = bytes(range(16))
    eui = bytes.fromhex("02C0FFEE000E5E01")
    for shift in (0, 5, 15):
        assert znp.hashed_key(seed, shift, eui) == bytes(compute_key(zt.EUI64(eui[::-1]), zt.KeyData(seed), shift))


def test_znp_formation_notifications_in_order():
    _, core, sink = ncp("znp")
    core.handle(mt_req("AppConfig.BDBStartCommissioning", mode=znp.BDB_MODE_FORMATION))
    names = [(f.subsystem, f.cmd1, f.payload) for f in sink.frames]
    assert names[0] == (mt.Subsystem.APP_CNF, 0x05, b"\x00")  # SRSP first
    assert names[-1] == (mt.Subsystem.APP_CNF, 0x80, bytes((znp.BDB_SUCCESS, 4, 0)))  # last: no modes remaining
    assert (mt.Subsystem.ZDO, 0xC0, bytes((znp.STATE_STARTED_AS_COORDINATOR,))) in names
    sink.frames.clear()
    core.handle(mt_req("SYS.ResetReq", type=1))
    core.handle(mt_req("AppConfig.BDBStartCommissioning", mode=znp.BDB_MODE_FORMATION))
    statuses = [f.payload[0] for f in sink.frames if (f.subsystem, f.cmd1) == (mt.Subsystem.APP_CNF, 0x80)]
    assert statuses == [znp.BDB_NETWORK_RESTORED, znp.BDB_SUCCESS]  # the stored network resumes
