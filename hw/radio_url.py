"""`--radio` values: which radio a hub uses and, for a real stick, how zigpy reaches it.

Accepted forms: `none` (no HAN), `virtual` (the in-process virtual medium), `auto` (the single detected
dongle), and `<type>:<path>[?baudrate=N&flow_control=hardware|software|none]` with type `ezsp` (bellows),
`znp` (zigpy-znp) or `deconz` (zigpy-deconz) and path a device (`/dev/ttyUSB0`, a /dev/serial/by-id link,
`COM3`) or a serialx network URL (`socket://HOST:PORT`, `tcp://HOST:PORT`). The schemes are the names
zigpy-cli uses for the radio libraries (zigpy_cli/radio.py); the URL forms are the ones serialx registers.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from hw.errors import RadioUrlError
from hw.radio_types import RadioType


class RadioKind(enum.Enum):
    """What a `--radio` value asks for."""

    NONE = "none"
    VIRTUAL = "virtual"
    AUTO = "auto"
    EZSP = "ezsp"
    ZNP = "znp"
    DECONZ = "deconz"

    @property
    def radio_type(self) -> RadioType | None:
        return {RadioKind.EZSP: RadioType.EZSP, RadioKind.ZNP: RadioType.ZNP,
                RadioKind.DECONZ: RadioType.DECONZ}.get(self)


# The ControllerApplication of each radio library (module, attribute), imported only when needed (~1 s).
CONTROLLERS: dict[RadioType, tuple[str, str]] = {
    RadioType.EZSP: ("bellows.zigbee.application", "ControllerApplication"),
    RadioType.ZNP: ("zigpy_znp.zigbee.application", "ControllerApplication"),
    RadioType.DECONZ: ("zigpy_deconz.zigbee.application", "ControllerApplication"),
}

NETWORK_SCHEMES = ("socket://", "tcp://")
FLOW_CONTROL = {"hardware": "hardware", "software": "software", "none": None}
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def controller_class(radio: RadioType) -> type:
    """The radio library's `ControllerApplication` subclass for `radio`."""
    if radio not in CONTROLLERS:
        raise RadioUrlError(radio.value, f"{radio.library} is not installed; supported radio types: "
                                         + ", ".join(r.value for r in CONTROLLERS))
    module, name = CONTROLLERS[radio]
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class RadioUrl:
    """A parsed `--radio` value; `path` and the serial settings are set for the three real radio kinds only."""

    kind: RadioKind
    path: str | None = None
    baudrate: int | None = None
    flow_control: str | None = None
    flow_control_set: bool = False

    @property
    def radio_type(self) -> RadioType | None:
        return self.kind.radio_type

    @property
    def is_hardware(self) -> bool:
        return self.radio_type is not None

    @property
    def is_network(self) -> bool:
        """True for a radio served over TCP (`socket://`, `tcp://`), which has no local device file."""
        return bool(self.path) and self.path.startswith(NETWORK_SCHEMES)

    def __str__(self) -> str:
        if not self.is_hardware:
            return self.kind.value
        query = []
        if self.baudrate is not None:
            query.append(f"baudrate={self.baudrate}")
        if self.flow_control_set:
            query.append(f"flow_control={self.flow_control or 'none'}")
        return f"{self.kind.value}:{self.path}" + ("?" + "&".join(query) if query else "")

    def device_config(self) -> dict[str, Any]:
        """zigpy's `device` section (zigpy.config SCHEMA_DEVICE: path, baudrate, flow_control)."""
        if not self.is_hardware:
            raise RadioUrlError(str(self), "only ezsp:, znp: and deconz: radios have a serial device")
        config: dict[str, Any] = {"path": self.path}
        if self.baudrate is not None:
            config["baudrate"] = self.baudrate
        if self.flow_control_set:
            config["flow_control"] = self.flow_control
        return config

    def zigpy_config(self, database_path: str | None = None, **extra: Any) -> dict[str, Any]:
        """A config dict for the radio library's ControllerApplication: the device, no OTA, no periodic scans
        or backups (the hub keeps its own state), optional SQLite database; `extra` keys are merged on top."""
        import zigpy.config as zc

        config: dict[str, Any] = {
            zc.CONF_DEVICE: self.device_config(),
            zc.CONF_DATABASE: database_path,
            zc.CONF_OTA: {zc.CONF_OTA_ENABLED: False},
            zc.CONF_TOPO_SCAN_ENABLED: False,
            zc.CONF_NWK_BACKUP_ENABLED: False,
        }
        config.update(extra)
        return config

    def controller_class(self) -> type:
        if self.radio_type is None:
            raise RadioUrlError(str(self), f"'{self.kind.value}' is not a zigpy radio library")
        return controller_class(self.radio_type)


def _parse_query(value: str, query: str) -> tuple[int | None, str | None, bool]:
    baudrate: int | None = None
    flow: str | None = None
    flow_set = False
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise RadioUrlError(value, f"cannot read the options {query!r}: write ?baudrate=N&flow_control=MODE") from None
    for key, text in pairs:
        if key == "baudrate":
            if not text.isdigit() or int(text) not in BAUDRATES:
                raise RadioUrlError(value, f"baudrate {text!r} is not one of {', '.join(map(str, BAUDRATES))}")
            baudrate = int(text)
        elif key == "flow_control":
            if text not in FLOW_CONTROL:
                raise RadioUrlError(value, f"flow_control {text!r} is not one of {', '.join(FLOW_CONTROL)}")
            flow, flow_set = FLOW_CONTROL[text], True
        else:
            raise RadioUrlError(value, f"unknown option {key!r} (known: baudrate, flow_control)")
    return baudrate, flow, flow_set


def _check_network_path(value: str, path: str) -> None:
    rest = path.split("://", 1)[1]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RadioUrlError(value, f"{path!r} needs a host and a port number 1-65535, e.g. socket://192.168.1.20:6638")


def parse_radio_url(value: str) -> RadioUrl:
    """Parse a `--radio` value; raises RadioUrlError naming what is wrong and the accepted forms."""
    text = value.strip()
    if not text:
        raise RadioUrlError(value, "empty; use none, virtual, auto or TYPE:PATH (e.g. ezsp:/dev/ttyUSB0)")
    for kind in (RadioKind.NONE, RadioKind.VIRTUAL, RadioKind.AUTO):
        if text.lower() == kind.value:
            return RadioUrl(kind)
    scheme, sep, rest = text.partition(":")
    kinds = {k.value: k for k in RadioKind if k.radio_type is not None}
    if not sep or scheme.lower() not in kinds:
        if text.startswith(("/", "COM")) or text.startswith(NETWORK_SCHEMES):
            raise RadioUrlError(value, f"say which radio library drives it, e.g. ezsp:{text}, znp:{text} or "
                                       f"deconz:{text} (`chf radios --probe` finds out), or use auto")
        raise RadioUrlError(value, "expected none, virtual, auto or TYPE:PATH with TYPE one of "
                                   + ", ".join(kinds) + " (e.g. ezsp:/dev/ttyUSB0, znp:socket://HOST:PORT)")
    kind = kinds[scheme.lower()]
    if rest.startswith("//") and not rest.startswith("///"):
        raise RadioUrlError(value, f"write {scheme}:/dev/... or {scheme}:socket://HOST:PORT, not {scheme}://...")
    if rest.startswith("///"):
        rest = rest[2:]  # ezsp:///dev/ttyUSB0 -> /dev/ttyUSB0
    path, _, query = rest.partition("?")
    if not path:
        raise RadioUrlError(value, f"no device after '{scheme}:' (e.g. {scheme}:/dev/ttyUSB0)")
    if path.startswith(NETWORK_SCHEMES):
        _check_network_path(value, path)
    elif "://" in path:
        raise RadioUrlError(value, f"unsupported URL {path!r}: use a device path, socket://HOST:PORT or tcp://HOST:PORT")
    baudrate, flow, flow_set = _parse_query(value, query) if query else (None, None, False)
    return RadioUrl(kind, path, baudrate, flow, flow_set)
