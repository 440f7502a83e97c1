"""`make bench`: measured figures, printed (never asserted).

1. Codec over the RTDS corpus plus re-countered, re-MAC'd and re-signed variants of each frame (needs
   ../shared/rtds, or COMMSHUB_RTDS; see `benchmarks/corpus.py`): full decode incl. payload trees in frames/s,
   decode + MAC + signature verification in ms/frame, and the marginal cost per frame of `chf decode --keys
   --json` and of its text mode (a run over every frame minus a run over 100, so start-up cancels out), beside
   gbcs-parser's 0.70 ms/frame (parse + MAC + signature, Node 20, the same RTDS corpus, this kind of host).
2. The hub over loopback TCP: CCS01 round trips (MAC check, commit, response, CS14) — p50/p99 latency and
   commands/s with 1 and with 16 concurrent clients, and the hub's CPU time per command (user + system, from
   /proc: steadier than commands/s on a loaded host); the hub runs as its own `chf run` process, with group
   commit (issue 18 item 3: commands waiting together commit in one transaction).
3. Hardening (benchmarks/hardening.py): a legitimate command's p50/p99 while 4 connections flood failing frames,
   and the hub's RSS growth after 5,000 incomplete 60 kB GBT transfers; a hub command's p50/p90/p99 while 4
   connections flood frames routed to a joined GSME, and how many connections one source address can hold.
4. The HAN (benchmarks/han.py, han_flows.py): a join plus first tunnel round trip on the bare virtual radio;
   through a real bench: a meter's join plus first GBCS read, a routed meter command's WAN round trip beside a
   CHF command's, the swap-out, triage per state and in batch.
   CBKE (benchmarks/cbke.py): CPU per side for suites 1 and 2, and a meter's join plus first CS07 through a bench
   with `key_establishment = "cbke"` and `"derived"`.
5. Fleet scale (benchmarks/fleet_scale.py): start-up (hubs/s) and memory of 10, 100 and 1,000 hubs with 5
   installed meters each in one process, with each key establishment mode, each size in a fresh process
   (BENCH_QUICK=1 skips 1,000); the steady state of the biggest (idle CPU, CS07 through random hubs).
6. The bench dashboard (benchmarks/dashboard.py): page load and update latency (a join → the page shows it) with
   a 100-hub bench in headless Chromium (skipped without Chromium and Playwright).
7. Triage of a rack (benchmarks/triage.py): 100 returned meters in states 1, 2 and 3 at x30 time, one at a
   time and `--parallel 8`, each on a fresh bench, with whether the verdicts agree.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .corpus import bench_corpus, keystore, rtds_frames, rtds_root
from .timing import best_of

GBCS_PARSER_MS = 0.70  # SmartDCCInnovation/gbcs-parser: parse + MAC + signature, Node 20, this corpus, 2 cores


def bench_codec() -> list[tuple[str, str]]:
    from gbcs import message

    rtds = rtds_frames()
    if rtds is None:
        print("codec: RTDS corpus not found (set COMMSHUB_RTDS); skipped")
        return []
    keys = keystore()
    frames = bench_corpus(rtds, keys)
    for f in frames:  # warm: compile ASN.1, derive and cache ECDH secrets
        message.decode(f, keys)
    gc.freeze()  # the corpus and warm-up objects live throughout: keep the collector off them
    n = len(frames)

    def full() -> None:
        for f in frames:
            message.decode(f, verify=False)

    def verify() -> None:
        for f in frames:
            message.decode(f, keys)

    t_full = best_of(full)
    t_ver = best_of(verify)
    signed = sum(1 for f in frames if message.decode(f, verify=False).signature.value != "absent")
    from chf.app.decode_command import default_jobs

    jobs = default_jobs()
    ms_json = cli_marginal(frames, ["--json"])
    ms_text = cli_marginal(frames, [])
    ms_json1 = cli_marginal(frames, ["--json", "--jobs", "1"])
    ms_text1 = cli_marginal(frames, ["--jobs", "1"])
    return [
        ("frames (RTDS + re-countered variants)", f"{n} ({len(rtds)} RTDS, {signed} signed)"),
        ("full decode (payload trees)", f"{n / t_full:,.0f} frames/s ({t_full / n * 1e6:.1f} µs/frame)"),
        ("library decode + MAC + signature", f"{t_ver / n * 1000:.3f} ms/frame"),
        (f"`chf decode --keys --json`, marginal ({jobs} workers)", f"{ms_json:.3f} ms/frame"),
        (f"`chf decode --keys` (text), marginal ({jobs} workers)", f"{ms_text:.3f} ms/frame"),
        ("`chf decode --keys --json --jobs 1`, marginal", f"{ms_json1:.3f} ms/frame"),
        ("`chf decode --keys --jobs 1` (text), marginal", f"{ms_text1:.3f} ms/frame"),
        ("gbcs-parser (Node 20, reference)", f"{GBCS_PARSER_MS:.2f} ms/frame"),
        ("speed-up vs gbcs-parser (library)", f"{GBCS_PARSER_MS / (t_ver / n * 1000):.1f}x"),
    ]


def cli_marginal(frames: list[bytes], mode: list[str], few: int = 100, repeats: int = 7) -> float:
    """ms per frame of `chf decode --keys <mode>` over every frame, less a run over `few`, per extra frame.

    The `few` frames are spread evenly over the corpus, so both runs meet every payload kind and pay the same
    start-up (lazy imports, compiled schemas); a 100-frame run stays below the worker threshold, so the
    worker pool's start is counted in the marginal cost."""
    from gbcs.gfi import encode_line

    sample = frames[:: max(1, len(frames) // few)][:few]
    with tempfile.TemporaryDirectory(prefix="commshub-bench-") as tmp:
        runs = {}
        for name, part in (("few", sample), ("all", frames)):
            path = Path(tmp) / f"{name}.gfi"
            path.write_bytes(b"".join(encode_line(f) for f in part))
            cmd = [sys.executable, "-m", "chf.app.cli", "decode", "--keys", str(rtds_root() / "keystore"), *mode, str(path)]
            runs[name] = best_of(lambda cmd=cmd: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False),
                                 repeats)
    return (runs["all"] - runs["few"]) / (len(frames) - len(sample)) * 1000


async def _client(host: str, port: int, frames: list[bytes], lat: list[float]) -> None:
    """Send each frame and wait for its response and the CS14 alert after it; time CCS01s (even indexes)."""
    from gbcs.frame import decode_frame
    from gbcs.gfi import decode_line, encode_line

    reader, writer = await asyncio.open_connection(host, port)
    for i, f in enumerate(frames):
        t = time.perf_counter()
        writer.write(encode_line(f))
        await writer.drain()
        got = [int(decode_frame(decode_line(await reader.readline())).header.cra) for _ in range(2)]
        if i % 2 == 0:
            lat.append(time.perf_counter() - t)
        if sorted(got) != [2, 3]:
            raise RuntimeError(f"expected a response and a CS14 alert, got CRA {got}")
    writer.close()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_hub() -> list[tuple[str, str]]:
    from chf.config.keygen import Pki, init_keys
    from chf.remote.commands import RemoteParty, ccs01, ccs02
    from gbcs.keys import KeyStore

    rows = []
    with tempfile.TemporaryDirectory(prefix="commshub-bench-") as tmp:
        pki = init_keys(Path(tmp) / "keys", Pki())
        origs = [bytes.fromhex("90B3D51F3000FF") + bytes([c]) for c in range(17)]
        kd = Path(tmp) / "keys"
        for o in origs:  # ACB-role senders share the ACB's KA key pair: the hub MACs its responses to them
            for ext in ("key", "pem"):
                (kd / f"{o.hex()}-ka.{ext}").write_bytes((kd / f"{pki.acb.lower()}-ka.{ext}").read_bytes())
        trust = [a for o in origs for a in ("--trust", f"{o.hex()}=access_control_broker")]
        keys = KeyStore.from_directory(kd, acb=pki.eui("acb"))
        proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", tmp, "--keys",
                                 str(Path(tmp) / "keys"), "--wan", "127.0.0.1:0", *trust],
                                stdout=subprocess.PIPE, text=True)
        try:
            port = int(proc.stdout.readline().rsplit(":", 1)[1])
            for clients, per_client in ((1, 1000), (16, 150)):
                work = []
                for c in range(clients):
                    # Each client is its own ACB-role originator (--trust), so its counters stay in order.
                    party = RemoteParty(keys, origs[c + (0 if clients == 1 else 1)], pki.eui("hub"),
                                        pki.eui("supplier"))
                    frames, base = [], 1 + (c << 20)
                    dev = bytes.fromhex("00DB1234567800") + bytes([c])
                    for i in range(per_client):
                        frames.append(party.build(ccs01(dev, bytes(16)), counter=base + 2 * i))
                        frames.append(party.build(ccs02(dev), counter=base + 2 * i + 1))
                    work.append(frames)
                lat: list[float] = []
                cpu0 = _cpu_seconds(proc.pid)

                async def run_all() -> float:
                    t = time.perf_counter()
                    await asyncio.gather(*(_client("127.0.0.1", port, w, lat) for w in work))
                    return time.perf_counter() - t

                elapsed = asyncio.run(run_all())
                cpu1 = _cpu_seconds(proc.pid)
                lat.sort()
                n = len(lat)
                p50, p99 = lat[n // 2] * 1000, lat[min(n - 1, int(n * 0.99))] * 1000
                cpu = "" if cpu0 is None or cpu1 is None else \
                    f"; hub CPU {(cpu1 - cpu0) / (2 * n) * 1e6:.0f} µs/command ({(cpu1 - cpu0) / elapsed:.0%} of a core)"
                rows.append((f"CCS01 round trip, {clients} client(s)",
                             f"p50 {p50:.2f} ms, p99 {p99:.2f} ms; {2 * n / elapsed:,.0f} commands/s "
                             f"({2 * n} CCS01+CCS02, each with its CS14){cpu}"))
        finally:
            proc.terminate()
            proc.wait(5)
    return rows


def calibration() -> tuple[str, str]:
    """A fixed pure-Python loop, so figures from runs on a host whose speed swings can be compared."""
    t = best_of(lambda: sum(i * i for i in range(200_000)), 5)
    return ("host calibration (fixed Python loop)", f"{t * 1000:.1f} ms (lower = faster host right now)")


def main() -> int:
    print(f"commshub benchmarks — Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)\n")
    from .cbke import join_rows
    from .cbke import run as bench_cbke
    from .dashboard import run as bench_dashboard
    from .decode_files import bench_decode_files
    from .fleet_scale import bench_fleet
    from .han import bench_han
    from .han_flows import bench_han_flows
    from .hardening import bench_connections_per_source, bench_hardening, bench_routed_flood
    from .ncp import run as bench_ncp
    from .pcap import run as bench_pcap
    from .triage import bench_triage

    rows = [calibration(), *bench_codec(), *bench_hub(), *bench_hardening(), *bench_routed_flood(),
            *bench_connections_per_source(), *bench_han(), *bench_han_flows(), *bench_cbke(), *join_rows(),
            *bench_pcap(), *bench_ncp(), *bench_decode_files(), *bench_fleet(),
            *bench_dashboard(), *bench_triage()]
    from chf.app.tables import markdown_table

    print(markdown_table(("measure", "figure"), rows), end="")  # markdown, as the README's table is
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
