"""Issue 9 (hub and state side): bounded GBT reassembly, rejections without a commit each, a security log that
noise cannot wash, damaged databases (emptied, corrupt, full, doubly opened)."""

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from chf.core.errors import ChfError
from chf.core.clock import ManualClock
from chf.core.hub import Hub, HubConfig, Rejection
from chf.core.identity import RTDS
from chf.core.security_log import UNAUTHENTICATED_CODES, RejectionInfo, append, record_rejection
from chf.core.state import LOG_CAPACITY, LogEntry
from chf.core.store import StoreError
from chf.remote.commands import RemoteParty, ccs01, ccs02, ccs06
from chf.runtime.hub_runtime import RunOptions, build_hub, release_locks
from chf.runtime.sqlite_store import SqliteStore
from gbcs.gbt import MAX_TOTAL_BYTES, MAX_TRANSFERS, Reassembler, split
from gbcs.grouping_header import Cra
from gbcs.keys import KeyStore

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")


@pytest.fixture(scope="module")
def keys(rtds_keys):
    return KeyStore.from_directory(rtds_keys)


@pytest.fixture
def hub(keys, tmp_path):
    return Hub(HubConfig(RTDS), keys, SqliteStore(tmp_path / "hub.sqlite"),
               ManualClock(datetime(2020, 1, 1, tzinfo=timezone.utc)))


def party(keys):
    return RemoteParty(keys, keys.acb, RTDS.eui, SUPPLIER)


def first_block(counter: int, size: int = 60000) -> bytes:
    """Block 1 of a transfer that never completes (the last block never comes)."""
    return split(os.urandom(size * 2), size, cra=Cra.COMMAND, counter=counter, originator=ACB, recipient=RTDS.eui,
                 message_code=0x0001)[0]


# ------------------------------------------------------------------------------------------ 1. GBT reassembly
def test_incomplete_gbt_transfers_are_bounded_in_number_and_bytes(hub):
    for c in range(1, 101):
        out = hub.handle(first_block(c))
        assert out.frames == [] and not out.rejected  # held for reassembly, not refused
    held = hub.gbt.pending()
    assert len(held) <= MAX_TRANSFERS
    assert sum(len(t.blocks[1]) for t in hub.gbt._transfers.values()) <= MAX_TOTAL_BYTES
    assert held[-1] == (ACB, 100)  # the newest stays, the oldest went


def test_incomplete_gbt_transfers_expire():
    t = [0.0]
    r = Reassembler(now=lambda: t[0], max_age=60)
    r.add(first_block(1, 100))
    t[0] = 30
    r.add(first_block(2, 100))
    t[0] = 61
    r.add(first_block(3, 100))
    assert [k[1] for k in r.pending()] == [2, 3]
    assert [(e.key[1], e.why) for e in r.evicted] == [(1, "age")]
    assert r.total == 200


def test_gbt_total_bound_drops_oldest_and_completes_newest():
    r = Reassembler(max_total=1000, max_transfers=100)
    r.add(first_block(1, 700))
    blocks = split(b"x" * 800, 400, cra=Cra.COMMAND, counter=2, originator=ACB, recipient=RTDS.eui, message_code=1)
    assert r.add(blocks[0]) is None
    assert r.pending() == [(ACB, 2)] and r.evicted[0].why == "total"
    assert r.add(blocks[1]) == b"x" * 800
    assert r.total == 0


# ------------------------------------------------------------------------------------------ 2. cheap rejections
def test_a_flood_of_rejections_costs_no_commit_each(hub, keys):
    saves = []
    real = hub.store.save
    hub.store.save = lambda st: (saves.append(1), real(st))[1]
    p = party(keys)
    for n in range(200):
        bad = bytearray(p.build(ccs02(ESME), counter=5000 + n))
        bad[-1] ^= 1
        out = hub.handle(bytes(bad))
        assert out.frames == [] and out.rejection is not None
    assert hub.rejections == 200
    assert len(saves) <= 2  # the first is saved at once, the rest at the next flush
    hub.flush()
    stored = SqliteStore(hub.store.path).load(RTDS.extended_pan_id, 16).security_log
    info = RejectionInfo.decode(stored[-1].info)
    assert stored[-1].code == int(Rejection.AUTHENTICATION) and info.repeats == 200 and info.originator == keys.acb
    assert info.counter == 5199


def test_the_tick_flushes_pending_rejections(hub, keys):
    bad = bytearray(party(keys).build(ccs02(ESME), counter=7000))
    bad[-1] ^= 1
    hub.handle(bytes(bad))  # saved at once (the first in a while)
    hub.handle(bytes(bad))  # pending
    hub.tick()
    stored = SqliteStore(hub.store.path).load(RTDS.extended_pan_id, 16).security_log
    assert RejectionInfo.decode(stored[-1].info).repeats == 2


# ------------------------------------------------------------------------------------------ 6. security log
def test_noise_does_not_wash_out_a_replay(hub, keys):
    p = party(keys)
    first = p.build(ccs06(), counter=3000)
    assert hub.handle(first).frames
    replay = hub.handle(first)
    assert replay.frames == [] and replay.rejection is not None and replay.rejection[0] is Rejection.REPLAY
    for n in range(300):  # malformed frames from 300 claimed senders, and garbage
        f = bytearray(p.build(ccs06(), counter=4000 + n))
        f[-1] ^= 1
        f[25:33] = (n + 1).to_bytes(8, "big")  # claimed originator (unknown source)
        hub.handle(bytes(f))
        hub.handle(b"\xDD\x00garbage")
    hub.flush()
    log = SqliteStore(hub.store.path).load(RTDS.extended_pan_id, 16).security_log
    assert len(log) <= LOG_CAPACITY
    replays = [e for e in log if e.code == int(Rejection.REPLAY)]
    assert len(replays) == 1
    info = RejectionInfo.decode(replays[0].info)
    assert (info.originator, info.counter, info.repeats) == (keys.acb, 3000, 1)


def test_noise_is_evicted_before_authenticated_events():
    log: list[LogEntry] = []
    record_rejection(log, 1, int(Rejection.REPLAY), ACB, 5)
    for n in range(LOG_CAPACITY + 50):
        record_rejection(log, 2, int(Rejection.UNKNOWN_SOURCE), n.to_bytes(8, "big"), n)
    assert len(log) == LOG_CAPACITY and log[0].code == int(Rejection.REPLAY)
    assert [e.seq for e in log] == sorted(e.seq for e in log)
    for _ in range(LOG_CAPACITY):
        append(log, LogEntry(3, 0x8F12))  # CS14s: authenticated events push noise out first
    assert all(e.code not in UNAUTHENTICATED_CODES for e in log)


def test_repeats_of_one_failure_coalesce():
    log: list[LogEntry] = []
    for c in range(10):
        record_rejection(log, 1, int(Rejection.MALFORMED), None, None)
        record_rejection(log, 1, int(Rejection.AUTHENTICATION), ACB, c)
    assert len(log) == 2
    assert RejectionInfo.decode(log[1].info) == RejectionInfo(ACB, 9, 10)


# ------------------------------------------------------------------------------------------ 5. damaged state
@pytest.fixture(autouse=True)
def no_locks_left():
    yield
    release_locks()


def run_opts(tmp_path, **kw):
    return RunOptions(state=str(tmp_path / "state"), **kw)


def db_of(tmp_path):
    return next((tmp_path / "state").glob("hub-*.sqlite"))


def test_an_emptied_database_in_a_used_state_directory_is_refused(tmp_path):
    build_hub(run_opts(tmp_path)).store.close()
    db = db_of(tmp_path)
    db.write_bytes(b"")
    for f in db.parent.glob("*-wal"):
        f.unlink()
    release_locks()
    with pytest.raises(ChfError, match="--fresh") as e:
        build_hub(run_opts(tmp_path))
    assert str(db) in str(e.value) and "\n" not in str(e.value)
    db.unlink()
    release_locks()
    with pytest.raises(ChfError, match="empty or missing"):
        build_hub(run_opts(tmp_path))
    release_locks()
    h = build_hub(run_opts(tmp_path, fresh=True))  # afresh, on purpose
    assert h.state.counters == {}
    h.store.close()
    release_locks()
    build_hub(run_opts(tmp_path)).store.close()  # and the fresh database is now the expected one
    release_locks()


def test_a_corrupt_database_is_one_clear_line(tmp_path):
    build_hub(run_opts(tmp_path)).store.close()
    db = db_of(tmp_path)
    with open(db, "r+b") as f:
        f.write(b"\xFF" * 100)
    release_locks()
    with pytest.raises(StoreError) as e:
        build_hub(run_opts(tmp_path))
    msg = str(e.value)
    assert "is damaged" in msg and str(db) in msg and "--fresh" in msg and "\n" not in msg


def test_corrupt_database_from_the_command_line(tmp_path):
    state = tmp_path / "state"
    build_hub(run_opts(tmp_path)).store.close()
    release_locks()  # or the subprocess would stop at the lock, not at the damage
    with open(db_of(tmp_path), "r+b") as f:
        f.write(b"\xFF" * 100)
    r = subprocess.run([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--wan", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "is damaged" in r.stderr


def full_store(path) -> SqliteStore:
    s = SqliteStore(path)
    s.db.execute("CREATE TABLE ballast (x BLOB)")
    pages = s.db.execute("PRAGMA page_count").fetchone()[0]
    s.db.execute(f"PRAGMA max_page_count={pages + 1}")
    for size in (2000, 200, 20, 1):  # fill every last byte
        try:
            while True:
                s.db.execute(f"INSERT INTO ballast VALUES (zeroblob({size}))")
        except sqlite3.OperationalError:
            pass
    return s


def test_disk_full_is_a_clean_error_and_recovers(tmp_path):
    s = full_store(tmp_path / "full.sqlite")
    st = s.load(RTDS.extended_pan_id, 16)
    for n in range(50):
        st.counters[bytes([n]) * 8] = n
        st.log_security(LogEntry(n, 0x8F12, bytes(200)))
    with pytest.raises(StoreError, match="disk full") as e:
        s.save(st)
    assert "cannot rollback" not in str(e.value) and not s.db.in_transaction
    s.db.execute("DELETE FROM ballast")
    s.db.execute("PRAGMA max_page_count=1000000")
    s.save(st)  # space is back: everything pending is written
    assert len(SqliteStore(tmp_path / "full.sqlite").load(RTDS.extended_pan_id, 16).counters) == 50


class FullStore(SqliteStore):
    """A store whose disk is full until `full` is cleared (the Store test above covers real SQLITE_FULL)."""

    full = True

    def save(self, st):
        if self.full:
            raise StoreError(f"{self.path}: disk full (database or disk is full); nothing was written")
        super().save(st)


def test_a_full_disk_refuses_changes_but_serves_reads(keys, tmp_path):
    store = FullStore(tmp_path / "hub.sqlite")
    hub = Hub(HubConfig(RTDS), keys, store, ManualClock(datetime(2020, 1, 1, tzinfo=timezone.utc)))
    p = party(keys)
    out = hub.handle(p.build(ccs01(ESME, bytes(16)), counter=100))  # a change: not acknowledged
    assert out.frames == [] and isinstance(out.error, StoreError) and out.rejection is None
    assert ESME not in hub.state.device_log
    assert hub.handle(p.build(ccs06(), counter=101)).frames  # a read: answered
    store.full = False
    assert hub.handle(p.build(ccs01(ESME, bytes(16)), counter=102)).frames  # space is back
    st = SqliteStore(tmp_path / "hub.sqlite").load(RTDS.extended_pan_id, 16)
    assert ESME in st.device_log and st.counters[keys.acb] == 102


def test_deleting_hub_lock_does_not_let_a_second_hub_in(tmp_path):
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--wan", "127.0.0.1:0"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on" in first.stdout.readline()
        (state / "hub.lock").unlink()
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "database is locked" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.wait(10)
