"""Issue 9 (WAN side): fair turns between connections, control channel exposure, connection cap, idle timeout,
over-long lines at EOF, quiet logging, refused joins."""

import ipaddress
import logging
import socket
import threading
import time

import pytest
from wan_rig import hub_and_party, read_line

from chf.core.quiet_log import QuietLog
from chf.remote.client import control
from chf.remote.commands import ccs06
from chf.runtime.hub_runtime import ServerThread
from chf.runtime.wan import MAX_LINE, TcpWan
from chf.runtime.wan_limits import WanLimits, exposure_notice, parse_networks
from gbcs.gfi import encode_line


@pytest.fixture
def parts(tmp_path):
    return hub_and_party(tmp_path)



def test_a_flooding_connection_does_not_starve_another(parts, monkeypatch):
    """While one client's 300 buffered lines are being handled, a second client's line is handled within a few
    turns, not after the whole flood (the hub's worker is held on the flood's first line until the second
    client's line has been handed to it)."""
    hub, _ = parts
    second = encode_line(b"\xBB").strip()
    handed_over = threading.Event()
    real_line = TcpWan._line

    async def line(self, raw, writer):
        work = real_line(self, raw, writer)
        if raw.strip() == second:
            # set before `work` hands the line to the worker, but in the same turn of the loop: the flood's next
            # line can only be handed over by this loop once the worker is done with the first, so after this one
            handed_over.set()
        return await work

    monkeypatch.setattr(TcpWan, "_line", line)
    with ServerThread(hub) as srv:
        order: list[bytes] = []
        held: list[bool] = []
        real = hub.handle  # the dispatcher is inside the server: wrap the hub's entry point

        def handle(frame, origin=None):
            if not order:
                held.append(handed_over.wait(10))  # hold the hub's worker until the second line is queued for it
            order.append(frame)
            return real(frame, origin)

        hub.handle = handle
        a = socket.create_connection((srv.host, srv.port))
        a.sendall(b"".join(encode_line(b"\xAA" + bytes([i % 256])) for i in range(300)))
        b = socket.create_connection((srv.host, srv.port))
        b.sendall(encode_line(b"\xBB"))
        deadline = time.time() + 20
        while len(order) < 301 and time.time() < deadline:
            time.sleep(0.05)
        a.close()
        b.close()
    assert held == [True] and len(order) == 301
    assert order.index(b"\xBB") < 20  # old code: after all 300 of the flood's lines


def test_control_channel_refused_from_peers_outside_control_from(parts):
    hub, _ = parts
    with ServerThread(hub, limits=WanLimits(control_from=parse_networks(["10.0.0.0/8"]))) as srv:
        s = socket.create_connection((srv.host, srv.port))
        for cmd in (b"CHF:STATE", b"CHF:JOIN 00DB1234567890A0 " + b"00" * 16, b"  CHF:FAULT 1/0-0:1.0.0.255/a2=1"):
            s.sendall(cmd + b"\r\n")
            reply = read_line(s)
            assert reply.startswith(b"CHF:ERROR control channel not open to 127.0.0.1"), reply
        s.close()
    assert hub.faults.list() == []


def test_control_channel_open_to_loopback_by_default(parts):
    hub, _ = parts
    with ServerThread(hub) as srv:
        assert control(srv.host, srv.port, "PING")[0] == "CHF:OK PONG"


def test_control_from_rules():
    lim = WanLimits()
    assert lim.control_allowed("127.0.0.1") and lim.control_allowed("::1") and lim.control_allowed("::ffff:127.0.0.5")
    assert not lim.control_allowed("192.168.1.7") and not lim.control_allowed(None) and not lim.control_allowed("x")
    wide = WanLimits(control_from=parse_networks(["192.168.0.0/16, 10.1.2.3"]))
    assert wide.control_allowed("192.168.1.7") and wide.control_allowed("10.1.2.3")
    assert not wide.control_allowed("127.0.0.1")
    with pytest.raises(ValueError, match="not an IP"):
        parse_networks(["bogus"])
    assert wide.control_from[1] == ipaddress.ip_network("10.1.2.3/32")


def test_a_hub_bound_beyond_loopback_says_what_is_exposed():
    assert exposure_notice("127.0.0.1", 4059, WanLimits()) is None
    note = exposure_notice("0.0.0.0", 4059, WanLimits())
    assert "0.0.0.0:4059" in note and "127.0.0.0/8" in note and "--control-from" in note


def test_connection_cap_refuses_clearly(parts):
    hub, _ = parts
    with ServerThread(hub, limits=WanLimits(max_connections=2, max_per_source=2)) as srv:  # the cap, not the share
        keep = [socket.create_connection((srv.host, srv.port)) for _ in range(2)]
        for k in keep:  # make sure both are accepted and counted
            k.sendall(b"CHF:PING\r\n")
            assert read_line(k) == b"CHF:OK PONG"
        extra = socket.create_connection((srv.host, srv.port))
        assert read_line(extra).startswith(b"ERROR too many connections (2)")
        extra.close()
        # A client leaves: the server sees its end of stream, frees its place, then closes its side; the
        # client's end of stream says the place is free.
        keep[0].shutdown(socket.SHUT_WR)
        keep[0].settimeout(5)
        assert keep[0].recv(10) == b""
        keep[0].close()
        again = socket.create_connection((srv.host, srv.port))
        again.sendall(b"CHF:PING\r\n")
        assert read_line(again) == b"CHF:OK PONG"
        again.close()
        keep[1].close()


def test_a_trickling_client_is_closed_after_the_idle_timeout(parts):
    hub, _ = parts
    with ServerThread(hub, limits=WanLimits(idle_timeout=0.5)) as srv:
        s = socket.create_connection((srv.host, srv.port))
        s.sendall(b"G")  # never completes a line
        assert read_line(s).startswith(b"ERROR no frame for 0.5 s")
        assert s.recv(10) == b""  # closed
        s.close()


def test_oversize_line_then_eof_gets_an_error_line(parts, caplog):
    hub, _ = parts
    with ServerThread(hub) as srv, caplog.at_level(logging.ERROR):
        s = socket.create_connection((srv.host, srv.port))
        s.sendall(b"7" * (MAX_LINE + 1000))
        s.shutdown(socket.SHUT_WR)
        assert read_line(s).startswith(b"ERROR line longer")
        s.close()
    assert not [r for r in caplog.records if "IncompleteReadError" in r.getMessage() or r.exc_info]


def test_quiet_log_says_a_condition_once_per_interval(caplog):
    t = [0.0]
    q = QuietLog(logging.getLogger("test.quiet"), interval=10, now=lambda: t[0])
    with caplog.at_level(logging.WARNING, "test.quiet"):
        assert q.log("accept", "cannot accept")
        assert not any(q.log("accept", "cannot accept") for _ in range(1000))
        t[0] = 11
        assert q.log("accept", "cannot accept")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["cannot accept", "cannot accept (1000 more like it not shown)"]


def test_a_refused_join_is_not_answered_ok(parts):
    hub, _ = parts
    with ServerThread(hub) as srv:
        reply, frames = control(srv.host, srv.port, "JOIN 00DB1234567890A0 " + "11" * 16)
    assert reply.startswith("CHF:ERROR join refused (UNKNOWN_SOURCE)") and frames == []


def test_rejections_do_not_hold_up_a_legitimate_command(parts):
    """No timing: the flood's frames are rejected without a commit each (see test_hardening_state), and the
    command sent after a burst of 500 failing frames is still answered."""
    hub, party = parts
    with ServerThread(hub) as srv:
        bad = bytearray(party.build(ccs06()))
        bad[-1] ^= 1
        s = socket.create_connection((srv.host, srv.port))
        s.sendall(encode_line(bytes(bad)) * 500)
        t = socket.create_connection((srv.host, srv.port))
        t.sendall(encode_line(party.build(ccs06())))
        assert read_line(t, timeout=20).startswith(b"GBCS:DATA#0:")
        s.close()
        t.close()
