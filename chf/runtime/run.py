"""`chf run --bench FILE`, `chf run --radio virtual [--meter ...]` and the RTDS rig (`--profile rtds --radio
virtual`): each is a bench (`chf.runtime.bench`) served until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from chf.config.bench_file import Bench, BenchFileError, HubSpec, MeterSpec, load
from chf.config.keygen import Pki, ensure_entities, init_keys
from chf.runtime.bench import BenchError, start_bench
from chf.core.errors import ConfigurationError
from chf.runtime.hub_runtime import RunOptions, check_options, wait_for_stop, wan_address
from gbcs.asn1 import DeviceType as AsnType
from gbcs.keys import KeyStore
from zigbee.device_app import DeviceApplication

METER_KINDS = ("esme", "gsme", "ppmid", "ihd")
# The node's radio type for each GBCS device type of the RTDS rig (an HCALCS is mains-powered, like a PPMID)
RIG_KINDS = {AsnType.ESME: "esme", AsnType.GSME: "gsme", AsnType.PPMID: "ppmid", AsnType.HCALCS: "ppmid"}


def parse_meter(text: str) -> MeterSpec:
    """`TYPE:EUI:INSTALL_CODE` (the `--meter` option), e.g. `esme:02C0FFEE000E5E01:83FED3407A9397...`."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0].lower() not in METER_KINDS:
        raise BenchFileError("--meter", f"TYPE:EUI:INSTALL_CODE expected (TYPE one of {', '.join(METER_KINDS)}), "
                                        f"got {text!r}")
    try:
        eui, ic = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        eui, ic = b"", b""
    if len(eui) != 8 or len(ic) != 16:
        raise BenchFileError("--meter", f"EUI takes 16 hex digits and INSTALL_CODE 32, got {text!r}")
    return MeterSpec(parts[0].lower(), eui, ic)


def rig_install_code(eui: bytes) -> bytes:
    """RTDS publishes no install codes: a rig device's code is its EUI-64 twice (rig setup only)."""
    return eui + eui


async def _serve(bench: Bench, **kw: object) -> int:
    try:
        rb = await start_bench(bench, **kw)  # type: ignore[arg-type]
    except (BenchError, BenchFileError, OSError) as e:
        print(f"chf run: {e}", file=sys.stderr)
        return 1
    try:
        await wait_for_stop()
    finally:
        await rb.close()
    return 0


def run_bench_file(path: str) -> int:
    try:
        bench = load(path)
    except BenchFileError as e:
        print(f"chf run: bench file {path}: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(bench))


def run_virtual(opts: RunOptions, meters: list[str], time_scale: float | None = None,
                keep_alive_s: float | None = None, gsme_poll_s: float | None = None) -> int:
    """One hub on a virtual radio with emulated meters (factory state: they join when CCS01 permits them), or,
    with `--profile rtds`, the RTDS HAN joined to the RTDS hub. The clock settings come from `opts` unless given."""
    opts = replace(opts, time_scale=opts.time_scale if time_scale is None else time_scale,
                   keep_alive_s=opts.keep_alive_s if keep_alive_s is None else keep_alive_s,
                   gsme_poll_s=opts.gsme_poll_s if gsme_poll_s is None else gsme_poll_s)
    try:
        check_options(opts)  # every numeric option in range before anything is written
        specs = [parse_meter(m) for m in meters]
    except (BenchFileError, ConfigurationError) as e:
        print(f"chf run: {e}", file=sys.stderr)
        return 2
    try:
        host, port = wan_address(opts.wan)
    except ValueError as e:
        print(f"chf run: {e}", file=sys.stderr)
        return 2
    state = Path(opts.state)
    keys_dir = Path(opts.keys) if opts.keys else state / "keys"
    applications: dict[bytes, DeviceApplication] | None = None
    if opts.profile == "rtds":
        applications, specs = rtds_rig_devices(keys_dir, specs)
        hub_eui = bytes.fromhex("00DB1234567890A2")
    else:
        pki = Pki.load(keys_dir)
        if pki is None and opts.keys is None:
            pki = init_keys(keys_dir)
        if pki is None:
            print(f"chf run: {keys_dir} has no pki.json: emulated meters need the bench PKI layout "
                  f"(`chf keys init DIR`), or use --profile rtds with the RTDS keystore", file=sys.stderr)
            return 2
        ensure_entities(keys_dir, {m.eui: m.type for m in specs})
        hub_eui = bytes.fromhex(opts.hub_id) if opts.hub_id else pki.eui("hub")
    bench = Bench(state / "bench", keys_dir, opts.keep_alive_s, opts.time_scale,
                  (HubSpec("hub", hub_eui, host, port, state),), tuple(specs), gsme_poll_s=opts.gsme_poll_s)

    def options(spec: HubSpec) -> RunOptions:
        return opts

    def announce(line: str) -> None:
        print(line.split(" ", 3)[3] if line.startswith("hub hub ") else line, flush=True)  # "listening on H:P"

    return asyncio.run(_serve(bench, applications=applications, keys_dir=keys_dir, options=options,
                              announce=announce))


def rtds_rig_devices(keys_dir: Path, extra: list[MeterSpec]) -> tuple[dict[bytes, DeviceApplication], list[MeterSpec]]:
    """The RTDS HAN devices (`zigbee.devices.rtds_rig`) as bench meters installed on the RTDS hub, plus `extra`."""
    from zigbee.devices import rtds_rig

    keys = KeyStore.from_directory(keys_dir)
    apps: dict[bytes, DeviceApplication] = {}
    specs: list[MeterSpec] = []
    for d in rtds_rig.DEVICES:
        apps[d.eui] = rtds_rig.build_device(d.eui, keys)
        specs.append(MeterSpec(RIG_KINDS.get(d.device_type, "ppmid"), d.eui, rig_install_code(d.eui), joined_to="hub"))
    return apps, specs + extra


def run_hardware(opts: RunOptions) -> int:
    """One hub on a real coordinator (`ezsp:`, `znp:`, `deconz:` URLs or `auto`), with the SE-profile fix."""
    from chf.runtime.hub_runtime import _serve_tcp, build_hub, wan_limits
    from hw.errors import RadioError
    from hw.open import preflight, translate
    from zigbee.smart_energy import se_app_class
    from zigbee.zigpy_han import ZigpyHan

    try:
        radio = preflight(opts.radio)
    except (RadioError, OSError, ValueError) as e:
        print(f"chf run: --radio {opts.radio}: {e}", file=sys.stderr)
        return 2
    try:
        host, port = wan_address(opts.wan)
    except ValueError as e:
        print(f"chf run: {e}", file=sys.stderr)
        return 2
    limits = wan_limits(opts)  # --max-connections, --max-per-source, --idle-timeout, --control-from
    hub = build_hub(opts)

    async def main() -> int:
        if radio.kind.value == "auto":
            from hw.auto import resolve_auto
            from hw.ports import list_ports

            r = await resolve_auto(list_ports())
        else:
            r = radio
        cls = se_app_class(r.controller_class())
        assert r.path is not None
        try:
            # no zigpy database: the hub's own state is the source of truth, and a failed start must leave no
            # aiosqlite thread behind (it would keep the process alive after the error)
            app = await cls.new(r.zigpy_config(None), auto_form=True)
        except Exception as e:
            t = translate(r.path, e)
            print(f"chf run: --radio {opts.radio}: {t}", file=sys.stderr)
            return 1
        await _serve_tcp(hub, host, port, han=ZigpyHan(app, started=True), limits=limits)
        return 0

    try:
        return asyncio.run(main())
    except (RadioError, OSError) as e:
        print(f"chf run: --radio {opts.radio}: {e}", file=sys.stderr)
        return 1
