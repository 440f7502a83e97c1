"""General Block Transfer: split/reassemble properties (no public vector exists, DLMS Green Book GBT)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtds_data import frame

from gbcs.errors import DecodeError, EncodeError
from gbcs.gbt import GbtBlock, Reassembler, is_gbt, split, split_frame
from gbcs.grouping_header import Cra

ROUTE = dict(cra=Cra.COMMAND, counter=0x0123456789ABCDEF, originator=bytes.fromhex("90B3D51F30000002"),
             recipient=bytes.fromhex("00DB1234567890A2"), message_code=0x0105)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 64 * 1024), block=st.integers(1, 2048), seed=st.integers(0, 2**32 - 1))
def test_split_reassemble_any_order(size, block, seed):
    rnd = random.Random(seed)
    if (size + block - 1) // block > 0xFFFF:
        block = (size + 0xFFFE) // 0xFFFF
    data = rnd.randbytes(size)
    blocks = split(data, block, **ROUTE)
    assert all(is_gbt(b) for b in blocks)
    order = blocks + rnd.sample(blocks, min(3, len(blocks)))  # duplicates too
    rnd.shuffle(order)
    r = Reassembler(max_bytes=1 << 17)
    results = [x for x in (r.add(b) for b in order) if x is not None]
    assert results == [data]
    assert r.pending() == []


def test_block_fields_decode():
    blocks = split(b"x" * 25, 10, **ROUTE)
    decoded = [GbtBlock.decode(b) for b in blocks]
    assert [d.block_number for d in decoded] == [1, 2, 3]
    assert [d.last for d in decoded] == [False, False, True]
    assert decoded[0].message_code == 0x0105 and decoded[0].counter == ROUTE["counter"]
    assert blocks[0][:2] == b"\xDD\x09"  # message routing header (DLMS Green Book GBT)
    assert decoded[2].data == b"x" * 5


def test_missing_blocks_reported():
    blocks = split(bytes(range(256)) * 4, 100, **ROUTE)  # 11 blocks
    r = Reassembler()
    for i, b in enumerate(blocks):
        if i not in (2, 5):
            assert r.add(b) is None
    key = (ROUTE["originator"], ROUTE["counter"])
    assert r.missing(key) == [3, 6] and r.complete_known(key)
    assert r.add(blocks[5]) is None
    assert r.add(blocks[2]) == bytes(range(256)) * 4


def test_conflicting_duplicate_rejected():
    blocks = split(b"abcdefgh", 4, **ROUTE)
    r = Reassembler()
    r.add(blocks[0])
    other = split(b"ABCDefgh", 4, **ROUTE)[0]
    with pytest.raises(DecodeError):
        r.add(other)


def test_split_rtds_frame_round_trip():
    data = frame("NA_CS02bWPByWP/CS02bWPByWP_NA_SUCCESS_COMMAND_GBCS.HEX")
    blocks = split_frame(data, 61)
    r = Reassembler()
    out = [x for x in map(r.add, reversed(blocks)) if x]
    assert out == [data]


def test_too_many_blocks_and_bad_size():
    with pytest.raises(EncodeError):
        split(b"x" * 70000, 1, **ROUTE)
    with pytest.raises(EncodeError):
        split(b"x", 0, **ROUTE)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_random_blocks_only_decode_error(b):
    try:
        GbtBlock.decode(b"\xDD\x09" + b)
    except DecodeError:
        pass


def test_truncated_block_decode_error():
    b = split(b"hello world", 64, **ROUTE)[0]
    for cut in range(len(b)):
        with pytest.raises(DecodeError):
            GbtBlock.decode(b[:cut])
