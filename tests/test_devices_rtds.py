"""The RTDS rig (zigbee.devices.rtds_rig): every listed RTDS meter-side command, fed to a FRESH rig device, gets
the RTDS response — byte for byte where RTDS's response is MAC'd, all but the signature where the device signed
it (RTDS publishes no device private keys). Also: the rig's facts agree with the RTDS frames they cite, and
`chf.remote.meter_commands` rebuilds the RTDS commands from their parameters."""

from __future__ import annotations

import pytest
from rtds_data import frame, keystore_dir, require_rtds

from chf.remote import meter_commands as mc
from gbcs import asn1, crypto
from gbcs.authentication import Verdict, apply_mac, check_mac, check_signature
from gbcs.frame import decode_frame
from gbcs.grouping_header import SignatureField
from gbcs.keys import KeyStore, KeyUsage
from zigbee.devices import rtds_rig
from zigbee.devices.application import Fault

# (directory, file stem): the SUCCESS and ERROR commands of the listed use cases, plus the identity reads.
RULED = [
    ("8.7.1_CS03A1", "CS03A1_8.7.1_SUCCESS"), ("8.7.1_CS03A1", "CS03A1_8.7.1_ERROR"),
    ("8.7.1_CS03A2Critical", "CS03A2Critical_8.7.1_SUCCESS"),
    ("8.7.2_CS03A2NonCritical", "CS03A2NonCritical_8.7.2_SUCCESS"),
    ("8.7.2_CS03B", "CS03B_8.7.2_SUCCESS"), ("8.7.2_CS03B", "CS03B_8.7.2_ERROR"),
    ("8.7.1_CS03CCritical", "CS03CCritical_8.7.1_SUCCESS"),
    ("8.7.2_CS03CNonCritical", "CS03CNonCritical_8.7.2_SUCCESS"),
    ("8.7.2_CS03CNonCritical", "CS03CNonCritical_8.7.2_ERROR"),
    ("8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_SUCCESS"), ("8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_ERROR"),
    ("8.8.2_CS04ACNonCritical", "CS04ACNonCritical_8.8.2_SUCCESS"),
    ("8.8.2_CS04B", "CS04B_8.8.2_SUCCESS"), ("8.8.2_CS04B", "CS04B_8.8.2_ERROR"),
    ("8.9_CS07", "CS07_8.9_SUCCESS"),
    ("11.2_ECS52", "ECS52_11.2_SUCCESS"),
    ("11.2_CS08", "CS08_11.2_SUCCESS"),
]
# Read failures no cited rule explains: reproduced only with an injected fault.
FAULTED = [
    ("8.9_CS07", "CS07_8.9_ERROR", Fault.CS07),
    ("11.2_ECS52", "ECS52_11.2_ERROR", Fault.ECS52),
    ("11.2_CS08", "CS08_11.2_ERROR", Fault.CS08),
]


@pytest.fixture(scope="module")
def keys() -> KeyStore:
    require_rtds()
    return KeyStore.from_directory(keystore_dir())


def _pair(d: str, stem: str) -> tuple[bytes, bytes]:
    return frame(f"{d}/{stem}_COMMAND_GBCS.HEX"), frame(f"{d}/{stem}_RESPONSE_GBCS.HEX")


def _assert_rtds_response(keys: KeyStore, device, got: bytes, expected: bytes) -> None:
    want = decode_frame(expected)
    if want.mac is not None:
        assert got == expected
        return
    mine = decode_frame(got)
    assert mine.mac is None and mine.header.signature_field is SignatureField.PRESENT
    # Our signature is the device's (a throw-away key with the RTDS store): it verifies with that key.
    assert crypto.verify(device.signing_key.public_key(), mine.header.signed_bytes(), mine.header.signature)
    assert check_signature(keys, want.header) is Verdict.VALID  # RTDS's own, against the RTDS certificate
    mine.header.signature = want.header.signature
    assert mine.header.encode() == expected


@pytest.mark.parametrize("d,stem", RULED, ids=[s for _, s in RULED])
def test_fresh_rig_device_answers_as_rtds(keys, d, stem):
    command, expected = _pair(d, stem)
    device = rtds_rig.build_device(decode_frame(command).header.recipient, keys)
    out = device.handle(command)
    assert len(out.frames) == 1 and not out.divorce, device.last_rejection
    _assert_rtds_response(keys, device, out.frames[0], expected)


@pytest.mark.parametrize("d,stem,fault", FAULTED, ids=[s for _, s, _ in FAULTED])
def test_read_failures_need_an_injected_fault(keys, d, stem, fault):
    command, expected = _pair(d, stem)
    eui = decode_frame(command).header.recipient
    plain = rtds_rig.build_device(eui, keys).handle(command)
    assert len(plain.frames) == 1 and plain.frames[0] != expected  # the rules alone answer with a success
    faulted = rtds_rig.build_device(eui, keys, faults=frozenset({fault}))
    out = faulted.handle(command)
    assert out.frames == [expected]


def test_gsme_log_is_the_cs07_listing(keys):
    rsp = decode_frame(frame("8.9_CS07/CS07_8.9_SUCCESS_RESPONSE_GBCS.HEX"))
    listing = asn1.decode_value("ReadDeviceJoinDetailsResponse", rsp.header.payload)["deviceLogEntries"]
    gsme = rtds_rig.BY_EUI[rtds_rig.GSME]
    assert [(e.eui, int(e.device_type)) for e in gsme.log] == [(x["deviceId"], x["deviceType"]) for x in listing]


def test_success_unjoins_target_entries_the_rig_holds(keys):
    """Each RTDS SUCCESS unjoin names an entry the rig's device holds (the fact the rig cites)."""
    for d, stem in [("8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_SUCCESS"),
                    ("8.8.2_CS04ACNonCritical", "CS04ACNonCritical_8.8.2_SUCCESS"),
                    ("8.8.2_CS04B", "CS04B_8.8.2_SUCCESS")]:
        h = decode_frame(frame(f"{d}/{stem}_COMMAND_GBCS.HEX")).header
        eui = asn1.decode_value("UnjoinDeviceCommand", h.payload)
        assert eui in {e.eui for e in rtds_rig.BY_EUI[h.recipient].log}


def test_rig_state_changes_only_as_the_rules_say(keys):
    """A SUCCESS unjoin removes the entry: the same command again is a replay (refused), and a new counter
    gets "not in device log"."""
    command, _ = _pair("8.8.2_CS04B", "CS04B_8.8.2_SUCCESS")
    device = rtds_rig.build_device(rtds_rig.GSME, keys)
    assert device.handle(command).frames
    assert device.handle(command).frames == []  # anti-replay
    sender = mc.MeterSender(keys, rtds_rig.SUPPLIER)
    again = mc.cs04(sender, rtds_rig.GSME, "CS04B", bytes.fromhex("0102030405060708"), 1001)
    rsp = decode_frame(device.handle(again).frames[0])
    assert asn1.decode_value("UnjoinDeviceResponse", rsp.header.payload) == 1


# -- building the RTDS commands ----------------------------------------------------------------------------------
def _cert_from(d: str, stem: str) -> bytes:
    payload = decode_frame(frame(f"{d}/{stem}_COMMAND_GBCS.HEX")).header.payload
    return payload[payload.index(b"\x30\x82", 4):]  # the certificate: the 4th element, a long-form SEQUENCE


S, A = rtds_rig.SUPPLIER, rtds_rig.ACB
E9 = "00DB1234567890"
BUILT = [  # (dir, stem, sender, builder) — parameters as the RTDS command shows them, typed out
    ("8.7.1_CS03A1", "CS03A1_8.7.1_SUCCESS", S,
     lambda s: mc.cs03(s, rtds_rig.ESME, "CS03A1", bytes.fromhex(E9 + "9A"), "hcalcs", 1000)),
    ("8.7.1_CS03A1", "CS03A1_8.7.1_ERROR", S,
     lambda s: mc.cs03(s, rtds_rig.ESME, "CS03A1", bytes.fromhex(E9 + "9A"), "ppmid", 1002)),
    ("8.7.1_CS03A2Critical", "CS03A2Critical_8.7.1_SUCCESS", S,
     lambda s: mc.cs03(s, rtds_rig.HCALCS, "CS03A2", bytes.fromhex(E9 + "93"), "esme", 1000)),
    ("8.7.2_CS03A2NonCritical", "CS03A2NonCritical_8.7.2_SUCCESS", A,
     lambda s: mc.cs03(s, rtds_rig.PPMID, "CS03A2", bytes.fromhex(E9 + "93"), "esme", 1300,
                       supplementary_counter=1000)),
    ("8.7.2_CS03B", "CS03B_8.7.2_SUCCESS", S,
     lambda s: mc.cs03(s, rtds_rig.GSME, "CS03B", bytes.fromhex(E9 + "9C"), "gpf", 1001)),
    ("8.7.2_CS03B", "CS03B_8.7.2_ERROR", A,
     lambda s: mc.cs03(s, rtds_rig.GSME, "CS03B", bytes.fromhex("0102030405060708"), "ppmid", 1301,
                       supplementary_counter=1002)),
    ("8.7.1_CS03CCritical", "CS03CCritical_8.7.1_SUCCESS", S,
     lambda s: mc.cs03(s, rtds_rig.GSME, "CS03C", bytes.fromhex(E9 + "98"), "ppmid", 1004,
                       certificate=_cert_from("8.7.1_CS03CCritical", "CS03CCritical_8.7.1_SUCCESS"))),
    ("8.7.2_CS03CNonCritical", "CS03CNonCritical_8.7.2_SUCCESS", A,
     lambda s: mc.cs03(s, rtds_rig.PPMID, "CS03C", bytes.fromhex(E9 + "94"), "gsme", 1301,
                       certificate=s.keys.certificate(rtds_rig.GSME, KeyUsage.KA), supplementary_counter=1001)),
    ("8.7.2_CS03CNonCritical", "CS03CNonCritical_8.7.2_ERROR", A,
     lambda s: mc.cs03(s, rtds_rig.PPMID, "CS03C", bytes.fromhex(E9 + "93"), "gsme", 1302,
                       supplementary_counter=1002)),
    ("8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_SUCCESS", S,
     lambda s: mc.cs04(s, rtds_rig.ESME, "CS04AC", bytes.fromhex(E9 + "99"), 1001)),
    ("8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_ERROR", S,
     lambda s: mc.cs04(s, rtds_rig.ESME, "CS04AC", bytes.fromhex("03" * 8), 1002)),
    ("8.8.2_CS04ACNonCritical", "CS04ACNonCritical_8.8.2_SUCCESS", A,
     lambda s: mc.cs04(s, rtds_rig.PPMID, "CS04AC", bytes.fromhex("0102030405060708"), 1300,
                       supplementary_counter=1000)),
    ("8.8.2_CS04B", "CS04B_8.8.2_SUCCESS", S,
     lambda s: mc.cs04(s, rtds_rig.GSME, "CS04B", bytes.fromhex("0102030405060708"), 1000)),
    ("8.8.2_CS04B", "CS04B_8.8.2_ERROR", S,
     lambda s: mc.cs04(s, rtds_rig.GSME, "CS04AC", bytes.fromhex("03" * 8), 1004)),
    ("8.9_CS07", "CS07_8.9_SUCCESS", S, lambda s: mc.cs07(s, rtds_rig.GSME, 1001)),
    ("8.9_CS07", "CS07_8.9_ERROR", A, lambda s: mc.cs07(s, rtds_rig.GSME, 1301, supplementary_counter=1002)),
    ("11.2_ECS52", "ECS52_11.2_SUCCESS", S, lambda s: mc.ecs52(s, rtds_rig.ESME, 1000)),
    ("11.2_ECS52", "ECS52_11.2_ERROR", S, lambda s: mc.ecs52(s, rtds_rig.ESME, 1002)),
    ("11.2_CS08", "CS08_11.2_SUCCESS", A, lambda s: mc.cs08(s, rtds_rig.PPMID, 1300, supplementary_counter=1000)),
    ("11.2_CS08", "CS08_11.2_ERROR", A, lambda s: mc.cs08(s, rtds_rig.HCALCS, 1301, supplementary_counter=1001)),
]


@pytest.mark.parametrize("d,stem,who,build", BUILT, ids=[b[1] for b in BUILT])
def test_meter_commands_rebuild_rtds(keys, d, stem, who, build):
    expected = frame(f"{d}/{stem}_COMMAND_GBCS.HEX")
    sender = mc.MeterSender(keys, who, rtds_rig.SUPPLIER if who == rtds_rig.ACB else None)
    got = build(sender)
    want = decode_frame(expected)
    if want.header.signature_field is not SignatureField.PRESENT:
        assert got == expected
        return
    mine = decode_frame(got)
    assert check_signature(keys, mine.header) is Verdict.VALID and check_mac(keys, mine) is Verdict.VALID
    try:
        pre = frame(f"{d}/{stem}_PRECOMMAND_GBCS.HEX")
    except FileNotFoundError:
        pre = None
    if pre is not None:
        assert mine.header.encode_unsigned() == pre
    # All but the (randomised) signature: with RTDS's signature in place, our MAC gives the RTDS bytes.
    mine.header.signature = want.header.signature
    apply_mac(keys, mine)
    assert mine.encode() == expected


def test_every_cited_rtds_directory_exists():
    import re

    corpus = require_rtds()
    cited = set()
    for d in rtds_rig.DEVICES:
        for text in (d.type_source, d.firmware_source, *(e.source for e in d.log)):
            cited.update(re.findall(r"(?<![\w.])(?:\d+(?:\.\d+)*|NA)_[A-Za-z0-9]+", text))
    assert cited and all((corpus / c).is_dir() for c in cited), sorted(c for c in cited if not (corpus / c).is_dir())
