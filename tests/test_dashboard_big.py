"""The dashboard on a bench of more than 16 hubs, in headless Chromium (skipped without it): a meter's hub list
is filled when it is used. Its own module: one Playwright session a thread, and test_dashboard_page holds one for
its whole module."""

from __future__ import annotations

from dashboard_rig import ESME, ESME_IC, action_done, bench_file, browser, need_browser, served, watch


def test_a_big_bench_gives_a_meters_hub_choices_when_they_are_used(tmp_path):
    """Over 16 hubs a meter's hub list is filled when it is used (a 100-hub bench would lay out 100 options per
    meter at load); filled, it works as on a small bench."""
    need_browser()
    hubs = {f"h{i}": f"02C0FFEE{i:06X}01" for i in range(17)}
    path = bench_file(tmp_path, hubs=hubs, meters=[("esme", ESME, ESME_IC, 'hears = ["h16"]')])
    with served(path) as sb, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        w = watch(page)
        page.goto(sb.url, wait_until="load")
        sel = f'[data-eui="{ESME}"] select[data-field="hub"]'
        page.wait_for_selector(sel)
        assert page.eval_on_selector(sel, "s => s.options.length") == 1
        page.focus(sel)
        assert page.eval_on_selector(sel, "s => [...s.options].map(o => o.value)") == list(hubs)
        page.select_option(sel, "h16")
        page.click(f'[data-eui="{ESME}"] [data-action="ccs01"]')
        assert "on hub h16: response CCS01" in action_done(page)
        page.wait_for_selector(f'[data-hub="h16"] [data-device-log-entry="{ESME}"]', timeout=30000)
        page.wait_for_selector(f'[data-eui="{ESME}"][data-state="joined"]', timeout=30000)
        assert w.errors == []
