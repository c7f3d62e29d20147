"""The public alert map (/alerts/v1/map) in a real headless browser: Debian's Chromium
driven by Playwright (its own browser downloads are never used: no internet is needed).
The demo city is loaded; the page draws the base layer (the demo's rivers), the real
municipal and prefectural boundaries around the city with their names, and every shelter
with its name; the city issues a 警戒レベル4 alert through the API, and the area appears on
the open page in the level-4 colour (purple, #AA00AA) through the page's Server-Sent Events
stream; an alert for the whole of 前橋市 (code only) is drawn with the city's boundary.
Screenshots are kept as tests/python/artifacts/map.png, map-prefecture.png and map-centre.png
(git-ignored)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import city_admin, start_server, stop_server

CHROMIUM = Path(os.environ.get("KIZUNA_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LEVEL4_COLOUR = "#AA00AA"
# Near the demo city's shelters (lat, lon), closed.
AREA = [[36.405, 139.195], [36.405, 139.215], [36.425, 139.215], [36.425, 139.195], [36.405, 139.195]]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test.sh and .ci/run do)",
        allow_module_level=True,
    )

from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    server = start_server(tmp_path_factory, "kizuna-map", ["--demo"])
    yield server
    stop_server(server)




def test_the_map_shows_shelters_and_a_new_alert_live(city):
    base = f"{city.base_url}/alerts/v1"
    ident = f"kizuna-map-{uuid.uuid4().hex[:8]}"
    ARTIFACTS.mkdir(exist_ok=True)
    external: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            # A phone-sized, touch-enabled viewport.
            page = browser.new_page(viewport={"width": 412, "height": 860}, device_scale_factor=2,
                                    has_touch=True, is_mobile=True)
            page.on("request", lambda r: None if r.url.startswith(city.base_url) or r.url.startswith("data:")
                    else external.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/map", wait_until="load")
            page.wait_for_selector("body[data-ready='true']", timeout=15_000)

            # The real municipal boundaries around the city (前橋市 and its neighbours), named,
            # and the prefectural border; the base layer (the demo's rivers); the credit lines.
            codes = page.eval_on_selector_all("svg #cells path[data-code]", "els => els.map(e => e.dataset.code)")
            assert {"102016", "102041", "102032"} <= set(codes), codes
            assert "131016" not in codes
            labels = page.eval_on_selector_all("svg #labels .muni-label", "els => els.map(e => e.textContent)")
            assert "前橋市" in labels and "伊勢崎市" in labels, labels
            assert page.locator("svg #base path.pref[data-code='100005']").count() == 1
            assert page.locator("svg #base path[data-layer='river']").count() >= 1
            maebashi_d = page.get_attribute("svg #cells path[data-code='102016']", "d")
            assert maebashi_d.count("L") > 60, "the real boundary (94 vertices), not a cell of a few"
            attribution = page.text_content("#attribution")
            assert "GSHHG" in attribution and "国土数値情報" in attribution, attribution

            # Every shelter, with its name on the map.
            shelters = page.locator("svg [data-shelter-id]")
            assert shelters.count() >= 8, shelters.count()
            states = page.eval_on_selector_all("svg [data-shelter-id]", "els => els.map(e => e.dataset.open)")
            assert {"true", "false"} <= set(states), states
            # (Names that would overlap are hidden until zoomed in; every one is in the SVG.)
            drawn = page.eval_on_selector_all("svg [data-shelter-id] text.shelter-name", "els => els.map(e => e.textContent)")
            published = requests.get(f"{base}/shelters.geojson", timeout=10).json()["features"]
            names = [f["properties"]["name"] for f in published]
            names = [n.get("ja") if isinstance(n, dict) else n for n in names]
            assert sorted(drawn) == sorted(names), (drawn, names)
            assert "絆川市立中央小学校" in drawn
            # The stream is connected before the alert is issued, so it arrives live.
            page.wait_for_selector("#status.live", timeout=10_000)

            body = {"kind": "evacuation-order", "identifier": ident, "status": "Exercise",
                    "areas": [{"code": "102016", "name": "絆川市 中央地区", "polygon": AREA}]}
            issued = time.monotonic()
            r = requests.post(f"{base}/alerts", json=body, headers=city_admin(city), timeout=10)
            assert r.status_code == 201, r.text
            assert r.json().get("warningLevel") == 4, r.text

            selector = f"svg path[data-alert-id='{ident}']"
            page.wait_for_selector(selector, state="attached", timeout=10_000)
            seen = time.monotonic() - issued
            area = page.locator(selector)
            assert area.get_attribute("fill").upper() == LEVEL4_COLOUR
            assert area.get_attribute("data-level") == "4"
            print(f"alert drawn {seen * 1000:.0f} ms after the API call returned")
            assert seen <= 10

            # A whole-municipality alert (code only): drawn with 前橋市's boundary, not a circle.
            whole = f"{ident}-city"
            r = requests.post(f"{base}/alerts", headers=city_admin(city), timeout=10, json={
                "kind": "elderly-evacuation", "identifier": whole, "status": "Exercise", "areas": [{"code": "102016"}]})
            assert r.status_code == 201, r.text
            page.wait_for_selector(f"svg path[data-alert-id='{whole}']", state="attached", timeout=10_000)
            assert page.get_attribute(f"svg path[data-alert-id='{whole}']", "d").count("L") > 60

            # Zoom buttons work (large touch targets), then keep a picture.
            before = page.get_attribute("#alerts", "transform")
            page.click("#zoom-in")
            assert page.get_attribute("#alerts", "transform") != before
            # Dragging pans the map (pointer events).
            before = page.get_attribute("#alerts", "transform")
            page.mouse.move(200, 300)
            page.mouse.down()
            page.mouse.move(260, 360, steps=5)
            page.mouse.up()
            assert page.get_attribute("#alerts", "transform") != before
            page.click("#fit-all")
            page.screenshot(path=str(ARTIFACTS / "map-prefecture.png"))
            page.click("#fit-data")
            page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=True)
            # Closer in on the city centre (a shelter chosen from the list), names readable.
            page.click("#shelter-list li button >> nth=0")
            page.evaluate("window.scrollTo(0, 0)")
            visible = page.eval_on_selector_all(
                "svg [data-shelter-id] text.shelter-name", "els => els.filter(e => e.getAttribute('visibility') !== 'hidden').length")
            assert visible >= 4, visible
            page.screenshot(path=str(ARTIFACTS / "map-centre.png"))
        finally:
            browser.close()
    assert external == [], f"the page requested other origins: {external}"
    assert errors == [], f"script errors: {errors}"
    assert (ARTIFACTS / "map.png").stat().st_size > 10_000
