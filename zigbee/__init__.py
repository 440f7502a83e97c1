"""The HAN on zigpy: `ZigpyHan` (the hub's `chf.core.han.Han` port), `VirtualRadio`, the shared medium, emulated nodes.

Names are imported lazily: importing zigpy costs about a second, which `--radio none` runs should not pay.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EmulatedClock": "zigbee.clock", "Medium": "zigbee.medium", "Link": "zigbee.medium",
    "VirtualRadio": "zigbee.virtual_radio", "ZigpyHan": "zigbee.zigpy_han", "open_virtual": "zigbee.zigpy_han",
    "EmulatedNode": "zigbee.node", "DeviceType": "zigbee.node", "NodeState": "zigbee.node",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zigbee' has no attribute {name!r}")


__all__ = ["DeviceType", "EmulatedClock", "EmulatedNode", "Link", "Medium", "NodeState", "VirtualRadio", "ZigpyHan",
           "open_virtual"]
