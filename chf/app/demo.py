"""`make run` / `chf demo`: the showcase, on embedded defaults and no hardware (docs/triage.md).

A bench in a temporary directory: an old hub and a QA hub on one virtual radio medium with four emulated
devices: an ESME straight from the factory, an ESME the old hub installs over the air, a dead GSME, and a
PPMID for the join/unjoin checks. Part 1 tells the story with every frame decoded: the remote party adds the
ESME to the old hub, it joins (CS14 carries its TC link key hash), the logs are read; then the meter is
"returned" (the old hub's radio goes silent). Part 2 is a batch triage (SECMP0013) of the three meters with
its progress display and its report: state 1, state 2 (restored onto the QA hub by a trust-centre swap-out,
checked, divorced) and state 3 (not communicating). The whole HAN is captured as real 802.15.4/ZigBee frames
(`<temp>/commshub-demo/han.pcapng` unless told otherwise, with its Wireshark key file), and the end says how to
open it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from chf.config.bench_file import parse
from chf.remote.hub_link import HubLink
from gbcs import message
from gbcs.errors import GbcsError
from gbcs.explain import explain
from gbcs.keys import KeyStore

OLD, QA = "02C0FFEE00001D01", "02C0FFEE0000AA01"
FRESH_ESME, RETURNED_ESME, DEAD_GSME, PPMID = ("02C0FFEE000E0001", "02C0FFEE000E0002", "02C0FFEE000E0003",
                                               "02C0FFEE000E0004")
BENCH = f"""
keys = "keys"
keep_alive_s = 30
time_scale = 120
gsme_poll_s = 7.5

[[hub]]
name = "old"
eui = "{OLD}"
wan = "127.0.0.1:0"
state = "state-old"

[[hub]]
name = "qa"
eui = "{QA}"
wan = "127.0.0.1:0"
state = "state-qa"

[[meter]]
type = "esme"
eui = "{FRESH_ESME}"
install_code = "00112233445566778899AABBCCDDEEFF"

[[meter]]
type = "esme"
eui = "{RETURNED_ESME}"
install_code = "83FED3407A939723A5C639B26916D505"

[[meter]]
type = "gsme"
eui = "{DEAD_GSME}"
install_code = "A5A5A5A55A5A5A5AA5A5A5A55A5A5A5A"
dead = true

[[meter]]
type = "ppmid"
eui = "{PPMID}"
install_code = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
"""


BOILERPLATE = ("tag: 0x", "long-invoke-id-and-priority", "date-time: absent", "specification: absent", "kind: 0x",
               "result: 0 success")


def _find(node, name):
    if node.name == name:
        return node
    for c in node.children:
        r = _find(c, name)
        if r is not None:
            return r
    return None


def show(title: str, frame: bytes, keys: KeyStore, detail: bool = True, disconnect_code: int | None = None) -> None:
    """One line per frame (direction, kind, use case, counter, ends, MAC/signature), then its payload decoded
    (the provisional Disconnect under `disconnect_code`, None: the default)."""
    try:
        msg = message.decode(frame, keys, disconnect_code=disconnect_code)
    except GbcsError as e:
        print(f"  {title}: undecodable ({e})")
        return
    h = msg.header
    uc, _ = message.use_case_of(h.message_code, msg.disconnect_code)
    auth = f"MAC {msg.mac.value}" if msg.mac.value != "absent" else f"signature {msg.signature.value}"
    print(f"  {title}: {h.cra.label} 0x{h.message_code:04X} {uc or ''} counter {h.counter:#x} "
          f"from {h.originator.hex().upper()} to {h.recipient.hex().upper()}, {len(frame)} bytes, {auth}")
    if detail:
        payload = _find(explain(msg, frame), "payload")
        lines = [ln for ln in (payload.render(2)[1:] if payload else []) if not any(x in ln for x in BOILERPLATE)]
        for line in lines[:12]:
            print("  " + line)


def default_capture() -> Path:
    return Path(tempfile.gettempdir()) / "commshub-demo" / "han.pcapng"


def how_to_open(cap: Path, frames: int) -> list[str]:
    """The lines that tell how to look at the showcase's capture in Wireshark, tshark and `chf decode`."""
    from chf.app.extcap import wireshark_config_dir
    from zigbee.capture.keyfile import UAT_NAME

    keys = Path(f"{cap}.keys")
    table = wireshark_config_dir() / UAT_NAME
    return [f"The HAN of this showcase, as a radio sniffer would have caught it: {cap} ({frames} frames)",
            f"  its ZigBee keys, in Wireshark's key-table form: {keys}",
            f"  Wireshark: add the keys to your key table ({table}; or Edit → Preferences → Protocols → ZigBee),",
            "  then open the capture and filter on gbcs_message:",
            f"    mkdir -p {table.parent} && cat {keys} >> {table}",
            f"    wireshark -r {cap} -Y gbcs_message",
            f"  tshark: tshark -r {cap} -Y gbcs_message   (with the same key table)",
            f"  commshub itself: chf decode --pcap {cap}   (the keys file beside it is used)"]


def run_demo(disconnect_code: int | None = None, pcap: str | Path | None = None) -> int:
    """The showcase; `disconnect_code` is the provisional Disconnect message code of its bench, remote party and
    decoding (COMMSHUB_DISCONNECT_CODE; None: the default); `pcap` where its HAN capture goes."""
    from chf.app.triage_cli import _table, run_triage
    from chf.remote.bench_remote import BenchRemote
    from chf.remote.triage_steps import MeterInfo, _cs14_hash
    from chf.runtime.bench import BenchThread

    t0 = time.monotonic()
    cap = Path(pcap) if pcap else default_capture()
    cap.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    with tempfile.TemporaryDirectory(prefix="commshub-demo-") as tmp:
        bench = parse(BENCH, Path(tmp) / "bench.toml")
        print("commshub showcase: two hubs and four emulated devices on one virtual radio (no hardware)")
        print(f"  bench: {bench.path} (time runs x{bench.time_scale:g}; TC keep-alive {bench.keep_alive_s:g} s)\n")
        with BenchThread(bench, disconnect_code=disconnect_code, pcap=cap) as bt:
            hosts = {name: bt.address(name) for name in ("old", "qa")}
            for name, (h, p) in hosts.items():
                print(f"hub {name} {bench.hub(name).eui.hex().upper()} listening on {h}:{p}")
            print(f"capturing the HAN to {cap} (Wireshark keys: {cap}.keys)")
            remote = BenchRemote(bench.keys, Path(tmp) / "counters.json", disconnect_code=disconnect_code)
            keys = remote.keys
            old = bench.hub("old")
            m = next(x for x in bench.meters if x.eui.hex().upper() == RETURNED_ESME)

            print("\n== Part 1: an ESME is installed on the old hub, joins its HAN, and is later returned\n")
            with HubLink(*hosts["old"]) as link:
                def step(title: str, frame: bytes, wait_for=None, timeout: float = 5.0) -> list[bytes]:
                    print(f"-> {title}")
                    mark = sum(1 for tr in link.journal if tr.direction == "received")
                    show("sent", frame, keys, detail=False, disconnect_code=disconnect_code)
                    resp = link.request(frame, timeout)
                    if wait_for is not None:
                        link.wait_for(wait_for, timeout, mark)
                    got = [tr.frame for tr in link.journal if tr.direction == "received"][mark:]
                    for f in got:
                        show("received", f, keys, disconnect_code=disconnect_code)
                    if resp is None:
                        print("  (no response)")
                    print()
                    return got

                step("CCS01 add the ESME to the old hub's device log (join window 90 s); it joins over the air",
                     remote.chf(old.eui, "CCS01", device=m.eui, install_code=m.install_code, device_type="esme"),
                     wait_for=lambda f: bool(_cs14_hash(f, m.eui)))
                step("CS07 read the ESME's own device log, routed over the HAN tunnel",
                     remote.meter(old.eui, m.eui, "CS07"))
                step("CCS07 read the old hub's device logs (current and historic)", remote.chf(old.eui, "CCS07"))
                print("-- the ESME is taken off the wall and returned: it can no longer hear its old hub "
                      f"({link.control('POWER OFF')})\n")

            print("== Part 2: batch triage of three returned meters on the QA hub (SECMP0013)\n")
            meters = [MeterInfo(x.eui, x.type, x.install_code) for x in bench.meters if x.type != "ppmid"]
            reports = run_triage(bench, bench.hub("qa"), old, meters, Path(tmp) / "triage-counters.json",
                                 hosts=hosts, disconnect_code=disconnect_code)
            _table(reports)
            two = next((r for r in reports if r.state == 2), None)
            if two is not None:
                print(f"\nThe state-2 meter's frames, decoded ({two.meter}):")
                for st in two.steps:
                    print(f"-- {st.name} [{st.service_request}] {st.outcome} in {st.seconds:.2f} s")
                    for fr in st.frames:
                        show(fr["direction"], bytes.fromhex(fr["hex"]), keys, detail=False,
                             disconnect_code=disconnect_code)
            assert bt.running is not None
            frames = sum(t.frames for t in bt.running.captures.values())
        print()
        for line in how_to_open(cap, frames):
            print(line)
        print(f"\nshowcase finished in {time.monotonic() - t0:.1f} s")
        sys.stdout.flush()
        expected = {FRESH_ESME: (1, True), RETURNED_ESME: (2, True), DEAD_GSME: (3, False)}
        return 0 if all(expected.get(r.meter) == (r.state, r.redeployable) for r in reports) else 1
