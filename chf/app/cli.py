"""The `chf` command: firmware-developer tools (decode, encode, diff) and, later, the hub itself."""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
from pathlib import Path

from chf.app.inputs import Input, parse_text, read_inputs
from chf.app.inventory_cli import inventory_command
from chf.config import settings
from chf.core.errors import ChfError
from gbcs.errors import DecodeError, EncodeError, GbcsError
from gbcs.gfi import is_gfi
from gbcs.keys import ACB_EUI, KeyStore
from hw.cli import add_radios_parser

# What a JSON frame description can do wrong that the encoder reports as a Python error rather than an
# EncodeError (a number where an object belongs, a negative code, null or non-hex `wire`): all mean "bad input".
_BAD_DESCRIPTION = (AttributeError, TypeError, OverflowError, ValueError, KeyError, IndexError, RecursionError)


def _keystore(args: argparse.Namespace) -> KeyStore | None:
    d = args.keys or os.environ.get("COMMSHUB_KEYS")
    if not d:
        return None
    if Path(d).exists() and not Path(d).is_dir():
        raise GbcsError(f"--keys {d}: is a file; a key directory (RTDS keystore layout) is expected")
    acb = bytes.fromhex(args.acb) if getattr(args, "acb", None) else ACB_EUI
    return KeyStore.from_directory(d, acb=acb)


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode each input: a GBCS frame, or (with `--tunnel`, or when its first byte is a ZCL frame-control byte,
    which no GBCS frame starts with) a ZSE Tunnelling frame with its embedded GBCS frame (`zigbee.tunnel_explain`)."""
    from chf.app.decode_command import run

    return run(args, _keystore(args))


def cmd_encode(args: argparse.Namespace) -> int:
    from gbcs.gfi import encode_line
    from gbcs.message import encode_json

    keys = _keystore(args)
    if args.input != "-" and not Path(args.input).is_file():
        raise GbcsError(f"{args.input}: {'is a directory' if Path(args.input).is_dir() else 'no such file'}")
    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    try:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()] \
            if not text.lstrip().startswith("[") else json.loads(text)
    except RecursionError:
        raise GbcsError(f"{args.input}: JSON nested too deeply to be a frame description") from None
    if not isinstance(docs, list):
        raise GbcsError(f"{args.input}: expected JSON lines or a JSON array of frame descriptions")
    status = 0
    for i, doc in enumerate(docs, 1):
        try:
            if not isinstance(doc, dict):
                raise EncodeError("description", f"a JSON object is expected, got {type(doc).__name__}")
            data, notes = encode_json(doc, keys, sign=not args.keep_signature)
        except (EncodeError, GbcsError) as e:
            print(f"frame {i}: {e}", file=sys.stderr)
            status = 1
            continue
        except _BAD_DESCRIPTION as e:
            print(f"frame {i}: not a valid frame description ({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)
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
    from chf.app.demo import run_demo

    return run_demo()


def cmd_run(args: argparse.Namespace) -> int:
    from chf.runtime.hub_runtime import RunOptions, run

    if args.bench:
        from chf.runtime.run import run_bench_file

        return run_bench_file(args.bench)
    opts = RunOptions(state=args.state, keys=args.keys, hub_id=args.hub_id, profile=args.profile,
                      wan=args.wan, radio=args.radio, faults=args.fault or [], clock=args.clock,
                      manufacturer=args.manufacturer, model=args.model,
                      firmware_version=args.firmware_version, extended_pan_id=args.extended_pan_id,
                      capacity=args.capacity, trust=args.trust or [], fresh=args.fresh,
                      control_from=args.control_from or [], max_connections=args.max_connections,
                      idle_timeout=args.idle_timeout, max_per_source=args.max_per_source,
                      time_scale=args.time_scale, keep_alive_s=args.keep_alive, gsme_poll_s=args.gsme_poll)
    if args.meter and args.radio != "virtual":
        print("chf run: --meter needs --radio virtual (emulated meters live on the virtual radio)", file=sys.stderr)
        return 2
    if args.radio == "virtual":
        from chf.runtime.run import run_virtual

        return run_virtual(opts, args.meter or [])
    if args.radio != "none":
        from chf.runtime.run import run_hardware

        return run_hardware(opts)
    return run(opts)


def cmd_bench(args: argparse.Namespace) -> int:
    from chf.config.bench_file import EXAMPLE

    sys.stdout.write(EXAMPLE)
    return 0


def _sender(args: argparse.Namespace):
    from chf.config.keygen import Pki
    from chf.core.identity import PROFILES
    from chf.remote.commands import RemoteParty

    keys_dir = Path(args.keys or Path(args.state) / "keys")
    pki = Pki.load(keys_dir)
    if args.profile not in PROFILES:
        raise EncodeError("--profile", f"{args.profile!r} is not a profile (choose from {', '.join(PROFILES)})")
    hub = bytes.fromhex(args.hub) if args.hub else (pki.eui("hub") if pki else PROFILES[args.profile].eui)
    acb = bytes.fromhex(args.originator) if args.originator else (pki.eui("acb") if pki else ACB_EUI)
    sup = None if args.supplier == "none" else bytes.fromhex(args.supplier) if args.supplier else \
        (pki.eui("supplier") if pki else bytes.fromhex("90B3D51F30010000"))
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    return RemoteParty(keys, acb, hub, sup, _counters(args))


def _counters(args: argparse.Namespace):
    """`--counters FILE` (its directory must exist: a typo makes no tree), else STATE/send-counters.json (the
    state directory is made if need be, not its parents)."""
    from chf.remote.commands import CounterFile

    if args.counters:
        return CounterFile(args.counters)
    return CounterFile(Path(args.state) / "send-counters.json", make_parent=True)


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
    from chf.core.device_log import DeviceType
    from chf.remote import commands

    uc = args.use_case.upper().replace("ECS26I", "ECS26i").replace("ECS26N", "ECS26n") \
        .replace("ECS35C", "ECS35c").replace("ECS35D", "ECS35d")
    if uc == "CCS01":
        dtype = args.device_type
        names = {t.name.lower(): t.value for t in DeviceType}
        if dtype.isdigit() and int(dtype) <= 255:
            dt = int(dtype)
        elif dtype.lower() in names:
            dt = names[dtype.lower()]
        else:
            raise EncodeError("--device-type", f"{dtype!r}: choose from {', '.join(names)} or a number 0-255")
        return commands.ccs01(_hexarg(args.device, 8, "--device"), _hexarg(args.install_code, 16, "--install-code"),
                              dt, args.join_timeout)
    if uc == "CCS02":
        return commands.ccs02(_hexarg(args.device, 8, "--device"))
    if uc == "CCS03":
        if args.from_backup:
            # SR 8.16: the meter's entry cut from a CHF Device Log: a CS14/CCS07 frame (file, hex) or SR 8.16's
            # base64 form of the log (docs/inventory.md)
            from chf.remote.inventory.chf_device_log import ChfDeviceLogError, parse_chf_device_log
            device = _hexarg(args.device, 8, "--device")
            text = args.from_backup
            if len(text) < 4096 and not set(text) <= set(string.hexdigits):  # not a literal frame: maybe a file
                try:
                    if Path(text).is_file():
                        text = Path(text).read_text()
                except OSError:
                    pass
            try:
                epid, rows = parse_chf_device_log(text).entry_for(device)
            except ChfDeviceLogError as e:
                raise EncodeError("--from", str(e)) from None
            return commands.ccs03(_hexarg(args.epid, 8, "--epid") if args.epid else epid, rows)
        entries = []
        for e in args.entry or []:
            eui, _, h = e.partition(":")
            entries.append((_hexarg(eui, 8, "--entry EUI"), bytes.fromhex(h)))
        return commands.ccs03(_hexarg(args.epid, 8, "--epid"), entries)
    if uc in commands.BUILDERS:
        return commands.BUILDERS[uc]()
    raise EncodeError("use case", f"{args.use_case!r}: choose from {', '.join(commands.BUILDERS)}")


def _is_meter_use_case(args: argparse.Namespace) -> bool:
    from chf.remote.meter_commands import USE_CASES

    uc = args.use_case.upper()
    return uc in USE_CASES and (uc != "ECS52" or args.device is not None)


def _meter_command(args: argparse.Namespace) -> bytes:
    """A meter-side command, sent as the supplier by default (as RTDS's meter commands are), or as the ACB on
    the supplier's behalf with `--originator ACB_EUI`; critical ones signed with the originator's DS key."""
    from chf.config.keygen import Pki
    from chf.remote import meter_commands as mc

    keys_dir = Path(args.keys or Path(args.state) / "keys")
    pki = Pki.load(keys_dir)
    supplier = bytes.fromhex(args.supplier) if args.supplier and args.supplier != "none" else \
        (pki.eui("supplier") if pki else bytes.fromhex("90B3D51F30010000"))
    acb = pki.eui("acb") if pki else ACB_EUI
    originator = bytes.fromhex(args.originator) if args.originator else supplier
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    sender = mc.MeterSender(keys, originator, supplier if originator != supplier else None)
    counter = _counters(args).next(originator)
    cert = None
    if args.certificate:
        src = read_inputs([args.certificate])[0]
        if src.data is None:
            raise EncodeError("--certificate", str(src.error))
        cert = src.data
    return mc.build(sender, _hexarg(args.device, 8, "--device"), args.use_case, counter,
                    other=_hexarg(args.other, 8, "--other") if args.other else None,
                    other_type=args.other_type, certificate=cert, meter_type=args.meter_type)


def _inventory(args: argparse.Namespace):
    from chf.remote.inventory import Inventory, default_path

    return Inventory(default_path(args.state, args.counters), make_parent=not args.counters)


def _inventory_check(args: argparse.Namespace, frame: bytes) -> None:
    """Advisory notes from the inventory mirror; MP178: it never blocks a command."""
    if args.no_inventory:
        return
    try:
        with _inventory(args) as inv:
            for note in inv.check(frame):
                print(f"chf send: note (inventory, not blocking): {note}", file=sys.stderr)
    except Exception as e:
        print(f"chf send: inventory not consulted: {e}", file=sys.stderr)


def _inventory_observe(args: argparse.Namespace, frame: bytes, received: list[bytes]) -> None:
    """Update the inventory mirror from the command and every response/CS14 alert that came back."""
    if args.no_inventory:
        return
    try:
        with _inventory(args) as inv:
            inv.observe(frame, received, mpxns=args.mpxn or ())
    except Exception as e:
        print(f"chf send: inventory not updated: {e}", file=sys.stderr)


def cmd_send(args: argparse.Namespace) -> int:
    from chf.remote.client import send
    from chf.runtime.hub_runtime import wan_address
    from gbcs import message
    from gbcs.explain import explain

    try:
        host, port = wan_address(args.wan)
    except ValueError:
        port = 0
    if port == 0:
        print(f"chf send: --wan HOST:PORT (port 1-65535) expected, got {args.wan!r}", file=sys.stderr)
        return 2
    settings.check("wait_s", args.wait, "--wait")  # ranges: chf.config.settings (SettingError is a ValueError)
    settings.check("join_timeout", args.join_timeout, "--join-timeout")
    if args.raw:
        if args.raw.startswith("@") and not Path(args.raw[1:]).is_file():  # a FIFO or device would block
            what = "is a directory" if Path(args.raw[1:]).is_dir() else "does not exist" \
                if not Path(args.raw[1:]).exists() else "is not a regular file (a FIFO or device would block)"
            print(f"chf send: --raw {args.raw}: {what}", file=sys.stderr)
            return 2
        text = Path(args.raw[1:]).read_text() if args.raw.startswith("@") else args.raw
        if not is_gfi(text) and not set("".join(text.split())) <= set(string.hexdigits):
            print("chf send: --raw takes hex digits or a GFI line (GBCS:DATA#0:...)", file=sys.stderr)
            return 2
        items = parse_text(text, "raw")
        if items[0].data is None:
            print(f"chf send: --raw: {items[0].error}", file=sys.stderr)
            return 2
        frame = items[0].data
    elif args.use_case and _is_meter_use_case(args):
        frame = _meter_command(args)
    elif args.use_case:
        frame = _sender(args).build(_build_use_case(args))
    else:
        print("chf send: give a use case (e.g. CCS01) or --raw", file=sys.stderr)
        return 2
    _inventory_check(args, frame)
    ex = send(host, port, frame, wait=args.wait)
    _inventory_observe(args, frame, ex.received)
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
    from chf.config.keygen import init_keys

    if not args.dir.strip():
        print("chf keys init: DIR is empty: name the directory to write the PKI into", file=sys.stderr)
        return 2
    pki = init_keys(args.dir, overwrite=args.force)
    print(f"test PKI written to {args.dir}: hub {pki.hub}, ACB {pki.acb}, supplier {pki.supplier}, "
          f"network operator {pki.network_operator}, ESME {pki.esme}, GSME {pki.gsme}")
    return 0


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not 1 or more")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chf", description="GB Communications Hub Function emulator and GBCS tools")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decode", help="decode, verify and explain GBCS frames and the tunnel frames carrying them")
    d.add_argument("inputs", nargs="+", metavar="FILE|HEX|-",
                   help="frames as files, literal hex/base64/GFI text, or - for stdin")
    d.add_argument("--keys", metavar="DIR", help="key directory (RTDS layout); default $COMMSHUB_KEYS")
    d.add_argument("--acb", metavar="EUI", help="Access Control Broker EUI-64 (default 90B3D51F30000002)")
    d.add_argument("--json", action="store_true", help="one JSON object per frame, one per line")
    d.add_argument("--tunnel", "--zcl", action="store_true",
                   help="inputs are ZSE Tunnelling (0x0704) ZCL frames; without it, an input whose first byte is a "
                        "ZCL frame-control byte (reserved bits clear, never DD/DF/E0) is taken for one")
    d.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                   help="worker processes for large batches of GBCS frames (default: one per CPU; output order "
                        "and bytes are those of --jobs 1)")
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
    r.add_argument("--radio", default="none",
                   help="HAN radio: none (no HAN), virtual (emulated meters), ezsp:/dev/ttyUSB0, znp:PATH, deconz:PATH, "
                        "socket://HOST:PORT forms, or auto (the one detected stick)")
    r.add_argument("--meter", action="append", metavar="TYPE:EUI:INSTALL_CODE",
                   help="an emulated meter in factory state on the virtual radio (esme, gsme, ppmid, ihd; repeatable)")
    r.add_argument("--time-scale", type=float, default=1.0, metavar="N",
                   help="virtual radio: emulated seconds per real second (default 1)")
    r.add_argument("--keep-alive", type=float, default=30.0, metavar="SECONDS",
                   help="virtual radio: emulated meters' TC keep-alive period (default 30)")
    r.add_argument("--gsme-poll", type=float, default=0.5, metavar="SECONDS",
                   help="virtual radio: how often an emulated GSME polls for queued frames (emulated, default 0.5)")
    r.add_argument("--bench", metavar="FILE", help="run a bench file: several hubs and meters on one virtual radio "
                                                  "(`chf bench example` prints one)")
    r.add_argument("--fault", action="append", metavar="SPEC",
                   help="CLASS/OBIS/aN=RESULT or mN=RESULT[,once], repeatable")
    r.add_argument("--clock", default="real", help="real or fixed:ISO8601")
    r.add_argument("--trust", action="append", metavar="EUI=ROLE",
                   help="trust another remote party: supplier, network_operator, access_control_broker, "
                        "load_controller (repeatable)")
    r.add_argument("--fresh", action="store_true",
                   help="start with empty state even though this state directory was used before (its database "
                        "is missing, empty or replaced): the anti-replay counters are lost")
    r.add_argument("--control-from", action="append", metavar="CIDR[,CIDR]",
                   help="widen the CHF: control channel beyond loopback (repeatable); 'serial' opens it on a serial "
                        "WAN line, 'none' closes it to everyone")
    r.add_argument("--max-connections", type=int, metavar="N", help="WAN connection cap, 1-65536 (default 256)")
    r.add_argument("--max-per-source", type=int, metavar="N",
                   help="WAN connections one source address may hold (default a quarter of the cap)")
    r.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="close a WAN connection that sends no frame for this long, 0.1-86400 (default 300)")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("send", help="send a command to a hub as a remote party and print what comes back")
    s.add_argument("use_case", nargs="?", help="to the hub: CCS01, CCS02, CCS03, CCS05, CCS06, CCS07, ECS26i, "
                   "ECS26n, ECS35c, ECS35d, ECS52; to a meter (--device METER): CS03A1, CS03A2, CS03B, CS03C, "
                   "CS04AC, CS04B, CS07, DISCONNECT, ECS52, GCS38, CS08")
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
    s.add_argument("--device", metavar="EUI", help="the device a CCS01/02/03 names, or the meter a meter use case is for")
    s.add_argument("--other", metavar="EUI", help="CS03x/CS04x: the other device to join or unjoin")
    s.add_argument("--other-type", metavar="TYPE", help="CS03x: gsme, esme, gpf, hcalcs, ppmid, type2 or a number")
    s.add_argument("--certificate", metavar="FILE|HEX", help="CS03C: the other device's certificate (DER)")
    s.add_argument("--meter-type", metavar="TYPE", help="IDENTITY: esme, gsme, ppmid or ihd (picks the read)")
    s.add_argument("--install-code", metavar="HEX16")
    s.add_argument("--device-type", default="esme", help="esme, gsme, hc_alcs, ihd, cad, ppmid, gpf or a number")
    s.add_argument("--join-timeout", type=int, default=90, metavar="SECONDS")
    s.add_argument("--epid", metavar="EUI", help="CCS03 Extended PAN ID")
    s.add_argument("--entry", action="append", metavar="EUI:HASH", help="CCS03 entry, repeatable")
    s.add_argument("--from", dest="from_backup", metavar="FILE|HEX|BASE64",
                   help="CCS03 (SR 8.16): take --device's entry and the EPID from a CHF Device Log: a CS14 alert or "
                        "CCS07 response (file or hex), or SR 8.16's base64-encoded CHF Device Log")
    s.add_argument("--mpxn", action="append", metavar="MPxN",
                   help="SR 8.11/8.16: the MPAN/MPRN linked to the meter (recorded in the inventory mirror)")
    s.add_argument("--no-inventory", action="store_true",
                   help="do not consult or update the inventory mirror (STATE/inventory.sqlite)")
    s.set_defaults(func=cmd_send)

    b = sub.add_parser("bench", help="bench files (several hubs and meters on one virtual radio)")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    be = bsub.add_parser("example", help="print a working bench file (two hubs, an ESME, a GSME and a PPMID)")
    be.set_defaults(func=cmd_bench)

    sub.add_parser("inventory", help="the inventory mirror: show, reconcile, set, rules (chf inventory --help)")

    k = sub.add_parser("keys", help="key material")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ki = ksub.add_parser("init", help="make a test PKI (hub, meters, ACB, supplier, network operator)")
    ki.add_argument("dir", metavar="DIR")
    ki.add_argument("--force", action="store_true")
    ki.set_defaults(func=cmd_keys)
    add_radios_parser(sub)
    from chf.app.triage_cli import add_parser as add_triage_parser

    add_triage_parser(sub)
    return p


DISCONNECT_CODE_ENV = "COMMSHUB_DISCONNECT_CODE"  # provisional SECMP0013 Disconnect message code (decimal or 0x-hex)
ASN1_CACHE_ENV = "COMMSHUB_ASN1_CACHE"  # 0/off/no/false: no ASN.1 schema cache


def configure_codec(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Pass the user's configuration to the codec: the ASN.1 schema cache in the user's cache directory
    ($XDG_CACHE_HOME/commshub, else ~/.cache/commshub) unless COMMSHUB_ASN1_CACHE=0, and the Disconnect code."""
    from gbcs.asn1 import _schema, set_disconnect_message_code

    if environ.get(ASN1_CACHE_ENV, "1").lower() not in ("0", "off", "no", "false"):
        xdg = environ.get("XDG_CACHE_HOME")
        _schema.set_cache_dir((Path(xdg) if xdg else Path.home() / ".cache") / "commshub")
    raw = environ.get(DISCONNECT_CODE_ENV)
    if raw:
        try:
            set_disconnect_message_code(int(raw.strip(), 0))
        except (TypeError, ValueError) as e:
            print(f"chf: ignoring {DISCONNECT_CODE_ENV}={raw!r}: {e}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inventory"]:  # its own parser (chf/remote/inventory/cli.py); live reads from a running bench
        from chf.remote.inventory_live import read_bench_logs

        configure_codec()
        return inventory_command(argv[1:], read_bench_logs)
    args = build_parser().parse_args(argv)
    configure_codec()
    try:
        return args.func(args)
    except ChfError as e:  # library code raises; only here does a failure become a message and an exit status
        print(f"chf {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except (GbcsError, OSError, json.JSONDecodeError, ValueError) as e:
        print(f"chf {args.command}: {e}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"chf {args.command}: input nested too deeply", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
