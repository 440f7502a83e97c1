"""A-XDR `Data` (DLMS/COSEM) as GBCS carries it (GBCS §4.2; DLMS UA Green Book `Data`), by concern:

`layout` (Tag, TypeDesc, the wire tables), `encode`, `records` (Data, whose `encode()` calls the encoder),
`decode` (recording `spans`), `compact` (compact-array contents), `jsonform` (JSON both ways), `describe` and
`explain` (explanation trees at the recorded offsets).
"""

from .compact import read_len
from .decode import decode_at, decode_data, decode_items
from .describe import (describe_date, describe_date_time, describe_desc, describe_obis, describe_time, describe_value)
from .encode import encode_desc, encode_into, encode_len
from .explain import explain_data, explain_packed, packed_size
from .jsonform import data_from_json, data_to_json, desc_from_json, desc_to_json
from .layout import MAX_DEPTH, MAX_LENGTH_OCTETS, TAG_NAMES, Kind, Tag, TypeDesc, value_range
from .records import Data
from .spans import Span, Spans

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH_OCTETS",
    "TAG_NAMES",
    "Data",
    "Kind",
    "Span",
    "Spans",
    "Tag",
    "TypeDesc",
    "data_from_json",
    "data_to_json",
    "decode_at",
    "decode_data",
    "decode_items",
    "desc_from_json",
    "desc_to_json",
    "describe_date",
    "describe_date_time",
    "describe_desc",
    "describe_obis",
    "describe_time",
    "describe_value",
    "encode_desc",
    "encode_into",
    "encode_len",
    "explain_data",
    "explain_packed",
    "packed_size",
    "read_len",
    "value_range",
]
