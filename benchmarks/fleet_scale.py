"""Fleet scale (issue 18 items 1 and 2): N hubs with 5 meters each installed on them (`joined_to`) in ONE process
(one bench, one virtual medium), as a head-end load rig would run them, at `time_scale = 1` with keep-alives
every 30 s (the set-up of ../shared/checks/15-fleet-scale). `python -m benchmarks.fleet_scale N [cbke|derived]
[steady]` prints one JSON line: start-up seconds until every hub listens, hubs/s, resident memory before and
after in MB, with the bench's `key_establishment`; with `steady`, also the bench process's CPU while it idles
with keep-alives running (percent of one core, over STEADY_S) and CS07 round trips through random hubs while
the rest idle (p50/p99 ms; to an installed ESME, the client in the same process): the hub's first to that meter
(RequestTunnel first, each side's first use of its keys) and a second one. `bench_fleet()` runs
each size and mode in a fresh process so the RSS figures are clean."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METERS_PER_HUB = 5
TYPES = ("esme", "gsme", "ppmid", "ihd", "esme")
SIZES = (10, 100, 1000)
MODES = ("cbke", "derived")
TIMEOUT_S = 600
WARM_S = 32.0      # real seconds before measuring: one keep-alive period (GSMEs ask for their tunnels in it)
STEADY_S = 30.0    # real seconds the idle CPU is measured over: one period, every keep-alive and poll once
ROUND_TRIPS = 100  # CS07s through random hubs


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hub_eui(h: int) -> str:
    return f"02C0FFEE{h:06X}01"


def meter_eui(h: int, m: int) -> str:
    return f"02C0FFEE{h:06X}E{m}"


def bench_text(n: int, mode: str = "cbke") -> str:
    out = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 1", f'key_establishment = "{mode}"', ""]
    for h in range(n):
        out += ["[[hub]]", f'name = "h{h}"', f'eui = "{hub_eui(h)}"', 'wan = "127.0.0.1:0"', f'state = "s/{h}"', ""]
        for m in range(METERS_PER_HUB):
            out += ["[[meter]]", f'type = "{TYPES[m]}"', f'eui = "{meter_eui(h, m)}"',
                    f'install_code = "{h:06X}{m:02X}' + "A5" * 12 + '"', f'joined_to = "h{h}"', ""]
    return "\n".join(out)


def _steady(bt: object, bench: object, tmp: str) -> dict:
    """Idle CPU with keep-alives running, then CS07 round trips through random hubs."""
    from chf.remote.bench_remote import BenchRemote
    from chf.remote.hub_link import HubLink

    n = len(bench.hubs)  # type: ignore[attr-defined]
    time.sleep(WARM_S)  # the first period: each GSME's first poll asks for its tunnel
    t0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(STEADY_S)
    t1, c1 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime) / (t1 - t0) * 100
    remote = BenchRemote(bench.keys, Path(tmp) / "counters.json")  # type: ignore[attr-defined]
    rng = random.Random(7)
    first: list[float] = []  # the hub's first CS07 to that meter: RequestTunnel, and each side's first key use
    again: list[float] = []  # a second one through the same hub (the tunnel is up)
    failed = 0
    for _ in range(ROUND_TRIPS):
        h = rng.randrange(n)
        with HubLink(*bt.address(f"h{h}")) as link:  # type: ignore[attr-defined]
            for times in (first, again):
                frame = remote.meter(bytes.fromhex(hub_eui(h)), bytes.fromhex(meter_eui(h, 0)), "CS07")
                t = time.perf_counter()
                answer = link.request(frame, 5)
                if answer is None:
                    failed += 1
                    continue
                times.append((time.perf_counter() - t) * 1000)

    def pick(times: list[float], q: float) -> float | None:
        times = sorted(times)
        return round(times[min(len(times) - 1, int(q * len(times)))], 2) if times else None

    return {"idle_cpu_pct": round(cpu, 1), "cs07_p50_ms": pick(first, 0.5), "cs07_p99_ms": pick(first, 0.99),
            "cs07_again_p50_ms": pick(again, 0.5), "cs07_again_p99_ms": pick(again, 0.99), "cs07_failed": failed}


def one(n: int, mode: str = "cbke", steady: bool = False) -> dict:
    import asyncio

    import chf.runtime.bench  # noqa: F401 - imports (zigpy ~1 s) are not start-up of the fleet
    from chf.config.bench_file import parse
    from chf.runtime.bench import BenchThread, start_bench

    before = rss_mb()
    with tempfile.TemporaryDirectory(prefix="commshub-fleet-") as tmp:
        bench = parse(bench_text(n, mode), Path(tmp) / "bench.toml")
        if not steady:
            async def go() -> tuple[float, float]:
                t = time.perf_counter()
                rb = await start_bench(bench, announce=None)
                up = time.perf_counter() - t
                after = rss_mb()
                await rb.close()
                return up, after

            up, after = asyncio.run(go())
            extra: dict = {}
        else:
            t = time.perf_counter()
            with BenchThread(bench) as bt:
                up = time.perf_counter() - t
                after = rss_mb()
                extra = _steady(bt, bench, tmp)
    return {"hubs": n, "meters": n * METERS_PER_HUB, "mode": mode, "startup_s": round(up, 2),
            "hubs_per_s": round(n / up, 1), "rss_before_mb": round(before), "rss_after_mb": round(after),
            "rss_per_hub_mb": round((after - before) / n, 2), **extra}


def _run(n: int, mode: str, steady: bool = False) -> dict | str:
    cmd = [sys.executable, "-m", "benchmarks.fleet_scale", str(n), mode] + (["steady"] if steady else [])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"not up within {TIMEOUT_S} s"
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("{")), None)
    if line is None:
        return f"failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:80]}"
    return json.loads(line)


def bench_fleet() -> list[tuple[str, str]]:
    rows = []
    sizes = SIZES[:2] if os.environ.get("BENCH_QUICK") else SIZES
    for mode in MODES:
        for n in sizes:
            what = f"fleet: {n} hubs x {METERS_PER_HUB} installed meters in one process, key_establishment = {mode}"
            d = _run(n, mode)
            rows.append((what, d if isinstance(d, str) else
                         f"start-up {d['startup_s']} s ({d['hubs_per_s']} hubs/s), RSS {d['rss_before_mb']} → "
                         f"{d['rss_after_mb']} MB ({d['rss_per_hub_mb']} MB/hub)"))
    n = sizes[-1]
    d = _run(n, "cbke", steady=True)
    what = f"fleet steady state: {n} hubs x {METERS_PER_HUB} meters idle, time_scale 1, keep-alives every 30 s"
    if isinstance(d, str):
        rows.append((what, d))
    else:
        rows.append((what, f"bench process CPU {d['idle_cpu_pct']} % of one core (over {STEADY_S:.0f} s)"))
        rows.append((f"fleet steady state: CS07 round trip through a random hub of {n} (the rest idle), first to "
                     "that meter / again", f"p50 {d['cs07_p50_ms']} / {d['cs07_again_p50_ms']} ms, p99 "
                     f"{d['cs07_p99_ms']} / {d['cs07_again_p99_ms']} ms ({ROUND_TRIPS} hubs, {d['cs07_failed']} "
                     "unanswered)"))
    return rows


if __name__ == "__main__":
    print(json.dumps(one(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "cbke",
                         steady=len(sys.argv) > 3 and sys.argv[3] == "steady")))
