"""`reconcile`: the mirror against the device logs the hubs and meters hold — every disagreement and its fix.

Pure: inputs are an `InventoryView` and decoded logs (`logs.HubLogs` from CCS07/CCS06/CS14, `logs.MeterLog` from
CS07); output a list of `Disagreement`s, each with the exact `chf send …` (or `chf inventory set …`) command line
that removes it. Only hubs whose logs were read are judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from chf.remote.inventory.logs import HubLogs, MeterLog
from chf.remote.inventory.model import OFF_HAN_STATUSES, DeviceKind, InventoryView, is_smart_meter


class Kind(str, Enum):
    NOT_IN_INVENTORY = "not in inventory"          # in a hub's log; the mirror does not Associate it with that hub
    NOT_IN_HUB_LOG = "not in hub log"              # Associated with a hub in the mirror; absent from its log
    HASH_CHANGED = "hash changed"                  # the hub's hashed TC link key differs from the last one seen
    METER_LOG_OUT_OF_STEP = "meter log out of step"  # a meter's own log disagrees with its hub or the mirror
    STRANDED_METER = "stranded meter"              # a meter in no hub's log, or naming devices no hub knows
    STATUS_CONTRADICTS_LOGS = "status contradicts logs"  # e.g. 'pending' yet on a hub's whitelist


@dataclass(frozen=True)
class Disagreement:
    kind: Kind
    device: str
    hub: str | None
    detail: str
    fix: str

    def as_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


_TYPE_FLAG = {DeviceKind.ESME: "esme", DeviceKind.GSME: "gsme", DeviceKind.HCALCS: "hc_alcs", DeviceKind.IHD: "ihd",
              DeviceKind.CAD: "cad", DeviceKind.PPMID: "ppmid", DeviceKind.GPF: "gpf", DeviceKind.HHT: "hht"}


def _re_add(eui: str, kind: DeviceKind, install_code: str | None, hub: str) -> str | None:
    if not install_code or kind not in _TYPE_FLAG:
        return None
    return f"chf send CCS01 --device {eui} --install-code {install_code} --device-type {_TYPE_FLAG[kind]} --hub {hub}"


def reconcile(inventory_view: InventoryView, hub_logs: list[HubLogs], meter_logs: list[MeterLog]) \
        -> list[Disagreement]:
    """Every disagreement between the mirror and the logs, hubs first then meters, in a stable order."""
    out: list[Disagreement] = []
    inv = inventory_view.devices
    read = {h.hub: h for h in hub_logs}
    where: dict[str, list[str]] = {}  # device -> hubs whose current log holds it
    for h in hub_logs:
        for e in h.current:
            where.setdefault(e.eui, []).append(h.hub)

    # 1. each hub's log against the mirror
    for h in hub_logs:
        for e in h.current:
            r = inv.get(e.eui)
            if r is not None and r.smi_status in OFF_HAN_STATUSES:
                out.append(Disagreement(
                    Kind.STATUS_CONTRADICTS_LOGS, e.eui, h.hub,
                    f"SMI Status '{r.smi_status.value}' but on {h.hub}'s whitelist (after SR 8.15 the supplier "
                    "removes it from the CHF Device Log, SECMP0013 PIA §2.6.1)",
                    f"chf send CCS02 --device {e.eui} --hub {h.hub}"))
                continue
            if r is None or r.chf != h.hub:
                was = "unknown to the inventory" if r is None else \
                    f"the inventory Associates it with {r.chf or 'no CHF'}"
                hash_opt = f" --hash {e.hashed_key or 'empty'}" if e.hashed_key is not None else ""
                out.append(Disagreement(
                    Kind.NOT_IN_INVENTORY, e.eui, h.hub,
                    f"in {h.hub}'s device log; {was} (or remove it from the hub: chf send CCS02 --device {e.eui} "
                    f"--hub {h.hub})",
                    f"chf inventory set --device {e.eui} --chf {h.hub}{hash_opt}"))
                continue
            if e.hashed_key is not None and r.hashed_key is not None and e.hashed_key != r.hashed_key:
                out.append(Disagreement(
                    Kind.HASH_CHANGED, e.eui, h.hub,
                    f"hashed TC link key {e.hashed_key or '(empty)'} in the hub's log, "
                    f"{r.hashed_key or '(empty)'} last seen (a CS14 alert was missed); reading the logs records it",
                    f"chf send CCS07 --hub {h.hub}"))

    # 2. the mirror's associations against the hubs read
    for eui, r in sorted(inv.items()):
        if r.chf is None or r.chf not in read or eui in read[r.chf].current_euis():
            continue
        hub = read[r.chf]
        re_add = _re_add(eui, r.kind, r.install_code, r.chf)
        if is_smart_meter(r.kind) and eui not in where:
            hist = [x.hub for x in hub_logs if x.find_historic(eui)]
            if hist:
                entry = next(x.find_historic(eui) for x in hub_logs if x.find_historic(eui))
                detail = (f"Associated with {r.chf} but in no hub's current log; its TC link key hash is in the "
                          f"historic log of {', '.join(hist)}")
                fix = re_add if re_add and r.chf in hist else \
                    f"chf send CCS03 --epid {read[hist[0]].extended_pan_id} --entry {eui}:{entry.hashed_key} " \
                    f"--hub {r.chf}"
                if not (re_add and r.chf in hist):
                    detail += " (SR 8.16 restore; CCS03 replaces the whole device log: meant for a QA hub)"
                else:
                    detail += " (a re-add lets it re-join with its old key in the first half of the window, CRP535)"
            else:
                detail = f"Associated with {r.chf} but in no hub's current or historic log read: triage it " \
                         "(SECMP0013 §2.6.2)"
                fix = re_add or f"chf inventory set --device {eui} --chf none"
            out.append(Disagreement(Kind.STRANDED_METER, eui, r.chf, detail, fix))
            continue
        elsewhere = where.get(eui)
        detail = f"Associated with {r.chf} in the inventory; not in its device log" + \
                 (f" (it is in {', '.join(elsewhere)}'s)" if elsewhere else "")
        fix = f"chf inventory set --device {eui} --chf {elsewhere[0]}" if elsewhere else \
            (re_add or f"chf inventory set --device {eui} --chf none")
        out.append(Disagreement(Kind.NOT_IN_HUB_LOG, eui, hub.hub, detail, fix))

    # 3. each meter's own log against the hubs and the mirror
    for ml in meter_logs:
        m = ml.meter
        hubs_of_m = where.get(m, [])
        logged = {eui: k for eui, k in ml.entries if k not in (DeviceKind.CHF, DeviceKind.GPF)}
        for eui, k in logged.items():
            holders = where.get(eui, [])
            if not holders:
                out.append(Disagreement(
                    Kind.STRANDED_METER, m, hubs_of_m[0] if hubs_of_m else None,
                    f"its device log names {eui}, which no hub's log holds: the device cannot reach it",
                    f"chf send CS04AC --device {m} --other {eui}"))
            elif hubs_of_m and not set(holders) & set(hubs_of_m):
                out.append(Disagreement(
                    Kind.METER_LOG_OUT_OF_STEP, m, hubs_of_m[0],
                    f"its device log names {eui}, which is on {', '.join(holders)}'s whitelist, not on "
                    f"{hubs_of_m[0]}'s",
                    f"chf send CS04AC --device {m} --other {eui}"))
            else:
                r = inv.get(m)
                if r is None or eui not in r.joined:
                    out.append(Disagreement(
                        Kind.METER_LOG_OUT_OF_STEP, m, hubs_of_m[0] if hubs_of_m else None,
                        f"its device log names {eui}; the inventory does not record that join",
                        f"chf inventory set --device {m} --join {eui}:{k.value}"))
        r = inv.get(m)
        for eui, k in sorted((r.joined if r else {}).items()):
            if eui in logged or k in (DeviceKind.CHF, DeviceKind.GPF):
                continue
            if hubs_of_m and set(where.get(eui, [])) & set(hubs_of_m):
                out.append(Disagreement(
                    Kind.METER_LOG_OUT_OF_STEP, m, hubs_of_m[0],
                    f"the inventory records {eui} as joined; the meter's device log does not hold it",
                    f"chf send CS03A1 --device {m} --other {eui} --other-type {k.value}"))
            else:
                out.append(Disagreement(
                    Kind.METER_LOG_OUT_OF_STEP, m, hubs_of_m[0] if hubs_of_m else None,
                    f"the inventory records {eui} as joined; neither the meter's log nor its hub holds it",
                    f"chf inventory set --device {m} --unjoin {eui}"))
    return out
