"""Consent, the information bank and the person's rights, black-box: the real binary
with its demo residents, tokens minted by `kizuna token`, plain `requests` as the client
(the same calls a relying service or a citizen app makes), Python's own `zipfile` and
`csv` to read the portability export, and `sqlite3` to tamper with the audit log behind
the server's back before `kizuna audit verify`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import zipfile

import pytest
import requests

from conftest import DEMO_CONTEXT, kizuna_bin, kizuna_token, start_server, stop_server

LINK = f'<{DEMO_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
HANAKO = "urn:ngsi-ld:Person:kizunagawa:hanako"
TARO = "urn:ngsi-ld:Person:kizunagawa:taro"
APP = "urn:kizuna:party:sukoyaka-app"
INSURER = "urn:kizuna:party:kizuna-kenpo"


def token(server, *args: str) -> str:
    return kizuna_token(server, *args)


def bearer(server, *args: str) -> dict:
    return {"Authorization": f"Bearer {token(server, *args)}", "Link": LINK}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo server of this module's own: the tests withdraw consents and erase data."""
    server = start_server(tmp_path_factory, "kizuna-consent-demo", ["--demo"])
    yield server
    stop_server(server)


def bp_ids(server, headers: dict) -> set[str]:
    r = requests.get(
        f"{server.ngsi}/entities",
        params={"type": "BloodPressureObservation", "options": "keyValues"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return {e["id"] for e in r.json()}


def test_consent_and_information_bank_decide_what_each_party_sees(demo):
    anonymous = bp_ids(demo, {"Link": LINK})
    app = bp_ids(demo, bearer(demo, "--role", "service-provider", "--party", APP, "--purpose", "disease-management"))
    insurer = bp_ids(
        demo, bearer(demo, "--role", "service-provider", "--party", INSURER, "--purpose", "disease-management")
    )
    no_purpose = bp_ids(demo, bearer(demo, "--role", "service-provider", "--party", APP))
    wrong_purpose = bp_ids(demo, bearer(demo, "--role", "service-provider", "--party", APP, "--purpose", "research"))
    assert anonymous == set() and no_purpose == set() and wrong_purpose == set()
    assert app and all("hanako" in i for i in app), app  # Hanako consented to the app
    assert insurer and all("taro" in i for i in insurer), insurer  # Taro delegated to insurers (情報銀行)
    # The bank's provision to the insurer is on Taro's record.
    r = requests.get(f"{demo.base_url}/me/provisions", headers=bearer(demo, "--role", "citizen", "--subject", TARO), timeout=10)
    assert r.status_code == 200, r.text
    assert INSURER in r.text


def test_bad_tokens_are_refused_with_problem_details(demo):
    good = token(demo, "--role", "tenant-admin", "--party", "urn:kizuna:party:kizunagawa-city")
    head, payload, sig = good.split(".")
    tampered = ".".join([head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig])
    for bad in [tampered, "not-a-token", good + "x"]:
        r = requests.get(f"{demo.ngsi}/types", headers={"Authorization": f"Bearer {bad}"}, timeout=10)
        assert r.status_code == 401, r.text
        body = r.json()
        assert body["type"] == "urn:kizuna:errors:Unauthorized" and body["status"] == 401
        assert bad not in r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_hanako_reads_her_log_exports_and_withdraws(demo):
    app = bearer(demo, "--role", "service-provider", "--party", APP, "--purpose", "disease-management")
    hanako = bearer(demo, "--role", "citizen", "--subject", HANAKO)
    assert bp_ids(demo, app)
    log = requests.get(f"{demo.base_url}/me/access-log", headers=hanako, timeout=10)
    assert log.status_code == 200, log.text
    assert APP in log.text and "disease-management" in log.text

    export = requests.get(f"{demo.base_url}/me/export", headers=hanako, timeout=30)
    assert export.status_code == 200, export.text[:300]
    assert export.headers["Content-Type"].startswith("application/zip")
    z = zipfile.ZipFile(io.BytesIO(export.content))
    names = set(z.namelist())
    assert {"manifest.json", "entities.jsonld", "entities.csv"} <= names, names
    exported = json.loads(z.read("entities.jsonld"))
    text = json.dumps(exported)
    assert "hanako-20261121" in text and "taro" not in text
    rows = list(csv.DictReader(io.StringIO(z.read("entities.csv").decode("utf-8"))))
    # Every row is about an entity of Hanako's: her named records, and the HealthAlert
    # entities her FHIR blood-pressure readings raised (ids from the Flag, dataSubject her).
    hers = {e["id"] for e in exported["entities"] if "hanako" in e["id"] or "kizunagawa:hanako" in json.dumps(e.get("dataSubject"))}
    assert rows and all(row.get("entityId") in hers for row in rows), rows[:3]
    assert any(i.startswith("urn:ngsi-ld:HealthAlert:") for i in hers)
    fhir = json.loads(z.read("fhir.json"))
    assert fhir["resourceType"] == "Bundle" and fhir["type"] == "collection"
    refs = {e["resource"]["resourceType"] for e in fhir["entry"]}
    assert {"Patient", "Observation", "Flag", "Communication"} <= refs, refs

    r = requests.post(f"{demo.base_url}/me/consents/urn:kizuna:consent:demo-hanako-sukoyaka/withdraw", headers=hanako, timeout=10)
    assert r.status_code == 200, r.text
    assert bp_ids(demo, app) == set()  # the very next request


def test_audit_verify_detects_tampering(tmp_path_factory):
    server = start_server(tmp_path_factory, "kizuna-audit", ["--demo"])
    try:
        app = bearer(server, "--role", "service-provider", "--party", APP, "--purpose", "disease-management")
        for _ in range(3):
            bp_ids(server, app)
    finally:
        stop_server(server)
    ok = subprocess.run([str(kizuna_bin()), "audit", "verify", "--data", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "audit log OK" in ok.stdout
    db = server.data_dir / "kizuna.db"
    con = sqlite3.connect(db)
    seq, doc = con.execute("SELECT seq, doc FROM audit_log ORDER BY seq LIMIT 1 OFFSET 2").fetchone()
    con.execute("UPDATE audit_log SET doc = ? WHERE seq = ?", (doc.replace(APP, "urn:kizuna:party:someone-else"), seq))
    con.commit()
    con.close()
    bad = subprocess.run([str(kizuna_bin()), "audit", "verify", "--data", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"seq {seq}" in bad.stderr or f"record {seq}" in bad.stderr or str(seq) in bad.stderr, bad.stderr


def test_classification_file_is_applied_and_bad_files_are_refused(tmp_path_factory, tmp_path):
    good = tmp_path / "classification.json"
    good.write_text(
        json.dumps({"": {"personal": {"Diary": {"category": "health"}}, "public": ["Bench"]}}), encoding="utf-8"
    )
    server = start_server(tmp_path_factory, "kizuna-classified", ["--classification", str(good)])
    try:
        admin = {"Authorization": f"Bearer {token(server, '--role', 'tenant-admin', '--party', 'urn:kizuna:party:city')}"}
        for body in [
            {"id": "urn:ngsi-ld:Bench:1", "type": "Bench"},
            {"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp"},
            {"id": "urn:ngsi-ld:Diary:1", "type": "Diary", "dataSubject": {"type": "Relationship", "object": HANAKO}},
        ]:
            r = requests.post(f"{server.ngsi}/entities", json=body, headers=admin, timeout=10)
            assert r.status_code == 201, r.text
        seen = {
            t: requests.get(f"{server.ngsi}/entities", params={"type": t}, timeout=10).json()
            for t in ["Bench", "Lamp", "Diary"]
        }
        assert [e["id"] for e in seen["Bench"]] == ["urn:ngsi-ld:Bench:1"]  # public
        assert seen["Lamp"] == [] and seen["Diary"] == []  # not public; personal
        r = requests.get(f"{server.base_url}/kizuna/v1/classification", headers=admin, timeout=10)
        assert r.status_code == 200 and "Diary" in r.text, r.text
    finally:
        stop_server(server)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"": {"personal": {"Diary": {}}}}), encoding="utf-8")
    out = subprocess.run(
        [str(kizuna_bin()), "serve", "--listen", "127.0.0.1:1", "--data", str(tmp_path / "d"), "--classification", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0 and "category" in (out.stdout + out.stderr), out.stdout + out.stderr


def test_taro_grants_a_consent_in_the_default_tenant_and_stops_use(demo):
    app = bearer(demo, "--role", "service-provider", "--party", APP, "--purpose", "disease-management")
    taro = bearer(demo, "--role", "citizen", "--subject", TARO)
    assert not any("taro" in i for i in bp_ids(demo, app))
    body = {"recipient": APP, "purposes": ["disease-management"], "categories": ["health"], "noticeVersion": "v1"}
    r = requests.post(f"{demo.base_url}/me/consents", json=body, headers=taro, timeout=10)
    assert r.status_code == 201, r.text
    assert any("taro" in i for i in bp_ids(demo, app))
    r = requests.put(f"{demo.base_url}/me/usage-stops/{APP}", headers=taro, timeout=10)
    assert r.status_code in (200, 201), r.text
    assert not any("taro" in i for i in bp_ids(demo, app))  # a usage stop overrides the consent
    bad = requests.post(f"{demo.base_url}/me/consents", json={**body, "purposes": []}, headers=taro, timeout=10)
    assert bad.status_code == 400 and "purposes" in bad.json()["detail"], bad.text
