"""`chf radios --probe`: ask each radio library whether it recognises what answers on a port.

Uses the libraries' own `ControllerApplication.probe(device_config)` (zigpy/application.py), which connects,
disconnects and returns the working device config or False, in the order Home Assistant's ZHA autoprobe uses
(ezsp, znp, deconz: homeassistant/components/zha/radio_manager.py, AUTOPROBE_RADIOS), each under a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hw.errors import PortError, RadioNotRecognisedError
from hw.portcheck import Opener, check_port, translate
from hw.radio_types import RadioType
from hw.radio_url import NETWORK_SCHEMES, controller_class

PROBE_ORDER: tuple[RadioType, ...] = (RadioType.EZSP, RadioType.ZNP, RadioType.DECONZ)


@dataclass
class ProbeResult:
    """What probing one port found: the radio type and device config that worked, or why nothing did."""

    port: str
    radio: RadioType | None = None
    config: dict[str, Any] | None = None
    tried: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def url(self) -> str | None:
        return f"{self.radio.value}:{self.port}" if self.radio else None

    def as_dict(self) -> dict[str, Any]:
        return {"port": self.port, "radio": self.radio.value if self.radio else None, "url": self.url,
                "config": self.config, "tried": self.tried, "error": self.error}


async def probe_port(path: str, *, order: Iterable[RadioType] = PROBE_ORDER, timeout: float = 20.0,
                     opener: Opener | None = None, controllers: Mapping[RadioType, Any] | None = None) -> ProbeResult:
    """Probe `path` with each library in `order` until one recognises it.

    Raises PortError (missing, busy, permission) before any probe; RadioNotRecognisedError when none answers.
    `controllers` replaces the libraries' ControllerApplication classes (tests).
    """
    if not path.startswith(NETWORK_SCHEMES):
        check_port(path, opener)
    result = ProbeResult(path)
    for radio in [r for r in order if r.supported or r in (controllers or {})]:
        cls = (controllers or {}).get(radio) or controller_class(radio)
        result.tried.append(radio.value)
        try:
            found = await asyncio.wait_for(cls.probe({"path": path}), timeout)
        except TimeoutError:
            continue
        except Exception as e:
            typed = translate(path, e)
            if isinstance(typed, PortError):
                raise typed from e
            continue
        if found:
            result.radio = radio
            result.config = dict(found) if isinstance(found, Mapping) else {"path": path}
            return result
    raise RadioNotRecognisedError(path, result.tried)


async def probe_ports(paths: Iterable[str], **kwargs: Any) -> list[ProbeResult]:
    """Probe each port in turn (one at a time: they may share a USB hub); errors are recorded, not raised."""
    results = []
    for path in paths:
        try:
            results.append(await probe_port(path, **kwargs))
        except (PortError, RadioNotRecognisedError) as e:
            tried = getattr(e, "tried", [])
            results.append(ProbeResult(path, tried=list(tried), error=str(e)))
    return results
