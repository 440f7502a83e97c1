"""tshark (Wireshark 4.0) as the independent reader of our captures: a join and tunnel exchanges carrying RTDS
GBCS frames decrypt, with the TC link keys only, down to the Tunnelling cluster and the GBCS dissector's message
code and counter, in the same frames where our reader finds them. Skipped without tshark."""

import os
import shutil
import subprocess

import pytest

from capture_scenes import ESME_LINK_KEY, ESME_TC_LINK_KEY, GSME_LINK_KEY, NETWORK_KEY, join_and_tunnel
from zigbee.capture import KeyEntry, read_capture
from zigbee.capture.keyfile import uat_option

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

FIELDS = ["frame.number", "wpan.fcs_ok", "_ws.malformed", "_ws.col.Info", "zbee_zcl_se.tun.protocol_id",
          "zbee_zcl_se.tun.tunnel_id", "gbcs_tunnel.command", "gbcs_message.grouping_header.message_code",
          "gbcs_message.grouping_header.originator_counter", "zbee_aps.cmd.key", "zbee_sec.encrypted_payload"]
LINK_KEYS = [KeyEntry(ESME_LINK_KEY, "ESME install code"), KeyEntry(ESME_TC_LINK_KEY, "ESME TC link key"),
             KeyEntry(GSME_LINK_KEY, "GSME link key")]


def tshark(path, config_dir, *options, env=None):
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for o in options:
        cmd += ["-o", o]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(config_dir), **(env or {})})
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return join_and_tunnel(tmp_path_factory.mktemp("ws") / "han.pcapng", large=True)


@pytest.fixture
def empty_config(tmp_path):
    d = tmp_path / "wireshark"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def ours(scene):
    return read_capture(scene.path, keys_file=scene.keys_path)


def gbcs_rows(rows):
    return {int(r["frame.number"]): (int(r["gbcs_message.grouping_header.message_code"], 16),
                                     int(r["gbcs_message.grouping_header.originator_counter"]))
            for r in rows if r["gbcs_message.grouping_header.message_code"]}


def test_tshark_decrypts_join_and_tunnels_with_tc_link_keys_only(scene, ours, empty_config):
    rows = tshark(scene.path, empty_config, *(uat_option(e) for e in LINK_KEYS))
    assert len(rows) == ours.summary.frames_read
    assert all(r["wpan.fcs_ok"] == "1" and not r["_ws.malformed"] for r in rows)
    info = {int(r["frame.number"]): r["_ws.col.Info"] for r in rows}
    join = scene.marks["join"]
    assert info[join[0]] == "Beacon Request" and info[join[1]].startswith("Beacon, Src: 0x0000")
    assert info[join[2]] == "Association Request, FFD" and info[join[6]].startswith("Association Response, PAN: 0x1234")
    assert info[join[8]] == "Transport Key" and info[join[10]].startswith("Device Announcement")
    assert info[scene.marks["leave"][0]] == "Leave"
    # the network key was learned from the decrypted Transport-Key
    assert rows[join[8] - 1]["zbee_aps.cmd.key"].replace(":", "") == NETWORK_KEY.hex()
    assert not any(r["zbee_sec.encrypted_payload"] for r in rows)
    assert rows[scene.marks["request_tunnel"][0] - 1]["zbee_zcl_se.tun.protocol_id"] == "0x06"
    assert "Read Attributes" in info[scene.marks["keep_alive"][0]]
    # GBCS: same frames, message codes and counters as our reader; the GSME's tunnel headers
    assert gbcs_rows(rows) == {g.frame_number: (g.message_code, g.counter) for g in ours.frames}
    assert gbcs_rows(rows)[ours.frames[0].frame_number] == (0x0071, 1002)
    assert len(ours.frames) == 5 and max(len(g.data) for g in ours.frames) == 1902  # GBT blocks, 33 fragments
    headers = {int(r["frame.number"]): r["gbcs_tunnel.command"] for r in rows if r["gbcs_tunnel.command"]}
    assert sorted(headers.values()) == ["0x01", "0x02", "0x03"]
    assert {g.frame_number: g.tunnel_header for g in ours.frames if g.tunnel_header} == \
        {n: {"0x02": "GET-RESPONSE", "0x03": "PUT"}[h] for n, h in headers.items() if h != "0x01"}


def test_tshark_reads_our_key_file_as_its_zigbee_pc_keys(scene, ours, empty_config):
    shutil.copy(scene.keys_path, empty_config / "zigbee_pc_keys")
    rows = tshark(scene.path, empty_config)
    assert gbcs_rows(rows) == {g.frame_number: (g.message_code, g.counter) for g in ours.frames}


def test_tshark_without_keys_sees_only_encrypted_payloads(scene, empty_config):
    rows = tshark(scene.path, empty_config)
    assert gbcs_rows(rows) == {}
    assert sum(1 for r in rows if r["zbee_sec.encrypted_payload"]) > 20


def test_tshark_with_network_key_only_stops_at_aps(scene, empty_config):
    rows = tshark(scene.path, empty_config, uat_option(KeyEntry(NETWORK_KEY, "nk")))
    assert gbcs_rows(rows) == {}
    info = {int(r["frame.number"]): r["_ws.col.Info"] for r in rows}
    assert info[scene.marks["leave"][0]] == "Leave"  # NWK command: decrypted
    assert info[scene.marks["join"][8]] == "APS: Command"  # Transport-Key: needs the link key


def test_tshark_reads_pcap_too(tmp_path, empty_config):
    s = join_and_tunnel(tmp_path / "han.pcap", pcapng=False)
    assert s.path.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    ours = read_capture(s.path, LINK_KEYS)
    rows = tshark(s.path, empty_config, *(uat_option(e) for e in LINK_KEYS))
    assert gbcs_rows(rows) == {g.frame_number: (g.message_code, g.counter) for g in ours.frames}
    assert len(ours.frames) == 4
