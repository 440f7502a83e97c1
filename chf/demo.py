"""`make run` / `chf demo`: a hub on embedded defaults and a short scripted exchange with it over TCP.

A fresh test PKI and state in a temporary directory, the hub's real WAN server on a loopback port, and a
remote party that adds a meter, lets it join (simulated over the control channel until the HAN is wired),
reads the logs, removes the meter, re-adds it, and reads the security log — printing every command sent and
every response and alert received, decoded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gbcs import message
from gbcs.explain import explain
from gbcs.keys import KeyStore

from . import commands
from .client import control, send
from .keygen import init_keys
from .runtime import RunOptions, ServerThread, build_hub


def _show(title: str, frame: bytes, keys: KeyStore) -> None:
    msg = message.decode(frame, keys)
    h = msg.header
    uc, _ = message.use_case_of(h.message_code)
    print(f"  {title}: {h.cra.label} 0x{h.message_code:04X} {uc or ''} counter {h.counter:#x} "
          f"from {h.originator.hex().upper()} to {h.recipient.hex().upper()}, {len(frame)} bytes, MAC {msg.mac.value}")
    payload = _find(explain(msg, frame), "payload")
    for line in (payload.render(2)[1:] if payload else []):
        print("  " + line)


def _find(node, name):
    if node.name == name:
        return node
    for c in node.children:
        r = _find(c, name)
        if r is not None:
            return r
    return None


def run_demo() -> int:
    with tempfile.TemporaryDirectory(prefix="commshub-demo-") as tmp:
        keys_dir = Path(tmp) / "keys"
        pki = init_keys(keys_dir)
        server = ServerThread(build_hub(RunOptions(state=tmp, keys=str(keys_dir))))
        host, port = server.host, server.port
        keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb"))
        party = commands.RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"),
                                     commands.CounterFile(Path(tmp) / "counters.json"))
        esme = pki.eui("esme")
        install_code = bytes.fromhex("83FED3407A939723A5C639B26916D505")
        print(f"hub {pki.hub} listening on {host}:{port}; ACB {pki.acb} acting for supplier {pki.supplier}\n")

        def step(title: str, specs: commands.Specs) -> list[bytes]:
            frame = party.build(specs)
            print(f"-> {title}")
            _show("sent", frame, keys)
            ex = send(host, port, frame, wait=2.0, linger=0.2)
            for f in ex.received:
                _show("received", f, keys)
            print()
            return ex.received

        def joins(title: str, command: str) -> None:
            reply, alerts = control(host, port, command)
            print(f"-- {title} (control channel: {reply})")
            for f in alerts:
                _show("received", f, keys)
            print()

        step("ECS26n read the hub's identity", commands.ecs26n())
        step("CCS01 add the ESME to the device log (join window 90 s)", commands.ccs01(esme, install_code, 0, 90))
        tc_key = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")
        joins(f"the ESME joins and agrees TC link key {tc_key.hex().upper()}", f"JOIN {pki.esme} {tc_key.hex()}")
        step("CCS06 read the device log and HAN diagnostics", commands.ccs06())
        step("CCS02 remove the ESME (its TC link key goes to the historic log)", commands.ccs02(esme))
        got = step("CCS07 read current and historic device logs", commands.ccs07())
        step("CCS01 re-add the ESME (first half of the window: its historic TC link key)",
             commands.ccs01(esme, install_code, 0, 90))
        joins("the ESME talks again with its historic TC link key", f"JOIN {pki.esme} {tc_key.hex()} historic")
        step("ECS35d read the CHF security log", commands.ecs35d())
        print(f"state: {control(host, port, 'STATE')[0]}")
        server.close()
        return 0 if got else 1
