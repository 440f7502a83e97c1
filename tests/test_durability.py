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


CLIENTS = 16


def test_sigkill_during_16_concurrent_clients_loses_no_acknowledged_command(tmp_path):
    """Group commit under load: 16 connections, each its own ACB-role sender (`--trust`) with its own devices, send
    CCS01/CCS02 as fast as they are answered; the hub is SIGKILLed at random moments. After each restart every
    acknowledged change is there (a client's state is its acknowledged model, or that plus the one command it had in
    flight), and no alert counter is ever given out twice (an alert released before its commit would be reused)."""
    rnd = random.Random(20261207)
    keys_dir, state = tmp_path / "keys", tmp_path / "state"
    pki = init_keys(keys_dir)
    senders = [bytes.fromhex("90B3D51F3000EE") + bytes([c]) for c in range(CLIENTS)]
    for o in senders:  # ACB-role senders share the ACB's KA key pair: the hub MACs its responses to them
        for ext in ("key", "pem"):
            (keys_dir / f"{o.hex()}-ka.{ext}").write_bytes((keys_dir / f"{pki.acb.lower()}-ka.{ext}").read_bytes())
    trust = [a for o in senders for a in ("--trust", f"{o.hex()}=access_control_broker")]
    keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb"))
    # three devices each: the device log holds all 48 (`--capacity`), so every acknowledged CCS01 adds its device
    parties = [RemoteParty(keys, o, pki.eui("hub"), pki.eui("supplier"), CounterFile(None)) for o in senders]
    devices = [[bytes.fromhex("00DB1234BB") + bytes([c, n, 0]) for n in range(3)] for c in range(CLIENTS)]
    models: list[set[bytes]] = [set() for _ in range(CLIENTS)]
    acked: list[list[int]] = [[] for _ in range(CLIENTS)]
    alerts: list[int] = []
    sent = [0] * CLIENTS
    plans = [random.Random(rnd.random()) for _ in range(CLIENTS)]

    def client(c: int, port: int, quota: int, in_flight: dict[int, tuple[bytes, bool]], got: list[int]) -> None:
        try:
            conn = Conn(port)
        except OSError:
            return
        try:
            for _ in range(quota):
                dev = plans[c].choice(devices[c])
                add = plans[c].random() < 0.6
                frame = parties[c].build(ccs01(dev, IC) if add else ccs02(dev))
                in_flight[c] = (dev, add)
                sent[c] += 1
                try:
                    resp = conn.exchange(frame)
                except (ConnectionError, OSError):
                    return  # killed with this command in flight
                assert resp is not None
                del in_flight[c]
                (models[c].add if add else models[c].discard)(dev)
                acked[c].append(decode_frame(resp).header.counter)
        finally:
            got.extend(conn.alerts)
            conn.s.close()

    kills = 0
    for round_ in range(6):
        last = round_ == 5
        proc, port = start_hub_trusting(state, keys_dir, trust)
        in_flight: dict[int, tuple[bytes, bool]] = {}
        got: list[int] = []
        threads = [threading.Thread(target=client, args=(c, port, 60 if last else 10_000, in_flight, got))
                   for c in range(CLIENTS)]
        for t in threads:
            t.start()
        if not last:  # kill at a random point of the stream, counted in commands sent (not in time)
            until = sum(sent) + rnd.randint(300, 900)
            while sum(sent) < until and any(t.is_alive() for t in threads):
                threading.Event().wait(0.001)
            proc.send_signal(signal.SIGKILL)
            kills += 1
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        alerts.extend(got)
        if not last:
            proc.wait(5)
            proc, port = start_hub_trusting(state, keys_dir, trust)
        snap = state_of(port)
        for c in range(CLIENTS):
            mine = snap & set(devices[c])
            maybe = set(models[c])
            if c in in_flight:
                dev, add = in_flight[c]
                (maybe.add if add else maybe.discard)(dev)
            assert mine in (models[c], maybe), (round_, c)
            models[c] = mine
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert kills == 5 and sum(sent) >= 2000, sent
    assert len(alerts) == len(set(alerts))  # no alert counter released twice across restarts
    db = next(state.glob("hub-*.sqlite"))
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    last_counter = {bytes(o): v for o, v in c.execute("SELECT originator, last_counter FROM counters")}
    for n, o in enumerate(senders):
        assert acked[n] == sorted(acked[n])
        if acked[n]:
            assert last_counter[o] >= max(acked[n])


def start_hub_trusting(state: Path, keys: Path, trust: list[str]) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--keys", str(keys),
                          "--wan", "127.0.0.1:0", "--capacity", str(3 * CLIENTS), *trust], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.startswith("listening on "), line
    return p, int(line.rsplit(":", 1)[1])


def test_a_hub_stopped_by_sigterm_leaves_its_state_in_one_database_file(tmp_path):
    """A clean stop closes the store: SQLite folds its write-ahead log into the database file, so the state is one
    file (a copy of it is a whole backup) and damage to that file is seen at the next start. A stop that left the
    log open (the hub's lane thread kept the connection alive) left every change in `*.sqlite-wal`."""
    keys_dir, state = tmp_path / "keys", tmp_path / "state"
    pki = init_keys(keys_dir)
    keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb"))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    p, port = start_hub(state, keys_dir)
    try:
        c = Conn(port)
        assert c.exchange(party.build(ccs01(DEVICES[0], IC))) is not None
        c.s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    dbs = list(state.glob("*.sqlite"))
    assert len(dbs) == 1
    wal = dbs[0].with_name(dbs[0].name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True) as db:  # the join is in the file itself
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert DEVICES[0] in {bytes(r[0]) for r in db.execute("SELECT eui FROM device_log")}
