"""Everything the medium carries becomes frames: a two-hub bench captured from its start (`start_bench(pcap=…)`)
through an install-code join, a CS07 over the tunnel, a wrong install code (a join refused), CCS02 (Mgmt_Leave,
the meter's NWK leave) and CCS01 again with the historic key, a sleepy GSME polling its hub (GET), a lost
packet, and a TC swap-out (keep-alives unanswered while hub A is off, the orphan's scans, the trust-centre rejoin
on hub B, which re-forms its network with A's Extended PAN ID). Our reader reads every frame back, and tshark
(skipped without it) decrypts all of it with the capture's key file."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from chf.config.bench_file import parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage import entry_from_backup
from chf.remote.triage_steps import _cs14_hash
from chf.runtime.bench import BenchThread
from gbcs.frame import decode_frame
from zigbee.capture import aps, mac, nwk, read_capture
from zigbee.capture.pcap import read_packets
from zigbee.node import NodeState

A, B = "02C0FFEE0000A001", "02C0FFEE0000B001"
ESME, OTHER, GSME = "02C0FFEE000E5E01", "02C0FFEE000E5E02", "02C0FFEE000E6A01"
IC, IC2, GIC = "83FED3407A939723A5C639B26916D505", "00112233445566778899AABBCCDDEEFF", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
SCALE = 120


def bench_text() -> str:
    hubs = "".join(f'[[hub]]\nname = "{n}"\neui = "{e}"\nwan = "127.0.0.1:0"\n' for n, e in (("A", A), ("B", B)))
    meters = "".join(f'[[meter]]\ntype = "{t}"\neui = "{e}"\ninstall_code = "{c}"\n'
                     for t, e, c in (("esme", ESME, IC), ("esme", OTHER, IC2), ("gsme", GSME, GIC)))
    return f'keys = "keys"\nkeep_alive_s = 30\ntime_scale = {SCALE}\ngsme_poll_s = 30\n{hubs}{meters}'


def _until(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return bool(cond())


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("story")
    cap = tmp / "han.pcapng"
    bench = parse(bench_text(), tmp / "bench.toml")
    out: dict[str, object] = {"cap": cap, "frames": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMSHUB_RUNTIME_DIR", str(tmp / "run"))  # no entry in the user's list of running benches
        with BenchThread(bench, pcap=cap) as bt:
            remote = BenchRemote(bench.keys, tmp / "ctr.json")
            a, b = bench.hub("A").eui, bench.hub("B").eui
            esme, other, gsme = bytes.fromhex(ESME), bytes.fromhex(OTHER), bytes.fromhex(GSME)
            node = bt.running.nodes[esme]
            with HubLink(*bt.address("A")) as la, HubLink(*bt.address("B")) as lb:
                def join(link, hub, eui, ic, kind="esme"):
                    mark = sum(1 for t in link.journal if t.direction == "received")
                    link.request(remote.chf(hub, "CCS01", device=eui, install_code=bytes.fromhex(ic), device_type=kind), 5)
                    return link.wait_for(lambda f: bool(_cs14_hash(f, eui)), 10, mark)

                assert join(la, a, esme, IC)
                out["frames"].append(la.request(remote.meter(a, esme, "CS07"), 5))
                # the hub whitelists another code than OTHER's: its joins are refused for the whole window
                la.request(remote.chf(a, "CCS01", device=other, install_code=bytes.fromhex(IC), device_type="esme"), 5)
                assert join(la, a, gsme, GIC, "gsme")
                # CCS02: Mgmt_Leave, the meter leaves; CCS01 again: it joins with its historic TC link key
                la.request(remote.chf(a, "CCS02", device=esme), 5)
                assert _until(lambda: node.state is NodeState.LEFT, 5)
                assert join(la, a, esme, IC)
                out["frames"].append(la.request(remote.meter(a, esme, "CS07"), 5))
                # a packet lost on the air (the hub's RequestTunnel to the GSME is not tried: it is sleepy)
                bt.call(lambda: bt.running.medium.set_link(esme, a, loss=1.0))
                la.request(remote.meter(a, esme, "CS07"), 0.5)
                bt.call(lambda: bt.running.medium.set_link(esme, a, loss=0.0))
                # swap-out onto B
                epid, hashed = entry_from_backup(la.request(remote.chf(a, "CCS07"), 5), esme)
                lb.request(remote.chf(b, "CCS03", epid=epid, entries=[(esme, hashed)]), 5)
                la.control("POWER OFF")
                answer = None
                deadline = time.monotonic() + 30
                while answer is None and time.monotonic() < deadline:
                    lb.control("ADVANCE 30")
                    if node.network is None or node.network.hub != b:
                        time.sleep(0.05)
                        continue
                    answer = lb.request(remote.meter(b, esme, "CS07"), 1)
                assert answer is not None
                out["frames"].append(answer)
                out["sent"] = [t.frame for link in (la, lb) for t in link.journal if t.direction == "sent"]
                out["received"] = [t.frame for link in (la, lb) for t in link.journal if t.direction == "received"]
            out["skipped"] = [t.skipped for t in bt.running.captures.values()]
    out["reading"] = read_capture(cap, keys_file=f"{cap}.keys")
    return out


def test_every_frame_is_read_back_without_failure(story):
    r = story["reading"]
    assert r.summary.failures == [] and story["skipped"] == [0]
    assert all(p.data and len(p.data) <= 127 for p in read_packets(story["cap"]))
    assert r.summary.nwk_secured == r.summary.nwk_decrypted and r.summary.aps_secured == r.summary.aps_decrypted


def test_every_kind_of_event_is_on_the_air(story):
    r = story["reading"]
    kinds = Counter()
    for d in r.dissections:
        m = d.mac
        if m is None:
            continue
        if m.frame_type == mac.FrameType.BEACON:
            kinds["beacon" + (" permit" if mac.BeaconFields.decode(m.payload).association_permit else "")] += 1
        elif m.frame_type == mac.FrameType.ACK:
            kinds["mac ack"] += 1
        elif d.mac_command is not None:
            c = d.mac_command
            name = type(c).__name__
            if isinstance(c, mac.AssociationResponse):
                name += " denied" if c.status == mac.AssociationStatus.PAN_ACCESS_DENIED else " ok"
            elif isinstance(c, mac.BareCommand):
                name = c.command.name
            kinds[name] += 1
        if d.nwk_command is not None:
            kinds[type(d.nwk_command).__name__] += 1
        if isinstance(d.aps_command, aps.TransportKey):
            kinds[f"transport key {d.aps_command.key_type.name}"] += 1
        if d.aps is not None and d.aps.header.frame_type == aps.ApsFrameType.ACK:
            kinds["aps ack"] += 1
        if d.aps is not None and d.aps.header.fragmentation != aps.Fragmentation.NONE:
            kinds["aps fragment"] += 1
        if d.aps is not None and d.aps.header.frame_type == aps.ApsFrameType.DATA:
            kinds[f"cluster 0x{d.aps.header.cluster:04x}"] += 1
        if d.tunnel is not None:
            kinds[d.tunnel.name] += 1
    for k in ("BEACON_REQUEST", "beacon", "beacon permit", "AssociationRequest", "AssociationResponse ok",
              "AssociationResponse denied", "DATA_REQUEST", "mac ack", "transport key STANDARD_NETWORK",
              "transport key TC_LINK", "RejoinRequest", "RejoinResponse", "Leave", "aps ack", "aps fragment",
              "cluster 0x0013", "cluster 0x0034", "cluster 0x0025", "cluster 0x0002", "request_tunnel",
              "request_tunnel_response", "transfer_data"):
        assert kinds[k] > 0, (k, kinds)
    # the trust-centre rejoin is unsecured at NWK and answered with a Transport-Key
    rejoins = [d for d in r.dissections if isinstance(d.nwk_command, nwk.RejoinRequest)]
    assert rejoins and all(d.nwk.aux is None for d in rejoins)


def test_gbcs_frames_are_those_exchanged_over_the_wan(story):
    r = story["reading"]
    carried = [g.data for g in r.frames]
    cs07 = [f for f in story["sent"] if decode_frame(f).header.message_code == 0x0013]
    assert len(cs07) == 4
    for f in cs07:
        assert f in carried  # the lost one too: it went on the air
    for f in story["frames"]:
        assert f in carried
    tunnelled = {g.dst_eui.hex().upper() for g in r.frames if g.to_server}
    assert tunnelled == {ESME}
    # the last CS07 went through hub B, on B's re-formed network (A's Extended PAN ID, its own network key)
    last = [g for g in r.frames if g.data == story["frames"][-1]][0]
    assert last.src_eui == bytes.fromhex(ESME) and last.dst_eui == bytes.fromhex(B)


def test_a_lost_packet_has_no_acks(story):
    r = story["reading"]
    by_number = {d.number: d for d in r.dissections}
    answered = {decode_frame(f).header.counter for f in story["received"]}
    lost = [g for g in r.frames if g.to_server and g.message_code == 0x0013 and g.counter not in answered]
    assert len(lost) == 1
    for n in lost[0].frames:  # every fragment went on the air, and nothing acknowledged it
        assert by_number[n].mac.ack_request and by_number[n + 1].mac.frame_type != mac.FrameType.ACK


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decrypts_everything_with_the_key_file(story, tmp_path):
    cap = story["cap"]
    (tmp_path / "ws").mkdir()
    shutil.copy(f"{cap}.keys", tmp_path / "ws" / "zigbee_pc_keys")
    out = subprocess.run(["tshark", "-r", str(cap), "-T", "fields", "-E", "occurrence=f", "-e", "frame.number",
                          "-e", "_ws.malformed", "-e", "zbee_sec.encrypted_payload", "-e", "wpan.fcs_ok", "-e",
                          "gbcs_message.grouping_header.message_code"], capture_output=True, text=True, timeout=120,
                         check=True, env={**os.environ, "WIRESHARK_CONFIG_DIR": str(tmp_path / "ws")})
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == story["reading"].summary.frames_read
    assert not [r for r in rows if r[1] or r[2] or r[3] != "1"]
    assert sum(1 for r in rows if r[4] == "0x0013") == sum(1 for g in story["reading"].frames
                                                          if g.message_code == 0x0013)


def test_capture_file_name_is_absolute_in_the_bench(story):
    assert Path(story["cap"]).is_absolute()
