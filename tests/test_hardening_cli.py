"""Issue 9 item 7: bad CLI input is one clear line and a non-zero exit, never a traceback; plus the
property tests of the WAN line reader and of `chf encode`'s JSON input."""

import json
import os
import string

import pytest
from cli_rig import no_locks_left, one_line_error, run  # noqa: F401 - no_locks_left is an autouse fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtds_data import require_rtds

from chf.core.errors import ConfigurationError
from chf.app.cli import main
from chf.runtime.hub_runtime import RunOptions, build_hub
from chf.runtime.wan import Dispatcher
from chf.runtime.wan_limits import LineSplitter, Piece

CCS01 = "8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX"




@pytest.fixture(scope="module")
def ccs01_json(tmp_path_factory):
    """`chf decode --json` of RTDS CCS01, as a dict."""
    import subprocess
    import sys
    f = require_rtds() / CCS01
    out = subprocess.run([sys.executable, "-m", "chf.app.cli", "decode", "--json", str(f)], capture_output=True,
                         text=True, check=False).stdout
    return json.loads(out)


def test_encode_deeply_nested_json(capsys, tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100000 + "]" * 100000)
    rc, _, err = run(capsys, "encode", str(f))
    assert one_line_error(rc, err) and "nested too deeply" in err


@pytest.mark.parametrize("field, value", [
    ("other_information", 5), ("message_code", -1), ("wire", "zz"), ("wire", {"oi_length_size": "zz"}),
    ("wire", {"mac_header.security_control": None}), ("wire", {"mac_header.transaction_id": "ZZ"}),
    ("counter", None), ("payload", [1, 2]),
])
def test_encode_bad_field_values(capsys, tmp_path, ccs01_json, field, value):
    doc = dict(ccs01_json, **{field: value})
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    rc, out, err = run(capsys, "encode", str(f))
    assert rc != 0 and "Traceback" not in err and out == ""
    assert err.startswith("frame 1: ")


def test_decode_json_round_trips_through_encode(capsys, tmp_path, ccs01_json):
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(ccs01_json))
    rc, out, _ = run(capsys, "encode", str(f))
    assert rc == 0 and out.strip() == (require_rtds() / CCS01).read_text().strip().upper()


def test_send_unknown_device_type(capsys, rtds_keys):
    rc, _, err = run(capsys, "send", "CCS01", "--device", "00DB1234567890A0", "--install-code", "0" * 32,
                     "--device-type", "toaster", "--keys", str(rtds_keys), "--profile", "rtds",
                     "--wan", "127.0.0.1:9", "--wait", "0")
    assert one_line_error(rc, err) and "toaster" in err and "esme" in err


def test_send_raw_refuses_non_hex(capsys):
    rc, _, err = run(capsys, "send", "--raw", "ZZ", "--wan", "127.0.0.1:9", "--wait", "0")
    assert one_line_error(rc, err) and "--raw" in err


def test_send_bad_port(capsys):
    rc, _, err = run(capsys, "send", "--raw", "00", "--wan", "127.0.0.1:99999", "--wait", "0")
    assert one_line_error(rc, err) and "99999" in err


def test_run_bad_port(tmp_path, capsys):
    assert main(["run", "--state", str(tmp_path), "--wan", "127.0.0.1:99999"]) == 1
    assert "port 0-65535" in capsys.readouterr().err
    assert not (tmp_path / "keys").exists()  # refused before touching the state


@pytest.mark.parametrize("opts, match", [
    (dict(capacity=0), "--capacity takes 1 to"),
    (dict(model="M" * 300), "--model takes 1 to 8"),
    (dict(manufacturer="ACME Corp"), "--manufacturer takes 1 to 4"),
    (dict(control_from=["bogus"]), "not an IP"),
])
def test_run_option_bounds(tmp_path, opts, match):
    from chf.runtime.hub_runtime import wan_limits
    o = RunOptions(state=str(tmp_path), **opts)
    with pytest.raises(ConfigurationError, match=match):
        wan_limits(o)
        build_hub(o)


def test_decode_directory_fifo_and_short_words(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for arg, says in ((str(tmp_path), "is a directory"), (str(fifo), "is a FIFO"), ("ZZZZ", "too short")):
        rc, out, err = run(capsys, "decode", arg)
        assert rc != 0 and says in out and "Traceback" not in err


def test_decode_keys_file_is_not_a_directory(capsys, tmp_path):
    f = tmp_path / "keys.pem"
    f.write_text("x")
    rc, _, err = run(capsys, "decode", "--keys", str(f), "00")
    assert one_line_error(rc, err) and "is a file" in err and "does not exist" not in err


# ------------------------------------------------------------------------------------------ properties
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
FIELDS = ["cra", "counter", "originator", "recipient", "message_code", "other_information", "payload_type",
          "payload", "wire", "signature_field", "signature_value", "form", "mac_value", "date_time"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4), raw=st.booleans())
def test_encode_any_json_is_a_frame_or_a_typed_error(capsys, tmp_path, ccs01_json, mutations, raw):
    doc = mutations if raw else dict(ccs01_json, **mutations)
    f = tmp_path / "doc.json"
    f.write_text(json.dumps(doc))
    rc = main(["encode", str(f)])  # an unhandled exception fails the test
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2) and "Traceback" not in err
    assert (rc == 0) == bool(out.strip())


class StubHub:
    """Stands in for the hub behind the dispatcher: records frames, answers nothing."""

    def __init__(self):
        import threading
        self.lock = threading.RLock()
        self.frames = []

    def handle(self, frame, origin=None):
        from chf.core.hub import Outcome

        self.frames.append(frame)
        return Outcome()


line_bytes = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, h, tail: f"GBCS:DATA#0:{n}:{h}".encode() + tail,
              st.integers(-5, 10**7).map(str) | st.text(string.printable, max_size=8),
              st.text("0123456789ABCDEFabcdefZ", max_size=40), st.sampled_from([b"", b"\r\n", b"\n", b"\r"])),
    st.builds(lambda t: b"CHF:" + t.encode("utf-8", "replace"), st.text(max_size=60)))


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(line_bytes, max_size=8), cut=st.integers(1, 64), max_line=st.integers(8, 200))
def test_wan_line_reader_any_bytes_give_lines_or_errors(chunks, cut, max_line):
    """Whatever arrives, in whatever pieces: each piece out is a line within the limit or OVERSIZE, and each line
    the dispatcher gets is answered by ERROR/CHF: lines or handed to the hub as frame bytes."""
    data = b"".join(chunks)
    hub = StubHub()
    d = Dispatcher(hub)  # type: ignore[arg-type]
    s = LineSplitter(max_line)
    pieces = []
    for i in range(0, len(data), cut):
        pieces += s.feed(data[i:i + cut])
    pieces += s.end()
    total = 0
    for p in pieces:
        if p is Piece.OVERSIZE:
            continue
        assert len(p) <= max_line
        total += len(p)
        for out in d.line(p):
            assert out.endswith(b"\r\n") and (out.startswith(b"ERROR ") or out.startswith(b"CHF:")), out
    assert total <= len(data)
    assert all(isinstance(f, bytes) for f in hub.frames)
