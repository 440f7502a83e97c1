"""GBCS codecs and crypto, pure (no I/O): frames, DLMS/GBZ/ASN.1 payloads, MACs, signatures, key store.

Start with `gbcs.decode(frame_bytes, keys)`; every malformed input raises `gbcs.DecodeError` with the byte
offset and field at fault.
"""

from .errors import AuthenticationError, DecodeError, EncodeError, GbcsError, KeyNotFoundError
from .frame import Frame, decode_frame
from .keys import KeyStore
from .message import Message, decode, encode_json, to_json

__all__ = ["AuthenticationError", "DecodeError", "EncodeError", "Frame", "GbcsError", "KeyNotFoundError",
           "KeyStore", "Message", "decode", "decode_frame", "encode_json", "to_json"]
