"""The message-code registry (`gbcs.codes`) against message_codes.json, the mapping table and every RTDS frame.

Expected values come from facts of the GBCS message-code table and from RTDS bytes; the registry's agreement with
its source documents is `tools/build_codes.py --check`'s job (the documents are not part of this repository).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtds_data import frames

from gbcs import codes
from gbcs.codes import Criticality, Encoding, Kind, MessageCode, Role
from gbcs.frame import decode_frame
from gbcs.grouping_header import Cra, SignatureField

# RTDS device EUIs: last byte of 00DB1234567890xx (RTDS 4.5.0 and Appendix).
DEVICE_BY_EUI_BYTE = {0xA0: "ESME", 0xA1: "GSME", 0xA2: "CHF", 0xA3: "GPF", 0xA4: "PPMID", 0xA5: "HCALCS",
                      0xA6: "ALCS"}
DEVICE_PREFIX = bytes.fromhex("00DB1234567890")
# Remote-party EUIs of RTDS (RTDS 4.5.0).
ROLE_BY_EUI = {
    bytes.fromhex("90B3D51F30000002"): Role.ACCESS_CONTROL_BROKER,
    bytes.fromhex("90B3D51F30010000"): Role.SUPPLIER,
    bytes.fromhex("90B3D51F30030000"): Role.SUPPLIER,  # "supplier 2"
    bytes.fromhex("90B3D51F30020000"): Role.NETWORK_OPERATOR,
    bytes.fromhex("90B3D51F30010008"): Role.LOAD_CONTROLLER,
}


def _device(eui: bytes) -> str | None:
    return DEVICE_BY_EUI_BYTE.get(eui[7]) if eui[:7] == DEVICE_PREFIX else None


def _payload_encoding(payload: bytes) -> Encoding:
    """The brief's first-bytes rule (gbcs-parser src/parser.ts): D9/DA/0F -> DLMS, 01 09 -> GBZ, anything else -> ASN.1."""
    if payload and payload[0] in (0xD9, 0xDA, 0x0F):
        return Encoding.DLMS
    if payload[:2] == b"\x01\x09":
        return Encoding.GBZ
    return Encoding.ASN1


def _rtds_headers():
    return [(rel, decode_frame(data)) for rel, data in frames()]


# ------------------------------------------------------------------------------------------------
# Completeness against message_codes.json
# ------------------------------------------------------------------------------------------------

def test_registry_has_the_240_gbcs_codes():
    """The registry is generated from the GBCS message-code table by `tools/build_codes.py`, whose `--check`
    compares it with its sources; here, what holds without them: 240 codes, names led by their use case."""
    allc = codes.all_codes()
    assert len(allc) == 240
    for mc in allc:
        first = mc.title.split(" ")[0]
        if re.fullmatch(r"(CCS|CS|ECS|GCS|PCS|PECS|HECS|DBCH)\d+[A-Za-z0-9]*", first):
            assert first in (mc.use_case, *mc.aliases, *mc.use_case.split("/")), hex(mc.code)


def test_all_codes_sorted_unique_and_consistent():
    allc = codes.all_codes()
    assert [m.code for m in allc] == sorted({m.code for m in allc})
    for mc in allc:
        assert codes.lookup(mc.code) is mc
        assert mc.target == mc.targets[0]
        assert all(t in (*codes.DEVICE_TYPES, codes.ANY) for t in mc.targets), mc
        assert mc.encoding is mc.encodings[0]
        assert mc.kinds, mc
        if Kind.COMMAND in mc.kinds:
            assert Kind.RESPONSE in mc.kinds, "commands have responses"
        if mc.kinds == (Kind.ALERT,):
            assert mc.access is None, "alerts are not sent by remote parties"
        if mc.han_only:
            assert mc.access == ()
        assert mc in codes.by_use_case(mc.use_case)


# ------------------------------------------------------------------------------------------------
# Spot checks (facts from GBCS)
# ------------------------------------------------------------------------------------------------

def test_spot_checks():
    ccs01 = codes.lookup(0x0001)
    assert (ccs01.use_case, ccs01.target, ccs01.encoding) == ("CCS01", "CHF", Encoding.DLMS)
    assert not ccs01.critical and not codes.is_critical(0x0001)
    assert ccs01.access == (Role.ACCESS_CONTROL_BROKER,)  # gbcs-parser src/parser.ts: ACB only
    assert ccs01.kinds == (Kind.COMMAND, Kind.RESPONSE)

    # the CHF active-devices read under its legacy (CCS05/CCS04) and current (CCS06) codes, message_codes.json / §4.3
    legacy, ccs06 = codes.lookup(0x0004), codes.lookup(0x010F)
    for mc in (legacy, ccs06):
        assert mc is not None and mc.target == "CHF" and mc.encoding is Encoding.DLMS and not mc.critical
    assert ccs06.use_case == "CCS06"
    assert [m.code for m in codes.by_use_case("CCS05")] == [0x0004]
    assert [m.code for m in codes.by_use_case("CCS04")] == [0x0004]
    assert [m.code for m in codes.by_use_case("ccs06")] == [0x010F]

    assert codes.lookup(0x00FE).use_case == "CCS07"
    cs14 = codes.lookup(0x0018)
    assert (cs14.use_case, cs14.kinds, cs14.target, cs14.encoding) == ("CS14", (Kind.ALERT,), "CHF", Encoding.DLMS)
    ccs08 = codes.lookup(0x0128)
    assert (ccs08.use_case, ccs08.kinds, ccs08.encoding) == ("CCS08", (Kind.ALERT,), Encoding.ASN1)
    assert ccs08.critical  # DF-only + signature (RTDS 4.5.0)

    cs04ac = codes.lookup(0x000F)
    assert cs04ac.use_case == "CS04AC" and cs04ac.encoding is Encoding.ASN1
    assert cs04ac.criticality is Criticality.BOTH and cs04ac.critical and cs04ac.non_critical
    for code in (0x00AB, 0x00AF):  # CS03A2, CS03C
        assert codes.lookup(code).criticality is Criticality.BOTH

    assert [m.code for m in codes.by_use_case("CS02b") if m.is_command] == list(range(0x0100, 0x010A))
    assert codes.lookup(0x0059).allows_target("CHF")  # ECS52 "Target CHF; ESME"
    assert codes.lookup(0x1000).encodings == (Encoding.DLMS, Encoding.GBZ)
    assert codes.lookup(0x1000).critical and not codes.lookup(0x1001).critical


def test_chf_targeted_codes():
    """The use cases RTDS 4.5.0 sends to the CHF are exactly the registry's CHF-only entries."""
    chf_only = {mc.use_case for mc in codes.all_codes() if mc.targets == ("CHF",)}
    expected = {"CCS01", "CCS02", "CCS03", "CCS05/CCS04", "CCS06", "CCS07", "CCS08", "CS14", "ECS26i", "ECS26n",
                "ECS35c", "ECS35d", *(f"DBCH{i:02d}" for i in range(1, 12)), "FTDA-ESME"}
    assert chf_only == expected
    for mc in codes.all_codes():
        if mc.targets == ("CHF",) and mc.is_command:
            assert mc.access == (Role.ACCESS_CONTROL_BROKER,), mc.use_case
            assert not mc.critical, mc.use_case


def test_unknown_codes_and_immutability():
    assert codes.lookup(0x0005) is None and codes.lookup(-1) is None and codes.lookup(0x10000) is None
    assert not codes.is_critical(0x0005)
    assert codes.by_use_case("NOPE99") == []
    mc = codes.lookup(0x0001)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mc.code = 2  # type: ignore[misc]
    assert isinstance(mc, MessageCode) and hash(mc) == hash(codes.lookup(0x0001))


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(1 << 20), max_value=1 << 20))
def test_lookup_never_raises(code):
    mc = codes.lookup(code)
    assert mc is None or mc.code == code
    assert codes.is_critical(code) == (mc is not None and mc.critical)


# ------------------------------------------------------------------------------------------------
# Every RTDS frame
# ------------------------------------------------------------------------------------------------

# Codes whose payload encoding depends on the sending device: generic alerts are DLMS from the ESME and GBZ from
# the GSME (message_codes.json RTDS dirs GCA-DLMS/GCA-ZigBee, GNCA-DLMS/GNCA-ZigBee).
MIXED_ENCODING = {0x1000: "generic critical alert (DLMS from ESME, GBZ from GSME)",
                  0x1001: "generic non-critical alert (DLMS from ESME, GBZ from GSME)"}


def test_every_rtds_message_code_is_registered_with_the_right_encoding():
    seen, mixed = Counter(), Counter()
    for rel, frame in _rtds_headers():
        h = frame.header
        mc = codes.lookup(h.message_code)
        assert mc is not None, (rel, hex(h.message_code))
        enc = _payload_encoding(h.payload)
        if h.message_code in MIXED_ENCODING:
            assert enc in mc.encodings, rel
            mixed[h.message_code] += 1
        else:
            assert enc is mc.encoding, (rel, mc.use_case, enc, mc.encoding)
            assert mc.encodings == (mc.encoding,), rel
        seen[h.message_code] += 1
    assert len(seen) >= 180, len(seen)
    assert set(mixed) == set(MIXED_ENCODING), "the exception list must be exactly the codes that need it"


def test_rtds_cra_matches_kinds():
    for rel, frame in _rtds_headers():
        h = frame.header
        mc = codes.lookup(h.message_code)
        kind = {Cra.COMMAND: Kind.COMMAND, Cra.RESPONSE: Kind.RESPONSE, Cra.ALERT: Kind.ALERT}[h.cra]
        assert kind in mc.kinds, (rel, mc.use_case, mc.kinds)


def test_rtds_signatures_agree_with_criticality():
    """gbcs-parser src/parser.ts: signed commands and pre-commands are critical; MAC'd unsigned commands non-critical;
    alerts are signed exactly when critical."""
    counts = Counter()
    for rel, frame in _rtds_headers():
        h = frame.header
        mc = codes.lookup(h.message_code)
        sig = h.signature_field
        if h.cra is Cra.COMMAND:
            if sig is SignatureField.PRESENT:
                assert len(h.signature) == 64
                assert mc.critical, (rel, mc.use_case)
                counts["signed command"] += 1
            elif sig is SignatureField.ABSENT:
                assert mc.critical, (rel, mc.use_case)  # pre-commands exist only for critical commands
                counts["pre-command"] += 1
            else:
                assert frame.has_mac and mc.non_critical, (rel, mc.use_case)
                counts["non-critical command"] += 1
        elif h.cra is Cra.ALERT:
            assert (sig is SignatureField.PRESENT) == (mc.criticality is Criticality.CRITICAL), (rel, mc.use_case)
            counts["alert"] += 1
    assert counts["signed command"] >= 100 and counts["non-critical command"] >= 150, counts


def test_rtds_devices_are_allowed_targets():
    """Commands go to (responses and alerts come from) a device type the registry allows (EUI map: RTDS 4.5.0)."""
    checked = 0
    for rel, frame in _rtds_headers():
        h = frame.header
        mc = codes.lookup(h.message_code)
        eui = h.recipient if h.cra is Cra.COMMAND else h.originator
        dev = _device(eui)
        if dev is None:
            continue
        assert mc.allows_target(dev), (rel, mc.use_case, dev, mc.targets)
        checked += 1
    assert checked >= 900


# GCS25 (0x007E): gbcs-use-cases.html gives its access-permission table as "(none)" (superseded by GCS25a), yet
# RTDS 6.8_GCS25 still carries supplier-originated vectors.
ACCESS_EXCEPTIONS = {0x007E}


def test_rtds_originator_roles_are_permitted():
    checked = 0
    for rel, frame in _rtds_headers():
        h = frame.header
        if h.cra is not Cra.COMMAND:
            continue
        role = ROLE_BY_EUI.get(h.originator)
        mc = codes.lookup(h.message_code)
        if role is None or mc.access is None:
            continue
        if h.message_code in ACCESS_EXCEPTIONS:
            assert mc.access == () and not mc.allows_role(role)
            continue
        assert mc.allows_role(role), (rel, mc.use_case, role, mc.access)
        checked += 1
    assert checked >= 250


def test_access_counts():
    commands = [mc for mc in codes.all_codes() if mc.is_command]
    known = [mc for mc in commands if mc.access is not None]
    assert len(known) >= 160
    # the ones the sources leave open are CS0x security/join/firmware use cases and legacy codes
    for mc in commands:
        if mc.access is None:
            assert mc.use_case.startswith(("CS0", "ECS", "GCS")), mc.use_case


def test_provisional_disconnect_code_is_named_by_the_code_given():
    from gbcs import asn1
    from gbcs.codes import Criticality, lookup
    default = asn1.DEFAULT_DISCONNECT_MESSAGE_CODE
    entry = lookup(default)
    assert entry is not None and entry.use_case == "DISCONNECT" and entry.criticality is Criticality.CRITICAL
    assert lookup(0xF0AA, 0xF0AA).use_case == "DISCONNECT" and lookup(default, 0xF0AA) is None
    assert lookup(0xF0AA) is None and lookup(default).use_case == "DISCONNECT"  # nothing stayed set
    assert lookup(0x0001, 0xF0AA).use_case == "CCS01"
    with pytest.raises(ValueError):
        lookup(0x0001, 0x0001)  # a GBCS code cannot be the Disconnect code, whatever is looked up
