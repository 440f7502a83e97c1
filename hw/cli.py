"""`chf radios [--probe] [--json]`: list the serial ports, say which look like ZigBee sticks, optionally confirm.

Exit status: 0 when at least one dongle was found (with --probe: confirmed), 1 when none, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hw.auto import candidates, no_dongle_detail, port_path
from hw.errors import DIALOUT_FIX
from hw.open import Opener
from hw.ports import PortLister, SerialPort, list_ports
from hw.probe import ProbeResult, probe_ports
from hw.radio_types import Identification

Access = Callable[[str], str]
"""Says whether this user can open a port: 'ok', 'missing' or 'permission denied' (no port is opened)."""

Show = Callable[[Any, TextIO], None]
"""Prints a rich table on a stream. `chf` passes its terminal-width rule (`chf.app.tables.print_table`); the
default, `one_line_rows`, prints every row on one line whatever the width."""

NO_DONGLE_ADVICE = ("Plug in a ZigBee coordinator stick (docs/hardware.md lists the supported ones); in a container "
                    "or VM, pass the USB device through. Without a dongle, run the hub with --radio virtual.")


def file_access(path: str) -> str:
    if not os.path.exists(path):
        return "missing"
    return "ok" if os.access(path, os.R_OK | os.W_OK) else "permission denied"


@dataclass
class RadiosEnv:
    """What `chf radios` reads from the machine; tests replace each part."""

    lister: PortLister | None = None
    access: Access = file_access
    opener: Opener | None = None
    controllers: dict[Any, Any] | None = None
    out: TextIO | None = None
    show: Show | None = None


def one_line_rows(table: Any, out: TextIO) -> None:
    """Print a rich table at its natural width: no row wraps, no styling, no trailing blanks."""
    from rich.console import Console

    class Text(io.StringIO):  # rendered for `out`: rich draws ASCII boxes where its encoding is not UTF
        encoding = getattr(out, "encoding", None) or "utf-8"  # type: ignore[assignment]

    def plain(width: int) -> Console:
        return Console(file=Text(), width=width, markup=False, emoji=False, highlight=False, color_system=None)

    c = plain(max(1, plain(1_000_000).measure(table).maximum))
    with c.capture() as cap:
        c.print(table)
    out.write("".join(ln.rstrip() + "\n" for ln in cap.get().splitlines()))


def add_radios_parser(subparsers: Any, show: Show | None = None) -> argparse.ArgumentParser:
    """Register `chf radios` on the `chf` sub-command parsers; `show` prints its table (see `Show`)."""
    p = subparsers.add_parser("radios", help="list serial ports and the ZigBee dongles among them")
    _add_arguments(p)
    p.set_defaults(func=lambda args: run_radios(args, RadiosEnv(show=show)))
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--probe", action="store_true",
                   help="confirm each candidate by opening it with bellows, zigpy-znp and zigpy-deconz in turn")
    p.add_argument("--all", action="store_true", help="also probe/list USB serial ports not in the dongle table")
    p.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS", help="per radio library, with --probe")
    p.add_argument("--json", action="store_true", help="one JSON object")


def radios_command(argv: list[str], env: RadiosEnv | None = None) -> int:
    """`chf radios` with its own argument list (the entry point for tests and for other front ends)."""
    p = argparse.ArgumentParser(prog="chf radios", description="list serial ports and the ZigBee dongles among them")
    _add_arguments(p)
    return run_radios(p.parse_args(argv), env or RadiosEnv())


def _row(ident: Identification, access: str, probe: ProbeResult | None) -> dict[str, Any]:
    port = ident.port
    row = {**port.as_dict(), "url_path": port_path(port), "product": ident.product,
           "radios": [r.value for r in ident.radios], "likely_radio": ident.radio.value if ident.radio else None,
           "access": access, "supported": any(r.supported for r in ident.radios)}
    if access == "permission denied":
        row["fix"] = DIALOUT_FIX
    if probe is not None:
        row["probe"] = probe.as_dict()
    return row


def run_radios(args: argparse.Namespace, env: RadiosEnv) -> int:
    out = env.out or sys.stdout
    ports = list_ports(env.lister)
    found = candidates(ports)
    if args.all:
        known = {i.port.device for i in found}
        found += [Identification(p, None, ()) for p in ports if p.is_usb and p.device not in known]
    probes: dict[str, ProbeResult] = {}
    if args.probe and found:
        results = asyncio.run(probe_ports([port_path(i.port) for i in found], timeout=args.timeout, opener=env.opener,
                                          controllers=env.controllers))
        probes = {r.port: r for r in results}
    rows = [_row(i, env.access(i.port.device), probes.get(port_path(i.port))) for i in found]
    others = [p for p in ports if p.device not in {i.port.device for i in found}]
    ok = [r for r in rows if r["supported"]] if not args.probe else [r for r in rows if r["probe"]["radio"]]
    summary = _summary(ports, rows, ok, args.probe)
    if args.json:
        out.write(json.dumps({"dongles": rows, "other_ports": [p.as_dict() for p in others], "summary": summary}) + "\n")
    else:
        _print_table(out, rows, others, summary, args.probe, env.show or one_line_rows)
    return 0 if ok else 1


def _summary(ports: list[SerialPort], rows: list[dict[str, Any]], ok: list[dict[str, Any]], probed: bool) -> str:
    if not rows or (not any(r["radios"] for r in rows) and not probed):
        return f"No ZigBee dongle found: {no_dongle_detail(ports)}. {NO_DONGLE_ADVICE}"
    if not ok and not probed:
        names = ", ".join(f"{r['product']} at {r['device']}" for r in rows if r["radios"])
        return f"No supported ZigBee dongle found: {names} needs a radio library commshub does not use " \
               "(it drives ezsp, znp and deconz sticks)."
    if probed and not ok:
        return "No ZigBee radio answered on any candidate port (see the probe errors above)."
    n = len(ok)
    verb = "confirmed" if probed else "found"
    urls = ", ".join(r["probe"]["url"] if probed else (f"{r['likely_radio']}:{r['url_path']}" if r["likely_radio"]
                                                       else r["url_path"]) for r in ok)
    return f"{n} ZigBee dongle{'s' if n != 1 else ''} {verb}: {urls}"


def _print_table(out: TextIO, rows: list[dict[str, Any]], others: list[SerialPort], summary: str, probed: bool,
                 show: Show) -> None:
    if rows:
        from rich import box
        from rich.table import Table

        # borderless, a rule under the header: each row is a line starting with its port, as `chf` tables are
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for head in ("PORT", "VID:PID", "DESCRIPTION", "MANUFACTURER", "SERIAL", "LIKELY RADIO", "PRODUCT"):
            table.add_column(head, overflow="fold", no_wrap=head in ("PORT", "VID:PID"))
        for r in rows:
            table.add_row(r["device"], r["vid_pid"] or "-", r["description"] or "-", r["manufacturer"] or "-",
                          r["serial_number"] or "-", "/".join(r["radios"]) or "?", r["product"] or "-")
        show(table, out)
        for r in rows:
            if r["by_id"]:
                out.write(f"  {r['device']}: stable name {r['by_id']}\n")
            if r["access"] != "ok":
                fix = f" — {r['fix']}" if "fix" in r else ""
                out.write(f"  {r['device']}: {r['access']}{fix}\n")
            if probed:
                p = r["probe"]
                out.write(f"  {r['device']}: probe: " + (f"{p['radio']} radio answered, use --radio {p['url']}"
                                                        if p["radio"] else p["error"]) + "\n")
    if others:
        out.write("other serial ports (not ZigBee sticks): " + ", ".join(
            p.device + (f" ({p.vid_pid})" if p.vid_pid else "") for p in others) + "\n")
    out.write(summary + "\n")
