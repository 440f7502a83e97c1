"""What the bench dashboard shows, as plain JSON built from a `RunningBench` (no browser, no server needed).

Hubs: name, EUI, WAN address, radio powered, channel/PAN/EPID, the CHF Device Log (device, type, join state, TC
link key hash, LQI/RSSI) and Historic Device Log. Meters: EUI, type, radio state in the words `CHF:HAN` uses
(`zigbee.node.NodeState`), network, keep-alive misses and their own device log. Links: who hears whom.

`hub_view` reads the hub's logs under its dispatcher's lock: call it off the loop that drives the radio (a commit
may hold the lock). `meter_view` and `links_view` read the nodes and the medium, which belong to the loop: call
them there; they take no lock and do no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chf.core.device_log import DeviceType as HubDeviceType
from chf.core.install_code import hash_key
from gbcs.chf_objects import status_names

if TYPE_CHECKING:
    from chf.runtime.bench import RunningBench

MAX_DRAWN_LINKS = 8
"""A meter that hears every hub of a big bench (no `hears`): only its own hub's link is drawn beyond this many."""


def _type_name(code: int) -> str:
    try:
        return HubDeviceType(code).name
    except ValueError:
        return f"0x{code:02X}"


def hub_view(rb: RunningBench, name: str) -> dict:
    """One hub as the page shows it (off the radio's loop: it takes the hub's lock)."""
    rh = rb.hubs[name]
    lock = rh.dispatcher.lock if rh.dispatcher is not None else None
    if lock is not None:
        lock.acquire()
    try:
        state = rh.hub.state
        entries = list(state.device_log.entries())
        historic = [(e.eui, e.tc_link_key) for e in state.historic_log.entries()]
        epid = state.extended_pan_id
    finally:
        if lock is not None:
            lock.release()
    radio = _radio(rh)
    served = rh.served
    return {
        "name": name, "eui": rh.spec.eui.hex().upper(),
        "wan": f"{served.host}:{served.port}" if served is not None else f"{rh.spec.host}:{rh.spec.port}",
        "powered": bool(rb.medium.powered.get(rh.spec.eui, True)),
        "channel": radio.get("channel"), "pan_id": radio.get("pan_id"),
        "extended_pan_id": epid.hex().upper() if epid else radio.get("extended_pan_id"),
        "device_log": [{"eui": e.eui.hex().upper(), "device_type": _type_name(e.device_type), "status": int(e.status),
                        "status_names": status_names(int(e.status)), "joined": e.tc_link_key is not None,
                        "hashed_tc_link_key": e.hashed_tc_link_key.hex().upper(),
                        "lqi": e.stats.average_lqi if e.stats.transmission_successes else None,
                        "rssi": e.stats.average_rssi if e.stats.transmission_successes else None}
                       for e in entries],
        "historic_device_log": [{"eui": eui.hex().upper(), "hashed_tc_link_key": hash_key(key).hex().upper()}
                                for eui, key in historic],
    }


def _radio(rh: object) -> dict:
    """Channel, PAN ID and Extended PAN ID of the hub's network (zigpy's network info), or nothing yet."""
    try:
        ni = rh.han.app.state.network_info  # type: ignore[attr-defined]
        return {"channel": int(ni.channel), "pan_id": f"{int(ni.pan_id):04X}",
                "extended_pan_id": bytes(reversed(bytes(ni.extended_pan_id))).hex().upper()}
    except (AttributeError, TypeError, ValueError):
        return {}


def meter_view(rb: RunningBench, eui: bytes) -> dict:
    """One emulated meter: its radio state (`CHF:HAN`'s words), network, keep-alive misses, own device log."""
    n = rb.nodes[eui]
    net = n.network
    log = getattr(n.app, "device_log", None)
    return {
        "eui": eui.hex().upper(), "type": n.device_type.value, "state": n.state.value,
        "network": None if net is None else {"hub": net.hub.hex().upper(), "hub_name": rb.hub_name(net.hub),
                                             "nwk": f"{net.nwk:04X}", "pan_id": f"{net.pan_id:04X}",
                                             "extended_pan_id": net.extended_pan_id.hex().upper()},
        "lqi": n.lqi, "rssi": n.rssi, "keep_alive_misses": n.misses,
        "dead": eui in rb.medium.dead,
        "device_log": log.to_json() if log is not None and hasattr(log, "to_json") else [],
        "install_code_known": any(m.eui == eui for m in rb.bench.meters),
    }


def links_view(rb: RunningBench) -> list[dict]:
    """Who hears whom: one link per meter and hub that can reach each other now (radio powered, in earshot), with
    its LQI/RSSI; `joined` marks the meter's own network. A meter hearing more than `MAX_DRAWN_LINKS` hubs shows
    its own hub's link only (and `heard` says how many it hears)."""
    out: list[dict] = []
    medium = rb.medium
    hubs = [(name, rh.spec.eui) for name, rh in rb.hubs.items()]
    for eui, n in rb.nodes.items():
        own = n.network.hub if n.network is not None else None
        heard = [(name, h) for name, h in hubs if medium.reachable(eui, h)]
        shown = heard if len(heard) <= MAX_DRAWN_LINKS else [(nm, h) for nm, h in heard if h == own]
        for name, h in shown:
            link = medium.link(eui, h)
            out.append({"meter": eui.hex().upper(), "hub": name, "lqi": link.lqi, "rssi": link.rssi,
                        "joined": h == own, "heard": len(heard)})
    return out


def clock_view(rb: RunningBench) -> dict:
    return {"emulated_time": rb.clock.now().isoformat(), "time_scale": rb.clock.time_scale}


def snapshot(rb: RunningBench) -> dict:
    """The whole page's data at once (tests, the first message a page gets); `hub_view`'s rule applies."""
    return {"hubs": [hub_view(rb, name) for name in rb.hubs],
            "meters": [meter_view(rb, eui) for eui in rb.nodes],
            "links": links_view(rb), "clock": clock_view(rb)}
