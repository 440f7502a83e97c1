"""HAN capture figures (docs/wireshark.md), printed by `make bench` once wired into `benchmarks/__main__.py`:

- capture overhead: a routed CS07 WAN round trip (over the tunnel to an ESME and back) on a bench, p50/p99 without a
  capture and while the whole HAN is being captured (the bench's `MediumTap`, as `--pcap` and `CHF:PCAP START` run
  it: every packet encoded, NWK- and APS-encrypted, fragmented and flushed); blocks of each alternate so that a
  host whose speed drifts does not favour either;
- the capture's cost on its own: frames written per CS07 exchange, µs of tap per frame;
- `chf decode --pcap CAP --keys KEYS --json` on that capture: 802.15.4 frames/s and GBCS frames/s, the marginal
  rate (a run on the whole capture minus a run on its first 50 exchanges, so that start-up cancels out), and
  the reader alone (`read_capture`: decrypt, reassemble, follow tunnels) in frames/s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chf.config.bench_file import parse
from chf.remote.bench_remote import BenchRemote
from chf.remote.hub_link import HubLink
from chf.remote.triage_steps import _cs14_hash
from chf.runtime.bench import BenchThread

HUB, ESME, IC = "02C0FFEE0000A001", "02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505"
BLOCKS, PER_BLOCK = 6, 50  # per mode: 300 round trips each with and without the capture
REPO = Path(__file__).resolve().parent.parent


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _bench_text() -> str:
    return "\n".join(['keys = "keys"', "keep_alive_s = 30", "time_scale = 30", "",
                      "[[hub]]", 'name = "A"', f'eui = "{HUB}"', 'wan = "127.0.0.1:0"', "",
                      "[[meter]]", 'type = "esme"', f'eui = "{ESME}"', f'install_code = "{IC}"', ""])


def _decode_seconds(cap: Path, keys: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chf.app.cli", "decode", "--pcap", str(cap), "--keys", str(keys), "--json"],
                   cwd=REPO, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def run() -> list[tuple[str, str]]:
    from zigbee.capture import read_capture
    from zigbee.capture.pcap import PcapngWriter, read_packets

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="commshub-bench-pcap-") as tmp:
        bench = parse(_bench_text(), Path(tmp) / "bench.toml")
        cap = Path(tmp) / "han.pcapng"
        with BenchThread(bench) as bt:
            remote = BenchRemote(bench.keys, Path(tmp) / "ctr.json")
            hub, meter = bytes.fromhex(HUB), bytes.fromhex(ESME)
            with HubLink(*bt.address("A")) as link:
                link.request(remote.chf(hub, "CCS01", device=meter, install_code=bytes.fromhex(IC),
                                        device_type="esme"), 5)
                if link.wait_for(lambda f: bool(_cs14_hash(f, meter)), 20) is None:
                    return [("capture overhead", "failed: the meter did not join")]
                for _ in range(20):  # warm: tunnel open, codecs loaded
                    link.request(remote.meter(hub, meter, "CS07"), 5)
                lat: dict[bool, list[float]] = {False: [], True: []}
                assert bt.running is not None
                medium = bt.running.medium
                tap = bt.call(lambda: bt.running.start_capture(cap))  # type: ignore[union-attr]
                busy = [0.0]
                run_event = tap._run  # type: ignore[attr-defined]

                def timed(fn: object, *args: object) -> None:  # the loop's time spent in the tap
                    t = time.perf_counter()
                    run_event(fn, *args)
                    busy[0] += time.perf_counter() - t

                tap._run = timed  # type: ignore[attr-defined]
                frames0 = tap.frames  # type: ignore[attr-defined]
                for block in range(2 * BLOCKS):
                    capturing = block % 2 == 1
                    if capturing != (tap in medium.observers):
                        bt.call(lambda c=capturing: (medium.observers.append if c else medium.observers.remove)(tap))
                    for _ in range(PER_BLOCK):
                        f = remote.meter(hub, meter, "CS07")
                        t = time.perf_counter()
                        if link.request(f, 5) is not None:
                            lat[capturing].append((time.perf_counter() - t) * 1000)
                written = tap.frames - frames0  # type: ignore[attr-defined]
                bt.call(lambda: bt.running.stop_capture(cap))  # type: ignore[union-attr]
        off, on = lat[False], lat[True]
        if not off or not on:
            return [("capture overhead", "failed: CS07 went unanswered")]
        m0, m1 = statistics.median(off), statistics.median(on)
        rows.append((f"routed CS07 WAN round trip, no capture ({len(off)})",
                     f"p50 {m0:.2f} ms, p99 {_p(off, 0.99):.2f} ms"))
        rows.append((f"  the same while the HAN is captured (--pcap / CHF:PCAP START, {len(on)})",
                     f"p50 {m1:.2f} ms, p99 {_p(on, 0.99):.2f} ms: +{m1 - m0:.2f} ms ({(m1 / m0 - 1) * 100:+.0f} %)"))
        rows.append(("  frames written per CS07 exchange (command and response, fragments, MAC and APS acks)",
                     f"{written / max(1, len(on)):.1f} (keep-alives included)"))
        rows.append(("  the bench loop's time in the capture (encode, encrypt, write, flush)",
                     f"{busy[0] / max(1, written) * 1e6:.0f} µs per frame, {busy[0] / max(1, len(on)) * 1000:.2f} ms "
                     "per CS07 exchange"))

        packets = list(read_packets(cap))
        t = time.perf_counter()
        reading = read_capture(cap, keys_file=f"{cap}.keys")
        dt = time.perf_counter() - t
        n, g = len(packets), len(reading.frames)
        rows.append((f"capture reader (read_capture: decrypt, reassemble, tunnels), {n} frames, {g} GBCS",
                     f"{n / dt:,.0f} frames/s ({g / dt:,.0f} GBCS frames/s)"))

        # `chf decode --pcap`: whole capture minus its first 50 exchanges' worth of records
        head = Path(tmp) / "head.pcapng"
        first = reading.frames[min(99, g - 1)].frame_number
        with PcapngWriter(head) as w:
            for p in packets:
                if p.number <= first:
                    w.write_us(p.data, p.time_ns // 1000)
        head_keys = Path(f"{head}.keys")
        head_keys.write_text(Path(f"{cap}.keys").read_text())
        small_n = sum(1 for p in packets if p.number <= first)
        small_g = sum(1 for x in reading.frames if x.frame_number <= first)
        t_all = min(_decode_seconds(cap, bench.keys) for _ in range(3))
        t_head = min(_decode_seconds(head, bench.keys) for _ in range(3))
        dn, dg, dt = n - small_n, g - small_g, max(1e-9, t_all - t_head)
        rows.append((f"chf decode --pcap --keys --json, {n} frames ({g} GBCS frames, MAC verified)",
                     f"{t_all:.2f} s in all: {n / t_all:,.0f} frames/s, {g / t_all:,.0f} GBCS frames/s"))
        rows.append(("  marginal (whole capture minus its first 100 GBCS frames: start-up cancels out)",
                     f"{dn / dt:,.0f} frames/s, {dg / dt:,.0f} GBCS frames/s ({dt / max(1, dg) * 1000:.2f} ms "
                     "per GBCS frame with its share of the capture)"))
    return rows


if __name__ == "__main__":
    for name, value in run():
        print(f"{name:<100} {value}")
