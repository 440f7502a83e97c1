"""ASN.1 GeneralizedTime and UTCTime text <-> datetime, in exactly the restricted DER forms asn1tools writes
(X.690 11.7, 11.8), so decoded times re-encode to the same octets."""

from __future__ import annotations

from datetime import datetime

def parse_generalized_time(text: str) -> datetime:
    """DER GeneralizedTime (X.690 11.7.1): YYYYMMDDHHMMSS[.fraction]Z, fraction without trailing zeros.

    Naive datetime in UTC, as asn1tools' DER codec returns it; years below 1000 are refused because
    asn1tools' encoder (strftime %Y) would not write them back as four digits.
    """
    n = len(text)
    if n < 15 or text[-1] != "Z" or not text[:14].isdigit():
        raise ValueError(f"not a DER GeneralizedTime: {text!r}")
    micro = 0
    if n > 15:
        frac = text[15:-1]
        if text[14] != "." or not frac or len(frac) > 6 or not frac.isdigit() or frac[-1] == "0":
            raise ValueError(f"not a DER GeneralizedTime fraction: {text!r}")
        micro = int(frac.ljust(6, "0"))
    year = int(text[0:4])
    if year < 1000:
        raise ValueError(f"GeneralizedTime year {year} below 1000")
    return datetime(
        year, int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]), micro
    )


def format_generalized_time(v: datetime) -> str:
    """Inverse of parse_generalized_time (the form asn1tools' DER encoder writes)."""
    text = f"{v.year:04d}{v.month:02d}{v.day:02d}{v.hour:02d}{v.minute:02d}{v.second:02d}"
    if v.microsecond:
        text += "." + f"{v.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_utc_time(text: str) -> datetime:
    """DER UTCTime (X.690 11.8): YYMMDDHHMMSSZ; YY < 69 is 20YY, else 19YY (Python %y pivot, as asn1tools)."""
    if len(text) != 13 or text[-1] != "Z" or not text[:12].isdigit():
        raise ValueError(f"not a DER UTCTime: {text!r}")
    yy = int(text[0:2])
    return datetime(
        2000 + yy if yy < 69 else 1900 + yy,
        int(text[2:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
    )


def format_utc_time(v: datetime) -> str:
    return f"{v.year % 100:02d}{v.month:02d}{v.day:02d}{v.hour:02d}{v.minute:02d}{v.second:02d}Z"
