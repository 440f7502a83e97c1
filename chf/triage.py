"""SECMP0013 "Restore Specified HAN Device Log for Specified Smart Meter", remote-party side (docs/triage.md).

Cut one meter's entry (its EUI and hashed TC link key) and the Extended PAN ID out of an old hub's CS14 alert
or CCS07 response (current log first, then the historic log), to send as a CCS03 to another hub.
"""

from __future__ import annotations

from gbcs import dlms
from gbcs.axdr import Data
from gbcs.frame import decode_frame


class TriageError(ValueError):
    """The frame holds no backup, or no entry for the meter."""


def _backups(payload_record: object) -> list[Data]:
    if isinstance(payload_record, dlms.DataNotification):
        body = payload_record.alert_body
        return [b for b in (body or []) if b.tag == 0x02]
    if isinstance(payload_record, dlms.AccessResponse):
        return [d for d in payload_record.data if d.tag == 0x02]
    return []


def entry_from_backup(frame: bytes, eui: bytes) -> tuple[bytes, bytes]:
    """(extended PAN ID, hashed TC link key) of `eui` in the backup(s) a CS14 alert or CCS07 response carries."""
    h = decode_frame(frame).header
    record = dlms.decode(h.payload, h.offsets["payload"])
    for b in _backups(record):
        parts = b.value
        if len(parts) != 3 or parts[1].tag != 0x09 or parts[2].tag != 0x01:
            continue
        for row in parts[2].value:
            r = row.value
            if row.tag == 0x02 and len(r) == 2 and bytes(r[0].value) == eui:
                return bytes(parts[1].value), bytes(r[1].value)
    raise TriageError(f"no entry for {eui.hex().upper()} in that frame's device-log backups")
