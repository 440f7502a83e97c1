"""SR 8.16's "base64 encoded version of the CHF Device Log" → the (Extended PAN ID, entries) a CCS03 needs.

SR 8.16 takes the meter's EUI-64, the base64-encoded CHF Device Log to restore from, and the MPxN(s) (SECMP0013
DCC PIA §3.2; Annex B, SEC Appendix AD note). The seed does not fix the encoding; it says DCC Data Systems store
the HAN Device Log "as it is received from the source Comms Hub" (PIA risk table) and that only the meter's own
entry is to be extracted. So we accept, after base64 decoding, either
  * a whole frame that carries the log: a CS14 alert (0x8F12) or a CCS07 response (current, then historic log) —
    what the remote party actually receives; or
  * the log octets alone: the A-XDR backup_PAN structure{date-time, Extended PAN ID, array{structure{EUI-64,
    hashed TC link key}}} a CS14/CCS07 carries (or the restore_PAN structure{EPID, array} CCS03 sends),
and tell them apart by the first octet (DD/DF frame, 02 structure). Plain hex is accepted too.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from chf.remote.inventory.logs import parse_backup
from gbcs import dlms, message
from gbcs.axdr import decode_data


class ChfDeviceLogError(ValueError):
    """The text is not a CHF Device Log in any accepted form, or it holds no entry for the meter."""


@dataclass(frozen=True)
class ChfDeviceLog:
    """One or more backups (a CCS07 response carries two: current, then historic)."""

    backups: tuple[tuple[bytes, tuple[tuple[bytes, bytes], ...]], ...]

    @property
    def extended_pan_id(self) -> bytes:
        return self.backups[0][0]

    def entries(self) -> list[tuple[bytes, bytes]]:
        return [row for _, rows in self.backups for row in rows]

    def entry_for(self, eui: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """(EPID, [(EUI, hashed key)]) for `eui`, from the first backup holding it: what `chf send CCS03 --device
        EUI --from …` sends (the meter's entry only, SECMP0013 PIA §3.2)."""
        for epid, rows in self.backups:
            for e, h in rows:
                if e == eui:
                    return epid, [(e, h)]
        raise ChfDeviceLogError(f"no entry for {eui.hex().upper()} in that CHF Device Log")


def _raw(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    compact = "".join(text.split())
    if compact and all(c in "0123456789abcdefABCDEF" for c in compact) and len(compact) % 2 == 0:
        return bytes.fromhex(compact)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ChfDeviceLogError(f"neither hex nor base64: {e}") from None


def parse_chf_device_log(text: str | bytes) -> ChfDeviceLog:
    """Decode the base64 (or hex) text of a CHF Device Log in one of the accepted forms (module docstring)."""
    raw = _raw(text)
    if not raw:
        raise ChfDeviceLogError("empty CHF Device Log")
    backups = []
    try:
        if raw[0] in (0xDD, 0xDF):
            msg = message.decode(raw, verify=False)
            p = msg.payload
            if isinstance(p, dlms.DataNotification):
                candidates = list(p.alert_body or [])
            elif isinstance(p, dlms.AccessResponse):
                candidates = [d for d, r in zip(p.data, p.results, strict=False) if r.result == 0]
            else:
                candidates = []
        elif raw[0] == 0x02:
            candidates = [decode_data(raw)]
        else:
            raise ChfDeviceLogError(f"first octet 0x{raw[0]:02X}: neither a GBCS frame (DD/DF) nor a structure (02)")
        for d in candidates:
            b = parse_backup(d)
            if b is not None:
                backups.append((b[0], tuple(b[1])))
    except ChfDeviceLogError:
        raise
    except Exception as e:
        raise ChfDeviceLogError(f"not a CHF Device Log: {e}") from None
    if not backups:
        raise ChfDeviceLogError("holds no CHF Device Log backup (CS14 alert, CCS07 response or backup structure)")
    return ChfDeviceLog(tuple(backups))
