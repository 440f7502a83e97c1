"""`Inventory`: the mirror in SQLite (stdlib sqlite3), one transaction per observation, history of every change.

It lives beside `chf send`'s counters file (`STATE/inventory.sqlite`). No method refuses a command: `check` only
returns advisory warnings (MP178 removes the DSP's SMI validation of unjoins, response code E080801).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from chf.remote.inventory.model import (
    OFF_HAN_STATUSES,
    Cause,
    DeviceKind,
    DeviceRecord,
    InventoryView,
    SmiStatus,
    Transition,
    is_smart_meter,
    is_type2,
)
from chf.remote.inventory.rules import CCS01_CODE, CCS02_CODE, UNJOIN_CODES, Effect, decode_exchange, interpret
from gbcs import asn1, message
from gbcs.keys import KeyStore

FILE_NAME = "inventory.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    eui TEXT PRIMARY KEY, kind TEXT NOT NULL, smi_status TEXT, chf TEXT, hashed_key TEXT, install_code TEXT,
    updated_at TEXT);
CREATE TABLE IF NOT EXISTS mpxn_links (
    eui TEXT NOT NULL, mpxn TEXT NOT NULL, linked_at TEXT NOT NULL, ended_at TEXT);
CREATE TABLE IF NOT EXISTS joins (
    meter TEXT NOT NULL, other TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (meter, other));
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, eui TEXT NOT NULL, field TEXT NOT NULL, old TEXT,
    new TEXT, cause TEXT NOT NULL);
"""


def default_path(state: str | Path = "state", counters: str | Path | None = None) -> Path:
    """Beside the send counters: `STATE/inventory.sqlite`, or next to `--counters FILE` when one is given."""
    return Path(counters).parent / FILE_NAME if counters else Path(state) / FILE_NAME


class _Unset:
    pass


UNSET = _Unset()


class InventoryError(ValueError):
    """A manual correction that cannot be applied (bad EUI, unknown status)."""


def _eui(v: str) -> str:
    s = v.strip().upper()
    try:
        ok = len(bytes.fromhex(s)) == 8
    except ValueError:
        ok = False
    if not ok:
        raise InventoryError(f"{v!r} is not an EUI-64 (16 hex digits)")
    return s


def _hex16(v: str, what: str) -> str:
    """16 bytes as 32 hex digits (an install code without its CRC, CCS01; an AES-MMO hash of a TC link key, CS14)."""
    s = v.strip().upper()
    try:
        ok = len(bytes.fromhex(s)) == 16
    except ValueError:
        ok = False
    if not ok:
        raise InventoryError(f"{what} {v[:40]!r} is not 16 bytes of hex (32 hex digits)")
    return s


class Inventory:
    """The Smart Metering Inventory as the remote party sees it; frames are decoded with `disconnect_code`, the
    provisional Disconnect message code (None: the default 0xF013).

    Opening it never makes a tree of directories (a typo in `--inventory` must not): the file's directory must
    exist, or with `make_parent` (a default location such as STATE/inventory.sqlite) only that directory is made.
    A path that is a directory, or a file that is not an inventory database, is an `InventoryError` in one line."""

    def __init__(self, path: str | Path, *, make_parent: bool = False, disconnect_code: int | None = None) -> None:
        self.disconnect_code = asn1.disconnect_message_code(disconnect_code)
        self.path = Path(path)
        parent = self.path.parent
        if self.path.is_dir():
            raise InventoryError(f"{self.path} is a directory; the inventory is a file (e.g. inventory.sqlite)")
        if not parent.is_dir():
            if make_parent and parent.parent.is_dir() and not parent.exists():
                parent.mkdir()
            else:
                raise InventoryError(f"{self.path}: directory {parent} does not exist (make it first)")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            raise InventoryError(f"{self.path}: cannot open the inventory ({e})") from None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            self.db.execute("SELECT eui, kind, smi_status, chf, hashed_key, install_code, updated_at FROM devices "
                            "LIMIT 0")
        except sqlite3.Error as e:
            self.db.close()
            raise InventoryError(f"{self.path} is not an inventory database ({e})") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ reading
    def _record(self, row: tuple) -> DeviceRecord:
        eui, kind, status, chf, hashed, ic, updated = row
        mpxns = [m for (m,) in self.db.execute(
            "SELECT mpxn FROM mpxn_links WHERE eui=? AND ended_at IS NULL ORDER BY rowid", (eui,))]
        joined = {o: DeviceKind(k) for o, k in self.db.execute(
            "SELECT other, kind FROM joins WHERE meter=? ORDER BY other", (eui,))}
        return DeviceRecord(eui, DeviceKind(kind), SmiStatus(status) if status else None, chf, mpxns, hashed, ic,
                            joined, updated)

    def get(self, eui: str) -> DeviceRecord | None:
        row = self.db.execute("SELECT * FROM devices WHERE eui=?", (eui.upper(),)).fetchone()
        return self._record(row) if row else None

    def view(self) -> InventoryView:
        rows = self.db.execute("SELECT * FROM devices ORDER BY eui").fetchall()
        return InventoryView({r[0]: self._record(r) for r in rows})

    def history(self, eui: str | None = None) -> list[Transition]:
        q = "SELECT at, eui, field, old, new, cause FROM history"
        rows = self.db.execute(q + " WHERE eui=? ORDER BY id", (eui.upper(),)) if eui else \
            self.db.execute(q + " ORDER BY id")
        return [Transition(*r) for r in rows]

    # ------------------------------------------------------------------------------------------ observing
    def observe(self, sent: bytes | None, received: list[bytes], *, mpxns: list[str] | tuple[str, ...] = (),
                keys: KeyStore | None = None, now: datetime | None = None) -> tuple[list[Effect], list[str]]:
        """Update the mirror from a command and the frames that came back (responses, CS14 alerts): returns the
        effects applied and notes on frames left out. Never raises on what the frames hold."""
        ob = decode_exchange(sent, list(received), keys, tuple(mpxns), self.disconnect_code)
        effects = interpret(ob)
        self.apply(effects, now)
        return effects, ob.notes

    def apply(self, effects: list[Effect], now: datetime | None = None) -> None:
        """Carry out effects in one transaction; each real change goes into the history with its cause."""
        at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        if not effects:
            return
        with self._transaction():
            for e in effects:
                self._apply_one(e, at)

    def _transaction(self):
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, et: object, *_: object) -> None:
                db.execute("ROLLBACK" if et else "COMMIT")

        return _Tx()

    def _ensure(self, eui: str, at: str) -> DeviceRecord:
        r = self.get(eui)
        if r is None:
            self.db.execute("INSERT INTO devices (eui, kind, updated_at) VALUES (?, ?, ?)",
                            (eui, DeviceKind.UNKNOWN.value, at))
            r = DeviceRecord(eui)
        return r

    def _log(self, at: str, eui: str, fld: str, old: object, new: object, cause: str) -> None:
        self.db.execute("INSERT INTO history (at, eui, field, old, new, cause) VALUES (?, ?, ?, ?, ?, ?)",
                        (at, eui, fld, None if old is None else str(old), None if new is None else str(new), cause))
        self.db.execute("UPDATE devices SET updated_at=? WHERE eui=?", (at, eui))

    def _set(self, at: str, r: DeviceRecord, column: str, old: object, new: object, cause: str) -> None:
        if old == new:
            return
        self.db.execute(f"UPDATE devices SET {column}=? WHERE eui=?", (new, r.eui))  # column from a fixed set
        self._log(at, r.eui, column, old, new, cause)

    def _apply_one(self, e: Effect, at: str) -> None:
        cause = e.cause.text()
        if e.op == "hash_if_known":
            r = self.get(e.eui)
            if r is not None:
                self._set(at, r, "hashed_key", r.hashed_key, e.value, cause)
            return
        r = self._ensure(e.eui, at)
        status = r.smi_status.value if r.smi_status else None
        if e.op == "status":
            self._set(at, r, "smi_status", status, e.value.value if e.value else None, cause)
        elif e.op == "whitelist_unless_type2":
            if not is_type2(self.get(e.eui).kind):
                self._set(at, r, "smi_status", status, SmiStatus.WHITELISTED.value, cause)
        elif e.op == "chf":
            self._set(at, r, "chf", r.chf, e.value, cause)
        elif e.op == "disassociate_from":
            if r.chf == e.value:
                self._set(at, r, "chf", r.chf, None, cause)
        elif e.op == "kind":
            new = e.value if e.value is not DeviceKind.UNKNOWN else r.kind
            self._set(at, r, "kind", r.kind.value, new.value, cause)
        elif e.op in ("hashed_key", "install_code"):
            self._set(at, r, e.op, getattr(r, e.op), e.value, cause)
        elif e.op in ("mpxns", "mpxns_if_meter"):
            kind = self.get(e.eui).kind
            if e.op == "mpxns" or is_smart_meter(kind):
                for m in e.value:
                    if m not in r.mpxns:
                        self.db.execute("INSERT INTO mpxn_links (eui, mpxn, linked_at) VALUES (?, ?, ?)",
                                        (r.eui, m, at))
                        self._log(at, r.eui, "mpxn", None, m, cause)
        elif e.op == "end_mpxns":
            for m in r.mpxns:
                self.db.execute("UPDATE mpxn_links SET ended_at=? WHERE eui=? AND mpxn=? AND ended_at IS NULL",
                                (at, r.eui, m))
                self._log(at, r.eui, "mpxn", m, None, cause)
        elif e.op == "join":
            other, kind = e.value
            if r.joined.get(other) != kind:
                self.db.execute("INSERT OR REPLACE INTO joins (meter, other, kind) VALUES (?, ?, ?)",
                                (r.eui, other, kind.value))
                self._log(at, r.eui, "join", None, other, cause)
        elif e.op == "unjoin":
            if e.value in r.joined:
                self.db.execute("DELETE FROM joins WHERE meter=? AND other=?", (r.eui, e.value))
                self._log(at, r.eui, "join", e.value, None, cause)
        elif e.op == "clear_joins":
            for other in r.joined:
                self.db.execute("DELETE FROM joins WHERE meter=? AND other=?", (r.eui, other))
                self._log(at, r.eui, "join", other, None, cause)
        elif e.op == "joins":
            want: dict[str, DeviceKind] = dict(e.value)
            for other in set(r.joined) - set(want):
                self.db.execute("DELETE FROM joins WHERE meter=? AND other=?", (r.eui, other))
                self._log(at, r.eui, "join", other, None, cause)
            for other, kind in want.items():
                if r.joined.get(other) != kind:
                    self.db.execute("INSERT OR REPLACE INTO joins (meter, other, kind) VALUES (?, ?, ?)",
                                    (r.eui, other, kind.value))
                    if other not in r.joined:
                        self._log(at, r.eui, "join", None, other, cause)
        else:
            raise InventoryError(f"unknown effect {e.op!r}")

    # ------------------------------------------------------------------------------------------ corrections
    def set(self, eui: str, *, status: SmiStatus | _Unset | None = UNSET, chf: str | _Unset | None = UNSET,
            kind: DeviceKind | _Unset = UNSET, hashed_key: str | _Unset | None = UNSET,
            install_code: str | _Unset | None = UNSET, mpxns: list[str] | None = None, end_mpxns: bool = False,
            join: dict[str, DeviceKind] | None = None, unjoin: list[str] | None = None,
            now: datetime | None = None) -> DeviceRecord:
        """Correct the mirror by hand (`chf inventory set`): each change recorded as a manual correction."""
        eui = _eui(eui)
        c = Cause("manual", "chf inventory set", "correction of the mirror")
        fx: list[Effect] = []
        if not isinstance(kind, _Unset):
            fx.append(Effect(eui, "kind", kind, "manual", c))
        if not isinstance(status, _Unset):
            fx.append(Effect(eui, "status", status, "manual", c))
        if not isinstance(chf, _Unset):
            fx.append(Effect(eui, "chf", _eui(chf) if chf else None, "manual", c))
        if not isinstance(hashed_key, _Unset):  # None: unknown; "": no TC link key yet (CS14's empty string)
            h = _hex16(hashed_key, "--hash") if hashed_key else hashed_key
            fx.append(Effect(eui, "hashed_key", h, "manual", c))
        if not isinstance(install_code, _Unset):
            ic = _hex16(install_code, "--install-code") if install_code else None
            fx.append(Effect(eui, "install_code", ic, "manual", c))
        if end_mpxns:
            fx.append(Effect(eui, "end_mpxns", None, "manual", c))
        if mpxns:
            fx.append(Effect(eui, "mpxns", tuple(mpxns), "manual", c))
        for other, k in (join or {}).items():
            fx.append(Effect(eui, "join", (_eui(other), k), "manual", c))
        for other in unjoin or []:
            fx.append(Effect(eui, "unjoin", _eui(other), "manual", c))
        with self._transaction():
            at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
            self._ensure(eui, at)
            for e in fx:
                self._apply_one(e, at)
        return self.get(eui)  # type: ignore[return-value]

    def forget(self, eui: str) -> bool:
        """Drop a device from the mirror altogether (its history stays)."""
        eui = _eui(eui)
        with self._transaction():
            n = self.db.execute("DELETE FROM devices WHERE eui=?", (eui,)).rowcount
            self.db.execute("DELETE FROM joins WHERE meter=?", (eui,))
            if n:
                self._log(datetime.now(timezone.utc).isoformat(timespec="seconds"), eui, "device", eui, None,
                          "manual (chf inventory set --forget)")
        return bool(n)

    # ------------------------------------------------------------------------------------------ advice
    def check(self, command: bytes) -> list[str]:
        """Advisory warnings about a command the mirror would not expect — never a refusal (MP178)."""
        try:
            msg = message.decode(bytes(command), verify=False, disconnect_code=self.disconnect_code)
        except Exception:
            return []
        h = msg.header
        code, target = h.message_code, h.recipient.hex().upper()
        out: list[str] = []
        p = msg.payload
        try:
            if code in UNJOIN_CODES and isinstance(getattr(p, "value", None), (bytes, bytearray)):
                other = bytes(p.value).hex().upper()
                r = self.get(target)
                if r is None or other not in r.joined:
                    out.append(f"the inventory does not record {other} as joined to {target}; sent anyway (MP178: "
                               "no E080801 validation)")
            elif code == self.disconnect_code:
                r = self.get(target)
                if r is None or r.chf is None:
                    out.append(f"the inventory Associates {target} with no CHF; the meter may answer notJoined")
            elif code == CCS02_CODE and getattr(p, "data", None):
                eui = bytes(p.data[0].value).hex().upper()
                r = self.get(eui)
                if r is None or r.chf != target:
                    out.append(f"the inventory does not Associate {eui} with {target}; removing an absent device "
                               "succeeds and changes nothing")
            elif code == CCS01_CODE and getattr(p, "data", None):
                eui = bytes(p.data[0].value[0].value).hex().upper()
                r = self.get(eui)
                if r is not None and r.chf not in (None, target):
                    out.append(f"the inventory Associates {eui} with {r.chf}, not {target}")
                if r is not None and r.smi_status in OFF_HAN_STATUSES - {SmiStatus.PENDING}:
                    out.append(f"{eui} is '{r.smi_status.value}' in the inventory")
        except (TypeError, IndexError, AttributeError, ValueError):
            return out
        return out
