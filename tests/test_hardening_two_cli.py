"""Issue 20 items 8 and 9 on the command line: no tracebacks, no hangs, no directories made on the way, and input
that should be refused is refused in one line, changing nothing."""

import os
import subprocess
import sys

import pytest
from cli_rig import no_locks_left, one_line_error, run  # noqa: F401 - no_locks_left is an autouse fixture
from rtds_data import REPO

from chf.app.cli import main

IC = "83FED3407A939723A5C639B26916D505"




def chf(*argv, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "chf.app.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)})


# ------------------------------------------------------------------------------------------ item 8
def test_send_with_an_unknown_profile(capsys, tmp_path):
    rc, _, err = run(capsys, "send", "ECS26n", "--profile", "nope", "--state", str(tmp_path), "--wan",
                     "127.0.0.1:9", "--wait", "0")
    assert one_line_error(rc, err) and "nope" in err and "rtds" in err


def chf_run_refused(*argv):
    """`chf run …` in its own process (a hub that starts would serve for ever): refused at start, in one line."""
    try:
        r = chf("run", *argv, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chf run {' '.join(argv)}: started instead of refusing")
    return r.returncode, r.stderr


def test_run_virtual_with_time_scale_zero(tmp_path):
    rc, err = chf_run_refused("--radio", "virtual", "--time-scale", "0", "--state", str(tmp_path / "s"),
                              "--wan", "127.0.0.1:0")
    assert one_line_error(rc, err) and "--time-scale takes 0.01 to 1000" in err


BENCH = f'''keys = "keys"

[[hub]]
name = "A"
eui = "02C0FFEE0000A001"
wan = "127.0.0.1:9"

[[meter]]
type = "esme"
eui = "02C0FFEE000E5E01"
install_code = "{IC}"
'''


@pytest.mark.parametrize("what", ["junk", "directory"])
def test_triage_with_an_inventory_that_is_not_one(capsys, tmp_path, what):
    (tmp_path / "bench.toml").write_text(BENCH)
    inv = tmp_path / "inv"
    if what == "junk":
        inv.write_bytes(os.urandom(4096))
    else:
        inv.mkdir()
    rc, _, err = run(capsys, "triage", "--bench", str(tmp_path / "bench.toml"), "--qa", "A", "--meter",
                     "02C0FFEE000E5E01", "--inventory", str(inv))
    assert one_line_error(rc, err) and str(inv) in err
    assert ("is a directory" if what == "directory" else "not an inventory database") in err


def test_send_raw_from_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "frame.fifo"
    os.mkfifo(fifo)
    try:
        r = chf("send", "--raw", f"@{fifo}", "--wan", "127.0.0.1:9", "--wait", "0", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("chf send --raw @FIFO hung")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "not a regular file" in r.stderr


# ------------------------------------------------------------------------------------------ item 9
@pytest.mark.parametrize("flag, value", [("--install-code", "ZZ"), ("--hash", "Z"), ("--install-code", "00" * 15),
                                         ("--hash", "0" * 33)])
def test_inventory_set_refuses_what_is_not_16_bytes_of_hex(capsys, tmp_path, flag, value):
    path = ["--inventory", str(tmp_path / "inv.sqlite")]
    rc = main(["inventory", "set", "--device", "00DB1234567890A0", flag, value, *path])
    err = capsys.readouterr().err
    assert one_line_error(rc, err) and "16 bytes" in err
    assert main(["inventory", "show", "--json", *path]) == 0
    assert capsys.readouterr().out == ""  # nothing stored, not even the device


def test_inventory_and_counters_never_make_a_tree_of_directories(capsys, tmp_path):
    rc, _, err = run(capsys, "inventory", "show", "--inventory", str(tmp_path / "x" / "y" / "inv.sqlite"))
    assert one_line_error(rc, err) and "does not exist" in err
    assert not (tmp_path / "x").exists()
    rc, _, err = run(capsys, "send", "CCS06", "--counters", str(tmp_path / "a" / "b" / "c"), "--state",
                     str(tmp_path), "--wan", "127.0.0.1:9", "--wait", "0", "--no-inventory")
    assert one_line_error(rc, err) and "does not exist" in err
    assert not (tmp_path / "a").exists()


def test_keys_init_with_an_empty_directory_name_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "keys", "init", "")
    assert one_line_error(rc, err) and "DIR" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("wan", ["[::1:0", "::1]:0", "[127.0.0.1]:0", "::1:4059"])
def test_wan_addresses_that_are_not_host_port_are_refused(capsys, tmp_path, wan):
    rc, err = chf_run_refused("--state", str(tmp_path / "s"), "--wan", wan)
    assert one_line_error(rc, err) and wan in err
    assert not (tmp_path / "s").exists()
    rc, _, err = run(capsys, "send", "--raw", "00", "--wan", wan, "--wait", "0")
    assert one_line_error(rc, err)


def test_trust_needs_a_whole_eui(tmp_path):
    rc, err = chf_run_refused("--state", str(tmp_path / "s"), "--wan", "127.0.0.1:0", "--trust", "00DB=supplier")
    assert one_line_error(rc, err) and "00DB=supplier" in err and "16 hex digits" in err


def test_bench_file_wan_addresses_are_read_the_same_way(tmp_path):
    from chf.config.bench_file import BenchFileError, parse

    text = BENCH.replace("127.0.0.1:9", "[::1:0")
    with pytest.raises(BenchFileError, match=r"\[IPv6\]:PORT"):
        parse(text, tmp_path / "b.toml")
    assert parse(BENCH.replace("127.0.0.1:9", "[::1]:0"), tmp_path / "b.toml").hubs[0].host == "::1"
