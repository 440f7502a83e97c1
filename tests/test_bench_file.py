"""Bench files: the example parses as is; every wrong key or value is an error that names it."""

from pathlib import Path

import pytest

from chf.config.bench_file import EXAMPLE, BenchFileError, parse


def test_example_parses(tmp_path):
    b = parse(EXAMPLE, tmp_path / "bench.toml")
    assert [h.name for h in b.hubs] == ["A", "B"]
    assert [m.type for m in b.meters] == ["esme", "gsme", "ppmid"]
    assert b.keys == tmp_path / "keys" and b.hubs[0].state == tmp_path / "state-A"
    assert (b.time_scale, b.keep_alive_s) == (30.0, 30.0)
    assert b.hubs[0].port == 4061 and b.meters[0].install_code.hex().upper() == "83FED3407A939723A5C639B26916D505"


HUB = '[[hub]]\nname = "A"\neui = "02C0FFEE0000A001"\n'
METER = '[[meter]]\ntype = "esme"\neui = "02C0FFEE000E5E01"\ninstall_code = "83FED3407A939723A5C639B26916D505"\n'


@pytest.mark.parametrize("text, named", [
    ("keyz = 'k'\n" + HUB, "'keyz'"),
    (HUB.replace("name", "nam"), "'nam'"),
    (HUB.replace('"02C0FFEE0000A001"', '"02C0"'), "'eui'"),
    (HUB + 'wan = "127.0.0.1:99999"\n', "'wan'"),
    (HUB + 'wan = "localhost"\n', "'wan'"),
    ("time_scale = 0\n" + HUB, "'time_scale'"),
    ("keep_alive_s = 'x'\n" + HUB, "'keep_alive_s'"),
    (HUB + METER.replace("esme", "toaster"), "'type'"),
    (HUB + METER.replace("83FED3407A939723A5C639B26916D505", "83FE"), "'install_code'"),
    (HUB + METER + 'joined_to = "Z"\n', "'joined_to'"),
    (HUB + METER + 'hears = ["A", "Q"]\n', "'hears'"),
    (HUB + METER + 'dead = "yes"\n', "'dead'"),
    (HUB + METER + 'colour = "red"\n', "'colour'"),
    (HUB + HUB, "'name'"),
    ("keys = 'k'\n", "'hub'"),
    ("[[hub]\n", "TOML"),
])
def test_wrong_keys_and_values_are_named(tmp_path, text, named):
    with pytest.raises(BenchFileError) as e:
        parse(text, tmp_path / "b.toml")
    assert named in str(e.value)


def test_meter_options(tmp_path):
    b = parse(HUB + '[[hub]]\nname = "B"\neui = "02C0FFEE0000B001"\n' + METER + 'joined_to = "A"\nhears = ["B"]\n',
              Path(tmp_path / "b.toml"))
    m = b.meters[0]
    assert (m.joined_to, m.hears, m.dead) == ("A", ("B",), False)


# ------------------------------------------------------------------------------------------ [[ncp]]
NCP = """
[[ncp]]
name = "S"
kind = "ezsp"
eui = "02C0FFEE0000C001"
listen = "127.0.0.1:0"
"""


def test_an_ncp_table_is_read_and_a_bench_of_sticks_needs_no_hub(tmp_path):
    b = parse(NCP + '[[meter]]\ntype = "esme"\neui = "02C0FFEE000E5E01"\ninstall_code = "' + "00" * 16
              + '"\nhears = ["S"]\n', tmp_path / "b.toml")
    (n,) = b.ncps
    assert (n.name, n.kind, n.eui.hex().upper(), n.host, n.port, n.pty) == ("S", "ezsp", "02C0FFEE0000C001",
                                                                           "127.0.0.1", 0, False)
    assert b.hubs == () and b.meters[0].hears == ("S",)
    assert parse(NCP.replace('listen = "127.0.0.1:0"', "pty = true"), tmp_path / "b.toml").ncps[0].pty


@pytest.mark.parametrize("text, named", [
    (NCP.replace('kind = "ezsp"', 'kind = "deconz"'), "'kind'"),
    (NCP.replace('listen = "127.0.0.1:0"', 'listen = "nope"'), "'listen'"),
    (NCP + "pty = true\n", "exclude"),
    (NCP.replace('listen = "127.0.0.1:0"', 'port = 4'), "unknown key 'port'"),
    (NCP + '[[hub]]\nname = "S"\neui = "02C0FFEE0000C002"\n', "'name' repeats"),
    (NCP + '[[hub]]\nname = "H"\neui = "02C0FFEE0000C001"\n', "'eui' repeats"),
    (NCP + '[[meter]]\ntype = "esme"\neui = "02C0FFEE000E5E01"\ninstall_code = "' + "00" * 16
     + '"\njoined_to = "S"\n', "own process"),
])
def test_wrong_ncp_tables_are_named(tmp_path, text, named):
    with pytest.raises(BenchFileError) as e:
        parse(text, tmp_path / "b.toml")
    assert named in str(e.value)


def test_the_example_shows_an_ncp_table_commented():
    assert "# [[ncp]]" in EXAMPLE and '# kind = "ezsp"' in EXAMPLE
    parse(EXAMPLE, Path("/tmp/example.toml"))
