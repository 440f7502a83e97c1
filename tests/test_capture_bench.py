"""Everything the medium carries becomes frames: a two-hub bench captured from its start (`start_bench(pcap=…)`)
through an install-code join, a CS07 over the tunnel, a wrong install code (a join refused), CCS02 (Mgmt_Leave,
the meter's NWK leave) and CCS01 again with the historic key, a sleepy GSME polling its hub (GET), a lost
packet, and a TC swap-out (keep-alives unanswered while hub A is off, the orphan's scans, the trust-centre rejoin
on hub B, which re-forms its network with A's Extended PAN ID). Our reader reads every frame back, and tshark
(skipped without it) decrypts all of it with the capture's key file.

The story runs twice: with CBKE (the bench default: each install-code join, and the re-authentication of the
swapped-in hub B, is a Key Establishment exchange on the air, whose key only the key file holds) and with
`key_establishment = "derived"` (the emulated key goes on the air as a Transport-Key of the TC link key). Beside
the capture's tap, a recorder on the medium notes what each APS packet's sender really held as TC link key when
it sent it (the node's key, or its hub's key-table entry), and every APS-secured frame must have been secured
with exactly that key."""

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
from zigbee.capture import aps, keyfile, mac, nwk, read_capture
from zigbee.capture.pcap import read_packets
from zigbee.cbke.certificate import decode_certificate
from zigbee.cbke.cluster import Command, InitiateKeyEstablishment
from zigbee.cbke.suites import Suite
from zigbee.key_establishment import KeySource
from zigbee.key_establishment import decode as decode_ke
from zigbee.keys import swap_out_key
from zigbee.node import NodeState
from zigbee.virtual_radio import to_ieee

A, B = "02C0FFEE0000A001", "02C0FFEE0000B001"
ESME, OTHER, GSME = "02C0FFEE000E5E01", "02C0FFEE000E5E02", "02C0FFEE000E6A01"
IC, IC2, GIC = "83FED3407A939723A5C639B26916D505", "00112233445566778899AABBCCDDEEFF", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
SCALE = 120


KE = 0x0800
KE_EXCHANGE = ["read suite", "read suite response", "INITIATE_KEY_ESTABLISHMENT request",
               "INITIATE_KEY_ESTABLISHMENT response", "EPHEMERAL_DATA request", "EPHEMERAL_DATA response",
               "CONFIRM_KEY request", "CONFIRM_KEY response"]


def bench_text(mode: str) -> str:
    hubs = "".join(f'[[hub]]\nname = "{n}"\neui = "{e}"\nwan = "127.0.0.1:0"\n' for n, e in (("A", A), ("B", B)))
    meters = "".join(f'[[meter]]\ntype = "{t}"\neui = "{e}"\ninstall_code = "{c}"\n'
                     for t, e, c in (("esme", ESME, IC), ("esme", OTHER, IC2), ("gsme", GSME, GIC)))
    return (f'keys = "keys"\nkeep_alive_s = 30\ntime_scale = {SCALE}\ngsme_poll_s = 30\n'
            f'key_establishment = "{mode}"\n{hubs}{meters}')


class Recorder:
    """A medium observer behind the capture's tap: for each APS packet, the capture frames the tap wrote for it
    and the TC link key its sender held when it sent it (a node's own; a hub's key-table entry for the node)."""

    def __init__(self, medium, tap) -> None:
        self.medium, self.tap = medium, tap
        self.seen = tap.frames
        self.packets: list[dict] = []

    def _mark(self, *_args) -> None:
        self.seen = self.tap.frames

    on_scan = on_join = on_keep_alive = on_key_established = on_leave = _mark

    def on_packet(self, src, dst, packet, delivered) -> None:
        hub, node = (src, dst) if src in self.medium.radios else (dst, src)
        held = (self.medium.radios[hub].trusts(to_ieee(node)) if src == hub
                else self.medium.nodes[node].tc_link_key)
        self.packets.append({"frames": range(self.seen + 1, self.tap.frames + 1), "src": src, "dst": dst,
                             "cluster": int(packet.cluster_id), "data": packet.data.serialize(), "key": held})
        self._mark()


def ke_name(payload: bytes) -> str:
    f = decode_ke(payload)
    if f.general:
        return "read suite" if f.to_server else "read suite response"
    if f.command == Command.TERMINATE_KEY_ESTABLISHMENT:
        return "TERMINATE_KEY_ESTABLISHMENT"
    return f"{Command(f.command).name} {'request' if f.to_server else 'response'}"


def _until(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return bool(cond())


@pytest.fixture(scope="module", params=["cbke", "derived"])
def story(request, tmp_path_factory):
    mode = request.param
    tmp = tmp_path_factory.mktemp(f"story-{mode}")
    cap = tmp / "han.pcapng"
    bench = parse(bench_text(mode), tmp / "bench.toml")
    out: dict[str, object] = {"mode": mode, "cap": cap, "frames": [], "cs14": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMSHUB_RUNTIME_DIR", str(tmp / "run"))  # no entry in the user's list of running benches
        with BenchThread(bench, pcap=cap) as bt:
            medium = bt.running.medium
            recorder = Recorder(medium, next(iter(bt.running.captures.values())))
            bt.call(lambda: medium.observers.append(recorder))
            remote = BenchRemote(bench.keys, tmp / "ctr.json")
            a, b = bench.hub("A").eui, bench.hub("B").eui
            esme, other, gsme = bytes.fromhex(ESME), bytes.fromhex(OTHER), bytes.fromhex(GSME)
            node = bt.running.nodes[esme]
            with HubLink(*bt.address("A")) as la, HubLink(*bt.address("B")) as lb:
                def join(link, hub, eui, ic, kind="esme"):
                    mark = sum(1 for t in link.journal if t.direction == "received")
                    link.request(remote.chf(hub, "CCS01", device=eui, install_code=bytes.fromhex(ic), device_type=kind), 5)
                    cs14 = link.wait_for(lambda f: bool(_cs14_hash(f, eui)), 10, mark)
                    if cs14 is not None:
                        out["cs14"].append((eui, _cs14_hash(cs14, eui)))
                    return cs14

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
                # three keep-alives unanswered, the orphan's scans, its trust-centre rejoin on B, on the bench's
                # clock (an ADVANCE could cut into the CBKE that follows: its timeouts are emulated time too)
                assert _until(lambda: node.network is not None and node.network.hub == b, 30)
                if mode == "cbke":  # the meter re-authenticates the swapped-in trust centre (docs/cbke.md)
                    assert _until(lambda: node.key_source is KeySource.CBKE and not node.registration.running, 30)
                answer = None
                deadline = time.monotonic() + 30
                while answer is None and time.monotonic() < deadline:
                    answer = lb.request(remote.meter(b, esme, "CS07"), 1)
                assert answer is not None
                out["frames"].append(answer)
                out["sent"] = [t.frame for link in (la, lb) for t in link.journal if t.direction == "sent"]
                out["received"] = [t.frame for link in (la, lb) for t in link.journal if t.direction == "received"]
            out["skipped"] = [t.skipped for t in bt.running.captures.values()]
            out["packets"] = recorder.packets
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
        if d.aps is not None and d.aps.header.cluster == KE and d.aps_payload is not None:
            kinds[f"key establishment {ke_name(d.aps_payload)}"] += 1
    for k in ("BEACON_REQUEST", "beacon", "beacon permit", "AssociationRequest", "AssociationResponse ok",
              "AssociationResponse denied", "DATA_REQUEST", "mac ack", "transport key STANDARD_NETWORK",
              "RejoinRequest", "RejoinResponse", "Leave", "aps ack", "aps fragment",
              "cluster 0x0013", "cluster 0x0034", "cluster 0x0025", "cluster 0x0002", "request_tunnel",
              "request_tunnel_response", "transfer_data"):
        assert kinds[k] > 0, (k, kinds)
    if story["mode"] == "derived":  # the emulated key goes on the air, and no Key Establishment frame
        assert kinds["transport key TC_LINK"] > 0 and kinds["cluster 0x0800"] == 0, kinds
    else:  # CBKE: the exchange is on the air, its key is not
        assert kinds["transport key TC_LINK"] == 0, kinds
        for k in KE_EXCHANGE:
            assert kinds[f"key establishment {k}"] > 0, (k, kinds)
    # the trust-centre rejoin is unsecured at NWK and answered with a Transport-Key
    rejoins = [d for d in r.dissections if isinstance(d.nwk_command, nwk.RejoinRequest)]
    assert rejoins and all(d.nwk.aux is None for d in rejoins)


def test_every_frame_is_secured_with_the_key_its_sender_held(story):
    """Both ends' keys, packet by packet: before CBKE the install-code key; the hub's from the moment its trust
    centre installed the agreed key, the meter's from the moment it checked MACV; after a swap-out the hash B
    restored, then B's CBKE key. Key Establishment and ZDO frames carry no APS security."""
    by_number = {d.number: d for d in story["reading"].dissections}
    checked = Counter()
    for p in story["packets"]:
        data = [by_number[n] for n in p["frames"] if by_number[n].aps is not None
                and by_number[n].aps.header.frame_type == aps.ApsFrameType.DATA]
        for d in data:
            if p["cluster"] == KE or d.aps.header.profile == 0x0000:
                assert not d.aps.header.security, (d.number, hex(p["cluster"]))
            elif d.aps.header.security:
                assert d.aps.key == p["key"], (d.number, hex(p["cluster"]), p["src"].hex())
                checked["hub" if p["src"] in (bytes.fromhex(A), bytes.fromhex(B)) else "meter"] += 1
    assert checked["hub"] > 10 and checked["meter"] > 10, checked


def test_the_key_establishment_exchanges_are_in_the_capture_frame_for_frame(story):
    """The ESME's exchange with A after its install-code join, the GSME's with A, and the ESME's with B after the
    swap-out: each the suite read and the six commands, certificates of meter and hub, no Terminate, byte for
    byte what the medium carried; the frames after each are secured with the key the hub then reported in CS14
    (the ESME's) and the key file names it."""
    r = story["reading"]
    ke = [d for d in r.dissections if d.aps is not None and d.aps.header.cluster == KE
          and d.aps.header.frame_type == aps.ApsFrameType.DATA]
    if story["mode"] == "derived":
        assert ke == [] and not [p for p in story["packets"] if p["cluster"] == KE]
        return
    hubs = (bytes.fromhex(A), bytes.fromhex(B))
    packets = [p for p in story["packets"] if p["cluster"] == KE and p["frames"]]
    assert [d.aps_payload for d in ke] == [p["data"] for p in packets]
    assert [d.nwk.aux.source for d in ke] == [p["src"] for p in packets]  # sent by whom the medium says
    assert all(d.nwk.aux is not None and not d.aps.header.security for d in ke)
    exchanges: dict[tuple[bytes, ...], list[str]] = {}
    subjects: dict[tuple[bytes, ...], list[bytes]] = {}
    for d, p in zip(ke, packets, strict=True):
        pair = (p["dst"], p["src"]) if p["src"] in hubs else (p["src"], p["dst"])  # (meter, hub)
        name = ke_name(d.aps_payload)
        exchanges.setdefault(pair, []).append(name)
        if name.startswith("INITIATE"):
            identity = InitiateKeyEstablishment.decode(decode_ke(d.aps_payload).payload).identity
            subjects.setdefault(pair, []).append(decode_certificate(Suite.SUITE_2, identity).subject)
    esme, gsme, a, b = (bytes.fromhex(x) for x in (ESME, GSME, A, B))
    assert exchanges == {(esme, a): KE_EXCHANGE, (gsme, a): KE_EXCHANGE, (esme, b): KE_EXCHANGE}
    assert subjects == {(esme, a): [esme, a], (gsme, a): [gsme, a], (esme, b): [esme, b]}
    cbke_keys = {e.key for e in keyfile.read(f"{story['cap']}.keys") if e.label.startswith("CBKE TC link key")}
    assert len(cbke_keys) == 3  # one per exchange, none of them on the air
    by_number = {d.number: d for d in r.dissections}

    def secured_after(meter: bytes, hub: bytes) -> list:
        """The APS-secured data frames between `meter` and `hub` after their Key Establishment exchange."""
        last = max(d.number for d, p in zip(ke, packets, strict=True) if {p["src"], p["dst"]} == {meter, hub})
        return [by_number[n] for p in story["packets"] if {p["src"], p["dst"]} == {meter, hub}
                for n in p["frames"] if n > last and by_number[n].aps is not None
                and by_number[n].aps.header.frame_type == aps.ApsFrameType.DATA and by_number[n].aps.header.security]

    with_a, with_b = secured_after(esme, a), secured_after(esme, b)
    # with A: the key whose hash A reported in CS14 (after the install-code join, and after the historic-key
    # re-join, which keeps it); with B: B's own CBKE key, which carried the last CS07
    hashes = {h for eui, h in story["cs14"] if eui == esme}
    assert with_a and {swap_out_key(d.aps.key) for d in with_a} == hashes and len(hashes) == 1
    assert with_b and len({d.aps.key for d in with_b}) == 1 and with_b[0].aps.key in cbke_keys
    assert with_b[0].aps.key != with_a[0].aps.key
    last = [g for g in r.frames if g.data == story["frames"][-1]][0]
    assert set(last.frames) <= {d.number for d in with_b}


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
