"""The bench dashboard in headless Chromium (Debian's package, driven by Playwright; skipped without them):
`chf run --bench FILE --ui HOST:PORT` serves a page that loads with no console error and no request leaving the
machine; a join made with `chf send` shows without a reload (meter state, device log entry, CS14 in the feed);
clicking a frame shows its decode beside its hex, the field under the pointer highlighted in both; each action
(power, advance the clock, CCS01, CS07, CCS07, CCS03, Disconnect) works and its frames reach the feed."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from dashboard_rig import ESME, ESME_IC, HUBS, action_done, bench_file, browser, need_browser, served, watch

ESME2, ESME2_IC = "02C0FFEE000E5E02", "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
ESME3, ESME3_IC = "02C0FFEE000E5E03", "00112233445566778899AABBCCDDEEFF"


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    need_browser()
    tmp = tmp_path_factory.mktemp("dashboard")
    path = bench_file(tmp, meters=[("esme", ESME, ESME_IC, ""), ("esme", ESME2, ESME2_IC, ""),
                                   ("esme", ESME3, ESME3_IC, 'joined_to = "A"')])
    with served(path) as sb, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        w = watch(page)
        page.goto(sb.url, wait_until="load")
        page.wait_for_selector(f'[data-eui="{ESME}"][data-state="factory"]', timeout=20000)
        page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
        yield sb, w


def han(sb, hub: str) -> dict:
    txt = sb.control(hub, "CHF:HAN")
    return json.loads(txt[txt.index("{"):])


def test_page_loads_with_every_hub_and_meter_and_nothing_from_outside(dash):
    sb, w = dash
    page = w.page
    for name, eui in HUBS.items():
        assert eui in page.inner_text(f'[data-hub="{name}"]')
    assert page.query_selector(f'[data-eui="{ESME2}"][data-state="factory"]')
    assert page.query_selector(f'[data-eui="{ESME3}"][data-state="joined"]')  # installed at bench start
    assert page.query_selector(f'[data-hub="A"] [data-device-log-entry="{ESME3}"]')
    assert page.query_selector("#links svg line.joined"), "the joined meter's radio link is drawn"
    assert w.errors == []
    assert w.outside(sb.url.rstrip("/")) == [], "every request stays on the dashboard's own origin"


def test_a_join_made_with_chf_send_appears_without_a_reload(dash):
    sb, w = dash
    page = w.page
    out = sb.chf("send", "CCS01", "--device", ESME, "--install-code", ESME_IC, "--device-type", "esme",
                 "--wan", f"127.0.0.1:{sb.ports['A']}", "--keys", str(sb.tmp / "keys"), "--hub", HUBS["A"],
                 "--counters", str(sb.tmp / "ctr.json"), "--wait", "8")
    assert out.returncode == 0, out.stderr
    page.wait_for_selector(f'[data-eui="{ESME}"][data-state="joined"]', timeout=20000)
    page.wait_for_selector(f'[data-hub="A"] [data-device-log-entry="{ESME}"]', timeout=5000)
    page.wait_for_selector('[data-frame][data-use-case="CS14"]', timeout=5000)
    page.wait_for_selector('[data-frame][data-use-case="CCS01"][data-direction="wan-in"]', timeout=5000)
    assert page.evaluate("window.__sameDocument") is True


def test_clicking_a_frame_shows_its_decode_with_the_field_under_the_pointer_highlighted(dash):
    _sb, w = dash
    page = w.page
    page.click('[data-frame][data-use-case="CS14"]')
    pane = page.wait_for_selector("[data-decode]", timeout=10000)
    text = pane.inner_text()
    assert "CS14" in text and "MAC valid" in text
    assert re.search(r"\bDD( [0-9A-F]{2}){8}", text), "the frame's hex is beside its decode"
    line = page.locator("[data-decode] .lines [data-offset]", has_text="message code").first
    line.hover()
    marked = page.eval_on_selector_all("[data-decode] .hex span.hl", "els => els.map(e => +e.dataset.at)")
    offset, length = int(line.get_attribute("data-offset")), int(line.get_attribute("data-length"))
    assert marked == list(range(offset, offset + length)) and length == 2
    page.hover(f'[data-decode] .hex span[data-at="{offset}"]')  # and from the hex: the narrowest field there
    assert "message code" in page.inner_text("[data-decode] .lines div.hl")


def test_power_off_and_on_from_the_page(dash):
    sb, w = dash
    page = w.page
    page.click('[data-hub="B"] [data-action="power"]')
    assert "hub B radio off" in action_done(page)
    assert han(sb, "B")["powered"] is False
    page.wait_for_selector('[data-hub="B"][data-powered="off"]', timeout=5000)
    page.click('[data-hub="B"] [data-action="power"]')
    assert "hub B radio on" in action_done(page)
    assert han(sb, "B")["powered"] is True


def test_advance_the_emulated_clock_from_the_page(dash):
    sb, w = dash
    page = w.page
    before = datetime.fromisoformat(han(sb, "A")["emulated_time"])
    page.fill("#advance-s", "3600")
    page.click('[data-action="advance"]')
    assert "emulated time" in action_done(page)
    after = datetime.fromisoformat(han(sb, "A")["emulated_time"])
    assert (after - before).total_seconds() >= 3600


def test_install_a_factory_meter_on_a_chosen_hub(dash):
    _sb, w = dash
    page = w.page
    page.select_option(f'[data-eui="{ESME2}"] select[data-field="hub"]', "B")
    page.click(f'[data-eui="{ESME2}"] [data-action="ccs01"]')
    assert "response CCS01" in action_done(page)
    page.wait_for_selector(f'[data-eui="{ESME2}"][data-state="joined"]', timeout=30000)
    page.wait_for_selector(f'[data-hub="B"] [data-device-log-entry="{ESME2}"]', timeout=5000)
    assert page.query_selector('[data-frame][data-use-case="CCS01"][data-hub-name="B"]')


def test_read_a_meters_device_log_crosses_the_han(dash):
    _sb, w = dash
    page = w.page
    page.click(f'[data-eui="{ESME3}"] [data-action="cs07"]')
    assert "response CS07" in action_done(page)
    for direction in ("wan-in", "han-to-meter", "han-to-hub", "wan-out"):
        page.wait_for_selector(f'[data-frame][data-use-case="CS07"][data-direction="{direction}"]', timeout=10000)


def test_back_up_a_hub_and_restore_a_meter_onto_another(dash):
    _sb, w = dash
    page = w.page
    page.click('[data-hub="A"] [data-action="ccs07"]')
    assert "response CCS07" in action_done(page)
    page.wait_for_selector('[data-frame][data-use-case="CCS07"][data-direction="wan-out"]', timeout=5000)
    page.select_option(f'[data-eui="{ESME3}"] select[data-field="hub"]', "A")
    page.select_option(f'[data-eui="{ESME3}"] select[data-field="to"]', "B")
    page.click(f'[data-eui="{ESME3}"] [data-action="ccs03"]')
    assert "response CCS03" in action_done(page)
    page.wait_for_selector('[data-frame][data-use-case="CCS03"][data-hub-name="B"]', timeout=5000)
    page.wait_for_selector(f'[data-hub="B"] [data-device-log-entry="{ESME3}"]', timeout=5000)


def test_disconnect_from_the_page(dash):
    _sb, w = dash
    page = w.page
    page.select_option(f'[data-eui="{ESME}"] select[data-field="hub"]', "A")
    page.click(f'[data-eui="{ESME}"] [data-action="disconnect"]')
    assert "response DISCONNECT" in action_done(page)
    page.wait_for_selector('[data-frame][data-use-case="DISCONNECT"][data-direction="han-to-meter"]', timeout=10000)
    page.wait_for_selector('[data-frame][data-use-case="DISCONNECT"][data-direction="wan-out"]', timeout=10000)


def test_filters_narrow_the_feed(dash):
    sb, w = dash
    page = w.page
    page.fill("#f-uc", "CS07")
    ucs = set(page.eval_on_selector_all("#feed [data-frame]", "els => els.map(e => e.dataset.useCase)"))
    assert ucs == {"CS07"}
    page.fill("#f-uc", "")
    page.select_option("#f-hub", "B")
    hubs = set(page.eval_on_selector_all("#feed [data-frame]", "els => els.map(e => e.dataset.hubName)"))
    assert hubs == {"B"}
    page.select_option("#f-hub", "")
    assert w.errors == []
    assert w.outside(sb.url.rstrip("/")) == []


def test_a_bad_action_is_refused_with_its_reason(dash):
    sb, w = dash
    r = w.page.evaluate("""async () => { const r = await fetch('/action', {method: 'POST', headers:
        {'Content-Type': 'application/json'}, body: JSON.stringify({action: 'power', hub: 'nope'})});
        return [r.status, await r.json()]; }""")
    assert r[0] == 400 and "no hub named 'nope'" in r[1]["text"]
    assert han(sb, "A")["powered"] is True


def test_the_page_never_reloaded(dash):
    _sb, w = dash
    assert w.page.evaluate("window.__sameDocument") is True, "the page reloaded"

