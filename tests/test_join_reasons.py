"""Joins that fail say why (issue 19 item 5): the meter's radio side keeps its latest join attempt and how it ended
(`CHF:HAN` `last_join_attempt`: time, hub, outcome, reason), the bench prints one line on stderr when a join is
refused, and a CCS01 naming a device already in the hub's device log does what GBCS says (key discarded, held key
kept, success) and says so in `chf send`."""

from __future__ import annotations

import json
import logging
import time

import pytest

from chf.app.cli import main
from chf.config.bench_file import load
from chf.runtime.bench import BenchThread
from chf.remote.triage_steps import _asn1_code, _cs14_hash
from gbcs.frame import decode_frame

HUB = "02C0FFEE0000A001"
JOINED = ("02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505")
FRESH = ("02C0FFEE000E5E02", "00112233445566778899AABBCCDDEEFF")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("joins")
    path = d / "bench.toml"
    path.write_text("\n".join([
        'keys = "keys"', "keep_alive_s = 30", "time_scale = 120", "",
        "[[hub]]", 'name = "A"', f'eui = "{HUB}"', 'wan = "127.0.0.1:0"', 'state = "state-a"', "",
        "[[meter]]", 'type = "esme"', f'eui = "{JOINED[0]}"', f'install_code = "{JOINED[1]}"', 'joined_to = "A"', "",
        "[[meter]]", 'type = "esme"', f'eui = "{FRESH[0]}"', f'install_code = "{FRESH[1]}"', ""]))
    bt = BenchThread(load(path))
    yield path
    bt.close()


STDERR: list[str] = []  # everything printed on stderr (the bench's lines among it)


def send(bench, capsys, *args: str, wait: float = 3) -> tuple[int, list[bytes], str]:
    status = main(["send", "--bench", str(bench), "--to", "A", *args, "--wait", str(wait)])
    out = capsys.readouterr()
    STDERR.append(out.err)
    return status, [bytes.fromhex(x) for x in out.out.split()], out.err


def meter(bench, capsys, eui: str) -> dict:
    assert main(["control", "--bench", str(bench), "--to", "A", "--json", "HAN"]) == 0
    out = capsys.readouterr()
    STDERR.append(out.err)
    return next(m for m in json.loads(out.out)["meters"] if m["eui"] == eui)


def wait_attempt(bench, capsys, eui: str, outcome: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        a = meter(bench, capsys, eui)["last_join_attempt"]
        if (a and a["outcome"] == outcome) or time.monotonic() > deadline:
            return a
        time.sleep(0.05)


def test_status_reads_the_same_in_chf_han_and_the_ccs06_decode(bench, capsys):
    assert main(["control", "--bench", str(bench), "--to", "A", "--json", "HAN"]) == 0
    dev = next(d for d in json.loads(capsys.readouterr().out)["devices"] if d["eui"] == JOINED[0])
    assert (dev["status"], dev["status_names"]) == (3, ["authorised", "reporting"])
    assert main(["send", "--bench", str(bench), "--to", "A", "CCS06", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "mac_address: " + JOINED[0] in out
    assert "status: 8 bit(s) 11000000 (0xC0) = flags 0x03: authorised, reporting" in out


def test_a_wrong_install_code_is_a_refused_join_with_its_reason(bench, capsys):
    status, _frames, _ = send(bench, capsys, "CCS01", "--device", FRESH[0], "--install-code", "FF" * 16, wait=1)
    assert status == 0
    a = wait_attempt(bench, capsys, FRESH[0], "refused")
    assert a["hub"] == HUB and a["hub_name"] == "A" and a["kind"] == "join" and a["time"]
    assert a["reason"].startswith("wrong key") and "check the install code" in a["reason"]
    time.sleep(0.5)  # the meter retries while the window is open: still one line
    meter(bench, capsys, FRESH[0])
    err = "".join(STDERR)
    assert f"bench: meter {FRESH[0]} (esme): join refused by hub A {HUB}: wrong key" in err
    assert err.count(f"meter {FRESH[0]}") == 1  # one line, not one per retry
    status, _, _ = send(bench, capsys, "CCS02", "--device", FRESH[0], wait=1)


def test_ccs01_for_a_device_still_in_the_log_after_a_disconnect(bench, capsys, caplog):
    eui = bytes.fromhex(JOINED[0])
    status, frames, _ = send(bench, capsys, "DISCONNECT", "--device", JOINED[0])
    assert status == 0 and _asn1_code(frames[0]) == 0  # success: divorced
    with caplog.at_level(logging.DEBUG):  # the hub still routes to it: the tunnel finds nobody, said in bench terms
        assert send(bench, capsys, "CS07", "--device", JOINED[0], wait=1)[0] == 1
    said = [r.getMessage() for r in caplog.records if "no route" in r.getMessage()]
    assert said and all("AddrModeAddress" not in m for m in said), said
    assert any(f"hub A {HUB}: no route to meter {JOINED[0]}" in m and "divorced" in m for m in said), said
    status, frames, err = send(bench, capsys, "CCS01", "--device", JOINED[0], "--install-code", JOINED[1], wait=1.5)
    assert status == 0 and len(frames) == 1  # success, and no CS14: nothing changed in the device log
    assert "already in the hub's device log" in err and f"chf send CCS02 --device {JOINED[0]}" in err
    a = wait_attempt(bench, capsys, JOINED[0], "refused")  # joining opened with the key the hub holds
    assert "holds a TC link key for this device" in a["reason"] and "divorced or reset" in a["reason"]
    assert meter(bench, capsys, JOINED[0])["state"] == "factory"
    capsys.readouterr()
    # what the note says to do works: remove, add again, and it joins with its install code
    send(bench, capsys, "CCS02", "--device", JOINED[0], wait=1)
    t0 = time.monotonic()
    status, frames, err = send(bench, capsys, "CCS01", "--device", JOINED[0], "--install-code", JOINED[1], wait=10)
    assert status == 0 and any(_cs14_hash(f, eui) for f in frames), err
    assert time.monotonic() - t0 < 8  # it returned with the join's CS14, not after the whole --wait
    assert "already in" not in err
    assert meter(bench, capsys, JOINED[0])["last_join_attempt"]["outcome"] == "accepted"


def test_send_returns_once_the_response_and_its_alerts_are_in(bench, capsys):
    t0 = time.monotonic()
    status, frames, _ = send(bench, capsys, "CCS06", wait=10)
    assert status == 0 and time.monotonic() - t0 < 3
    assert decode_frame(frames[0]).header.originator.hex().upper() == HUB


def test_identity_and_ccs04_are_use_cases_chf_send_takes(bench, capsys):
    status, frames, _ = send(bench, capsys, "IDENTITY", "--device", JOINED[0], "--meter-type", "esme", wait=5)
    assert status == 0 and decode_frame(frames[0]).header.message_code == 0x0059  # ECS52
    status, frames, _ = send(bench, capsys, "CCS04", wait=5)
    assert status == 0 and decode_frame(frames[0]).header.message_code == 0x0004


def test_send_without_a_state_directory_creates_none_and_says_how_to_keep_one(bench, capsys, tmp_path, monkeypatch):
    """Item 8: `chf send` outside a bench never creates ./state; with --state it keeps counters and the mirror."""
    from chf.app.bench_target import resolve

    t = resolve(str(bench), "A")
    monkeypatch.chdir(tmp_path)
    base = ["send", "CCS06", "--wan", t.wan, "--keys", str(t.keys), "--hub", HUB, "--wait", "5"]
    assert main(base) == 0
    err = capsys.readouterr().err
    assert not (tmp_path / "state").exists() and list(tmp_path.iterdir()) == []
    assert "no ./state here" in err and "--state DIR" in err and "--bench FILE --to NAME" in err
    assert main([*base, "--state", "mine"]) == 0
    assert "no ./state" not in capsys.readouterr().err
    assert {p.name for p in (tmp_path / "mine").iterdir()} >= {"send-counters.json", "inventory.sqlite"}
