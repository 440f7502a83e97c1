"""Issue 20, the WAN port: a slot is kept by frames, not by empty lines (item 1); one source address holds at most
its share of the slots (item 1); the line limit and the GFI frame limit are one (item 9); the control channel on a
serial line and `--control-from` (item 5)."""

import socket
import subprocess
import sys
import threading

import pytest
from wan_rig import hub_and_party, read_line

from chf.remote.commands import ccs06
from chf.runtime.hub_runtime import RunOptions, ServerThread, wan_limits
from chf.runtime.wan import Dispatcher, serve_serial
from chf.runtime.wan_limits import WanLimits, exposure_notice
from gbcs.gfi import MAX_FRAME, encode_line


@pytest.fixture
def parts(tmp_path):
    return hub_and_party(tmp_path)



def connect(srv, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.connect((srv.host, srv.port))
    return s


# ------------------------------------------------------------------------------------------ item 1
def test_empty_lines_do_not_keep_a_connection_slot(parts):
    """A peer sending only empty lines is closed after the idle timeout (it used to stay for ever)."""
    hub, _ = parts
    with ServerThread(hub, limits=WanLimits(idle_timeout=0.5)) as srv:
        s = connect(srv)
        s.settimeout(0.1)
        got = b""
        for _ in range(200):  # up to 40 timeouts' worth of empty lines: the stimulus, not a deadline
            try:
                s.sendall(b"\r\n")
            except OSError:
                break
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            got += chunk
            if not chunk:
                break
        s.close()
    assert got.startswith(b"ERROR no frame for 0.5 s; closing")


def test_a_frame_or_an_allowed_control_line_keeps_the_slot(parts):
    """What keeps a slot: frames, answered or refused, and control lines the peer may send; malformed lines
    do not. Shown without clocks: the server reports which lines counted."""
    hub, party = parts
    d = Dispatcher(hub)
    bad = bytearray(party.build(ccs06()))
    bad[-1] ^= 1
    assert d.answer(encode_line(party.build(ccs06()))).active
    assert d.answer(encode_line(bytes(bad))).active  # refused by the hub, but a frame
    assert d.answer(b"CHF:PING\r\n").active
    assert not d.answer(b"\r\n").active and not d.answer(b"   \r\n").active
    assert not d.answer(b"GBCS:DATA#0:2:ZZZZ\r\n").active


def test_one_source_cannot_hold_every_slot(parts):
    """With 8 slots, one address holds at most 2 (a quarter); the third is refused with a clear line, while
    another address still gets in."""
    hub, _ = parts
    with ServerThread(hub, limits=WanLimits(max_connections=8)) as srv:
        keep = [connect(srv) for _ in range(2)]
        for k in keep:
            k.sendall(b"CHF:PING\r\n")
            assert read_line(k) == b"CHF:OK PONG"
        extra = connect(srv)
        assert read_line(extra) == b"ERROR too many connections from 127.0.0.1 (2); try later"
        assert extra.recv(10) == b""
        extra.close()
        other = connect(srv, "127.0.0.2")  # loopback is a /8: another source address on this host
        other.sendall(b"CHF:PING\r\n")
        assert read_line(other) == b"CHF:OK PONG"
        for s in [*keep, other]:
            s.close()


def test_the_share_per_source_is_configurable_and_said_at_start(tmp_path):
    limits = wan_limits(RunOptions(state=str(tmp_path), max_connections=100, max_per_source=10))
    assert limits.per_source == 10
    assert "10 per source address" in limits.notice
    assert wan_limits(RunOptions(state=str(tmp_path), max_connections=100)).per_source == 25


# ------------------------------------------------------------------------------------------ item 9: one limit
def test_the_longest_frame_gfi_accepts_is_not_an_over_long_line(parts):
    """A line carrying a frame of MAX_FRAME bytes reaches the decoder (the hub refuses the junk frame, no answer);
    it used to be cut as an over-long line. One byte more is refused, by one limit or the other."""
    hub, _ = parts
    with ServerThread(hub) as srv:
        s = connect(srv)
        for n in (MAX_FRAME - 9, MAX_FRAME):
            s.sendall(encode_line(b"\x07" * n) + b"CHF:PING\r\n")
            assert read_line(s, 30) == b"CHF:OK PONG", n
        s.sendall(encode_line(b"\x07" * (MAX_FRAME + 1)))
        assert read_line(s, 30).startswith(b"ERROR")
        s.close()


# ------------------------------------------------------------------------------------------ item 5
def _serial_far_end():
    """A TCP listener standing for whatever sits at the far end of `serial://socket://...`."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(60)
    return ls


@pytest.mark.parametrize("control, reply", [(False, b"CHF:ERROR control channel not open on a serial line"),
                                            (True, b"CHF:OK PONG")])
def test_a_serial_line_is_not_a_local_cable(parts, control, reply):
    hub, party = parts
    ls = _serial_far_end()
    stop, ready = threading.Event(), threading.Event()
    kw = {"control": True} if control else {}
    t = threading.Thread(target=serve_serial, args=(Dispatcher(hub), f"socket://127.0.0.1:{ls.getsockname()[1]}"),
                         kwargs={"stop": stop, "ready": ready, **kw}, daemon=True)
    t.start()
    far, _ = ls.accept()
    assert ready.wait(10)
    far.settimeout(30)
    replies = far.makefile("rb")
    far.sendall(b"CHF:PING\r\nCHF:FAULT 1/0-0:96.1.4.255/a2=1\r\n")
    assert replies.readline().startswith(reply)
    replies.readline()
    far.sendall(encode_line(party.build(ccs06())))  # GBCS still flows either way
    assert replies.readline().startswith(b"GBCS:DATA#0:")
    stop.set()
    t.join(5)
    far.close()
    ls.close()
    assert (hub.faults.list() != []) == control


def test_chf_run_over_serial_refuses_the_control_channel_outside_control_from(tmp_path):
    """The issue's case: a hub on `--wan serial://socket://…` with `--control-from 10.9.9.9/32` answered CHF:PING
    and took CHF:FAULT."""
    ls = _serial_far_end()
    p = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(tmp_path / "s"), "--wan",
                          f"serial://socket://127.0.0.1:{ls.getsockname()[1]}", "--control-from", "10.9.9.9/32"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ls.settimeout(60)
        far, _ = ls.accept()
        assert "listening on serial" in p.stdout.readline()
        far.sendall(b"CHF:PING\r\n")
        assert read_line(far, 30).startswith(b"CHF:ERROR control channel not open on a serial line")
        far.close()
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
        ls.close()
    assert "serial WAN line is not a local cable" in err and "closed (add --control-from serial)" in err


def test_control_from_widens_the_loopback_default_and_says_so(tmp_path):
    limits = wan_limits(RunOptions(state=str(tmp_path), control_from=["10.9.9.9/32"]))
    assert limits.control_allowed("127.0.0.1") and limits.control_allowed("::1")  # still open to loopback
    assert limits.control_allowed("10.9.9.9") and not limits.control_allowed("10.9.9.8")
    assert not limits.control_serial
    assert "10.9.9.9/32" in exposure_notice("0.0.0.0", 4059, limits) and "127.0.0.0/8" in exposure_notice(
        "0.0.0.0", 4059, limits)
    closed = wan_limits(RunOptions(state=str(tmp_path), control_from=["none"]))
    assert not closed.control_allowed("127.0.0.1")
    note = exposure_notice("0.0.0.0", 4059, closed)
    assert "closed to every peer" in note and "nobody only" not in note
    assert wan_limits(RunOptions(state=str(tmp_path), control_from=["serial"])).control_serial
