"""Triage of a rack of returned meters, one at a time and `--parallel 8` (issue 18 item 4), printed by `make bench`.

Two fresh benches from the same file (an old hub and a QA hub on the virtual radio, `time_scale = 30`), each with
100 returned meters in a fixed shuffled order: 64 in their factory join state (state 1), 12 still joined to the old
hub and heard by it (state 2, checked and divorced through it), 4 orphaned from it, heard only by the QA hub
(state 2 by a restore, CCS03), 20 dead (state 3). The old hub's device log holds 16 (its capacity). Triage runs
through `run_triage` (what `chf triage --meters FILE [--parallel 8] --json` runs) against each bench: serially on
the first, eight at once on the second; the rows give the wall time of each, the speed-up, and whether the
verdicts (state, re-deployable) are the same meter by meter.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from chf.app.triage_cli import run_triage
from chf.config.bench_file import parse
from chf.remote.triage_steps import MeterInfo, MeterReport
from chf.runtime.bench import BenchThread

HUBS = {"old": "02C0FFEE00001D01", "qa": "02C0FFEE0000AA01"}


def rack(n_factory: int = 64, n_old: int = 12, n_orphaned: int = 4, n_dead: int = 20,
         seed: int = 18) -> list[tuple[str, str, str, int]]:
    """(EUI, install code, bench-file lines, expected state) per meter, shuffled with `seed`."""
    out = []
    kinds = [("", 1)] * n_factory + [('joined_to = "old"', 2)] * n_old + \
        [('joined_to = "old"\nhears = ["qa"]', 2)] * n_orphaned + [("dead = true", 3)] * n_dead
    for i, (extra, state) in enumerate(kinds):
        out.append((f"02C0FFEE000F{i:04X}", f"{(i * 7919 + 1) & 0xFFFF:04X}" * 8, extra, state))
    random.Random(seed).shuffle(out)
    return out


def bench_text(meters: list[tuple[str, str, str, int]], time_scale: float = 30) -> str:
    text = ['keys = "keys"', "keep_alive_s = 30", f"time_scale = {time_scale:g}", ""]
    for name, eui in HUBS.items():
        text += ["[[hub]]", f'name = "{name}"', f'eui = "{eui}"', 'wan = "127.0.0.1:0"', f'state = "state-{name}"', ""]
    for eui, ic, extra, _ in meters:
        text += ["[[meter]]", 'type = "esme"', f'eui = "{eui}"', f'install_code = "{ic}"', extra, ""]
    return "\n".join(text)


def triage_rack(meters: list[tuple[str, str, str, int]], parallel: int, time_scale: float = 30,
                ) -> tuple[list[MeterReport], float]:
    """A fresh bench with `meters`; triage them all (`parallel` at once); the reports and the wall time."""
    with tempfile.TemporaryDirectory(prefix="commshub-bench-triage-") as tmp:
        bench = parse(bench_text(meters, time_scale), Path(tmp) / "bench.toml")
        with BenchThread(bench) as bt:
            hosts = {n: bt.address(n) for n in HUBS}
            infos = [MeterInfo(bytes.fromhex(e), "esme", bytes.fromhex(ic)) for e, ic, _, _ in meters]
            t = time.perf_counter()
            reps = run_triage(bench, bench.hub("qa"), bench.hub("old"), infos, Path(tmp) / "ctr.json",
                              hosts=hosts, parallel=parallel)
            return reps, time.perf_counter() - t


def bench_triage(parallel: int = 8) -> list[tuple[str, str]]:
    meters = rack()
    n = len(meters)
    serial, t_serial = triage_rack(meters, 1)
    par, t_par = triage_rack(meters, parallel)
    expected = [s for _, _, _, s in meters]
    got_serial = [(r.state, r.redeployable) for r in serial]
    got_par = [(r.state, r.redeployable) for r in par]
    right = sum(r.state == s for r, s in zip(serial, expected, strict=True))
    same = sum(a == b for a, b in zip(got_serial, got_par, strict=True))
    mix = "64 state 1, 16 state 2 (4 by restore), 20 state 3"
    return [
        (f"triage of {n} returned meters, one at a time (x30 time; {mix})",
         f"{t_serial:.1f} s ({n / t_serial * 60:.0f} meters/min; {right}/{n} in the expected state)"),
        (f"triage of the same {n}, `--parallel {parallel}` (a fresh bench)",
         f"{t_par:.1f} s ({n / t_par * 60:.0f} meters/min, {t_serial / t_par:.1f}x; "
         f"verdicts same as serial: {same}/{n})"),
    ]


if __name__ == "__main__":
    for row in bench_triage():
        print(" | ".join(row))
