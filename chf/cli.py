"""The `chf` command: firmware-developer tools (decode, encode, diff) and, later, the hub itself."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gbcs.errors import DecodeError, EncodeError, GbcsError
from gbcs.keys import ACB_EUI, KeyStore

from .inputs import Input, parse_text, read_inputs


def _keystore(args: argparse.Namespace) -> KeyStore | None:
    d = args.keys or os.environ.get("COMMSHUB_KEYS")
    if not d:
        return None
    acb = bytes.fromhex(args.acb) if getattr(args, "acb", None) else ACB_EUI
    return KeyStore.from_directory(d, acb=acb)


def cmd_decode(args: argparse.Namespace) -> int:
    from gbcs import message
    from gbcs.explain import explain

    keys = _keystore(args)
    failed = 0
    for item in read_inputs(args.inputs):
        if item.data is None:
            failed += 1
            _emit_error(args, item.source, item.error or DecodeError(0, "input", "unreadable"), None)
            continue
        try:
            msg = message.decode(item.data, keys)
        except DecodeError as e:
            failed += 1
            _emit_error(args, item.source, e, len(item.data))
            continue
        if msg.mac.value == "invalid" or msg.signature.value == "invalid":
            failed += 1
        if args.json:
            print(json.dumps(message.to_json(msg, item.data, item.source), separators=(",", ":")))
        else:
            print(f"== {item.source}")
            print("\n".join(explain(msg, item.data).render()))
            print(f"   MAC {msg.mac.value}, signature {msg.signature.value}, "
                  f"round trip {'exact' if message.roundtrips(msg, item.data) else 'DIFFERS'}")
    return 1 if failed else 0


def _emit_error(args: argparse.Namespace, source: str, e: DecodeError, length: int | None) -> None:
    from gbcs.message import error_json

    if args.json:
        print(json.dumps(error_json(source, e, length), separators=(",", ":")))
    else:
        print(f"== {source}\n   error at byte {e.offset}, field {e.field}: {e.reason}")


def cmd_encode(args: argparse.Namespace) -> int:
    from gbcs.gfi import encode_line
    from gbcs.message import encode_json

    keys = _keystore(args)
    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    docs = [json.loads(line) for line in text.splitlines() if line.strip()] if not text.lstrip().startswith("[") \
        else json.loads(text)
    status = 0
    for i, doc in enumerate(docs, 1):
        try:
            data, notes = encode_json(doc, keys, sign=not args.keep_signature)
        except (EncodeError, GbcsError) as e:
            print(f"frame {i}: {e}", file=sys.stderr)
            status = 1
            continue
        for n in notes:
            print(f"frame {i}: {n}", file=sys.stderr)
        if args.format == "gfi":
            sys.stdout.write(encode_line(data).decode())
        elif args.format == "base64":
            import base64
            print(base64.b64encode(data).decode())
        else:
            print(data.hex().upper())
    return status


def cmd_diff(args: argparse.Namespace) -> int:
    from gbcs import message
    from gbcs.diff import diff_trees
    from gbcs.explain import explain

    keys = _keystore(args)
    trees = []
    for arg in (args.a, args.b):
        items = read_inputs([arg]) if Path(arg).is_file() or arg == "-" else parse_text(arg, arg)
        item: Input = items[0]
        if item.data is None:
            print(f"{arg}: {item.error}", file=sys.stderr)
            return 2
        try:
            trees.append(explain(message.decode(item.data, keys), item.data))
        except DecodeError as e:
            print(f"{arg}: error at byte {e.offset}, field {e.field}: {e.reason}", file=sys.stderr)
            return 2
    diffs = diff_trees(trees[0], trees[1])
    for d in diffs:
        oa = "-" if d.offset_a is None else d.offset_a
        ob = "-" if d.offset_b is None else d.offset_b
        print(f"{d.path}\n   A @{oa}: {d.a if d.a is not None else '(absent)'}\n"
              f"   B @{ob}: {d.b if d.b is not None else '(absent)'}")
    if not diffs:
        print("no differences")
    return 1 if diffs else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chf", description="GB Communications Hub Function emulator and GBCS tools")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decode", help="decode, verify and explain GBCS frames")
    d.add_argument("inputs", nargs="+", metavar="FILE|HEX|-",
                   help="frames as files, literal hex/base64/GFI text, or - for stdin")
    d.add_argument("--keys", metavar="DIR", help="key directory (RTDS layout); default $COMMSHUB_KEYS")
    d.add_argument("--acb", metavar="EUI", help="Access Control Broker EUI-64 (default 90B3D51F30000002)")
    d.add_argument("--json", action="store_true", help="one JSON object per frame, one per line")
    d.set_defaults(func=cmd_decode)

    e = sub.add_parser("encode", help="build frames from JSON descriptions (the shape decode --json prints)")
    e.add_argument("input", nargs="?", default="-", metavar="FILE|-",
                   help="JSON lines (or a JSON array) of frame descriptions")
    e.add_argument("--keys", metavar="DIR")
    e.add_argument("--acb", metavar="EUI")
    e.add_argument("--format", choices=("hex", "gfi", "base64"), default="hex")
    e.add_argument("--keep-signature", action="store_true",
                   help="keep the description's signature instead of signing afresh")
    e.set_defaults(func=cmd_encode)

    f = sub.add_parser("diff", help="field-by-field differences between two frames")
    f.add_argument("a", metavar="A")
    f.add_argument("b", metavar="B")
    f.add_argument("--keys", metavar="DIR")
    f.add_argument("--acb", metavar="EUI")
    f.set_defaults(func=cmd_diff)

    m = sub.add_parser("demo", help="build a few frames with fresh test keys and explain them")
    m.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (GbcsError, OSError, json.JSONDecodeError) as e:
        print(f"chf {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
