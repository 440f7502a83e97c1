"""Hubs on emulated coordinator sticks (wall time, printed never asserted): `chf run --radio KIND:URL` start-up
to its `listening on` line, per stick kind (EZSP through bellows, Z-Stack through zigpy-znp) and URL form
(`socket://`, `tcp://`, a pty), on a fresh stick (the hub forms its network: energy scan, temporary network,
real network) and again on the formed stick (a restart); and a meter's join (CCS01 → CS14) plus its first CS07
round trip through each stick beside the same through a virtual hub of the bench.

Everything runs as the user runs it: `chf run --bench` serving `[[ncp]]` sticks and a `[[hub]]`, a separate
`chf run --radio` process per hub on a stick, commands over the WAN ports. `run()` returns rows in the
`benchmarks.__main__` table format: `[(measure, figure)]`.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HUB_A = "02C0FFEE0000A001"   # the stick's (and its hub's) EUI
HUB_V = "02C0FFEE0000B001"   # a virtual hub of the same bench
ESME = "02C0FFEE000E5E01"
IC = "83FED3407A939723A5C639B26916D505"
FORMS = ("socket", "tcp", "pty")
KINDS = ("ezsp", "znp")


def _chf() -> list[str]:
    return [sys.executable, "-m", "chf.app.cli"]


class _Proc:
    """A `chf` process whose stdout lines are collected on a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(_chf() + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  cwd=cwd, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def wait(self, pattern: str, timeout: float = 120) -> tuple[float, re.Match] | None:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            for at, line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return at - self.t0, m
            if self.p.poll() is not None:
                return None
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def _bench(tmp: Path, kind: str, form: str, scale: float = 1) -> tuple[_Proc, str, tuple[str, int]]:
    where = "pty = true" if form == "pty" else 'listen = "127.0.0.1:0"'
    (tmp / "bench.toml").write_text(f"""keys = "keys"
keep_alive_s = 30
time_scale = {scale}
[[ncp]]
name = "A"
kind = "{kind}"
eui = "{HUB_A}"
{where}
[[hub]]
name = "V"
eui = "{HUB_V}"
wan = "127.0.0.1:0"
[[meter]]
type = "esme"
eui = "{ESME}"
install_code = "{IC}"
""")
    bench = _Proc(["run", "--bench", str(tmp / "bench.toml")], tmp)
    got = bench.wait(rf"ncp A {kind} {HUB_A} listening on (\S+)")
    hub = bench.wait(r"hub V \S+ listening on (\S+):(\d+)")
    if got is None or hub is None:
        bench.stop()
        raise RuntimeError(f"the bench with a {kind} stick did not come up")
    address = got[1].group(1)
    url = f"{kind}:{address}" if address.startswith("/") else f"{kind}:{form}://{address}"
    return bench, url, (hub[1].group(1), int(hub[1].group(2)))


def _hub(tmp: Path, url: str, scale: float = 1) -> tuple[_Proc, float, tuple[str, int]]:
    p = _Proc(["run", "--radio", url, "--hub-id", HUB_A, "--keys", str(tmp / "keys"), "--state",
               str(tmp / "state-A"), "--wan", "127.0.0.1:0", "--clock", f"scaled:{scale}"], tmp)
    got = p.wait(r"listening on (\S+):(\d+)", 180)
    if got is None:
        p.stop()
        raise RuntimeError(f"chf run --radio {url} did not start")
    return p, got[0], (got[1].group(1), int(got[1].group(2)))


def startup(kind: str, form: str) -> tuple[float, float]:
    """Seconds from `chf run --radio` to `listening on`: on a fresh stick, then restarted on the formed one."""
    with tempfile.TemporaryDirectory(prefix="ncp-bench-") as d:
        tmp = Path(d)
        bench, url, _ = _bench(tmp, kind, form)
        try:
            hub, first, _ = _hub(tmp, url)
            hub.stop()
            hub, again, _ = _hub(tmp, url)
            hub.stop()
        finally:
            bench.stop()
    return first, again


def join_and_cs07(kind: str | None, repeats: int = 3) -> list[tuple[float, float]]:
    """(CCS01 → CS14 with a hash, first CS07 round trip) seconds through a stick hub (`kind`) or, with None,
    through the bench's virtual hub; each on a fresh bench."""
    from chf.remote.bench_remote import BenchRemote
    from chf.remote.hub_link import HubLink
    from chf.remote.triage_steps import _cs14_hash

    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="ncp-bench-") as d:
            tmp = Path(d)
            bench, url, v_addr = _bench(tmp, kind or "ezsp", "tcp", scale=1)
            hub = None
            try:
                if kind is not None:
                    hub, _, addr = _hub(tmp, url)
                    eui = bytes.fromhex(HUB_A)
                else:
                    addr, eui = v_addr, bytes.fromhex(HUB_V)
                remote = BenchRemote(tmp / "keys", tmp / "counters.json")
                meter = bytes.fromhex(ESME)
                with HubLink(*addr) as link:
                    t0 = time.perf_counter()
                    link.request(remote.chf(eui, "CCS01", device=meter, install_code=bytes.fromhex(IC),
                                            device_type="esme"), 10)
                    if link.wait_for(lambda f: bool(_cs14_hash(f, meter)), 60) is None:
                        raise RuntimeError("no CS14 with a hash")
                    t1 = time.perf_counter()
                    if link.request(remote.meter(eui, meter, "CS07"), 10) is None:
                        raise RuntimeError("no CS07 answer")
                    t2 = time.perf_counter()
                out.append((t1 - t0, t2 - t1))
            finally:
                if hub is not None:
                    hub.stop()
                bench.stop()
    return out


def run() -> list[tuple[str, str]]:
    repeats = 1 if os.environ.get("BENCH_QUICK") else 3
    rows: list[tuple[str, str]] = []
    for kind in KINDS:
        for form in FORMS:
            try:
                runs = [startup(kind, form) for _ in range(repeats)]
            except RuntimeError as e:
                rows.append((f"chf run --radio {kind}:{form} start-up", f"failed: {e}"))
                continue
            first = statistics.median(r[0] for r in runs)
            again = statistics.median(r[1] for r in runs)
            rows.append((f"chf run --radio {kind}:{form}{'' if form == 'pty' else '://'} to `listening on`, "
                         f"fresh stick / formed stick, median of {repeats}", f"{first:.2f} s / {again:.2f} s"))
    for kind in (None, *KINDS):
        label = f"{kind} stick" if kind else "virtual radio"
        try:
            runs = join_and_cs07(kind, repeats)
        except RuntimeError as e:
            rows.append((f"join + first CS07 through the {label}", f"failed: {e}"))
            continue
        join = statistics.median(r[0] for r in runs)
        cs07 = statistics.median(r[1] for r in runs)
        rows.append((f"join (CCS01 → CS14) + first CS07 through the {label}, median of {len(runs)}",
                     f"{join:.2f} s + {cs07 * 1000:.0f} ms"))
    return rows


if __name__ == "__main__":
    for measure, figure in run():
        print(f"{measure:<80} {figure}")
