"""`chf triage`: the returned-meter triage of SECMP0013 against the hubs of a running bench (docs/triage.md).

Progress goes to stderr while each step runs (rich: spinner, elapsed time, what it waits for and its timeout;
a progress bar across meters in batch mode); the report goes to stdout: a table, or with `--json` one object
per meter per line. Exit status 0 only when every meter is re-deployable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from chf.app.tables import print_table, table
from chf.config.bench_file import Bench, BenchFileError, HubSpec, live_address, load
from chf.config.settings import SettingError, check
from chf.remote.hub_link import HubLink, HubLinkError
from chf.remote.bench_remote import BenchRemote, connect_host
from chf.remote.triage_steps import HubRef, MeterInfo, MeterReport, Timing, Triage
from gbcs.errors import GbcsError


def _meters(args: argparse.Namespace, bench: Bench) -> list[MeterInfo]:
    wanted: list[str] = []
    if args.meter:
        wanted = [args.meter]
    else:
        for raw in Path(args.meters).read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                wanted.append(line)
    by_eui = {m.eui.hex().upper(): m for m in bench.meters}
    out = []
    for w in wanted:
        m = by_eui.get(w.upper())
        if m is None:
            raise BenchFileError("--meter", f"{w} is not a [[meter]] of {bench.path}: its install code is unknown")
        out.append(MeterInfo(m.eui, m.type, m.install_code))
    return out


def _table(reports: list[MeterReport]) -> None:
    from rich.table import Table

    t = table("meter", "state", "re-deployable", "verdict", "steps", title="Returned-meter triage (SECMP0013)",
              boxed=True, keep=("meter",))
    every = [s for r in reports for s in r.steps]
    widths = [max((len(x) for x in texts), default=0) for texts in
              ([s.outcome for s in every], [f"{s.seconds:.2f}s" for s in every], [s.service_request for s in every])]
    for r in reports:
        steps = Table.grid(padding=(0, 2))  # one line per step: outcome, time, service request, name; the same
        for i, w in enumerate(widths):      # widths for every meter, so the steps of all meters line up
            steps.add_column(justify="left" if i == 2 else "right", no_wrap=True, min_width=w)
        steps.add_column(overflow="fold")
        for s in r.steps:
            steps.add_row(s.outcome, f"{s.seconds:.2f}s", s.service_request, s.name)
        t.add_row(r.meter, str(r.state), "yes" if r.redeployable else "NO", r.verdict, steps)
    print_table(t)


def hub_spec(bench: Bench, name: str, wan: str | None, option: str) -> tuple[HubSpec, tuple[str, int] | None]:
    """A bench's hub by name, or the hub that runs on one of its [[ncp]] sticks (in its own process, so `wan`
    says where its WAN port listens); the address to use instead of the bench's, if any."""
    address = None
    if wan is not None:
        host, _, port = wan.rpartition(":")
        if not host or not port.isdigit():
            raise BenchFileError(f"{option}-wan", f"HOST:PORT expected, got {wan!r}")
        address = (connect_host(host.strip("[]")), int(port))
    if any(h.name == name for h in bench.hubs):
        return bench.hub(name), address
    if any(n.name == name for n in bench.ncps):
        if address is None:
            raise BenchFileError(option, f"{name!r} is an [[ncp]]: the hub on it runs in its own process (chf run "
                                         f"--radio ...); say where its WAN port listens with {option}-wan HOST:PORT")
        n = bench.ncp(name)
        return HubSpec(name, n.eui, address[0], address[1], bench.path.parent / f"state-{name}"), address
    bench.hub(name)  # raises, naming the hubs
    raise AssertionError


MAX_PARALLEL = 32  # twice a QA hub's default device log (16 entries): more meters at once would only wait for room


def parallel_count(text: str) -> int:
    """`--parallel N`: a whole number from 1 to MAX_PARALLEL (argparse reports the ValueError's message)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of meters") from None
    if not 1 <= n <= MAX_PARALLEL:
        raise argparse.ArgumentTypeError(f"{n} is out of range: 1 to {MAX_PARALLEL} meters at once")
    return n


def triage_command(args: argparse.Namespace) -> int:
    hosts: dict[str, tuple[str, int]] = {}
    try:
        bench = load(args.bench)
        qa_spec, qa_addr = hub_spec(bench, args.qa, args.qa_wan, "--qa")
        old_spec, old_addr = hub_spec(bench, args.old, args.old_wan, "--old") if args.old else (None, None)
        meters = _meters(args, bench)
    except (BenchFileError, OSError) as e:
        print(f"chf triage: {e}", file=sys.stderr)
        return 2
    if qa_addr is not None:
        hosts[qa_spec.name] = qa_addr
    if old_spec is not None and old_addr is not None:
        hosts[old_spec.name] = old_addr
    counters = Path(args.counters) if args.counters else bench.path.parent / "triage-counters.json"
    import sqlite3

    from chf.remote.commands import CounterFileError
    from chf.remote.inventory import Inventory, InventoryError

    inv_path = Path(args.inventory) if args.inventory else counters.parent / "inventory.sqlite"
    try:
        check("join_timeout", args.join_timeout, "--join-timeout")
        with Inventory(inv_path, disconnect_code=args.disconnect_code) as inventory:
            reports = run_triage(bench, qa_spec, old_spec, meters, counters, args.join_timeout, json_lines=args.json,
                                 inventory=inventory, disconnect_code=args.disconnect_code,
                                 hosts=hosts or None, parallel=args.parallel)
    except BrokenPipeError:  # the reader of the JSON lines went away: `chf` ends quietly (cli.main)
        raise
    except (HubLinkError, OSError, GbcsError, BenchFileError, InventoryError, CounterFileError, SettingError) as e:
        print(f"chf triage: {e}", file=sys.stderr)
        return 2
    except sqlite3.Error as e:  # the inventory failed while in use (locked, damaged)
        print(f"chf triage: {inv_path}: {e}", file=sys.stderr)
        return 2
    if args.html:
        from chf.app.triage_html import Parties, write_report

        try:
            write_report(Path(args.html), [r.as_dict() for r in reports],
                         Parties(qa_spec.eui, old_spec.eui if old_spec else None), bench.keys, args.disconnect_code)
        except OSError as e:
            print(f"chf triage: --html {args.html}: {e.strerror or e}", file=sys.stderr)
            return 2
    if not args.json:
        _table(reports)
    return 0 if reports and all(r.redeployable for r in reports) else 1


def run_triage(bench: Bench, qa_spec: HubSpec, old_spec: HubSpec | None, meters: list[MeterInfo], counters: Path,
               join_timeout: int = 90, *, json_lines: bool = False, inventory: object | None = None,
               hosts: dict[str, tuple[str, int]] | None = None, disconnect_code: int | None = None,
               parallel: int = 1) -> list[MeterReport]:
    """Triage `meters` against the bench's hubs, up to `parallel` at once on the QA hub (chf/remote/triage_batch.py),
    with a progress display on stderr (a line per meter under way, prefixed with its EUI); with `json_lines`,
    each meter's report is printed as soon as it and every meter before it in the input are known. Reports come
    back in input order. `hosts` overrides WAN addresses; `disconnect_code` is the provisional Disconnect message
    code (None: the default)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from chf.remote.triage_batch import QueuedRemote, run_batch
    from chf.remote.triage_gate import TriageGate

    def addr(spec: HubSpec) -> tuple[str, int]:
        if hosts and spec.name in hosts:
            return hosts[spec.name]
        host, port = live_address(bench, spec)
        return connect_host(host), port

    remote = QueuedRemote(BenchRemote(bench.keys, counters, inventory, disconnect_code))
    timing = Timing(join_window_s=join_timeout, keep_alive_s=bench.keep_alive_s, time_scale=bench.time_scale,
                    poll_s=bench.gsme_poll_s)
    ppmid = next((MeterInfo(m.eui, m.type, m.install_code) for m in bench.meters if m.type == "ppmid"), None)
    n_workers = max(1, min(parallel, len({m.eui for m in meters})))
    gate = TriageGate(parallel=n_workers > 1)
    links: list[HubLink] = []
    printed = 0
    reports: list[MeterReport | None] = [None] * len(meters)

    def done(i: int, rep: MeterReport) -> None:
        nonlocal printed
        reports[i] = rep
        if batch is not None:
            prog.advance(batch)
        while json_lines and printed < len(reports) and reports[printed] is not None:
            print(json.dumps(reports[printed].as_dict(), separators=(",", ":")), flush=True)  # type: ignore[union-attr]
            printed += 1

    try:
        workers: list[Triage] = []
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=_stderr_console(),
                      transient=True) as prog:
            batch = prog.add_task("meters", total=len(meters), note="") if len(meters) > 1 else None
            # One connection to each hub, shared by the workers: the hub reads its lines in order (TriageGate).
            qa = HubRef(qa_spec.name, qa_spec.eui, HubLink(*addr(qa_spec)))
            links.append(qa.link)
            old = None
            if old_spec:
                old = HubRef(old_spec.name, old_spec.eui, HubLink(*addr(old_spec)))
                links.append(old.link)
            for _ in range(n_workers):
                workers.append(Triage(remote, qa, old, timing, ppmid, None, disconnect_code, gate))
            for t in workers:
                t.progress = _progress_line(prog, t)
            try:
                run_batch(meters, workers, done, remote.drain)
            except BaseException as e:
                for rep in reports[printed:]:  # what finished after the one that failed, still in input order
                    if json_lines and rep is not None and not isinstance(e, BrokenPipeError):
                        print(json.dumps(rep.as_dict(), separators=(",", ":")), flush=True)
                raise
    finally:
        remote.drain()
        for link in links:
            link.close()
    return [r for r in reports if r is not None]


def _progress_line(prog, t: Triage) -> Callable[[str, str, float], None]:
    """One progress line per worker: the EUI of the meter it triages, the step, what it waits for."""
    task = prog.add_task("", total=None, note="", visible=False)

    def progress(name: str, waiting: str, timeout: float) -> None:
        if t.meter is None:  # between meters, or done: no line
            prog.update(task, visible=False)
            return
        prog.update(task, description=f"[bold]{t.meter.hex().upper()}[/] {name}", visible=True,
                    note=f"waiting for {waiting}" + (f" (timeout {timeout:.1f} s)" if timeout else ""))
        prog.reset(task, total=None)
    return progress


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("triage", help="returned-meter triage (SECMP0013): classify, restore, check, divorce")
    t.add_argument("--bench", required=True, metavar="FILE", help="the bench file of the running bench")
    t.add_argument("--qa", required=True, metavar="NAME", help="the QA hub (a [[hub]] name, or an [[ncp]] name "
                                                             "with --qa-wan)")
    t.add_argument("--qa-wan", metavar="HOST:PORT", help="where the QA hub's WAN port listens when it runs on an "
                                                          "[[ncp]] stick (chf run --radio KIND:URL)")
    t.add_argument("--old", metavar="NAME", help="the meter's old hub, where known")
    t.add_argument("--old-wan", metavar="HOST:PORT", help="the old hub's WAN port when it runs on an [[ncp]] stick")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--meter", metavar="EUI", help="one meter")
    g.add_argument("--meters", metavar="FILE", help="a batch: one EUI per line")
    t.add_argument("--json", action="store_true", help="one JSON object per meter per line")
    t.add_argument("--parallel", type=parallel_count, default=1, metavar="N",
                   help=f"triage up to N meters at once on the QA hub (1-{MAX_PARALLEL}; default 1)")
    t.add_argument("--html", metavar="FILE", help="also write the report as a self-contained page: per meter its steps "
                                                 "and a sequence diagram of every frame, each opening to its decode")
    t.add_argument("--join-timeout", type=int, default=90, metavar="SECONDS",
                   help="CCS01 join window, emulated seconds (default 90)")
    t.add_argument("--counters", metavar="FILE", help="originator counters (default: triage-counters.json by the bench)")
    t.add_argument("--inventory", metavar="FILE",
                   help="the inventory mirror to update (default: inventory.sqlite beside the counters)")
    t.set_defaults(func=triage_command)
