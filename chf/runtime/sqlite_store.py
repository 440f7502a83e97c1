"""Durable hub state: one SQLite database (WAL) per hub; one transaction per command, or per group of commands that
arrived together (group commit, `Hub.handle_group`; docs/robustness.md).

The hub sends a response only after `save` returns, so an acknowledged command is never lost. WAL with
`synchronous=NORMAL` survives a killed process (what the durability test does); `synchronous="FULL"` also
survives power loss at a cost per commit. Any SQLite failure (corrupt pages, disk full, a locked file) surfaces
as one `StoreError` naming the file, never a raw traceback; see docs/robustness.md for the recovery rules.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from datetime import datetime
from pathlib import Path

from chf.core.device_log import DeviceLog, DeviceLogEntry, LinkStats, Status
from chf.core.errors import StoreError
from chf.core.historic_device_log import HistoricDeviceLog, HistoricEntry
from chf.core.join_window import JoinWindow
from chf.core.state import HubState, LogEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS device_log (
    position INTEGER PRIMARY KEY, eui BLOB NOT NULL UNIQUE, device_type INTEGER NOT NULL,
    install_code BLOB, tc_link_key BLOB, status INTEGER NOT NULL, last_communication TEXT, stats TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS historic_device_log (
    position INTEGER PRIMARY KEY, eui BLOB NOT NULL UNIQUE, tc_link_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (originator BLOB PRIMARY KEY, last_counter INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS join_windows (
    eui BLOB PRIMARY KEY, opened_at TEXT NOT NULL, timeout INTEGER NOT NULL, install_code BLOB NOT NULL,
    historic_key BLOB);
CREATE TABLE IF NOT EXISTS chf_log (
    kind TEXT NOT NULL, seq INTEGER NOT NULL, timestamp INTEGER NOT NULL, code INTEGER NOT NULL,
    info BLOB NOT NULL, PRIMARY KEY (kind, seq));
"""


RECOVERY = ("restore it from a backup, or move it aside and run `chf run --fresh` to start with empty state "
            "(the anti-replay counters are then lost)")


def _explain(path: str, e: BaseException) -> StoreError:
    text = str(e)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"{path} is damaged ({text}): {RECOVERY}")
    if "full" in text:
        return StoreError(f"{path}: disk full ({text}); nothing was written, free some space")
    return StoreError(f"{path}: {text}")


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:  # e.g. the state directory lost its permissions: treat as gone, never as unchanged
        return None
    return st.st_dev, st.st_ino


def _dt(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def _pdt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def _i64(v: int) -> int:
    """SQLite integers are signed 64-bit: store a 64-bit counter in two's complement."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _u64(v: int) -> int:
    return v + (1 << 64) if v < 0 else v


class SqliteStore:
    """Saves write only what changed since the last commit (rows are compared with what was last written)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", check: bool = False) -> None:
        """Open (creating if need be) the database; `check` also runs SQLite's quick_check over every page."""
        self.path = str(path)
        self._written: dict[str, object] = {}
        self._files: dict[str, tuple[int, int] | None] = {}  # database and WAL file identities, checked per commit
        self._lost: str | None = None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise _explain(self.path, e) from None
        try:
            if self.path != ":memory:":
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(SCHEMA)
            if check and self.db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
        except sqlite3.Error as e:
            self.db.close()
            raise _explain(self.path, e) from None
        if self.path != ":memory:":
            self._files[self.path] = _file_id(self.path)
            self._note_wal()

    # ------------------------------------------------------------------ the files under a running hub
    def _note_wal(self) -> None:
        wal = self.path + "-wal"
        if wal not in self._files:
            ident = _file_id(wal)
            if ident is not None:
                self._files[wal] = ident

    def check_files(self) -> None:
        """StoreError when the database (or its WAL) was deleted or replaced since it was opened: a commit would go
        to a file no restart will read, so nothing more may be acknowledged. Sticky: once lost, always lost."""
        if self._lost is None:
            for path, ident in self._files.items():
                now = _file_id(path)
                if now != ident:
                    self._lost = (f"{path} was {'deleted' if now is None else 'replaced by another file'} while the "
                                  "hub was running")
                    break
        if self._lost is not None:
            raise StoreError(f"{self._lost}: nothing more is acknowledged, since what it would record is gone from "
                             "disk; stop the hub and restore the state directory, or start afresh with "
                             "`chf run --fresh` (the anti-replay counters are then lost)")

    # ------------------------------------------------------------------ continuity
    def instance_id(self) -> str | None:
        """A random id written once into the database: a marker file beside it holds the same id, so a database
        emptied, truncated or swapped underneath the hub is told apart from a first start."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
        except sqlite3.Error as e:
            raise _explain(self.path, e) from None
        return row[0] if row else None

    def new_instance_id(self) -> str:
        ident = secrets.token_hex(16)
        try:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('instance_id', ?)", (ident,))
        except sqlite3.Error as e:
            raise _explain(self.path, e) from None
        return ident

    def close(self) -> None:
        self.db.close()

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # ------------------------------------------------------------------ load
    def load(self, default_epid: bytes, capacity: int) -> HubState:
        try:
            return self._load(default_epid, capacity)
        except (sqlite3.Error, ValueError, TypeError, KeyError) as e:
            raise _explain(self.path, e) from None

    def _load(self, default_epid: bytes, capacity: int) -> HubState:
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        st = HubState(bytes.fromhex(meta.get("extended_pan_id", default_epid.hex())))
        st.alert_counter = int(meta.get("alert_counter", "0"))
        st.join_timeout = int(meta.get("join_timeout", "0"))
        st.joining_enabled_until = _pdt(meta.get("joining_enabled_until") or None)
        entries = []
        for eui, dt, ic, key, status, last, stats in self.db.execute(
                "SELECT eui, device_type, install_code, tc_link_key, status, last_communication, stats "
                "FROM device_log ORDER BY position"):
            entries.append(DeviceLogEntry(bytes(eui), dt, ic and bytes(ic), key and bytes(key), Status(status),
                                          _pdt(last), LinkStats(**json.loads(stats))))
        st.device_log = DeviceLog(max(capacity, len(entries)), entries)
        st.historic_log = HistoricDeviceLog([HistoricEntry(bytes(e), bytes(k)) for e, k in self.db.execute(
            "SELECT eui, tc_link_key FROM historic_device_log ORDER BY position")])
        st.counters = {bytes(o): _u64(c) for o, c in self.db.execute("SELECT originator, last_counter FROM counters")}
        for eui, opened, timeout, ic, hk in self.db.execute(
                "SELECT eui, opened_at, timeout, install_code, historic_key FROM join_windows"):
            st.join_windows[bytes(eui)] = JoinWindow(bytes(eui), datetime.fromisoformat(opened), timeout,
                                                     bytes(ic), hk and bytes(hk))
        for kind, seq, ts, code, info in self.db.execute(
                "SELECT kind, seq, timestamp, code, info FROM chf_log ORDER BY kind, seq"):
            (st.event_log if kind == "event" else st.security_log).append(LogEntry(ts, code, bytes(info), seq))
        self._written = self._rows(st)
        return st

    # ------------------------------------------------------------------ save
    @staticmethod
    def _rows(st: HubState) -> dict[str, object]:
        return {
            "meta": [("extended_pan_id", st.extended_pan_id.hex()), ("alert_counter", str(st.alert_counter)),
                     ("join_timeout", str(st.join_timeout)),
                     ("joining_enabled_until", _dt(st.joining_enabled_until) or "")],
            # compared as they are; turned into SQL values (ISO time, JSON) only when written (`_device_row`)
            "device_log": [(i, e.eui, e.device_type, e.install_code, e.tc_link_key, int(e.status),
                            e.last_communication, tuple(e.stats.__dict__.items()))
                           for i, e in enumerate(st.device_log.entries())],
            "historic_device_log": [(i, e.eui, e.tc_link_key) for i, e in enumerate(st.historic_log.entries())],
            "counters": dict(st.counters),
            "join_windows": [(w.eui, w.opened_at, w.timeout, w.install_code, w.historic_key)
                             for w in st.join_windows.values()],
            "event": [(e.seq, e.timestamp, e.code, e.info) for e in st.event_log],
            "security": [(e.seq, e.timestamp, e.code, e.info) for e in st.security_log],
        }

    @staticmethod
    def _device_row(r: tuple) -> tuple:
        i, eui, device_type, install_code, key, status, last, stats = r
        return i, eui, device_type, install_code, key, status, _dt(last), json.dumps(dict(stats))

    def save(self, st: HubState) -> None:
        """Write what changed in one transaction; nothing is remembered as written unless the commit succeeds.
        Nothing changed: no transaction (the files are still checked)."""
        rows, old, c = self._rows(st), self._written, self.db
        self.check_files()
        if rows == old:
            return
        try:
            c.execute("BEGIN IMMEDIATE")
            if rows["meta"] != old.get("meta"):
                c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", rows["meta"])
            new_log, was_log = rows["device_log"], old.get("device_log") or []
            if new_log != was_log:  # only the rows that changed (a row taking another's EUI replaces it)
                assert isinstance(new_log, list) and isinstance(was_log, list)
                c.execute("DELETE FROM device_log WHERE position >= ?", (len(new_log),))
                c.executemany("INSERT OR REPLACE INTO device_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              [self._device_row(r) for i, r in enumerate(new_log)
                               if i >= len(was_log) or was_log[i] != r])
            if rows["historic_device_log"] != old.get("historic_device_log"):
                c.execute("DELETE FROM historic_device_log")
                c.executemany("INSERT INTO historic_device_log VALUES (?, ?, ?)", rows["historic_device_log"])
            if rows["join_windows"] != old.get("join_windows"):
                c.execute("DELETE FROM join_windows")
                c.executemany("INSERT INTO join_windows VALUES (?, ?, ?, ?, ?)",
                              [(eui, opened.isoformat(), *rest) for eui, opened, *rest in rows["join_windows"]])
            before = old.get("counters") or {}
            changed = [(o, _i64(v)) for o, v in rows["counters"].items() if before.get(o) != v]
            if changed:
                c.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?)", changed)
            for kind in ("event", "security"):
                new, was = rows[kind], old.get(kind) or []
                if new == was:
                    continue
                # entries may be updated in place (coalesced repeats) or dropped from the middle (noise first)
                kept, seen = {r[0] for r in new}, set(was)
                c.executemany("DELETE FROM chf_log WHERE kind = ? AND seq = ?",
                              [(kind, r[0]) for r in was if r[0] not in kept])
                c.executemany("INSERT OR REPLACE INTO chf_log VALUES (?, ?, ?, ?, ?)",
                              [(kind, *r) for r in new if r not in seen])
                c.execute("DELETE FROM chf_log WHERE kind = ? AND seq < ?",
                          (kind, min(kept) if kept else 1 << 62))
            c.execute("COMMIT")
            self._note_wal()
            self.check_files()  # deleted between the check above and the commit: still not acknowledged
        except sqlite3.Error as e:
            # SQLite may already have rolled back (SQLITE_FULL does): ROLLBACK only what is still open.
            self._rollback()
            raise _explain(self.path, e) from None
        except BaseException:
            self._rollback()
            raise
        self._written = rows

    def _rollback(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
