"""Building the hub's outgoing frames: responses and alerts (rules every RTDS frame follows).

Response: CRA 02, the command's originator counter echoed, IDs swapped, the command's OI unchanged, no
date-time, DLMS invoke-id `20` ‖ counter[5:8], MAC'd when the command was MAC'd (non-critical).
Alert: CRA 03, the hub's own counter, OI = message code only, MAC'd.
"""

from __future__ import annotations

from gbcs import authentication as auth
from gbcs.frame import Frame, MacHeader
from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField
from gbcs.keys import KeyStore, KeyUsage


def response_frame(keys: KeyStore, command: GroupingHeader, payload: bytes) -> bytes:
    h = GroupingHeader(Cra.RESPONSE, command.counter, command.recipient, command.originator,
                       command.other_information, payload, None, SignatureField.NULL)
    f = Frame(h, MacHeader())
    auth.apply_mac(keys, f)
    return f.encode()


def alert_frame(keys: KeyStore, hub: bytes, recipient: bytes, counter: int, code: int, payload: bytes,
                other: OtherInformation | None = None, critical: bool = False) -> bytes | None:
    """A MAC'd non-critical alert, or a signed critical one (None when the hub holds no DS key to sign with)."""
    h = GroupingHeader(Cra.ALERT, counter, hub, recipient, other or OtherInformation(code), payload, None,
                       SignatureField.NULL)
    if critical:
        if not keys.has_private(hub, KeyUsage.DS):
            return None
        auth.sign_header(keys, h)
        return h.encode()
    f = Frame(h, MacHeader())
    auth.apply_mac(keys, f)
    return f.encode()
