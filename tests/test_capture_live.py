"""Captures of a running bench, end to end: `chf run --bench FILE --pcap CAP` in its own process, an ESME joined
with CCS01 (and CBKE, the bench default) and read with CS07 through the hub, and the same HAN captured at the
same time four more ways — by `CHF:PCAP START` after the join, by our extcap driven as Wireshark drives it (a
FIFO, SIGTERM), by an extcap left running until the bench stops (end of file), and by tshark itself through the
installed extcap launcher. The captures are read by our reader, by `chf decode --pcap` and by tshark (skipped
without it). The CBKE-agreed TC link key is never on the air: the bench's key file (or `chf extcap keys`) has it.
A second bench with `key_establishment = "derived"` shows the emulated key's Transport-Key, which lets the
install-code key alone decrypt a join captured whole."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from rtds_data import REPO

from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _cs14_hash
from gbcs.frame import decode_frame
from zigbee.capture import KeyEntry, aps, keyfile, read_capture
from zigbee.capture.keyfile import uat_option
from zigbee.capture.pcap import read_packets
from zigbee.cbke.certificate import decode_certificate
from zigbee.cbke.cluster import Command, InitiateKeyEstablishment
from zigbee.cbke.suites import Suite
from zigbee.key_establishment import decode as decode_ke
from zigbee.keys import install_code_key, swap_out_key

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
HUB, ESME = "02C0FFEE0000A001", "02C0FFEE000E5E01"
IC = "83FED3407A939723A5C639B26916D505"
CS07 = 0x0013
KE = 0x0800
IC_KEY = install_code_key(bytes.fromhex(IC))


def chf(*args: str, env: dict[str, str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chf.app.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout, **kw)


class FifoReader:
    """What Wireshark does with an extcap's FIFO: make it, read it to the end."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.data = path, bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            while chunk := f.read(4096):
                self.data += chunk


@dataclass
class Live:
    tmp: Path
    cap: Path
    keys_dir: Path
    env: dict[str, str]
    pid: int = 0
    interface: str = ""
    interfaces: str = ""
    dlts: str = ""
    config: str = ""
    generic_config: str = ""
    sent: dict[str, bytes] = field(default_factory=dict)
    received: dict[str, bytes] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    extcap_rc: int | None = None
    extcap_stream: bytes = b""
    eof_rc: int | None = None
    eof_stream: bytes = b""
    eof_seconds: float = 0.0
    tshark_capture: Path | None = None
    bench_rc: int | None = None
    registered_while_running: bool = False
    registered_after: bool = True
    leftovers: list[str] = field(default_factory=list)
    keys_out: list[subprocess.CompletedProcess] = field(default_factory=list)
    cs14_hash: bytes | None = None  # the hashed TC link key the hub reported for the ESME (CS14)


def _captures(link: HubLink) -> list[dict]:
    reply = link.control("PCAP STATUS")
    assert reply.startswith("CHF:OK "), reply
    return json.loads(reply[7:])["captures"]


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Live:
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "bench.toml").write_text("\n".join([
        'keys = "keys"', "keep_alive_s = 30", "time_scale = 60", "",
        "[[hub]]", 'name = "A"', f'eui = "{HUB}"', 'wan = "127.0.0.1:0"', 'state = "state-A"', "",
        "[[meter]]", 'type = "esme"', f'eui = "{ESME}"', f'install_code = "{IC}"', ""]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "COMMSHUB_RUNTIME_DIR": str(tmp / "run"),
           "WIRESHARK_CONFIG_DIR": str(tmp / "wireshark"), "TMPDIR": str(tmp / "t")}
    (tmp / "wireshark").mkdir()
    (tmp / "t").mkdir()
    lv = Live(tmp, tmp / "han.pcapng", tmp / "keys", env)
    bench = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(tmp / "bench.toml"),
                              "--pcap", str(lv.cap)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    procs: list[subprocess.Popen] = [bench]
    try:
        lv.pid = bench.pid
        port = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            line = bench.stdout.readline()
            m = re.match(r"hub A \S+ listening on 127\.0\.0\.1:(\d+)", line.strip())
            if m:
                port = int(m.group(1))
                break
            assert line or bench.poll() is None, "the bench stopped"
        assert port, "the bench did not come up"
        lv.registered_while_running = any((tmp / "run").glob(f"commshub-{bench.pid}.json"))
        lv.interfaces = chf("extcap", "--extcap-interfaces", "--extcap-version=4.0", env=env).stdout
        lv.interface = f"commshub-{bench.pid}"
        lv.dlts = chf("extcap", "--extcap-dlts", "--extcap-interface", lv.interface, env=env).stdout
        lv.config = chf("extcap", "--extcap-config", "--extcap-interface", lv.interface, env=env).stdout
        lv.generic_config = chf("extcap", "--extcap-config", "--extcap-interface", "commshub", env=env).stdout
        link = HubLink("127.0.0.1", port)
        expected = 1
        if TSHARK:  # Wireshark's own capture engine through our launcher
            assert chf("extcap", "install", env=env).returncode == 0
            lv.tshark_capture = tmp / "tshark.pcapng"
            procs.append(subprocess.Popen([TSHARK, "-i", lv.interface, "-w", str(lv.tshark_capture)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            expected += 1
        ws, eof = FifoReader(tmp / "ws.fifo"), FifoReader(tmp / "eof.fifo")
        extcap = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "extcap", "--capture", "--extcap-interface",
                                   lv.interface, "--fifo", str(ws.path)], cwd=REPO, env=env)
        eof_extcap = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "extcap", "--capture",
                                       "--extcap-interface", "commshub", "--bench", str(tmp / "bench.toml"),
                                       "--fifo", str(eof.path)], cwd=REPO, env=env)
        procs += [extcap, eof_extcap]
        expected += 2
        _wait(lambda: len(_captures(link)) == expected, 30, f"{expected} captures")

        remote = BenchRemote(lv.keys_dir, tmp / "counters.json")
        hub, meter = bytes.fromhex(HUB), bytes.fromhex(ESME)
        mark = sum(1 for tr in link.journal if tr.direction == "received")
        lv.sent["ccs01"] = remote.chf(hub, "CCS01", device=meter, install_code=bytes.fromhex(IC), device_type="esme")
        assert link.request(lv.sent["ccs01"], 10) is not None
        cs14 = link.wait_for(lambda f: bool(_cs14_hash(f, meter)), 20, mark)
        assert cs14 is not None
        lv.cs14_hash = _cs14_hash(cs14, meter)
        lv.sent["cs07"] = remote.meter(hub, meter, "CS07")
        lv.received["cs07"] = link.request(lv.sent["cs07"], 10)
        # a capture started after the join: it takes the keys the bench has, and writes from then on
        mid = tmp / "mid.pcap"
        lv.replies["start"] = link.control(f"PCAP START {mid}")
        lv.replies["again"] = link.control(f"PCAP START {mid}")
        lv.sent["cs07-mid"] = remote.meter(hub, meter, "CS07")
        lv.received["cs07-mid"] = link.request(lv.sent["cs07-mid"], 10)
        lv.replies["stop"] = link.control(f"PCAP STOP {mid}")
        lv.replies["stop-unknown"] = link.control(f"PCAP STOP {tmp / 'nothing.pcap'}")
        lv.replies["unwritable"] = link.control(f"PCAP START {tmp / 'no' / 'such' / 'dir.pcap'}")
        os.mkfifo(tmp / "nobody.fifo")
        lv.replies["no-reader"] = link.control(f"PCAP START {tmp / 'nobody.fifo'}")
        lv.replies["bad"] = link.control("PCAP RESTART")
        lv.replies["keys"] = link.control("PCAP KEYS")
        lv.keys_out = [chf("extcap", "keys", "--interface", lv.interface, env=env),
                       chf("extcap", "keys", "--bench", str(tmp / "bench.toml"), "--install", env=env),
                       chf("extcap", "keys", "--install", env=env)]  # the one running bench: no need to name it
        link.close()

        extcap.send_signal(signal.SIGTERM)  # Wireshark stops a capture so
        lv.extcap_rc = extcap.wait(30)
        ws.thread.join(10)
        lv.extcap_stream = bytes(ws.data)
        if TSHARK:
            procs[1].send_signal(signal.SIGINT)
            procs[1].wait(60)
        bench.send_signal(signal.SIGTERM)
        lv.bench_rc = bench.wait(30)
        t = time.monotonic()
        lv.eof_rc = eof_extcap.wait(30)  # the bench's end is the end of the stream
        lv.eof_seconds = time.monotonic() - t
        eof.thread.join(10)
        lv.eof_stream = bytes(eof.data)
        lv.registered_after = any((tmp / "run").glob("commshub-*.json"))
        lv.leftovers = [p.name for p in (tmp / "t").iterdir() if p.name.startswith("chf-extcap-")]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return lv


def _listening(bench: subprocess.Popen, name: str = "A") -> int:
    """The WAN port hub `name` of a `chf run --bench` announces."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        line = bench.stdout.readline()
        m = re.match(rf"hub {name} \S+ listening on 127\.0\.0\.1:(\d+)", line.strip())
        if m:
            return int(m.group(1))
        assert line or bench.poll() is None, "the bench stopped"
    raise AssertionError("the bench did not come up")


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> SimpleNamespace:
    """The same ESME, CCS01 and CS07 on a bench with `key_establishment = "derived"`, captured with `--pcap`."""
    tmp = tmp_path_factory.mktemp("derived")
    (tmp / "bench.toml").write_text("\n".join([
        'keys = "keys"', "keep_alive_s = 30", "time_scale = 60", 'key_establishment = "derived"', "",
        "[[hub]]", 'name = "A"', f'eui = "{HUB}"', 'wan = "127.0.0.1:0"', 'state = "state-A"', "",
        "[[meter]]", 'type = "esme"', f'eui = "{ESME}"', f'install_code = "{IC}"', ""]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "COMMSHUB_RUNTIME_DIR": str(tmp / "run")}
    cap = tmp / "han.pcapng"
    bench = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(tmp / "bench.toml"),
                              "--pcap", str(cap)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        port = _listening(bench)
        remote = BenchRemote(tmp / "keys", tmp / "counters.json")
        hub, meter = bytes.fromhex(HUB), bytes.fromhex(ESME)
        with HubLink("127.0.0.1", port) as link:
            mark = sum(1 for tr in link.journal if tr.direction == "received")
            link.request(remote.chf(hub, "CCS01", device=meter, install_code=bytes.fromhex(IC), device_type="esme"), 10)
            assert link.wait_for(lambda f: bool(_cs14_hash(f, meter)), 20, mark) is not None
            sent = remote.meter(hub, meter, "CS07")
            received = link.request(sent, 10)
        bench.send_signal(signal.SIGTERM)
        rc = bench.wait(30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    return SimpleNamespace(cap=cap, sent=sent, received=received, rc=rc)


def gbcs_of(path, **kw):
    return [(g.message_code, g.counter, g.data) for g in read_capture(path, **kw).frames]


def bench_keys(live: Live) -> list[KeyEntry]:
    """The running bench's keys as `chf extcap keys` printed them after the join: what a live capture needs for
    the TC link key CBKE agreed (it is never on the air)."""
    printed = live.keys_out[0]
    assert printed.returncode == 0, printed.stderr
    return keyfile.parse(printed.stdout)


def key_establishment(reading) -> list[tuple[str, bool, bool, bytes | None]]:
    """The Key Establishment (0x0800) data frames of a reading: (command, NWK-secured, APS-secured, the
    certificate's subject for an Initiate)."""
    out = []
    for d in reading.dissections:
        if d.aps is None or d.aps.header.cluster != KE or d.aps.header.frame_type != aps.ApsFrameType.DATA:
            continue
        f = decode_ke(d.aps_payload)
        name = ("read suite request" if f.to_server else "read suite response") if f.general else \
            f"{Command(f.command).name} {'request' if f.to_server else 'response'}"
        subject = None
        if not f.general and f.command == Command.INITIATE_KEY_ESTABLISHMENT:
            subject = decode_certificate(Suite.SUITE_2, InitiateKeyEstablishment.decode(f.payload).identity).subject
        out.append((name, d.nwk.aux is not None, d.aps.header.security, subject))
    return out


# ------------------------------------------------------------------------------------------ the --pcap file
def test_the_bench_capture_holds_the_exchange_frame_for_frame(live):
    r = read_capture(live.cap, keys_file=f"{live.cap}.keys")
    assert r.summary.failures == [] and live.bench_rc == 0, (str(r.summary), live.bench_rc)
    packets = list(read_packets(live.cap))
    assert packets and max(len(p.data) for p in packets) <= 127
    frames = [g.data for g in r.frames]
    assert live.sent["cs07"] in frames and live.received["cs07"] in frames  # command and response, byte for byte
    cs07 = [g for g in r.frames if g.message_code == CS07]
    assert {g.counter for g in cs07} == {decode_frame(live.sent["cs07"]).header.counter,
                                         decode_frame(live.sent["cs07-mid"]).header.counter}
    assert all(g.protocol_id == 6 and g.src_eui and g.dst_eui for g in cs07)
    kinds = {type(d.mac_command).__name__ for d in r.dissections if d.mac_command} \
        | {type(d.nwk_command).__name__ for d in r.dissections if d.nwk_command} \
        | {type(d.aps_command).__name__ for d in r.dissections if d.aps_command} \
        | {d.tunnel.name for d in r.dissections if d.tunnel}
    assert {"AssociationRequest", "AssociationResponse", "TransportKey", "request_tunnel", "request_tunnel_response",
            "transfer_data"} <= kinds
    clusters = {d.aps.header.cluster for d in r.dissections if d.aps is not None}
    assert {0x0025, 0x0704, 0x0013, KE} <= clusters  # keep-alive, tunnelling, Device_annce, Key Establishment
    # the meter's CBKE with the hub: the suite read, then the six commands with both certificates, no Terminate;
    # NWK security only (SE Annex C)
    ke = key_establishment(r)
    assert [(name, nwk_secured, aps_secured) for name, nwk_secured, aps_secured, _ in ke] == [
        (f"{n} {way}", True, False) for n in ("read suite", "INITIATE_KEY_ESTABLISHMENT", "EPHEMERAL_DATA",
                                              "CONFIRM_KEY") for way in ("request", "response")]
    assert [subject for *_, subject in ke if subject] == [bytes.fromhex(ESME), bytes.fromhex(HUB)]
    # only the network key is learned from the air (its Transport-Key): the agreed TC link key never is
    assert r.summary.keys_learned == 1
    assert not [d for d in r.dissections if isinstance(d.aps_command, aps.TransportKey) and d.aps_command.key_type == 4]
    # every frame of the tunnel is secured with the key whose hash the hub reported in CS14
    tunnel = [d for g in cs07 for d in r.dissections if d.number in g.frames]
    assert tunnel and all(d.aps.header.security for d in tunnel)
    assert {swap_out_key(d.aps.key) for d in tunnel} == {live.cs14_hash}


def test_the_key_file_holds_every_key_of_the_bench(live):
    entries = keyfile.read(f"{live.cap}.keys")
    labels = " | ".join(e.label for e in entries)
    assert "network key PAN" in labels and "install-code link key 02:c0:ff:ee:00:0e:5e:01" in labels
    assert KeyEntry(IC_KEY, "install-code link key 02:c0:ff:ee:00:0e:5e:01") in entries
    agreed = [e.key for e in entries if e.label == "CBKE TC link key 02:c0:ff:ee:00:0e:5e:01"]
    assert len(agreed) == 1 and swap_out_key(agreed[0]) == live.cs14_hash


def test_the_install_code_key_alone_does_not_decrypt_past_cbke(live):
    """CBKE's key is agreed, not transported: with the install-code key alone the join and the Key Establishment
    exchange read, and nothing after it does; the key file reads it all."""
    alone = read_capture(live.cap, keys=[IC_KEY])
    assert len(key_establishment(alone)) == 8 and alone.frames == []
    assert {f.reason.name for f in alone.summary.failures} <= {"MISSING_KEY", "WRONG_KEY"}
    assert alone.summary.aps_decrypted < alone.summary.aps_secured
    assert len(gbcs_of(live.cap, keys_file=f"{live.cap}.keys")) == 4


def test_the_install_code_key_alone_decrypts_a_join_captured_whole(derived):
    """With `key_establishment = "derived"` the emulated key establishment goes on the air as a Transport-Key of
    the TC link key under the install-code key (docs/wireshark.md), so the install-code key alone is enough."""
    assert derived.rc == 0 and derived.received is not None
    r = read_capture(derived.cap, keys_file=f"{derived.cap}.keys")
    assert r.summary.failures == [] and r.summary.keys_learned >= 2  # the network key and the TC link key
    assert [d for d in r.dissections if isinstance(d.aps_command, aps.TransportKey) and d.aps_command.key_type == 4]
    assert not key_establishment(r)
    alone = gbcs_of(derived.cap, keys=[IC_KEY])
    assert alone == gbcs_of(derived.cap, keys_file=f"{derived.cap}.keys")
    assert [data for *_, data in alone] == [derived.sent, derived.received]


def test_chf_decode_pcap_finds_cs07_with_valid_macs(live):
    out = chf("decode", "--pcap", str(live.cap), "--zigbee-keys", f"{live.cap}.keys", "--keys", str(live.keys_dir),
              "--json", env=live.env)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    cs07 = [d for d in rows if d["message_code"] == "0x0013"]
    assert len(cs07) == 4 and all(d["mac"] == "valid" for d in cs07)
    assert {d["cra"] for d in cs07} == {"command", "response"}
    c = cs07[0]["capture"]
    assert c["file"] == str(live.cap) and c["frame"] == c["frames"][-1] and c["mac_src"] == "0x0000"
    assert c["time"].endswith("Z") and c["protocol_id"] == 6 and c["direction"] == "to server"
    assert re.search(r"\d+ frames read \(\d+ 802\.15\.4\), (\d+) of \1 secured frames decrypted, \d+ keys learned, "
                     r"\d+ GBCS frames found, 0 failures", out.stderr)


@needs_tshark
def test_tshark_decrypts_the_bench_capture_with_its_key_file(live, tmp_path):
    home = tmp_path / "ws"
    home.mkdir()
    shutil.copy(f"{live.cap}.keys", home / "zigbee_pc_keys")
    fields = ["frame.number", "_ws.col.Info", "_ws.malformed", "zbee_sec.encrypted_payload",
              "gbcs_message.grouping_header.message_code", "gbcs_message.grouping_header.originator_counter"]
    cmd = [TSHARK, "-r", str(live.cap), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(home)})
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in out.stdout.splitlines()]
    assert rows and not any(r["_ws.malformed"] or r["zbee_sec.encrypted_payload"] for r in rows)
    info = " | ".join(r["_ws.col.Info"] for r in rows)
    for kind in ("Beacon Request", "Association Request", "Transport Key", "Device Announcement",
                 "ZCL: Read Attributes", "ZCL Key Establishment: Initiate Key Establishment Request",
                 "ZCL Key Establishment: Initiate Key Establishment Response", "Ephemeral Data Request",
                 "Ephemeral Data Response", "Confirm Key Data Request", "Confirm Key Data Response",
                 "ZCL Tunneling: Request Tunnel", "Command, CS07", "Response, CS07"):
        assert kind in info, kind
    assert "Terminate Key Establishment" not in info
    seen = {(int(r["gbcs_message.grouping_header.message_code"], 16),
             int(r["gbcs_message.grouping_header.originator_counter"]))
            for r in rows if r["gbcs_message.grouping_header.message_code"]}
    assert (CS07, decode_frame(live.sent["cs07"]).header.counter) in seen
    ours = {(g.message_code, g.counter) for g in read_capture(live.cap, keys_file=f"{live.cap}.keys").frames}
    assert seen == ours


def tshark_with_the_install_code_key(cap: Path, tmp_path: Path, *args: str) -> list[str]:
    (tmp_path / "ws").mkdir(exist_ok=True)
    out = subprocess.run([TSHARK, "-r", str(cap), "-o", uat_option(KeyEntry(IC_KEY, "install code")), *args],
                         capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(tmp_path / "ws")})
    return out.stdout.split()


@needs_tshark
def test_tshark_learns_every_key_from_the_install_code_key(derived, tmp_path):
    """A derived-key bench: Wireshark learns the network key and the TC link key from their Transport-Keys."""
    assert tshark_with_the_install_code_key(derived.cap, tmp_path, "-Y", "gbcs_message", "-T", "fields", "-e",
                                            "gbcs_message.grouping_header.message_code") == ["0x0013"] * 2


@needs_tshark
def test_tshark_with_the_install_code_key_alone_sees_cbke_but_not_past_it(live, tmp_path):
    """A CBKE bench: Wireshark shows the Key Establishment exchange (NWK-secured only), and no GBCS frame without
    the key file."""
    assert tshark_with_the_install_code_key(live.cap, tmp_path, "-Y", "gbcs_message") == []
    commands = tshark_with_the_install_code_key(
        live.cap, tmp_path, "-Y", "zbee_zcl_se.ke.cmd.srv_rx.id || zbee_zcl_se.ke.cmd.srv_tx.id", "-T", "fields",
        "-E", "separator=,", "-e", "zbee_zcl_se.ke.cmd.srv_rx.id", "-e", "zbee_zcl_se.ke.cmd.srv_tx.id")
    assert commands == ["0x00,", ",0x00", "0x01,", ",0x01", "0x02,", ",0x02"]


# ------------------------------------------------------------------------------------------ CHF:PCAP
def test_pcap_control_commands(live):
    r = live.replies
    assert r["start"].startswith(f"CHF:OK capturing the HAN to {live.tmp / 'mid.pcap'}")
    assert r["again"] == f"CHF:ERROR already capturing to {live.tmp / 'mid.pcap'}"
    stopped = json.loads(r["stop"][7:])["stopped"]
    assert [s["file"] for s in stopped] == [str(live.tmp / "mid.pcap")] and stopped[0]["frames"] > 0
    assert r["stop-unknown"].startswith("CHF:ERROR no capture to ")
    assert r["unwritable"].startswith("CHF:ERROR cannot capture to ") and "No such file" in r["unwritable"]
    assert r["no-reader"].endswith("no process reads that FIFO")
    assert r["bad"].startswith("CHF:ERROR CHF:PCAP START FILE")
    keys = json.loads(r["keys"][7:])["keys"]
    assert any("CBKE TC link key 02:c0:ff:ee:00:0e:5e:01" in k for k in keys)


def test_a_capture_started_after_the_join_decrypts_with_its_own_key_file(live):
    mid = live.tmp / "mid.pcap"
    assert mid.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # classic pcap by its name
    r = read_capture(mid, keys_file=f"{mid}.keys")
    frames = [g.data for g in r.frames]
    assert frames == [live.sent["cs07-mid"], live.received["cs07-mid"]]
    # the hub reuses the tunnel it requested before the capture started: read all the same, and said so
    assert [f.reason.name for f in r.summary.failures] == ["UNKNOWN_TUNNEL"]


# ------------------------------------------------------------------------------------------ extcap
def test_extcap_lists_the_running_bench_and_its_link_type(live):
    assert live.interfaces.startswith("extcap {version=")
    assert f"interface {{value={live.interface}}}{{display=commshub HAN of {live.tmp / 'bench.toml'}" in live.interfaces
    assert "interface {value=commshub}" in live.interfaces
    assert live.dlts.strip() == "dlt {number=195}{name=IEEE802_15_4_WITHFCS}" \
                                "{display=IEEE 802.15.4 with FCS (commshub virtual HAN)}"
    assert live.config == "" and live.generic_config.startswith("arg {number=0}{call=--bench}")
    assert live.registered_while_running and not live.registered_after


def test_extcap_streams_the_han_and_stops_on_sigterm(live):
    assert live.extcap_rc == 0 and not live.leftovers
    data = live.extcap_stream
    assert data[:4] == bytes.fromhex("d4c3b2a1") and int.from_bytes(data[20:24], "little") == 195
    r = read_capture(data, keys=bench_keys(live))
    assert [g.data for g in r.frames][:2] == [live.sent["cs07"], live.received["cs07"]]
    assert r.summary.failures == []


def test_extcap_ends_when_the_bench_stops(live):
    assert live.eof_rc == 0 and live.eof_seconds < 10
    r = read_capture(live.eof_stream, keys=bench_keys(live))
    assert live.received["cs07"] in [g.data for g in r.frames]
    assert not any(f.reason.name == "TRUNCATED" for f in r.summary.failures)


def test_extcap_keys_prints_or_installs_the_running_bench_keys(live):
    printed, installed, again = live.keys_out
    assert printed.returncode == 0 and installed.returncode == 0 and again.returncode == 0
    records = printed.stdout.splitlines()
    assert any("CBKE TC link key 02:c0:ff:ee:00:0e:5e:01" in r for r in records) and any("network key" in r for r in records)
    table = live.tmp / "wireshark" / "zigbee_pc_keys"
    assert installed.stdout.startswith(f"{len(records)} key(s) added to {table} (0 already there)")
    assert again.stdout.startswith(f"0 key(s) added to {table} ({len(records)} already there)")
    assert [keyfile.record(e) for e in keyfile.read(table)] == records


@needs_tshark
def test_tshark_captures_through_the_installed_extcap(live):
    launcher = live.tmp / "wireshark" / "extcap" / "commshub-han"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert live.tshark_capture is not None and live.tshark_capture.is_file()
    r = read_capture(live.tshark_capture, keys=bench_keys(live))
    frames = [g.data for g in r.frames]
    assert live.sent["cs07"] in frames and live.received["cs07"] in frames


# ------------------------------------------------------------------------------------------ chf run --radio virtual
def test_run_radio_virtual_pcap_writes_classic_pcap_and_keys(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "COMMSHUB_RUNTIME_DIR": str(tmp_path / "run")}
    cap = tmp_path / "virtual.pcap"
    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--radio", "virtual", "--state",
                             str(tmp_path / "state"), "--wan", "127.0.0.1:0", "--time-scale", "60", "--meter",
                             f"esme:{ESME}:{IC}", "--pcap", str(cap)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and not any("listening on" in x for x in lines):
            lines.append(proc.stdout.readline())
        assert any(x.startswith("capturing the HAN to") for x in lines) or "capturing" in proc.stdout.readline()
        _wait(lambda: cap.stat().st_size > 24 + 2 * 16, 20, "the meter's scans")  # beacon request + beacon
        time.sleep(1)  # `chf run` takes SIGTERM once it serves (just after its announcements)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert cap.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    r = read_capture(cap, keys_file=f"{cap}.keys")
    assert r.summary.failures == [] and r.summary.radio_frames >= 2
    assert any(d.mac is not None and d.mac.frame_type == 3 for d in r.dissections)  # the beacon request


def test_pcap_needs_the_virtual_radio(tmp_path):
    out = chf("run", "--state", str(tmp_path / "s"), "--pcap", str(tmp_path / "x.pcap"), env={**os.environ})
    assert out.returncode == 2 and "--pcap captures the virtual HAN" in out.stderr


# ------------------------------------------------------------------------------------------ make run
def test_the_showcase_writes_a_capture_and_says_how_to_open_it(tmp_path, capsys, monkeypatch):
    from chf.app.cli import main

    monkeypatch.setenv("COMMSHUB_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("WIRESHARK_CONFIG_DIR", str(tmp_path / "ws"))
    cap = tmp_path / "demo.pcapng"
    assert main(["demo", "--pcap", str(cap)]) == 0
    out = capsys.readouterr().out
    assert f"capturing the HAN to {cap} (Wireshark keys: {cap}.keys)" in out
    assert f"cat {cap}.keys >> {tmp_path / 'ws' / 'zigbee_pc_keys'}" in out and f"wireshark -r {cap}" in out
    r = read_capture(cap, keys_file=f"{cap}.keys")
    assert r.summary.failures == [] and len(r.frames) >= 20
    assert {g.message_code for g in r.frames} >= {0x0013}  # the CS07 of part 1, among the triage's reads
