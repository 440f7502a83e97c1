"""Rejections: each changes nothing but the security log, and gets no response (issue 3 acceptance)."""

from datetime import datetime, timezone

import pytest
from rtds_data import frame

from chf.core.clock import ManualClock
from chf.core.hub import Hub, HubConfig, Rejection
from chf.core.identity import RTDS
from chf.core.security_log import RejectionInfo
from chf.remote.commands import RemoteParty, ccs01, ccs02, ccs06
from chf.runtime.sqlite_store import SqliteStore
from gbcs.frame import decode_frame
from gbcs.grouping_header import SignatureField
from gbcs.keys import KeyStore

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
IC = bytes(range(16))


@pytest.fixture(scope="module")
def keys(rtds_keys):
    return KeyStore.from_directory(rtds_keys)


@pytest.fixture
def hub(keys, tmp_path):
    h = Hub(HubConfig(RTDS), keys, SqliteStore(tmp_path / "hub.sqlite"),
            ManualClock(datetime(2020, 1, 1, tzinfo=timezone.utc)))
    party = RemoteParty(keys, keys.acb, RTDS.eui, SUPPLIER)
    assert h.handle(party.build(ccs01(ESME, IC), counter=1000)).frames  # an accepted baseline
    return h


def party(keys):
    return RemoteParty(keys, keys.acb, RTDS.eui, SUPPLIER)


def durable(hub):
    """What must not change: the device logs and counters, as the store holds them."""
    st = hub.store.load(RTDS.extended_pan_id, 16)
    return ([(e.eui, e.tc_link_key, e.install_code) for e in st.device_log.entries()],
            [e.eui for e in st.historic_log.entries()], st.counters, st.alert_counter, recorded(st.security_log))


def recorded(entries):
    """Events the security log stands for: a coalesced rejection entry counts its repeats."""
    return sum(i.repeats if (i := RejectionInfo.decode(e.info)) else 1 for e in entries)


def assert_rejected(hub, data, why):
    before = durable(hub)
    out = hub.handle(data)
    assert out.frames == [] and out.rejection is not None and out.rejection[0] is why
    assert hub.last_rejection[0] is why
    hub.flush()  # rejections reach the store with the next commit or flush (batched, chf/core/security_log.py)
    after = durable(hub)
    assert after[:4] == before[:4]          # nothing changed ...
    assert after[4] == before[4] + 1        # ... but the security log
    assert hub.state.security_log[-1].code == int(why)


def test_tampered_mac(hub, keys):
    f = bytearray(party(keys).build(ccs02(ESME), counter=2000))
    f[-1] ^= 0x01
    assert_rejected(hub, bytes(f), Rejection.AUTHENTICATION)


def test_tampered_payload(hub, keys):
    f = bytearray(party(keys).build(ccs02(ESME), counter=2000))
    f[-13 - 3] ^= 0x01  # a byte of the EUI in the payload
    assert_rejected(hub, bytes(f), Rejection.AUTHENTICATION)


def test_unknown_originator(hub, keys):
    """Commands are MAC'd with the ACB key whoever originates them (gbcs-parser src/crypto.ts), so a stranger's frame can
    carry a valid MAC: it is the originator check that refuses it."""
    stranger = RemoteParty(keys, bytes.fromhex("90B3D51F3003FFFF"), RTDS.eui, None)
    assert_rejected(hub, stranger.build(ccs02(ESME), counter=2000), Rejection.UNKNOWN_SOURCE)


def test_replayed_and_lower_counter(hub, keys):
    p = party(keys)
    first = p.build(ccs06(), counter=3000)
    assert hub.handle(first).frames
    assert_rejected(hub, first, Rejection.REPLAY)
    assert_rejected(hub, p.build(ccs02(ESME), counter=2999), Rejection.REPLAY)
    assert_rejected(hub, p.build(ccs02(ESME), counter=3000), Rejection.REPLAY)


def test_wrong_role(hub, keys):
    """CHF use cases are Access-Control-Broker only (gbcs-use-cases.html): a supplier may not send CCS02."""
    from gbcs.codes import Role
    hub.config.remote_parties[SUPPLIER] = Role.SUPPLIER
    f = RemoteParty(keys, SUPPLIER, RTDS.eui, None).build(ccs02(ESME), counter=2000)
    assert_rejected(hub, f, Rejection.NO_AUTHORITY)


def test_critical_command_without_valid_signature(hub, keys):
    """A critical code (CS02b, 0x0105) to the CHF must carry its originator's valid signature."""
    from gbcs.authentication import apply_mac
    from gbcs.codes import Role
    f = decode_frame(frame("NA_CS02bWPByWP/CS02bWPByWP_NA_SUCCESS_COMMAND_GBCS.HEX"))  # signed by the WAN provider
    assert f.header.signature_field is SignatureField.PRESENT
    hub.config.remote_parties[f.header.originator] = Role.SUPPLIER
    f.header.signature_field, f.header.signature = SignatureField.NULL, None  # strip it, MAC afresh
    apply_mac(keys, f)
    assert_rejected(hub, f.encode(), Rejection.AUTHENTICATION)
    f.header.signature_field, f.header.signature = SignatureField.PRESENT, bytes(64)  # a wrong one
    apply_mac(keys, f)
    assert_rejected(hub, f.encode(), Rejection.AUTHENTICATION)


def test_malformed_frames(hub, keys):
    good = party(keys).build(ccs02(ESME), counter=2000)
    assert_rejected(hub, good[:40], Rejection.MALFORMED)
    assert_rejected(hub, b"\xDD", Rejection.MALFORMED)
    assert_rejected(hub, b"", Rejection.MALFORMED)


def test_payload_not_matching_message_code(hub, keys):
    """A CCS06 payload under the CCS02 message code fails the format check, MAC valid or not."""
    _code, specs, data = ccs06()
    f = party(keys).build((0x0002, specs, data), counter=2000)
    assert_rejected(hub, f, Rejection.MALFORMED)


def test_rejections_survive_restart(hub, keys, tmp_path):
    f = bytearray(party(keys).build(ccs02(ESME), counter=2000))
    f[-1] ^= 1
    hub.handle(bytes(f))
    again = Hub(hub.config, keys, SqliteStore(tmp_path / "hub.sqlite"), hub.clock)
    assert again.state.security_log[-1].code == int(Rejection.AUTHENTICATION)
    assert ESME in again.state.device_log


def test_not_supported_use_case_gets_ecs100_when_hub_can_sign(tmp_path):
    """A use case the CHF does not serve (DBCH01, sub-GHz) → ECS100 alert 0x8F85 (RTDS NA_ECS100 layout)."""
    from chf.config.keygen import Pki, init_keys
    from gbcs import message
    from gbcs.authentication import Verdict
    pki = init_keys(tmp_path / "keys", Pki())
    keys = KeyStore.from_directory(tmp_path / "keys", acb=pki.eui("acb"))
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys,
              SqliteStore(tmp_path / "h.sqlite"), ManualClock(datetime(2020, 1, 1, tzinfo=timezone.utc)))
    from gbcs.axdr import Data
    from gbcs.dlms import RequestSpec
    specs = (0x010A, [RequestSpec.get(1, "0-0:94.44.10.2", 2)], [Data.null()])
    cmd = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier")).build(specs, counter=77)
    out = hub.handle(cmd)
    assert len(out.frames) == 1
    alert = message.decode(out.frames[0], keys)
    assert alert.signature is Verdict.VALID and alert.frame.mac is None
    assert alert.header.message_code == 0x0120 and alert.payload.alert_code == 0x8F85
    assert bytes(alert.payload.alert_body[0].value) == (0x010A).to_bytes(2, "big") + (77).to_bytes(8, "big")
    assert alert.header.other_information.supplementary_remote_party_id == pki.eui("supplier")


def test_gbt_blocks_are_reassembled_before_handling(hub, keys):
    """A command split into GBT blocks (DLMS Green Book GBT) is handled once whole, whatever the block order."""
    from gbcs.gbt import split_frame
    blocks = split_frame(party(keys).build(ccs06(), counter=4000), 20)
    assert len(blocks) > 2
    outs = [hub.handle(b) for b in reversed(blocks)]
    assert all(o.frames == [] and not o.rejected for o in outs[:-1]) and len(outs[-1].frames) == 1
    assert decode_frame(outs[-1].frames[0]).header.counter == 4000


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_no_mutated_or_random_input_crashes_the_hub_or_changes_its_logs(hub, keys, data):
    """Any change to a valid command's bytes fails the MAC (or the parse): nothing but the security log moves."""
    good = party(keys).build(ccs01(bytes.fromhex("00DB1234567890B1"), IC), counter=5000)
    if data.draw(st.booleans()):
        b = bytearray(good)
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] = data.draw(st.integers(0, 255))
        frame_ = bytes(b)
    else:
        frame_ = data.draw(st.binary(max_size=200))
    if frame_ == good:
        return
    before = durable(hub)
    assert hub.handle(frame_).frames == []
    assert durable(hub)[:4] == before[:4]
