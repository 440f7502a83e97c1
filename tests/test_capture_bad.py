"""Bad captures and keys: truncated files, unknown link types, not a capture, bad FCS, wrong or missing keys,
tunnels whose request was not captured, missing fragments; bad key files. Each gives a typed error naming the
byte offset, or a count in the reader's summary."""

import io
import struct

import pytest

from capture_scenes import ESME, ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME_LINK_KEY, HUB, NETWORK_KEY, PAN, Clock, \
    join_and_tunnel, tunnel_frame
from rtds_data import frame
from zigbee.capture import (HanCapture, NotACapture, TruncatedCapture, UnknownLinkType, keyfile, read_capture, zcl)
from zigbee.capture.mac import with_fcs
from zigbee.capture.pcap import PcapngWriter, PcapWriter, read_packets
from zigbee.capture.reader import FailureReason as R

LINK_KEYS = [ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME_LINK_KEY]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return join_and_tunnel(tmp_path_factory.mktemp("bad") / "han.pcap", pcapng=False)


def rewrite(path, change):
    """The capture's packets, passed through `change(number, data) -> data | None` (None drops it), as pcap."""
    out = io.BytesIO()
    w = PcapWriter(out)
    for p in read_packets(path):
        data = change(p.number, p.data)
        if data is not None:
            w.write_us(data, p.time_ns // 1000)
    return out.getvalue()


# ------------------------------------------------------------------------------------------ files
def test_not_a_capture():
    with pytest.raises(NotACapture) as e:
        list(read_packets(b"GIF89a, not a capture at all"))
    assert e.value.offset == 0 and "magic 47494638" in str(e.value)


def test_truncated_pcap_header():
    with pytest.raises(TruncatedCapture) as e:
        list(read_packets(bytes.fromhex("d4c3b2a1 0200 0400 00000000".replace(" ", ""))))
    assert e.value.offset == 4 and "pcap file header: 8 of 20" in str(e.value)


def test_truncated_record_is_a_summary_count_or_an_error(scene):
    data = scene.path.read_bytes()
    sizes = [(p.offset, len(p.data)) for p in read_packets(data)]
    last_offset, _ = sizes[-1]
    cut = data[:last_offset + 16 + 3]  # record header of the last packet and 3 of its octets
    with pytest.raises(TruncatedCapture) as e:
        list(read_packets(cut))
    assert e.value.offset == last_offset + 16 and f"record {len(sizes)}" in str(e.value)
    r = read_capture(cut, LINK_KEYS)
    assert r.summary.frames_read == len(sizes) - 1 and r.summary.count(R.TRUNCATED) == 1
    assert f"at byte {last_offset + 16}" in r.summary.failures[-1].detail
    assert len(r.frames) == 4  # everything before the cut was read
    with pytest.raises(TruncatedCapture):
        read_capture(cut, LINK_KEYS, strict=True)
    half_header = data[:last_offset + 7]
    with pytest.raises(TruncatedCapture) as e:
        list(read_packets(half_header))
    assert e.value.offset == last_offset and "header of record" in str(e.value)


def test_truncated_pcapng_block():
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    w.write(b"\x02\x00\x01\x31\xa4", 1.0)
    data = buf.getvalue()
    with pytest.raises(TruncatedCapture) as e:
        list(read_packets(data[:-6]))
    assert "block of type 6" in str(e.value)
    assert len(list(read_packets(data))) == 1


def test_unknown_link_type_pcap():
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)  # 802.11
    with pytest.raises(UnknownLinkType) as e:
        read_capture(data)
    assert (e.value.offset, e.value.linktype) == (20, 105) and "link type 105" in str(e.value)


def test_unknown_link_type_pcapng_names_the_interface_block():
    buf = io.BytesIO()
    PcapngWriter(buf, linktype=147).close()  # a user link type
    data = buf.getvalue()
    idb = int.from_bytes(data[4:8], "little")  # the interface block follows the section header block
    with pytest.raises(UnknownLinkType) as e:
        list(read_packets(data))
    assert e.value.offset == idb + 8 and e.value.linktype == 147


def test_block_length_mismatch():
    buf = io.BytesIO()
    PcapngWriter(buf).close()
    data = bytearray(buf.getvalue())
    data[-4:] = struct.pack("<I", 99)
    with pytest.raises(Exception, match="trailing length 99"):
        list(read_packets(bytes(data)))


# ------------------------------------------------------------------------------------------ frames and keys
def test_bad_fcs(scene):
    bad = rewrite(scene.path, lambda n, d: d[:-1] + bytes([d[-1] ^ 0xFF]) if n == 2 else d)
    r = read_capture(bad, LINK_KEYS)
    assert r.summary.count(R.BAD_FCS) == 1 and r.summary.failures[0].frame_number == 2
    assert r.dissections[1].mac is None and len(r.frames) == 4


def test_wrong_key(scene):
    r = read_capture(scene.path, [bytes(16)])
    s = r.summary
    assert s.count(R.WRONG_KEY) == s.nwk_secured + 2  # every secured NWK frame; both Transport-Keys (APS)
    assert s.nwk_decrypted == 0 and r.frames == []
    assert "wrong key: none of 1 keys" in str(next(f for f in s.failures if f.reason is R.WRONG_KEY))


def test_missing_key(scene):
    r = read_capture(scene.path)
    assert r.summary.count(R.MISSING_KEY) == r.summary.nwk_secured + 2 and r.summary.count(R.WRONG_KEY) == 0
    assert "missing key" in str(r.summary)


def test_network_key_only_stops_at_aps(scene):
    r = read_capture(scene.path, [NETWORK_KEY])
    s = r.summary
    assert s.nwk_decrypted == s.nwk_secured and s.aps_decrypted == 0
    assert s.count(R.WRONG_KEY) == s.aps_secured and r.frames == []


def test_install_code_key_alone_misses_the_later_tc_link_key(scene):
    r = read_capture(scene.path, [ESME_LINK_KEY, GSME_LINK_KEY])
    assert r.summary.keys_learned == 1 and r.summary.nwk_decrypted == r.summary.nwk_secured
    assert r.summary.count(R.WRONG_KEY) > 0 and {g.tunnel_id for g in r.frames} == {3}  # only the GSME's tunnel


def tunnel_without_request(path):
    with HanCapture(path, clock=Clock()) as cap:
        cap.add_network(HUB, pan_id=PAN, extended_pan_id=HUB, network_key=NETWORK_KEY)
        cap.join(ESME, HUB, link_key=ESME_LINK_KEY)
        tunnel_frame(cap, HUB, ESME, zcl.transfer_data(1, 9, frame("3.1_GCS07/GCS07_3.1_SUCCESS_COMMAND_GBCS.HEX"),
                                                       to_server=True))
        tunnel_frame(cap, HUB, ESME, zcl.transfer_data(2, 9, b"\x42 not GBCS", to_server=True))


def test_tunnel_whose_request_was_not_captured(tmp_path):
    path = tmp_path / "t.pcap"
    tunnel_without_request(path)
    r = read_capture(path, [ESME_LINK_KEY])
    assert r.summary.count(R.UNKNOWN_TUNNEL) == 1 and r.summary.count(R.NOT_GBCS) == 1
    (g,) = r.frames
    assert g.protocol_id is None and g.tunnel_id == 9 and g.message_code == 0x0071
    strict = read_capture(path, [ESME_LINK_KEY], require_tunnel_request=True)
    assert strict.frames == [] and strict.summary.count(R.UNKNOWN_TUNNEL) == 1
    assert "dropped" in strict.summary.failures[0].detail


def test_missing_fragment_is_incomplete(scene):
    fragments = [n for n in scene.marks["command"]]
    first_fragment = fragments[0]
    r = read_capture(rewrite(scene.path, lambda n, d: None if n == fragments[2] else d), LINK_KEYS)
    assert r.summary.count(R.INCOMPLETE) == 1 and len(r.frames) == 3
    (f,) = [f for f in r.summary.failures if f.reason is R.INCOMPLETE]
    assert "1 of 2 fragments" in f.detail and f.frame_number == first_fragment


def test_malformed_frame(scene):
    r = read_capture(rewrite(scene.path, lambda n, d: with_fcs(b"\x41\x88\x01\xab") if n == 1 else d), LINK_KEYS)
    assert r.summary.count(R.MALFORMED) == 1 and "mac" in r.summary.failures[0].detail


# ------------------------------------------------------------------------------------------ key files
@pytest.mark.parametrize(("text", "message"), [
    ('"00:11:22","Normal","short"', "16 hexadecimal bytes"),
    ('"00112233445566778899aabbccddeeff","normal","x"', "neither Normal nor Reverse"),
    ('"00112233445566778899aabbccddeeff","Normal"', "2 fields"),
    ('"00112233445566778899aabbccddeeff",Normal,"x"', "double-quoted field"),
    ('"00112233445566778899aabbccddeeff","Normal","x', "unterminated"),
    ("not a key at all", "16 hexadecimal bytes"),
])
def test_key_file_errors_name_the_line(text, message):
    with pytest.raises(keyfile.KeyFileError, match=message) as e:
        keyfile.parse("# comment\n\n" + text)
    assert e.value.line == 3


def test_key_file_forms():
    entries = keyfile.parse(
        '"00112233445566778899aabbccddeeff","Reverse","rev \\x22q\\x22"\n'
        '"\\x22ZigBeeAlliance09\\x22","Normal","string key"\n'
        "00-11-22-33-44-55-66-77-88-99-aa-bb-cc-dd-ee-ff\tplain with label\n"
        "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff\n")
    assert entries[0] == keyfile.KeyEntry(bytes.fromhex("ffeeddccbbaa99887766554433221100"), 'rev "q"')
    assert entries[1].key == b"ZigBeeAlliance09"
    assert entries[2] == keyfile.KeyEntry(bytes.fromhex("00112233445566778899aabbccddeeff"), "plain with label")
    assert entries[3].key == entries[2].key and entries[3].label == "line 4"
    with pytest.raises(ValueError):
        keyfile.format_key(bytes(15))


def test_damaged_frames_never_escape_as_exceptions(scene):
    """Every frame of the scene with random octets changed (FCS made right again, so the damage reaches the
    upper layers): the reader reports failures, it does not raise."""
    import random

    rng = random.Random(16)
    frames = len(list(read_packets(scene.path)))
    for _round in range(20):
        def damage(n, d):
            body = bytearray(d[:-2])
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            if rng.random() < 0.3:
                del body[rng.randrange(len(body)):]
            return with_fcs(bytes(body))

        r = read_capture(rewrite(scene.path, damage), LINK_KEYS)
        assert r.summary.radio_frames == r.summary.frames_read == frames and r.summary.failures
