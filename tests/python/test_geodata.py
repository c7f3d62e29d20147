"""A site's own geographic files, loaded at start-up without rebuilding: `--municipalities`
(codes, names, readings, boundaries that replace or add to the national table) and
`--basemap` (the public map's base layer). Good files are used end to end — an alert for the
site's own code is drawn and matched by its boundary —; a bad file stops the server before it
listens, naming every problem."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from conftest import kizuna_bin, kizuna_token, start_server, stop_server

# 99999 + check digit 7: well formed, in no real table.
CODE = "999997"
SQUARE = [[139.50, 36.00], [139.60, 36.00], [139.60, 36.10], [139.50, 36.10], [139.50, 36.00]]


def write(path, doc) -> str:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("site-files")
    munis = write(d / "municipalities.geojson", {"type": "FeatureCollection", "features": [
        {"type": "Feature",
         "properties": {"code": CODE, "name": "試験市", "kana": "しけんし", "kind": "city"},
         "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
    ]})
    basemap = write(d / "basemap.geojson", {"type": "FeatureCollection", "attribution": "test data", "features": [
        {"type": "Feature", "properties": {"layer": "road", "class": "major", "name": "試験通り"},
         "geometry": {"type": "LineString", "coordinates": [[139.50, 36.05], [139.60, 36.05]]}},
    ]})
    server = start_server(tmp_path_factory, "kizuna-site", ["--municipalities", munis, "--basemap", basemap])
    yield server
    stop_server(server)


def test_the_sites_municipality_is_used_end_to_end(site):
    base = f"{site.base_url}/alerts/v1"
    doc = requests.get(f"{base}/municipalities.geojson", params={"bbox": "139.45,35.95,139.65,36.15"}, timeout=10).json()
    mine = [f for f in doc["features"] if f["properties"]["code"] == CODE]
    assert len(mine) == 1, [f["properties"]["code"] for f in doc["features"]]
    assert mine[0]["properties"]["name"] == "試験市"
    assert mine[0]["geometry"] == {"type": "MultiPolygon", "coordinates": [[SQUARE]]}

    admin = {"Authorization": "Bearer " + kizuna_token(site, "--role", "tenant-admin", "--party", "urn:kizuna:party:site")}
    r = requests.post(f"{base}/alerts", headers=admin, timeout=10,
                      json={"kind": "evacuation-order", "identifier": "site-order", "areas": [{"code": CODE}]})
    assert r.status_code == 201, r.text
    active = requests.get(f"{base}/active.geojson", timeout=10).json()["features"]
    order = [f for f in active if f["properties"].get("identifier") == "site-order"]
    assert order and order[0]["geometry"] == {"type": "MultiPolygon", "coordinates": [[SQUARE]]}
    inside = requests.get(f"{base}/here", params={"lat": 36.05, "lon": 139.55}, timeout=10).json()
    assert [a["identifier"] for a in inside["alerts"]] == ["site-order"], inside
    outside = requests.get(f"{base}/here", params={"lat": 36.15, "lon": 139.55}, timeout=10).json()
    assert outside["alerts"] == [], outside

    # The national table is still there: 千代田区 (131016) is accepted.
    r = requests.post(f"{base}/alerts", headers=admin, timeout=10,
                      json={"kind": "elderly-evacuation", "identifier": "chiyoda", "areas": [{"code": "131016"}]})
    assert r.status_code == 201, r.text
    here = requests.get(f"{base}/here", params={"lat": 35.6940, "lon": 139.7536}, timeout=10).json()
    assert "chiyoda" in [a["identifier"] for a in here["alerts"]], here


def test_the_sites_base_map_is_served(site):
    doc = requests.get(f"{site.base_url}/alerts/v1/basemap.geojson", timeout=10).json()
    assert doc["attribution"] == "test data"
    assert doc["bbox"] == [139.5, 36.05, 139.6, 36.05]
    assert [f["properties"] for f in doc["features"]] == [{"layer": "road", "name": "試験通り", "class": "major"}]


def refused(tmp_path, args: list[str]) -> str:
    """Runs `kizuna serve` with `args`; it must exit non-zero before listening. Its stderr."""
    out = subprocess.run([str(kizuna_bin()), "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"), *args],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stderr
    assert "kizuna is ready" not in out.stdout + out.stderr
    return out.stderr


def test_a_bad_municipality_file_stops_the_server_naming_each_problem(tmp_path):
    bad = write(tmp_path / "bad.geojson", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "999990", "name": "x", "kana": "x", "kind": "city"}, "geometry": None},
        {"type": "Feature", "properties": {"code": CODE, "name": "試験市", "kana": "しけんし", "kind": "metropolis"},
         "geometry": {"type": "Polygon", "coordinates": [SQUARE[:3]]}},
    ]})
    err = refused(tmp_path, ["--municipalities", bad])
    assert "--municipalities" in err and "bad.geojson" in err, err
    assert "features[0] (code 999990): properties.code: '999990': the check digit should be 7" in err, err
    assert "features[1] (code 999997): properties.kind 'metropolis'" in err, err
    csv = tmp_path / "bad.csv"
    csv.write_text("code,name,kana,kind,district,lat,lon\n131016,千代田区,ちよだく,special-ward,,95,139\n", encoding="utf-8")
    err = refused(tmp_path, ["--municipalities", str(csv)])
    assert "line 2: lat/lon out of range" in err, err
    err = refused(tmp_path, ["--municipalities", str(tmp_path / "missing.csv")])
    assert "missing.csv: cannot be read" in err, err


def test_a_bad_base_map_stops_the_server_naming_each_problem(tmp_path):
    bad = write(tmp_path / "basemap.geojson", {"type": "FeatureCollection", "attribution": "x", "features": [
        {"type": "Feature", "properties": {"layer": "roads"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
        {"type": "Feature", "properties": {"layer": "place"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
    ]})
    err = refused(tmp_path, ["--basemap", bad])
    assert "base map" in err and "basemap.geojson" in err, err
    assert "features[0]: properties.layer 'roads' is not one of" in err, err
    assert "features[1]: a 'place' needs properties.name" in err, err
