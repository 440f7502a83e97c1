"""zigbee.cbke.exchange: the Key Establishment cluster's sans-I/O initiator (meter) and responder (hub).

The SE Annex C.5/C.6 exchanges replayed message by message; every Terminate status each side sends; Terminate
received; every timeout of both sides with an injected clock; bit flips caught by the machines (hypothesis).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest
from cbke_vectors import C5, EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from zigbee.cbke.certificate import SUITE1_OFFSETS, SUITE2_OFFSETS, KeyUsage, decode_certificate
from zigbee.cbke.cluster import (
    CLUSTER_ID,
    Command,
    InitiateKeyEstablishment,
    Status,
    TerminateKeyEstablishment,
)
from zigbee.cbke.ecqv import CertificateAuthority, issue_credentials
from zigbee.cbke.errors import PayloadError
from zigbee.cbke.exchange import (
    Cause,
    Credentials,
    Established,
    Failed,
    Initiator,
    Responder,
    Send,
    State,
    Timing,
)
from zigbee.cbke.suites import Suite

H = bytes.fromhex
HUB = H("02C0FFEE0000A001")
METER = H("02C0FFEE000E5E01")
OTHER = H("02C0FFEE000E5E02")
WAIT = Timing().terminate_wait_time  # 30 s, what our Terminates carry


def seeded_rng(seed: int):
    return random.Random(seed).randbytes


@dataclass(frozen=True)
class Bench:
    """One suite's test PKI: the hub's and the meter's credentials under a test CA, and a rogue CA's meter."""

    suite: Suite
    hub: Credentials
    meter: Credentials
    rogue_meter: Credentials
    ca: CertificateAuthority


def make_bench(suite: Suite) -> Bench:
    rng = seeded_rng(int(suite))
    ca = CertificateAuthority.generate(suite, b"CBKE-CA1", rng)
    rogue = CertificateAuthority.generate(suite, b"ROGUE-CA", rng)
    trust = {ca.issuer: ca.public_key}
    hub_cert, hub_key = issue_credentials(ca, HUB, rng)
    meter_cert, meter_key = issue_credentials(ca, METER, rng)
    rogue_cert, rogue_key = issue_credentials(rogue, METER, rng)
    return Bench(suite, Credentials(hub_cert, hub_key, trust), Credentials(meter_cert, meter_key, trust),
                 Credentials(rogue_cert, rogue_key, trust), ca)


@pytest.fixture(scope="module")
def benches():
    return {suite: make_bench(suite) for suite in Suite}


@pytest.fixture(params=list(Suite), ids=lambda s: s.name)
def bench(request, benches):
    return benches[request.param]


def pair(bench: Bench, *, meter: Credentials | None = None, seed: int = 0, initiator_timing: Timing | None = None,
         responder_timing: Timing | None = None, **responder_kw):
    initiator = Initiator(partner=HUB, credentials=meter or bench.meter, rng=seeded_rng(seed),
                          timing=initiator_timing or Timing())
    responder = Responder(partner=METER, credentials={bench.suite: bench.hub}, rng=seeded_rng(seed + 1),
                          timing=responder_timing or Timing(), **responder_kw)
    return initiator, responder


def sends(actions):
    return [a for a in actions if isinstance(a, Send)]


def outcomes(actions):
    return [a for a in actions if not isinstance(a, Send)]


def run(initiator: Initiator, responder: Responder, now: float = 0.0, tamper=None):
    """Deliver messages until both sides are quiet; `tamper(sender, command, payload)` may alter one on the way.
    Returns (initiator outcomes, responder outcomes, [(sender, Send)])."""
    log = []
    got = {"initiator": [], "responder": []}
    queue = [("initiator", a) for a in initiator.start(now)]
    while queue:
        sender, action = queue.pop(0)
        if not isinstance(action, Send):
            got[sender].append(action)
            continue
        payload = tamper(sender, action.command, action.payload) if tamper else action.payload
        log.append((sender, Send(action.command, payload)))
        receiver, name = (responder, "responder") if sender == "initiator" else (initiator, "initiator")
        queue += [(name, a) for a in receiver.receive(action.command, payload, now)]
    return got["initiator"], got["responder"], log


def terminate_of(actions) -> TerminateKeyEstablishment:
    (send,) = sends(actions)
    assert send.command is Command.TERMINATE_KEY_ESTABLISHMENT
    return TerminateKeyEstablishment.decode(send.payload)


def assert_terminated(machine, actions, status: Status, suites: int, now: float = 0.0):
    """The machine sent Terminate(status, 30 s, its suites) and reports the failure; no key survives."""
    t = terminate_of(actions)
    assert (t.status, t.wait_time, t.suites) == (status, WAIT, suites)
    (failed,) = outcomes(actions)
    retry_at = None if status.final or isinstance(machine, Responder) else now + WAIT
    assert failed == Failed(Cause.SENT_TERMINATE, status, WAIT, retry_at)
    assert machine.state is State.FAILED and machine.deadline is None


# --- SE Annex C.5 / C.6 between the machines ----------------------------------------------------------------------

@pytest.mark.parametrize("example", EXAMPLES, ids=["C5-suite1", "C6-suite2"])
def test_annex_exchange_between_machines(example):
    """C.5.2 / C.6.2: with the annex's static and ephemeral keys, the six messages are the published ones
    (Initiate Request begins 01 00 03 06 in C.5.2.1) and both sides install KeyData (C.5.3.3 / C.6.3.3)."""
    suite = Suite.SUITE_1 if example is C5 else Suite.SUITE_2
    curve = suite.curve
    ca = curve.decode_public_key(H(example.ca_public_key))
    u_cert = decode_certificate(suite, H(example.u_certificate))
    v_cert = decode_certificate(suite, H(example.v_certificate))
    trust = {v_cert.issuer: ca}

    def fixed(private_hex: str):  # the random source yields the annex's ephemeral key (reduced mod n by the draw)
        return lambda n: (int(private_hex, 16) % curve.n).to_bytes(n, "big")

    initiator = Initiator(partner=v_cert.subject, timing=Timing(3, 6), rng=fixed(example.u_ephemeral_private),
                          credentials=Credentials(u_cert, curve.key_pair_from_private(int(example.u_static_private,
                                                                                              16)), trust))
    responder = Responder(partner=u_cert.subject, rng=fixed(example.v_ephemeral_private),
                          credentials={suite: Credentials(v_cert, curve.key_pair_from_private(
                              int(example.v_static_private, 16)), trust)})
    got_u, got_v, log = run(initiator, responder)
    assert [(sender, s.command) for sender, s in log] == [
        ("initiator", Command.INITIATE_KEY_ESTABLISHMENT), ("responder", Command.INITIATE_KEY_ESTABLISHMENT),
        ("initiator", Command.EPHEMERAL_DATA), ("responder", Command.EPHEMERAL_DATA),
        ("initiator", Command.CONFIRM_KEY), ("responder", Command.CONFIRM_KEY)]
    payloads = [s.payload for _, s in log]
    assert payloads[0] == H(example.initiate_request_prefix) + H(example.u_certificate)
    assert payloads[1] == bytes([suite, 0, 10, 10]) + H(example.v_certificate)
    assert payloads[2:] == [H(example.qeu), H(example.qev), H(example.macu), H(example.macv)]
    assert got_u == [Established(v_cert.subject, H(example.key_data))]
    assert got_v == [Established(u_cert.subject, H(example.key_data))]
    assert "secret" in repr(got_u[0]) and example.key_data.lower() not in repr(got_u[0]).lower()


def test_exchange_with_a_test_ca(bench):
    """A meter and the hub with certificates from a project CA agree on a fresh link key."""
    initiator, responder = pair(bench)
    got_u, got_v, log = run(initiator, responder)
    assert len(log) == 6
    (u,) = got_u
    (v,) = got_v
    assert isinstance(u, Established) and isinstance(v, Established)
    assert u.link_key == v.link_key and len(u.link_key) == 16
    assert (u.partner, v.partner) == (HUB, METER)
    assert initiator.state is responder.state is State.ESTABLISHED
    assert initiator.deadline is None and responder.deadline is None
    assert CLUSTER_ID == 0x0800
    # a second exchange (a restart of the meter) gives another key: fresh ephemeral keys
    initiator2, _ = pair(bench, seed=10)
    got_u2, got_v2, _ = run(initiator2, responder)
    assert got_u2[0].link_key == got_v2[0].link_key != u.link_key


def test_responder_with_both_suites(benches):
    """A trust centre holding both suites serves each initiator in its own suite; Terminate lists both bits."""
    b1, b2 = benches[Suite.SUITE_1], benches[Suite.SUITE_2]
    hub2 = Credentials(b2.hub.certificate, b2.hub.key, {**b1.hub.trusted_cas, **b2.hub.trusted_cas})
    for bench in (b1, b2):
        responder = Responder(partner=METER, credentials={Suite.SUITE_1: b1.hub, Suite.SUITE_2: hub2},
                              rng=seeded_rng(5))
        initiator = Initiator(partner=HUB, credentials=bench.meter, rng=seeded_rng(6))
        got_u, got_v, _ = run(initiator, responder)
        assert isinstance(got_u[0], Established) and got_u[0].link_key == got_v[0].link_key
        assert responder.suite is bench.suite
    assert responder.receive(Command.CONFIRM_KEY, bytes(16), 0.0) == []  # after the end: ignored
    idle = Responder(partner=METER, credentials={Suite.SUITE_1: b1.hub, Suite.SUITE_2: hub2})
    assert_terminated(idle, idle.receive(Command.CONFIRM_KEY, bytes(16), 0.0), Status.BAD_MESSAGE, 0x0003)


# --- Terminate: every status the responder sends ------------------------------------------------------------------

def request_of(bench: Bench, meter: Credentials | None = None, suite_field: int | None = None) -> bytes:
    """An Initiate Key Establishment Request as the meter sends it (optionally with another suite field)."""
    initiator, _ = pair(bench, meter=meter)
    (send,) = initiator.start(0.0)
    if suite_field is None:
        return send.payload
    return suite_field.to_bytes(2, "little") + send.payload[2:]


def with_certificate_byte(request: bytes, offset: int, value: int) -> bytes:
    data = bytearray(request)
    data[4 + offset] = value
    return bytes(data)


def responder_at(bench: Bench, state: State, **kw):
    """A responder driven by a real meter into AWAIT_EPHEMERAL_REQUEST or AWAIT_CONFIRM_REQUEST."""
    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    (response,) = responder.receive(request.command, request.payload, 0.0)
    if state is State.AWAIT_CONFIRM_REQUEST:
        (qeu,) = initiator.receive(response.command, response.payload, 0.0)
        responder.receive(qeu.command, qeu.payload, 0.0)
    assert responder.state is state
    return initiator, responder


def test_responder_bad_message(bench):
    """BAD_MESSAGE (C.3.1.2.3.1.2, Table C-6): malformed, more than one suite bit, wrong length, out of sequence,
    a bad ephemeral point, a MAC of the wrong length, an unknown command."""
    suites = int(bench.suite)
    request = request_of(bench)
    cases = {
        "short": request[:3],
        "two suite bits": (0x0003).to_bytes(2, "little") + request[2:],
        "certificate too short": request[:-1],
        "certificate too long": request + b"\x00",
    }
    for name, payload in cases.items():
        _, responder = pair(bench)
        assert_terminated(responder, responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, payload, 0.0),
                          Status.BAD_MESSAGE, suites), name
    _, responder = pair(bench)  # Ephemeral Data before any Initiate: out of sequence
    assert_terminated(responder, responder.receive(Command.EPHEMERAL_DATA, bytes(bench.suite.point_octets), 0.0),
                      Status.BAD_MESSAGE, suites)
    _, responder = responder_at(bench, State.AWAIT_EPHEMERAL_REQUEST)
    assert_terminated(responder, responder.receive(Command.CONFIRM_KEY, bytes(16), 0.0), Status.BAD_MESSAGE, suites)
    _, responder = responder_at(bench, State.AWAIT_EPHEMERAL_REQUEST)
    assert_terminated(responder, responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, request, 0.0),
                      Status.BAD_MESSAGE, suites)
    _, responder = responder_at(bench, State.AWAIT_EPHEMERAL_REQUEST)
    assert_terminated(responder, responder.receive(0x07, b"", 0.0), Status.BAD_MESSAGE, suites)
    for qeu in (bytes(bench.suite.point_octets - 1),  # wrong length
                b"\x02" + bytes(bench.suite.point_octets - 1),  # the point of order 2: not in the subgroup
                b"\x05" + bytes(bench.suite.point_octets - 1)):  # not a compressed point
        _, responder = responder_at(bench, State.AWAIT_EPHEMERAL_REQUEST)
        assert_terminated(responder, responder.receive(Command.EPHEMERAL_DATA, qeu, 0.0), Status.BAD_MESSAGE, suites)
    _, responder = responder_at(bench, State.AWAIT_CONFIRM_REQUEST)
    assert_terminated(responder, responder.receive(Command.CONFIRM_KEY, bytes(15), 0.0), Status.BAD_MESSAGE, suites)


def test_responder_unsupported_suite(benches):
    """UNSUPPORTED_SUITE: a suite bit the responder does not hold, an unknown bit, no bit."""
    b2 = benches[Suite.SUITE_2]
    only_2 = Responder(partner=METER, credentials={Suite.SUITE_2: b2.hub})
    actions = only_2.receive(Command.INITIATE_KEY_ESTABLISHMENT, request_of(benches[Suite.SUITE_1]), 0.0)
    assert_terminated(only_2, actions, Status.UNSUPPORTED_SUITE, 0x0002)
    for field in (0x0004, 0x0000, 0x8000):
        responder = Responder(partner=METER, credentials={Suite.SUITE_2: b2.hub})
        actions = responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, request_of(b2, suite_field=field), 0.0)
        assert_terminated(responder, actions, Status.UNSUPPORTED_SUITE, 0x0002)


def test_responder_unknown_issuer(bench):
    """UNKNOWN_ISSUER (final): a certificate from a CA the hub does not trust."""
    _, responder = pair(bench)
    actions = responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, request_of(bench, bench.rogue_meter), 0.0)
    assert_terminated(responder, actions, Status.UNKNOWN_ISSUER, int(bench.suite))


def test_responder_invalid_certificate(bench):
    """INVALID_CERTIFICATE: subject not the sender, a bad field byte (suite 2), P_U no point."""
    request = request_of(bench)
    offsets = SUITE1_OFFSETS if bench.suite is Suite.SUITE_1 else SUITE2_OFFSETS
    cases = [request_of(bench), with_certificate_byte(request, offsets["public_reconstruction_key"], 0x04)]
    responders = [Responder(partner=OTHER, credentials={bench.suite: bench.hub}), None]
    if bench.suite is Suite.SUITE_2:
        for field, value in (("type", 1), ("curve", 0x0E), ("hash", 0x09), ("key_usage", KeyUsage.DIGITAL_SIGNATURE)):
            cases.append(with_certificate_byte(request, offsets[field], value))
            responders.append(None)
    curve = bench.suite.curve
    not_x = next(x for x in range(1, 100) if curve.field.solve_quadratic(
        x ^ curve.a ^ curve.field.inv(curve.field.sqr(x))) is None)
    point = b"\x02" + curve.field.to_bytes(not_x)
    at = 4 + offsets["public_reconstruction_key"]
    cases.append(request[:at] + point + request[at + len(point):])
    responders.append(None)
    for payload, responder in zip(cases, responders, strict=True):
        responder = responder or pair(bench)[1]
        actions = responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, payload, 0.0)
        assert_terminated(responder, actions, Status.INVALID_CERTIFICATE, int(bench.suite))


def test_responder_no_resources(bench):
    """NO_RESOURCES: the hub cannot take on a key establishment now (the partner may retry after 30 s)."""
    _, responder = pair(bench, has_resources=lambda: False)
    actions = responder.receive(Command.INITIATE_KEY_ESTABLISHMENT, request_of(bench), 0.0)
    assert_terminated(responder, actions, Status.NO_RESOURCES, int(bench.suite))


def test_responder_bad_key_confirm(bench):
    """BAD_KEY_CONFIRM (final): MACU does not match."""
    _, responder = responder_at(bench, State.AWAIT_CONFIRM_REQUEST)
    actions = responder.receive(Command.CONFIRM_KEY, bytes(16), 0.0)
    assert_terminated(responder, actions, Status.BAD_KEY_CONFIRM, int(bench.suite))


# --- Terminate: every status the initiator sends ------------------------------------------------------------------

def response_of(bench: Bench, hub: Credentials | None = None) -> bytes:
    initiator, responder = pair(bench)
    if hub is not None:
        responder = Responder(partner=METER, credentials={bench.suite: hub}, rng=seeded_rng(1))
    (request,) = initiator.start(0.0)
    (response,) = responder.receive(request.command, request.payload, 0.0)
    return response.payload


def initiator_at(bench: Bench, state: State, **kw):
    """An initiator driven by a real hub into one of its AWAIT states."""
    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    if state is not State.AWAIT_INITIATE_RESPONSE:
        (response,) = responder.receive(request.command, request.payload, 0.0)
        (qeu,) = initiator.receive(response.command, response.payload, 0.0)
        if state is State.AWAIT_CONFIRM_RESPONSE:
            (qev,) = responder.receive(qeu.command, qeu.payload, 0.0)
            initiator.receive(qev.command, qev.payload, 0.0)
    assert initiator.state is state
    return initiator, responder


def test_initiator_bad_message(benches, bench):
    """BAD_MESSAGE: malformed response, two suite bits, another suite than requested, wrong certificate length,
    out of sequence, a bad QEV, a MACV of the wrong length."""
    suites = int(bench.suite)
    response = response_of(bench)
    other = benches[Suite.SUITE_1 if bench.suite is Suite.SUITE_2 else Suite.SUITE_2]
    cases = [response[:2], (0x0003).to_bytes(2, "little") + response[2:], response[:-1], response_of(other)]
    for payload in cases:
        initiator, _ = initiator_at(bench, State.AWAIT_INITIATE_RESPONSE)
        assert_terminated(initiator, initiator.receive(Command.INITIATE_KEY_ESTABLISHMENT, payload, 0.0),
                          Status.BAD_MESSAGE, suites)
    initiator, _ = initiator_at(bench, State.AWAIT_INITIATE_RESPONSE)
    assert_terminated(initiator, initiator.receive(Command.EPHEMERAL_DATA, bytes(bench.suite.point_octets), 0.0),
                      Status.BAD_MESSAGE, suites)
    for qev in (bytes(bench.suite.point_octets + 1), b"\x03" + bytes(bench.suite.point_octets - 1)):
        initiator, _ = initiator_at(bench, State.AWAIT_EPHEMERAL_RESPONSE)
        assert_terminated(initiator, initiator.receive(Command.EPHEMERAL_DATA, qev, 0.0), Status.BAD_MESSAGE, suites)
    initiator, _ = initiator_at(bench, State.AWAIT_CONFIRM_RESPONSE)
    assert_terminated(initiator, initiator.receive(Command.CONFIRM_KEY, bytes(17), 0.0), Status.BAD_MESSAGE, suites)


def test_initiator_unsupported_suite(bench):
    """UNSUPPORTED_SUITE: the response names a suite bit that does not exist."""
    response = response_of(bench)
    initiator, _ = initiator_at(bench, State.AWAIT_INITIATE_RESPONSE)
    actions = initiator.receive(Command.INITIATE_KEY_ESTABLISHMENT, (0x0010).to_bytes(2, "little") + response[2:], 0.0)
    assert_terminated(initiator, actions, Status.UNSUPPORTED_SUITE, int(bench.suite))


def test_initiator_unknown_issuer_invalid_certificate_no_resources(bench):
    """UNKNOWN_ISSUER (a hub certified by an untrusted CA), INVALID_CERTIFICATE (a hub certificate whose subject
    is not the trust centre's EUI-64), NO_RESOURCES (the meter cannot proceed now)."""
    suites = int(bench.suite)
    rng = seeded_rng(99)
    rogue = CertificateAuthority.generate(bench.suite, b"ROGUE-CA", rng)
    cert, key = issue_credentials(rogue, HUB, rng)
    rogue_hub = Credentials(cert, key, {bench.ca.issuer: bench.ca.public_key})
    initiator, _ = initiator_at(bench, State.AWAIT_INITIATE_RESPONSE)
    actions = initiator.receive(Command.INITIATE_KEY_ESTABLISHMENT, response_of(bench, rogue_hub), 0.0)
    assert_terminated(initiator, actions, Status.UNKNOWN_ISSUER, suites)

    response = response_of(bench)
    initiator = Initiator(partner=OTHER, credentials=bench.meter)
    initiator.start(0.0)
    assert_terminated(initiator, initiator.receive(Command.INITIATE_KEY_ESTABLISHMENT, response, 0.0),
                      Status.INVALID_CERTIFICATE, suites)

    initiator, _ = initiator_at(bench, State.AWAIT_INITIATE_RESPONSE, seed=0)
    initiator.has_resources = lambda: False
    assert_terminated(initiator, initiator.receive(Command.INITIATE_KEY_ESTABLISHMENT, response, 0.0),
                      Status.NO_RESOURCES, suites)


def test_initiator_bad_key_confirm_revokes_the_responders_key(bench):
    """BAD_KEY_CONFIRM (final): MACV does not match. The responder, which installed its key on sending MACV,
    reports Failed when that Terminate reaches it, so the caller drops the key."""
    initiator, responder = pair(bench)

    def flip_macv(sender, command, payload):
        return bytes([payload[0] ^ 1]) + payload[1:] if sender == "responder" and command is Command.CONFIRM_KEY \
            else payload

    got_u, got_v, log = run(initiator, responder, now=5.0, tamper=flip_macv)
    assert got_u == [Failed(Cause.SENT_TERMINATE, Status.BAD_KEY_CONFIRM, WAIT, None)]
    assert isinstance(got_v[0], Established)
    assert got_v[1:] == [Failed(Cause.RECEIVED_TERMINATE, Status.BAD_KEY_CONFIRM, WAIT, None)]
    assert log[-1][1].command is Command.TERMINATE_KEY_ESTABLISHMENT
    assert initiator.state is responder.state is State.FAILED


# --- Terminate received -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", [State.AWAIT_INITIATE_RESPONSE, State.AWAIT_EPHEMERAL_RESPONSE,
                                   State.AWAIT_CONFIRM_RESPONSE])
def test_initiator_receives_terminate(benches, state):
    """The partner terminated: no answer, no key; retry after its wait time unless the status is final."""
    bench = benches[Suite.SUITE_1]
    for status, retry in ((Status.NO_RESOURCES, 100.0 + 30), (Status.BAD_MESSAGE, 100.0 + 30),
                          (Status.UNKNOWN_ISSUER, None), (Status.BAD_KEY_CONFIRM, None)):
        initiator, _ = initiator_at(bench, state)
        actions = initiator.receive(Command.TERMINATE_KEY_ESTABLISHMENT,
                                    TerminateKeyEstablishment(status, 30, 0x0001).encode(), 100.0)
        assert actions == [Failed(Cause.RECEIVED_TERMINATE, status, 30, retry)]
        assert initiator.state is State.FAILED and initiator.deadline is None
    initiator, _ = initiator_at(bench, state)  # malformed or reserved: over all the same, retry at once
    assert initiator.receive(Command.TERMINATE_KEY_ESTABLISHMENT, b"\x04", 7.0) == [
        Failed(Cause.RECEIVED_TERMINATE, None, 0, 7.0)]
    initiator, _ = initiator_at(bench, state)
    assert initiator.receive(Command.TERMINATE_KEY_ESTABLISHMENT, b"\x09\x05\x01\x00", 7.0) == [
        Failed(Cause.RECEIVED_TERMINATE, None, 5, 12.0)]


@pytest.mark.parametrize("state", [State.AWAIT_EPHEMERAL_REQUEST, State.AWAIT_CONFIRM_REQUEST])
def test_responder_receives_terminate(benches, state):
    bench = benches[Suite.SUITE_1]
    _, responder = responder_at(bench, state)
    actions = responder.receive(Command.TERMINATE_KEY_ESTABLISHMENT,
                                TerminateKeyEstablishment(Status.NO_RESOURCES, 20, 1).encode(), 3.0)
    assert actions == [Failed(Cause.RECEIVED_TERMINATE, Status.NO_RESOURCES, 20, None)]
    assert responder.state is State.FAILED


def test_terminate_outside_an_exchange_is_ignored(bench):
    initiator, responder = pair(bench)
    t = TerminateKeyEstablishment(Status.BAD_MESSAGE, 0, 1).encode()
    assert initiator.receive(Command.TERMINATE_KEY_ESTABLISHMENT, t, 0.0) == []
    assert responder.receive(Command.TERMINATE_KEY_ESTABLISHMENT, t, 0.0) == []
    got_u, _, _ = run(initiator, responder)
    assert isinstance(got_u[0], Established)
    assert initiator.receive(Command.TERMINATE_KEY_ESTABLISHMENT, t, 0.0) == []  # the meter's key stays
    assert initiator.receive(Command.CONFIRM_KEY, bytes(16), 0.0) == []  # a late duplicate: ignored


# --- timeouts (C.3.1.1), both sides -------------------------------------------------------------------------------

METER_TIMING = Timing(ephemeral_data_generate_time=3, confirm_key_generate_time=6)
HUB_TIMING = Timing(ephemeral_data_generate_time=4, confirm_key_generate_time=7)


def test_initiator_timeouts(benches):
    """The meter waits 10 s for the Initiate Response, then the hub's advertised times (4 s, 7 s) plus the 2 s
    allowance; past a deadline it fails without sending anything and may retry after its 10 s back-off."""
    bench = benches[Suite.SUITE_1]
    kw = {"initiator_timing": METER_TIMING, "responder_timing": HUB_TIMING}

    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(100.0)
    assert (initiator.state, initiator.deadline) == (State.AWAIT_INITIATE_RESPONSE, 110.0)
    assert initiator.tick(109.9) == []
    assert initiator.tick(110.0) == [Failed(Cause.TIMEOUT, None, 0, 120.0)]
    assert initiator.state is State.FAILED and initiator.deadline is None
    (response,) = responder.receive(request.command, request.payload, 100.0)
    assert initiator.receive(response.command, response.payload, 111.0) == []  # too late: ignored, no Terminate

    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    (response,) = responder.receive(request.command, request.payload, 1.0)
    (qeu,) = initiator.receive(response.command, response.payload, 200.0)
    assert (initiator.state, initiator.deadline) == (State.AWAIT_EPHEMERAL_RESPONSE, 206.0)
    assert initiator.tick(205.0) == []
    assert initiator.tick(206.5) == [Failed(Cause.TIMEOUT, None, 0, 216.5)]

    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    (response,) = responder.receive(request.command, request.payload, 0.0)
    (qeu,) = initiator.receive(response.command, response.payload, 0.0)
    (qev,) = responder.receive(qeu.command, qeu.payload, 0.0)
    (macu,) = initiator.receive(qev.command, qev.payload, 300.0)
    assert (initiator.state, initiator.deadline) == (State.AWAIT_CONFIRM_RESPONSE, 309.0)
    assert initiator.tick(308.99) == []
    assert initiator.tick(309.0) == [Failed(Cause.TIMEOUT, None, 0, 319.0)]
    answer = responder.receive(macu.command, macu.payload, 0.0)
    macv = sends(answer)[0]
    assert initiator.receive(macv.command, macv.payload, 310.0) == []  # MACV after the timeout: no key


def test_responder_timeouts(benches):
    """The hub waits for the meter's advertised times (3 s, 6 s) plus 2 s; then the exchange fails without a
    Terminate, and later messages of it are ignored."""
    bench = benches[Suite.SUITE_1]
    kw = {"initiator_timing": METER_TIMING, "responder_timing": HUB_TIMING}

    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    responder.receive(request.command, request.payload, 100.0)
    assert (responder.state, responder.deadline) == (State.AWAIT_EPHEMERAL_REQUEST, 105.0)
    assert responder.tick(104.0) == []
    assert responder.tick(105.0) == [Failed(Cause.TIMEOUT, None, 0, None)]
    assert responder.state is State.FAILED and responder.deadline is None
    assert responder.tick(500.0) == []

    initiator, responder = pair(bench, **kw)
    (request,) = initiator.start(0.0)
    (response,) = responder.receive(request.command, request.payload, 0.0)
    (qeu,) = initiator.receive(response.command, response.payload, 0.0)
    (qev,) = responder.receive(qeu.command, qeu.payload, 200.0)
    assert (responder.state, responder.deadline) == (State.AWAIT_CONFIRM_REQUEST, 208.0)
    assert responder.tick(207.0) == []
    assert responder.tick(208.0) == [Failed(Cause.TIMEOUT, None, 0, None)]
    (macu,) = initiator.receive(qev.command, qev.payload, 209.0)
    assert responder.receive(macu.command, macu.payload, 210.0) == []  # MACU after the timeout: no key, no answer
    responder.receive(request.command, request.payload, 300.0)  # a new Initiate after the end starts afresh
    assert responder.state is State.AWAIT_EPHEMERAL_REQUEST


def test_restarts(bench):
    """A responder serves a new Initiate after a failure or a success; an initiator cannot start twice at once but
    may start again after the end."""
    initiator, responder = pair(bench)
    initiator.start(0.0)
    with pytest.raises(RuntimeError):
        initiator.start(1.0)
    assert responder.receive(Command.CONFIRM_KEY, bytes(16), 0.0)  # out of sequence: BAD_MESSAGE, FAILED
    assert responder.state is State.FAILED
    initiator, _ = pair(bench, seed=3)
    got_u, got_v, _ = run(initiator, responder)
    assert isinstance(got_u[0], Established) and got_u[0].link_key == got_v[0].link_key
    got_u, got_v, _ = run(initiator, responder)  # again, both ESTABLISHED before
    assert isinstance(got_u[0], Established) and got_u[0].link_key == got_v[0].link_key


def test_configuration_is_checked(bench):
    with pytest.raises(ValueError):
        Timing(ephemeral_data_generate_time=0xFF)
    with pytest.raises(ValueError):
        Initiator(partner=HUB[:7], credentials=bench.meter)
    with pytest.raises(ValueError):
        Responder(partner=METER, credentials={})
    other = Suite.SUITE_1 if bench.suite is Suite.SUITE_2 else Suite.SUITE_2
    with pytest.raises(ValueError):
        Responder(partner=METER, credentials={other: bench.hub})


def test_payload_codecs():
    """C.3.1.2.3.1.1 and C.3.1.2.3.4: little-endian suite fields; errors name the offset."""
    m = InitiateKeyEstablishment(0x0002, 10, 10, b"cert")
    assert m.encode() == H("02000a0a") + b"cert"
    assert InitiateKeyEstablishment.decode(m.encode()) == m
    t = TerminateKeyEstablishment(Status.NO_RESOURCES, 30, 0x0002)
    assert t.encode() == H("041e0200") and TerminateKeyEstablishment.decode(t.encode()) == t
    assert t.known_status is Status.NO_RESOURCES and TerminateKeyEstablishment(9, 0, 0).known_status is None
    with pytest.raises(PayloadError) as e:
        TerminateKeyEstablishment.decode(H("0401"))
    assert e.value.offset == 2 and "suites" in str(e.value)
    with pytest.raises(PayloadError) as e:
        TerminateKeyEstablishment.decode(H("041e020000"))
    assert e.value.offset == 4
    assert [s.final for s in Status] == [True, True, False, False, False, False]


# --- bit flips are caught (hypothesis) ----------------------------------------------------------------------------

def expected_for_certificate_bit(suite: Suite, byte: int, bit: int) -> set[Status]:
    """Which statuses a flipped certificate bit may cause (SE Annex C.3.1.2.3.1.2 checks; other fields only
    change e and so the rebuilt key, which key confirmation catches)."""
    offsets = SUITE1_OFFSETS if suite is Suite.SUITE_1 else SUITE2_OFFSETS
    fields = sorted(offsets.items(), key=lambda kv: kv[1])
    name = next(n for n, at in reversed(fields) if byte >= at)
    if name == "issuer":
        return {Status.UNKNOWN_ISSUER}
    if name in ("subject", "type", "curve", "hash"):
        return {Status.INVALID_CERTIFICATE}
    if name == "key_usage":
        return {Status.INVALID_CERTIFICATE} if bit == 3 else {Status.BAD_KEY_CONFIRM}
    if name == "public_reconstruction_key":  # no point / off the subgroup, or another valid key
        return {Status.INVALID_CERTIFICATE, Status.BAD_KEY_CONFIRM}
    return {Status.BAD_KEY_CONFIRM}


def flipper(target_sender: str, target_command: Command, bit_index: int, skip: int = 0):
    """Flip one bit of the first message `target_sender` sends with `target_command` (past `skip` octets)."""
    done = []

    def tamper(sender, command, payload):
        if sender != target_sender or command is not target_command or done:
            return payload
        done.append(True)
        data = bytearray(payload)
        i = skip * 8 + bit_index % ((len(payload) - skip) * 8)
        data[i // 8] ^= 0x80 >> (i % 8)
        return bytes(data)
    return tamper


def assert_both_failed(got_u, got_v, allowed: set[Status]):
    """Neither side keeps a key; one side sent Terminate with an allowed status, the other received it."""
    for got in (got_u, got_v):
        assert got and isinstance(got[-1], Failed), got
    causes = {got_u[-1].cause, got_v[-1].cause}
    assert causes == {Cause.SENT_TERMINATE, Cause.RECEIVED_TERMINATE}
    assert got_u[-1].status == got_v[-1].status and got_u[-1].status in allowed


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
@pytest.mark.parametrize("sender", ["initiator", "responder"])
@settings(max_examples=8, deadline=None)
@given(bit=st.integers(min_value=0))
def test_flipped_certificate_bit_is_caught(benches, suite, sender, bit):
    """A bit flipped in either side's certificate on the way ends the exchange with the status its field calls
    for (unknown issuer, invalid certificate) or, when only the hash e changes, a key confirm failure."""
    bench = benches[suite]
    bits = suite.certificate_octets * 8
    initiator, responder = pair(bench)
    got_u, got_v, _ = run(initiator, responder, tamper=flipper(sender, Command.INITIATE_KEY_ESTABLISHMENT, bit,
                                                                skip=4))
    i = bit % bits
    assert_both_failed(got_u, got_v, expected_for_certificate_bit(suite, i // 8, 7 - i % 8))


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
@pytest.mark.parametrize(("sender", "command"), [
    ("initiator", Command.EPHEMERAL_DATA), ("responder", Command.EPHEMERAL_DATA),
    ("initiator", Command.CONFIRM_KEY)])
@settings(max_examples=6, deadline=None)
@given(bit=st.integers(min_value=0))
def test_flipped_ephemeral_key_or_mac_bit_is_caught(benches, suite, sender, command, bit):
    """A flipped bit in QEU or QEV is either no valid point (BAD_MESSAGE) or another key (the MACs differ:
    BAD_KEY_CONFIRM); a flipped bit in MACU is BAD_KEY_CONFIRM. (MACV: test_initiator_bad_key_confirm…)"""
    initiator, responder = pair(benches[suite])
    got_u, got_v, _ = run(initiator, responder, tamper=flipper(sender, command, bit))
    allowed = {Status.BAD_KEY_CONFIRM} if command is Command.CONFIRM_KEY else {Status.BAD_MESSAGE,
                                                                               Status.BAD_KEY_CONFIRM}
    assert_both_failed(got_u, got_v, allowed)


def test_replace_keeps_credentials_frozen(bench):
    with pytest.raises(AttributeError):
        bench.meter.key = None  # type: ignore[misc]
    assert replace(bench.meter).certificate == bench.meter.certificate
