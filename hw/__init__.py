"""ZigBee dongles: serial ports (`ports`), which stick is which (`radio_types`), `--radio` values (`radio_url`),
typed port errors (`errors`), the port check (`portcheck`), opening (`open`), probing (`probe`), `--radio auto`
(`auto`), `chf radios` (`cli`)."""
