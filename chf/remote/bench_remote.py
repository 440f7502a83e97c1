"""The bench's remote party: commands as its ACB on behalf of its supplier, with the bench PKI (triage, the
inventory's live reads, the demo). It speaks GBCS over the WAN and knows nothing of the hub's insides."""

from __future__ import annotations

import sys
from pathlib import Path

from chf.config.keygen import Pki
from chf.remote.commands import CounterFile, RemoteParty
from gbcs import codes
from gbcs.chf_objects import DeviceType
from gbcs.errors import DecodeError
from gbcs.frame import decode_frame
from gbcs.keys import KeyStore


class BenchRemote:
    """Commands as the bench's ACB on behalf of its supplier, MAC'd (and signed where critical) with the bench PKI;
    the provisional Disconnect is sent and named under `disconnect_code` (None: the default 0xF013)."""

    def __init__(self, keys_dir: Path, counters: Path, inventory: object | None = None,
                 disconnect_code: int | None = None) -> None:
        pki = Pki.load(keys_dir)
        if pki is None:
            raise FileNotFoundError(f"{keys_dir}/pki.json not found: is the bench running (it creates its keys)?")
        self.pki = pki
        self.keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb"))
        self.counters = CounterFile(counters)
        self.inventory = inventory
        self.disconnect_code = disconnect_code

    def party(self, hub: bytes) -> RemoteParty:
        return RemoteParty(self.keys, self.pki.eui("acb"), hub, self.pki.eui("supplier"), self.counters)

    def chf(self, hub: bytes, use_case: str, **p: object) -> bytes:
        from chf.remote import commands

        if use_case == "CCS01":
            dt = DeviceType[str(p["device_type"]).upper()].value
            specs = commands.ccs01(p["device"], p["install_code"], dt, int(p.get("join_timeout", 90)))  # type: ignore[arg-type]
        elif use_case == "CCS02":
            specs = commands.ccs02(p["device"])  # type: ignore[arg-type]
        elif use_case == "CCS03":
            specs = commands.ccs03(p["epid"], p["entries"])  # type: ignore[arg-type]
        else:
            specs = commands.BUILDERS[use_case]()
        return self.party(hub).build(specs)

    def meter(self, hub: bytes, meter: bytes, use_case: str, **p: object) -> bytes:
        from chf.remote import meter_commands

        supplier = self.pki.eui("supplier")
        return meter_commands.build(meter_commands.MeterSender(self.keys, supplier), meter, use_case,
                                    self.counters.next(supplier), disconnect_code=self.disconnect_code,
                                    **p)  # type: ignore[arg-type]

    def observe(self, sent: bytes, received: list[bytes]) -> None:
        if self.inventory is None:
            return
        try:
            self.inventory.observe(sent, received, keys=self.keys)  # type: ignore[attr-defined]
        except Exception as e:
            print(f"chf triage: inventory not updated: {e}", file=sys.stderr)

    def use_case(self, frame: bytes) -> str:
        try:
            code = decode_frame(frame).header.message_code
        except DecodeError:
            return "?"
        e = codes.lookup(code, self.disconnect_code)
        return e.use_case if e is not None else f"0x{code:04X}"


def connect_host(h: str) -> str:
    """The address to connect to for a hub listening on `h` (a wildcard listen address means this machine)."""
    return "127.0.0.1" if h in ("0.0.0.0", "") else "::1" if h == "::" else h
