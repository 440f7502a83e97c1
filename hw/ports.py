"""Serial ports of this machine as plain records, listed through serialx (zigpy's serial library) or pyserial.

serialx `list_serial_ports()` returns `SerialPortInfo(device, resolved_device, vid, pid, serial_number,
manufacturer, product, ...)` (serialx/common.py); pyserial's `serial.tools.list_ports.comports()` returns
`ListPortInfo` with `device, vid, pid, description, manufacturer, serial_number`. Both are read by attribute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SerialPort:
    """One serial port: where it is and, for USB ports, what the USB descriptors say it is."""

    device: str
    vid: int | None = None
    pid: int | None = None
    description: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    by_id: str | None = None  # a stable /dev/serial/by-id/ link to it, when udev made one
    interface: str | None = None  # the USB interface's own description (multi-port devices name each port)

    @property
    def is_usb(self) -> bool:
        return self.vid is not None and self.pid is not None

    @property
    def vid_pid(self) -> str | None:
        """`VVVV:PPPP` in upper-case hex, the way USB IDs are usually written; None for non-USB ports."""
        return f"{self.vid:04X}:{self.pid:04X}" if self.is_usb else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "vid_pid": self.vid_pid}


PortLister = Callable[[], Iterable[SerialPort]]

BY_ID_DIR = "/dev/serial/by-id"


def _by_id_links(directory: str = BY_ID_DIR) -> dict[str, str]:
    """Map each real device path to its /dev/serial/by-id link (udev's stable names survive re-plugging)."""
    links: dict[str, str] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return links
    for name in names:
        path = os.path.join(directory, name)
        links.setdefault(os.path.realpath(path), path)
    return links


def _from_info(info: Any, links: dict[str, str]) -> SerialPort:
    description = (getattr(info, "product", None) or getattr(info, "interface_description", None)
                   or getattr(info, "description", None))
    if description in ("n/a", ""):
        description = None
    device = str(info.device)
    resolved = str(getattr(info, "resolved_device", None) or os.path.realpath(device))
    return SerialPort(device=device, vid=info.vid, pid=info.pid, description=description,
                      manufacturer=getattr(info, "manufacturer", None), serial_number=getattr(info, "serial_number", None),
                      by_id=links.get(resolved), interface=getattr(info, "interface_description", None)
                      or getattr(info, "interface", None))


def system_ports() -> list[SerialPort]:
    """The machine's serial ports from serialx, falling back to pyserial when serialx is not importable."""
    links = _by_id_links()
    try:
        from serialx import list_serial_ports
    except ImportError:  # pragma: no cover - serialx comes with zigpy >= 2.4
        from serial.tools.list_ports import comports

        return [_from_info(p, links) for p in comports()]
    return [_from_info(p, links) for p in list_serial_ports()]


def list_ports(lister: PortLister | None = None, *, usb_only: bool = False) -> list[SerialPort]:
    """Ports sorted by device name; `lister` replaces the system's (tests pass a fixed list)."""
    ports = list((lister or system_ports)())
    if usb_only:
        ports = [p for p in ports if p.is_usb]
    return sorted(ports, key=lambda p: p.device)
