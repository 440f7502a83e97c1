"""Dongles: the VID:PID table, `--radio` URLs, port errors (simulated ports), --radio auto, `chf radios`, and a
real-coordinator test that runs only when CHF_TEST_RADIO names one."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import pty
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from chf.app.cli import main
from hw.auto import RadioTypeUnknownError, candidates, pick_radio, resolve_auto
from hw.cli import RadiosEnv, radios_command
from hw.errors import (
    NoRadioFoundError,
    NoSuchPortError,
    PortBusyError,
    PortError,
    PortPermissionError,
    RadioError,
    RadioNotRecognisedError,
    RadioUnreachableError,
    RadioUrlError,
    SeveralRadiosError,
    port_error_from_os_error,
)
from hw.open import check_port, open_radio, preflight, translate
from hw import ports as hw_ports
from hw.ports import SerialPort, _from_info, list_ports, system_ports
from hw.probe import PROBE_ORDER, probe_port
from hw.radio_types import NOT_ZIGPY, TABLE, RadioType, identify
from hw.radio_url import RadioKind, parse_radio_url

E, Z, D = RadioType.EZSP, RadioType.ZNP, RadioType.DECONZ


def usb(device: str, vid: int, pid: int, description: str | None = None, **kw) -> SerialPort:
    return SerialPort(device=device, vid=vid, pid=pid, description=description, **kw)


# USB descriptors as these products report them (product strings from the vendors' sticks).
SKYCONNECT = usb("/dev/ttyUSB0", 0x10C4, 0xEA60, "SkyConnect v1.0", manufacturer="Nabu Casa")
ZBT1 = usb("/dev/ttyUSB0", 0x10C4, 0xEA60, "Home Assistant Connect ZBT-1", manufacturer="Nabu Casa")
ZBDONGLE_P = usb("/dev/ttyUSB1", 0x10C4, 0xEA60, "Sonoff Zigbee 3.0 USB Dongle Plus", manufacturer="ITead")
ZBDONGLE_E = usb("/dev/ttyACM0", 0x1A86, 0x55D4, "SONOFF Zigbee 3.0 USB Dongle Plus V2", manufacturer="ITEAD")
CONBEE2 = usb("/dev/ttyACM1", 0x1CF1, 0x0030, "ConBee II", manufacturer="dresden elektronik ingenieurtechnik GmbH")
CONBEE3 = usb("/dev/ttyUSB2", 0x0403, 0x6015, "ConBee III", manufacturer="dresden elektronik")
XDS110 = usb("/dev/ttyACM2", 0x0451, 0xBEF3, "XDS110 (03.00.00.25) Embed with CMSIS-DAP", manufacturer="Texas Instruments")
ZIGSTAR = usb("/dev/ttyUSB3", 0x1A86, 0x7523, "ZigStar Stick v4", manufacturer="QinHeng")
CC2652RB = usb("/dev/ttyUSB4", 0x10C4, 0xEA60, "slae.sh cc2652rb stick - slaesh's iot stuff")
EFR32_CP210X = usb("/dev/ttyUSB5", 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller", manufacturer="Silicon Labs")
CH340 = usb("/dev/ttyUSB6", 0x1A86, 0x7523, "USB Serial")
CH9102 = usb("/dev/ttyACM3", 0x1A86, 0x55D4, "USB Single Serial")
HUSBZB1 = usb("/dev/ttyUSB7", 0x10C4, 0x8A2A, "HubZ Smart Home Controller - Zigbee")
ZBT2 = usb("/dev/ttyACM4", 0x303A, 0x4001, "ZBT-2", manufacturer="Nabu Casa")
ZWA2 = usb("/dev/ttyACM5", 0x303A, 0x4001, "ZWA-2", manufacturer="Nabu Casa")  # a Z-Wave stick on the same VID:PID
FTDI_CABLE = usb("/dev/ttyUSB8", 0x0403, 0x6001, "FT232R USB UART")
RAVEN = usb("/dev/ttyUSB9", 0x0403, 0x8A28, "RAVEn USB Smart Meter Adapter")
TTYS0 = SerialPort("/dev/ttyS0", description="ttyS0")


# --- the VID:PID table ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("port, radio, product", [
    (SKYCONNECT, E, "SkyConnect"),
    (ZBT1, E, "ZBT-1"),
    (ZBDONGLE_P, Z, "ZBDongle-P"),
    (ZBDONGLE_E, E, "ZBDongle-E"),
    (CONBEE2, D, "ConBee II"),
    (CONBEE3, D, "ConBee III"),
    (XDS110, Z, "XDS110"),
    (ZIGSTAR, Z, "ZigStar"),
    (CC2652RB, Z, "CC2652"),
    (HUSBZB1, E, "HUSBZB-1"),
    (ZBT2, E, "ZBT-2"),
])
def test_each_listed_product_maps_to_its_radio_type(port, radio, product):
    ident = identify(port)
    assert ident.radio is radio
    assert product.lower() in (ident.product or "").lower()


@pytest.mark.parametrize("port, radios", [
    (EFR32_CP210X, {E, Z}),   # bare CP210x: SkyConnect-like EFR32 or a CC2652 — the probe decides
    (CH340, {Z, E}),
    (CH9102, {E, Z}),
])
def test_bare_bridge_chips_are_candidates_of_several_types(port, radios):
    ident = identify(port)
    assert ident.is_candidate and ident.radio is None
    assert set(ident.radios) == radios


@pytest.mark.parametrize("port", [FTDI_CABLE, ZWA2, TTYS0, RAVEN])
def test_non_radios_are_not_candidates(port):
    assert not identify(port).is_candidate


def test_se_sticks_that_zigpy_cannot_drive_are_named():
    assert "not a zigpy radio" in identify(RAVEN).product


def test_description_match_ignores_case_and_needs_the_vid_pid():
    assert identify(usb("/dev/x", 0x10C4, 0xEA60, "SKYCONNECT V1.0")).radio is E
    assert not identify(usb("/dev/x", 0x1234, 0xEA60, "SkyConnect v1.0")).is_candidate


def test_table_rows_are_well_formed():
    for row in TABLE + NOT_ZIGPY:
        assert row.product and 0 <= row.vid <= 0xFFFF and 0 <= row.pid <= 0xFFFF
        assert row.description is None or row.description == row.description.lower()
        assert row.interface is None or row.interface == row.interface.lower()
    # within one VID:PID, a row with no description glob must come last or it would shadow the others
    seen_bare: set[tuple[int, int]] = set()
    for row in TABLE:
        assert (row.vid, row.pid) not in seen_bare, row
        if row.description is None and row.interface is None:
            seen_bare.add((row.vid, row.pid))


# --- ports ---------------------------------------------------------------------------------------------------

def test_port_records_and_listing():
    ports = list_ports(lambda: [ZBDONGLE_P, TTYS0, SKYCONNECT])
    assert [p.device for p in ports] == ["/dev/ttyS0", "/dev/ttyUSB0", "/dev/ttyUSB1"]
    assert [p.device for p in list_ports(lambda: [TTYS0, SKYCONNECT], usb_only=True)] == ["/dev/ttyUSB0"]
    assert SKYCONNECT.vid_pid == "10C4:EA60" and TTYS0.vid_pid is None
    assert SKYCONNECT.as_dict()["vid_pid"] == "10C4:EA60"


def test_port_records_from_serialx_and_pyserial_shapes():
    serialx_info = SimpleNamespace(device="/dev/ttyUSB0", resolved_device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60,
                                   serial_number="9ab", manufacturer="Nabu Casa", product="SkyConnect v1.0",
                                   interface_description=None)
    pyserial_info = SimpleNamespace(device="/dev/ttyS1", vid=None, pid=None, description="n/a", manufacturer=None,
                                    serial_number=None)
    links = {"/dev/ttyUSB0": "/dev/serial/by-id/usb-Nabu_Casa_SkyConnect_v1.0_9ab-if00-port0"}
    a = _from_info(serialx_info, links)
    assert (a.description, a.serial_number, a.by_id) == ("SkyConnect v1.0", "9ab", links["/dev/ttyUSB0"])
    b = _from_info(pyserial_info, links)
    assert b.description is None and b.by_id is None and not b.is_usb


def fake_linux(root: Path) -> tuple[Path, Path, Path]:
    """A Linux /sys and /dev the way the kernel and udev lay them out, for serialx to read: a SkyConnect on a
    CP2102N (usb-serial, with a /dev/serial/by-id link), a native 16550A port, a native port with no UART
    behind it (type 0: not a port), and tty entries that are not serial ports. Returns (sys, dev, by-id link)."""
    sys_root, dev = root / "sys", root / "dev"
    tty = sys_root / "class" / "tty"
    usb_dev = sys_root / "devices" / "pci0000:00" / "usb1" / "1-1"
    usb_if = usb_dev / "1-1:1.0"
    usb_tty = usb_if / "ttyUSB0"
    native = sys_root / "devices" / "platform" / "serial8250" / "serial8250:0"
    for d in (tty, usb_tty, native / "serial8250:0.0", native / "serial8250:0.1", sys_root / "bus" / "usb-serial",
              sys_root / "bus" / "serial-base", sys_root / "bus" / "usb-serial" / "drivers" / "cp210x", dev,
              dev / "serial" / "by-id"):
        d.mkdir(parents=True, exist_ok=True)
    for f, text in {usb_dev / "idVendor": "10c4", usb_dev / "idProduct": "ea60", usb_dev / "bcdDevice": "0100",
                    usb_dev / "serial": "9ab", usb_dev / "manufacturer": "Nabu Casa",
                    usb_dev / "product": "SkyConnect v1.0", usb_if / "bInterfaceNumber": "00",
                    usb_tty / "port_number": "0"}.items():
        f.write_text(text + "\n")
    (usb_tty / "subsystem").symlink_to(sys_root / "bus" / "usb-serial")
    (usb_tty / "driver").symlink_to(sys_root / "bus" / "usb-serial" / "drivers" / "cp210x")
    for n, port_type in ((0, 4), (1, 0)):  # PORT_16550A, PORT_UNKNOWN
        d = native / f"serial8250:0.{n}"
        (d / "subsystem").symlink_to(sys_root / "bus" / "serial-base")
        (d / "driver").symlink_to(sys_root / "bus" / "serial-base")
        (tty / f"ttyS{n}").mkdir()
        (tty / f"ttyS{n}" / "device").symlink_to(d)
        (tty / f"ttyS{n}" / "type").write_text(f"{port_type}\n")
    (tty / "ttyUSB0").mkdir()
    (tty / "ttyUSB0" / "device").symlink_to(usb_tty)
    (tty / "tty0").mkdir()  # a virtual console: no device behind it
    (tty / "console").mkdir()
    for name in ("ttyUSB0", "ttyS0", "ttyS1", "tty0"):
        (dev / name).touch()
    link = dev / "serial" / "by-id" / "usb-Nabu_Casa_SkyConnect_v1.0_9ab-if00-port0"
    link.symlink_to(Path("../..") / "ttyUSB0")
    return sys_root, dev, link


def test_system_ports_reads_the_machine_through_serialx(tmp_path, monkeypatch):
    """The lister end to end on a fake sysfs: exactly the two real ports, the USB one with its descriptors and
    its stable by-id name, and recognised as the radio it is."""
    serial_linux = pytest.importorskip("serialx.platforms.serial_linux")
    sys_root, dev, link = fake_linux(tmp_path.resolve())
    monkeypatch.setattr(serial_linux, "SYS_ROOT", sys_root)
    monkeypatch.setattr(serial_linux, "DEV_ROOT", dev)
    real_links = hw_ports._by_id_links
    monkeypatch.setattr(hw_ports, "_by_id_links", lambda: real_links(str(dev / "serial" / "by-id")))
    ports = list_ports()
    assert sorted(os.path.realpath(p.device) for p in ports) == [str(dev / "ttyS0"), str(dev / "ttyUSB0")]
    [stick] = [p for p in ports if p.is_usb]
    [native] = [p for p in ports if not p.is_usb]
    assert native.device == str(dev / "ttyS0") and native.by_id is None
    assert (stick.vid_pid, stick.description, stick.manufacturer, stick.serial_number, stick.by_id) == \
        ("10C4:EA60", "SkyConnect v1.0", "Nabu Casa", "9ab", str(link))
    assert identify(stick).radio is E and [p.device for p in list_ports(usb_only=True)] == [stick.device]


def test_system_ports_falls_back_to_pyserial(monkeypatch):
    """Without serialx, pyserial's comports() answer becomes the same records (its "n/a" description dropped)."""
    import serial.tools.list_ports as pyserial_ports

    monkeypatch.setitem(sys.modules, "serialx", None)  # `from serialx import ...` raises ImportError
    monkeypatch.setattr(hw_ports, "_by_id_links", lambda: {})
    monkeypatch.setattr(pyserial_ports, "comports", lambda: [
        SimpleNamespace(device="/dev/ttyUSB3", vid=0x1A86, pid=0x7523, description="ZigStar Stick v4",
                        manufacturer="QinHeng", serial_number="42"),
        SimpleNamespace(device="/dev/ttyS1", vid=None, pid=None, description="n/a", manufacturer=None,
                        serial_number=None)])
    assert system_ports() == [SerialPort("/dev/ttyUSB3", 0x1A86, 0x7523, "ZigStar Stick v4", "QinHeng", "42"),
                              SerialPort("/dev/ttyS1")]


def test_this_machine_lists_its_ports_as_records():
    """Whatever this machine has: each record is a character device of /dev the kernel lists as a tty, listed
    once, with both USB IDs or neither, and a by-id name that leads to that same device."""
    ports = system_ports()
    assert list_ports() == sorted(ports, key=lambda p: p.device)
    real = [os.path.realpath(p.device) for p in ports]
    assert len(set(real)) == len(real)
    for p, path in zip(ports, real, strict=True):
        assert isinstance(p, SerialPort) and path.startswith("/dev/") and os.path.exists(path), p
        assert stat.S_ISCHR(os.stat(path).st_mode), p
        assert os.path.exists(f"/sys/class/tty/{os.path.basename(path)}"), p
        assert (p.vid is None) == (p.pid is None), p
        assert p.by_id is None or (p.by_id.startswith("/dev/serial/by-id/") and os.path.realpath(p.by_id) == path), p


# --- --radio URLs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, kind, path, text", [
    ("none", RadioKind.NONE, None, "none"),
    ("virtual", RadioKind.VIRTUAL, None, "virtual"),
    ("Auto", RadioKind.AUTO, None, "auto"),
    ("ezsp:/dev/ttyUSB0", RadioKind.EZSP, "/dev/ttyUSB0", "ezsp:/dev/ttyUSB0"),
    ("ezsp:///dev/ttyUSB0", RadioKind.EZSP, "/dev/ttyUSB0", "ezsp:/dev/ttyUSB0"),
    ("znp:/dev/serial/by-id/usb-ITead_Sonoff-if00-port0", RadioKind.ZNP, "/dev/serial/by-id/usb-ITead_Sonoff-if00-port0",
     "znp:/dev/serial/by-id/usb-ITead_Sonoff-if00-port0"),
    ("deconz:/dev/ttyACM0?baudrate=38400", RadioKind.DECONZ, "/dev/ttyACM0", "deconz:/dev/ttyACM0?baudrate=38400"),
    ("ezsp:socket://192.168.1.20:6638", RadioKind.EZSP, "socket://192.168.1.20:6638", "ezsp:socket://192.168.1.20:6638"),
    ("znp:tcp://zigstar.local:6638?flow_control=none", RadioKind.ZNP, "tcp://zigstar.local:6638",
     "znp:tcp://zigstar.local:6638?flow_control=none"),
])
def test_radio_urls_parse(value, kind, path, text):
    url = parse_radio_url(value)
    assert (url.kind, url.path, str(url)) == (kind, path, text)
    assert url.is_network == bool(path and "://" in path)


def test_radio_url_maps_to_the_library_and_a_valid_zigpy_config():
    for value, module in [("ezsp:/dev/ttyUSB0?baudrate=460800", "bellows"), ("znp:socket://h:1", "zigpy_znp"),
                          ("deconz:/dev/ttyACM0?flow_control=hardware", "zigpy_deconz")]:
        url = parse_radio_url(value)
        cls = url.controller_class()
        assert cls.__module__.startswith(module) and cls.__name__ == "ControllerApplication"
        config = cls.SCHEMA(url.zigpy_config())   # the library's own schema accepts it
        assert config["device"]["path"] == url.path
        assert config["ota"]["enabled"] is False and config["backup_enabled"] is False
    assert cls.SCHEMA(url.zigpy_config())["device"]["flow_control"] == "hardware"
    assert parse_radio_url("ezsp:/dev/x?baudrate=460800").zigpy_config()["device"]["baudrate"] == 460800


@pytest.mark.parametrize("value, says", [
    ("", "empty"),
    ("/dev/ttyUSB0", "ezsp:/dev/ttyUSB0"),            # bare path: names the forms that would work
    ("socket://h:1", "which radio library"),
    ("zigbee", "expected none, virtual, auto"),
    ("xbee:/dev/ttyUSB0", "ezsp, znp, deconz"),
    ("ezsp:", "no device"),
    ("ezsp://dev/ttyUSB0", "not ezsp://"),
    ("znp:socket://host", "port number"),
    ("znp:socket://host:70000", "port number"),
    ("ezsp:http://host:80", "unsupported URL"),
    ("ezsp:/dev/x?baudrate=fast", "baudrate"),
    ("ezsp:/dev/x?baudrate=12345", "baudrate"),
    ("ezsp:/dev/x?flow_control=rts", "flow_control"),
    ("ezsp:/dev/x?speed=1", "unknown option"),
])
def test_bad_radio_urls_are_typed_errors_naming_the_problem(value, says):
    with pytest.raises(RadioUrlError) as e:
        parse_radio_url(value)
    assert says in str(e.value) and isinstance(e.value, ValueError)


def test_virtual_and_none_have_no_serial_device():
    for value in ("virtual", "none", "auto"):
        with pytest.raises(RadioUrlError):
            parse_radio_url(value).device_config()


# --- port errors with simulated ports -----------------------------------------------------------------------

def raising(code: int):
    def opener(path: str) -> None:
        raise OSError(code, os.strerror(code), path)
    return opener


def test_missing_port_is_no_such_port(tmp_path):
    with pytest.raises(NoSuchPortError) as e:
        check_port(str(tmp_path / "ttyUSB9"))
    assert e.value.errno == errno.ENOENT and isinstance(e.value, OSError)
    assert "no such serial port" in str(e.value) and "chf radios" in str(e.value)


def test_busy_port_when_another_process_holds_the_lock(tmp_path):
    port = tmp_path / "ttyFAKE"
    port.write_bytes(b"")
    with open(port, "rb+") as holder:                      # what serialx does while a radio library has the port
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PortBusyError) as e:
            check_port(str(port))
    assert "busy" in str(e.value) and e.value.errno == errno.EBUSY
    check_port(str(port))                                  # lock released: the port is free again


@pytest.mark.parametrize("code, error", [
    (errno.EBUSY, PortBusyError),
    (errno.EACCES, PortPermissionError),
    (errno.EPERM, PortPermissionError),
    (errno.ENOENT, NoSuchPortError),
    (errno.ENODEV, NoSuchPortError),
    (errno.ENXIO, NoSuchPortError),
])
def test_simulated_open_errors_become_typed_errors(code, error):
    with pytest.raises(error) as e:
        check_port("/dev/ttyUSB0", raising(code))
    assert e.value.port == "/dev/ttyUSB0" and "/dev/ttyUSB0" in str(e.value)


def test_permission_error_names_the_dialout_fix():
    with pytest.raises(PortPermissionError) as e:
        check_port("/dev/ttyUSB0", raising(errno.EACCES))
    text = str(e.value)
    assert "dialout" in text and "sudo usermod -aG dialout $USER" in text and "log out" in text


def test_other_os_errors_pass_through_unchanged():
    with pytest.raises(OSError) as e:
        check_port("/dev/ttyUSB0", raising(errno.EIO))
    assert not isinstance(e.value, PortError) and e.value.errno == errno.EIO


def test_zigpy_locked_port_message_is_reported_as_busy():
    # zigpy/serial.py turns EBUSY into PermissionError("The serial port is locked by another application")
    locked = PermissionError("The serial port is locked by another application")
    assert isinstance(port_error_from_os_error("/dev/ttyUSB0", locked), PortBusyError)
    wrapped = RuntimeError("startup failed")
    wrapped.__cause__ = OSError(errno.EACCES, "Permission denied")
    assert isinstance(translate("/dev/ttyUSB0", wrapped), PortPermissionError)


@pytest.mark.parametrize("code, error", [(errno.EBUSY, PortBusyError), (errno.EACCES, PortPermissionError),
                                         (errno.ENOENT, NoSuchPortError)])
def test_open_radio_checks_the_port_before_the_radio_library(code, error):
    with pytest.raises(error):
        asyncio.run(open_radio("ezsp:/dev/ttyUSB0", opener=raising(code)))


@pytest.mark.parametrize("scheme", ["ezsp", "znp", "deconz"])
def test_open_radio_translates_the_radio_library_errors(scheme, tmp_path):
    # the pre-check is skipped (opener passes), so the error comes from the radio library opening the port
    missing = str(tmp_path / "ttyACM7")
    with pytest.raises(NoSuchPortError) as e:
        asyncio.run(open_radio(f"{scheme}:{missing}", opener=lambda path: None))
    assert e.value.port == missing


def test_open_radio_on_a_closed_network_port_says_unreachable():
    import socket

    with socket.socket() as s:          # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RadioUnreachableError) as e:
        asyncio.run(open_radio(f"znp:socket://127.0.0.1:{port}"))
    assert f"socket://127.0.0.1:{port}" in str(e.value)


@pytest.mark.parametrize("value", ["virtual", "none"])
def test_open_radio_refuses_non_sticks(value):
    with pytest.raises(RadioUrlError):
        asyncio.run(open_radio(value))


# --- probe ---------------------------------------------------------------------------------------------------

class FakeRadio:
    """Stands for a radio library's ControllerApplication: probe() answers from `answer`."""

    calls: list[str]
    answer: object = False

    @classmethod
    async def probe(cls, device_config):
        cls.calls.append(cls.__name__)
        if cls.answer == "hang":
            await asyncio.sleep(3600)
        if isinstance(cls.answer, Exception):
            raise cls.answer
        return {**device_config, "baudrate": 115200} if cls.answer else False


def fakes(**answers) -> tuple[dict[RadioType, type], list[str]]:
    calls: list[str] = []
    out = {}
    for radio in PROBE_ORDER:
        out[radio] = type(radio.value, (FakeRadio,), {"calls": calls, "answer": answers.get(radio.value, False)})
    return out, calls


def test_probe_tries_ezsp_then_znp_then_deconz_and_stops_at_the_first_answer():
    controllers, calls = fakes(znp=True, deconz=True)
    result = asyncio.run(probe_port("/dev/ttyUSB0", opener=lambda p: None, controllers=controllers))
    assert calls == ["ezsp", "znp"]
    assert result.radio is Z and result.url == "znp:/dev/ttyUSB0" and result.config["baudrate"] == 115200


def test_probe_with_no_answer_names_what_was_tried():
    controllers, calls = fakes(ezsp="hang")
    with pytest.raises(RadioNotRecognisedError) as e:
        asyncio.run(probe_port("/dev/ttyUSB0", opener=lambda p: None, controllers=controllers, timeout=0.05))
    assert calls == ["ezsp", "znp", "deconz"] and e.value.tried == ["ezsp", "znp", "deconz"]


def test_probe_stops_on_a_port_error_raised_by_a_library():
    controllers, calls = fakes(ezsp=PermissionError("The serial port is locked by another application"))
    with pytest.raises(PortBusyError):
        asyncio.run(probe_port("/dev/ttyUSB0", opener=lambda p: None, controllers=controllers))
    assert calls == ["ezsp"]


def test_probe_checks_the_port_first():
    controllers, calls = fakes(ezsp=True)
    with pytest.raises(PortPermissionError):
        asyncio.run(probe_port("/dev/ttyUSB0", opener=raising(errno.EACCES), controllers=controllers))
    assert calls == []


def test_real_libraries_do_not_recognise_a_silent_pseudo_terminal():
    master, slave = pty.openpty()    # a serial-like port where nothing answers
    try:
        path = os.ttyname(slave)
        with pytest.raises(RadioNotRecognisedError) as e:
            asyncio.run(probe_port(path, timeout=0.3))
        assert e.value.tried == ["ezsp", "znp", "deconz"]
    finally:
        os.close(master)
        os.close(slave)


# --- --radio auto ---------------------------------------------------------------------------------------------

def test_pick_radio_with_no_candidate_says_so_plainly():
    with pytest.raises(NoRadioFoundError) as e:
        pick_radio([])
    assert "no ZigBee dongle found" in str(e.value)
    with pytest.raises(NoRadioFoundError) as e:
        pick_radio([TTYS0, FTDI_CABLE])
    assert "FT232R" in str(e.value)


def test_pick_radio_with_one_candidate():
    assert pick_radio([TTYS0, SKYCONNECT, FTDI_CABLE]) == "ezsp:/dev/ttyUSB0"
    assert pick_radio([CONBEE2]) == "deconz:/dev/ttyACM1"
    stable = usb("/dev/ttyUSB0", 0x10C4, 0xEA60, "Sonoff Zigbee 3.0 USB Dongle Plus",
                 by_id="/dev/serial/by-id/usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus_1-if00-port0")
    assert pick_radio([stable]) == "znp:" + stable.by_id


def test_pick_radio_with_two_candidates_lists_them():
    with pytest.raises(SeveralRadiosError) as e:
        pick_radio([SKYCONNECT, CONBEE2, TTYS0])
    assert e.value.candidates == ["ezsp:/dev/ttyUSB0", "deconz:/dev/ttyACM1"]
    assert "--radio" in str(e.value)


def test_pick_radio_with_one_ambiguous_candidate_asks_for_a_probe():
    with pytest.raises(RadioTypeUnknownError) as e:
        pick_radio([CH340])
    assert "chf radios --probe" in str(e.value) and "znp:/dev/ttyUSB6" in str(e.value)


def test_resolve_auto_probes_an_ambiguous_candidate():
    controllers, calls = fakes(znp=True)
    url = asyncio.run(resolve_auto([EFR32_CP210X], opener=lambda p: None, controllers=controllers))
    assert str(url) == "znp:/dev/ttyUSB5" and calls == ["ezsp", "znp"]


def test_candidates_skip_non_radios():
    assert [i.port for i in candidates([TTYS0, SKYCONNECT, FTDI_CABLE, CONBEE3])] == [SKYCONNECT, CONBEE3]


# --- chf radios ------------------------------------------------------------------------------------------------

def radios(capsys, argv, ports, **env):
    code = radios_command(argv, RadiosEnv(lister=lambda: ports, access=env.pop("access", lambda p: "ok"), **env))
    return code, capsys.readouterr().out


def test_chf_radios_with_no_ports_says_no_dongle(capsys):
    code, out = radios(capsys, [], [])
    assert code == 1
    assert "No ZigBee dongle found: no serial ports at all" in out and "--radio virtual" in out


def test_chf_radios_with_only_non_radio_ports(capsys):
    code, out = radios(capsys, ["--json"], [TTYS0, FTDI_CABLE])
    report = json.loads(out)
    assert code == 1 and report["dongles"] == []
    assert [p["device"] for p in report["other_ports"]] == ["/dev/ttyS0", "/dev/ttyUSB8"]
    assert report["summary"].startswith("No ZigBee dongle found")


def test_chf_radios_lists_dongles_with_vid_pid_and_type(capsys):
    code, out = radios(capsys, [], [TTYS0, SKYCONNECT, CONBEE2])
    assert code == 0
    lines = out.splitlines()
    sky = next(ln for ln in lines if ln.startswith("/dev/ttyUSB0"))
    assert "10C4:EA60" in sky and "SkyConnect v1.0" in sky and "Nabu Casa" in sky and "ezsp" in sky
    assert "1CF1:0030" in out and "deconz" in out
    assert "other serial ports (not ZigBee sticks): /dev/ttyS0" in out
    assert lines[-1] == "2 ZigBee dongles found: deconz:/dev/ttyACM1, ezsp:/dev/ttyUSB0"


def test_chf_radios_table_by_chf_width_rule(capsys, monkeypatch):
    """As `chf` wires it (chf.app.tables.print_table): the table fits COLUMNS, ports and VID:PIDs unbroken, the
    notes and the summary after it as without the rule."""
    from chf.app.tables import print_table

    monkeypatch.setenv("COLUMNS", "72")
    code, out = radios(capsys, [], [TTYS0, SKYCONNECT, CONBEE2], show=print_table)
    lines = out.splitlines()
    end = lines.index("other serial ports (not ZigBee sticks): /dev/ttyS0")
    assert code == 0 and max(len(ln) for ln in lines[:end]) <= 72
    rule = next(i for i, ln in enumerate(lines) if set(ln) == {"─"})  # headers may take two lines
    assert "PORT" in lines[rule - 1].split() and "VID:PID" in lines[rule - 1].split()
    assert [ln.split()[:2] for ln in lines[rule:end] if ln.startswith("/dev/")] == [["/dev/ttyACM1", "1CF1:0030"],
                                                                                     ["/dev/ttyUSB0", "10C4:EA60"]]
    assert lines[-1] == "2 ZigBee dongles found: deconz:/dev/ttyACM1, ezsp:/dev/ttyUSB0"


def test_chf_radios_flags_a_port_this_user_cannot_open(capsys):
    _code, out = radios(capsys, ["--json"], [SKYCONNECT], access=lambda p: "permission denied")
    row = json.loads(out)["dongles"][0]
    assert row["access"] == "permission denied" and "usermod -aG dialout" in row["fix"]
    _code, out = radios(capsys, [], [SKYCONNECT], access=lambda p: "permission denied")
    assert "/dev/ttyUSB0: permission denied — add your user to the 'dialout' group" in out


def test_chf_radios_probe_confirms_and_reports_port_errors(capsys):
    controllers, _ = fakes(znp=True)

    def opener(path):
        if path == "/dev/ttyACM1":
            raise OSError(errno.EBUSY, "busy")
    code, out = radios(capsys, ["--probe", "--json"], [ZBDONGLE_P, CONBEE2], opener=opener, controllers=controllers)
    report = json.loads(out)
    by_port = {r["device"]: r["probe"] for r in report["dongles"]}
    assert by_port["/dev/ttyUSB1"]["url"] == "znp:/dev/ttyUSB1" and by_port["/dev/ttyUSB1"]["tried"] == ["ezsp", "znp"]
    assert by_port["/dev/ttyACM1"]["radio"] is None and "busy" in by_port["/dev/ttyACM1"]["error"]
    assert code == 0 and report["summary"] == "1 ZigBee dongle confirmed: znp:/dev/ttyUSB1"


def test_chf_radios_probe_with_nothing_answering_exits_1(capsys):
    controllers, _ = fakes()
    code, out = radios(capsys, ["--probe"], [SKYCONNECT], opener=lambda p: None, controllers=controllers)
    assert code == 1 and "no ZigBee radio answered on /dev/ttyUSB0" in out


def test_chf_radios_on_this_machine(capsys):
    """Through the real `chf` entry point and this machine's ports: no dongle here is said plainly."""
    code = main(["radios"])
    out = capsys.readouterr().out
    if candidates(list_ports()):
        assert code == 0 and "ZigBee dongle" in out and "found" in out
    else:
        assert code == 1 and "No ZigBee dongle found" in out


# --- a real coordinator (only when CHF_TEST_RADIO names one, e.g. ezsp:/dev/ttyUSB0 or auto) --------------------

@pytest.mark.skipif(not os.environ.get("CHF_TEST_RADIO"), reason="set CHF_TEST_RADIO=ezsp:/dev/ttyUSB0 (or auto) to run")
def test_real_coordinator_opens_and_reads_network_info():
    import zigpy.exceptions
    import zigpy.types

    async def run():
        app = await open_radio(os.environ["CHF_TEST_RADIO"], start_radio=False)
        try:
            await app.connect()
            try:
                await app.load_network_info(load_devices=False)
                formed = True
            except zigpy.exceptions.NetworkNotFormed:
                formed = False
            return formed, app.state.node_info, app.state.network_info
        finally:
            await app.disconnect()

    formed, node, network = asyncio.run(run())   # connect() succeeding means the radio library recognised the stick
    if not formed:
        pytest.skip("the stick answered but has no network to read (form one first, e.g. `chf run --radio ...`)")
    assert node.ieee != zigpy.types.EUI64.UNKNOWN and str(node.ieee) != "00:00:00:00:00:00:00:00"
    assert 11 <= network.channel <= 26 and network.pan_id is not None


# --- sticks commshub cannot drive, and multi-port devices -------------------------------------------------------

ZIGATE = usb("/dev/ttyUSB10", 0x10C4, 0xEA60, "ZiGate")
XDS110_AUX = usb("/dev/ttyACM9", 0x0451, 0xBEF3, "XDS110 (03.00.00.25) Embed with CMSIS-DAP",
                 interface="XDS110 Class Auxiliary Data Port")


def test_xds110_auxiliary_port_is_not_the_radio():
    uart = usb("/dev/ttyACM8", 0x0451, 0xBEF3, XDS110_AUX.description, interface="XDS110 Class Application/User UART")
    assert identify(uart).radio is Z and not identify(XDS110_AUX).is_candidate
    assert pick_radio([uart, XDS110_AUX]) == "znp:/dev/ttyACM8"


def test_zigate_is_named_but_not_offered(capsys):
    assert identify(ZIGATE).radio is RadioType.ZIGATE
    with pytest.raises(RadioError) as e:
        pick_radio([ZIGATE])
    assert "zigpy-zigate" in str(e.value) and "does not support" in str(e.value)
    code, out = radios(capsys, [], [ZIGATE])
    assert code == 1 and "No supported ZigBee dongle found: ZiGate at /dev/ttyUSB10" in out


def test_an_ambiguous_ftdi_stick_is_probed_with_the_installed_libraries_only():
    controllers, calls = fakes(deconz=True)
    ftdi = usb("/dev/ttyUSB11", 0x0403, 0x6015, "FT230X Basic UART")   # ConBee III, ZiGate+ or zzh: probe decides
    url = asyncio.run(resolve_auto([ftdi], opener=lambda p: None, controllers=controllers))
    assert str(url) == "deconz:/dev/ttyUSB11" and calls == ["deconz"]


def test_preflight_parses_and_checks_a_local_port_only():
    assert preflight("virtual").kind is RadioKind.VIRTUAL
    assert preflight("ezsp:socket://127.0.0.1:1", opener=raising(errno.EACCES)).is_network   # nothing local to check
    with pytest.raises(PortPermissionError):
        preflight("znp:/dev/ttyUSB0", opener=raising(errno.EACCES))
    with pytest.raises(RadioUrlError):
        preflight("zigbee")


def test_chf_run_on_an_unreachable_network_radio_fails_in_one_line_and_exits(tmp_path):
    """A real-radio start that fails leaves nothing running behind it: one line, exit status 1, no hang."""
    import socket as _socket
    import subprocess as _subprocess
    import sys as _sys

    s = _socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = _subprocess.run([_sys.executable, "-m", "chf.app.cli", "run", "--radio", f"ezsp:socket://127.0.0.1:{port}",
                         "--state", str(tmp_path), "--wan", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot reach network radio" in r.stderr
