"""`chf decode`: decode, verify and explain each input frame, in input order, one report per frame.

Frames are independent, so a large batch of GBCS frames is spread over worker processes (`--jobs`, default one
per usable CPU): each worker renders whole reports for a contiguous slice of the inputs, and the slices reach
standard output in input order, so the output is byte for byte the output of `--jobs 1`. A batch with tunnel
frames stays in one process, in order: GBT blocks carried in several inputs are reassembled across them.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chf.app.inputs import Input, read_inputs
from gbcs.errors import DecodeError

if TYPE_CHECKING:
    from gbcs.gbt import Reassembler
    from gbcs.keys import KeyStore

PARALLEL_MIN_FRAMES = 256  # below this, forking workers costs more than it saves
SLICE = 128  # frames per work unit: big enough to amortise a round trip to a worker, small enough to balance


def default_jobs() -> int:
    """One worker per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def looks_like_zcl(data: bytes) -> bool:
    """`zigbee.tunnel_explain.looks_like_zcl`, here so that a plain GBCS decode does not import zigpy."""
    return bool(data) and not data[0] & 0xE0  # ZCL frame-control reserved bits clear: never DD, DF or E0


def run(args: argparse.Namespace, keys: KeyStore | None) -> int:
    """Report every input; 1 when any failed to decode or verify, else 0."""
    jobs = args.jobs if args.jobs is not None else default_jobs()
    fd = _stdout_fd()
    parallel = jobs > 1 and not args.tunnel and fd is not None and _can_fork()
    if parallel and len(args.inputs) >= PARALLEL_MIN_FRAMES and "-" not in args.inputs:
        # many inputs (separate files, say): each worker reads its own slice of them, so no process reads them all
        return _run_parallel(args, keys, [], jobs, fd, paths=list(args.inputs))
    items = read_inputs(args.inputs)
    gc.freeze()  # what is loaded so far lives to the end: spare the collector rescanning it per decoded tree
    tunnels = args.tunnel or any(i.data is not None and looks_like_zcl(i.data) for i in items)
    if parallel and not tunnels and len(items) >= PARALLEL_MIN_FRAMES:
        return _run_parallel(args, keys, items, jobs, fd)
    return _run_sequential(args, keys, items)


def _run_sequential(args: argparse.Namespace, keys: KeyStore | None, items: list[Input]) -> int:
    failed = 0
    reassembler: Reassembler | None = None  # GBT blocks tunnelled in several inputs make one frame
    write = sys.stdout.write
    for item in items:
        if item.data is not None and (args.tunnel or looks_like_zcl(item.data)):
            if reassembler is None:
                from gbcs.gbt import Reassembler
                reassembler = Reassembler()
            text, ok, whole = _report_tunnel(args, keys, item.source, item.data, reassembler)
            write(text)
            failed += not ok
            if whole is not None:
                text, ok = report(args, keys, Input(f"{item.source} (GBT reassembled)", whole))
                write(text)
                failed += not ok
        else:
            text, ok = report(args, keys, item)
            write(text)
            failed += not ok
    return 1 if failed else 0


def report(args: argparse.Namespace, keys: KeyStore | None, item: Input) -> tuple[str, bool]:
    """The report on one GBCS frame (lines ending in newline); False when it does not decode or verify."""
    from gbcs import message
    from gbcs.decryption import decrypt
    from gbcs.explain import explain

    source, data = item.source, item.data
    if data is None:
        return _error(args, source, item.error or DecodeError(0, "input", "unreadable"), None), False
    try:
        msg = message.decode(data, keys, disconnect_code=getattr(args, "disconnect_code", None))
    except DecodeError as e:
        return _error(args, source, e, len(data)), False
    ok = msg.mac.value != "invalid" and msg.signature.value != "invalid"
    decrypted = decrypt(msg, keys, explain=not args.json) if keys is not None else []
    if args.json:
        js = message.to_json(msg, data, source)
        if decrypted:
            js["decrypted"] = [d.as_dict() for d in decrypted]
        return json.dumps(js, check_circular=False) + "\n", ok
    lines = [f"== {source}", *explain(msg, data, decrypted).render(),
             f"   MAC {msg.mac.value}, signature {msg.signature.value}, "
             f"round trip {'exact' if message.roundtrips(msg, data) else 'DIFFERS'}", ""]
    return "\n".join(lines), ok


def _report_tunnel(args: argparse.Namespace, keys: KeyStore | None, source: str, data: bytes,
                   reassembler: Reassembler) -> tuple[str, bool, bytes | None]:
    """The report on one Tunnelling-cluster frame; (text, verified, the whole frame a GBT block completed)."""
    from gbcs import message
    from zigbee.tunnel_explain import explain_tunnel

    try:
        x = explain_tunnel(data, keys, explain_plain=not args.json, reassembler=reassembler,
                           disconnect_code=getattr(args, "disconnect_code", None))
    except DecodeError as e:
        return _error(args, source, e, len(data), kind="zcl-tunnel"), False, None
    msg = x.message
    if args.json:
        js = {"source": source, "ok": True, "error": None, **x.json, "explanation": x.tree.as_dict()}
        text = json.dumps(js, check_circular=False) + "\n"
    else:
        lines = [f"== {source}", *x.tree.render()]
        if msg is not None and x.frame_offset is not None:
            frame = data[x.frame_offset:]
            lines.append(f"   tunnelled frame: MAC {msg.mac.value}, signature {msg.signature.value}, "
                         f"round trip {'exact' if message.roundtrips(msg, frame) else 'DIFFERS'}")
        text = "\n".join(lines) + "\n"
    ok = msg is None or (msg.mac.value != "invalid" and msg.signature.value != "invalid")
    return text, ok, x.reassembled


def _error(args: argparse.Namespace, source: str, e: DecodeError, length: int | None,
           kind: str | None = None) -> str:
    from gbcs.message import error_json

    if args.json:
        js = error_json(source, e, length)
        if kind:
            js["kind"] = kind
        return json.dumps(js) + "\n"
    return f"== {source}\n   error at byte {e.offset}, field {e.field}: {e.reason}\n"


# -- workers ---------------------------------------------------------------------------------------------------
# A forked worker inherits the parent's inputs, keys and arguments; a task is just a slice of the input list.
# Reports reach standard output in input order without passing through the parent, and no worker waits for
# another: a worker whose slice is next writes it, then every later slice already finished; a worker whose slice
# is not yet next leaves it in a file (a temporary directory, in memory where /dev/shm exists) for whichever
# worker writes the slice before it. A worker that finds the reader of standard output gone (`| head`) raises
# BrokenPipeError like any write; the pool hands it to the parent (`imap_unordered` re-raises it), leaving the
# `with` block ends every worker, and `chf`'s main ends quietly (exit status 141), as for a write of its own.
# Given many arguments (`paths`), the workers read them too, a slice each: reading thousands of small files one
# after the other in the parent was a third of a batch's time. A slice with an input that looks like a tunnel frame
# is neither rendered nor written, and so neither is any slice after it: those inputs need one process and input
# order (GBT blocks across inputs), so the parent reports them itself once the workers are done, after the
# slices before, exactly as one process would.
@dataclass
class _Shared:
    args: argparse.Namespace
    keys: KeyStore | None
    items: list[Input]
    fd: int
    spool: str  # directory of finished slices waiting for their turn, one file each, named by slice index
    turn: Any  # multiprocessing Value: the index of the next slice to write
    lock: Any  # multiprocessing Lock guarding `turn` and the writes
    paths: list[str] | None = None  # the arguments, when the workers read the inputs themselves


_shared: _Shared | None = None


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _stdout_fd() -> int | None:
    """The file descriptor behind sys.stdout, or None (e.g. output captured in memory)."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_turns(sh: _Shared, k: int, data: bytes | None) -> None:
    """Holding the lock, with slice `k` next: write it (`data`, or its spooled file), then every later slice
    already spooled, and move the turn past them."""
    while True:
        if data is None:
            path = os.path.join(sh.spool, str(k))
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                break  # slice k is still being rendered: its worker will write it
            os.unlink(path)
        _write_all(sh.fd, data)
        data = None
        k += 1
    sh.turn.value = k


def _work(task: tuple[int, int, int]) -> tuple[int, int]:
    """Render inputs[start:end] (slice `k`) and write it, or spool it for the writer of the slice before;
    (k, how many failed), or (k, -1) for a slice of paths with a tunnel frame (left to the parent)."""
    k, start, end = task
    sh = _shared
    assert sh is not None
    if sh.paths is not None:
        items = read_inputs(sh.paths[start:end])
        if any(i.data is not None and looks_like_zcl(i.data) for i in items):
            return k, -1
    else:
        items = sh.items[start:end]
    out: list[str] = []
    failed = 0
    for item in items:
        text, ok = report(sh.args, sh.keys, item)
        out.append(text)
        failed += not ok
    data = "".join(out).encode()
    with sh.lock:
        if sh.turn.value == k:
            _write_turns(sh, k, data)
            return k, failed
    path = os.path.join(sh.spool, str(k))
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)  # visible whole, or not at all
    with sh.lock:  # the writer may have passed slice k before its file existed
        if sh.turn.value == k:
            _write_turns(sh, k, None)
    return k, failed


def _run_parallel(args: argparse.Namespace, keys: KeyStore | None, items: list[Input], jobs: int, fd: int,
                  paths: list[str] | None = None) -> int:
    global _shared
    n = len(paths) if paths is not None else len(items)
    # load lazily imported codecs once, before forking, so no worker repeats it
    _warm(args, keys, read_inputs(paths[:64]) if paths is not None else items)
    gc.freeze()
    ctx = multiprocessing.get_context("fork")
    sys.stdout.flush()
    tasks = [(k, i, min(i + SLICE, n)) for k, i in enumerate(range(0, n, SLICE))]
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="chf-decode-", dir=memory) as spool:
        _shared = _Shared(args, keys, items, fd, spool, ctx.Value("l", 0, lock=False), ctx.Lock(), paths)
        try:
            with ctx.Pool(min(jobs, len(tasks))) as pool:  # leaving the block ends the workers, even on error
                results = dict(pool.imap_unordered(_work, tasks))
            written = _shared.turn.value
            tunnel_at = min((k for k, f in results.items() if f < 0), default=len(tasks))
            if written != tunnel_at:
                raise RuntimeError(f"chf decode: {tunnel_at - written} slice(s) never written")
        finally:
            _shared = None
    failed = sum(f for k, f in results.items() if k < tunnel_at)
    if tunnel_at < len(tasks):  # from the first slice with a tunnel frame on, as one process would
        assert paths is not None
        failed += _run_sequential(args, keys, read_inputs(paths[tasks[tunnel_at][1]:]))
    return 1 if failed else 0


def _warm(args: argparse.Namespace, keys: KeyStore | None, items: list[Input]) -> None:
    """Report (output discarded) on the first frame of each payload kind in the batch, in the parent: the codecs
    it imports, the ASN.1 schema it loads and the decoders and encoders it compiles are then shared copy-on-write
    by every worker instead of being built again in each."""
    from gbcs.errors import GbcsError
    from gbcs.frame import decode_frame
    from gbcs.payload import PayloadType, classify

    wanted = {PayloadType.DLMS, PayloadType.GBZ, PayloadType.ASN1}
    for item in items:
        if item.data is None:
            continue
        try:
            kind = classify(decode_frame(item.data).header.payload)
        except GbcsError:
            continue
        if kind in wanted:
            wanted.discard(kind)
            report(args, keys, item)
            if not wanted:
                break
