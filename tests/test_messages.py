"""Messages that say what to fix (issue 19 item 7): each reproduced, each naming the cause and the next step."""

from __future__ import annotations

import socket

import pytest

from chf.app.cli import build_parser, main
from hw.errors import RadioNoAnswerError
from hw.open import translate


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("digits", [15, 17])
def test_an_eui_of_the_wrong_length_is_a_length_problem_not_hex(capsys, digits):
    eui = "02C0FFEE000E5E01AB"[:digits]
    assert main(["send", "CCS02", "--device", eui, "--wan", "127.0.0.1:1", "--no-inventory"]) == 2
    err = capsys.readouterr().err
    assert "is not hex" not in err and f"has {digits} hex digit(s): an EUI-64 is 16" in err and "--device" in err


def test_a_short_hub_eui_is_named_not_a_missing_key_pair(capsys, tmp_path):
    assert main(["send", "CCS06", "--hub", "02C0FFEE0000A0", "--wan", "127.0.0.1:1", "--keys", str(tmp_path),
                 "--no-inventory"]) == 2
    err = capsys.readouterr().err
    assert "no KA key pair" not in err and "--hub" in err and "has 14 hex digit(s)" in err


def test_a_refused_connection_names_the_address_and_asks_for_chf_run(capsys, tmp_path):
    from chf.config.keygen import init_keys

    init_keys(tmp_path / "keys")
    port = closed_port()
    assert main(["send", "CCS06", "--wan", f"127.0.0.1:{port}", "--keys", str(tmp_path / "keys"),
                 "--no-inventory"]) == 2
    err = capsys.readouterr().err
    assert "[Errno" not in err and f"127.0.0.1:{port}" in err and "connection refused" in err
    assert "is `chf run` up there?" in err


def test_an_unknown_use_case_lists_hub_and_meter_use_cases_and_the_nearest(capsys):
    assert main(["send", "CS7", "--device", "02C0FFEE000E5E01", "--wan", "127.0.0.1:1", "--no-inventory"]) == 2
    err = capsys.readouterr().err
    assert "did you mean CS07" in err and "to a meter" in err and "DISCONNECT" in err and "CCS06" in err
    assert main(["send", "XYZZY", "--wan", "127.0.0.1:1", "--no-inventory"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_help_names_only_use_cases_chf_send_takes():
    send = next(a for a in build_parser()._subparsers._group_actions[0].choices["send"]._actions
                if a.dest == "meter_type")
    assert "IDENTITY" in send.help
    text = build_parser()._subparsers._group_actions[0].choices["send"].format_help()
    assert "IDENTITY" in text and "CCS04" in text
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    assert "two hubs" in (demo.description or "") + (demo.format_help())


def test_a_silent_radio_port_says_no_stack_answered_and_what_to_check():
    e = translate("/dev/ttyS0", TimeoutError(), "ezsp")
    assert isinstance(e, RadioNoAnswerError)
    text = str(e)
    assert text.startswith("no EZSP stack answered on /dev/ttyS0") and "chf radios --probe" in text
    assert "znp:/dev/ttyS0" in text and "baudrate" in text
    assert str(translate("/dev/ttyACM0", TimeoutError(), "znp")).startswith("no Z-Stack stack answered on /dev/ttyACM0")


def test_a_bench_port_in_use_names_the_hub_and_suggests_port_0(capsys, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        path = tmp_path / "bench.toml"
        path.write_text("\n".join(['keys = "keys"', "", "[[hub]]", 'name = "A"', 'eui = "02C0FFEE0000A001"',
                                   f'wan = "127.0.0.1:{port}"', 'state = "state-a"', ""]))
        assert main(["run", "--bench", str(path)]) == 1
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert f"hub A 02C0FFEE0000A001: 127.0.0.1:{port} is in use" in err and 'wan = "127.0.0.1:0"' in err
