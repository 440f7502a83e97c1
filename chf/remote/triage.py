"""SECMP0013 "Restore Specified HAN Device Log for Specified Smart Meter", remote-party side (docs/triage.md).

Cut one meter's entry (its EUI and hashed TC link key) and the Extended PAN ID out of an old hub's CS14 alert
or CCS07 response (current log first, then the historic log), to send as a CCS03 to another hub.
"""

from __future__ import annotations

from chf.remote.inventory.chf_device_log import ChfDeviceLogError, parse_chf_device_log


class TriageError(ValueError):
    """The frame holds no backup, or no entry for the meter."""


def entry_from_backup(frame: bytes, eui: bytes) -> tuple[bytes, bytes]:
    """(extended PAN ID, hashed TC link key) of `eui` in the backup(s) a CS14 alert or CCS07 response carries
    (one reader of CHF Device Logs: `chf.remote.inventory.chf_device_log`, which SR 8.16's base64 form also uses)."""
    try:
        epid, [(_, hashed)] = parse_chf_device_log(frame.hex()).entry_for(eui)
    except ChfDeviceLogError as e:
        raise TriageError(str(e)) from None
    return epid, hashed
