"""Meters installed at bench start (`joined_to`) come up holding their TC link key, as after a power cycle (issue
21 item 5): the hub's device log, the radio's key table, zigpy's device table and the emulated meter agree on
the key; nothing goes on the air and no key establishment runs; a CS07 is answered at once; a meter that joins
while the bench runs still runs CBKE; a restarted bench (same state and keys) keeps the entries and their keys;
a capture started with the bench knows the installed meters' keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chf.config.bench_file import parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _asn1_code, _cs14_hash
from chf.runtime.bench import BenchThread
from gbcs import message
from gbcs.authentication import Verdict
from gbcs.frame import decode_frame
from gbcs.mmo import aes_mmo_hash
from zigbee.key_establishment import KEY_ESTABLISHMENT_CLUSTER_ID, KeySource
from zigbee.keys import emulated_key_establishment, install_code_key
from zigbee.medium import Kind
from zigbee.node import NodeState
from zigbee.virtual_radio import to_ieee

A = "02C0FFEE0000A001"
INSTALLED = [("esme", "02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505"),
             ("gsme", "02C0FFEE000E5E02", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"),
             ("ppmid", "02C0FFEE000E5E03", "00112233445566778899AABBCCDDEEFF")]
LATE = ("esme", "02C0FFEE000E5E09", "0102030405060708090A0B0C0D0E0F10")  # joins while the bench runs


def bench_text(mode: str) -> str:
    lines = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 30", "gsme_poll_s = 2",
             f'key_establishment = "{mode}"', "[[hub]]", 'name = "A"', f'eui = "{A}"', 'wan = "127.0.0.1:0"',
             'state = "state-a"']
    for kind, eui, ic in INSTALLED:
        lines += ["[[meter]]", f'type = "{kind}"', f'eui = "{eui}"', f'install_code = "{ic}"', 'joined_to = "A"']
    kind, eui, ic = LATE
    lines += ["[[meter]]", f'type = "{kind}"', f'eui = "{eui}"', f'install_code = "{ic}"']
    return "\n".join(lines) + "\n"


class Rig:
    def __init__(self, tmp: Path, mode: str, **kw: object) -> None:
        self.bench = parse(bench_text(mode), tmp / "bench.toml")
        self.bt = BenchThread(self.bench, **kw)
        self.remote = BenchRemote(self.bench.keys, tmp / "counters.json")
        self.link = HubLink(*self.bt.address("A"))
        self.a = self.bench.hub("A").eui

    @property
    def running(self):
        assert self.bt.running is not None
        return self.bt.running

    def keys_held(self, eui: str) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(device log, radio key table, emulated meter) TC link keys of `eui`."""
        e = bytes.fromhex(eui)
        rh = self.running.hubs["A"]
        entry = rh.hub.state.device_log.get(e)
        return (None if entry is None else entry.tc_link_key, rh.han.app.trusts(to_ieee(e)),
                self.running.nodes[e].tc_link_key)

    def close(self) -> None:
        self.link.close()
        self.bt.close()


@pytest.mark.parametrize("mode", ["cbke", "derived"])
def test_installed_meters_hold_the_key_of_their_device_log_entry_and_ran_no_key_establishment(tmp_path, mode):
    rig = Rig(tmp_path, mode)
    try:
        medium = rig.running.medium
        for kind, eui, ic in INSTALLED:
            e = bytes.fromhex(eui)
            log_key, radio_key, node_key = rig.keys_held(eui)
            assert log_key is not None and log_key == radio_key == node_key
            entry = rig.running.hubs["A"].hub.state.device_log.get(e)
            assert entry.hashed_tc_link_key == aes_mmo_hash(log_key)  # what CS14 and CCS07 carry
            assert log_key != install_code_key(bytes.fromhex(ic))
            if mode == "derived":  # the emulation's key of a first install-code join
                assert log_key == emulated_key_establishment(install_code_key(bytes.fromhex(ic)), rig.a, e, 0)
            node = rig.running.nodes[e]
            assert node.state is NodeState.JOINED and node.network is not None and node.network.hub == rig.a
            assert node.key_source is KeySource.INSTALLED
            assert node.registration is None or node.registration.record.outcome is None  # no CBKE ran
            dev = rig.running.hubs["A"].han.app.devices[to_ieee(e)]  # as after a join and discovery
            assert dev.nwk == node.network.nwk and dev.model == f"commshub {kind.upper()}" and 1 in dev.endpoints
        # nothing was joined over the air, and no Key Establishment frame was sent
        assert not [r for r in medium.trace if r.kind is Kind.JOIN]
        assert not [r for r in medium.trace if r.cluster == KEY_ESTABLISHMENT_CLUSTER_ID]
        han = json.loads(rig.link.control("HAN").split(" ", 1)[1])
        views = {d["eui"]: d["key_establishment"]["key_source"] for d in han["devices"]}
        assert all(views[eui] == "installed" for _, eui, _ in INSTALLED)
        radio = {d["eui"]: d for d in han["radio"]["devices"]}
        assert all(radio[eui]["member"] and radio[eui]["key_establishment"]["key_source"] == "installed"
                   for _, eui, _ in INSTALLED)
        # a CS07 through the hub is answered at once (MAC valid): the tunnel works without any join
        r = rig.link.request(rig.remote.meter(rig.a, bytes.fromhex(INSTALLED[0][1]), "CS07"), 5)
        assert r is not None and _asn1_code(r) == 0
        assert decode_frame(r).header.originator == bytes.fromhex(INSTALLED[0][1])
        assert message.decode(r, rig.remote.keys).mac is Verdict.VALID
    finally:
        rig.close()


def test_a_meter_joining_while_the_bench_runs_still_runs_cbke(tmp_path):
    rig = Rig(tmp_path, "cbke")
    try:
        kind, eui, ic = LATE
        mark = sum(1 for t in rig.link.journal if t.direction == "received")
        rig.link.request(rig.remote.chf(rig.a, "CCS01", device=bytes.fromhex(eui), install_code=bytes.fromhex(ic),
                                        device_type=kind), 5)
        f = rig.link.wait_for(lambda f: bool(_cs14_hash(f, bytes.fromhex(eui))), 10, mark)
        assert f is not None
        node = rig.running.nodes[bytes.fromhex(eui)]
        assert node.key_source is KeySource.CBKE and node.registration.record.outcome == "established"
        log_key, radio_key, node_key = rig.keys_held(eui)
        assert log_key == radio_key == node_key and _cs14_hash(f, bytes.fromhex(eui)) == aes_mmo_hash(log_key)
        assert [r for r in rig.running.medium.trace if r.cluster == KEY_ESTABLISHMENT_CLUSTER_ID]
    finally:
        rig.close()


def test_a_restarted_bench_keeps_the_entries_and_their_keys(tmp_path):
    rig = Rig(tmp_path, "cbke")
    try:
        before = {eui: rig.keys_held(eui)[0] for _, eui, _ in INSTALLED}
    finally:
        rig.close()
    rig = Rig(tmp_path, "cbke")  # same state directory and keys: the meters power up again
    try:
        for _, eui, _ in INSTALLED:
            log_key, radio_key, node_key = rig.keys_held(eui)
            assert log_key == radio_key == node_key == before[eui]
        r = rig.link.request(rig.remote.meter(rig.a, bytes.fromhex(INSTALLED[2][1]), "CS07"), 5)
        assert r is not None and message.decode(r, rig.remote.keys).mac is Verdict.VALID
    finally:
        rig.close()


def test_a_capture_from_the_start_knows_the_installed_meters_keys(tmp_path):
    pcap = tmp_path / "han.pcapng"
    rig = Rig(tmp_path, "cbke", pcap=str(pcap))
    try:
        tap = rig.running.captures[str(pcap.absolute())]
        held = {e.key for e in tap.capture.keys}
        for _, eui, _ in INSTALLED:  # Wireshark can decrypt their APS frames from the first
            key = rig.keys_held(eui)[0]
            assert key is not None and key in held
    finally:
        rig.close()
