"""The `chf` command as users run it: decode (tree and --json), encode, diff, keys, send/run."""

import io
import json
import os
import subprocess
import sys

import pytest
from rtds_data import corpus_dir, frame, require_rtds

from chf.core.errors import ConfigurationError
from chf.app.cli import main

CCS01 = "8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_decode_tree_names_fields_with_offsets(capsys, rtds_keys):
    code, out, _ = run(capsys, "decode", "--keys", str(rtds_keys), str(corpus_dir() / CCS01))
    assert code == 0
    assert "0x0001 CCS01" in out and "90B3D51F30000002" in out and "register_device" in out
    assert "MAC valid" in out and "round trip exact" in out
    line = next(ln for ln in out.splitlines() if "business target ID" in ln)
    # 9-byte MAC header with a 2-byte length (81 91) + 5-byte security header, DF 09 CRA ctr8 08 orig8 08 → 35
    assert int(line.split()[0]) == 35


def test_decode_json_lines_and_exit_status(capsys, rtds_keys):
    bad = frame(CCS01)[:50].hex()
    code, out, _ = run(capsys, "decode", "--json", "--keys", str(rtds_keys), str(corpus_dir() / CCS01), bad)
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1
    assert rows[0]["ok"] and rows[0]["mac"] == "valid" and rows[0]["use_case"] == "CCS01"
    assert rows[1]["ok"] is False and rows[1]["error"]["offset"] >= 0 and rows[1]["error"]["field"]


def test_decode_accepts_base64_and_gfi(capsys):
    import base64

    from gbcs.gfi import encode_line
    data = frame(CCS01)
    code, out, _ = run(capsys, "decode", "--json", base64.b64encode(data).decode(), encode_line(data).decode())
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and all(r["ok"] and r["mac"] == "unknown" for r in rows)


def test_decode_types_the_disconnect_by_commshub_disconnect_code(capsys, monkeypatch):
    """The app reads COMMSHUB_DISCONNECT_CODE once and passes it to the decoder (no process-wide setting)."""
    from gbcs import asn1
    from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField

    meter = bytes.fromhex("00DB1234567890A0")
    data = GroupingHeader(Cra.COMMAND, 7, bytes.fromhex("90B3D51F30010000"), meter, OtherInformation(0xF0AA),
                          asn1.encode_disconnect_command(meter), None, SignatureField.NULL).encode()
    monkeypatch.setenv("COMMSHUB_DISCONNECT_CODE", "0xF0AA")
    code, out, _ = run(capsys, "decode", "--json", data.hex())
    row = json.loads(out)
    assert code == 0 and row["use_case"] == "DISCONNECT" and row["payload"]["type"] == "DisconnectFromHANCommand"
    monkeypatch.delenv("COMMSHUB_DISCONNECT_CODE")
    code, out, _ = run(capsys, "decode", "--json", data.hex())
    row = json.loads(out)
    assert code == 0 and row["use_case"] is None and row["payload"]["type"] is None  # 0xF0AA is nothing by default


def test_encode_reproduces_decode_json(capsys, rtds_keys, tmp_path):
    code, out, _ = run(capsys, "decode", "--json", str(corpus_dir() / CCS01))
    js = tmp_path / "f.json"
    js.write_text(out)
    code, out, err = run(capsys, "encode", "--keys", str(rtds_keys), str(js))
    assert code == 0 and out.strip() == frame(CCS01).hex().upper() and "MAC computed" in err


def test_encode_changed_field_gets_a_fresh_valid_mac(capsys, rtds_keys, tmp_path):
    _code, out, _ = run(capsys, "decode", "--json", str(corpus_dir() / CCS01))
    d = json.loads(out)
    d["counter"] = "0000000000000600"
    js = tmp_path / "f.json"
    js.write_text(json.dumps(d))
    _code, out, _ = run(capsys, "encode", "--keys", str(rtds_keys), str(js))
    _code, out2, _ = run(capsys, "decode", "--json", "--keys", str(rtds_keys), out.strip())
    r = json.loads(out2)
    assert r["counter"] == "0000000000000600" and r["mac"] == "valid"


def test_diff_names_the_fields_that_differ(capsys):
    require_rtds()
    a = corpus_dir() / CCS01
    b = corpus_dir() / "8.11_CCS01/CCS01_8.11_ERROR_COMMAND_GBCS.HEX"
    code, out, _ = run(capsys, "diff", str(a), str(b))
    assert code == 1
    assert "originator counter" in out and "0000000000000516" in out and "0000000000000517" in out
    code, out, _ = run(capsys, "diff", str(a), str(a))
    assert code == 0 and "no differences" in out


def test_keys_init_and_refuse_overwrite(capsys, tmp_path):
    code, _out, _ = run(capsys, "keys", "init", str(tmp_path / "k"))
    assert code == 0 and (tmp_path / "k" / "pki.json").is_file()
    assert len(list((tmp_path / "k").glob("*.key"))) == 12
    code, _, err = run(capsys, "keys", "init", str(tmp_path / "k"))
    assert code == 2 and "exists" in err


def test_run_and_send_end_to_end(tmp_path, capsys):
    """`chf run` as a process, `chf send` as another: CCS01 in, response and CS14 out, counters kept. The later
    sends go through the CLI's main() in this process (the process boundary is the first send's)."""
    state = tmp_path / "state"
    hub = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--wan", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = hub.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:")
        wan = line.split()[-1]
        base = ["send", "--wan", wan, "--state", str(state), "--wait", "1"]
        r = subprocess.run([sys.executable, "-m", "chf.app.cli", *base, "CCS01", "--device", "00DB1234567890A0",
                            "--install-code", "00" * 16], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        frames = r.stdout.split()
        assert len(frames) == 2 and all(f.startswith("DD") for f in frames)
        code, out, _ = run(capsys, *base, "CCS07", "--explain")
        assert code == 0 and "00DB1234567890A0" in out and "MAC" in out
        counters = json.loads((state / "send-counters.json").read_text())
        assert len(counters) == 1
        code, _, err = run(capsys, *base, "--raw", frames[0])
        assert code == 1 and "no response" in err  # a response is no command: discarded
    finally:
        hub.terminate()
        hub.wait(5)


def test_run_identity_is_configuration(tmp_path):
    from chf.runtime.hub_runtime import RunOptions, build_hub
    hub = build_hub(RunOptions(state=str(tmp_path), model="ABCDEFGH", manufacturer="XYZ ",
                               firmware_version="01020304", extended_pan_id="1122334455667788"))
    ident = hub.config.identity
    assert (ident.model, ident.manufacturer, ident.firmware_version) == (b"ABCDEFGH", b"XYZ ", bytes([1, 2, 3, 4]))
    assert hub.state.extended_pan_id == bytes.fromhex("1122334455667788")
    with pytest.raises(ConfigurationError, match="--firmware-version"):
        build_hub(RunOptions(state=str(tmp_path), firmware_version="0102"))


def test_demo_the_main_job(capsys):
    """`make run`: the ESME joins the old hub over the air (CS14 with its hash); every response's MAC or signature
    verifies; the batch triage finds the three states and only the communicating meters are re-deployable."""
    code, out, _ = run(capsys, "demo")
    assert code == 0
    lines = out.splitlines()
    responses = [ln for ln in lines if "received: response" in ln]
    assert responses and all(ln.endswith(("MAC valid", "signature valid")) for ln in responses)
    assert not [ln for ln in lines if "invalid" in ln or "undecodable" in ln]
    rows = {ln.split()[1]: ln.split()[3:5] for ln in lines if ln.startswith("│ 02C0FFEE000E000")}
    assert rows == {"02C0FFEE000E0001": ["1", "│"], "02C0FFEE000E0002": ["2", "│"], "02C0FFEE000E0003": ["3", "│"]}
    redeploy = [ln.split("│")[3].strip() for ln in lines if ln.startswith("│ 02C0FFEE000E000")]
    assert redeploy == ["yes", "yes", "NO"]
    assert any("DISCONNECT" in ln and "signature valid" in ln and "received" in ln for ln in lines)


def test_one_hub_per_state_directory(tmp_path):
    state = tmp_path / "s"
    first = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--wan", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().startswith("listening on")
        second = subprocess.run([sys.executable, "-m", "chf.app.cli", "run", "--state", str(state), "--wan",
                                 "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        assert second.returncode != 0 and "another hub is running" in second.stderr
    finally:
        first.terminate()
        first.wait(5)


def test_decode_in_worker_processes_prints_what_one_process_prints(capsys, rtds_keys, tmp_path):
    """A batch big enough for workers (300 RTDS frames, with one truncated and one with a flipped MAC byte placed
    among them: three work slices) gives, with -j 2, the very bytes and exit status of -j 1, in input order."""
    from rtds_data import frames

    from gbcs.gfi import encode_line

    data = [f for _, f in frames()][:300]
    bad_mac = bytearray(next(f for f in data if f[0] == 0xDD))  # a MAC-header (General-Ciphering) frame
    bad_mac[-1] ^= 1  # the MAC is the last 12 bytes of a MAC-header frame: verification fails, decode does not
    data[200:200] = [data[10][:40], bytes(bad_mac)]
    path = tmp_path / "batch.gfi"
    path.write_bytes(b"".join(encode_line(f) for f in data))
    outs = {}
    for mode in ([], ["--json"]):
        for jobs in ("1", "2"):
            p = subprocess.run([sys.executable, "-m", "chf.app.cli", "decode", "-j", jobs, "--keys", str(rtds_keys),
                                *mode, str(path)], capture_output=True, check=False)
            outs[(tuple(mode), jobs)] = (p.returncode, p.stdout)
        assert outs[(tuple(mode), "1")] == outs[(tuple(mode), "2")]
        assert outs[(tuple(mode), "1")][0] == 1
    # Output captured in memory (no file descriptor to share with workers): decoded in this process, the same.
    code, out, _ = run(capsys, "decode", "-j", "2", "--keys", str(rtds_keys), "--json", str(path))
    assert (code, out.encode()) == outs[(("--json",), "1")]
    rows = [json.loads(x) for x in outs[(("--json",), "2")][1].splitlines()]
    assert len(rows) == len(data)
    assert rows[200]["ok"] is False and rows[201]["ok"] and rows[201]["mac"] == "invalid"
    assert [r["source"] for r in rows] == [f"{path}:{i}" for i in range(1, len(data) + 1)]


def test_decode_workers_write_slices_in_order_whatever_order_they_finish(rtds_keys, tmp_path):
    """The ordering rule alone, in this process: slices finishing last-first are spooled and written by the
    worker of slice 0, in input order; nothing is left in the spool."""
    import argparse
    import threading
    from types import SimpleNamespace

    from rtds_data import frames

    from chf.app import decode_command as dc
    from chf.app.inputs import Input
    from gbcs.keys import KeyStore

    items = [Input(rel, data) for rel, data in frames()[:9]]
    args = argparse.Namespace(json=True, tunnel=False)
    keys = KeyStore.from_directory(rtds_keys)
    expected = "".join(dc.report(args, keys, it)[0] for it in items).encode()
    spool = tmp_path / "spool"
    spool.mkdir()
    out = tmp_path / "out"
    with out.open("wb") as f:
        dc._shared = dc._Shared(args, keys, items, f.fileno(), str(spool), SimpleNamespace(value=0),
                                threading.Lock())
        try:
            for k in (2, 1, 0):
                dc._work((k, 3 * k, 3 * k + 3))
                assert out.stat().st_size == (len(expected) if k == 0 else 0)
            assert dc._shared.turn.value == 3
        finally:
            dc._shared = None
    assert out.read_bytes() == expected and not list(spool.iterdir())


# --- the reader of standard output goes away (`chf … | head`) -------------------------------------------------

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_decode_into_a_reader_that_stops_ends_quietly(rtds_keys, tmp_path, jobs):
    """`chf decode … | head -1`: every RTDS frame (megabytes of report, far beyond a pipe's buffer) to a reader
    that takes one line and closes: no message, no traceback, exit status 141 (128 + SIGPIPE, as `cat` gives).
    With -j 2 the reports are written by forked worker processes, which meet the closed pipe themselves."""
    from rtds_data import frames

    from gbcs.gfi import encode_line

    path = tmp_path / "all.gfi"
    path.write_bytes(b"".join(encode_line(f) for _, f in frames()))
    p = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "decode", "-j", jobs, "--keys", str(rtds_keys),
                          str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    assert (p.wait(120), err) == (141, b"")
    assert first == f"== {path}:1\n".encode()


@pytest.mark.parametrize("argv", [["bench", "example"], ["inventory", "rules"], ["keys", "init", "{tmp}/k"]])
def test_commands_end_quietly_when_nobody_reads_their_output(tmp_path, argv):
    """Standard output a pipe whose reader closed before the command started: the first write fails in main's
    final flush (small outputs are buffered), which ends quietly with 141 as decode does."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "chf.app.cli", *(a.format(tmp=tmp_path) for a in argv)], stdout=w,
                           stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(w)
    assert (p.returncode, p.stderr) == (141, b"")


class ClosedPipe(io.TextIOBase):
    """Standard output whose reader is gone: every write fails as a write to such a pipe does (no descriptor)."""

    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass


def test_a_reader_gone_mid_table_is_not_an_inventory_error(tmp_path, monkeypatch, capsys):
    """`chf inventory show` meets the closed pipe while printing its table, inside the command's own handling of
    OSError: it is not reported as an inventory error (`chf inventory: [Errno 32] Broken pipe`, status 2) but
    ends quietly with 141."""
    inv = ["--inventory", str(tmp_path / "inventory.sqlite")]
    assert main(["inventory", "set", "--device", "02C0FFEE000E0001", "--device-type", "esme", *inv]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["inventory", "show", *inv]) == 141
    assert capsys.readouterr().err == ""


# --- chf inventory is a sub-command like the others ------------------------------------------------------------

def test_inventory_is_a_sub_command_of_chf(capsys):
    from chf.app.cli import build_parser

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "inventory" in out.split("{", 1)[1].split("}", 1)[0].split(",")
    assert "the inventory mirror: show, reconcile, set, rules" in out
    args = build_parser().parse_args(["inventory", "reconcile", "--bench", "b.toml", "--wait", "3", "--json"])
    assert (args.command, args.action, args.bench, args.wait, args.json) == ("inventory", "reconcile", "b.toml", 3.0, True)
    with pytest.raises(SystemExit) as e:
        main(["inventory", "show", "--bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2  # reported by `chf inventory` under its usage, as when it had a parser of its own
    assert err.startswith("usage: chf inventory [-h] {show,reconcile,set,rules} ...\n")
    assert err.endswith("chf inventory: error: unrecognized arguments: --bogus\n")


# --- tables ----------------------------------------------------------------------------------------------------

def _cells_table():
    from chf.app.tables import table

    t = table("EUI", "description", "notes", keep=("EUI",))
    rows = [("02C0FFEE000E0001", "a rather long description of the first device", "notes [with brackets]"),
            ("02C0FFEE000E0002", "short", "x" * 70)]
    for r in rows:
        t.add_row(*r)
    return t, rows


def test_tables_off_a_terminal_are_160_wide_with_one_line_rows(monkeypatch, capsys):
    from chf.app.tables import FALLBACK_WIDTH, print_table

    monkeypatch.delenv("COLUMNS", raising=False)
    t, rows = _cells_table()
    print_table(t)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["EUI", "description", "notes"]
    assert set(lines[1]) == {"─"}
    for r, line in zip(rows, lines[2:], strict=True):  # each row one line, starting with its first cell
        assert line.startswith(r[0]) and all(c in line for c in r)
    assert all(len(ln) <= FALLBACK_WIDTH and ln == ln.rstrip() for ln in lines)


def test_tables_fit_columns_and_cut_nothing(monkeypatch, capsys):
    from chf.app.tables import print_table

    monkeypatch.setenv("COLUMNS", "50")
    t, rows = _cells_table()
    print_table(t)
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.splitlines()) <= 50
    assert "02C0FFEE000E0001" in out and "02C0FFEE000E0002" in out  # identifiers are the last to wrap
    text = sorted("".join(out.split()).replace("─", ""))  # every character of every cell, none cut or added
    assert text == sorted("".join("EUI description notes".split() + ["".join(r).replace(" ", "") for r in rows]))


def test_markdown_table_pastes_whatever_the_width(monkeypatch):
    from chf.app.tables import markdown_table

    monkeypatch.setenv("COLUMNS", "20")
    rows = [("full decode (payload trees)", "51,564 frames/s (18.8 µs/frame)"), ("a | b", "`x`")]
    lines = markdown_table(("measure", "figure"), rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["measure", "figure"]
    assert set(lines[1]) == {"|", "-"} and lines[1].count("|") == 3
    assert lines[2].startswith("| full decode (payload trees) |") and "51,564 frames/s (18.8 µs/frame)" in lines[2]
    assert lines[3].startswith("| a \\| b ") and len(lines) == 4
    assert len({len(ln) for ln in lines}) == 1 and all(ln.endswith("|") for ln in lines)


def test_triage_table_lines_up_the_steps_of_every_meter(monkeypatch, capsys):
    """The triage report (`chf triage`, `chf demo`): a boxed table, one row per meter, whose steps column lists
    outcome, time, service request and name with the same columns for every meter; fits COLUMNS."""
    from chf.app.triage_cli import _table
    from chf.remote.triage_steps import MeterReport, Step

    reports = [MeterReport("02C0FFEE000E0001", 1, True, "state 1: re-deployable",
                           [Step("join on the QA hub", "SR 8.11", "ok", 0.012), Step("unjoin", "SR 8.8.1", "ok", 0.4)]),
               MeterReport("02C0FFEE000E0003", 3, False, "not communicating [no CS14]",
                           [Step("join on the QA hub", "SR 8.11", "timeout", 1.05)])]
    monkeypatch.setenv("COLUMNS", "130")
    _table(reports)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip() == "Returned-meter triage (SECMP0013)" and max(map(len, lines)) <= 130
    assert [c.strip() for c in lines[2].strip("┃").split("┃")] == ["meter", "state", "re-deployable", "verdict", "steps"]
    rows = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines if ln.startswith("│ 02C0FFEE")]
    assert [r[:4] for r in rows] == [["02C0FFEE000E0001", "1", "yes", "state 1: re-deployable"],
                                     ["02C0FFEE000E0003", "3", "NO", "not communicating [no CS14]"]]
    steps = [ln.split("│")[5] for ln in lines if "SR 8." in ln]
    assert [s.split() for s in steps] == [["ok", "0.01s", "SR", "8.11", "join", "on", "the", "QA", "hub"],
                                          ["ok", "0.40s", "SR", "8.8.1", "unjoin"],
                                          ["timeout", "1.05s", "SR", "8.11", "join", "on", "the", "QA", "hub"]]
    assert len({s.index("SR") for s in steps}) == 1 and len({s.index("s ") for s in steps}) == 1  # aligned


def test_tables_on_an_ascii_stream_draw_ascii_rules(monkeypatch):
    from chf.app.tables import print_table

    monkeypatch.delenv("COLUMNS", raising=False)
    t, rows = _cells_table()
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    print_table(t, out)  # a UTF rule would raise UnicodeEncodeError here
    out.flush()
    lines = out.buffer.getvalue().decode("ascii").splitlines()
    assert lines[0].split("|")[0].strip() == "EUI" and set(lines[1]) <= set("-+")
    assert lines[2].startswith(rows[0][0]) and all(c in lines[2] for c in rows[0])


@pytest.mark.parametrize("tunnel_at", [None, 0, 150, 290])
def test_decode_of_many_files_in_workers_prints_what_one_process_prints(rtds_keys, tmp_path, tunnel_at):
    """300 frame files named on one command line (each worker reads its own slice of them) give, with -j 2, the
    very bytes and exit status of -j 1 — also when tunnel frames carrying GBT blocks of one frame sit among them,
    at the start, in the middle or in the last slice (from their slice on, one process reports in input order)."""
    from rtds_data import frames

    from zigbee import tunnel

    data = [f for _, f in frames()][:300]
    data[100] = data[100][:30]  # one that does not decode: exit status 1
    if tunnel_at is not None:
        big = next(f for f in data if len(f) > 200)
        blocks = tunnel.transfers(big, max_transfer=120)
        data[tunnel_at:tunnel_at + len(blocks)] = [
            tunnel.encode("transfer_data", to_server=False, tsn=i, tunnel_id=3, data=b) for i, b in enumerate(blocks)]
    paths = []
    for i, f in enumerate(data):
        p = tmp_path / f"f{i:03d}.hex"
        p.write_text(f.hex() + "\n")
        paths.append(str(p))
    outs = {}
    for jobs in ("1", "2"):
        p = subprocess.run([sys.executable, "-m", "chf.app.cli", "decode", "-j", jobs, "--keys", str(rtds_keys),
                            "--json", *paths], capture_output=True, check=False)
        outs[jobs] = (p.returncode, p.stdout)
    assert outs["1"] == outs["2"] and outs["1"][0] == 1
    rows = [json.loads(x) for x in outs["2"][1].splitlines()]
    assert [r["source"] for r in rows if "(GBT reassembled)" not in r["source"]] == paths
    assert sum("(GBT reassembled)" in r["source"] for r in rows) == (tunnel_at is not None)
