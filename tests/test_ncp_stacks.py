"""Hubs on emulated coordinator sticks, through the unmodified radio libraries: bellows (EZSP) and zigpy-znp
(Z-Stack). Each flow the virtual radio supports is run through both stacks: CCS01 install-code join (CS14 with
the TC link key hash), routed meter commands over the tunnel (frames longer than one APS frame go as GBT
blocks), the sleepy GSME's queued frames, CCS02 remove, a restart on the same state and stick without a
re-join, CCS07 backup and CCS03 restore onto another hub with the meter's trust-centre re-join, swap-out in
both directions between a stick hub and a virtual hub, and `chf triage` with the QA hub on a stick."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from ncp_rig import ESME, ESME2, GSME, IC, IC2, IC3, StickRig

from chf.remote.triage import entry_from_backup
from gbcs import dlms, message
from gbcs.authentication import Verdict
from gbcs.frame import decode_frame
from zigbee.keys import swap_out_key
from zigbee.medium import Kind
from zigbee.node import NodeEvent, NodeState

KINDS = ["ezsp", "znp"]


@pytest.fixture(params=KINDS)
def rig(request, tmp_path):
    r = StickRig(tmp_path, request.param)
    yield r
    r.close()


def _accepted(node) -> int:
    return sum(1 for _, ev, _ in node.history if ev is NodeEvent.ACCEPTED)


def _transfers_to(rig, meter: str, since: int) -> int:
    """Tunnelling-cluster APS frames the hub's radio sent `meter` since trace record `since`."""
    return sum(1 for r in list(rig.bt.running.medium.trace)[since:]
               if r.kind is Kind.APS and r.dst == bytes.fromhex(meter) and r.cluster == 0x0704)


def test_join_routed_commands_gbt_gsme_queue_and_remove(rig):
    # CCS01: the meter joins through the radio library; CS14 carries the hash of the key the stick's (emulated)
    # key establishment gave, which the hub read back from the stick's key table
    h = rig.join("A", ESME, IC)
    node = rig.node(ESME)
    assert h is not None and h == swap_out_key(node.tc_link_key)
    assert rig.hub_a.hub.state.device_log.get(bytes.fromhex(ESME)).hashed_tc_link_key == h
    assert rig.cs07_ok("A", ESME)
    # a frame longer than one APS frame through the stick goes as GBT blocks, the answer comes back whole
    # (EZSP: as APS fragments the host reassembles)
    limit = rig.hub_a.han.max_transfer()
    assert limit < 1500  # the coordinator's node descriptor: what one APS frame from the host may carry
    cert = x509.load_pem_x509_certificate((rig.bench.keys / f"{ESME2.lower()}-ka.pem").read_bytes())
    command = rig.remote.meter(rig.euis["A"], bytes.fromhex(ESME), "CS03C", other=bytes.fromhex(ESME2),
                               other_type="esme", certificate=cert.public_bytes(Encoding.DER))
    assert len(command) > limit
    mark = len(rig.bt.running.medium.trace)
    answer = rig.links["A"].request(command, 15)
    assert answer is not None and message.decode(answer, rig.remote.keys).signature is Verdict.VALID
    assert _transfers_to(rig, ESME, mark) >= 2  # GBT blocks
    answer = rig.meter("A", ESME, "CS04AC", other=bytes.fromhex(ESME2))
    assert answer is not None and decode_frame(answer).header.originator == bytes.fromhex(ESME)
    # DISCONNECT: signed answer, then the meter divorces (back to its factory state)
    answer = rig.meter("A", ESME, "DISCONNECT")
    assert answer is not None and message.decode(answer, rig.remote.keys).signature is Verdict.VALID
    assert node.state is NodeState.FACTORY
    # the sleepy GSME: its frames wait in the hub until it polls
    assert rig.join("A", GSME, IC3, device_type="gsme") is not None
    assert rig.cs07_ok("A", GSME, timeout=15)
    # CCS02: the meter is told to leave (Mgmt_Leave_req through the library) and the hub forgets it
    assert rig.join("A", ESME2, IC2) is not None
    r = rig.chf("A", "CCS02", device=bytes.fromhex(ESME2))
    assert r is not None and all(x.result == 0 for x in dlms.decode(decode_frame(r).header.payload).results)
    deadline = time.monotonic() + 15
    while rig.node(ESME2).state is not NodeState.LEFT and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.node(ESME2).state is NodeState.LEFT
    assert rig.hub_a.hub.state.historic_log.get(bytes.fromhex(ESME2)) is not None
    time.sleep(0.5)
    assert rig.node(ESME2).state is NodeState.LEFT  # the stick forgot its key: no trust-centre re-join


def test_restart_without_rejoin_then_backup_restore_and_trust_centre_rejoin(rig):
    assert rig.join("A", ESME, IC) is not None
    node = rig.node(ESME)
    joins = _accepted(node)
    assert rig.cs07_ok("A", ESME)
    # the hub's process ends and starts again on the same state and stick: no re-join, CS07 still verifies
    rig.stop_a()
    rig.start_a()
    assert rig.cs07_ok("A", ESME)
    assert _accepted(node) == joins and node.network.hub == rig.euis["A"]
    # CCS07 on A, CCS03 on B from A's backup; A's process ends; the meter trust-centre re-joins B
    backup = rig.chf("A", "CCS07")
    epid, hashed = entry_from_backup(backup, bytes.fromhex(ESME))
    assert rig.chf("B", "CCS03", epid=epid, entries=[(bytes.fromhex(ESME), hashed)]) is not None
    rig.stop_a()
    assert rig.advance_until("B", lambda: node.network is not None and node.network.hub == rig.euis["B"], 60)
    assert rig.cs07_ok("B", ESME)


def test_swap_out_from_a_virtual_hub_onto_a_stick_hub(rig):
    # the meter joins virtual hub B; B's backup is restored onto the hub on the stick (write_network_info
    # through the radio library: Extended PAN ID and the hashed TC link key in the stick's key table)
    assert rig.join("B", ESME, IC) is not None
    backup = rig.chf("B", "CCS07")
    epid, hashed = entry_from_backup(backup, bytes.fromhex(ESME))
    assert rig.chf("A", "CCS03", epid=epid, entries=[(bytes.fromhex(ESME), hashed)], timeout=30) is not None
    assert "radio off" in rig.links["B"].control("POWER OFF")
    node = rig.node(ESME)
    assert rig.advance_until("B", lambda: node.network is not None and node.network.hub == rig.euis["A"], 60)
    assert rig.cs07_ok("A", ESME)
    # the stick's key table holds the hash it was restored with, which the meter re-joined with
    assert rig.stick.session.link_key(bytes.fromhex(ESME)) == hashed == node.tc_link_key


def test_triage_with_the_qa_hub_on_a_stick(rig):
    """`chf triage --qa A --qa-wan HOST:PORT`: the QA hub runs on the stick; a factory-fresh meter is state 1
    and re-deployable (join, checks, DISCONNECT, CCS02, a fresh install-code join, CCS02)."""
    from chf.app.triage_cli import hub_spec, run_triage
    from chf.remote.triage_steps import MeterInfo

    host, port = rig.hub_a.address
    qa_spec, qa_addr = hub_spec(rig.bench, "A", f"{host}:{port}", "--qa")
    assert qa_spec.eui == rig.euis["A"]
    (report,) = run_triage(rig.bench, qa_spec, None, [MeterInfo(bytes.fromhex(ESME), "esme", IC)],
                           rig.tmp / "triage-counters.json", hosts={"A": qa_addr})
    assert report.state == 1 and report.redeployable, [(s.name, s.outcome, s.detail) for s in report.steps]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hub_on_a_stick_served_on_a_pty(tmp_path, kind):
    """`pty = true`: the stick on a pseudo-terminal, the radio library on its serial path (serialx on a tty)."""
    r = StickRig(tmp_path, kind, form="pty")
    try:
        assert r.url().startswith(f"{kind}:/dev/")
        assert r.join("A", ESME, IC) is not None
        assert r.cs07_ok("A", ESME)
        r.stop_a()  # the host closes the tty: the stick falls silent, and serves the next host to open it
        deadline = time.monotonic() + 5
        while r.stick.session is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.stick.session is None and r.stick.beacon_info() is None
        r.start_a()
        assert r.cs07_ok("A", ESME)
    finally:
        r.close()
