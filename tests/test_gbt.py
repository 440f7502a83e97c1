"""General Block Transfer: split/reassemble properties (no public vector exists, DLMS Green Book GBT)."""

import random
from collections import Counter

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


def _mutated(block: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """`block` with each edit applied: (kind, where, byte) — 0 overwrite, 1 insert, 2 delete, 3 cut there."""
    b = bytearray(block)
    for kind, where, value in edits:
        i = where % (len(b) + 1)
        if kind == 0 and i < len(b):
            b[i] = value
        elif kind == 1:
            b.insert(i, value)
        elif kind == 2 and i < len(b):
            del b[i]
        elif kind == 3:
            del b[i:]
    return bytes(b)


SAMPLE = split(bytes(range(200)), 150, **ROUTE) + split(b"abc", 64, **ROUTE)  # data lengths 150 (81 96), 50, 3
random_tails = st.binary(max_size=80).map(lambda b: b"\xDD\x09" + b)
mutated_blocks = st.builds(_mutated, st.sampled_from(SAMPLE),
                           st.lists(st.tuples(st.integers(0, 3), st.integers(0, 255), st.integers(0, 255)),
                                    min_size=1, max_size=3))


def _relength(block: bytes, value: int) -> bytes:
    """`block` with the first byte of its block-data length replaced (6 bytes after the GBT tag)."""
    at = block.index(b"\xE0", 40) + 6
    return block[:at] + bytes((value,)) + block[at + 1:]


relengthed_blocks = st.builds(_relength, st.sampled_from(SAMPLE), st.integers(0, 255))


@settings(max_examples=500, deadline=None)
@given(st.one_of(random_tails, mutated_blocks, relengthed_blocks))
def test_random_blocks_decode_or_raise_a_located_decode_error(b):
    """Random tails after a routing-header tag, valid blocks with bytes changed, inserted, deleted or cut, and
    valid blocks whose block-data length says something else than the data there is:
    a DecodeError that names a field and an offset inside the input, or a block that really is the input — its
    data is the input's last bytes, it re-encodes to a block that decodes to the same fields, and when the
    input is in the canonical form we build, to the input itself."""
    try:
        block = GbtBlock.decode(b)
    except DecodeError as e:
        assert 0 <= e.offset <= len(b), (e, len(b))
        assert e.field and e.reason and str(e) == f"{e.field} at byte {e.offset}: {e.reason}"
        return
    assert b.endswith(block.data) and len(block.data) <= len(b) - 47  # 47: the smallest routing + GBT headers
    assert 1 <= block.block_number <= 0xFFFF and len(block.originator) == len(block.recipient) == 8
    again = block.encode()
    assert GbtBlock.decode(again) == block
    if b in SAMPLE:  # an edit that changed nothing
        assert again == b


def test_blocks_we_build_decode_and_re_encode_to_the_same_bytes():
    assert all(GbtBlock.decode(b).encode() == b for b in SAMPLE)


@pytest.mark.parametrize("size", [20, 127, 128, 200])
def test_block_number_zero_is_reported_at_the_block_number(size):
    """The offset of "block numbers start at 1" is where the two zero bytes are, whatever the size of the data
    length field after them (one byte below 128 bytes of data, two from 128)."""
    good = split(b"z" * size, size, **ROUTE)[0]
    at = good.index(b"\xE0", 40) + 2  # after the GBT tag and the block-control byte
    assert good[at:at + 2] == b"\x00\x01"
    with pytest.raises(DecodeError) as e:
        GbtBlock.decode(good[:at] + b"\x00\x00" + good[at + 2:])
    assert (e.value.field, e.value.offset) == ("block_number", at)


def test_routing_field_errors_point_at_their_field():
    good = split(b"z" * 10, 10, **ROUTE)[0]
    # DD | 09 CRA ctr8 | 08 originator | 08 recipient | 00 | 02 message-code | ...
    bad_cra = good[:2] + b"\x07" + good[3:]
    with pytest.raises(DecodeError) as e:
        GbtBlock.decode(bad_cra)
    assert (e.value.field, e.value.offset) == ("routing cra", 2)
    oi = 1 + 10 + 9 + 9 + 1  # the other-information length byte
    assert good[oi] == 2
    one_byte = good[:oi] + b"\x01" + good[oi + 1:oi + 2] + good[oi + 3:]  # a 1-byte message code
    with pytest.raises(DecodeError) as e:
        GbtBlock.decode(one_byte)
    assert (e.value.field, e.value.offset) == ("routing other_information", oi)


# Reassembly of random streams: blocks of several messages in any order with duplicates, mixed with junk.
ORIGINATORS = [bytes.fromhex("90B3D51F30000002"), bytes.fromhex("90B3D51F30010000")]


def _stream(seed: int, messages: int, junk: list[bytes]) -> tuple[dict[tuple[bytes, int], bytes], list[bytes],
                                                                  set[bytes]]:
    """Messages split into blocks (by key), the shuffled stream, and the junk in it (a cut-short block of each
    message and `junk`)."""
    rnd = random.Random(seed)
    sent: dict[tuple[bytes, int], bytes] = {}
    stream: list[bytes] = []
    bad = set(junk)
    for i in range(messages):
        key = (ORIGINATORS[i % 2], 0x100 + i)
        sent[key] = rnd.randbytes(rnd.randint(1, 900))
        blocks = split(sent[key], rnd.randint(1, 200), **{**ROUTE, "originator": key[0], "counter": key[1]})
        stream += blocks + rnd.sample(blocks, min(2, len(blocks)))  # and a duplicate or two
        cut = rnd.choice(blocks)
        bad.add(cut[:rnd.randrange(len(cut))])
    stream += sorted(bad)
    rnd.shuffle(stream)
    return sent, stream, bad


def _feed(r: Reassembler, stream: list[bytes], bound) -> tuple[list[bytes], list[tuple[bytes, DecodeError]]]:
    """Every block into `r`, checking `bound(r)` after each: the messages that came out, and the refusals."""
    out, errors = [], []
    for b in stream:
        try:
            whole = r.add(b)
        except DecodeError as e:
            assert 0 <= e.offset <= len(b) and e.field
            errors.append((b, e))
            whole = None
        if whole is not None:
            out.append(whole)
        bound(r)
    return out, errors


def _held(r: Reassembler) -> int:
    """Bytes the incomplete transfers hold, counted block by block (not from the reassembler's running total)."""
    return sum(len(d) for t in r._transfers.values() for d in t.blocks.values())


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), messages=st.integers(1, 6), junk=st.lists(random_tails, max_size=8))
def test_random_block_streams_reassemble_exactly_what_was_split(seed, messages, junk):
    """Room for every transfer: each message comes out exactly once, byte for byte; a cut-short block or random
    junk raises DecodeError and spoils nothing; no transfer of a message is left pending."""
    sent, stream, bad = _stream(seed, messages, junk)
    r = Reassembler(max_transfers=16, max_total=1 << 20, now=lambda: 0.0)

    def bound(r: Reassembler) -> None:
        assert len(r.pending()) <= 16 and r.total == _held(r) <= 1 << 20

    out, errors = _feed(r, stream, bound)
    assert sorted(out) == sorted(sent.values())
    refused = {b for b, _ in errors}
    assert refused <= bad and {b for b in bad if not _decodes(b)} <= refused  # junk refused, every genuine block taken
    assert not set(r.pending()) & set(sent) and r.evictions == 0


def _decodes(b: bytes) -> bool:
    try:
        GbtBlock.decode(b)
    except DecodeError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), messages=st.integers(2, 8), transfers=st.integers(1, 3),
       total=st.integers(64, 1500), per_message=st.integers(32, 1000))
def test_random_block_streams_stay_within_the_reassembler_bounds(seed, messages, transfers, total, per_message):
    """Tight bounds: after every block, at most `transfers` transfers holding at most `total` bytes (the running
    total is what they hold) and a bounded eviction record; what comes out is one whole message, never a mix of
    two nor a message twice; a valid block is refused only for a bound (`gbt transfer`)."""
    sent, stream, bad = _stream(seed, messages, [])
    r = Reassembler(max_bytes=per_message, max_transfers=transfers, max_total=total, now=lambda: 0.0)

    def bound(r: Reassembler) -> None:
        assert len(r.pending()) <= transfers and r.total == _held(r) <= total and len(r.evicted) <= 64

    out, errors = _feed(r, stream, bound)
    assert not Counter(out) - Counter(sent.values())
    assert {e.field for b, e in errors if b not in bad} <= {"gbt transfer"}
    assert bad <= {b for b, _ in errors}  # cut-short blocks: refused as malformed
    if transfers >= messages and sum(map(len, sent.values())) <= total and max(map(len, sent.values())) <= per_message:
        assert sorted(out) == sorted(sent.values())  # within every bound: nothing is lost either


def test_truncated_block_decode_error():
    b = split(b"hello world", 64, **ROUTE)[0]
    for cut in range(len(b)):
        with pytest.raises(DecodeError):
            GbtBlock.decode(b[:cut])
