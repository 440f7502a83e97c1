"""`chf triage … --html FILE`: a self-contained page (no external resource) with one element per meter
(`[data-meter=EUI][data-state=1|2|3]`), its steps with their SR numbers, and an SVG sequence diagram whose frames
open to their decode; checked as text, and rendered in headless Chromium when it is there."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser

import pytest

from chf.app.triage_html import Parties, render
from dashboard_rig import bench_file, browser, need_browser, watch

HUBS = {"old": "02C0FFEE00001D01", "qa": "02C0FFEE0000AA01"}
FACTORY = ("02C0FFEE000E0001", "00112233445566778899AABBCCDDEEFF")
RETURNED = ("02C0FFEE000E0002", "0F1E2D3C4B5A69788796A5B4C3D2E1F0")
DEAD = ("02C0FFEE000E0003", "A5A5A5A55A5A5A5AA5A5A5A55A5A5A5A")


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def triaged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("triage-html")
    path = bench_file(tmp, hubs=HUBS, time_scale=120, meters=[
        ("esme", *FACTORY, ""), ("esme", *RETURNED, 'joined_to = "old"\nhears = ["qa"]'), ("esme", *DEAD, "dead = true")])
    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp)
    try:
        up = 0
        end = time.monotonic() + 120
        while up < len(HUBS) and time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            up += bool(re.match(r"hub \S+ \S+ listening on", line))
        assert up == len(HUBS), "the bench did not come up"
        (tmp / "meters.txt").write_text("\n".join(m[0] for m in (FACTORY, RETURNED, DEAD)) + "\n")
        out = subprocess.run([sys.executable, "-m", "chf.app.cli", "triage", "--bench", str(path), "--qa", "qa",
                              "--old", "old", "--meters", str(tmp / "meters.txt"), "--json", "--html",
                              str(tmp / "triage.html")], capture_output=True, text=True, timeout=600, cwd=tmp)
    finally:
        proc.kill()
        proc.wait()
    reports = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert len(reports) == 3, out.stderr
    return tmp / "triage.html", reports


def test_one_element_per_meter_with_its_state_steps_and_diagram(triaged):
    page, reports = triaged
    text = page.read_text()
    c = Collect()
    c.feed(text)
    meters = {a["data-meter"]: a for t, a in c.tags if "data-meter" in a}
    assert set(meters) == {r["meter"] for r in reports}
    for r in reports:
        assert meters[r["meter"]]["data-state"] == str(r["state"])
    assert {a["data-state"] for a in meters.values()} == {"1", "2", "3"}
    assert sum(1 for t, _ in c.tags if t == "svg") == 3
    for r in reports:  # every step with its SR number, every frame in the diagram and as a decode
        for st in r["steps"]:
            assert html.escape(st["name"]) in text and st["service_request"] in text
    frames = sum(len(st["frames"]) for r in reports for st in r["steps"])
    assert frames and sum(1 for t, a in c.tags if t == "details" and "data-frame" in a) == frames
    assert sum(1 for t, a in c.tags if t == "a" and "data-sequence-frame" in a) == frames
    assert "CCS01" in text and "MAC valid" in text  # the decodes, verified with the bench keys


def test_the_page_is_self_contained(triaged):
    page, _ = triaged
    c = Collect()
    c.feed(page.read_text())
    for tag, attrs in c.tags:
        for key in ("src", "href"):
            v = attrs.get(key)
            assert v is None or v.startswith("#") or v.startswith("data:") or v == "http://www.w3.org/2000/svg", \
                (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")


def test_render_escapes_what_it_shows():
    rep = {"meter": "02C0FFEE000E0001", "state": 3, "redeployable": False, "verdict": "<script>x</script>",
           "steps": [{"name": "a & b", "service_request": "SR 8.1.1", "outcome": "failed", "seconds": 0.5,
                      "detail": "\"quoted\"", "frames": [{"direction": "sent", "hex": "ZZ", "use_case": "<b>"}]}]}
    text = render([rep], Parties(bytes.fromhex("02C0FFEE0000AA01")))
    assert "<script>x</script>" not in text and "&lt;script&gt;" in text and "a &amp; b" in text
    assert "not a frame" in text


def test_the_page_renders_in_chromium_and_frames_open_to_their_decode(triaged):
    need_browser()
    page_path, reports = triaged
    with browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        w = watch(page)
        page.goto(page_path.as_uri(), wait_until="load")
        for r in reports:
            assert page.query_selector(f'[data-meter="{r["meter"]}"][data-state="{r["state"]}"] svg')
        returned = f'[data-meter="{RETURNED[0]}"]'
        page.click(f'{returned} svg a[data-sequence-frame="0"]')
        page.wait_for_selector(f"{returned} details[open][data-frame]", timeout=5000)
        opened = page.inner_text(f"{returned} details[open]")
        assert "==" in opened and "message code" in opened
        assert w.errors == []
        assert [u for u in w.requests if not u.startswith("file://")] == []
