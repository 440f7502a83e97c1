"""Fault injection for test rigs: make chosen COSEM accesses fail with a chosen DLMS result.

Spec: `CLASS/OBIS/aN=RESULT` (attribute N, GET/SET) or `CLASS/OBIS/mN=RESULT` (method N), optionally
`,once` (default `,always`). Example: `104/0-0:30.3.0.255/a3=1` makes SET/GET of join_timeout answer
hardware-fault, which with `104/0-0:30.3.0.255/a2=250` gives RTDS's CCS01 ERROR response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^(\d+)/(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)\.(\d+)/([am])(\d+)=(\d+)(?:,(once|always))?$")


class FaultSpecError(ValueError):
    """A --fault specification that does not parse; says what was expected."""


@dataclass(frozen=True)
class Fault:
    class_id: int
    obis: bytes
    kind: str  # "a" attribute, "m" method
    index: int
    result: int
    once: bool = False

    @property
    def target(self) -> tuple[int, bytes, str, int]:
        return self.class_id, self.obis, self.kind, self.index

    def spec(self) -> str:
        o = self.obis
        return f"{self.class_id}/{o[0]}-{o[1]}:{o[2]}.{o[3]}.{o[4]}.{o[5]}/{self.kind}{self.index}={self.result}" \
            + (",once" if self.once else "")


def parse_fault(spec: str) -> Fault:
    m = _SPEC.match(spec.strip())
    if not m:
        raise FaultSpecError(f"fault {spec!r}: expected CLASS/A-B:C.D.E.F/aN=RESULT or mN=RESULT[,once|,always]")
    g = m.groups()
    nums = [int(x) for x in g[1:7]]
    if any(n > 255 for n in nums) or int(g[0]) > 0xFFFF or int(g[8]) > 255 or int(g[9]) > 255:
        raise FaultSpecError(f"fault {spec!r}: a value is out of range (class < 65536, others < 256)")
    return Fault(int(g[0]), bytes(nums), g[7], int(g[8]), int(g[9]), g[10] == "once")


class FaultTable:
    """Active faults; `take` consumes a `once` fault when it fires."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._faults: dict[tuple[int, bytes, str, int], Fault] = {}
        for f in faults or []:
            self.add(f)

    def add(self, fault: Fault) -> None:
        self._faults[fault.target] = fault

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[Fault]:
        return list(self._faults.values())

    def take(self, class_id: int, obis: bytes, kind: str, index: int) -> int | None:
        f = self._faults.get((class_id, obis, kind, index))
        if f is None:
            return None
        if f.once:
            del self._faults[f.target]
        return f.result
