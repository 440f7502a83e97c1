"""Helpers for the WAN tests: a hub on a fresh test PKI with its remote party, and reading one line off a socket."""

from __future__ import annotations

from datetime import datetime, timezone

from chf.config.keygen import init_keys
from chf.core.clock import FixedClock
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.commands import CounterFile, RemoteParty
from chf.runtime.sqlite_store import SqliteStore
from gbcs.keys import KeyStore


def hub_and_party(tmp_path):
    """A hub (RTDS identity under the PKI's hub EUI, SQLite state, a fixed clock) and the PKI's ACB as its party."""
    pki = init_keys(tmp_path / "keys")
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "hub.sqlite"), FixedClock(datetime(2022, 1, 1, tzinfo=timezone.utc)))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    return hub, party


def read_line(sock, timeout=10.0):
    sock.settimeout(timeout)
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].rstrip(b"\r")
