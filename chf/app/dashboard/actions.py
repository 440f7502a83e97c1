"""The dashboard's actions on a running bench. Radio power and the emulated clock are the bench's own controls
(`CHF:POWER`, `CHF:ADVANCE`), run on its loop; GBCS commands are sent as the bench's remote party
(`chf.remote.bench_remote.BenchRemote`: the ACB for the supplier, with the bench PKI) over the hub's WAN port,
exactly as `chf send` sends them, so their frames reach the feed through the hub's WAN tap.

Actions: `power` (hub, on), `advance` (seconds), `ccs01` (hub, meter: install a bench meter with its install
code), `cs07` (meter, hub: read the meter's device log), `ccs07` (hub: back up its device logs), `ccs03` (meter,
hub = the old hub to cut the entry from, to = the hub to restore it onto), `disconnect` (meter, hub).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chf.remote.bench_remote import BenchRemote, connect_host
from chf.remote.client import Exchange, send
from gbcs.errors import DecodeError, GbcsError

if TYPE_CHECKING:
    from chf.runtime.bench import RunningBench
    from chf.runtime.dashboard.live import Live

ACTIONS = ("power", "advance", "ccs01", "cs07", "ccs07", "ccs03", "disconnect")
WAIT_S = 20.0  # real seconds a command's response may take (a routed one crosses the HAN)


class ActionError(ValueError):
    """An action the page asked for that cannot be done as asked (unknown hub or meter, missing field)."""


@dataclass
class Actions:
    rb: RunningBench
    live: Live
    counters: Path
    disconnect_code: int | None = None

    def __post_init__(self) -> None:
        self._remote: BenchRemote | None = None

    @property
    def remote(self) -> BenchRemote:
        if self._remote is None:
            try:
                self._remote = BenchRemote(self.rb.bench.keys, self.counters, None, self.disconnect_code)
            except FileNotFoundError as e:
                raise ActionError(f"no bench PKI to send commands with: {e}") from None
        return self._remote

    # ------------------------------------------------------------------------------------------ lookups
    def _hub(self, req: dict, key: str = "hub") -> str:
        name = req.get(key)
        if not isinstance(name, str) or name not in self.rb.hubs:
            raise ActionError(f"{key}: no hub named {name!r} (hubs: {', '.join(self.rb.hubs)})")
        return name

    def _meter(self, req: dict) -> bytes:
        raw = req.get("meter")
        try:
            eui = bytes.fromhex(str(raw))
        except ValueError:
            eui = b""
        if eui not in self.rb.nodes:
            raise ActionError(f"meter: no emulated meter {raw!r}")
        return eui

    def _address(self, name: str) -> tuple[str, int]:
        served = self.rb.hubs[name].served
        if served is None:
            raise ActionError(f"hub {name} has no WAN port")
        return connect_host(served.host), served.port

    # ------------------------------------------------------------------------------------------ running
    async def run(self, req: dict) -> dict[str, Any]:
        """Do one action; {"ok", "text", "received": [use cases]}. An `ActionError` for a request that is wrong."""
        action = req.get("action")
        if action not in ACTIONS:
            raise ActionError(f"action: one of {', '.join(ACTIONS)}, got {action!r}")
        if action == "power":
            return self._power(req)
        if action == "advance":
            return self._advance(req)
        remote = self.remote
        if action == "ccs01":
            hub, eui = self._hub(req), self._meter(req)
            spec = next((m for m in self.rb.bench.meters if m.eui == eui), None)
            if spec is None:
                raise ActionError(f"meter {eui.hex().upper()}: its install code is not in the bench file")
            frame = remote.chf(self.rb.hubs[hub].spec.eui, "CCS01", device=eui, install_code=spec.install_code,
                               device_type=spec.type, join_timeout=int(req.get("join_timeout", 90)))
            return await self._send(hub, frame, f"CCS01 {eui.hex().upper()} ({spec.type}) on hub {hub}")
        if action == "ccs07":
            hub = self._hub(req)
            return await self._send(hub, remote.chf(self.rb.hubs[hub].spec.eui, "CCS07"), f"CCS07 on hub {hub}")
        if action in ("cs07", "disconnect"):
            eui = self._meter(req)
            hub = self._hub(req) if req.get("hub") else self._meters_hub(eui)
            uc = "CS07" if action == "cs07" else "DISCONNECT"
            frame = remote.meter(self.rb.hubs[hub].spec.eui, eui, uc)
            return await self._send(hub, frame, f"{uc} to {eui.hex().upper()} via hub {hub}")
        return await self._ccs03(req)

    def _meters_hub(self, eui: bytes) -> str:
        net = self.rb.nodes[eui].network
        name = self.rb.hub_name(net.hub) if net is not None else None
        if name is None:
            raise ActionError(f"meter {eui.hex().upper()} is on no hub's network: say which hub to send through")
        return name

    def _power(self, req: dict) -> dict[str, Any]:
        hub = self._hub(req)
        eui = self.rb.hubs[hub].spec.eui
        on = req.get("on")
        if on is None:
            on = not self.rb.medium.powered.get(eui, True)
        self.rb.medium.power(eui, bool(on))
        self.live.touch(hub=hub, links=True)
        return {"ok": True, "text": f"hub {hub} radio {'on' if on else 'off'}", "received": []}

    def _advance(self, req: dict) -> dict[str, Any]:
        hub = next(iter(self.rb.hubs))
        d = self.rb.hubs[hub].dispatcher
        assert d is not None
        try:
            text = d.controls["ADVANCE"].handler([str(req.get("seconds", ""))])  # CHF:ADVANCE's checks and words
        except ValueError as e:
            raise ActionError(str(e)) from None
        self.live.touch(links=True)
        return {"ok": True, "text": text.removeprefix("CHF:OK "), "received": []}

    async def _send(self, hub: str, frame: bytes, what: str) -> dict[str, Any]:
        host, port = self._address(hub)
        try:
            ex = await asyncio.to_thread(send, host, port, frame, WAIT_S, 5.0, None, True)
        except OSError as e:
            return {"ok": False, "text": f"{what}: cannot reach hub {hub} at {host}:{port}: {e}", "received": []}
        return self._said(what, ex)

    def _said(self, what: str, ex: Exchange) -> dict[str, Any]:
        received = [self.remote.use_case(f) for f in ex.received]
        r = ex.response
        if r is None:
            return {"ok": False, "text": f"{what}: no response in {WAIT_S:g} s", "received": received}
        return {"ok": True, "text": f"{what}: response {self.remote.use_case(r)}, {len(ex.received)} frame(s) back",
                "received": received, "response": r.hex().upper()}

    async def _ccs03(self, req: dict) -> dict[str, Any]:
        """CCS07 on the old hub, the meter's entry cut from it (SECMP0013's SR 8.16 cut), CCS03 on the new one."""
        from chf.remote.triage import TriageError, entry_from_backup

        eui, old, new = self._meter(req), self._hub(req, "hub"), self._hub(req, "to")
        backup = await self._send(old, self.remote.chf(self.rb.hubs[old].spec.eui, "CCS07"), f"CCS07 on hub {old}")
        if not backup["ok"]:
            return backup
        try:
            epid, hashed = entry_from_backup(bytes.fromhex(backup["response"]), eui)
        except (TriageError, GbcsError, DecodeError) as e:
            return {"ok": False, "text": f"CCS07 on hub {old}: no entry for {eui.hex().upper()} to restore: {e}",
                    "received": backup["received"]}
        frame = self.remote.chf(self.rb.hubs[new].spec.eui, "CCS03", epid=epid, entries=[(eui, hashed)])
        out = await self._send(new, frame, f"CCS03 {eui.hex().upper()} from hub {old} onto hub {new}")
        out["received"] = backup["received"] + out["received"]
        return out

