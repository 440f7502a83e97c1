"""Issue 20 item 3: every numeric setting (`chf run` flags, bench-file keys, `CHF:ADVANCE`) has a range; any value
is either accepted and works, or refused in one line. Property-tested on the parsing and option layers (cheap),
plus a few real starts of `chf run`."""

import math
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtds_data import REPO

from chf.config.bench_file import BenchFileError, parse
from chf.core.errors import ChfError
from chf.runtime.hub_runtime import RunOptions, release_locks
from zigbee.clock import EmulatedClock

NUMBERS = (st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([0, -1, 0.0, -0.0, 1e-300, 1e308, 1e10, 1e6, 1000.0, 1000.0001, 0.01, 0.0099, 86400,
                              86401, 65536, 65537, 2 ** 63, -(2 ** 63) - 1, 10 ** 400, 1, 2])
           | st.integers(-(10 ** 30), 10 ** 30))


def one_line(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text.strip() and "Traceback" not in text


def bench_text(key: str, value) -> str:
    if isinstance(value, float):
        lit = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    else:
        lit = str(value)
    return f'{key} = {lit}\n\n[[hub]]\nname = "A"\neui = "02C0FFEE0000A001"\n'


def works(time_scale: float, keep_alive_s: float, gsme_poll_s: float) -> None:
    """What an accepted bench clock must do: run, tell the time, and wake meters no faster than the CPU can."""
    clock = EmulatedClock(datetime(2030, 1, 1, tzinfo=timezone.utc), time_scale=time_scale)
    clock.advance(keep_alive_s)
    assert clock.now().year >= 2030
    for period in (keep_alive_s, gsme_poll_s):
        real = clock.real_delay(period)
        assert real is not None and math.isfinite(real) and real >= 0.001  # a timer that fires 1000x/s spins
    tick = max(0.02, min(1.0, 1.0 / time_scale))  # the bench's window ticker (chf.runtime.bench)
    assert math.isfinite(tick) and tick > 0


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(["time_scale", "keep_alive_s", "gsme_poll_s", "seed"]), value=NUMBERS)
def test_any_bench_file_number_is_accepted_and_works_or_refused_in_one_line(key, value):
    try:
        b = parse(bench_text(key, value), Path("/tmp/bench.toml"))
    except BenchFileError as e:
        assert one_line(str(e)) and key in str(e), str(e)
        return
    works(b.time_scale, b.keep_alive_s, b.gsme_poll_s)


FLAGS = {"--time-scale": "time_scale", "--keep-alive": "keep_alive_s", "--gsme-poll": "gsme_poll_s",
         "--max-connections": "max_connections", "--max-per-source": "max_per_source",
         "--idle-timeout": "idle_timeout", "--capacity": "capacity"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(sorted(FLAGS)), value=NUMBERS)
def test_any_chf_run_number_is_accepted_and_works_or_refused_in_one_line(tmp_path, flag, value):
    """The option layer `chf run` applies before it opens anything: wan_limits (which checks every option) then,
    for a virtual radio, the bench clock."""
    from chf.runtime.hub_runtime import wan_limits

    opts = RunOptions(state=str(tmp_path / "never-made"), **{FLAGS[flag]: value})
    try:
        limits = wan_limits(opts)
    except ChfError as e:
        assert one_line(str(e)) and flag in str(e), str(e)
        assert not (tmp_path / "never-made").exists()
        return
    assert 1 <= limits.max_connections <= 65536 and 1 <= limits.per_source
    assert math.isfinite(limits.idle_timeout) and limits.idle_timeout > 0
    works(opts.time_scale, opts.keep_alive_s, opts.gsme_poll_s)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from chf.config.bench_file import load
    from chf.runtime.bench import BenchThread

    d = tmp_path_factory.mktemp("bench")
    (d / "bench.toml").write_text('keys = "keys"\n\n[[hub]]\nname = "A"\neui = "02C0FFEE0000A001"\n'
                                  'wan = "127.0.0.1:0"\n')
    with BenchThread(load(d / "bench.toml")) as bt:
        yield bt
    release_locks()


@settings(max_examples=100, deadline=None)
@given(value=NUMBERS | st.sampled_from(["", "x", "1 2", "0x10", "1e999"]))
def test_any_chf_advance_is_accepted_and_works_or_refused_in_one_line(bench, value):
    rb = bench.running
    advance = next(c for c in rb.controls("A") if c.name == "ADVANCE")
    before = bench.call(rb.clock.now)
    try:
        reply = bench.call(lambda: advance.handler([str(value)] if value != "1 2" else ["1", "2"]))
    except ValueError as e:
        assert one_line(str(e)) and "CHF:ADVANCE" in str(e), str(e)
        assert bench.call(rb.clock.now) >= before
        return
    assert reply.startswith("CHF:OK emulated time ")
    assert bench.call(rb.clock.now) >= before


# ------------------------------------------------------------------------------------------ a few real starts
IC = "83FED3407A939723A5C639B26916D505"


def test_chf_run_starts_at_the_ends_of_its_ranges_and_refuses_beyond_them_in_one_line(tmp_path):
    """Real starts: values just inside the ranges start a hub that answers CHF:PING; values outside (the issue's
    inf, 0, nan, 1e308, a zero or negative poll, a zero keep-alive) are refused at start in one line, before the
    state directory is made. They used to spin, hang or raise ZeroDivisionError."""
    base = [sys.executable, "-m", "chf.app.cli", "run", "--wan", "127.0.0.1:0", "--radio", "virtual", "--meter",
            f"gsme:02C0FFEE000E5E02:{IC}"]
    for i, extra in enumerate([["--time-scale", "inf"], ["--time-scale", "0"], ["--time-scale", "nan"],
                               ["--time-scale", "1e308"], ["--gsme-poll", "0"], ["--gsme-poll", "-1"],
                               ["--keep-alive", "0"], ["--idle-timeout", "nan"], ["--max-connections", "0"],
                               ["--time-scale", "1000"]]):  # the default --gsme-poll 0.5 would poll every 0.5 ms
        state = tmp_path / f"refused-{i}"
        try:
            r = subprocess.run([*base, "--state", str(state), *extra], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{extra}: still running after 60 s")
        assert r.returncode != 0 and one_line(r.stderr) and extra[0] in r.stderr, (extra, r.stderr[-300:])
        assert not state.exists(), extra
    for i, extra in enumerate([["--time-scale", "1000", "--gsme-poll", "5", "--keep-alive", "5"],
                               ["--time-scale", "0.01"]]):
        p = subprocess.Popen([*base, "--state", str(tmp_path / f"ok-{i}"), *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            m = re.search(r"listening on (\S+):(\d+)", line)
            assert m, (extra, line, p.stderr.read() if p.poll() is not None else "")
            with socket.create_connection(("127.0.0.1", int(m.group(2))), timeout=30) as s:
                s.sendall(b"CHF:PING\r\n")
                assert s.makefile("rb").readline() == b"CHF:OK PONG\r\n"
        finally:
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=30)


def test_a_bench_file_with_an_unusable_time_scale_is_refused_in_one_line(tmp_path):
    (tmp_path / "b.toml").write_text(bench_text("time_scale", 1e308) + 'wan = "127.0.0.1:0"\n')
    r = subprocess.run([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(tmp_path / "b.toml")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(REPO)})  # this checkout's chf, from another cwd
    assert r.returncode != 0 and one_line(r.stderr) and "time_scale" in r.stderr, r.stderr[-300:]


def test_chf_advance_cannot_pass_the_end_of_the_calendar(bench):
    """The emulated clock moved to December 9999 (in steps no one would take, but a year per CHF:ADVANCE gets
    there): a further year is refused in one line, and the clock still tells the time. It used to raise
    OverflowError from the clock itself. (Last in this file: it leaves the shared bench at the end of time.)"""
    rb = bench.running
    advance = next(c for c in rb.controls("A") if c.name == "ADVANCE")
    end = datetime(9999, 12, 1, tzinfo=timezone.utc)
    bench.call(lambda: rb.clock.advance((end - rb.clock.now()).total_seconds()))
    with pytest.raises(ValueError, match="cannot pass 9999-12-31") as e:
        bench.call(lambda: advance.handler([str(366 * 86400)]))
    assert one_line(str(e.value))
    assert bench.call(rb.clock.now).year == 9999
