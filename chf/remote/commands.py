"""The remote-party side: build CHF commands for named use cases, as the ACB on behalf of a supplier.

Shapes follow the RTDS CHF commands (RTDS 8.11_CCS01 and co.): ACB-originated, OI = message code ‖ supplementary remote
party ID ‖ its counter (18 bytes), DLMS invoke-id `20` ‖ counter[5:8] (every RTDS DLMS command), MAC'd with the ACB↔hub
key. Counters are kept increasing in a small JSON file; a new one is at least the current time in
milliseconds (the rule of `SmartDCCInnovation/dccboxed-signing-tool`), so a lost file never causes a replay.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gbcs.chf_objects import (
    DEVICE_ID,
    DEVICE_LOG,
    EVENT_LOG,
    FIRMWARE_VERSION,
    HISTORIC_DEVICE_LOG,
    MANUFACTURER,
    MODEL_TYPE,
    SECURITY_LOG,
)
from gbcs import authentication as auth
from gbcs.axdr import Data
from gbcs.dlms import AccessRequest, RequestSpec, invoke_id_for
from gbcs.frame import Frame, MacHeader
from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField
from gbcs.keys import KeyStore

Specs = tuple[int, list[RequestSpec], list[Data]]


def ccs01(eui: bytes, install_code: bytes, device_type: int = 0, join_timeout: int = 90) -> Specs:
    """Add Device to CHF Device Log: register_device + join_timeout + enable_disable_joining (RTDS 8.11_CCS01)."""
    return 0x0001, [RequestSpec.action(104, DEVICE_LOG, 1), RequestSpec.set(104, DEVICE_LOG, 3),
                    RequestSpec.set(104, DEVICE_LOG, 2)], [
        Data.structure([Data.octet_string(eui), Data.enum(1), Data.octet_string(install_code),
                        Data.enum(device_type)]),
        Data.long_unsigned(join_timeout), Data.boolean(0xFF)]


def ccs02(eui: bytes) -> Specs:
    return 0x0002, [RequestSpec.action(104, DEVICE_LOG, 2)], [Data.octet_string(eui)]


def ccs03(extended_pan_id: bytes, entries: list[tuple[bytes, bytes]]) -> Specs:
    """Restore CHF Device Log: restore_PAN{EPID, [(EUI, hashed TC link key)]} (RTDS 8.12.1_CCS03)."""
    return 0x0003, [RequestSpec.action(104, DEVICE_LOG, 5)], [Data.structure([
        Data.octet_string(extended_pan_id),
        Data.array([Data.structure([Data.octet_string(e), Data.octet_string(h)]) for e, h in entries])])]


def ccs06(legacy_code: bool = False) -> Specs:
    """Read the device log with diagnostics: 0x010F (CCS06) or the legacy 0x0004 (CCS05/CCS04)."""
    return (0x0004 if legacy_code else 0x010F), [RequestSpec.get(104, DEVICE_LOG, 4)], [Data.null()]


def ccs07() -> Specs:
    return 0x00FE, [RequestSpec.action(104, DEVICE_LOG, 4), RequestSpec.action(104, HISTORIC_DEVICE_LOG, 4)], \
        [Data.null(), Data.null()]


def ecs26i() -> Specs:
    return 0x0092, [RequestSpec.get(1, o, 2) for o in (DEVICE_ID, MODEL_TYPE, MANUFACTURER)], [Data.null()] * 3


def ecs26n() -> Specs:
    return 0x00FA, [RequestSpec.get(1, o, 2) for o in (MODEL_TYPE, MANUFACTURER)], [Data.null()] * 2


def ecs52() -> Specs:
    return 0x0059, [RequestSpec.get(1, FIRMWARE_VERSION, 2)], [Data.null()]


def _range(frm: int, to: int) -> Data:
    """range_descriptor as RTDS 6.13_ECS35c sends it: restricting object 0-0:94.44.100.255 attr 2."""
    return Data.structure([
        Data.structure([Data.long_unsigned(1), Data.octet_string(bytes.fromhex("00005E2C64FF")), Data.integer(2),
                        Data.long_unsigned(0)]),
        Data.double_long_unsigned(frm), Data.double_long_unsigned(to), Data.array([])])


def ecs35c(frm: int = 0, to: int = 0xFFFFFFFF) -> Specs:
    return 0x0093, [RequestSpec.get_with_selection(7, EVENT_LOG, 2, 1, _range(frm, to))], [Data.null()]


def ecs35d(frm: int = 0, to: int = 0xFFFFFFFF) -> Specs:
    return 0x0094, [RequestSpec.get_with_selection(7, SECURITY_LOG, 2, 1, _range(frm, to))], [Data.null()]


BUILDERS = {"CCS01": ccs01, "CCS02": ccs02, "CCS03": ccs03, "CCS06": ccs06, "CCS05": lambda: ccs06(True),
            "CCS07": ccs07, "ECS26i": ecs26i, "ECS26n": ecs26n, "ECS52": ecs52, "ECS35c": ecs35c,
            "ECS35d": ecs35d}


class CounterFileError(ValueError):
    """The counter file cannot be written where it was asked for (one line)."""


class CounterFile:
    """Last originator counter used per sender, in a JSON file (or in memory when `path` is None).

    The file's directory must exist: a typo in `--counters` never makes a tree of directories. With `make_parent`
    (a default location such as STATE/send-counters.json) the directory itself is made, never its parents."""

    def __init__(self, path: str | Path | None, *, make_parent: bool = False) -> None:
        self.path = Path(path) if path else None
        self.make_parent = make_parent
        self._mem: dict[str, int] = {}
        self._lock = threading.Lock()  # one reader-writer at a time: meters triaged at once share the file

    def _load(self) -> dict[str, int]:
        if self.path is None or not self.path.is_file():
            return dict(self._mem)
        try:
            return {k: int(v) for k, v in json.loads(self.path.read_text()).items()}
        except (ValueError, AttributeError):
            return {}

    def next(self, originator: bytes) -> int:
        with self._lock:
            return self._next(originator)

    def _next(self, originator: bytes) -> int:
        d = self._load()
        key = originator.hex().upper()
        n = max(d.get(key, 0) + 1, time.time_ns() // 1_000_000)
        d[key] = n
        self._mem = d
        if self.path is not None:
            parent = self.path.parent
            if not parent.is_dir():
                if self.make_parent and parent.parent.is_dir() and not parent.exists():
                    parent.mkdir()
                else:
                    raise CounterFileError(f"{self.path}: directory {parent} does not exist (make it first)")
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(d))
            tmp.replace(self.path)
        return n


@dataclass
class RemoteParty:
    """Builds MAC'd commands from `originator` (normally the ACB) to `hub`."""

    keys: KeyStore
    originator: bytes
    hub: bytes
    supplementary: bytes | None = None  # the supplier the ACB acts for (RTDS: 90B3D51F30010000)
    counters: CounterFile | None = None

    def build(self, specs: Specs, counter: int | None = None) -> bytes:
        code, request_specs, data = specs
        if counter is None:
            counter = (self.counters or CounterFile(None)).next(self.originator)
        oi = OtherInformation(code, self.supplementary, counter) if self.supplementary else OtherInformation(code)
        req = AccessRequest(invoke_id_for(counter), request_specs, data)
        h = GroupingHeader(Cra.COMMAND, counter, self.originator, self.hub, oi, req.encode(), None,
                           SignatureField.NULL)
        f = Frame(h, MacHeader())
        auth.apply_mac(self.keys, f)
        return f.encode()
