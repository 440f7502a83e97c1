"""`chf run --bench FILE`, `chf run --radio virtual [--meter ...]` and the RTDS rig (`--profile rtds --radio
virtual`): each is a bench (`chf.runtime.bench`) served until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable

from chf.config.bench_file import Bench, BenchFileError, HubSpec, MeterSpec, load
from chf.config.keygen import Pki, ensure_entities, init_keys
from chf.runtime.bench import BenchError, start_bench
from chf.core.errors import ConfigurationError
from chf.runtime.hub_runtime import RunOptions, check_options, wait_for_stop, wan_address
from gbcs.asn1 import DeviceType as AsnType
from gbcs.keys import KeyStore
from zigbee.device_app import DeviceApplication

if TYPE_CHECKING:
    from chf.runtime.bench import RunningBench
    from hw.radio_url import RadioUrl

OnStart = Callable[["RunningBench"], Awaitable[Callable[[], Awaitable[None]]]]
"""Started with the bench once it is up (the dashboard, `chf run --ui`); returns what stops it."""

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


async def _serve(bench: Bench, on_start: OnStart | None = None, **kw: object) -> int:
    try:
        rb = await start_bench(bench, **kw)  # type: ignore[arg-type]
    except (BenchError, BenchFileError, OSError) as e:
        print(f"chf run: {e}", file=sys.stderr)
        return 1
    stop = None
    try:
        if on_start is not None:
            try:
                stop = await on_start(rb)
            except OSError as e:
                print(f"chf run: --ui: {e.strerror or e}", file=sys.stderr)
                return 1
        await wait_for_stop()
    finally:
        if stop is not None:
            await stop()
        await rb.close()
    return 0


def run_bench_file(path: str, disconnect_code: int | None = None, pcap: str | None = None,
                   on_start: OnStart | None = None) -> int:
    """`pcap`: write the whole HAN to that capture file (and its keys to `pcap.keys`) while the bench runs;
    `on_start`: started once the bench is up (the dashboard)."""
    try:
        bench = load(path)
    except BenchFileError as e:
        print(f"chf run: bench file {path}: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(bench, on_start, disconnect_code=disconnect_code, pcap=pcap))


def run_virtual(opts: RunOptions, meters: list[str], time_scale: float | None = None,
                keep_alive_s: float | None = None, gsme_poll_s: float | None = None, pcap: str | None = None,
                on_start: OnStart | None = None) -> int:
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
        applications, specs = rtds_rig_devices(keys_dir, specs, opts.disconnect_code)
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

    return asyncio.run(_serve(bench, on_start, applications=applications, keys_dir=keys_dir, options=options,
                              announce=announce, disconnect_code=opts.disconnect_code, pcap=pcap))


def rtds_rig_devices(keys_dir: Path, extra: list[MeterSpec], disconnect_code: int | None = None,
                     ) -> tuple[dict[bytes, DeviceApplication], list[MeterSpec]]:
    """The RTDS HAN devices (`zigbee.devices.rtds_rig`) as bench meters installed on the RTDS hub, plus `extra`;
    they serve the provisional Disconnect under `disconnect_code` (None: the default)."""
    from zigbee.devices import rtds_rig

    keys = KeyStore.from_directory(keys_dir)
    apps: dict[bytes, DeviceApplication] = {}
    specs: list[MeterSpec] = []
    for d in rtds_rig.DEVICES:
        apps[d.eui] = rtds_rig.build_device(d.eui, keys, disconnect_code=disconnect_code)
        specs.append(MeterSpec(RIG_KINDS.get(d.device_type, "ppmid"), d.eui, rig_install_code(d.eui), joined_to="hub"))
    return apps, specs + extra


async def open_hub_radio(radio: "RadioUrl", state_dir: Path, extended_pan_id: bytes | None,
                         extra: dict[str, object] | None = None) -> object:
    """A started zigpy application for a hub on a stick (`run_hardware`, tests): the radio library's class with
    the hub's mixins, zigpy's database in the hub's state directory (after a restart zigpy still knows the
    devices on the stick's network: short addresses, endpoints, node descriptors, so they need not join again),
    the hub's Smart Energy endpoint, and for a network the stick forms, the hub's Extended PAN ID. A failed
    start closes the database too (no aiosqlite thread may keep the process alive) and raises."""
    from zigbee.zigpy_han import hub_app_class, hub_radio_config

    cls = hub_app_class(radio.controller_class())
    cfg = {**hub_radio_config(extended_pan_id), **(extra or {})}  # `extra` may replace the hub's endpoint
    config = radio.zigpy_config(str(state_dir / "zigpy.db"), **cfg)
    app = await cls.new(config, auto_form=True, start_radio=False)
    try:
        await app.startup(auto_form=True)
    except BaseException:
        await app.shutdown()
        raise
    return app


def run_hardware(opts: RunOptions) -> int:
    """One hub on a ZigBee coordinator stick (`ezsp:`, `znp:`, `deconz:` URLs or `auto`; a real stick, or an
    emulated one a bench serves on `socket://`, `tcp://` or a pty), driven by the unmodified radio library."""
    from chf.runtime.hub_runtime import _serve_tcp, build_hub, wan_limits
    from hw.errors import RadioError
    from hw.open import preflight, translate
    from zigbee.virtual_radio import se_endpoint
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
    if opts.extended_pan_id is None and opts.hub_id:
        # as on a bench: a hub's HAN takes the hub's EUI-64 as its Extended PAN ID (GBCS v0.8.1, informative), so
        # two hubs on sticks of one bench run two networks
        opts = dataclasses.replace(opts, extended_pan_id=opts.hub_id)
    limits = wan_limits(opts)  # --max-connections, --max-per-source, --idle-timeout, --control-from
    hub = build_hub(opts)

    async def main() -> int:
        if radio.kind.value == "auto":
            from hw.auto import resolve_auto
            from hw.ports import list_ports

            r = await resolve_auto(list_ports())
        else:
            r = radio
        assert r.path is not None
        extra = {"additional_endpoints": [se_endpoint()]} if opts.cbke_keys else {}
        try:
            app = await open_hub_radio(r, Path(opts.state), hub.state.extended_pan_id, extra)
        except Exception as e:
            t = translate(r.path, e, r.kind.value)
            print(f"chf run: --radio {opts.radio}: {t}", file=sys.stderr)
            return 1
        server = None
        if opts.cbke_keys:  # UNTESTED ON HARDWARE (docs/cbke.md "A physical GB meter")
            from zigbee.clock import EmulatedClock
            from zigbee.credentials import HUB_SUITES, ZigbeePki
            from zigbee.key_establishment import KeyEstablishmentServer
            from zigbee.virtual_radio import from_ieee

            stick = from_ieee(app.state.node_info.ieee)
            pki = ZigbeePki(opts.cbke_keys)
            ident = pki.load(stick)
            if ident is None:
                print(f"chf run: --cbke-keys {opts.cbke_keys}: no ZigBee certificate for the stick "
                      f"{stick.hex().upper()} (zigbee/{stick.hex().upper()}.json)", file=sys.stderr)
                return 2
            server = KeyEstablishmentServer(pki.identity(stick, suites=tuple(ident.credentials) or HUB_SUITES,
                                                         ca=ident.ca), EmulatedClock(time_scale=1))
        await _serve_tcp(hub, host, port, han=ZigpyHan(app, started=True, key_establishment=server,
                                                       stick_key_import=server is not None),
                         limits=limits)
        return 0

    try:
        return asyncio.run(main())
    except (RadioError, OSError) as e:
        print(f"chf run: --radio {opts.radio}: {e}", file=sys.stderr)
        return 1
