"""Our writer (`HanCapture`) → our reader (`read_capture`) on every frame kind, and the layers one by one."""

import io

import pytest
import zigpy.types as zt

from capture_scenes import (ESME, ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME, GSME_LINK_KEY, HUB, NETWORK_KEY, PAN,
                            Clock, join_and_tunnel)
from zigbee import tunnel
from zigbee.capture import HanCapture, KeyEntry, aps, keyfile, mac, nwk, read_capture, zcl
from zigbee.capture.pcap import read_packets, radio_frame
from zigbee.capture.reader import FailureReason
from zigbee.capture.security import AuxHeader, KeyId


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return join_and_tunnel(tmp_path_factory.mktemp("cap") / "han.pcapng")


@pytest.fixture(scope="module")
def reading(scene):
    return read_capture(scene.path, keys_file=scene.keys_path)


def by_number(reading):
    return {d.number: d for d in reading.dissections}


def test_every_frame_fits_802154(scene):
    sizes = [len(p.data) for p in read_packets(scene.path)]
    assert sizes and max(sizes) <= 127
    assert all(radio_frame(p).fcs_ok for p in read_packets(scene.path))


def test_key_file_beside_the_capture(scene):
    entries = keyfile.read(scene.keys_path)
    assert [e.key for e in entries] == [NETWORK_KEY, ESME_LINK_KEY, GSME_LINK_KEY, ESME_TC_LINK_KEY]
    assert entries[1].label == "install-code link key 00:0d:6f:00:0a:0b:0c:02"
    assert entries[3].label == "TC link key 00:0d:6f:00:0a:0b:0c:02"
    assert scene.keys_path.read_text().splitlines()[1] == \
        '"01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10","Normal","network key PAN 0x1234 (key sequence 0)"'


def test_summary_all_decrypted(reading):
    s = reading.summary
    assert s.failures == []
    assert s.frames_read == s.radio_frames > 50
    assert s.nwk_decrypted == s.nwk_secured > 0 and s.aps_decrypted == s.aps_secured > 0
    assert s.keys_learned == 1  # the network key, from the ESME's Transport-Key (the GSME's repeats it)
    assert s.gbcs_frames == 4


def test_join_frames(scene, reading):
    d = by_number(reading)
    join = [d[n] for n in scene.marks["join"]]
    kinds = [(x.mac.frame_type, type(x.mac_command).__name__ if x.mac_command else None) for x in join]
    assert kinds[:8] == [
        (mac.FrameType.COMMAND, "BareCommand"),          # beacon request
        (mac.FrameType.BEACON, None),
        (mac.FrameType.COMMAND, "AssociationRequest"), (mac.FrameType.ACK, None),
        (mac.FrameType.COMMAND, "BareCommand"), (mac.FrameType.ACK, None),   # data request, ack with pending
        (mac.FrameType.COMMAND, "AssociationResponse"), (mac.FrameType.ACK, None)]
    assert join[0].mac_command == mac.BareCommand(mac.Command.BEACON_REQUEST)
    assert join[1].beacon == nwk.ZigbeeBeacon(HUB) and join[1].mac.src == 0x0000 and join[1].mac.src_pan == PAN
    assert join[2].mac.src == ESME and join[2].mac_command == mac.AssociationRequest(0x8E)
    assert join[5].mac.pending
    short = join[6].mac_command.short_address
    assert join[6].mac.dst == ESME and join[6].mac.src == HUB and join[6].mac_command.status == 0
    tk = join[8]
    assert tk.nwk.aux is None and tk.nwk.header.dst == short
    assert tk.aps.aux.key_id == KeyId.KEY_TRANSPORT and tk.aps.key == ESME_LINK_KEY
    assert tk.aps_command == aps.TransportKey(aps.KeyType.STANDARD_NETWORK, NETWORK_KEY, ESME, HUB, 0)
    annce = join[10]
    assert annce.mac.dst == 0xFFFF and annce.aps.header.delivery == aps.Delivery.BROADCAST
    assert annce.nwk.key == NETWORK_KEY and annce.aps_payload[1:3] == short.to_bytes(2, "little")


def test_keep_alive_and_aps_ack(scene, reading):
    d = by_number(reading)
    frames = [d[n] for n in scene.marks["keep_alive"]]
    read, ack = frames[0], frames[2]
    assert read.aps.header.cluster == zcl.KEEP_ALIVE_CLUSTER and read.aps.key == ESME_TC_LINK_KEY
    assert read.zcl == zcl.ZclFrame(read.zcl.tsn, zcl.READ_ATTRIBUTES, bytes.fromhex("00000100"),
                                    disable_default_response=True)
    assert ack.aps.header.frame_type == aps.ApsFrameType.ACK and ack.aps.header.counter == read.aps.header.counter
    assert (ack.aps.header.dst_endpoint, ack.aps.header.src_endpoint) == (read.aps.header.src_endpoint,
                                                                          read.aps.header.dst_endpoint)
    response = frames[4]
    assert response.zcl.to_client and response.zcl.payload.endswith(bytes.fromhex("0100 0021 2c01".replace(" ", "")))


def test_tunnel_request_response(scene, reading):
    d = by_number(reading)
    req = d[scene.marks["request_tunnel"][0]].tunnel
    rsp = d[scene.marks["request_tunnel_response"][0]].tunnel
    assert (req.name, req.to_server, req.fields["protocol_id"]) == ("request_tunnel", True, 6)
    assert (rsp.name, rsp.to_server, rsp.fields["tunnel_id"]) == ("request_tunnel_response", False, 7)


def test_gbcs_frames_found(scene, reading):
    cmd, rsp, get_rsp, put = reading.frames
    assert cmd.data == scene.gbcs["command"] and rsp.data == scene.gbcs["response"]
    assert get_rsp.data == scene.gbcs["command"] and put.data == scene.gbcs["response"]
    assert (cmd.message_code, cmd.counter) == (0x0071, 1002)
    assert cmd.to_server and not rsp.to_server and cmd.tunnel_id == rsp.tunnel_id == 7
    assert cmd.protocol_id == 6 and cmd.tunnel_header is None
    assert (get_rsp.tunnel_header, put.tunnel_header, get_rsp.tunnel_id) == ("GET-RESPONSE", "PUT", 3)
    assert cmd.src_eui == HUB and cmd.dst_eui == ESME and cmd.mac_src == 0x0000 and cmd.nwk_src == 0x0000
    assert put.src_eui == GSME
    # 88 octets + 5 of TransferData do not fit one frame: two APS fragments, ack after the last
    d = by_number(reading)
    data_frames = [n for n in scene.marks["command"] if d[n].aps is not None and d[n].aps.header.frame_type == 0]
    assert len(data_frames) == 2 and cmd.frames == tuple(data_frames) and cmd.frame_number == data_frames[-1]
    assert d[data_frames[0]].aps.header.fragmentation == aps.Fragmentation.FIRST
    assert cmd.time > 1_700_000_000 and cmd.datetime.year == 2023


def test_leave(scene, reading):
    leave = by_number(reading)[scene.marks["leave"][0]]
    assert leave.nwk_command == nwk.Leave() and leave.nwk.header.dst == nwk.BROADCAST_RX_ON
    assert leave.nwk.header.src_ieee == GSME and leave.mac.dst == 0xFFFF and not leave.mac.ack_request


def test_large_frame_gbt_and_many_fragments(tmp_path):
    s = join_and_tunnel(tmp_path / "large.pcap", large=True)
    r = read_capture(s.path, [ESME_TC_LINK_KEY, ESME_LINK_KEY, GSME_LINK_KEY])
    assert r.summary.failures == []
    big = [g for g in r.frames if len(g.data) > 1000]
    assert [g.data for g in big] == [s.gbcs["large"]]
    fragments = [d for d in r.dissections if d.number in s.marks["large"] and d.aps is not None
                 and d.aps.header.frame_type == aps.ApsFrameType.DATA]
    assert len(fragments) > 30 and len(big[0].frames) == len(fragments)
    acks = [d for d in r.dissections if d.number in s.marks["large"] and d.aps is not None
            and d.aps.header.frame_type == aps.ApsFrameType.ACK]
    assert len(acks) >= 5 and all(a.aps.header.ack_bitfield for a in acks)  # one per window of 8 blocks


def test_rejoins_secured_and_trust_centre(tmp_path):
    path = tmp_path / "rejoin.pcap"
    with HanCapture(path, clock=Clock()) as cap:
        cap.add_network(HUB, pan_id=PAN, extended_pan_id=HUB, network_key=NETWORK_KEY)
        cap.join(ESME, HUB, link_key=ESME_LINK_KEY, nwk_address=0x1111)
        secured = cap.rejoin(ESME, HUB)
        tc = cap.rejoin(ESME, HUB, secured=False, nwk_address=0x2222)
        told = cap.leave(ESME, requested_by=HUB, rejoin=True)
    r = read_capture(path, [ESME_LINK_KEY])
    d = {x.number: x for x in r.dissections}
    assert r.summary.failures == []
    req, rsp = d[secured[0]], d[secured[2]]
    assert req.nwk_command == nwk.RejoinRequest(0x8E) and req.nwk.key == NETWORK_KEY
    assert req.nwk.header.src_ieee == ESME and req.nwk.header.radius == 1
    assert rsp.nwk_command == nwk.RejoinResponse(0x1111) and rsp.nwk.header.dst_ieee == ESME
    treq, trsp, tkey = d[tc[0]], d[tc[2]], d[tc[4]]
    assert treq.nwk.aux is None and treq.nwk_command == nwk.RejoinRequest(0x8E)
    assert trsp.nwk_command == nwk.RejoinResponse(0x2222)
    assert tkey.aps_command.key == NETWORK_KEY and tkey.nwk.header.dst == 0x2222
    leave = d[told[0]]
    assert leave.nwk_command == nwk.Leave(rejoin=True, request=True) and leave.nwk.header.dst == 0x2222


def test_counters_per_node(tmp_path):
    buf = io.BytesIO()
    cap = HanCapture(buf, clock=Clock(), mac_acks=False)
    cap.add_network(HUB, pan_id=PAN, extended_pan_id=HUB, network_key=NETWORK_KEY)
    cap.join(ESME, HUB, link_key=ESME_LINK_KEY, scan=False, announce=False)
    for _ in range(3):
        cap.keep_alive(ESME, HUB)
    cap.close()
    r = read_capture(buf.getvalue(), [ESME_LINK_KEY])
    from_esme = [d for d in r.dissections if d.nwk is not None and d.nwk.header.src != 0]
    nwk_counters = [d.nwk.aux.frame_counter for d in from_esme]
    assert nwk_counters == sorted(set(nwk_counters)) and len(nwk_counters) == 6  # 3 reads, 3 APS acks
    assert [d.nwk.header.seq for d in from_esme] == list(range(6))
    mac_seqs = [d.mac.seq for d in r.dissections if d.mac.src == ESME or d.mac.src == from_esme[0].mac.src]
    assert mac_seqs == sorted(mac_seqs) and len(set(mac_seqs)) == len(mac_seqs)
    aps_counters = [d.aps.aux.frame_counter for d in from_esme if d.aps.aux is not None]
    assert aps_counters == [0, 1, 2]
    assert [p.time for p in read_packets(buf.getvalue())] == sorted(p.time for p in read_packets(buf.getvalue()))


def test_zigpy_packet_event_and_aps_without_security(tmp_path):
    buf = io.BytesIO()
    cap = HanCapture(buf, clock=Clock())
    cap.add_network(HUB, pan_id=PAN, extended_pan_id=HUB, network_key=NETWORK_KEY)
    cap.join(ESME, HUB, link_key=ESME_LINK_KEY)
    pkt = zt.ZigbeePacket(src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(0)), src_ep=0x0A,
                          dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(0x1234)), dst_ep=1, tsn=9,
                          profile_id=zcl.SE_PROFILE, cluster_id=zcl.TUNNELLING_CLUSTER,
                          data=zt.SerializableBytes(zcl.request_tunnel(9)))
    n = cap.packet(HUB, ESME, pkt)
    m = cap.aps_data(HUB, ESME, profile=zcl.SE_PROFILE, cluster=0x0702, payload=zcl.read_attributes(1, [0]),
                     src_endpoint=0x0A, dst_endpoint=1, aps_security=False, ack=False)
    cap.close()
    r = read_capture(buf.getvalue(), [KeyEntry(ESME_LINK_KEY, "ic")])
    d = {x.number: x for x in r.dissections}
    assert d[n[0]].tunnel.name == "request_tunnel" and d[n[0]].aps.key_label == "ic"
    assert d[m[0]].aps.aux is None and not d[m[0]].aps.header.ack_request and len(m) == 2  # frame + MAC ack


def test_mac_layer_round_trip():
    frames = [mac.beacon_request(1), mac.ack(2, pending=True),
              mac.command(3, PAN, 0, ESME, mac.AssociationRequest(0x80), src_pan=0xFFFF),
              mac.command(4, PAN, ESME, HUB, mac.AssociationResponse(0x1234, 0)),
              mac.data(5, PAN, 0x1234, 0, b"\x08\x00"), mac.beacon(6, PAN, 0, mac.BeaconFields(b"\x00" * 15)),
              mac.MacFrame(mac.FrameType.DATA, 7, PAN, 0x1234, 0x4321, ESME, b"x")]
    for f in frames:
        assert mac.MacFrame.decode(f.encode(fcs=False)) == f
        body, ok = mac.split_fcs(f.encode())
        assert ok and body == f.encode(fcs=False)


def test_aps_header_round_trip():
    headers = [aps.ApsHeader(aps.ApsFrameType.DATA, 1, 1, 0x0704, 0x0109, 10, ack_request=True, security=True),
               aps.ApsHeader(aps.ApsFrameType.DATA, 2, None, 6, 0x0104, 1, aps.Delivery.GROUP, group=0x0102),
               aps.ApsHeader(aps.ApsFrameType.COMMAND, 3, security=True),
               aps.ApsHeader(aps.ApsFrameType.ACK, 4, ack_format=True),
               aps.ApsHeader(aps.ApsFrameType.ACK, 5, 10, 0x0704, 0x0109, 1, fragmentation=aps.Fragmentation.FIRST,
                             block=0, ack_bitfield=0xFF, extended=True),
               aps.ApsHeader(aps.ApsFrameType.DATA, 6, 1, 0x0704, 0x0109, 10,
                             fragmentation=aps.Fragmentation.SUBSEQUENT, block=3, extended=True)]
    for h in headers:
        assert aps.ApsHeader.decode(h.encode() + b"payload") == (h, len(h.encode()))


def test_aps_command_with_network_key_id_and_no_extended_nonce():
    """APS security variants our writer does not use: key id 1 (network key, key sequence), no EUI in the aux
    header (the sender's comes from elsewhere)."""
    h = aps.ApsHeader(aps.ApsFrameType.COMMAND, 9, security=True)
    cmd = aps.SwitchKey(1)
    f = aps.encode(h, cmd.encode(), key=NETWORK_KEY, aux=AuxHeader(KeyId.NETWORK, 5, None, 1), source=HUB)
    opened = aps.decrypt(f, [(ESME_LINK_KEY, "x"), (NETWORK_KEY, "nk")], source=HUB)
    assert aps.decode_command(opened.payload) == cmd and opened.key_label == "nk"


def test_unknown_tunnel_command_payload_kept():
    data = tunnel.encode("close_tunnel", to_server=True, tsn=1, tunnel_id=7)
    assert zcl.decode_tunnel(data).fields == {"tunnel_id": 7}


def test_failure_reason_counts_in_str(reading):
    assert "GBCS frames" in str(reading.summary) and FailureReason.WRONG_KEY not in reading.summary.by_reason()
