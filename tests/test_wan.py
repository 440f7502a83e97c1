"""The WAN port under abuse: garbage, half and oversize lines, abrupt disconnects, many clients at once."""

import random
import socket
import threading
from datetime import datetime, timezone

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import FixedClock
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.client import control, send
from chf.remote.commands import CounterFile, RemoteParty, ccs01, ccs06
from chf.runtime.hub_runtime import ServerThread
from chf.runtime.sqlite_store import SqliteStore
from chf.runtime.wan import MAX_LINE, Dispatcher, serve_serial
from gbcs.gfi import decode_line, encode_line
from gbcs.keys import KeyStore


@pytest.fixture
def rig(tmp_path):
    pki = init_keys(tmp_path / "keys")
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "hub.sqlite"), FixedClock(datetime(2022, 1, 1, tzinfo=timezone.utc)))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    with ServerThread(hub) as srv:
        yield srv, party


def lines(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            ln, buf = buf.split(b"\n", 1)
            out.append(ln.rstrip(b"\r"))
    return out


def test_malformed_lines_get_an_error_and_the_connection_stays_usable(rig):
    srv, party = rig
    s = socket.create_connection((srv.host, srv.port))
    s.sendall(b"hello\r\nGBCS:DATA#0:3:ABCD\r\nGBCS:DATA#0:2:ZZZZ\r\n" + b"\x00\xff\xfe garbage\n")
    errs = lines(s, 4)
    assert all(e.startswith(b"ERROR ") for e in errs) and len(errs) == 4
    s.sendall(b"GBCS:DATA#0:" + b"9" * (MAX_LINE + 10) + b"\r\n")  # oversize
    assert lines(s, 1)[0].startswith(b"ERROR line longer")
    s.sendall(encode_line(party.build(ccs06())))
    got = lines(s, 1)
    assert got[0].startswith(b"GBCS:DATA#0:") and decode_line(got[0])[0] == 0xDD
    s.close()


def test_half_lines_and_abrupt_disconnects_from_many_clients(rig):
    srv, party = rig
    rnd = random.Random(7)
    frame = encode_line(party.build(ccs06()))

    def vandal():
        s = socket.create_connection((srv.host, srv.port))
        s.sendall(frame[:rnd.randrange(1, len(frame) - 1)])  # half a line, then vanish
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        s.close()

    threads = [threading.Thread(target=vandal) for _ in range(40)]
    results = []

    def honest():
        # One remote party's commands in counter order (the hub refuses a lower counter as a replay, so
        # concurrent senders sharing an originator would race); the vandals run alongside.
        for n in range(8):
            ex = send(srv.host, srv.port, party.build(ccs01(bytes(7) + bytes([n]), bytes(16))), wait=5, linger=0)
            results.append(ex.response is not None)

    threads.insert(len(threads) // 2, threading.Thread(target=honest))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [True] * 8
    assert control(srv.host, srv.port, "PING")[0] == "CHF:OK PONG"


def test_control_channel(rig):
    srv, _ = rig
    assert control(srv.host, srv.port, "FAULT 104/0-0:30.3.0.255/a4=1,once")[0].startswith("CHF:OK")
    assert control(srv.host, srv.port, "FAULTS")[0] == "CHF:OK 104/0-0:30.3.0.255/a4=1,once"
    assert control(srv.host, srv.port, "FAULT nonsense")[0].startswith("CHF:ERROR")
    assert control(srv.host, srv.port, "BOGUS")[0].startswith("CHF:ERROR unknown")


def test_serial_wan_over_a_pyserial_url(rig, tmp_path):
    """The same GFI framing over pyserial: `socket://` stands in for a USB serial line."""
    srv, party = rig
    peer = socket.socket()
    peer.bind(("127.0.0.1", 0))
    peer.listen(1)
    stop, ready = threading.Event(), threading.Event()
    d = Dispatcher(srv.hub)
    t = threading.Thread(target=serve_serial, args=(d, f"socket://127.0.0.1:{peer.getsockname()[1]}"),
                         kwargs={"stop": stop, "ready": ready}, daemon=True)
    t.start()
    conn, _ = peer.accept()
    assert ready.wait(5)
    conn.sendall(b"junk\r\n" + encode_line(party.build(ccs06())))
    got = lines(conn, 2)
    assert got[0].startswith(b"ERROR") and got[1].startswith(b"GBCS:DATA#0:")
    stop.set()
    t.join(3)
    conn.close()
    peer.close()
