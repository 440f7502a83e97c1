"""HAN figures through a real bench (hubs with WAN ports, VirtualRadio, emulated meters), printed by `make bench`:

- one meter's join plus first GBCS read, wall time: CCS01 over the WAN port → CS14 with a non-empty hash →
  a CS07 to the meter answered through the hub;
- a routed meter command's WAN round trip (CS07 to a joined ESME, over the tunnel), p50/p99, beside CCS06 to the
  hub itself;
- the swap-out: CCS07 on A, CCS03 on B with the meter's entry, A's radio off, until the meter answers through B;
- triage wall time per meter in states 1, 2 and 3, and meters per minute in batch mode.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from chf.app.triage_cli import BenchRemote, run_triage
from chf.config.bench_file import parse
from chf.remote.hub_link import HubLink
from chf.remote.triage import entry_from_backup
from chf.remote.triage_steps import MeterInfo, _cs14_hash
from chf.runtime.bench import BenchThread

IC = "83FED3407A939723A5C639B26916D505"


def _bench_text(scale: float, hubs: list[str], meters: list[tuple[str, str, str]]) -> str:
    out = ['keys = "keys"', "keep_alive_s = 30", f"time_scale = {scale:g}", ""]
    for i, name in enumerate(hubs):
        out += ["[[hub]]", f'name = "{name}"', f'eui = "02C0FFEE0000{i + 1:02X}01"', 'wan = "127.0.0.1:0"', ""]
    for eui, ic, extra in meters:
        out += ["[[meter]]", 'type = "esme"', f'eui = "{eui}"', f'install_code = "{ic}"', extra, ""]
    return "\n".join(out)


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_han_flows() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    meter = "02C0FFEE000E5E01"
    with tempfile.TemporaryDirectory(prefix="commshub-bench-han-") as tmp:
        bench = parse(_bench_text(30, ["A", "B"], [(meter, IC, "")]), Path(tmp) / "bench.toml")
        with BenchThread(bench) as bt:
            remote = BenchRemote(bench.keys, Path(tmp) / "ctr.json")
            a, b = bench.hub("A").eui, bench.hub("B").eui
            m = bytes.fromhex(meter)
            with HubLink(*bt.address("A")) as la, HubLink(*bt.address("B")) as lb:
                t0 = time.perf_counter()
                la.request(remote.chf(a, "CCS01", device=m, install_code=bytes.fromhex(IC), device_type="esme"), 5)
                joined = la.wait_for(lambda f: bool(_cs14_hash(f, m)), 10)
                read = la.request(remote.meter(a, m, "CS07"), 5)
                t_join = time.perf_counter() - t0
                rows.append(("one meter: CCS01 → join (CS14 with hash) → first CS07 answered, virtual radio, x30 time",
                             f"{t_join * 1000:.0f} ms" if joined and read else "failed"))
                lat_m, lat_h = [], []
                for _ in range(200):
                    f = remote.meter(a, m, "CS07")
                    t = time.perf_counter()
                    if la.request(f, 5) is not None:
                        lat_m.append((time.perf_counter() - t) * 1000)
                    f = remote.chf(a, "CCS06")
                    t = time.perf_counter()
                    if la.request(f, 5) is not None:
                        lat_h.append((time.perf_counter() - t) * 1000)
                rows.append(("routed meter command (CS07 over the tunnel) WAN round trip, 200 sequential",
                             f"p50 {statistics.median(lat_m):.2f} ms, p99 {_p(lat_m, 0.99):.2f} ms"))
                rows.append(("  the same for CCS06 to the hub itself",
                             f"p50 {statistics.median(lat_h):.2f} ms, p99 {_p(lat_h, 0.99):.2f} ms"))
                t0 = time.perf_counter()
                epid, hashed = entry_from_backup(la.request(remote.chf(a, "CCS07"), 5) or b"", m)
                lb.request(remote.chf(b, "CCS03", epid=epid, entries=[(m, hashed)]), 5)
                la.control("POWER OFF")
                answered = None
                while answered is None and time.perf_counter() - t0 < 30:
                    answered = lb.request(remote.meter(b, m, "CS07"), 0.5)
                t_swap = time.perf_counter() - t0
                rows.append(("swap-out: CCS07 on A, CCS03 on B, A off, until the meter answers through B (x30 time, "
                             "keep-alive 30 s)", f"{t_swap:.2f} s" if answered else "failed"))
    rows += _triage_rows()
    return rows


def _triage_rows(scale: float = 600) -> list[tuple[str, str]]:
    rows = []
    ms = {1: ("02C0FFEE000E0001", "00112233445566778899AABBCCDDEEFF", ""),
          2: ("02C0FFEE000E0002", "0F1E2D3C4B5A69788796A5B4C3D2E1F0", 'joined_to = "old"\nhears = ["qa"]'),
          3: ("02C0FFEE000E0003", "A5A5A5A55A5A5A5AA5A5A5A55A5A5A5A", "dead = true")}
    batch = [(f"02C0FFEE000E01{i:02X}", f"{i:02X}" * 16, "") for i in range(10)]
    with tempfile.TemporaryDirectory(prefix="commshub-bench-triage-") as tmp:
        bench = parse(_bench_text(scale, ["old", "qa"], list(ms.values()) + batch), Path(tmp) / "bench.toml")
        with BenchThread(bench) as bt:
            hosts = {n: bt.address(n) for n in ("old", "qa")}
            for state, (eui, ic, _) in ms.items():
                t = time.perf_counter()
                [rep] = run_triage(bench, bench.hub("qa"), bench.hub("old"),
                                   [MeterInfo(bytes.fromhex(eui), "esme", bytes.fromhex(ic))],
                                   Path(tmp) / "ctr.json", hosts=hosts)
                dt = time.perf_counter() - t
                ok = rep.state == state
                rows.append((f"triage, one meter in state {state} (x{scale:g} time)",
                             f"{dt:.2f} s" if ok else f"misclassified as {rep.state}"))
            t = time.perf_counter()
            reps = run_triage(bench, bench.hub("qa"), bench.hub("old"),
                              [MeterInfo(bytes.fromhex(e), "esme", bytes.fromhex(ic)) for e, ic, _ in batch],
                              Path(tmp) / "ctr.json", hosts=hosts)
            dt = time.perf_counter() - t
            good = sum(r.redeployable for r in reps)
            rows.append((f"triage batch: 10 state-1 meters (x{scale:g} time)",
                         f"{len(reps) / dt * 60:.0f} meters/min ({good}/10 re-deployable)"))
    return rows
