"""`chf triage`, black-box through the CLI against `chf run --bench`: a meter prepared in each of SECMP0013's
three states is classified right; the JSON report lists every step with its frames (each decodes, each MAC
verifies with the bench keys); a planted failure names its cause; a state-2 meter ends re-deployable and joins a
fresh hub with its install code afterwards."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chf.app.cli import main
from chf.app.triage_cli import BenchRemote
from chf.config.keygen import init_keys
from chf.core.clock import FixedClock
from chf.core.hub import CS14_MESSAGE_CODE, Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.commands import CounterFile, RemoteParty, ccs01
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import HubRef, MeterReport, Timing, Triage, _cs14_hash, _success_dlms
from chf.runtime.sqlite_store import SqliteStore
from gbcs import message
from gbcs.authentication import Verdict
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.grouping_header import Cra
from gbcs.keys import KeyStore

HUBS = {"old": "02C0FFEE00001D01", "qa": "02C0FFEE0000AA01", "fresh": "02C0FFEE0000F001"}
METERS = {
    1: ("02C0FFEE000E0001", "00112233445566778899AABBCCDDEEFF", ""),
    2: ("02C0FFEE000E0002", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 'joined_to = "old"\nhears = ["qa", "fresh"]\n'),
    3: ("02C0FFEE000E0003", "A5A5A5A55A5A5A5AA5A5A5A55A5A5A5A", "dead = true\n"),
}
PPMID = ("02C0FFEE000E0004", "8899AABBCCDDEEFF0011223344556677")


def chf(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`chf ARGS` in `cwd`, run by the CLI's main() in this process (its exit status, stdout and stderr, as the
    interpreter would give them): these tests are about what the command does against the running bench, not
    about starting an interpreter (`chf run --bench`, which these commands talk to, is a process of its own).
    An exception main() lets out fails the test, as a traceback from a process would."""
    out, err = io.StringIO(), io.StringIO()
    result: list = []

    def run() -> None:
        try:
            result.append(main(list(args)))
        except SystemExit as e:  # as the interpreter exits: None → 0, a number as it is, a message → 1
            if e.code is None or isinstance(e.code, int):
                result.append(e.code or 0)
            else:
                print(e.code, file=sys.stderr)
                result.append(1)
        except BaseException as e:
            result.append(e)

    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
    assert result, f"chf {' '.join(args)} did not finish within {timeout} s"
    if isinstance(result[0], BaseException):
        raise result[0]
    return subprocess.CompletedProcess(["chf", *args], result[0], out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("triage")
    text = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 120", ""]
    for name, eui in HUBS.items():
        text += ["[[hub]]", f'name = "{name}"', f'eui = "{eui}"', 'wan = "127.0.0.1:0"', ""]
    for eui, ic, extra in METERS.values():
        text += ["[[meter]]", 'type = "esme"', f'eui = "{eui}"', f'install_code = "{ic}"', extra]
    text += ["[[meter]]", 'type = "ppmid"', f'eui = "{PPMID[0]}"', f'install_code = "{PPMID[1]}"', ""]
    path = tmp / "bench.toml"
    path.write_text("\n".join(text))
    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp)
    ports = {}
    while len(ports) < len(HUBS):
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"hub (\S+) (\S+) listening on (\S+):(\d+)", line.strip())
        if m:
            ports[m.group(1)] = int(m.group(4))
    assert len(ports) == len(HUBS), "the bench did not come up"
    # the bench file names port 0: the running bench writes where its hubs listen beside it, for triage
    assert json.loads((tmp / "bench.live.json").read_text())["hubs"]["qa"] == f"127.0.0.1:{ports['qa']}"
    yield tmp, path, ports
    proc.kill()
    proc.wait()


def triage(bench, state: int) -> dict:
    tmp, live, _ = bench
    out = chf("triage", "--bench", str(live), "--qa", "qa", "--old", "old", "--meter", METERS[state][0], "--json",
              cwd=tmp)
    objs = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert objs, out.stderr
    assert out.returncode == (0 if objs[-1]["redeployable"] else 1)
    return objs[-1]


def check_report(bench, rep: dict) -> None:
    tmp, _, _ = bench
    keys = KeyStore.from_directory(tmp / "keys", acb=bytes.fromhex("90B3D51F30000002"))
    assert {"meter", "state", "redeployable", "verdict", "steps"} <= set(rep)
    assert rep["verdict"]
    for st in rep["steps"]:
        assert st["name"] and st["outcome"] in ("ok", "failed", "timeout", "skipped")
        assert isinstance(st["seconds"], (int, float))
        for fr in st["frames"]:
            assert fr["direction"] in ("sent", "received") and fr["use_case"]
            msg = message.decode(bytes.fromhex(fr["hex"]), keys)
            assert msg.mac is not Verdict.INVALID and msg.signature is not Verdict.INVALID


def test_state_1_factory_fresh_meter(bench):
    rep = triage(bench, 1)
    check_report(bench, rep)
    assert (rep["state"], rep["redeployable"]) == (1, True)
    names = [s["name"] for s in rep["steps"]]
    assert any("PPMID" in n for n in names) and any("Disconnect" in n for n in names)


def test_state_2_restored_divorced_and_joins_a_fresh_hub(bench):
    rep = triage(bench, 2)
    check_report(bench, rep)
    assert (rep["state"], rep["redeployable"]) == (2, True)
    restore = next(s for s in rep["steps"] if "restore" in s["name"])
    assert restore["service_request"] == "SR 8.16" and {"CCS07", "CCS03"} <= {f["use_case"] for f in restore["frames"]}
    tmp, _live, ports = bench
    remote = BenchRemote(tmp / "keys", tmp / "fresh-counters.json")
    eui, ic, _ = METERS[2]
    with HubLink("127.0.0.1", ports["fresh"]) as link:
        link.request(remote.chf(bytes.fromhex(HUBS["fresh"]), "CCS01", device=bytes.fromhex(eui),
                                install_code=bytes.fromhex(ic), device_type="esme"), 5)
        joined = link.wait_for(lambda f: bool(_cs14_hash(f, bytes.fromhex(eui))), 5)
    assert joined is not None  # divorced: it joins a fresh hub with its install code


def test_state_3_dead_meter_verdict_names_the_cause(bench):
    rep = triage(bench, 3)
    check_report(bench, rep)
    assert (rep["state"], rep["redeployable"]) == (3, False)
    assert "timeout waiting for join" in rep["verdict"] and "neither of the old hub's device logs" in rep["verdict"]


def test_unknown_meter_and_bad_hub_are_clear_errors(bench):
    tmp, live, _ = bench
    out = chf("triage", "--bench", str(live), "--qa", "nope", "--meter", METERS[1][0], cwd=tmp)
    assert out.returncode == 2 and "no hub named 'nope'" in out.stderr and "Traceback" not in out.stderr
    out = chf("triage", "--bench", str(live), "--qa", "qa", "--meter", "0102030405060708", cwd=tmp)
    assert out.returncode == 2 and "install code is unknown" in out.stderr


def test_inventory_after_triage_and_live_reconcile_with_a_working_fix(bench):
    """The triage updated the mirror (divorced, then removed from the QA hub: Associated with no CHF); reading the
    running bench live, reconcile finds what the mirror and the hubs disagree on (the old hub still whitelists the
    state-2 meter) and the fix it proposes, run against the bench, clears it (MP178: nothing was ever blocked)."""
    tmp, live, ports = bench
    inv = ["--inventory", str(tmp / "inventory.sqlite"), "--counters", str(tmp / "triage-counters.json")]
    shown = chf("inventory", "show", "--json", *inv, cwd=tmp)
    recs = {json.loads(ln)["eui"]: json.loads(ln) for ln in shown.stdout.splitlines()}
    m2 = METERS[2][0]
    assert recs[m2]["chf"] is None and recs[m2]["mpxns"] == []
    # --wait 1: the old hub's CS07 to the state-2 meter (off its HAN now) is never answered, however long the
    # wait; every answered read comes back in milliseconds. Every hub's CCS07 must have been read (judged).
    live_reads = ["--bench", str(live), "--wait", "1"]
    out = chf("inventory", "reconcile", *live_reads, "--json", *inv, cwd=tmp)
    assert "no CCS07 response" not in out.stderr, out.stderr
    found = [json.loads(ln) for ln in out.stdout.splitlines()]
    mine = [d for d in found if d["device"] == m2 and d["hub"] == HUBS["old"]]
    assert mine and mine[0]["fix"].startswith("chf "), found
    fix = mine[0]["fix"].split()[1:]
    if fix[0] == "send":
        fix += ["--wan", f"127.0.0.1:{ports['old']}", "--keys", str(tmp / "keys"),
                "--counters", str(tmp / "triage-counters.json")]
    else:
        fix += inv
    assert chf(*fix, cwd=tmp).returncode == 0, fix
    again = chf("inventory", "reconcile", *live_reads, "--json", *inv, cwd=tmp)
    assert "no CCS07 response" not in again.stderr, again.stderr
    assert not [json.loads(ln) for ln in again.stdout.splitlines()
                if json.loads(ln)["device"] == m2 and json.loads(ln)["hub"] == HUBS["old"]]


def test_a_planted_failure_names_its_cause(bench):
    """The QA hub answers the next CCS01 with a failure (a planted fault): the meter cannot be tried, and the
    verdict says why rather than just 'not communicating'."""
    _tmp, _live, ports = bench
    with HubLink("127.0.0.1", ports["qa"]) as link:
        assert link.control("FAULT 104/0-0:30.3.0.255/m1=250,once").startswith("CHF:OK")
    rep = triage(bench, 1)
    check_report(bench, rep)
    assert rep["redeployable"] is False
    first = next(s for s in rep["steps"] if s["name"] == "join on the QA hub (install code)")
    assert first["outcome"] == "failed" and "unexpected response code" in first["detail"]
    assert "unexpected response code" in rep["verdict"]


# --- a step's frames: the alerts that follow a response (no bench: a hub core behind a scripted WAN port) -------

class WithholdingPort:
    """A WAN port that answers a command with its response at once and holds back the alerts of the same
    outcome until the client's next line, then writes them before answering that line: the latest a hub's WAN
    port may send them (it writes one input's outcome whole before it reads the next line)."""

    def __init__(self, outcomes: dict[bytes, list[bytes]], control_reply: str) -> None:
        self.outcomes, self.control_reply = outcomes, control_reply
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lines: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        held: list[bytes] = []
        buf = b""
        with conn:
            while chunk := conn.recv(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.strip()
                    self.lines.append(line)
                    out, held = held, []
                    if line.startswith(b"CHF:"):
                        out.append(self.control_reply.encode() + b"\r\n")
                    else:
                        response, *alerts = self.outcomes[decode_line(line)]
                        out.append(encode_line(response))
                        held = [encode_line(a) for a in alerts]
                    conn.sendall(b"".join(out))

    def close(self) -> None:
        self.server.close()


class RecordingRemote:
    def __init__(self) -> None:
        self.observed: list[tuple[bytes, list[bytes]]] = []

    def use_case(self, frame: bytes) -> str:
        return f"0x{decode_frame(frame).header.message_code:04X}"

    def observe(self, sent: bytes, received: list[bytes]) -> None:
        self.observed.append((sent, received))


@pytest.mark.parametrize("control_reply", ["CHF:OK PONG",
                                           "CHF:ERROR control channel not open to 127.0.0.1 (see --control-from)"])
def test_a_step_keeps_the_cs14_that_follows_its_response(tmp_path, control_reply):
    """CCS01 on the hub: its response, then (same outcome) the CS14 for the changed device log. The step's
    frames, and what the inventory mirror is told, hold both, however late the CS14 comes while still ahead of
    the hub's next reply; a hub that keeps its control channel from the triage host serves as well."""
    pki = init_keys(tmp_path / "keys")
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "hub.sqlite"), FixedClock(datetime(2022, 1, 1, tzinfo=timezone.utc)))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    command = party.build(ccs01(bytes.fromhex(METERS[1][0]), bytes.fromhex(METERS[1][1])))
    outcome = hub.handle(command).frames
    assert len(outcome) == 2 and decode_frame(outcome[1]).header.message_code == CS14_MESSAGE_CODE
    port = WithholdingPort({command: outcome}, control_reply)
    remote = RecordingRemote()
    try:
        with HubLink("127.0.0.1", port.port) as link:
            triage = Triage(remote, HubRef("qa", hub.eui, link), None, Timing())  # type: ignore[arg-type]
            step = triage._step(MeterReport("M"), "whitelist", "CCS01")
            ok = triage._run(step, lambda st: _success_dlms(triage._request(triage.qa, command, st, "the response")),
                             [link])
    finally:
        port.close()
    assert ok and step.outcome == "ok"
    received = [bytes.fromhex(f["hex"]) for f in step.frames if f["direction"] == "received"]
    assert received == outcome
    assert decode_frame(received[1]).header.cra is Cra.ALERT
    assert remote.observed == [(command, outcome)]
    assert [ln[:4] for ln in port.lines] == [b"GBCS", b"CHF:"]  # one command, one settle: nothing else was sent
