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
from .inventory.cli import inventory_command


def _keystore(args: argparse.Namespace) -> KeyStore | None:
    d = args.keys or os.environ.get("COMMSHUB_KEYS")
    if not d:
        return None
    acb = bytes.fromhex(args.acb) if getattr(args, "acb", None) else ACB_EUI
    return KeyStore.from_directory(d, acb=acb)


def cmd_decode(args: argparse.Namespace) -> int:
    from gbcs import message
    from gbcs.decryption import decrypt
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
        decrypted = decrypt(msg, keys) if keys is not None else []
        if args.json:
            js = message.to_json(msg, item.data, item.source)
            if decrypted:
                js["decrypted"] = [d.as_dict() for d in decrypted]
            print(json.dumps(js, separators=(",", ":")))
        else:
            print(f"== {item.source}")
            print("\n".join(explain(msg, item.data, decrypted).render()))
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
        items = read_inputs([arg])
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


def cmd_run(args: argparse.Namespace) -> int:
    from .runtime import RunOptions, run

    return run(RunOptions(state=args.state, keys=args.keys, hub_id=args.hub_id, profile=args.profile,
                          wan=args.wan, radio=args.radio, faults=args.fault or [], clock=args.clock,
                          manufacturer=args.manufacturer, model=args.model,
                          firmware_version=args.firmware_version, extended_pan_id=args.extended_pan_id,
                          capacity=args.capacity, trust=args.trust or []))


def _sender(args: argparse.Namespace):
    from .commands import CounterFile, RemoteParty
    from .identity import PROFILES
    from .keygen import Pki

    keys_dir = Path(args.keys or Path(args.state) / "keys")
    pki = Pki.load(keys_dir)
    hub = bytes.fromhex(args.hub) if args.hub else (pki.eui("hub") if pki else PROFILES[args.profile].eui)
    acb = bytes.fromhex(args.originator) if args.originator else (pki.eui("acb") if pki else ACB_EUI)
    sup = None if args.supplier == "none" else bytes.fromhex(args.supplier) if args.supplier else \
        (pki.eui("supplier") if pki else bytes.fromhex("90B3D51F30010000"))
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    counters = CounterFile(args.counters or Path(args.state) / "send-counters.json")
    return RemoteParty(keys, acb, hub, sup, counters)


def _hexarg(v: str | None, n: int, name: str) -> bytes:
    if v is None:
        raise EncodeError(name, "is required for this use case")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise EncodeError(name, f"{v!r} is not hex") from None
    if len(b) != n:
        raise EncodeError(name, f"must be {n} bytes")
    return b


def _build_use_case(args: argparse.Namespace):
    from . import commands
    from .device_log import DeviceType

    uc = args.use_case.upper().replace("ECS26I", "ECS26i").replace("ECS26N", "ECS26n") \
        .replace("ECS35C", "ECS35c").replace("ECS35D", "ECS35d")
    if uc == "CCS01":
        dtype = args.device_type
        dt = int(dtype) if dtype.isdigit() else DeviceType[dtype.upper()].value
        return commands.ccs01(_hexarg(args.device, 8, "--device"), _hexarg(args.install_code, 16, "--install-code"),
                              dt, args.join_timeout)
    if uc == "CCS02":
        return commands.ccs02(_hexarg(args.device, 8, "--device"))
    if uc == "CCS03":
        if args.from_backup:
            from .triage import entry_from_backup
            src = read_inputs([args.from_backup])[0]
            if src.data is None:
                raise EncodeError("--from", str(src.error))
            epid, h = entry_from_backup(src.data, _hexarg(args.device, 8, "--device"))
            return commands.ccs03(bytes.fromhex(args.epid) if args.epid else epid, [(bytes.fromhex(args.device), h)])
        entries = []
        for e in args.entry or []:
            eui, _, h = e.partition(":")
            entries.append((_hexarg(eui, 8, "--entry EUI"), bytes.fromhex(h)))
        return commands.ccs03(_hexarg(args.epid, 8, "--epid"), entries)
    if uc in commands.BUILDERS:
        return commands.BUILDERS[uc]()
    raise EncodeError("use case", f"{args.use_case!r}: choose from {', '.join(commands.BUILDERS)}")


def cmd_send(args: argparse.Namespace) -> int:
    from gbcs import message
    from gbcs.explain import explain

    from .client import send

    host, _, port = args.wan.rpartition(":")
    if args.raw:
        text = Path(args.raw[1:]).read_text() if args.raw.startswith("@") else args.raw
        items = parse_text(text, "raw")
        if items[0].data is None:
            print(f"chf send: --raw: {items[0].error}", file=sys.stderr)
            return 2
        frame = items[0].data
    elif args.use_case:
        frame = _sender(args).build(_build_use_case(args))
    else:
        print("chf send: give a use case (e.g. CCS01) or --raw", file=sys.stderr)
        return 2
    ex = send(host, int(port), frame, wait=args.wait)
    keys = None
    if args.explain:
        try:
            keys = _sender(args).keys
        except GbcsError:
            keys = None
    for f in ex.received:
        if args.explain:
            try:
                print("\n".join(explain(message.decode(f, keys), f).render()))
            except GbcsError as e:
                print(f"(undecodable: {e}) {f.hex().upper()}")
        else:
            print(f.hex().upper())
    if ex.response is None:
        print(f"chf send: no response within {args.wait} s", file=sys.stderr)
        return 1
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from .keygen import init_keys

    pki = init_keys(args.dir, overwrite=args.force)
    print(f"test PKI written to {args.dir}: hub {pki.hub}, ACB {pki.acb}, supplier {pki.supplier}, "
          f"network operator {pki.network_operator}, ESME {pki.esme}, GSME {pki.gsme}")
    return 0


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

    m = sub.add_parser("demo", help="the main job: a hub on embedded defaults and a scripted exchange with it")
    m.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="run a hub: WAN port (GFI over TCP or serial), durable state")
    r.add_argument("--state", default="state", metavar="DIR", help="state directory (default ./state)")
    r.add_argument("--keys", metavar="DIR", help="key directory (default: a fresh PKI in STATE/keys)")
    r.add_argument("--hub-id", metavar="EUI", help="the hub's EUI-64 (default from the profile or pki.json)")
    r.add_argument("--profile", default="default", help="identity profile: default or rtds")
    r.add_argument("--manufacturer", metavar="TEXT", help="override CHManufacturerIdentifier")
    r.add_argument("--model", metavar="TEXT", help="override ModelType(CommsHub), 8 characters")
    r.add_argument("--firmware-version", metavar="HEX4", help="override FirmwareVersion (ECS52)")
    r.add_argument("--extended-pan-id", metavar="HEX8", help="override the HAN's Extended PAN ID (first start)")
    r.add_argument("--capacity", type=int, metavar="N", help="device log capacity (default 16)")
    r.add_argument("--wan", default="127.0.0.1:4059", help="HOST:PORT or serial://DEVICE-or-pyserial-URL")
    r.add_argument("--radio", default="none", help="HAN radio: none (no HAN)")
    r.add_argument("--fault", action="append", metavar="SPEC",
                   help="CLASS/OBIS/aN=RESULT or mN=RESULT[,once], repeatable")
    r.add_argument("--clock", default="real", help="real or fixed:ISO8601")
    r.add_argument("--trust", action="append", metavar="EUI=ROLE",
                   help="trust another remote party: supplier, network_operator, access_control_broker, "
                        "load_controller (repeatable)")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("send", help="send a command to a hub as a remote party and print what comes back")
    s.add_argument("use_case", nargs="?", help="CCS01, CCS02, CCS03, CCS05, CCS06, CCS07, ECS26i, ECS26n, "
                   "ECS35c, ECS35d, ECS52")
    s.add_argument("--wan", default="127.0.0.1:4059", metavar="HOST:PORT")
    s.add_argument("--raw", metavar="HEX|@FILE", help="send a prebuilt frame")
    s.add_argument("--wait", type=float, default=2.0, metavar="SECONDS")
    s.add_argument("--explain", action="store_true", help="decode what comes back")
    s.add_argument("--state", default="state", metavar="DIR")
    s.add_argument("--keys", metavar="DIR", help="key store (default STATE/keys)")
    s.add_argument("--profile", default="default")
    s.add_argument("--hub", metavar="EUI")
    s.add_argument("--originator", metavar="EUI", help="default: the ACB")
    s.add_argument("--supplier", metavar="EUI", help="supplementary remote party, or 'none'")
    s.add_argument("--counters", metavar="FILE", help="originator counter file (default STATE/send-counters.json)")
    s.add_argument("--device", metavar="EUI")
    s.add_argument("--install-code", metavar="HEX16")
    s.add_argument("--device-type", default="esme", help="esme, gsme, hc_alcs, ihd, cad, ppmid, gpf or a number")
    s.add_argument("--join-timeout", type=int, default=90, metavar="SECONDS")
    s.add_argument("--epid", metavar="EUI", help="CCS03 Extended PAN ID")
    s.add_argument("--entry", action="append", metavar="EUI:HASH", help="CCS03 entry, repeatable")
    s.add_argument("--from", dest="from_backup", metavar="FILE|HEX",
                   help="CCS03: take --device's entry and the EPID from a CS14 alert or CCS07 response")
    s.set_defaults(func=cmd_send)

    sub.add_parser("inventory", help="the inventory mirror: show, reconcile, set, rules (chf inventory --help)")

    k = sub.add_parser("keys", help="key material")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ki = ksub.add_parser("init", help="make a test PKI (hub, meters, ACB, supplier, network operator)")
    ki.add_argument("dir", metavar="DIR")
    ki.add_argument("--force", action="store_true")
    ki.set_defaults(func=cmd_keys)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inventory"]:  # its own parser (chf/inventory/cli.py)
        return inventory_command(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (GbcsError, OSError, json.JSONDecodeError, ValueError) as e:
        print(f"chf {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
