"""Typed errors for finding and opening ZigBee dongles, each worded so the user knows what to do next.

Port errors are also `OSError`s (with the errno the operating system gave) so callers that already
handle OS errors keep working; URL errors are also `ValueError`s.
"""

from __future__ import annotations

import errno

DIALOUT_FIX = ("add your user to the 'dialout' group (sudo usermod -aG dialout $USER), "
               "then log out and in again (or run `newgrp dialout`)")


class RadioError(Exception):
    """Base class of every error the `hw` package raises on purpose."""


class RadioUrlError(RadioError, ValueError):
    """A `--radio` value that is not one of the accepted forms."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"bad --radio value {value!r}: {reason}")


class PortError(RadioError, OSError):
    """A serial port that cannot be used; `port` names it."""

    code = 0
    port: str

    def __init__(self, port: str, message: str) -> None:
        OSError.__init__(self, self.code, message)
        self.port = port
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoSuchPortError(PortError):
    """The path names no device (ENOENT/ENODEV/ENXIO): unplugged, wrong name, or not passed into a container."""

    code = errno.ENOENT

    def __init__(self, port: str) -> None:
        super().__init__(port, f"no such serial port: {port} — is the dongle plugged in? "
                               "`chf radios` lists the ports this machine has")


class PortBusyError(PortError):
    """Another program holds the port (EBUSY, or the exclusive lock serialx takes is held)."""

    code = errno.EBUSY

    def __init__(self, port: str) -> None:
        super().__init__(port, f"serial port {port} is busy: another program has it open "
                               "(Home Assistant/ZHA, Zigbee2MQTT, ModemManager, another chf?) — stop it and try again")


class PortPermissionError(PortError):
    """The user may not open the port (EACCES/EPERM): on Linux, not a member of the group owning the tty."""

    code = errno.EACCES

    def __init__(self, port: str) -> None:
        super().__init__(port, f"permission denied opening serial port {port}: {DIALOUT_FIX}")


class RadioUnreachableError(PortError):
    """A `socket://`/`tcp://` radio whose host refused or did not answer the connection."""

    code = errno.ECONNREFUSED

    def __init__(self, port: str, detail: str) -> None:
        super().__init__(port, f"cannot reach network radio {port}: {detail}")


class NoRadioFoundError(RadioError):
    """No ZigBee dongle is plugged into this machine (or none is visible to it)."""

    def __init__(self, detail: str = "") -> None:
        text = "no ZigBee dongle found on this machine"
        super().__init__(text + (f": {detail}" if detail else ""))


class SeveralRadiosError(RadioError):
    """`--radio auto` found more than one candidate and will not guess; `candidates` lists their URLs."""

    def __init__(self, candidates: list[str]) -> None:
        self.candidates = candidates
        super().__init__("several ZigBee dongles found, choose one with --radio: " + ", ".join(candidates))


class RadioNotRecognisedError(RadioError):
    """A port opened fine but no radio library recognised what answered on it."""

    def __init__(self, port: str, tried: list[str]) -> None:
        self.port = port
        self.tried = tried
        super().__init__(f"no ZigBee radio answered on {port} (tried {', '.join(tried)}): wrong port, "
                         "wrong firmware (e.g. a Thread/RCP image) or an unsupported stick")


STACKS = {"ezsp": ("EZSP", "a Silicon Labs stick with EmberZNet NCP (EZSP) firmware"),
          "znp": ("Z-Stack", "a TI CC2652/CC1352 stick with Z-Stack coordinator (ZNP) firmware"),
          "deconz": ("deCONZ", "a ConBee/RaspBee stick with deCONZ firmware")}


class RadioNoAnswerError(RadioError):
    """The port opened, but the radio library got no answer from a stack of the kind asked for (a timeout or an
    empty error from bellows, zigpy-znp or zigpy-deconz)."""

    def __init__(self, port: str, kind: str, cause: BaseException | None = None) -> None:
        self.port = port
        self.kind = kind
        stack, what = STACKS.get(kind, (kind, f"a {kind} stick"))
        said = f"{type(cause).__name__}{': ' + str(cause) if str(cause) else ''}" if cause is not None else ""
        others = ", ".join(f"{k}:{port}" for k in STACKS if k != kind)
        super().__init__(
            f"no {stack} stack answered on {port}" + (f" ({said})" if said else "") + f". Check that {port} is "
            f"the stick's port and that it is {what}: `chf radios --probe` lists the sticks this machine has and "
            f"what answers on each; another firmware wants another type ({others}); a stick that needs a baud "
            f"rate other than the default takes ?baudrate=N")


_NO_SUCH = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ENOTDIR}
_PERMISSION = {errno.EACCES, errno.EPERM}
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}


def port_error_from_os_error(port: str, exc: OSError) -> PortError | None:
    """Turn an OS error raised while opening `port` into our typed error, or None when it is none of ours.

    zigpy/serial.py re-raises EBUSY as a PermissionError saying the port "is locked by another application";
    that wording is recognised too so it is reported as busy, not as a group problem.
    """
    if isinstance(exc, PortError):
        return exc
    if exc.errno in _BUSY or "locked by another application" in str(exc):
        return PortBusyError(port)
    if exc.errno in _NO_SUCH:
        return NoSuchPortError(port)
    if exc.errno in _PERMISSION:
        return PortPermissionError(port)
    if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
        return RadioUnreachableError(port, exc.strerror or str(exc))
    return None
