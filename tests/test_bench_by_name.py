"""A bench engineer's tools: hubs addressed by name (`chf send --bench FILE --to NAME`), a control client
(`chf control`), and a hint when the hub at an address is not the one a command names."""

from __future__ import annotations

import json

import pytest

from chf.app.cli import main
from chf.config.bench_file import EXAMPLE, load
from chf.runtime.bench import BenchThread
from gbcs import dlms
from gbcs.frame import decode_frame

A, B = "02C0FFEE0000A001", "02C0FFEE0000B001"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    path = d / "bench.toml"
    path.write_text(EXAMPLE.replace("127.0.0.1:4061", "127.0.0.1:0").replace("127.0.0.1:4062", "127.0.0.1:0"))
    bt = BenchThread(load(path))
    yield path
    bt.close()


def test_send_to_a_hub_by_name_uses_its_address_eui_and_keys(bench, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory
    assert main(["send", "--bench", str(bench), "--to", "B", "CCS06", "--wait", "5"]) == 0
    out = capsys.readouterr().out.split()
    rsp = decode_frame(bytes.fromhex(out[0])).header
    assert rsp.originator.hex().upper() == B  # B answered, as B
    assert [r.result for r in dlms.decode(rsp.payload).results] == [0]
    assert (bench.parent / "send-counters.json").is_file() and (bench.parent / "inventory.sqlite").is_file()
    assert not (tmp_path / "state").exists()


def test_a_command_for_another_hub_says_which_hub_answers_there(bench, capsys):
    assert main(["send", "--bench", str(bench), "--to", "B", "--hub", A, "CCS06", "--wait", "1"]) == 1
    err = capsys.readouterr().err
    assert f"is hub B {B}, not {A}" in err


def test_an_unknown_hub_name_lists_the_bench_hubs(bench, capsys):
    assert main(["send", "--bench", str(bench), "--to", "C", "CCS06"]) == 2
    err = capsys.readouterr().err
    assert "no hub named 'C'" in err and "A, B" in err


def test_control_prints_answers_and_pure_json(bench, capsys):
    assert main(["control", "--bench", str(bench), "--to", "A", "PING"]) == 0
    assert capsys.readouterr().out.strip() == "PONG"
    assert main(["control", "--bench", str(bench), "--to", "A", "--json", "CHF:HAN"]) == 0
    han = json.loads(capsys.readouterr().out)
    assert han["hub"] == "A" and han["eui"] == A and {m["eui"] for m in han["meters"]} >= {"02C0FFEE000E5E01"}
    assert main(["control", "--bench", str(bench), "--to", "A", "--json", "POWER", "SIDEWAYS"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert refused["ok"] is False and "ON|OFF" in refused["error"]


def test_control_on_a_closed_port_says_where_and_what_to_check(capsys):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert main(["control", "--wan", f"127.0.0.1:{port}", "PING"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "chf run" in err
