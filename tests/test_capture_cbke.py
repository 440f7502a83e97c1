"""CBKE in a capture of the medium, event by event: a `MediumTap` over a medium whose hub's key table and node's
TC link key change as CBKE changes them (SE Annex C), so that each moment is chosen, not raced for.

The Key Establishment frames (cluster 0x0800) go APS-unsecured and NWK-secured; before CBKE both ends use the
install-code key; the trust centre uses the agreed key from the moment it installs it (after checking MACU),
the node from the moment it has checked MACV; no frame carries the agreed key, so only the key file decrypts
what follows, and it does. The bench captures (test_capture_bench.py, test_capture_live.py) show the same on a
running bench."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import zigpy.types as zt

from capture_scenes import Clock
from chf.core.han import JoinMethod
from zigbee.capture import HanCapture, keyfile, read_capture, zcl
from zigbee.capture.tap import MediumTap
from zigbee.cbke.certificate import Suite2Certificate, decode_certificate
from zigbee.cbke.cluster import Command, InitiateKeyEstablishment, TerminateKeyEstablishment
from zigbee.cbke.suites import Suite
from zigbee.key_establishment import decode as decode_ke
from zigbee.key_establishment import encode as encode_ke
from zigbee.key_establishment import read_suite_request, read_suite_response
from zigbee.keys import install_code_key
from zigbee.medium import Credential, CredentialKind, JoinDecision
from zigbee.node import DeviceType

HUB = bytes.fromhex("02C0FFEE0000A001")
METER = bytes.fromhex("02C0FFEE000E5E01")
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")
IC_KEY = install_code_key(IC)
NETWORK_KEY = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
AGREED = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")  # what CBKE would agree (never on the air)
PAN, NWK = 0x1234, 0x2A01
KE = 0x0800
SE, HA = 0x0109, 0x0104


class Radio:
    """What a tap reads from a hub's radio: its network and its key table."""

    def __init__(self) -> None:
        self.eui = HUB
        self.keys: dict[bytes, bytes] = {}
        self.state = SimpleNamespace(network_info=SimpleNamespace(
            pan_id=PAN, extended_pan_id=HUB[::-1], channel=15, network_key=SimpleNamespace(key=NETWORK_KEY, seq=0)))

    def beacon_info(self, node=None):
        return HUB, PAN, 15, True

    def trusts(self, ieee: zt.EUI64) -> bytes | None:
        return self.keys.get(bytes(ieee)[::-1])


def packet(cluster: int, data: bytes, *, profile: int = SE, to_hub: bool) -> zt.ZigbeePacket:
    node_ep, hub_ep = 1, 0x0A
    return zt.ZigbeePacket(
        src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(NWK if to_hub else 0)),
        dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(0 if to_hub else NWK)),
        src_ep=node_ep if to_hub else hub_ep, dst_ep=hub_ep if to_hub else node_ep, tsn=0, profile_id=profile,
        cluster_id=cluster, data=zt.SerializableBytes(data))


def certificate(subject: bytes) -> bytes:
    """A suite-2 certificate for `subject` (74 octets; its P_U is no real point: nothing here is verified, what
    the capture carries is compared byte for byte)."""
    return Suite2Certificate(b"\x01" * 8, b"CHUB\x01\x02\x03\x04", 1_700_000_000, 0xFFFFFFFF, subject, 0x88,
                             b"\x02" + bytes(36)).encode()


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """The meter joins with its install code, the hub interviews it, CBKE runs; the hub installs the agreed key
    when MACU checks out and reads the meter's Basic cluster before the meter has MACV; the meter, still on the
    install-code key, answers; then it checks MACV, keeps alive and the hub opens a tunnel."""
    path = tmp_path_factory.mktemp("cbke") / "han.pcapng"
    radio = Radio()
    meter = SimpleNamespace(eui=METER, device_type=DeviceType.ESME, install_code=IC, network=None, tc_link_key=None)
    medium = SimpleNamespace(radios={HUB: radio}, nodes={METER: meter}, dead=set(), observers=[])
    cap = HanCapture(path, clock=Clock())
    tap = MediumTap(medium, cap).start()
    marks: dict[str, list[int]] = {}
    sent: list[bytes] = []

    def send(name: str, cluster: int, data: bytes, *, to_hub: bool, profile: int = SE) -> None:
        before = cap.frames_written
        tap.on_packet(METER if to_hub else HUB, HUB if to_hub else METER,
                      packet(cluster, data, profile=profile, to_hub=to_hub), True)
        marks[name] = list(range(before + 1, cap.frames_written + 1))
        if cluster == KE:
            sent.append(data)

    meter.network, meter.tc_link_key, radio.keys[METER] = SimpleNamespace(hub=HUB, nwk=NWK), IC_KEY, IC_KEY
    tap.on_join(METER, HUB, [Credential(IC_KEY, CredentialKind.INSTALL_CODE)], False, True,
                JoinDecision(HUB, NWK, PAN, HUB, IC_KEY, JoinMethod.INSTALL_CODE, cbke=True))
    send("interview", 0x0000, b"\x00\x01\x00\x04\x00", to_hub=False, profile=HA)
    send("suite", KE, read_suite_request(1), to_hub=True)
    send("suite response", KE, read_suite_response(1, 0x0003), to_hub=False)
    for command, request, response in (
            (Command.INITIATE_KEY_ESTABLISHMENT, InitiateKeyEstablishment(2, 10, 10, certificate(METER)).encode(),
             InitiateKeyEstablishment(2, 10, 10, certificate(HUB)).encode()),
            (Command.EPHEMERAL_DATA, bytes(range(37)), bytes(range(37, 74))),
            (Command.CONFIRM_KEY, bytes(16), bytes(range(16)))):
        send(f"{command.name} request", KE, encode_ke(command, request, to_server=True, tsn=2 + command), to_hub=True)
        if command is Command.CONFIRM_KEY:
            radio.keys[METER] = AGREED  # MACU checked: the trust centre's key table takes the key
        send(f"{command.name} response", KE, encode_ke(command, response, to_server=False, tsn=2 + command),
             to_hub=False)
    send("hub reads", 0x0000, b"\x00\x07\x00\x05\x00", to_hub=False, profile=HA)
    send("meter answers", 0x0000, b"\x18\x07\x01\x05\x00\x86", to_hub=True, profile=HA)
    meter.tc_link_key = AGREED  # MACV checked
    tap.on_key_established(METER, HUB, AGREED)
    send("keep-alive", zcl.KEEP_ALIVE_CLUSTER, zcl.keep_alive_read(9), to_hub=True)
    send("request tunnel", zcl.TUNNELLING_CLUSTER, zcl.request_tunnel(10), to_hub=False)
    send("request tunnel response", zcl.TUNNELLING_CLUSTER, zcl.request_tunnel_response(10, 3), to_hub=True)
    tap.stop()
    return SimpleNamespace(path=path, keys=f"{path}.keys", marks=marks, sent=sent,
                           reading=read_capture(path, keys_file=f"{path}.keys"))


def frames(story, name: str):
    by_number = {d.number: d for d in story.reading.dissections}
    return [by_number[n] for n in story.marks[name]]


def data_frame(story, name: str):
    """The APS data frame of an event (the first frame: MAC acks and the APS ack follow it)."""
    d = frames(story, name)[0]
    assert d.aps is not None and d.aps.header.frame_type == 0, name
    return d


def test_everything_is_read_back_with_the_key_file(story):
    s = story.reading.summary
    assert s.failures == [] and s.nwk_secured == s.nwk_decrypted and s.aps_secured == s.aps_decrypted > 0


def test_key_establishment_frames_are_nwk_secured_and_aps_unsecured_frame_for_frame(story):
    ke = [d for d in story.reading.dissections
          if d.aps is not None and d.aps.header.cluster == KE and d.aps.header.frame_type == 0]
    assert [d.aps_payload for d in ke] == story.sent  # the exchange, byte for byte, in order
    for d in ke:
        assert d.nwk.aux is not None and d.nwk.key == NETWORK_KEY
        assert not d.aps.header.security and d.aps.aux is None
        assert d.aps.header.profile == SE and d.aps.header.ack_request  # APS frame control 0x40 (SE Annex C.6.2)
    commands = [decode_ke(d.aps_payload) for d in ke]
    assert [(f.general, f.to_server, f.command) for f in commands] == [
        (True, True, 0x00), (True, False, 0x01),  # Read Attributes KeyEstablishmentSuite, and its response
        (False, True, 0), (False, False, 0), (False, True, 1), (False, False, 1), (False, True, 2), (False, False, 2)]
    subjects = [decode_certificate(Suite.SUITE_2, InitiateKeyEstablishment.decode(f.payload).identity).subject
                for f in commands[2:4]]
    assert subjects == [METER, HUB]


def test_each_side_uses_the_key_it_holds_at_that_moment(story):
    key = {name: data_frame(story, name).aps.key for name in (
        "interview", "hub reads", "meter answers", "keep-alive", "request tunnel", "request tunnel response")}
    assert key["interview"] == IC_KEY  # before CBKE: the install-code key, both ways
    assert key["hub reads"] == AGREED  # the trust centre installed the key on MACU
    assert key["meter answers"] == IC_KEY  # the meter has not checked MACV yet
    assert key["keep-alive"] == key["request tunnel"] == key["request tunnel response"] == AGREED
    assert not data_frame(story, "CONFIRM_KEY response").aps.header.security


def test_the_agreed_key_is_not_on_the_air(story):
    """No Transport-Key carries it: with the install-code and network keys alone, what the agreed key secures
    stays encrypted; the key file has it, under its name."""
    assert not [d for d in story.reading.dissections if d.aps_command is not None and d.aps_command.key_type == 4]
    alone = read_capture(story.path, keys=[IC_KEY, NETWORK_KEY])
    failed = {f.frame_number for f in alone.summary.failures}
    for name in ("hub reads", "keep-alive", "request tunnel", "request tunnel response"):
        assert data_frame(story, name).number in failed, name
    for name in ("interview", "meter answers", "INITIATE_KEY_ESTABLISHMENT request", "CONFIRM_KEY response"):
        assert data_frame(story, name).number not in failed, name
    entries = keyfile.read(story.keys)
    assert [(e.key, e.label) for e in entries] == [
        (NETWORK_KEY, "network key PAN 0x1234 (key sequence 0)"),
        (IC_KEY, "install-code link key 02:c0:ff:ee:00:0e:5e:01"),
        (AGREED, "CBKE TC link key 02:c0:ff:ee:00:0e:5e:01")]


def test_a_terminate_is_written_as_the_exchange_is(tmp_path):
    """A foreign-CA meter's exchange ends in the hub's Terminate (UNKNOWN_ISSUER): NWK-secured, APS-unsecured,
    and no key changes."""
    radio = Radio()
    meter = SimpleNamespace(eui=METER, device_type=DeviceType.ESME, install_code=IC,
                            network=SimpleNamespace(hub=HUB, nwk=NWK), tc_link_key=IC_KEY)
    radio.keys[METER] = IC_KEY
    medium = SimpleNamespace(radios={HUB: radio}, nodes={METER: meter}, dead=set(), observers=[])
    cap = HanCapture(tmp_path / "t.pcap", clock=Clock())
    tap = MediumTap(medium, cap).start()
    tap.on_join(METER, HUB, [Credential(IC_KEY, CredentialKind.INSTALL_CODE)], False, True,
                JoinDecision(HUB, NWK, PAN, HUB, IC_KEY, JoinMethod.INSTALL_CODE, cbke=True))
    initiate = encode_ke(Command.INITIATE_KEY_ESTABLISHMENT,
                         InitiateKeyEstablishment(2, 10, 10, certificate(METER)).encode(), to_server=True, tsn=2)
    terminate = encode_ke(Command.TERMINATE_KEY_ESTABLISHMENT, TerminateKeyEstablishment(1, 30, 3).encode(),
                          to_server=False, tsn=2)
    tap.on_packet(METER, HUB, packet(KE, initiate, to_hub=True), True)
    tap.on_packet(HUB, METER, packet(KE, terminate, to_hub=False), True)
    tap.on_leave(METER, HUB, True)
    tap.stop()
    r = read_capture(tmp_path / "t.pcap", keys_file=f"{tmp_path / 't.pcap'}.keys")
    assert r.summary.failures == []
    ke = [d for d in r.dissections if d.aps is not None and d.aps.header.cluster == KE and d.aps.header.frame_type == 0]
    assert [d.aps_payload for d in ke] == [initiate, terminate]
    assert all(d.nwk.aux is not None and not d.aps.header.security for d in ke)
    assert TerminateKeyEstablishment.decode(decode_ke(ke[1].aps_payload).payload).status == 1
    assert [e.key for e in keyfile.read(f"{tmp_path / 't.pcap'}.keys")] == [NETWORK_KEY, IC_KEY]
