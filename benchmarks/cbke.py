"""CBKE figures (CPU time, printed never asserted): one side of a ZigBee SE key establishment in pure Python
(zigbee.cbke), for each crypto suite, and the two scalar multiplications behind it.

A side's time is the sum of its machine's calls over one exchange on the sans-I/O machines (initiator: start and
three receives; responder: three receives): ECQV reconstruction of the partner's key, an ephemeral key pair,
ECMQV, the KDF and both MACs. Credentials come from a test CA made beforehand (not timed).

`run()` returns rows in the `benchmarks.__main__` table format: `[(measure, figure)]`.
"""

from __future__ import annotations

import random
import statistics
import time

from zigbee.cbke.curves import SECT283K1
from zigbee.cbke.ecqv import CertificateAuthority, issue_credentials, reconstruct_public_key
from zigbee.cbke.exchange import Credentials, Established, Initiator, Responder, Send
from zigbee.cbke.suites import Suite

HUB = bytes.fromhex("02C0FFEE0000A001")
METER = bytes.fromhex("02C0FFEE000E5E01")
REPEATS = 7


def _credentials(suite: Suite, rng: random.Random) -> tuple[Credentials, Credentials, CertificateAuthority]:
    ca = CertificateAuthority.generate(suite, b"BENCH-CA", rng.randbytes)
    trust = {ca.issuer: ca.public_key}
    hub_cert, hub_key = issue_credentials(ca, HUB, rng.randbytes)
    meter_cert, meter_key = issue_credentials(ca, METER, rng.randbytes)
    return Credentials(hub_cert, hub_key, trust), Credentials(meter_cert, meter_key, trust), ca


def _exchange(suite: Suite, hub: Credentials, meter: Credentials, rng: random.Random) -> tuple[float, float]:
    """One exchange; (initiator seconds, responder seconds)."""
    initiator = Initiator(partner=HUB, credentials=meter, rng=rng.randbytes)
    responder = Responder(partner=METER, credentials={suite: hub}, rng=rng.randbytes)
    spent = {"initiator": 0.0, "responder": 0.0}
    t = time.perf_counter()
    queue = [("responder", a) for a in initiator.start(0.0)]
    spent["initiator"] += time.perf_counter() - t
    established = 0
    while queue:
        to, action = queue.pop(0)
        if isinstance(action, Established):
            established += 1
        if not isinstance(action, Send):
            continue
        machine = responder if to == "responder" else initiator
        back = "initiator" if to == "responder" else "responder"
        t = time.perf_counter()
        out = machine.receive(action.command, action.payload, 0.0)
        spent[to] += time.perf_counter() - t
        queue += [(back, a) for a in out]
    if established != 2:
        raise RuntimeError("the benchmark exchange did not establish a key")
    return spent["initiator"], spent["responder"]


def run() -> list[tuple[str, str]]:
    rng = random.Random(2026)
    rows = []
    for suite in Suite:
        hub, meter, _ = _credentials(suite, rng)
        _exchange(suite, hub, meter, rng)  # warm-up
        runs = [_exchange(suite, hub, meter, rng) for _ in range(REPEATS)]
        initiator = statistics.median(r[0] for r in runs) * 1e3
        responder = statistics.median(r[1] for r in runs) * 1e3
        curve = suite.curve.name
        rows.append((f"CBKE suite {int(suite)} ({curve}), one side: initiator / meter",
                     f"{initiator:.1f} ms (median of {REPEATS})"))
        rows.append((f"CBKE suite {int(suite)} ({curve}), one side: responder / hub", f"{responder:.1f} ms"))
    hub, _, ca = _credentials(Suite.SUITE_2, rng)
    k = SECT283K1.random_scalar(rng.randbytes)
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        SECT283K1.base_multiply(k)
        times.append(time.perf_counter() - t)
    rows.append(("sect283k1 k·G (Montgomery ladder, 281 bits)", f"{statistics.median(times) * 1e3:.1f} ms"))
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        reconstruct_public_key(hub.certificate, ca.public_key)
        times.append(time.perf_counter() - t)
    rows.append(("suite 2 ECQV key reconstruction (e·P_U + Q_CA, validated)", f"{statistics.median(times) * 1e3:.1f} ms"))
    return rows


if __name__ == "__main__":
    for measure, figure in run():
        print(f"{measure}: {figure}")
