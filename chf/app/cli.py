"""The `chf` command: firmware-developer tools (decode, encode, diff) and, later, the hub itself."""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
from pathlib import Path
from typing import Any

from chf.app.inputs import Input, parse_text, read_inputs
from chf.app.tables import print_table
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

    if args.pcap:  # the GBCS frames of ZigBee captures (docs/wireshark.md), after any frames given as inputs
        from chf.app.decode_pcap import run_pcap

        keys = _keystore(args)
        return max(run(args, keys) if args.inputs else 0, run_pcap(args, keys))
    if args.zigbee_keys:
        print("chf decode: --zigbee-keys goes with --pcap CAP", file=sys.stderr)
        return 2
    if not args.inputs:
        print("chf decode: give frames (FILE, HEX or -) or --pcap CAP", file=sys.stderr)
        return 2
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
            trees.append(explain(message.decode(item.data, keys, disconnect_code=args.disconnect_code), item.data))
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

    return run_demo(args.disconnect_code, args.pcap)


def cmd_run(args: argparse.Namespace) -> int:
    from chf.runtime.hub_runtime import RunOptions, run

    if args.pcap and not args.bench and args.radio != "virtual":
        print("chf run: --pcap captures the virtual HAN: it needs --bench FILE or --radio virtual", file=sys.stderr)
        return 2
    on_start = None
    if args.ui:
        if not args.bench and args.radio != "virtual":
            print("chf run: --ui shows a bench: it needs --bench FILE or --radio virtual", file=sys.stderr)
            return 2
        from chf.app.dashboard.server import dashboard_starter

        try:
            on_start = dashboard_starter(args.ui, args.control_from or [], args.disconnect_code)
        except ValueError as e:
            print(f"chf run: {e}", file=sys.stderr)
            return 2
    if args.bench:
        from chf.runtime.run import run_bench_file

        return run_bench_file(args.bench, disconnect_code=args.disconnect_code, pcap=args.pcap, on_start=on_start)
    opts = RunOptions(state=args.state, keys=args.keys, hub_id=args.hub_id, profile=args.profile,
                      wan=args.wan, radio=args.radio, faults=args.fault or [], clock=args.clock,
                      manufacturer=args.manufacturer, model=args.model,
                      firmware_version=args.firmware_version, extended_pan_id=args.extended_pan_id,
                      capacity=args.capacity, trust=args.trust or [], fresh=args.fresh,
                      control_from=args.control_from or [], max_connections=args.max_connections,
                      idle_timeout=args.idle_timeout, disconnect_code=args.disconnect_code,
                      cbke_keys=args.cbke_keys, max_per_source=args.max_per_source,
                      time_scale=args.time_scale, keep_alive_s=args.keep_alive, gsme_poll_s=args.gsme_poll)
    if args.cbke_keys and args.radio in ("none", "virtual"):
        print("chf run: --cbke-keys is for a stick (--radio ezsp:/znp:/...); the virtual radio runs CBKE on a bench",
              file=sys.stderr)
        return 2
    if args.meter and args.radio != "virtual":
        print("chf run: --meter needs --radio virtual (emulated meters live on the virtual radio)", file=sys.stderr)
        return 2
    if args.radio == "virtual":
        from chf.runtime.run import run_virtual

        return run_virtual(opts, args.meter or [], pcap=args.pcap, on_start=on_start)
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
    from chf.remote.commands import CounterFile, RemoteParty

    keys_dir = _keys_dir(args)
    pki = Pki.load(keys_dir)
    if args.profile not in PROFILES:
        raise EncodeError("--profile", f"{args.profile!r} is not a profile (choose from {', '.join(PROFILES)})")
    hub = _hexarg(args.hub, 8, "--hub") if args.hub else (pki.eui("hub") if pki else PROFILES[args.profile].eui)
    acb = _hexarg(args.originator, 8, "--originator") if args.originator else (pki.eui("acb") if pki else ACB_EUI)
    sup = None if args.supplier == "none" else _hexarg(args.supplier, 8, "--supplier") if args.supplier else \
        (pki.eui("supplier") if pki else bytes.fromhex("90B3D51F30010000"))
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    counters = CounterFile(_counters_path(args), make_parent=not args.counters)
    return RemoteParty(keys, acb, hub, sup, counters)


def _hexarg(v: str | None, n: int, name: str) -> bytes:
    """`n` bytes written as 2n hex digits; the error says which of the two is wrong (digits or their number)."""
    if v is None:
        raise EncodeError(name, "is required for this use case")
    digits = "".join(v.split())
    bad = sorted({c for c in digits if c not in string.hexdigits})
    what = "an EUI-64" if n == 8 else f"{n} bytes"
    if bad:
        raise EncodeError(name, f"{v!r} is not hex (has {', '.join(repr(c) for c in bad)}): {what} is {2 * n} hex "
                                f"digits")
    if len(digits) != 2 * n:
        raise EncodeError(name, f"{v!r} has {len(digits)} hex digit(s): {what} is {2 * n}")
    return bytes.fromhex(digits)


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
    if uc == "CCS04":  # the registry's other name for the legacy read 0x0004 (CCS05/CCS04)
        uc = "CCS05"
    if uc in commands.BUILDERS:
        return commands.BUILDERS[uc]()
    raise EncodeError("use case", _unknown_use_case(args.use_case))


def _unknown_use_case(given: str) -> str:
    """Which use cases `chf send` takes, for the hub and (with --device) for a meter, and the nearest ones."""
    import difflib

    from chf.remote import commands
    from chf.remote.meter_commands import USE_CASES

    hub = [*commands.BUILDERS, "CCS04"]
    meter = [*(u for u in USE_CASES if u != "ECS52"), "IDENTITY"]
    near = difflib.get_close_matches(given.upper(), [u.upper() for u in hub + meter], n=3, cutoff=0.6)
    names = {u.upper(): u for u in hub + meter}
    hint = f"; did you mean {' or '.join(names[n] for n in near)}?" if near else "."
    return (f"{given!r} is not a use case chf send builds{hint} To the hub: {', '.join(hub)}; to a meter (with "
            f"--device METER): {', '.join(meter)}, ECS52")


def _is_meter_use_case(args: argparse.Namespace) -> bool:
    from chf.remote.meter_commands import USE_CASES

    uc = args.use_case.upper()
    return (uc in USE_CASES or uc == "IDENTITY") and (uc != "ECS52" or args.device is not None)


def _meter_command(args: argparse.Namespace) -> bytes:
    """A meter-side command, sent as the supplier by default (as RTDS's meter commands are), or as the ACB on
    the supplier's behalf with `--originator ACB_EUI`; critical ones signed with the originator's DS key."""
    from chf.config.keygen import Pki
    from chf.remote import meter_commands as mc
    from chf.remote.commands import CounterFile

    device = _hexarg(args.device, 8, "--device")
    keys_dir = _keys_dir(args)
    pki = Pki.load(keys_dir)
    supplier = _hexarg(args.supplier, 8, "--supplier") if args.supplier and args.supplier != "none" else \
        (pki.eui("supplier") if pki else bytes.fromhex("90B3D51F30010000"))
    acb = pki.eui("acb") if pki else ACB_EUI
    originator = _hexarg(args.originator, 8, "--originator") if args.originator else supplier
    keys = KeyStore.from_directory(keys_dir, acb=acb)
    sender = mc.MeterSender(keys, originator, supplier if originator != supplier else None)
    counter = CounterFile(_counters_path(args), make_parent=not args.counters).next(originator)
    cert = None
    if args.certificate:
        src = read_inputs([args.certificate])[0]
        if src.data is None:
            raise EncodeError("--certificate", str(src.error))
        cert = src.data
    return mc.build(sender, device, args.use_case, counter,
                    other=_hexarg(args.other, 8, "--other") if args.other else None,
                    other_type=args.other_type, certificate=cert, meter_type=args.meter_type,
                    disconnect_code=args.disconnect_code)


def _state_dir(args: argparse.Namespace) -> Path | None:
    """`chf send`'s state directory: --state (created when needed), else ./state when it exists, else none: a
    directory is never created where `chf send` happens to run."""
    if args.state:
        return Path(args.state)
    return Path("state") if Path("state").is_dir() else None


def _keys_dir(args: argparse.Namespace) -> Path:
    return Path(args.keys) if args.keys else (_state_dir(args) or Path("state")) / "keys"


def _counters_path(args: argparse.Namespace) -> Path | None:
    """Where the originator counters are kept (None: in memory; they are time-based, so none is ever replayed)."""
    if args.counters:
        return Path(args.counters)
    state = _state_dir(args)
    return state / "send-counters.json" if state is not None else None


def _inventory_path(args: argparse.Namespace) -> Path | None:
    """The inventory mirror beside the counters (`--bench`: beside the bench file, where triage keeps it too)."""
    from chf.remote.inventory import default_path

    counters = _counters_path(args)
    return default_path(counters.parent, counters) if counters is not None else None


def _no_state_note(args: argparse.Namespace) -> None:
    if args.no_inventory or _counters_path(args) is not None:
        return
    print("chf send: note: no ./state here and no --state, --counters or --bench: the originator counters are "
          "time-based (nothing is replayed) and no inventory mirror is kept; to keep them, give --state DIR "
          "(created if need be), --counters FILE, or --bench FILE --to NAME", file=sys.stderr)


def _inventory(args: argparse.Namespace):
    from chf.remote.inventory import Inventory

    path = _inventory_path(args)
    if path is None:
        raise FileNotFoundError("no state directory")
    return Inventory(path, disconnect_code=args.disconnect_code, make_parent=not args.counters)


def _inventory_check(args: argparse.Namespace, frame: bytes) -> None:
    """Advisory notes from the inventory mirror; MP178: it never blocks a command."""
    if args.no_inventory or _inventory_path(args) is None:
        return
    try:
        with _inventory(args) as inv:
            for note in inv.check(frame):
                print(f"chf send: note (inventory, not blocking): {note}", file=sys.stderr)
    except Exception as e:
        print(f"chf send: inventory not consulted: {e}", file=sys.stderr)


def _inventory_observe(args: argparse.Namespace, frame: bytes, received: list[bytes]) -> None:
    """Update the inventory mirror from the command and every response/CS14 alert that came back."""
    if args.no_inventory or _inventory_path(args) is None:
        return
    try:
        with _inventory(args) as inv:
            inv.observe(frame, received, mpxns=args.mpxn or ())
    except Exception as e:
        print(f"chf send: inventory not updated: {e}", file=sys.stderr)


def cmd_send(args: argparse.Namespace) -> int:
    from chf.app.bench_target import apply_to_send
    from chf.remote.client import send
    from chf.runtime.hub_runtime import wan_address
    from gbcs import message
    from gbcs.explain import explain

    target = apply_to_send(args)
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
        specs = _build_use_case(args)  # the arguments first: a bad --device is named before any key is looked for
        frame = _sender(args).build(specs)
    else:
        print("chf send: give a use case (e.g. CCS01) or --raw", file=sys.stderr)
        return 2
    _no_state_note(args)
    _inventory_check(args, frame)
    added = _ccs01_device(args)
    try:
        ex = send(host, port, frame, wait=args.wait, settle=True,
                  until=None if added is None else lambda got: _join_settled(frame, got, added))
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        print(f"chf send: cannot reach a hub at {host}:{port} ({why.lower()}): is `chf run` up there? "
              f"(--wan HOST:PORT, or --bench FILE --to NAME for a bench's hub)", file=sys.stderr)
        return 2
    if added is not None and ex.settled:
        _note_resent_ccs01(frame, ex.received, added)
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
                print("\n".join(explain(message.decode(f, keys, disconnect_code=args.disconnect_code), f).render()))
            except GbcsError as e:
                print(f"(undecodable: {e}) {f.hex().upper()}")
        else:
            print(f.hex().upper())
    if ex.response is None:
        hint = "" if _is_meter_frame(args) else _who_answers(host, port, frame, target)
        print(f"chf send: no response within {args.wait} s{hint}", file=sys.stderr)
        return 1
    return 0


def _ccs01_device(args: argparse.Namespace) -> bytes | None:
    """The device a `chf send CCS01` adds (None for any other command)."""
    if args.raw or not args.use_case or args.use_case.upper() != "CCS01" or not args.device:
        return None
    try:
        return bytes.fromhex(args.device)
    except ValueError:
        return None


def _cs14s(received: list[bytes]) -> list[bytes]:
    from chf.remote.inventory.logs import CS14_CODE
    from gbcs.frame import decode_frame
    from gbcs.grouping_header import Cra

    out = []
    for f in received:
        try:
            h = decode_frame(f).header
        except GbcsError:
            continue
        if h.cra is Cra.ALERT and h.message_code == CS14_CODE:
            out.append(f)
    return out


def _join_settled(frame: bytes, received: list[bytes], device: bytes) -> bool:
    """After a CCS01: nothing more to wait for once it failed, or once a CS14 holds the device's TC link key hash
    (it joined). Until then the join may still come (`--wait` is the most `chf send` waits)."""
    from chf.remote.client import Exchange
    from chf.remote.triage_steps import _cs14_hash, _success_dlms

    response = Exchange(frame, received).response
    if response is None:
        return False
    return not _success_dlms(response) or any(_cs14_hash(f, device) for f in _cs14s(received))


def _note_resent_ccs01(frame: bytes, received: list[bytes], device: bytes) -> None:
    """A CCS01 that succeeded but raised no CS14 named a device already in the hub's device log: the hub kept the
    entry and discarded the install code (GBCS mapping table CCS01, the re-sent join MP178 relies on). Say so, and
    what to do when the meter was divorced or reset (it has only its install code now)."""
    from chf.remote.client import Exchange
    from chf.remote.triage_steps import _success_dlms

    response = Exchange(frame, received).response
    if response is None or not _success_dlms(response) or _cs14s(received):
        return
    eui = device.hex().upper()
    print(f"chf send: note: no CS14 followed: {eui} was already in the hub's device log, so the hub kept its entry "
          f"and the key it holds and did not use this install code (GBCS CCS01: a device already in the CHF Device "
          f"Log keeps its key). If the meter was divorced or reset, remove it first (chf send CCS02 --device {eui}) "
          f"and send the CCS01 again.", file=sys.stderr, flush=True)


def _is_meter_frame(args: argparse.Namespace) -> bool:
    return not args.raw and bool(args.use_case) and _is_meter_use_case(args)


def _who_answers(host: str, port: int, frame: bytes, target: object) -> str:
    """When a hub command went unanswered: say if the hub at the address is not the one the command named
    ("127.0.0.1:4062 is hub B 02C0FFEE0000B001, not 02C0FFEE0000A001")."""
    from chf.app.bench_target import Target, identity_at
    from gbcs.frame import decode_frame

    try:
        named = decode_frame(frame).header.recipient.hex().upper()
    except GbcsError:
        return ""
    there = identity_at(host, port)
    if there is None or there == named:
        return ""
    names = target.hub_names if isinstance(target, Target) else {}
    if names and named not in names:
        return ""  # a meter command: the hub at the address routes it
    label = f"hub {names[there]} {there}" if there in names else f"hub {there}"
    return f"; {host}:{port} is {label}, not {named} (check --hub and --keys, or address it with --bench FILE --to NAME)"


def cmd_keys(args: argparse.Namespace) -> int:
    from chf.config.keygen import init_keys

    if not args.dir.strip():
        print("chf keys init: DIR is empty: name the directory to write the PKI into", file=sys.stderr)
        return 2
    pki = init_keys(args.dir, overwrite=args.force)
    print(f"test PKI written to {args.dir}: hub {pki.hub}, ACB {pki.acb}, supplier {pki.supplier}, "
          f"network operator {pki.network_operator}, ESME {pki.esme}, GSME {pki.gsme}")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    """`chf keys show DIR EUI`: a device's ZigBee SE certificate(s) from the bench's ZigBee PKI, decoded."""
    import json as _json

    from zigbee.cbke.suites import Suite
    from zigbee.credentials import BENCH_CA, FOREIGN_CA, HUB_SUITES, METER_SUITES, PkiError, ZigbeePki, describe, describe_text

    try:
        eui = bytes.fromhex(args.eui)
    except ValueError:
        eui = b""
    if len(eui) != 8:
        print(f"chf keys show: EUI takes 16 hex digits, got {args.eui!r}", file=sys.stderr)
        return 2
    pki = ZigbeePki(args.dir)
    try:
        ident = pki.load(eui)
        if ident is None and args.issue:
            suites = HUB_SUITES if args.hub else METER_SUITES
            if args.suite:
                suites = tuple(Suite(s) for s in args.suite)
            ident = pki.issue(eui, suites=suites, ca=FOREIGN_CA if args.foreign else BENCH_CA)
        if ident is None:
            print(f"chf keys show: {args.dir} holds no ZigBee certificate for {eui.hex().upper()} (a bench issues "
                  "one at the device's first key establishment; --issue issues one now)", file=sys.stderr)
            return 1
        d = describe(pki, ident)
    except PkiError as e:
        print(f"chf keys show: {e}", file=sys.stderr)
        return 1
    print(_json.dumps(d, indent=2) if args.json else describe_text(d))
    return 0


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not 1 or more")
    return n


class _CommandParser(argparse.ArgumentParser):
    """A `chf` sub-command's parser. With `own_extras=True` it reports the arguments none of its options takes
    itself, under its own usage (`chf inventory: error: unrecognized arguments: …`), where argparse leaves them
    to `chf`'s parser: so `chf inventory` reads exactly as when it had a parser of its own."""

    def __init__(self, *args: Any, own_extras: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.own_extras = own_extras

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = super().parse_known_args(args, namespace)
        if extras and self.own_extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chf", description="GB Communications Hub Function emulator and GBCS tools")
    p.set_defaults(disconnect_code=None)  # main() puts COMMSHUB_DISCONNECT_CODE here (configure_codec)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    d = sub.add_parser("decode", help="decode, verify and explain GBCS frames and the tunnel frames carrying them")
    d.add_argument("inputs", nargs="*", metavar="FILE|HEX|-",
                   help="frames as files, literal hex/base64/GFI text, or - for stdin")
    d.add_argument("--pcap", action="append", metavar="CAP",
                   help="decode the GBCS frames of a ZigBee capture (pcap/pcapng: 802.15.4, TAP or ZEP), repeatable")
    d.add_argument("--zigbee-keys", action="append", metavar="FILE|HEX",
                   help="--pcap: Wireshark's zigbee_pc_keys file or a 32-hex-digit network/link key, repeatable "
                        "(default: CAP.keys when it exists)")
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

    demo_text = ("the showcase (`make run`): two hubs (old, qa) and four emulated devices on one virtual radio, no "
                 "hardware: an ESME installed over the air on the old hub, then a batch triage (SECMP0013) of three "
                 "returned meters on the QA hub")
    m = sub.add_parser("demo", help=demo_text, description=demo_text)
    m.add_argument("--pcap", metavar="CAP", help="where to write the showcase's HAN capture (default: "
                   "<temp>/commshub-demo/han.pcapng) and its keys (CAP.keys)")
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
    r.add_argument("--cbke-keys", metavar="DIR",
                   help="UNTESTED ON HARDWARE. On a stick: run the Smart Energy Key Establishment server on the host "
                        "with the stick's ZigBee certificate and key from DIR (DIR/zigbee/<stick EUI-64>.json and "
                        "ca.json, `chf keys show`), and import each key it establishes into the stick (EZSP "
                        "addOrUpdateKeyTableEntry / importLinkKey, Z-Stack ZDO_SET_LINK_KEY; docs/cbke.md)")
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
    r.add_argument("--pcap", metavar="CAP", help="write the virtual HAN to CAP as real 802.15.4/ZigBee frames (pcapng "
                   "if CAP ends in .pcapng, else pcap) and Wireshark's keys to CAP.keys (docs/wireshark.md)")
    r.add_argument("--ui", metavar="HOST:PORT",
                   help="with --bench or --radio virtual: serve the bench dashboard, a live web page of hubs, meters, "
                        "radio links and frames with the bench's controls, on HOST:PORT (loopback unless "
                        "--control-from widens it; docs/dashboard.md)")
    r.add_argument("--fault", action="append", metavar="SPEC",
                   help="CLASS/OBIS/aN=RESULT or mN=RESULT[,once], repeatable")
    r.add_argument("--clock", default="real",
                   help="real, fixed:ISO8601, or scaled:FACTOR (a hub on a bench's [[ncp]] stick: the bench's "
                        "time_scale, so its windows keep pace with the bench)")
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
    s.add_argument("use_case", nargs="?", help="to the hub: CCS01, CCS02, CCS03, CCS05 (or CCS04: code 0x0004), "
                   "CCS06, CCS07, ECS26i, ECS26n, ECS35c, ECS35d, ECS52; to a meter (--device METER): CS03A1, CS03A2, "
                   "CS03B, CS03C, CS04AC, CS04B, CS07, DISCONNECT, ECS52, GCS38, CS08, or IDENTITY (the identity and "
                   "firmware read of --meter-type)")
    s.add_argument("--wan", default="127.0.0.1:4059", metavar="HOST:PORT")
    s.add_argument("--bench", metavar="FILE", help="a running bench's file: address its hub --to NAME (its WAN address, "
                   "EUI and keys; counters and the inventory mirror beside the file)")
    s.add_argument("--to", metavar="NAME", help="with --bench: the hub (a [[hub]] name)")
    s.add_argument("--raw", metavar="HEX|@FILE", help="send a prebuilt frame")
    s.add_argument("--wait", type=float, default=2.0, metavar="SECONDS")
    s.add_argument("--explain", action="store_true", help="decode what comes back")
    s.add_argument("--state", metavar="DIR", help="where the counters and the inventory mirror are kept (default "
                   "./state when it exists; never created unasked)")
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
    s.add_argument("--meter-type", metavar="TYPE", help="for the IDENTITY use case: esme, gsme, ppmid or ihd (picks "
                   "the read: ECS52, GCS38 or CS08)")
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
                   help="do not consult or update the inventory mirror (inventory.sqlite beside the counters)")
    s.set_defaults(func=cmd_send)

    b = sub.add_parser("bench", help="bench files (several hubs and meters on one virtual radio)")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    be = bsub.add_parser("example", help="print a working bench file (two hubs, an ESME, a GSME and a PPMID)")
    be.set_defaults(func=cmd_bench)

    from chf.app.inventory_cli import add_parser as add_inventory_parser
    from chf.remote.inventory_live import read_bench_logs

    add_inventory_parser(sub, read_bench_logs, own_extras=True)  # live reads (reconcile --bench) from a running bench

    k = sub.add_parser("keys", help="key material")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ki = ksub.add_parser("init", help="make a test PKI (hub, meters, ACB, supplier, network operator)")
    ki.add_argument("dir", metavar="DIR")
    ki.add_argument("--force", action="store_true")
    ki.set_defaults(func=cmd_keys)
    ks = ksub.add_parser("show", help="a device's ZigBee SE certificate (CBKE, ECQV) from a bench PKI, decoded")
    ks.add_argument("dir", metavar="DIR", help="the bench's key directory (its zigbee/ holds the ZigBee PKI)")
    ks.add_argument("eui", metavar="EUI", help="the device's EUI-64, 16 hex digits")
    ks.add_argument("--json", action="store_true", help="the decoded fields as JSON")
    ks.add_argument("--issue", action="store_true", help="issue the certificate now if the device has none yet")
    ks.add_argument("--hub", action="store_true", help="with --issue: a hub's suites (2 and 1); default a meter's (2)")
    ks.add_argument("--suite", type=int, action="append", choices=(1, 2), help="with --issue: this suite (repeatable)")
    ks.add_argument("--foreign", action="store_true", help="with --issue: from the foreign CA no hub trusts")
    ks.set_defaults(func=cmd_keys_show)
    add_radios_parser(sub, show=print_table)
    from chf.app.extcap import add_parser as add_extcap_parser

    add_extcap_parser(sub)
    from chf.app.triage_cli import add_parser as add_triage_parser

    add_triage_parser(sub)
    from chf.app.control_cli import add_parser as add_control_parser

    add_control_parser(sub)
    return p


DISCONNECT_CODE_ENV = "COMMSHUB_DISCONNECT_CODE"  # provisional SECMP0013 Disconnect message code (decimal or 0x-hex)
ASN1_CACHE_ENV = "COMMSHUB_ASN1_CACHE"  # 0/off/no/false: no ASN.1 schema cache


def configure_codec(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """Pass the user's configuration to the codec: the ASN.1 schema cache in the user's cache directory
    ($XDG_CACHE_HOME/commshub, else ~/.cache/commshub) unless COMMSHUB_ASN1_CACHE=0. Returns the provisional
    Disconnect message code of COMMSHUB_DISCONNECT_CODE, checked (None: unset or invalid, the default 0xF013),
    which the commands pass down as `disconnect_code` (the codec keeps no such setting)."""
    from gbcs.asn1 import _schema, disconnect_message_code

    if environ.get(ASN1_CACHE_ENV, "1").lower() not in ("0", "off", "no", "false"):
        xdg = environ.get("XDG_CACHE_HOME")
        _schema.set_cache_dir((Path(xdg) if xdg else Path.home() / ".cache") / "commshub")
    raw = environ.get(DISCONNECT_CODE_ENV)
    if raw:
        try:
            return disconnect_message_code(int(raw.strip(), 0))
        except (TypeError, ValueError) as e:
            print(f"chf: ignoring {DISCONNECT_CODE_ENV}={raw!r}: {e}", file=sys.stderr)
    return None


READER_GONE = 141  # 128 + SIGPIPE: what a shell reports for `cat` or `grep` when the reader of its output has gone


def _reader_gone() -> int:
    """Standard output is a pipe whose reader has gone (`chf decode … | head`): stop writing and end quietly, as
    Unix tools do. Standard output is pointed at /dev/null so that the interpreter's final flush of what is
    still buffered cannot fail again (Python's "Note on SIGPIPE"). The status is 141, the status a shell shows
    for `cat` killed by SIGPIPE, rather than 0: the output is incomplete and the command's own verdict (e.g.
    decode's "every frame verified") was never reached; `set -o pipefail` treats chf like `cat`. SIGPIPE itself
    stays ignored: `chf run` and `chf send` write to sockets, where a dropped peer must be an error, not death."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # standard output has no file descriptor (captured in memory)
        pass
    return READER_GONE


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.disconnect_code = configure_codec()
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a reader gone is seen by the handler below
        return status
    except BrokenPipeError:  # raised where output is written, in this process or a decode worker
        return _reader_gone()
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
