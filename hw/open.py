"""Open a real ZigBee stick as a zigpy `ControllerApplication`, with the port checked first.

The port check (`hw.portcheck`, re-exported here) reports a missing, busy or unreadable port as our typed
error before any radio library runs; errors the library raises later are translated the same way.
"""

from __future__ import annotations

from typing import Any

from hw.errors import PortError, RadioError, RadioUrlError
from hw.portcheck import Opener, check_port, exclusive_open, translate
from hw.ports import PortLister, list_ports
from hw.radio_url import RadioKind, RadioUrl, parse_radio_url

__all__ = ["Opener", "check_port", "exclusive_open", "open_radio", "preflight", "translate"]


def preflight(value: str | RadioUrl, opener: Opener | None = None) -> RadioUrl:
    """Parse a `--radio` value and, for a local stick, check its port now, so `chf run` fails before it starts.

    `none`, `virtual`, `auto` and network radios are returned parsed but unchecked (auto is resolved when opened).
    """
    radio = parse_radio_url(value) if isinstance(value, str) else value
    if radio.is_hardware and not radio.is_network:
        assert radio.path is not None
        check_port(radio.path, opener)
    return radio


async def open_radio(url: str | RadioUrl, *, database_path: str | None = None, config: dict[str, Any] | None = None,
                     auto_form: bool = False, start_radio: bool = True, opener: Opener | None = None,
                     lister: PortLister | None = None, probe_timeout: float = 20.0) -> Any:
    """A started zigpy ControllerApplication for a real stick (`ezsp:`, `znp:`, `deconz:` or `auto`).

    `config` is merged over RadioUrl.zigpy_config(); `auto_form` forms a network when the stick has none.
    `none` and `virtual` are not sticks and are refused (the virtual radio lives in the zigbee package).
    """
    radio = parse_radio_url(url) if isinstance(url, str) else url
    if radio.kind is RadioKind.AUTO:
        from hw.auto import resolve_auto  # only `auto` needs the VID:PID table

        radio = await resolve_auto(list_ports(lister), opener=opener, timeout=probe_timeout)
    if not radio.is_hardware:
        raise RadioUrlError(str(radio), "open_radio opens real sticks (ezsp:, znp:, deconz:, auto); "
                                        "'none' and 'virtual' are handled by the hub's runtime")
    assert radio.path is not None
    if not radio.is_network:
        check_port(radio.path, opener)
    cls = radio.controller_class()
    try:
        return await cls.new(radio.zigpy_config(database_path, **(config or {})), auto_form=auto_form,
                             start_radio=start_radio)
    except (RadioError, PortError):
        raise
    except Exception as e:
        typed = translate(radio.path, e, radio.kind.value)
        if typed is e:
            raise
        raise typed from e
