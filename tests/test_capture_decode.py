"""`chf decode --pcap`: the GBCS frames of a capture decoded exactly as `chf decode` decodes them (the same JSON
object plus `capture`, the same text under a headline), from our captures and from one we did not write (built
byte by byte in test_capture_foreign from the specifications: four link types, ZEP, TAP, big-endian pcapng);
bad captures and bad keys give clear messages, a summary and an exit status."""

from __future__ import annotations

import json
import re
import struct

import pytest

from capture_scenes import ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME_LINK_KEY, join_and_tunnel
from chf.app.cli import main
from test_capture_foreign import LK, NK, foreign_capture
from zigbee.capture.pcap import PcapWriter


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return join_and_tunnel(tmp_path_factory.mktemp("decode") / "han.pcapng", large=True)


@pytest.fixture
def foreign(tmp_path):
    data, command = foreign_capture()
    path = tmp_path / "foreign.pcapng"
    path.write_bytes(data)
    return path, command


def run(capsys, *args):
    code = main(["decode", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def test_a_capture_we_did_not_write(capsys, foreign, rtds_keys):
    path, command = foreign
    code, out, err = run(capsys, "--pcap", str(path), "--zigbee-keys", NK.hex(), "--zigbee-keys",
                         ":".join(f"{b:02x}" for b in LK), "--keys", str(rtds_keys), "--json")
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    c = row["capture"]
    assert (c["frame"], c["frames"], c["mac_src"], c["mac_dst"], c["pan_id"]) == (5, [4, 5], "0x0000", "0x4d2c",
                                                                                 "0xbeef")
    assert (c["src_eui"], c["tunnel_id"], c["protocol_id"], c["direction"]) == ("0012345678ABCDEF", 0x42, 6,
                                                                                 "to server")
    assert c["time"] == "2023-11-14T22:13:20.004000Z" and c["file"] == str(path)
    assert row["message_code"] == "0x0071" and row["mac"] == "valid"
    # exactly what `chf decode` says of the frame itself
    assert main(["decode", command.hex(), "--keys", str(rtds_keys), "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert without(row, "source", "capture") == without(direct, "source")
    assert row["source"] == f"{path}#5"
    assert "5 frames read (4 802.15.4), 4 of 4 secured frames decrypted, 0 keys learned, 1 GBCS frames found, " \
           "0 failures" in err


def test_text_is_chf_decode_text_under_a_headline(capsys, foreign, rtds_keys):
    path, command = foreign
    code, out, _ = run(capsys, "--pcap", str(path), "--zigbee-keys", NK.hex(), "--zigbee-keys", LK.hex(),
                       "--keys", str(rtds_keys))
    assert code == 0
    head, *body = out.splitlines()
    assert head == (f"== {path} frame 5 at 2023-11-14T22:13:20.004000Z: 0x0000 (0012345678ABCDEF) → 0x4d2c "
                    "(0022446688AACCEE), tunnel 66 to server; frames 4, 5")
    main(["decode", command.hex(), "--keys", str(rtds_keys)])
    _, *direct = capsys.readouterr().out.splitlines()
    assert body == direct


def test_our_capture_round_trip_through_the_command(capsys, scene):
    code, out, err = run(capsys, "--pcap", str(scene.path), "--json")  # keys: han.pcapng.keys, found beside it
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["message_code"] for r in rows] == ["0x0071", "0x0071", "0x0107", "0x0071", "0x0071"]
    assert [r["length"] for r in rows] == [len(scene.gbcs["command"]), len(scene.gbcs["response"]), 1902,
                                           len(scene.gbcs["command"]), len(scene.gbcs["response"])]
    assert [r["capture"]["tunnel_header"] for r in rows][-2:] == ["GET-RESPONSE", "PUT"]
    assert len(rows[2]["capture"]["frames"]) > 30  # 33 APS fragments in two GBT blocks
    assert f"ZigBee keys from {scene.keys_path}" in err


def test_our_capture_with_link_keys_given_as_hex(capsys, scene):
    keys = [k.hex() for k in (ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME_LINK_KEY)]
    code, out, _ = run(capsys, "--pcap", str(scene.path), *(a for k in keys for a in ("--zigbee-keys", k)), "--json")
    assert code == 0 and len(out.splitlines()) == 5


def test_frames_and_a_capture_in_one_run(capsys, foreign, rtds_keys):
    path, command = foreign
    code, out, _ = run(capsys, command.hex(), "--pcap", str(path), "--zigbee-keys", NK.hex(), "--zigbee-keys",
                       LK.hex(), "--keys", str(rtds_keys), "--json")
    assert code == 0 and [json.loads(x)["source"] for x in out.splitlines()] == ["argument", f"{path}#5"]


# ------------------------------------------------------------------------------------------ bad captures, bad keys
def test_not_a_capture(capsys, tmp_path):
    p = tmp_path / "x.pcap"
    p.write_bytes(b"GIF89a, not a capture at all")
    code, out, err = run(capsys, "--pcap", str(p))
    assert code == 2 and out == ""
    assert f"--pcap {p}: not a capture this reader takes: at byte 0: magic 47494638 is neither pcap nor pcapng" in err


def test_unknown_link_type(capsys, tmp_path):
    p = tmp_path / "wifi.pcap"
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105))
    code, _, err = run(capsys, "--pcap", str(p))
    assert code == 2 and "at byte 20: link type 105 is not one of 195" in err


def test_truncated_capture_is_counted(capsys, scene, tmp_path):
    p = tmp_path / "cut.pcapng"
    p.write_bytes(scene.path.read_bytes()[:-30])
    code, out, err = run(capsys, "--pcap", str(p), "--zigbee-keys", str(scene.keys_path), "--json")
    assert code == 1 and len(out.splitlines()) == 5  # every GBCS frame before the cut
    assert "1 failure: 1 truncated capture" in err and "capture: truncated capture: at byte" in err


def test_wrong_and_missing_keys(capsys, scene):
    code, out, err = run(capsys, "--pcap", str(scene.path), "--zigbee-keys", "00" * 16)
    assert code == 1 and out == ""
    assert "0 of " in err and "0 GBCS frames found" in err and "wrong key" in err
    listed = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(listed) == 21 and re.fullmatch(r"  … and \d+ more", listed[-1])  # 20 listed, each with its frame
    assert all(re.match(r"  frame \d+: wrong key: (nwk|aps): wrong key: none of 1 keys decrypts", x) for x in listed[:-1])


def test_tunnel_request_not_captured_is_a_note(capsys, scene, tmp_path):
    from zigbee.capture.pcap import read_packets

    marks = scene.marks
    drop = set(marks["request_tunnel"] + marks["request_tunnel_response"])
    p = tmp_path / "late.pcap"
    with PcapWriter(p) as w:
        for pk in read_packets(scene.path):
            if pk.number not in drop:
                w.write_us(pk.data, pk.time_ns // 1000)
    code, out, err = run(capsys, "--pcap", str(p), "--zigbee-keys", str(scene.keys_path), "--json")
    assert code == 0 and len(out.splitlines()) == 5
    assert "tunnel whose request was not captured" in err
    assert json.loads(out.splitlines()[0])["capture"]["protocol_id"] is None


@pytest.mark.parametrize("text, message", [
    ('"01:02","Normal","short"\n', "line 1: "),
    ('# a comment\n"00112233445566778899aabbccddeeff","normal","x"\n', "line 2: byte order 'normal'"),
])
def test_bad_key_file_names_the_line(capsys, scene, tmp_path, text, message):
    k = tmp_path / "keys"
    k.write_text(text)
    code, _, err = run(capsys, "--pcap", str(scene.path), "--zigbee-keys", str(k))
    assert code == 2 and f"--zigbee-keys {k}: {message}" in err


def test_missing_files_and_misuse(capsys, scene, tmp_path):
    code, _, err = run(capsys, "--pcap", str(tmp_path / "nope.pcap"))
    assert code == 2 and "nope.pcap: no such file" in err
    code, _, err = run(capsys, "--pcap", str(tmp_path))
    assert code == 2 and "is a directory, not a capture" in err
    code, _, err = run(capsys, "--pcap", str(scene.path), "--zigbee-keys", str(tmp_path / "nokeys"))
    assert code == 2 and "no such file (and not a 32-hex-digit key)" in err
    code, _, err = run(capsys, "--zigbee-keys", "00" * 16, "DD00")
    assert code == 2 and "--zigbee-keys goes with --pcap" in err
    code, _, err = run(capsys)
    assert code == 2 and "give frames (FILE, HEX or -) or --pcap CAP" in err
