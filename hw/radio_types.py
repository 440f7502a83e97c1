"""Which ZigBee radio a USB serial port probably is, from its VID:PID and USB description.

The rows are facts from Home Assistant's USB discovery matchers: `homeassistant/generated/usb.py` and the
`usb` lists of `homeassistant/components/zha/manifest.json`, `homeassistant_sky_connect/manifest.json` and
`homeassistant_connect_zbt2/manifest.json` (github.com/home-assistant/core), plus the vendors' USB IDs for the
TI XDS110 debug probe (0451:BEF3) and the dresden elektronik ConBee II (1CF1:0030). The radio libraries
themselves carry no such table. A USB-UART bridge chip (CP210x, CH340, CH9102, FT230X) is shared by many
products, so a bare VID:PID is only a hint: `--probe` asks the radio libraries to confirm.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fnmatch import fnmatchcase

from hw.ports import SerialPort


class RadioType(enum.Enum):
    """A zigpy radio library, named by the scheme `--radio` uses for it."""

    EZSP = "ezsp"        # Silicon Labs EmberZNet NCP (EFR32, EM35x) — bellows
    ZNP = "znp"          # TI Z-Stack ZNP (CC2652, CC1352, CC2531) — zigpy-znp
    DECONZ = "deconz"    # dresden elektronik ConBee / RaspBee — zigpy-deconz
    ZIGATE = "zigate"    # ZiGate — zigpy-zigate (not installed; listed so it is named, not guessed)

    @property
    def supported(self) -> bool:
        """True for the libraries `make setup` installs (bellows, zigpy-znp, zigpy-deconz)."""
        return self is not RadioType.ZIGATE

    @property
    def library(self) -> str:
        return {RadioType.EZSP: "bellows", RadioType.ZNP: "zigpy-znp",
                RadioType.DECONZ: "zigpy-deconz", RadioType.ZIGATE: "zigpy-zigate"}[self]


@dataclass(frozen=True)
class UsbMatch:
    """One row: a VID:PID, optionally narrowed by a case-insensitive glob on the USB product description."""

    vid: int
    pid: int
    product: str                       # the product(s) this row stands for, for people
    radios: tuple[RadioType, ...]      # the likely radio types, most likely first; several = ambiguous
    description: str | None = None     # fnmatch glob, matched lower-case
    chip: str = ""                     # the USB interface chip
    interface: str | None = None       # fnmatch glob on the USB interface description, matched lower-case

    def matches(self, port: SerialPort) -> bool:
        if port.vid != self.vid or port.pid != self.pid:
            return False
        if self.interface is not None and not fnmatchcase((port.interface or "").lower(), self.interface):
            return False
        return self.description is None or fnmatchcase((port.description or "").lower(), self.description)


E, Z, D, G = RadioType.EZSP, RadioType.ZNP, RadioType.DECONZ, RadioType.ZIGATE

# Rows with a description glob come before the bare VID:PID row of the same chip: the first match wins.
TABLE: tuple[UsbMatch, ...] = (
    # Silicon Labs CP210x (10C4:EA60): Nabu Casa sticks (EFR32MG21), SONOFF ZBDongle-P (CC2652P), others.
    UsbMatch(0x10C4, 0xEA60, "Home Assistant SkyConnect", (E,), "*skyconnect*", "Silicon Labs CP2102N"),
    UsbMatch(0x10C4, 0xEA60, "Home Assistant Connect ZBT-1", (E,), "*connect zbt-1*", "Silicon Labs CP2102N"),
    UsbMatch(0x10C4, 0xEA60, "SMLIGHT SLZB-07 (EFR32MG24)", (E,), "*slzb-07*", "Silicon Labs CP2102N"),
    UsbMatch(0x10C4, 0xEA60, "SONOFF ZBDongle-P (CC2652P)", (Z,), "*sonoff*plus*", "Silicon Labs CP2102N"),
    UsbMatch(0x10C4, 0xEA60, "slae.sh CC2652RB stick", (Z,), "*2652*", "Silicon Labs CP210x"),
    UsbMatch(0x10C4, 0xEA60, "TubesZB coordinator", (Z, E), "*tubeszb*", "Silicon Labs CP210x"),
    UsbMatch(0x10C4, 0xEA60, "ZiGate", (G,), "*zigate*", "Silicon Labs CP210x"),
    UsbMatch(0x10C4, 0xEA60, "Silicon Labs CP210x USB-UART (EFR32 or CC2652 stick, or not a radio)", (E, Z),
             None, "Silicon Labs CP210x"),
    UsbMatch(0x10C4, 0x8A2A, "Nortek HUSBZB-1 (EM3581)", (E,), "*zigbee*", "Silicon Labs"),
    UsbMatch(0x10C4, 0x8B34, "Bitron Video AV2010/10", (E,), "*bv 2010/10*", "Silicon Labs"),
    # WCH CH9102F (1A86:55D4): SONOFF ZBDongle-E "Dongle Plus V2" (EFR32MG21); also some CC2652 sticks.
    UsbMatch(0x1A86, 0x55D4, "SONOFF ZBDongle-E (EFR32MG21)", (E,), "*sonoff*plus*", "WCH CH9102F"),
    UsbMatch(0x1A86, 0x55D4, "WCH CH9102 USB-UART (EFR32 or CC2652 stick, or not a radio)", (E, Z),
             None, "WCH CH9102F"),
    # WCH CH340 (1A86:7523): ZigStar and TubesZB CC2652 sticks; also many non-radio adapters.
    UsbMatch(0x1A86, 0x7523, "ZigStar stick (CC2652)", (Z,), "*zigstar*", "WCH CH340"),
    UsbMatch(0x1A86, 0x7523, "TubesZB coordinator", (Z, E), "*tubeszb*", "WCH CH340"),
    UsbMatch(0x1A86, 0x7523, "WCH CH340 USB-UART (CC2652 or EFR32 stick, or not a radio)", (Z, E), None, "WCH CH340"),
    # TI XDS110 debug probe on the LaunchPads (LAUNCHXL-CC26X2R1, LAUNCHXL-CC1352P-2) running Z-Stack. It shows
    # two CDC ports, "Application/User UART" (the radio) and "Auxiliary Data Port" (not the radio).
    UsbMatch(0x0451, 0xBEF3, "TI XDS110 auxiliary data port (not the radio)", (), None, "TI XDS110", "*auxiliary*"),
    UsbMatch(0x0451, 0xBEF3, "TI LaunchPad with XDS110 (CC2652R / CC1352P)", (Z,), None, "TI XDS110"),
    UsbMatch(0x0451, 0x16A8, "TI CC2531 USB stick", (Z,), None, "TI CC2531 native USB"),
    UsbMatch(0x0451, 0x16C8, "TI CC2538 USB stick", (Z,), None, "TI CC2538 native USB"),
    # dresden elektronik: ConBee II has its own VID; ConBee III sits behind an FTDI FT230X.
    UsbMatch(0x1CF1, 0x0030, "dresden elektronik ConBee II", (D,), None, "dresden elektronik"),
    UsbMatch(0x0403, 0x6015, "dresden elektronik ConBee III", (D,), "*conbee*", "FTDI FT230X"),
    UsbMatch(0x0403, 0x6015, "ZiGate+", (G,), "*zigate*", "FTDI FT230X"),
    UsbMatch(0x0403, 0x6015, "FTDI FT230X USB-UART (ConBee III, ZiGate+, zzh, or not a radio)", (D, Z, G),
             None, "FTDI FT230X"),
    # Espressif USB: Home Assistant Connect ZBT-2 (EFR32MG24 behind an ESP32-S3).
    UsbMatch(0x303A, 0x4001, "Home Assistant Connect ZBT-2", (E,), "*zbt-2*", "Espressif ESP32-S3"),
    UsbMatch(0x303A, 0x831A, "Home Assistant Connect ZBT-2", (E,), "*zbt-2*", "Espressif ESP32-S3"),
)

# Smart Energy sticks that are USB serial but not zigpy radios (Home Assistant's `rainforest_raven` matchers):
# named so a user holding one is told why it will not work.
NOT_ZIGPY: tuple[UsbMatch, ...] = (
    UsbMatch(0x0403, 0x8A28, "Rainforest RAVEn (not a zigpy radio)", (), None, "FTDI"),
    UsbMatch(0x04B4, 0x0003, "Rainforest EMU-2 (not a zigpy radio)", (), None, "Cypress"),
)


@dataclass(frozen=True)
class Identification:
    """What the table says about one port; `radios` is empty when the port is not a known ZigBee radio."""

    port: SerialPort
    product: str | None
    radios: tuple[RadioType, ...]

    @property
    def radio(self) -> RadioType | None:
        """The single likely radio type, or None when the table cannot tell (probe to find out)."""
        return self.radios[0] if len(self.radios) == 1 else None

    @property
    def is_candidate(self) -> bool:
        return bool(self.radios)


def identify(port: SerialPort) -> Identification:
    """The first TABLE (then NOT_ZIGPY) row matching `port`; a port matching none is not a candidate."""
    for row in TABLE + NOT_ZIGPY:
        if row.matches(port):
            return Identification(port, row.product, row.radios)
    return Identification(port, None, ())
