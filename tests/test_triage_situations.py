"""Triage looks before it acts (issue 19 item 2): for each situation a returned meter can arrive in — factory,
joined to its old hub, orphaned from it, already on the QA hub, told to leave, dead — the QA hub's and the old
hub's device logs (CCS07) and a CS07 through a hub that holds it decide the state; triage never leaves the meter
worse than it found it (the clean-up removes only what triage added); and a second run gives the verdict the
meter's state then calls for (the same one, where the first run left the meter as it found it)."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest

from chf.app.cli import main
from chf.config.bench_file import load
from chf.remote.hub_link import HubLink
from chf.runtime.bench import BenchThread

HUBS = {"old": "02C0FFEE00001D01", "qa": "02C0FFEE0000AA01"}
FACTORY = ("02C0FFEE000E0101", "00112233445566778899AABBCCDDEEFF", "")
JOINED_OLD = ("02C0FFEE000E0102", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 'joined_to = "old"\n')
ORPHANED = ("02C0FFEE000E0103", "A5A5A5A55A5A5A5AA5A5A5A55A5A5A5A", 'joined_to = "old"\nhears = ["qa"]\n')
ON_QA = ("02C0FFEE000E0104", "1234567890ABCDEF1234567890ABCDEF", 'joined_to = "qa"\n')
LEFT = ("02C0FFEE000E0105", "FEDCBA0987654321FEDCBA0987654321", 'joined_to = "old"\n')
DEAD = ("02C0FFEE000E0106", "5A5A5A5AA5A5A5A55A5A5A5AA5A5A5A5", "dead = true\n")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("situations")
    text = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 120", ""]
    for name, eui in HUBS.items():
        text += ["[[hub]]", f'name = "{name}"', f'eui = "{eui}"', 'wan = "127.0.0.1:0"', f'state = "state-{name}"', ""]
    for eui, ic, extra in (FACTORY, JOINED_OLD, ORPHANED, ON_QA, LEFT, DEAD):
        text += ["[[meter]]", 'type = "esme"', f'eui = "{eui}"', f'install_code = "{ic}"', extra]
    path = d / "bench.toml"
    path.write_text("\n".join(text))
    bt = BenchThread(load(path))
    yield path, bt
    bt.close()


def triage(bench, meter) -> dict:
    path, _ = bench
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["triage", "--bench", str(path), "--qa", "qa", "--old", "old", "--meter", meter[0], "--json"])
    [rep] = [json.loads(ln) for ln in out.getvalue().splitlines() if ln.startswith("{")]
    assert status == (0 if rep["redeployable"] else 1), err.getvalue()
    return rep


def han(bench, hub: str) -> dict:
    _, bt = bench
    with HubLink(*bt.address(hub)) as link:
        answer = link.control("HAN")
    assert answer.startswith("CHF:OK "), answer
    return json.loads(answer[7:])


def meter_state(bench, meter) -> str:
    return next(m["state"] for m in han(bench, "qa")["meters"] if m["eui"] == meter[0])


def on_qa_log(bench, meter) -> bool:
    return any(d["eui"] == meter[0] for d in han(bench, "qa")["devices"])


def steps(rep: dict) -> list[str]:
    return [s["name"] for s in rep["steps"]]


def use_cases(rep: dict) -> list[str]:
    return [f["use_case"] for s in rep["steps"] for f in s["frames"] if f["direction"] == "sent"]


def test_factory_meter_is_state_1_twice_and_ends_factory_off_the_qa_hub(bench):
    for _ in range(2):
        rep = triage(bench, FACTORY)
        assert (rep["state"], rep["redeployable"]) == (1, True), rep["verdict"]
        assert rep["steps"][0]["name"].startswith("look") and "CCS07" in use_cases(rep)[:1]
        assert meter_state(bench, FACTORY) == "factory" and not on_qa_log(bench, FACTORY)


def test_send_by_bench_name_and_triage_keep_one_inventory_mirror(bench, tmp_path, monkeypatch):
    """Item 8: `chf send --bench FILE --to NAME` and `chf triage --bench FILE` update the same mirror, beside the
    bench file; nothing lands where the commands run."""
    from chf.remote.inventory import Inventory

    path, _ = bench
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["send", "--bench", str(path), "--to", "qa", "CCS01", "--device", FACTORY[0], "--install-code",
                     FACTORY[1], "--wait", "10"]) == 0
    assert list(tmp_path.iterdir()) == []
    with Inventory(path.parent / "inventory.sqlite") as inv:
        causes = [t.cause for t in inv.history(FACTORY[0])]
        assert inv.get(FACTORY[0]).chf == HUBS["qa"]  # the send's CCS01, on top of what the triages recorded
    assert any("8.15" in c for c in causes) and any("CCS01" in c for c in causes[-3:]), causes
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["send", "--bench", str(path), "--to", "qa", "DISCONNECT", "--device", FACTORY[0], "--wait", "5"])
        main(["send", "--bench", str(path), "--to", "qa", "CCS02", "--device", FACTORY[0], "--wait", "5"])


def test_meter_already_on_the_qa_hub_is_communicating_and_is_left_there_twice(bench):
    for _ in range(2):
        rep = triage(bench, ON_QA)
        assert (rep["state"], rep["redeployable"]) == (2, True), rep["verdict"]
        assert "found communicating on the QA hub" in rep["verdict"]
        look = rep["steps"][0]
        assert "in the QA hub's device log" in look["detail"] and "answers CS07 through the qa hub" in look["detail"]
        assert "join on the QA hub (install code)" not in steps(rep)  # it was communicating: nothing to bring in
        assert meter_state(bench, ON_QA) in ("joined", "re-joined") and on_qa_log(bench, ON_QA)


def test_meter_joined_to_its_old_hub_is_checked_and_divorced_through_it(bench):
    rep = triage(bench, JOINED_OLD)
    assert (rep["state"], rep["redeployable"]) == (2, True), rep["verdict"]
    assert "found communicating on the old hub's HAN" in rep["verdict"]
    assert "Disconnect Smart Meter from HAN (through the old hub)" in steps(rep)
    assert "CCS03" not in use_cases(rep)  # nothing restored: the QA hub's network is untouched
    assert meter_state(bench, JOINED_OLD) == "factory" and not on_qa_log(bench, JOINED_OLD)


def test_meter_told_to_leave_joins_with_its_install_code(bench):
    _, bt = bench
    from chf.remote.bench_remote import BenchRemote

    path, _ = bench
    remote = BenchRemote(path.parent / "keys", path.parent / "left-counters.json")
    with HubLink(*bt.address("old")) as link:
        assert link.request(remote.chf(bytes.fromhex(HUBS["old"]), "CCS02", device=bytes.fromhex(LEFT[0])), 5)
    deadline = time.monotonic() + 10
    while meter_state(bench, LEFT) != "left" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert meter_state(bench, LEFT) == "left"
    rep = triage(bench, LEFT)
    assert (rep["state"], rep["redeployable"]) == (1, True), rep["verdict"]
    assert "in the old hub's historic device log" in rep["steps"][0]["detail"]
    assert meter_state(bench, LEFT) == "factory"


def test_dead_meter_is_state_3_twice_and_nothing_is_left_behind(bench):
    for _ in range(2):
        rep = triage(bench, DEAD)
        assert (rep["state"], rep["redeployable"]) == (3, False)
        assert "not communicating" in rep["verdict"] and "neither of the old hub's device logs" in rep["verdict"]
        assert rep["steps"][-1]["name"].startswith("leave the QA hub clean")
        assert not on_qa_log(bench, DEAD)


def test_orphaned_meter_is_restored_first_then_in_factory_state_on_a_second_run(bench):
    """Last: a restore (CCS03) makes the QA hub's log the restored entry alone, under the old hub's EPID."""
    rep = triage(bench, ORPHANED)
    assert (rep["state"], rep["redeployable"]) == (2, True), rep["verdict"]
    look = rep["steps"][0]
    assert "in the old hub's device log" in look["detail"] and "no CS07 answer through the old hub" in look["detail"]
    assert steps(rep)[1] == "restore the old hub's entry on the QA hub"  # bound to the old HAN: no join window wasted
    assert meter_state(bench, ORPHANED) == "factory"
    again = triage(bench, ORPHANED)  # divorced by the first run: now in its factory join state
    assert (again["state"], again["redeployable"]) == (1, True), again["verdict"]
    assert "CCS03" not in use_cases(again)
