"""Issue 20 items 6 and 7, against `chf run` processes: state deleted under a running hub is noticed (nothing more
is acknowledged, and a restart on the empty directory is refused without --fresh, even when the whole directory
went); the descriptor limit is raised for the connection cap, and the cap really in force is said at start."""

import re
import resource
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from chf.config.keygen import init_keys
from chf.remote.commands import RemoteParty, ccs01
from gbcs.gfi import encode_line
from gbcs.keys import KeyStore

IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")


def start(state, keys, *extra, preexec=None):
    p = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--keys", str(keys),
                          "--wan", "127.0.0.1:0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=preexec)  # noqa: PLW1509 (only setrlimit, before exec)
    line = p.stdout.readline()
    m = re.search(r"listening on (\S+):(\d+)", line)
    if not m:
        p.wait(30)
        return p, None
    return p, int(m.group(2))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    return err


def ask(port, frame, timeout=10.0):
    """The first line back, or b"" when none comes within `timeout` (a command not acknowledged)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode_line(frame))
        try:
            return s.makefile("rb").readline()
        except TimeoutError:
            return b""


@pytest.fixture
def pki(tmp_path):
    keys = tmp_path / "keys"
    p = init_keys(keys)
    ks = KeyStore.from_directory(keys, acb=p.eui("acb"))
    return keys, RemoteParty(ks, p.eui("acb"), p.eui("hub"), p.eui("supplier"))


@pytest.mark.parametrize("how", ["directory", "database files"])
def test_state_deleted_under_a_running_hub_is_noticed(tmp_path, pki, how):
    keys, party = pki
    state = tmp_path / "state"
    p, port = start(state, keys)
    assert port, p.stderr.read()
    first = party.build(ccs01(bytes.fromhex("00DB123456780001"), IC), counter=101)
    try:
        assert ask(port, first).startswith(b"GBCS:DATA")
        if how == "directory":
            shutil.rmtree(state)
        else:
            for f in state.glob("hub-*.sqlite*"):
                f.unlink()
        # the hub is still up and reading; the change is not acknowledged, since nothing would keep it: the
        # PING sent after it on the same connection is the first line back (lines are answered in order)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(encode_line(party.build(ccs01(bytes.fromhex("00DB123456780002"), IC), counter=102))
                      + b"CHF:PING\r\n")
            assert s.makefile("rb").readline() == b"CHF:OK PONG\r\n"
    finally:
        err = stop(p)
    assert "deleted while the hub was running" in err and "Traceback" not in err
    # a restart on the emptied state directory is refused, saying why and what to do
    p, port = start(state, keys)
    if port:
        replayed = ask(port, first, 3)
        stop(p)
        pytest.fail(f"restarted on lost state; the replayed CCS01 was {'answered' if replayed else 'not answered'}")
    err = p.stderr.read()
    assert p.returncode != 0 and "used before" in err and "--fresh" in err and "Traceback" not in err
    p, port = start(state, keys, "--fresh")  # afresh, on purpose
    assert port
    stop(p)


def _soft_nofile(n):
    def set_limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return set_limit


def _both_nofile(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


def test_a_low_soft_descriptor_limit_is_raised_for_the_connection_cap(tmp_path, pki):
    keys, _ = pki
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1064:
        pytest.skip(f"the hard descriptor limit here ({hard}) cannot hold 1000 connections")
    p, port = start(tmp_path / "state", keys, "--max-connections", "1000", preexec=_soft_nofile(64))
    assert port
    err = stop(p)
    assert "up to 1000 WAN connection(s) (--max-connections)" in err


def test_a_cap_the_descriptor_limit_cannot_hold_is_lowered_and_said(tmp_path, pki):
    keys, _ = pki
    p, port = start(tmp_path / "state", keys, "--max-connections", "1000", preexec=_both_nofile(64))
    assert port
    err = stop(p)
    assert "up to 1 WAN connection(s) (lowered from 1000: the descriptor limit is 64 (hard limit 64)" in err
