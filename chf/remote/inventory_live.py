"""Live reads for `chf inventory reconcile --bench FILE`: every hub's device logs (CCS07) and the own device log
(CS07) of every smart meter a hub's current log lists, over the running bench's WAN ports with its keys.

What comes back is observed by the mirror too (as `chf send` would), after reconcile has taken its view.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chf.remote.bench_remote import BenchRemote, connect_host
from chf.config.bench_file import BenchFileError, live_address, load
from chf.remote.hub_link import HubLink, HubLinkError
from chf.remote.inventory import HubLogs, Inventory, MeterLog, logs_from_frames

METER_TYPES = ("esme", "gsme")
DEFAULT_WAIT_S = 5.0  # real seconds for each response (`--wait`): a meter off its hub's HAN never answers
MAX_WAIT_S = 3600.0  # as `chf send --wait` (chf.config.settings "wait_s")


def read_bench_logs(inv: Inventory, args: argparse.Namespace) -> tuple[list[HubLogs], list[MeterLog]]:
    if not getattr(args, "bench", None):
        raise BenchFileError("chf inventory reconcile", "give --bench FILE (a running bench) or --from-files")
    wait = float(getattr(args, "wait", DEFAULT_WAIT_S))
    if not 0 < wait <= MAX_WAIT_S:  # NaN fails too
        raise BenchFileError("chf inventory reconcile", f"--wait takes a positive number of seconds, at most "
                                                        f"{MAX_WAIT_S:g}, got {wait:g}")
    bench = load(args.bench)
    counters = Path(args.counters) if args.counters else bench.path.parent / "triage-counters.json"
    remote = BenchRemote(bench.keys, counters, inv, inv.disconnect_code)
    frames: list[bytes] = []
    links: dict[str, HubLink] = {}
    try:
        for h in bench.hubs:
            host, port = live_address(bench, h)
            try:
                links[h.name] = HubLink(connect_host(host), port)
            except HubLinkError as e:
                print(f"chf inventory: hub {h.name}: {e}; its logs are not judged", file=sys.stderr)
                continue
            r = links[h.name].request(remote.chf(h.eui, "CCS07"), wait)
            if r is None:
                print(f"chf inventory: hub {h.name}: no CCS07 response; its logs are not judged", file=sys.stderr)
                continue
            frames.append(r)
        hubs, _, _ = logs_from_frames(frames)
        meter_types = {m.eui.hex().upper(): m.type for m in bench.meters}
        view = inv.view()
        for hl in hubs:
            spec = next(h for h in bench.hubs if h.eui.hex().upper() == hl.hub)
            for e in sorted(hl.current_euis()):
                rec = view.devices.get(e)
                kind = meter_types.get(e) or (rec.kind.value if rec is not None else None)
                if kind not in METER_TYPES or spec.name not in links:
                    continue
                r = links[spec.name].request(remote.meter(spec.eui, bytes.fromhex(e), "CS07"), wait)
                if r is not None:
                    frames.append(r)
    finally:
        for link in links.values():
            link.close()
    hubs, meters, _ = logs_from_frames(frames)
    return hubs, meters
