"""Durability: SIGKILL the hub process at random moments during 1,000+ CCS01/CCS02 commands (issue 3)."""

import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from chf.config.keygen import init_keys
from chf.remote.commands import CounterFile, RemoteParty, ccs01, ccs02
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.keys import KeyStore

IC = bytes(range(16))
DEVICES = [bytes.fromhex("00DB12345678AA") + bytes([n]) for n in range(12)]


def start_hub(state: Path, keys: Path) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--keys", str(keys),
                          "--wan", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.startswith("listening on "), line
    return p, int(line.rsplit(":", 1)[1])


class Conn:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.alerts: list[int] = []

    def exchange(self, frame: bytes) -> bytes | None:
        counter = decode_frame(frame).header.counter
        self.s.sendall(encode_line(frame))
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                f = decode_line(line)
                h = decode_frame(f).header
                if int(h.cra) == 3:
                    self.alerts.append(h.counter)
                elif h.counter == counter:
                    return f
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk


def test_sigkill_during_a_stream_of_commands(tmp_path):
    rnd = random.Random(20261121)
    keys_dir, state = tmp_path / "keys", tmp_path / "state"
    pki = init_keys(keys_dir)
    keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb"))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    model: set[bytes] = set()
    acked_counters: list[int] = []
    alert_counters: list[int] = []
    kills = 0
    sent = 0
    proc, port = start_hub(state, keys_dir)
    conn = Conn(port)
    killer = None
    # Random moments: five random points of the stream, each a random 0-3 ms after a command leaves, so the
    # kill lands before, during or after the hub's commit.
    kill_at = set(rnd.sample(range(20, 1080), 5))
    try:
        while sent < 1100:
            dev = rnd.choice(DEVICES)
            add = rnd.random() < 0.6
            frame = party.build(ccs01(dev, IC) if add else ccs02(dev))
            sent += 1
            if sent in kill_at:
                killer = threading.Timer(rnd.uniform(0, 0.003), proc.send_signal, (signal.SIGKILL,))
                killer.start()
            try:
                resp = conn.exchange(frame)
            except (ConnectionError, OSError):
                resp = None
            if resp is not None:
                (model.add if add else model.discard)(dev)
                acked_counters.append(decode_frame(resp).header.counter)
                continue
            # The hub died with this command in flight: it may or may not have been applied.
            kills += 1
            proc.wait(5)
            alert_counters.extend(conn.alerts)
            proc, port = start_hub(state, keys_dir)
            conn = Conn(port)
            snap = state_of(port)
            maybe = set(model)
            (maybe.add if add else maybe.discard)(dev)
            assert snap in (model, maybe), (kills, sent)
            model = snap
    finally:
        if killer:
            killer.cancel()
        alert_counters.extend(conn.alerts)
        final = state_of(port)
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
    assert kills >= 3 and sent >= 1000
    assert final == model
    db = next(state.glob("hub-*.sqlite"))
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    last = c.execute("SELECT last_counter FROM counters").fetchone()[0]
    assert last == max(acked_counters) or last > max(acked_counters)  # the in-flight one may be newer
    assert acked_counters == sorted(acked_counters)
    assert alert_counters == sorted(set(alert_counters))  # strictly increasing across restarts


def state_of(port: int) -> set[bytes]:
    import json

    from chf.remote.client import control
    reply, _ = control("127.0.0.1", port, "STATE")
    assert reply.startswith("CHF:OK ")
    return {bytes.fromhex(e["eui"]) for e in json.loads(reply[7:])["device_log"]}
