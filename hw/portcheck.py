"""Checking a serial port before any radio library opens it, and typing the errors a library raises for it.

The check opens the device the way serialx does (`os.open(O_RDWR|O_NOCTTY|O_NONBLOCK)` then a non-blocking
exclusive `flock`, serialx/platforms/serial_posix.py). `open`, `probe` and `auto` all use it; it imports none
of them, so the dependencies between those three point one way (open -> auto -> probe -> portcheck).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from hw.errors import RadioNoAnswerError, port_error_from_os_error

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
