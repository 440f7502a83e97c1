"""The dashboard's data without a browser: the snapshot of a running bench (`chf.runtime.dashboard.model`), the
live feed's batched updates and frame records (`chf.runtime.dashboard.live`), and a frame's decode view, which is
line for line what `chf decode` prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import pytest

from chf.app.dashboard.decode_view import decode_view
from chf.app.dashboard.server import parse_ui
from chf.app.decode_command import report
from chf.app.inputs import Input
from chf.config.bench_file import parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.client import send
from chf.runtime.bench import BenchThread
from chf.runtime.dashboard import model
from chf.runtime.dashboard.live import Live

A, B = "02C0FFEE0000A001", "02C0FFEE0000B001"
FACTORY, FACTORY_IC = "02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505"
INSTALLED, INSTALLED_IC = "02C0FFEE000E5E02", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"

TEXT = f"""keys = "keys"
time_scale = 60
[[hub]]
name = "A"
eui = "{A}"
wan = "127.0.0.1:0"
[[hub]]
name = "B"
eui = "{B}"
wan = "127.0.0.1:0"
[[meter]]
type = "esme"
eui = "{FACTORY}"
install_code = "{FACTORY_IC}"
[[meter]]
type = "esme"
eui = "{INSTALLED}"
install_code = "{INSTALLED_IC}"
joined_to = "A"
hears = ["A"]
"""


def until(cond, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("dash-model")
    bench = parse(TEXT, tmp / "bench.toml")
    with BenchThread(bench) as bt:
        rb = bt.running
        live = Live(rb)
        got: list[dict] = []
        bt.call(live.attach)
        live.subscribers.append(got.append)
        task = asyncio.run_coroutine_threadsafe(live.run(), bt.loop)
        yield bt, rb, live, got, BenchRemote(bench.keys, tmp / "counters.json")
        task.cancel()
        bt.call(live.detach)


def test_snapshot_names_hubs_meters_and_links(rig):
    bt, rb, *_ = rig
    snap = bt.call(lambda: model.snapshot(rb))
    hubs = {h["name"]: h for h in snap["hubs"]}
    assert hubs["A"]["eui"] == A and hubs["B"]["eui"] == B and hubs["A"]["powered"] is True
    assert hubs["A"]["extended_pan_id"] == A  # a bench hub's network takes its EUI as EPID
    assert isinstance(hubs["A"]["channel"], int) and len(hubs["A"]["pan_id"]) == 4
    [entry] = hubs["A"]["device_log"]
    assert entry["eui"] == INSTALLED and entry["joined"] and entry["device_type"] == "ESME"
    assert len(entry["hashed_tc_link_key"]) == 32
    meters = {m["eui"]: m for m in snap["meters"]}
    assert meters[FACTORY]["state"] == "factory" and meters[FACTORY]["network"] is None
    assert meters[INSTALLED]["state"] == "joined" and meters[INSTALLED]["network"]["hub_name"] == "A"
    links = {(link["meter"], link["hub"]): link for link in snap["links"]}
    assert links[(INSTALLED, "A")]["joined"] and (INSTALLED, "B") not in links  # it hears A only
    assert not links[(FACTORY, "A")]["joined"] and (FACTORY, "B") in links
    assert isinstance(links[(FACTORY, "B")]["lqi"], int)


def test_a_powered_off_hub_has_no_links(rig):
    bt, rb, *_ = rig
    bt.call(lambda: rb.medium.power(bytes.fromhex(B), False))
    try:
        snap = bt.call(lambda: model.snapshot(rb))
        assert {h["name"]: h["powered"] for h in snap["hubs"]} == {"A": True, "B": False}
        assert all(link["hub"] != "B" for link in snap["links"])
    finally:
        bt.call(lambda: rb.medium.power(bytes.fromhex(B), True))


def test_a_join_reaches_the_feed_as_one_batched_update_with_its_frames(rig):
    bt, _rb, live, got, remote = rig
    got.clear()
    frame = remote.chf(bytes.fromhex(A), "CCS01", device=bytes.fromhex(FACTORY), install_code=bytes.fromhex(FACTORY_IC),
                       device_type="esme")
    ex = send(*bt.address("A"), frame, wait=10, settle=True)
    assert ex.response is not None

    def joined() -> bool:
        return any(m["eui"] == FACTORY and m["state"] == "joined" for u in got for m in u.get("meters", []))

    assert until(joined)
    assert until(lambda: any(f["use_case"] == "CS14" for u in got for f in u.get("frames", [])))
    frames = [f for u in got for f in u.get("frames", [])]
    ccs01 = [f for f in frames if f["use_case"] == "CCS01"]
    assert [f["direction"] for f in ccs01] == ["wan-in", "wan-out"]
    assert ccs01[0]["cra"] == "command" and ccs01[1]["cra"] == "response"
    assert all(f["hub"] == "A" and f["verdict"] == "MAC valid" for f in ccs01)
    assert ccs01[0]["meter"] == FACTORY  # named in the command's payload, the only meter there
    assert all(u["type"] == "update" for u in got)
    assert any(e["eui"] == FACTORY for u in got for h in u.get("hubs", []) if h["name"] == "A" for e in h["device_log"])
    assert any(link["meter"] == FACTORY and link["joined"] for u in got for link in u.get("links", []))
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    rec = live.frame(ccs01[0]["id"])
    assert rec is not None and rec.data == frame  # the very bytes sent, kept for /frame/ID


def test_the_feed_unwraps_han_frames_from_the_tunnel(rig):
    bt, _rb, live, got, remote = rig
    got.clear()
    frame = remote.meter(bytes.fromhex(A), bytes.fromhex(INSTALLED), "CS07")
    ex = send(*bt.address("A"), frame, wait=15, settle=True)
    assert ex.response is not None
    assert until(lambda: {"han-to-meter", "han-to-hub"} <= {f["direction"] for u in got for f in u.get("frames", [])
                                                            if f["use_case"] == "CS07"})
    han = [f for u in got for f in u.get("frames", []) if f["direction"] == "han-to-meter"]
    assert han[0]["meter"] == INSTALLED and han[0]["hub"] == "A"
    assert live.frame(han[0]["id"]).data == frame  # the tunnel carried the command as it came over the WAN


def test_nothing_changed_means_no_update(rig):
    bt, _rb, live, _got, _ = rig
    asyncio.run_coroutine_threadsafe(live.update(), bt.loop).result(30)  # whatever is pending
    live.touch(hub="A", meter=bytes.fromhex(FACTORY), links=True)
    assert asyncio.run_coroutine_threadsafe(live.update(), bt.loop).result(30) is None


def test_the_decode_view_is_what_chf_decode_prints(rig):
    _bt, rb, live, *_ = rig
    for rec in list(live.frames)[:6]:
        view = decode_view(rec.data, rb.keys, "x")
        text, ok = report(argparse.Namespace(json=False, disconnect_code=None), rb.keys, Input("x", rec.data))
        assert view["text"] == text and view["ok"] == ok
        assert view["hex"] == rec.data.hex().upper()
        for ln in view["lines"]:
            if ln["offset"] is not None:
                assert 0 <= ln["offset"] and ln["offset"] + ln["length"] <= len(rec.data)


def test_a_bad_frame_gets_its_error_in_the_view():
    view = decode_view(bytes.fromhex("DD0000"), None, "short")
    assert not view["ok"] and "error at byte" in view["text"]


@pytest.mark.parametrize("text", ["8080", "host:", ":80", "h:99999", "h:x"])
def test_bad_ui_addresses_are_refused(text):
    with pytest.raises(ValueError, match="--ui HOST:PORT"):
        parse_ui(text)


def test_ui_addresses():
    assert parse_ui("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_ui("[::1]:8080") == ("::1", 8080)


def test_the_page_answers_only_peers_the_control_rule_allows(rig):
    """As the control channel: loopback by default; `--control-from none` closes the page (and its actions)."""
    import urllib.error
    import urllib.request

    from chf.app.dashboard.server import start_dashboard

    bt, rb, *_ = rig
    for rule, status in ((None, 200), (["none"], 403)):
        d = asyncio.run_coroutine_threadsafe(start_dashboard(rb, "127.0.0.1", 0, control_from=rule, announce=False),
                                             bt.loop).result(30)
        try:
            try:
                with urllib.request.urlopen(d.url, timeout=10) as r:
                    got = r.status
            except urllib.error.HTTPError as e:
                got = e.code
            assert got == status, rule
        finally:
            asyncio.run_coroutine_threadsafe(d.close(), bt.loop).result(30)


def test_chf_run_radio_virtual_serves_the_page_too(tmp_path):
    import re
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--radio", "virtual", "--state",
                             str(tmp_path / "state"), "--wan", "127.0.0.1:0", "--meter", f"esme:{FACTORY}:{FACTORY_IC}",
                             "--ui", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        said = []
        for line in proc.stdout:
            said.append(line)
            m = re.match(r"ui listening on (http://127\.0\.0\.1:\d+/)$", line.strip())
            if m:
                url = m.group(1)
                break
        assert url, "".join(said)
        with urllib.request.urlopen(url, timeout=10) as r:
            page = r.read().decode()
        assert "/static/dashboard.js" in page and "http" not in page.replace(url, "")  # nothing from elsewhere
        with urllib.request.urlopen(url + "static/dashboard.js", timeout=10) as r:
            assert b"data-device-log-entry" in r.read()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("argv", "said"), [
    (["run", "--ui", "127.0.0.1:0"], "--ui shows a bench: it needs --bench FILE or --radio virtual"),
    (["run", "--radio", "virtual", "--ui", "8080"], "--ui HOST:PORT expected, got '8080'"),
])
def test_ui_option_errors_are_one_line(capsys, argv, said):
    from chf.app.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_a_ui_port_in_use_is_one_line_and_the_bench_stops(tmp_path):
    import socket
    import subprocess
    import sys

    (tmp_path / "bench.toml").write_text(TEXT.replace('joined_to = "A"\nhears = ["A"]\n', ""))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "chf.app.cli", "run", "--bench", "bench.toml", "--ui",
                            f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()  # one line, no traceback (the words after --ui are the OS's)
    assert line.startswith("chf run: --ui: ") and str(port) in line and "in use" in line


def test_other_sites_pages_cannot_act_or_watch(rig):
    """Another origin's page in the user's browser, or a DNS name rebound to 127.0.0.1, gets nothing; a POST that is
    not JSON (what a foreign page may send without a preflight) is refused; the bench is untouched."""
    import urllib.error
    import urllib.request

    from chf.app.dashboard.server import start_dashboard

    bt, rb, *_ = rig
    d = asyncio.run_coroutine_threadsafe(start_dashboard(rb, "127.0.0.1", 0, announce=False), bt.loop).result(30)
    own = d.url.rstrip("/")
    power_off = json.dumps({"action": "power", "hub": "A", "on": False}).encode()

    def status(path: str, headers: dict, data: bytes | None = None) -> int:
        req = urllib.request.Request(own + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    try:
        json_type = {"Content-Type": "application/json"}
        assert status("/action", {**json_type, "Origin": "http://evil.example"}, power_off) == 403
        assert status("/action", {"Content-Type": "text/plain"}, power_off) == 415
        assert status("/", {"Host": f"evil.example:{d.port}"}) == 403
        assert status("/ws", {"Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
                              "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) == 403
        assert rb.medium.powered.get(bytes.fromhex(A), True) is True
        assert status("/", {"Host": f"localhost:{d.port}"}) == 200
        assert status("/action", {**json_type, "Origin": own}, json.dumps({"action": "power", "hub": "A", "on": True})
                      .encode()) == 200
    finally:
        asyncio.run_coroutine_threadsafe(d.close(), bt.loop).result(30)


def test_a_stopping_bench_tells_its_open_pages(rig):
    """Open pages are closed with 1001 Going Away when the dashboard stops, so a stopping bench waits on none."""
    import aiohttp

    from chf.app.dashboard.server import start_dashboard

    bt, rb, *_ = rig
    d = asyncio.run_coroutine_threadsafe(start_dashboard(rb, "127.0.0.1", 0, announce=False), bt.loop).result(30)

    async def page() -> tuple[str, object]:
        async with aiohttp.ClientSession() as s, s.ws_connect(d.url + "ws", origin=d.url.rstrip("/")) as ws:
            first = await ws.receive(timeout=30)
            asyncio.get_running_loop().run_in_executor(
                None, lambda: asyncio.run_coroutine_threadsafe(d.close(), bt.loop).result(30))
            last = await ws.receive(timeout=30)
            return json.loads(first.data)["type"], (last.type, ws.close_code)

    kind, (last, code) = asyncio.run(page())
    assert kind == "snapshot"
    assert last == aiohttp.WSMsgType.CLOSE and code == aiohttp.WSCloseCode.GOING_AWAY
