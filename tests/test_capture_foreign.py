"""A capture we did not write: frames built here byte by byte from IEEE 802.15.4-2003 §7.2, ZigBee 05-3474
§3.3/§2.2.5/§4.5 and ZSE 1.2a D.6 (struct + `cryptography`'s AESCCM, not our encoders), with other choices than
`HanCapture` makes: a big-endian pcapng with nanosecond timestamps and four interfaces — link type 230 (no FCS),
283 (TAP header with FCS, channel, RSS and LQI TLVs), 1 (Ethernet / IPv4 / UDP / ZEP v2, CRC mode) and 228 (raw
IPv4 / UDP / ZEP v1, LQI mode with TI CC24xx metadata) — a stray DNS datagram, a MAC frame without PAN ID
compression, APS auxiliary headers without the sender's EUI-64 (key id 0, control 00), ZCL frames with default
responses enabled, and a little-endian nanosecond pcap."""

import shutil
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from rtds_data import frame
from zigbee.capture import read_capture
from zigbee.capture.keyfile import KeyEntry, uat_option

NK = bytes.fromhex("8899aabbccddeeff0011223344556677")
LK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
HUB_EUI = bytes.fromhex("0012345678abcdef")   # display order; on air reversed
ESME_EUI = bytes.fromhex("0022446688aaccee")
PAN, HUB, ESME = 0xBEEF, 0x0000, 0x4D2C
GCS07 = "3.1_GCS07/GCS07_3.1_SUCCESS_COMMAND_GBCS.HEX"
RESPONSE = "3.1_GCS07/GCS07_3.1_SUCCESS_RESPONSE_GBCS.HEX"


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def ccm_star(key, eui, counter, control, a, m):
    """ENC-MIC-32: nonce = EUI (LE) ‖ counter (LE) ‖ control with level 5."""
    nonce = eui[::-1] + struct.pack("<I", counter) + bytes([control | 5])
    return AESCCM(key, tag_length=4).encrypt(nonce, m, a)


def aps_secured(header, counter, sender_eui, payload):
    aux = bytes([0x00]) + struct.pack("<I", counter)  # key id 0 (data key), no extended nonce, level 0 on air
    a = header + bytes([0x05]) + struct.pack("<I", counter)
    return header + aux + ccm_star(LK, sender_eui, counter, 0x00, a, payload)


def nwk_secured(dst, src, seq, sender_eui, counter, payload):
    header = struct.pack("<HHHBB", 0x0248, dst, src, 30, seq)
    aux_tail = struct.pack("<I", counter) + sender_eui[::-1] + b"\x00"
    return header + b"\x28" + aux_tail + ccm_star(NK, sender_eui, counter, 0x28, header + b"\x2d" + aux_tail, payload)


def mac_data(seq, dst, src, payload, compress=True):
    if compress:
        return struct.pack("<HBHHH", 0x8861, seq, PAN, dst, src) + payload
    return struct.pack("<HBHHHH", 0x8821, seq, PAN, dst, PAN, src) + payload  # src PAN given, not compressed


def aps_data(counter, dst_ep, src_ep, ext=b""):
    fcf = 0x40 | 0x20 | (0x80 if ext else 0)  # unicast data, security, ack request, [extended header]
    return bytes([fcf, dst_ep]) + struct.pack("<HH", 0x0704, 0x0109) + bytes([src_ep, counter]) + ext


def ipv4_udp(payload, src_port=17754, dst_port=17754):
    udp = struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                       bytes([10, 0, 0, 2])) + udp


def zep_v2(frame_with_fcs, seq):
    return (b"EX" + bytes([2, 1, 15]) + struct.pack(">HBB", 0x1234, 1, 0xFF) + struct.pack(">II", 3909000000, 0)
            + struct.pack(">I", seq) + bytes(10) + bytes([len(frame_with_fcs)]) + frame_with_fcs)


def zep_v1(frame_plus_metadata):
    return (b"EX" + bytes([1, 20]) + struct.pack(">HBB", 0x1234, 0, 0xC0) + bytes(7)
            + bytes([len(frame_plus_metadata)]) + frame_plus_metadata)


def tap(frame_with_fcs):
    tlvs = (struct.pack("<HHB3x", 0, 1, 1)            # FCS type: CRC-16
            + struct.pack("<HHHB1x", 3, 3, 20, 0)     # channel 20, page 0
            + struct.pack("<HHf", 1, 4, -42.5)        # RSS dBm
            + struct.pack("<HHB3x", 10, 1, 200))      # LQI
    return struct.pack("<BBH", 0, 0, 4 + len(tlvs)) + tlvs + frame_with_fcs


def be_block(block_type, body):
    body += bytes(-len(body) % 4)
    return struct.pack(">II", block_type, len(body) + 12) + body + struct.pack(">I", len(body) + 12)


def be_pcapng(interfaces, packets):
    out = be_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype in interfaces:
        options = struct.pack(">HH", 9, 1) + b"\x09\x00\x00\x00" + struct.pack(">HH", 0, 0)  # if_tsresol 9: ns
        out += be_block(1, struct.pack(">HHI", linktype, 0, 65535) + options)
    for iface, ns, data in packets:
        out += be_block(6, struct.pack(">IIIII", iface, ns >> 32, ns & 0xFFFFFFFF, len(data), len(data)) + data)
    return out


def foreign_capture():
    command, hub_ctr, esme_ctr = frame(GCS07), 1000, 500
    request = bytes([0x01, 0x21, 0x00, 0x06]) + struct.pack("<HBH", 0xFFFF, 0, 1500)       # RequestTunnel
    response = bytes([0x09, 0x21, 0x00]) + struct.pack("<HBH", 0x0042, 0, 1500)           # …Response, tunnel 0x42
    transfer = bytes([0x01, 0x22, 0x02]) + struct.pack("<H", 0x0042) + command           # TransferData to server
    f1 = mac_data(1, ESME, HUB, nwk_secured(ESME, HUB, 1, HUB_EUI, hub_ctr,
                                            aps_secured(aps_data(10, 1, 0x0A), 7000, HUB_EUI, request)))
    f2 = mac_data(2, HUB, ESME, nwk_secured(HUB, ESME, 1, ESME_EUI, esme_ctr,
                                            aps_secured(aps_data(3, 0x0A, 1), 9000, ESME_EUI, response)),
                  compress=False)
    first, rest = transfer[:50], transfer[50:]
    f3 = mac_data(3, ESME, HUB, nwk_secured(ESME, HUB, 2, HUB_EUI, hub_ctr + 1,
                                            aps_secured(aps_data(11, 1, 0x0A, b"\x01\x02"), 7001, HUB_EUI, first)))
    f4 = mac_data(4, ESME, HUB, nwk_secured(ESME, HUB, 3, HUB_EUI, hub_ctr + 2,
                                            aps_secured(aps_data(11, 1, 0x0A, b"\x02\x01"), 7002, HUB_EUI, rest)))
    assert max(len(f) + 2 for f in (f1, f2, f3, f4)) <= 127
    ether = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"
    dns = ether + ipv4_udp(b"\x12\x34" + bytes(10), 5353, 53)
    ns = 1_700_000_000_000_000_000
    packets = [(0, ns, f1),                                                   # 230: no FCS
               (1, ns + 1_500, tap(f2 + crc16(f2))),                          # 283: TAP, FCS present
               (2, ns + 2_000_000, dns),                                      # not 802.15.4
               (2, ns + 3_000_000, ether + ipv4_udp(zep_v2(f3 + crc16(f3), 77))),
               (3, ns + 4_000_001, ipv4_udp(zep_v1(f4 + bytes([0xD6, 0x80 | 0x6C]))))]  # RSSI −42, CRC OK
    return be_pcapng([230, 283, 1, 228], packets), command


def test_foreign_pcapng_four_link_types():
    data, command = foreign_capture()
    r = read_capture(data, [KeyEntry(NK, "nk"), KeyEntry(LK, "lk")])
    s = r.summary
    assert (s.frames_read, s.radio_frames) == (5, 4)
    assert s.failures == [] and s.nwk_decrypted == 4 and s.aps_decrypted == 4
    d = r.dissections
    assert [x.radio.encapsulation for x in d] == ["wpan-nofcs", "wpan-tap", "zep2", "zep1"]
    assert [x.radio.fcs_ok for x in d] == [None, True, True, True]
    assert (d[1].radio.channel, d[1].radio.rssi, d[1].radio.lqi) == (20, -42.5, 200)
    assert (d[3].radio.channel, d[3].radio.rssi, d[3].radio.lqi) == (20, -42.0, 0xC0)
    assert d[1].mac.src_pan == PAN and d[1].aps.aux.source is None
    assert d[0].radio.time_ns == 1_700_000_000_000_000_000 and d[1].radio.time_ns - d[0].radio.time_ns == 1_500
    (g,) = r.frames
    assert g.data == command and (g.message_code, g.counter) == (0x0071, 1002)
    assert (g.tunnel_id, g.protocol_id, g.to_server, g.frame_number, g.frames) == (0x42, 6, True, 5, (4, 5))
    assert (g.src_eui, g.mac_src, g.mac_dst, g.pan_id) == (HUB_EUI, HUB, ESME, PAN)


def test_foreign_le_pcap_nanoseconds_linktype_195():
    response, esme_ctr = frame(RESPONSE), 77
    f = mac_data(9, HUB, ESME, nwk_secured(HUB, ESME, 9, ESME_EUI, esme_ctr, aps_secured(
        bytes([0x20, 0x0A]) + struct.pack("<HH", 0x0704, 0x0109) + bytes([1, 4]), 1, ESME_EUI,
        bytes([0x19, 0x05, 0x01]) + struct.pack("<H", 5) + response[:40])))
    header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 195)
    psdu = f + crc16(f)
    data = header + struct.pack("<IIII", 1_700_000_000, 123_456_789, len(psdu), len(psdu)) + psdu
    r = read_capture(data, [NK, LK])
    (d,) = r.dissections
    assert d.radio.time_ns == 1_700_000_000_123_456_789 and d.tunnel.name == "transfer_data"
    assert not d.tunnel.to_server and d.tunnel.fields["data"] == response[:40]
    # no RequestTunnel in the capture: read all the same (first octet DD), flagged; the cut frame does not decode
    (g,) = r.frames
    assert (g.data, g.protocol_id, g.tunnel_id, g.message_code) == (response[:40], None, 5, None)
    assert [f.reason.name for f in r.summary.failures] == ["UNKNOWN_TUNNEL"]
    assert read_capture(data, [NK, LK], require_tunnel_request=True).frames == []


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_agrees_on_the_foreign_capture(tmp_path):
    data, _ = foreign_capture()
    path = tmp_path / "foreign.pcapng"
    path.write_bytes(data)
    (tmp_path / "ws").mkdir()
    out = subprocess.run(["tshark", "-r", str(path), "-o", uat_option(KeyEntry(NK, "nk")), "-o",
                          uat_option(KeyEntry(LK, "lk")), "-T", "fields", "-e", "frame.number", "-e",
                          "gbcs_message.grouping_header.message_code", "-e", "zbee_zcl_se.tun.tunnel_id"],
                         capture_output=True, text=True, check=True, timeout=60,
                         env={"WIRESHARK_CONFIG_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"})
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == 5
    assert rows[4] == ["5", "0x0071", "0x0042"] and rows[1][2] == "0x0042"


def test_foreign_be_pcap_microseconds():
    f = mac_data(1, ESME, HUB, nwk_secured(ESME, HUB, 1, HUB_EUI, 5, bytes([0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                                              0x0A, 0x01]) + b"\x00"))
    psdu = f + crc16(f)
    data = (struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 195)
            + struct.pack(">IIII", 1_700_000_001, 250_000, len(psdu), len(psdu)) + psdu)
    r = read_capture(data, [NK])
    (d,) = r.dissections
    assert d.radio.time_ns == 1_700_000_001_250_000_000 and d.radio.fcs_ok and d.nwk.key == NK
    assert d.aps.header.cluster == 0 and r.summary.failures == []
