"""CBKE figures (CPU time, printed never asserted): one side of a ZigBee SE key establishment in pure Python
(zigbee.cbke), for each crypto suite, and the two scalar multiplications behind it.

A side's time is the sum of its machine's calls over one exchange on the sans-I/O machines (initiator: start and
three receives; responder: three receives): ECQV reconstruction of the partner's key, an ephemeral key pair,
ECMQV, the KDF and both MACs. Credentials come from a test CA made beforehand (not timed).

`run()` returns rows in the `benchmarks.__main__` table format: `[(measure, figure)]`; `join_rows()` adds, through
a real bench (hub with its WAN port, VirtualRadio, emulated meters), a meter's CCS01 → join (CS14 with the key's
hash) → first CS07 answered, wall time, with `key_establishment = "cbke"` and with `"derived"`.
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


JOIN_METERS = 5
JOIN_IC = "A5" * 16


def _join_bench(mode: str, n: int) -> str:
    out = ['keys = "keys"', "keep_alive_s = 300", "time_scale = 30", f'key_establishment = "{mode}"', "",
           "[[hub]]", 'name = "A"', 'eui = "02C0FFEE0000A001"', 'wan = "127.0.0.1:0"', ""]
    for i in range(n):
        out += ["[[meter]]", 'type = "esme"', f'eui = "02C0FFEE000E5E{i:02X}"', f'install_code = "{JOIN_IC}"', ""]
    return "\n".join(out)


def _joins(mode: str, n: int, *, issue_first: bool) -> list[float]:
    """Seconds from CCS01 to the first CS07 answer, for each of `n` meters joining one after the other."""
    import tempfile
    from pathlib import Path

    from chf.config.bench_file import parse
    from chf.remote.bench_remote import BenchRemote
    from chf.remote.hub_link import HubLink
    from chf.remote.triage_steps import _cs14_hash
    from chf.runtime.bench import BenchThread
    from zigbee.credentials import HUB_SUITES, ZigbeePki

    out = []
    with tempfile.TemporaryDirectory(prefix="commshub-bench-cbke-") as tmp:
        bench = parse(_join_bench(mode, n), Path(tmp) / "bench.toml")
        if issue_first:  # the certificates a manufacturer would have put in: not part of the join
            pki = ZigbeePki(bench.keys)
            pki.issue(bench.hubs[0].eui, suites=HUB_SUITES)
            for m in bench.meters:
                pki.issue(m.eui)
        with BenchThread(bench) as bt:
            remote = BenchRemote(bench.keys, Path(tmp) / "ctr.json")
            a = bench.hubs[0].eui
            with HubLink(*bt.address("A")) as link:
                for m in bench.meters:
                    t0 = time.perf_counter()
                    link.request(remote.chf(a, "CCS01", device=m.eui, install_code=m.install_code, device_type="esme"),
                                 5)
                    joined = link.wait_for(lambda f, e=m.eui: bool(_cs14_hash(f, e)), 20)
                    read = None
                    while joined and read is None and time.perf_counter() - t0 < 20:
                        read = link.request(remote.meter(a, m.eui, "CS07"), 2)
                    if joined and read:
                        out.append(time.perf_counter() - t0)
    return out


def join_rows() -> list[tuple[str, str]]:
    rows = []
    for mode in ("cbke", "derived"):
        times = _joins(mode, JOIN_METERS, issue_first=True)
        label = "CBKE (suite 2, both sides)" if mode == "cbke" else "derived key (emulation)"
        figure = (f"median {statistics.median(times) * 1e3:.0f} ms, min {min(times) * 1e3:.0f} ms, "
                  f"max {max(times) * 1e3:.0f} ms ({len(times)} meters)" if times else "failed")
        rows.append((f"meter join + first CS07 through a bench hub, x30 time, {label}", figure))
    cold = _joins("cbke", 1, issue_first=False)
    rows.append(("  the same with CBKE, certificates issued at first use (hub suites 1+2, meter suite 2)",
                 f"{cold[0] * 1e3:.0f} ms" if cold else "failed"))
    return rows


if __name__ == "__main__":
    for measure, figure in [*run(), *join_rows()]:
        print(f"{measure}: {figure}")
