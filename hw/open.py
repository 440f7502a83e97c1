"""Open a real ZigBee stick as a zigpy `ControllerApplication`, with the port checked first.

The check opens the device the way serialx does (`os.open(O_RDWR|O_NOCTTY|O_NONBLOCK)` then a non-blocking
exclusive `flock`, serialx/platforms/serial_posix.py), so a missing, busy or unreadable port is reported as
our typed error before any radio library runs; errors the library raises later are translated the same way.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from hw.errors import PortError, RadioError, RadioNoAnswerError, RadioUrlError, port_error_from_os_error
from hw.ports import PortLister
from hw.radio_url import RadioKind, RadioUrl, parse_radio_url

Opener = Callable[[str], None]
"""Opens and closes a port at once; raises OSError (with its errno) when the port cannot be had."""

try:  # pragma: no cover - fcntl is POSIX only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def exclusive_open(path: str) -> None:
    """Open `path` read/write without becoming its controlling terminal, take and drop the exclusive lock."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path) from e
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_port(path: str, opener: Opener | None = None) -> None:
    """Raise NoSuchPortError, PortBusyError or PortPermissionError when `path` cannot be opened; else return."""
    try:
        (opener or exclusive_open)(path)
    except OSError as e:
        typed = port_error_from_os_error(path, e)
        if typed is None:
            raise
        raise typed from e


def preflight(value: str | RadioUrl, opener: Opener | None = None) -> RadioUrl:
    """Parse a `--radio` value and, for a local stick, check its port now, so `chf run` fails before it starts.

    `none`, `virtual`, `auto` and network radios are returned parsed but unchecked (auto is resolved when opened).
    """
    radio = parse_radio_url(value) if isinstance(value, str) else value
    if radio.is_hardware and not radio.is_network:
        assert radio.path is not None
        check_port(radio.path, opener)
    return radio


def translate(path: str, exc: BaseException, kind: str | None = None) -> BaseException:
    """The typed error for an exception a radio library raised while opening `path` (its cause chain is searched).
    With the radio `kind` (ezsp, znp, deconz), a timeout or an error that says nothing (bellows and zigpy-znp give
    up on a silent port with an empty `TimeoutError`/`asyncio.TimeoutError`) becomes `RadioNoAnswerError`, naming
    the port, the stack that did not answer and what to check."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            typed = port_error_from_os_error(path, seen)
            if typed is not None:
                return typed
        seen = seen.__cause__ or seen.__context__
    if kind is not None and (isinstance(exc, TimeoutError) or not str(exc).strip()):
        return RadioNoAnswerError(path, kind, exc)
    return exc


async def open_radio(url: str | RadioUrl, *, database_path: str | None = None, config: dict[str, Any] | None = None,
                     auto_form: bool = False, start_radio: bool = True, opener: Opener | None = None,
                     lister: PortLister | None = None, probe_timeout: float = 20.0) -> Any:
    """A started zigpy ControllerApplication for a real stick (`ezsp:`, `znp:`, `deconz:` or `auto`).

    `config` is merged over RadioUrl.zigpy_config(); `auto_form` forms a network when the stick has none.
    `none` and `virtual` are not sticks and are refused (the virtual radio lives in the zigbee package).
    """
    radio = parse_radio_url(url) if isinstance(url, str) else url
    if radio.kind is RadioKind.AUTO:
        from hw.auto import resolve_auto
        from hw.ports import list_ports

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
