"""`--radio auto`: the single ZigBee dongle plugged into this machine, or a clear error saying why not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hw.errors import NoRadioFoundError, RadioError, SeveralRadiosError
from hw.portcheck import Opener
from hw.ports import SerialPort
from hw.radio_types import Identification, RadioType, identify
from hw.radio_url import RadioUrl, parse_radio_url


class RadioTypeUnknownError(RadioError):
    """One dongle was found but its USB identity fits more than one radio library."""

    def __init__(self, ident: Identification) -> None:
        self.ident = ident
        path = port_path(ident.port)
        kinds = " or ".join(f"--radio {r.value}:{path}" for r in ident.radios if r.supported)
        super().__init__(f"one dongle found at {path} ({ident.product}), but its USB identity does not say which "
                         f"radio it is: run `chf radios --probe`, or name it: {kinds}")


def port_path(port: SerialPort) -> str:
    """The path to use for a port: its /dev/serial/by-id link when there is one (stable across re-plugging)."""
    return port.by_id or port.device


def candidates(ports: Iterable[SerialPort]) -> list[Identification]:
    """The ports the VID:PID table recognises as possible ZigBee radios."""
    return [i for i in (identify(p) for p in ports) if i.is_candidate]


def no_dongle_detail(ports: list[SerialPort]) -> str:
    """One sentence on what the machine does have, for the 'no dongle' message."""
    usb = [p for p in ports if p.is_usb]
    if usb:
        names = ", ".join(f"{p.device} ({p.vid_pid}{', ' + p.description if p.description else ''})" for p in usb)
        return f"no USB serial port matches a known ZigBee stick (USB serial ports: {names})"
    if ports:
        return "no USB serial ports at all (other serial ports: " + ", ".join(p.device for p in ports) + ")"
    return "no serial ports at all"


def pick_radio(ports: Iterable[SerialPort]) -> str:
    """The `--radio` URL of the single detected radio, e.g. `ezsp:/dev/ttyUSB0`.

    Raises NoRadioFoundError for none, SeveralRadiosError for more than one, RadioTypeUnknownError when the
    one found could be driven by several libraries (then probe, or name it).
    """
    ports = list(ports)
    found = candidates(ports)
    if not found:
        raise NoRadioFoundError(no_dongle_detail(ports))
    if len(found) > 1:
        raise SeveralRadiosError([f"{i.radio.value}:{port_path(i.port)}" if i.radio else port_path(i.port)
                                  for i in found])
    ident = found[0]
    if not any(r.supported for r in ident.radios):
        raise RadioError(f"the one dongle found, {ident.product} at {port_path(ident.port)}, needs "
                         f"{ident.radios[0].library}, which commshub does not support (bellows, zigpy-znp, zigpy-deconz)")
    if ident.radio is None:
        raise RadioTypeUnknownError(ident)
    return f"{ident.radio.value}:{port_path(ident.port)}"


async def resolve_auto(ports: Iterable[SerialPort], *, opener: Opener | None = None, timeout: float = 20.0,
                       controllers: Mapping[RadioType, Any] | None = None) -> RadioUrl:
    """pick_radio, and when the one dongle's type is ambiguous, probe it with the libraries it may need."""
    try:
        return parse_radio_url(pick_radio(ports))
    except RadioTypeUnknownError as e:
        from hw.probe import probe_port

        result = await probe_port(port_path(e.ident.port), order=e.ident.radios, timeout=timeout, opener=opener,
                                   controllers=controllers)
        assert result.url is not None
        return parse_radio_url(result.url)
