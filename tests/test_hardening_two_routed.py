"""Issue 20 item 2: frames the CHF only routes to a device cannot starve the hub. They run on their own lane and
never queue ahead of the CHF's own commands; what the HAN side holds is bounded per device and in all (a sleepy
GSME's queue included); a frame that does not fit is refused with an ERROR line and a security-log entry."""

import asyncio
import socket
import threading
from datetime import datetime, timezone

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import FixedClock
from chf.core.device_log import DeviceType
from chf.core.han import Tunnel
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.commands import CounterFile, RemoteParty, ccs06
from chf.runtime.hub_runtime import ServerThread
from chf.runtime.sqlite_store import SqliteStore
from gbcs.gfi import encode_line
from gbcs.keys import KeyStore

ESME = bytes.fromhex("00DB123456780001")
GSME = bytes.fromhex("00DB123456780002")
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")


@pytest.fixture
def parts(tmp_path):
    pki = init_keys(tmp_path / "keys")
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "hub.sqlite"), FixedClock(datetime(2022, 1, 1, tzinfo=timezone.utc)))
    hub.install(ESME, DeviceType.ESME, IC)
    hub.install(GSME, DeviceType.GSME, IC)
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    return hub, party, keys


def routed(party, device, counter):
    """An unauthenticated frame for `device`: a CHF command with its recipient changed (as the issue's flood)."""
    return party.build(ccs06(), counter=counter).replace(party.hub, device, 1)


class StuckHan:
    """A radio that takes routed frames and never finishes sending them (a device that does not answer)."""

    def __init__(self):
        self.started: list = []
        self.release = None

    async def start(self, on_event):
        self.release = asyncio.Event()

    async def execute(self, command):
        self.started.append(command)
        if isinstance(command, Tunnel):
            await self.release.wait()

    async def stop(self):
        pass


def read_lines(sock, n, timeout=20.0):
    sock.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.splitlines()


def test_routed_frames_never_delay_a_hub_command(parts, monkeypatch):
    """While a routed frame is being worked on (held here in its GFI decoding), a CHF command on another
    connection is answered: routed traffic has its own lane. It used to wait behind every routed frame on the
    hub's one worker thread."""
    import chf.runtime.wan as wan

    hub, party, _ = parts
    inside, release = threading.Event(), threading.Event()
    real = wan.decode_line

    def decode_line(text):
        frame = real(text)
        if GSME in frame[:64]:
            inside.set()
            release.wait(60)
        return frame

    monkeypatch.setattr(wan, "decode_line", decode_line)
    with ServerThread(hub) as srv:
        flood = socket.create_connection((srv.host, srv.port))
        flood.sendall(encode_line(routed(party, GSME, 1)))
        assert inside.wait(20)
        legit = socket.create_connection((srv.host, srv.port))
        legit.sendall(encode_line(party.build(ccs06(), counter=100)))
        try:
            answer = read_lines(legit, 1, timeout=20)
        except TimeoutError:
            answer = []
        stuck = not release.is_set()
        release.set()
        flood.close()
        legit.close()
    assert stuck and answer and answer[0].startswith(b"GBCS:DATA#0:")


def test_routed_frames_beyond_the_han_buffer_are_refused_and_logged(parts):
    """8 routed frames per device fit (none delivered yet); the 9th is refused with an ERROR line, forwarded to no
    one, and recorded in the security log (0x8F84 for an ESME, 0x819D for a GSME, coalesced)."""
    hub, party, _ = parts
    han = StuckHan()
    with ServerThread(hub, han=han) as srv:
        s = socket.create_connection((srv.host, srv.port))
        for device in (ESME, GSME):
            s.sendall(b"".join(encode_line(routed(party, device, c)) for c in range(1, 11)) + b"CHF:PING\r\n")
            lines = read_lines(s, 3)
            assert lines[:2] == [f"ERROR HAN buffer full: 8 frame(s) already queued for {device.hex().upper()} "
                                 "(at most 8 per device); frame not forwarded".encode()] * 2, lines
            assert lines[2] == b"CHF:OK PONG"
        s.close()
        srv.loop.call_soon_threadsafe(han.release.set)
    tunnels = [c for c in han.started if isinstance(c, Tunnel)]
    assert sorted({c.eui for c in tunnels}) == sorted({ESME, GSME})
    codes = {e.code: e for e in hub.state.security_log}
    assert 0x8F84 in codes and 0x819D in codes
    assert int.from_bytes(codes[0x8F84].info[16:20], "big") == 2  # the two refused ESME frames, one entry


def test_routed_frames_in_all_are_bounded(parts):
    """The HAN side holds at most 64 routed frames whatever the devices: with 9 devices of 8 slots, the 65th
    frame is refused though its own device has room."""
    hub, party, _ = parts
    devices = [bytes.fromhex("00DB1234567801") + bytes([n]) for n in range(9)]
    for d in devices:
        hub.install(d, DeviceType.ESME, IC)
    han = StuckHan()
    with ServerThread(hub, han=han) as srv:
        s = socket.create_connection((srv.host, srv.port))
        frames = [routed(party, d, c) for c, d in enumerate(devices[:8] * 8, 1)]  # 64: every slot of 8 devices
        s.sendall(b"".join(encode_line(f) for f in frames) + encode_line(routed(party, devices[8], 99))
                  + b"CHF:PING\r\n")
        lines = read_lines(s, 2)
        s.close()
        srv.loop.call_soon_threadsafe(han.release.set)
    assert lines[0].startswith(b"ERROR HAN buffer full: 64 frame(s) queued for the HAN (at most 64 in all)"), lines
    assert lines[1] == b"CHF:OK PONG"


def test_a_sleepy_gsme_queue_is_bounded(parts):
    """The radio side's own queue for a sleepy device (collected by the GSME's GET) holds at most 8 frames; the
    9th is reported as undelivered, and each frame the GSME collects frees its room."""
    from zigbee import tunnel
    from zigbee.zigpy_han import ZigpyHan

    _, party, _ = parts
    events = []
    han = ZigpyHan(app=None, started=True)
    han._on_event = events.append
    han._server_tunnels[GSME] = 7  # the GSME asked us to be its tunnel server: it is sleepy
    frame = routed(party, GSME, 1)

    async def go():
        for _ in range(9):
            await han.execute(Tunnel(GSME, frame))

    asyncio.run(go())
    assert [type(e).__name__ for e in events] == ["Undelivered"] and events[0].eui == GSME
    assert "at most 8" in events[0].reason
    assert han.backlog(GSME) == 8 and han.backlog() == 8
    parts_per_frame = len(tunnel.transfers(frame, header=tunnel.GET_RESPONSE_OVERHEAD))
    for _ in range(parts_per_frame):
        han._took_part(GSME)
        han._queues[GSME].popleft()
    assert han.backlog(GSME) == 7


def test_the_lane_is_chosen_from_the_recipient_as_the_decoder_reads_it():
    """The routed lane is picked from a peek at a frame's first bytes: for every RTDS frame, every GBT block of
    them, and the bare grouping headers, the peek names the recipient the full decoder finds."""
    from rtds_data import frames

    from gbcs.frame import decode_frame, peek_recipient
    from gbcs.gbt import GbtBlock, split_frame

    seen = 0
    for name, data in frames():
        try:
            f = decode_frame(data)
        except Exception:
            continue
        assert peek_recipient(data) == f.header.recipient, name
        assert peek_recipient(f.header.encode()) == f.header.recipient, name
        for block in split_frame(data, 64)[:2]:
            assert peek_recipient(block) == GbtBlock.decode(block).recipient, name
        seen += 1
    assert seen > 300
    assert peek_recipient(b"") is None and peek_recipient(b"\xDD\x00") is None and peek_recipient(b"\x07" * 64) is None
