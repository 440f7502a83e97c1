"""`--bench FILE --to NAME`: a running bench's hub addressed by name — its WAN address (the bench file, or
`<bench>.live.json` for port 0), its EUI-64 and the bench's keys, counters and inventory mirror beside the file."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from chf.config.bench_file import BenchFileError, live_address, load
from chf.remote.bench_remote import connect_host
from chf.remote.hub_link import HubLink, HubLinkError

COUNTERS_FILE = "send-counters.json"


@dataclass(frozen=True)
class Target:
    """One hub of a running bench, as a remote party addresses it."""

    name: str
    eui: bytes
    host: str
    port: int
    keys: Path
    bench_dir: Path
    hub_names: dict[str, str]  # every hub of the bench: EUI (hex) -> name

    @property
    def wan(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def counters(self) -> Path:
        """One counter file per bench for `chf send` (the inventory mirror sits beside it, as triage's does)."""
        return self.bench_dir / COUNTERS_FILE


def resolve(bench_file: str, name: str | None) -> Target:
    """The hub `name` of the bench in `bench_file` (the only hub when `name` is None and there is one)."""
    bench = load(bench_file)
    if name is None:
        if len(bench.hubs) != 1:
            raise BenchFileError(str(bench.path), f"--to NAME is needed: the bench has hubs "
                                                  f"{', '.join(h.name for h in bench.hubs)}")
        spec = bench.hubs[0]
    else:
        spec = next((h for h in bench.hubs if h.name == name), None)
        if spec is None:
            raise BenchFileError(str(bench.path), f"no hub named {name!r} (hubs: "
                                                  f"{', '.join(h.name for h in bench.hubs)})")
    host, port = live_address(bench, spec)
    return Target(spec.name, spec.eui, connect_host(host), port, Path(bench.keys), bench.path.parent,
                  {h.eui.hex().upper(): h.name for h in bench.hubs})


def apply_to_send(args: argparse.Namespace) -> Target | None:
    """Fill `chf send`'s --wan, --keys, --hub and --counters from `--bench/--to` (explicit options still win)."""
    if not getattr(args, "bench", None):
        if getattr(args, "to", None):
            raise BenchFileError("--to", "names a hub of a bench: give --bench FILE too")
        return None
    t = resolve(args.bench, args.to)
    args.wan = t.wan
    args.keys = args.keys or str(t.keys)
    args.hub = args.hub or t.eui.hex().upper()
    args.counters = args.counters or str(t.counters)
    return t


def identity_at(host: str, port: int, timeout: float = 3.0) -> str | None:
    """The EUI-64 of the hub listening at host:port, from its control channel (None if it does not say)."""
    try:
        with HubLink(host, port, connect_timeout=timeout) as link:
            answer = link.control("STATE", timeout)
    except HubLinkError:
        return None
    if not answer.startswith("CHF:OK "):
        return None
    try:
        return str(json.loads(answer[7:])["hub"]).upper()
    except (ValueError, KeyError, TypeError):
        return None
