"""Captures of a running bench, end to end: `chf run --bench FILE --pcap CAP` in its own process, an ESME joined
with CCS01 and read with CS07 through the hub, and the same HAN captured at the same time four more ways — by
`CHF:PCAP START` after the join, by our extcap driven as Wireshark drives it (a FIFO, SIGTERM), by an extcap left
running until the bench stops (end of file), and by tshark itself through the installed extcap launcher. The
captures are read by our reader, by `chf decode --pcap` and by tshark (skipped without it)."""

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

import pytest
from rtds_data import REPO

from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _cs14_hash
from gbcs.frame import decode_frame
from zigbee.capture import KeyEntry, read_capture
from zigbee.capture.keyfile import uat_option
from zigbee.capture.pcap import read_packets
from zigbee.keys import install_code_key

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
HUB, ESME = "02C0FFEE0000A001", "02C0FFEE000E5E01"
IC = "83FED3407A939723A5C639B26916D505"
CS07 = 0x0013


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
        assert link.wait_for(lambda f: bool(_cs14_hash(f, meter)), 20, mark) is not None
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


def gbcs_of(path, **kw):
    return [(g.message_code, g.counter, g.data) for g in read_capture(path, **kw).frames]


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
    assert {0x0025, 0x0704, 0x0013} <= clusters  # keep-alive, tunnelling, Device_annce
    assert r.summary.keys_learned >= 2  # the network key and the TC link key, from their Transport-Keys


def test_the_key_file_holds_every_key_of_the_bench(live):
    from zigbee.capture import keyfile

    entries = keyfile.read(f"{live.cap}.keys")
    labels = " | ".join(e.label for e in entries)
    assert "network key PAN" in labels and "install-code link key 02:c0:ff:ee:00:0e:5e:01" in labels
    assert "TC link key 02:c0:ff:ee:00:0e:5e:01" in labels
    assert KeyEntry(install_code_key(bytes.fromhex(IC)), "install-code link key 02:c0:ff:ee:00:0e:5e:01") in entries


def test_the_install_code_key_alone_decrypts_a_join_captured_whole(live):
    """The emulated key establishment goes on the air as a Transport-Key of the TC link key (docs/wireshark.md)."""
    assert gbcs_of(live.cap, keys=[install_code_key(bytes.fromhex(IC))]) == gbcs_of(live.cap,
                                                                                     keys_file=f"{live.cap}.keys")


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
                 "ZCL: Read Attributes", "ZCL Tunneling: Request Tunnel", "Command, CS07", "Response, CS07"):
        assert kind in info, kind
    seen = {(int(r["gbcs_message.grouping_header.message_code"], 16),
             int(r["gbcs_message.grouping_header.originator_counter"]))
            for r in rows if r["gbcs_message.grouping_header.message_code"]}
    assert (CS07, decode_frame(live.sent["cs07"]).header.counter) in seen
    ours = {(g.message_code, g.counter) for g in read_capture(live.cap, keys_file=f"{live.cap}.keys").frames}
    assert seen == ours


@needs_tshark
def test_tshark_learns_every_key_from_the_install_code_key(live, tmp_path):
    (tmp_path / "ws").mkdir()
    key = KeyEntry(install_code_key(bytes.fromhex(IC)), "install code")
    out = subprocess.run([TSHARK, "-r", str(live.cap), "-o", uat_option(key), "-Y", "gbcs_message", "-T", "fields",
                          "-e", "gbcs_message.grouping_header.message_code"], capture_output=True, text=True,
                         timeout=120, check=True, env={**os.environ, "WIRESHARK_CONFIG_DIR": str(tmp_path / "ws")})
    assert out.stdout.split() == ["0x0013"] * 4


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
    assert any("TC link key 02:c0:ff:ee:00:0e:5e:01" in k for k in keys)


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
    r = read_capture(data, keys=[install_code_key(bytes.fromhex(IC))])
    assert [g.data for g in r.frames][:2] == [live.sent["cs07"], live.received["cs07"]]
    assert r.summary.failures == []


def test_extcap_ends_when_the_bench_stops(live):
    assert live.eof_rc == 0 and live.eof_seconds < 10
    r = read_capture(live.eof_stream, keys=[install_code_key(bytes.fromhex(IC))])
    assert live.received["cs07"] in [g.data for g in r.frames]
    assert not any(f.reason.name == "TRUNCATED" for f in r.summary.failures)


def test_extcap_keys_prints_or_installs_the_running_bench_keys(live):
    from zigbee.capture import keyfile

    printed, installed, again = live.keys_out
    assert printed.returncode == 0 and installed.returncode == 0 and again.returncode == 0
    records = printed.stdout.splitlines()
    assert any("TC link key 02:c0:ff:ee:00:0e:5e:01" in r for r in records) and any("network key" in r for r in records)
    table = live.tmp / "wireshark" / "zigbee_pc_keys"
    assert installed.stdout.startswith(f"{len(records)} key(s) added to {table} (0 already there)")
    assert again.stdout.startswith(f"0 key(s) added to {table} ({len(records)} already there)")
    assert [keyfile.record(e) for e in keyfile.read(table)] == records


@needs_tshark
def test_tshark_captures_through_the_installed_extcap(live):
    launcher = live.tmp / "wireshark" / "extcap" / "commshub-han"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert live.tshark_capture is not None and live.tshark_capture.is_file()
    r = read_capture(live.tshark_capture, keys=[install_code_key(bytes.fromhex(IC))])
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
