"""Issue 20, the hub core and its store: CCS01 entries GBCS does not allow (item 9), a clock at the end of the date
range (item 4), a database deleted or replaced under a running hub (item 6)."""

import os
from datetime import datetime, timezone

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import FixedClock, ManualClock, parse_clock
from chf.core.device_log import DeviceType
from chf.core.errors import StoreError
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.commands import RemoteParty, ccs01, ccs06, ecs35d
from chf.runtime.sqlite_store import SqliteStore
from gbcs import message
from gbcs.authentication import Verdict
from gbcs.keys import KeyStore

IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")
T0 = datetime(2021, 6, 1, 12, 0, tzinfo=timezone.utc)
MAX_TIME = datetime.max.replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pki_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    pki = init_keys(d)
    return pki, KeyStore.from_directory(d, acb=pki.eui("acb"))


def make_hub(pki_keys, path, clock):
    pki, keys = pki_keys
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys, SqliteStore(path), clock)
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"))
    return hub, party


# ------------------------------------------------------------------------------------------ item 9: CCS01 entries
@pytest.mark.parametrize("who, device_type", [
    ("hub", DeviceType.ESME),                      # the CHF itself is not a device of its own log
    ("FFFFFFFFFFFFFFFF", DeviceType.ESME),         # no manufacturer allocates the all-ones EUI-64
    ("00DB123456780001", 255),                     # not a device_type CCS01 allows (gbcs-use-cases.html CCS01)
    ("00DB123456780002", 2),
])
def test_ccs01_for_an_entry_gbcs_does_not_allow_is_refused_and_changes_nothing(pki_keys, tmp_path, who, device_type):
    hub, party = make_hub(pki_keys, tmp_path / "hub.sqlite", FixedClock(T0))
    eui = hub.eui if who == "hub" else bytes.fromhex(who)
    out = hub.handle(party.build(ccs01(eui, IC, device_type), counter=101))
    assert out.frames, hub.last_rejection
    resp = message.decode(out.frames[0], pki_keys[1])
    assert resp.mac is Verdict.VALID
    assert resp.payload.results[0].result == 250  # register_device: other-reason
    assert len(out.frames) == 1  # no CS14: the log did not change
    assert hub.state.device_log.get(eui) is None and eui not in hub.state.join_windows
    assert out.han == []  # nothing asked of the radio


def test_ccs01_takes_exactly_the_device_types_gbcs_lists(pki_keys, tmp_path):
    hub, party = make_hub(pki_keys, tmp_path / "hub.sqlite", FixedClock(T0))  # 8 of 16 entries will be used
    for t in range(256):
        out = hub.handle(party.build(ccs01(bytes.fromhex("00DB12345678") + bytes([1, t]), IC, t), counter=200 + t))
        want = 0 if t in (0, 1, 13, 128, 130, 132, 253, 254) else 250  # 253: our provisional HHT
        assert message.decode(out.frames[0], pki_keys[1]).payload.results[0].result == want, t
    assert sorted(e.device_type for e in hub.state.device_log.entries()) == [0, 1, 13, 128, 130, 132, 253, 254]


# ------------------------------------------------------------------------------------------ item 4: the clock
def test_ccs01_on_a_clock_at_the_end_of_the_date_range_is_answered_and_clamped(pki_keys, tmp_path):
    clock = ManualClock(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
    hub, party = make_hub(pki_keys, tmp_path / "hub.sqlite", clock)
    eui = bytes.fromhex("00DB1234567890A0")
    out = hub.handle(party.build(ccs01(eui, IC, DeviceType.ESME, 90), counter=101))
    assert len(out.frames) == 2, hub.last_rejection  # response and CS14, not an OverflowError
    assert message.decode(out.frames[0], pki_keys[1]).payload.results[0].result == 0
    assert hub.state.joining_enabled_until == MAX_TIME
    assert hub.state.join_windows[eui].closes_at == MAX_TIME
    # the security log takes a timestamp too: ZigBee UTCTime clamps, and reading it back works
    bad = bytearray(party.build(ccs06(), counter=102))
    bad[-1] ^= 1
    assert hub.handle(bytes(bad)).rejected
    read = hub.handle(party.build(ecs35d(), counter=103))
    assert read.frames and message.decode(read.frames[0], pki_keys[1]).payload.results[0].result == 0
    clock.advance(10)  # a manual clock stops at the end rather than raising
    assert clock.now() == MAX_TIME and hub.tick() is not None


def test_the_far_ends_of_the_clock_are_said_at_start_and_impossible_ones_refused():
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        parse_clock("fixed:9999-12-31T23:59:59-01:00")  # UTC would be year 10000
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        parse_clock("fixed:0001-01-01T00:00:00+01:00")
    from chf.core.clock import clock_notice

    note = clock_notice(parse_clock("fixed:9999-12-31T23:59:59"))
    assert "clamped" in note and "9999-12-31" in note
    assert clock_notice(parse_clock("fixed:2024-01-01T00:00:00")) is None


# ------------------------------------------------------------------------------------------ item 6: state loss
def test_a_database_deleted_under_the_store_stops_acknowledging(pki_keys, tmp_path):
    hub, party = make_hub(pki_keys, tmp_path / "hub.sqlite", FixedClock(T0))
    assert len(hub.handle(party.build(ccs01(bytes.fromhex("00DB123456780001"), IC), counter=101)).frames) == 2
    for f in tmp_path.glob("hub.sqlite*"):
        os.unlink(f)
    out = hub.handle(party.build(ccs01(bytes.fromhex("00DB123456780002"), IC), counter=102))
    assert out.frames == [] and isinstance(out.error, StoreError)
    assert "deleted while the hub was running" in str(out.error) and "\n" not in str(out.error)
    # and it stays so: the next change is not acknowledged either
    out = hub.handle(party.build(ccs01(bytes.fromhex("00DB123456780003"), IC), counter=103))
    assert out.frames == [] and isinstance(out.error, StoreError)


def test_a_database_replaced_under_the_store_stops_acknowledging(pki_keys, tmp_path):
    path = tmp_path / "hub.sqlite"
    store = SqliteStore(path)
    st = store.load(bytes(8), 16)
    store.save(st)
    other = SqliteStore(tmp_path / "other.sqlite")
    other.save(other.load(bytes(8), 16))
    other.close()
    os.replace(tmp_path / "other.sqlite", path)
    st.alert_counter += 1
    with pytest.raises(StoreError, match="replaced by another file"):
        store.save(st)
