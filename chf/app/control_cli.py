"""`chf control`: one `CHF:` control line to a hub (a bench's hub by name, or any WAN address), its answer printed.

Answers come as `CHF:OK [text|json]` or `CHF:ERROR reason`; `chf control` prints the text (JSON pretty-printed),
or with `--json` pure JSON: the answer's own JSON, `{"ok": true, "answer": TEXT}` for a text answer, and
`{"ok": false, "error": REASON}` for a refusal. Exit status 0 for OK, 1 for a refusal, 2 when nothing answered.
"""

from __future__ import annotations

import argparse
import json
import sys

from chf.app.bench_target import resolve
from chf.remote.hub_link import HubLink, HubLinkError


def _address(args: argparse.Namespace) -> tuple[str, int, str]:
    from chf.runtime.hub_runtime import wan_address

    if args.bench:
        t = resolve(args.bench, args.to)
        return t.host, t.port, f"hub {t.name} at {t.wan}"
    if args.to:
        raise ValueError("--to names a hub of a bench: give --bench FILE too")
    host, port = wan_address(args.wan)
    if port == 0:
        raise ValueError(f"--wan HOST:PORT (port 1-65535) expected, got {args.wan!r}")
    return host, port, args.wan


def cmd_control(args: argparse.Namespace) -> int:
    line = " ".join(args.line).strip()
    if line.upper().startswith("CHF:"):
        line = line[4:]
    if not line:
        print("chf control: give a control line, e.g. HAN, STATE, POWER OFF", file=sys.stderr)
        return 2
    host, port, where = _address(args)
    try:
        with HubLink(host, port) as link:
            answer = link.control(line, args.timeout)
    except HubLinkError as e:
        print(f"chf control: {e}; is `chf run` up there?", file=sys.stderr)
        return 2
    if not answer:
        print(f"chf control: no answer from {where} within {args.timeout:g} s", file=sys.stderr)
        return 2
    ok = answer.startswith("CHF:OK")
    text = answer[len("CHF:OK"):].strip() if ok else answer.split(" ", 1)[1] if " " in answer else answer
    try:
        payload = json.loads(text) if ok and text[:1] in "{[" else None
    except ValueError:
        payload = None
    if args.json:
        out = payload if payload is not None else ({"ok": True, "answer": text} if ok else {"ok": False, "error": text})
        print(json.dumps(out, separators=(",", ":")))
    elif payload is not None:
        print(json.dumps(payload, indent=2))
    elif ok:
        print(text or "OK")
    else:
        print(f"chf control: {where} refused: {text}", file=sys.stderr)
    return 0 if ok else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("control", help="send one CHF: control line (e.g. HAN, STATE, POWER OFF) and print the answer")
    c.add_argument("line", nargs="+", metavar="LINE", help="the control line, with or without its CHF: prefix")
    c.add_argument("--bench", metavar="FILE", help="a running bench's file: address its hub --to NAME")
    c.add_argument("--to", metavar="NAME", help="the bench's hub (a [[hub]] name)")
    c.add_argument("--wan", default="127.0.0.1:4059", metavar="HOST:PORT", help="a hub's WAN address (no --bench)")
    c.add_argument("--json", action="store_true", help="print pure JSON")
    c.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")
    c.set_defaults(func=cmd_control)
