"""`chf inventory show | reconcile | set | rules`: the inventory mirror from the command line.

`reconcile` judges the mirror against device logs. Live reads (CCS07 to each hub, CS07 to each meter) are the
caller's: `inventory_command` takes them as a callable; `--from-files` reads saved CCS07/CCS06 responses, CS14
alerts and CS07 responses instead (hex, base64 or GFI lines, one frame per file or per GFI line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from chf.app.inputs import read_inputs
from chf.app.tables import print_table, table
from chf.remote.inventory.logs import HubLogs, MeterLog, logs_from_frames
from chf.remote.inventory.model import DeviceKind, SmiStatus
from chf.remote.inventory.reconcile import reconcile
from chf.remote.inventory.rules import RULES
from chf.remote.inventory.store import UNSET, Inventory, InventoryError, default_path

LogReader = Callable[[Inventory, argparse.Namespace], tuple[list[HubLogs], list[MeterLog]]]


DESCRIPTION = "the Smart Metering Inventory as the remote party sees it (mirror)"


def add_parser(sub: argparse._SubParsersAction, read_logs: LogReader | None = None,
               **parser_options: Any) -> argparse.ArgumentParser:
    """Register `chf inventory` (its actions as sub-commands) on the `chf` sub-command parsers; `read_logs`
    does the live reads of `reconcile --bench`; `parser_options` go to the parser's class."""
    p = sub.add_parser("inventory", help="the inventory mirror: show, reconcile, set, rules (chf inventory --help)",
                       description=DESCRIPTION, **parser_options)
    _add_arguments(p)
    p.set_defaults(func=lambda args: run(args, read_logs))
    return p


def build_parser() -> argparse.ArgumentParser:
    """`chf inventory` on its own (the parser `inventory_command` uses)."""
    p = argparse.ArgumentParser(prog="chf inventory", description=DESCRIPTION)
    _add_arguments(p)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state", default="state", metavar="DIR", help="state directory (default ./state)")
    common.add_argument("--counters", metavar="FILE", help="chf send's counters file: the inventory lives beside it")
    common.add_argument("--inventory", metavar="FILE", help="the inventory file (default STATE/inventory.sqlite)")
    sub = p.add_subparsers(dest="action", required=True)

    s = sub.add_parser("show", parents=[common], help="every device: type, SMI status, CHF, MPxNs, last hash, joins")
    s.add_argument("--json", action="store_true", help="one JSON object per device per line")
    s.add_argument("--history", action="store_true", help="also every transition with its cause")

    r = sub.add_parser("reconcile", parents=[common],
                       help="list every disagreement with the device logs, and the command fixing it")
    r.add_argument("--from-files", nargs="+", metavar="FILE",
                   help="saved CCS07/CCS06 responses, CS14 alerts and CS07 responses instead of live reads")
    r.add_argument("--bench", metavar="FILE", help="read live from a running bench: every hub's CCS07 and every "
                   "listed smart meter's CS07")
    r.add_argument("--json", action="store_true", help="one JSON object per disagreement per line")
    r.add_argument("--wait", type=float, default=5.0, metavar="SECONDS",
                   help="live reads: how long to wait for each response before the log is not judged (default 5)")

    t = sub.add_parser("set", parents=[common], help="correct the mirror by hand (recorded in its history)")
    t.add_argument("--device", required=True, metavar="EUI")
    t.add_argument("--status", help="an SMI status (" + ", ".join(repr(s.value) for s in SmiStatus) + ") or none")
    t.add_argument("--chf", metavar="EUI|none", help="the CHF it is Associated with")
    t.add_argument("--hash", metavar="HEX|empty|none", help="last hashed TC link key seen")
    t.add_argument("--device-type", help=", ".join(k.value for k in DeviceKind))
    t.add_argument("--install-code", metavar="HEX16")
    t.add_argument("--mpxn", action="append", metavar="MPxN", help="link an MPAN/MPRN (repeatable)")
    t.add_argument("--end-mpxns", action="store_true", help="end every MPxN link")
    t.add_argument("--join", action="append", metavar="EUI:TYPE", help="record a join with the device (repeatable)")
    t.add_argument("--unjoin", action="append", metavar="EUI", help="remove a recorded join (repeatable)")
    t.add_argument("--forget", action="store_true", help="drop the device from the mirror")

    sub.add_parser("rules", help="the rules the mirror follows, with their sources and exceptions")


def _path(args: argparse.Namespace) -> Path:
    return Path(args.inventory) if args.inventory else default_path(args.state, args.counters)


def _status(v: str) -> SmiStatus | None:
    if v.lower() == "none":
        return None
    try:
        return SmiStatus(v.lower().replace("_", " "))
    except ValueError:
        raise InventoryError(f"unknown SMI status {v!r}") from None


def _kind(v: str) -> DeviceKind:
    try:
        return DeviceKind(v.lower().replace("hc_alcs", "hcalcs"))
    except ValueError:
        raise InventoryError(f"unknown device type {v!r}") from None


def _show(inv: Inventory, args: argparse.Namespace) -> int:
    view = inv.view()
    if args.json:
        for r in view.devices.values():
            d = r.as_dict()
            if args.history:
                d["history"] = [t.__dict__ for t in inv.history(r.eui)]
            print(json.dumps(d, separators=(",", ":")))
        return 0
    if not view.devices:
        print("the inventory is empty")
        return 0
    devices = table("EUI", "type", "SMI status", "CHF", "MPxN", "hash", "joined", keep=("EUI", "CHF"))
    for r in view.devices.values():
        devices.add_row(r.eui, r.kind.value, r.smi_status.value if r.smi_status else "-", r.chf or "-",
                        ",".join(r.mpxns) or "-", "-" if r.hashed_key is None else (r.hashed_key or "(empty)"),
                        ",".join(r.joined) or "-")
    print_table(devices)
    if args.history:
        history = table("EUI", "at", "field", "change", "cause", keep=("EUI",), title="history")
        for r in view.devices.values():
            for t in inv.history(r.eui):
                history.add_row(r.eui, t.at, t.field, f"{t.old or '-'} -> {t.new or '-'}", t.cause)
        print()
        print_table(history)
    return 0


def _reconcile(inv: Inventory, args: argparse.Namespace, read_logs: LogReader | None) -> int:
    view = inv.view()  # before any read: live reads may update the mirror as they go
    if args.from_files:
        frames = []
        for item in read_inputs(args.from_files):
            if item.data is None:
                print(f"chf inventory: {item.source}: {item.error}", file=sys.stderr)
                return 2
            frames.append(item.data)
        hubs, meters, notes = logs_from_frames(frames)
        for n in notes:
            print(f"chf inventory: {n}", file=sys.stderr)
    elif read_logs is not None:
        try:
            hubs, meters = read_logs(inv, args)
        except ValueError as e:  # BenchFileError: a bad or missing bench file
            print(f"chf inventory: {e}", file=sys.stderr)
            return 2
    else:
        print("chf inventory reconcile: no live reads here; give --from-files with saved CCS07/CS07 responses",
              file=sys.stderr)
        return 2
    found = reconcile(view, hubs, meters)
    for d in found:
        if args.json:
            print(json.dumps(d.as_dict(), separators=(",", ":")))
        else:
            print(f"{d.kind.value}: {d.device}" + (f" on {d.hub}" if d.hub else "") + f"\n    {d.detail}\n"
                  f"    fix: {d.fix}")
    if not found and not args.json:
        print(f"no disagreements ({len(hubs)} hub log(s), {len(meters)} meter log(s) read)")
    return 1 if found else 0


def _set(inv: Inventory, args: argparse.Namespace) -> int:
    if args.forget:
        print(f"{args.device.upper()} {'forgotten' if inv.forget(args.device) else 'was not in the inventory'}")
        return 0
    join = {}
    for j in args.join or []:
        eui, _, k = j.partition(":")
        join[eui] = _kind(k or "unknown")
    h = args.hash
    r = inv.set(args.device,
                status=_status(args.status) if args.status is not None else UNSET,
                chf=(None if args.chf.lower() == "none" else args.chf) if args.chf is not None else UNSET,
                kind=_kind(args.device_type) if args.device_type else UNSET,
                hashed_key=UNSET if h is None else None if h.lower() == "none" else "" if h.lower() == "empty" else h,
                install_code=args.install_code if args.install_code is not None else UNSET,
                mpxns=args.mpxn, end_mpxns=args.end_mpxns, join=join, unjoin=args.unjoin)
    print(json.dumps(r.as_dict(), separators=(",", ":")))
    return 0


def _rules() -> int:
    for r in RULES:
        print(f"{r.name}\n  when: {r.when}\n  then: {r.then}\n  source: {r.source}")
        for e in r.exceptions:
            print(f"  except: {e}")
    return 0


def inventory_command(argv: list[str], read_logs: LogReader | None = None, *, disconnect_code: int | None = None) -> int:
    """Run `chf inventory …` from its own argument list (for tests and other front ends); `read_logs(inventory,
    args)` does the live CCS07/CS07 reads for `reconcile`; `disconnect_code` is the provisional Disconnect message
    code (COMMSHUB_DISCONNECT_CODE; None: the default)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    args.disconnect_code = disconnect_code
    return run(args, read_logs)


def run(args: argparse.Namespace, read_logs: LogReader | None = None) -> int:
    """Run the parsed `chf inventory` action: 0, 1 (reconcile found disagreements) or 2 (bad input)."""
    disconnect_code = getattr(args, "disconnect_code", None)
    if args.action == "rules":
        return _rules()
    try:
        with Inventory(_path(args), disconnect_code=disconnect_code,
                       make_parent=not (args.inventory or args.counters)) as inv:
            if args.action == "show":
                return _show(inv, args)
            if args.action == "reconcile":
                return _reconcile(inv, args, read_logs)
            return _set(inv, args)
    except BrokenPipeError:  # the reader of standard output went away: `chf` ends quietly (cli.main)
        raise
    except (InventoryError, OSError) as e:
        print(f"chf inventory: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        import sqlite3
        if isinstance(e, sqlite3.Error):
            print(f"chf inventory: {_path(args)}: {e}", file=sys.stderr)
            return 2
        raise
