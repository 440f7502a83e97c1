"""Readable device-log status and device-log fields (issue 19 item 6): one table of status bits
(`gbcs.chf_objects.STATUS_BITS`) names them in `CHF:HAN`, in the decode of CCS06 and in the README; the fields of
CCS06 active_device_elements, of CCS07's current and historic logs and of CS14 entries are named in the
explanation tree."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import ManualClock
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.commands import RemoteParty, ccs01, ccs02, ccs03
from chf.remote.commands import BUILDERS
from chf.runtime.sqlite_store import SqliteStore
from gbcs import message
from gbcs.chf_objects import STATUS_BITS, Status, describe_status, status_from_bit_string, status_names
from gbcs.explain import explain
from gbcs.keys import KeyStore

README = Path(__file__).resolve().parents[1] / "README.md"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")
M1, M2 = bytes.fromhex("02C0FFEE000E0001"), bytes.fromhex("02C0FFEE000E0002")


@pytest.fixture
def rig(tmp_path):
    pki = init_keys(tmp_path / "keys")
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "hub.sqlite"), ManualClock(T0))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"))
    counter = iter(range(100, 10_000))

    def send(specs) -> list[bytes]:
        out = hub.handle(party.build(specs, counter=next(counter)))
        assert out.frames, hub.last_rejection
        return out.frames

    return hub, keys, send


def text(frame: bytes, keys: KeyStore) -> str:
    return "\n".join(explain(message.decode(frame, keys), frame).render())


def test_the_readme_table_is_the_status_bits_table():
    rows = re.findall(r"^\| (\d) \| (0x[0-9A-F]{2}) \| ([^|]+) \| ([^|]+) \|$", README.read_text(), re.M)
    assert [(int(b), int(f, 16), n.strip(), m.strip()) for b, f, n, m in rows] == \
        [(b, int(flag), name, meaning) for b, flag, name, meaning in STATUS_BITS]
    assert '`"status": 11`' in README.read_text() and "11010000 (0xD0)" in README.read_text()
    assert describe_status(11) == "flags 0x0B: authorised, reporting, authorised after swap-out"
    assert status_from_bit_string(0xD0) == 11 and status_from_bit_string(0xC8) == 0x13  # RTDS 8.9_CCS06


def test_ccs06_names_the_fourteen_fields_and_the_status_bits_as_chf_han_does(rig):
    hub, keys, send = rig
    send(ccs01(M1, IC))
    hub.device_joined(M1, bytes(range(16)))
    status = int(hub.state.device_log.get(M1).status)
    assert status_names(status) == ["authorised", "reporting"]  # what CHF:HAN shows beside "status"
    out = text(send(BUILDERS["CCS06"]())[0], keys)
    assert "(array) active_devices: 1 element(s)" in out and "(structure) active_device_element" in out
    for name in ("mac_address: 02C0FFEE000E0001", "maxRSSI", "averageRSSI", "minRSSI", "maxLQI", "averageLQI",
                 "minLQI", "last_communication_date-time", "number_of_hops", "transmission_failures",
                 "transmission_successes", "application_version", "stack_version"):
        assert f") {name}" in out, name
    assert "status: 8 bit(s) 11000000 (0xC0) = flags 0x03: authorised, reporting" in out
    assert not re.search(r"\[13\] \(unsigned\):", out)  # no unnamed member left


def test_ccs07_says_which_log_is_current_and_which_historic_and_cs14_names_its_entries(rig):
    hub, keys, send = rig
    added = send(ccs01(M1, IC))
    cs14 = text(added[1], keys)
    assert "backup_PAN: the current CHF Device Log (0-0:30.3.0.255)" in cs14
    assert "(structure) entry" in cs14 and "ieee_address: 02C0FFEE000E0001" in cs14
    assert "hashed_TC_link_key" in cs14 and "(no TC link key established)" in cs14  # CS14 right after CCS01
    hub.device_joined(M1, bytes(range(16)))
    send(ccs02(M1))
    send(ccs01(M2, IC))
    out = text(send(BUILDERS["CCS07"]())[0], keys)
    current, historic = out.split("backup_PAN: the CHF Historic Device Log")
    assert "backup_PAN: the current CHF Device Log (0-0:30.3.0.255)" in current and "ieee_address: 02C0FFEE000E0002" in current
    assert "(0-0:30.3.1.255)" in historic and "(structure) historic entry" in historic
    assert "ieee_address: 02C0FFEE000E0001" in historic and "extended_PAN_ID" in historic


def test_a_restored_device_reads_authorised_after_swap_out(rig):
    hub, keys, send = rig
    key = bytes(range(16))
    send(ccs03(bytes.fromhex("0102030405060708"), [(M1, key)]))
    from chf.core.han import Joined, JoinMethod

    hub.han_event(Joined(M1, key, JoinMethod.TC_REJOIN))
    flags = int(hub.state.device_log.get(M1).status)
    assert flags & Status.AUTHORISED_AFTER_SWAP_OUT and "authorised after swap-out" in status_names(flags)
    out = text(send(BUILDERS["CCS06"]())[0], keys)
    assert f"= {describe_status(flags)}" in out
