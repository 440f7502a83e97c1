"""CBKE on a whole bench (hubs with WAN ports, the bench's ZigBee PKI, emulated meters): every meter that joins
while the bench runs does so by CBKE, the CS14 hash is that of the CBKE key, CHF:HAN says how each key was
established, a foreign-CA meter is refused with UNKNOWN_ISSUER and stays out, and `key_establishment =
"derived"` keeps the emulation's key with no Key Establishment frame on the air; `chf keys show` decodes the
certificates the bench issued."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chf.config.bench_file import BenchFileError, parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _cs14_hash
from chf.runtime.bench import BenchThread
from gbcs.authentication import Verdict
from gbcs import message
from zigbee.key_establishment import KEY_ESTABLISHMENT_CLUSTER_ID
from zigbee.keys import swap_out_key
from zigbee.medium import Kind
from zigbee.node import NodeState

A = "02C0FFEE0000A001"
METERS = [("esme", "02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505"),
          ("gsme", "02C0FFEE000E5E02", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"),
          ("ppmid", "02C0FFEE000E5E03", "00112233445566778899AABBCCDDEEFF")]
FOREIGN = ("esme", "02C0FFEE000E5E09", "0102030405060708090A0B0C0D0E0F10")


def bench_text(mode: str | None, foreign: bool = True) -> str:
    lines = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 30", "gsme_poll_s = 2"]
    if mode:
        lines.append(f'key_establishment = "{mode}"')
    lines += ["[[hub]]", 'name = "A"', f'eui = "{A}"', 'wan = "127.0.0.1:0"']
    for kind, eui, ic in METERS + ([FOREIGN] if foreign else []):
        lines += ["[[meter]]", f'type = "{kind}"', f'eui = "{eui}"', f'install_code = "{ic}"']
        if eui == FOREIGN[1]:
            lines.append("foreign_ca = true")
    return "\n".join(lines) + "\n"


class BenchRig:
    def __init__(self, tmp: Path, mode: str | None, foreign: bool = True) -> None:
        self.bench = parse(bench_text(mode, foreign), tmp / "bench.toml")
        self.bt = BenchThread(self.bench)
        self.remote = BenchRemote(self.bench.keys, tmp / "counters.json")
        self.link = HubLink(*self.bt.address("A"))
        self.a = self.bench.hub("A").eui

    def join(self, kind: str, eui: str, ic: str, wait: float = 8) -> bytes | None:
        mark = sum(1 for t in self.link.journal if t.direction == "received")
        self.link.request(self.remote.chf(self.a, "CCS01", device=bytes.fromhex(eui), install_code=bytes.fromhex(ic),
                                          device_type=kind), 5)
        if not wait:
            return None
        f = self.link.wait_for(lambda f: bool(_cs14_hash(f, bytes.fromhex(eui))), wait, mark)
        return _cs14_hash(f, bytes.fromhex(eui)) if f else None

    def node(self, eui: str):
        assert self.bt.running is not None
        return self.bt.running.nodes[bytes.fromhex(eui)]

    def han(self) -> dict:
        return json.loads(self.link.control("HAN").split(" ", 1)[1])

    def close(self) -> None:
        self.link.close()
        self.bt.close()


def test_every_meter_of_a_bench_joins_by_cbke_and_the_foreign_one_is_refused(tmp_path):
    from zigbee.keys import swap_out_key as hashed

    rig = BenchRig(tmp_path, None)  # the default is CBKE
    try:
        assert rig.bench.key_establishment == "cbke"
        for kind, eui, ic in METERS:
            h = rig.join(kind, eui, ic)
            node = rig.node(eui)
            deadline = time.monotonic() + 5
            while not node.joined and time.monotonic() < deadline:
                time.sleep(0.02)
            assert h is not None and h == hashed(node.tc_link_key), kind  # CS14 carries the CBKE key's hash
            assert node.snapshot()["key_establishment"]["key_source"] == "cbke"
        # each answers a GBCS read through the hub
        r = rig.link.request(rig.remote.meter(rig.a, bytes.fromhex(METERS[0][1]), "CS07"), 5)
        assert r is not None and message.decode(r, rig.remote.keys).mac is Verdict.VALID
        # the foreign-CA meter: CCS01, it joins the network, CBKE ends in UNKNOWN_ISSUER, it leaves
        assert rig.join(*FOREIGN, wait=6) is None
        foreign = rig.node(FOREIGN[1])
        deadline = time.monotonic() + 5
        while foreign.snapshot()["key_establishment"]["last_cbke"] is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert foreign.state is NodeState.FACTORY and foreign.tc_link_key is None
        han = rig.han()
        assert han["key_establishment"] == "cbke"
        rows = {d["eui"]: d for d in han["devices"]}
        for _kind, eui, _ic in METERS:
            assert rows[eui]["joined"] and rows[eui]["key_establishment"]["key_source"] == "cbke"
            assert rows[eui]["key_establishment"]["last_cbke"]["outcome"] == "established"
            assert rows[eui]["key_establishment"]["last_cbke"]["suite"] == 2
        bad = rows[FOREIGN[1]]
        assert not bad["joined"] and bad["key_establishment"]["last_cbke"]["status"] == "UNKNOWN_ISSUER"
        meters = {m["eui"]: m for m in han["meters"]}
        assert meters[FOREIGN[1]]["state"] == "factory"
        assert meters[FOREIGN[1]]["key_establishment"]["last_cbke"]["status"] == "UNKNOWN_ISSUER"
        # the certificates the bench issued: the meters' from the bench CA, the foreign one's from the other
        keys = rig.bench.keys
        shown = json.loads(subprocess.run([sys.executable, "-m", "chf.app.cli", "keys", "show", str(keys), METERS[0][1],
                                           "--json"], capture_output=True, text=True, check=True).stdout)
        assert shown["ca"] == "bench" and shown["certificates"][0]["fields"]["subject"] == METERS[0][1]
        assert shown["certificates"][0]["private_key_matches"]
        other = json.loads(subprocess.run([sys.executable, "-m", "chf.app.cli", "keys", "show", str(keys), FOREIGN[1],
                                           "--json"], capture_output=True, text=True, check=True).stdout)
        assert other["ca"] == "foreign" and other["certificates"][0]["fields"]["issuer"][:8] == b"FRGN".hex().upper()
        hub_cert = json.loads(subprocess.run([sys.executable, "-m", "chf.app.cli", "keys", "show", str(keys), A,
                                              "--json"], capture_output=True, text=True, check=True).stdout)
        assert {c["suite"] for c in hub_cert["certificates"]} == {1, 2}
    finally:
        rig.close()


def test_a_derived_bench_keeps_the_emulated_key_and_sends_no_key_establishment_frame(tmp_path):
    rig = BenchRig(tmp_path, "derived", foreign=False)
    try:
        kind, eui, ic = METERS[0]
        h = rig.join(kind, eui, ic)
        node = rig.node(eui)
        assert h is not None and h == swap_out_key(node.tc_link_key)
        assert node.snapshot()["key_establishment"] == {"mode": "derived", "last_cbke": None, "key_source": "derived"}
        assert rig.bt.running is not None
        medium = rig.bt.running.medium
        assert not any(r.kind is Kind.APS and r.cluster == KEY_ESTABLISHMENT_CLUSTER_ID for r in medium.trace)
        assert rig.han()["key_establishment"] == "derived"
        assert not (rig.bench.keys / "zigbee").exists()  # no ZigBee PKI on a derived bench
    finally:
        rig.close()


def test_bench_file_checks_the_new_keys(tmp_path):
    with pytest.raises(BenchFileError, match="key_establishment"):
        parse(bench_text("ecdh"), tmp_path / "b.toml")
    with pytest.raises(BenchFileError, match="foreign_ca"):
        parse(bench_text(None).replace("foreign_ca = true", 'foreign_ca = "yes"'), tmp_path / "b.toml")
    b = parse(bench_text("derived"), tmp_path / "b.toml")
    assert b.key_establishment == "derived" and [m.foreign_ca for m in b.meters] == [False, False, False, True]


def test_chf_keys_show_without_a_certificate_says_how_to_get_one(tmp_path):
    r = subprocess.run([sys.executable, "-m", "chf.app.cli", "keys", "show", str(tmp_path), A],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--issue" in r.stderr
    r = subprocess.run([sys.executable, "-m", "chf.app.cli", "keys", "show", str(tmp_path), A, "--issue", "--suite", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "suite 1 (sect163k1), 48 octets" in r.stdout and "matches the private key" in r.stdout
