"""The FHIR R4 API (`/fhir`), black-box, driven by real third-party FHIR clients:

- `fhirclient` (SMART on FHIR's Python client; its models are generated from FHIR
  4.0.1 and parse strictly, so every resource the server returns is also checked
  against the R4 element definitions) for the CapabilityStatement, create, read,
  search and transaction Bundles;
- `fhirpy` (Beda Software's client) for searches with date prefixes, `_sort`,
  `_count` paging through `next` links and `_include`;
- plain `requests` where the HTTP details themselves are under test (ETags,
  `If-Match`, status codes, error shapes) and for Kizuna's own consent API (`/me`).

The module runs its own server WITHOUT `--demo` so that it controls every resource,
party and consent; each test uses its own data subjects (the threshold rules raise an
alert once per crossing and data subject).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
import requests
from fhirclient import client as fhir_client
from fhirclient import server as fhir_server
from fhirclient.models import bundle as fhir_bundle
from fhirclient.models import observation as fhir_observation
from fhirclient.models import patient as fhir_patient
from fhirclient.models.fhirabstractbase import FHIRAbstractBase
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from fhirpy import SyncFHIRClient

from conftest import kizuna_token, start_server, stop_server

ADMIN_PARTY = "urn:kizuna:party:fhir-test-city"
HOSPITAL = "urn:kizuna:party:fhir-test-hospital"
INSURER = "urn:kizuna:party:fhir-test-kenpo"
SUBJECT_SYSTEM = "urn:kizuna:data-subject"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
RECOMMENDATION = "urn:kizuna:fhir:recommendation"
FHIR_JSON = "application/fhir+json"
WORKLIST = {
    "code": f"{RECOMMENDATION}|recommend-visit,{RECOMMENDATION}|urgent-visit",
    "status": "active",
}


# ---------------------------------------------------------------------------------
# The server and its parties


@pytest.fixture(scope="module")
def fhir(tmp_path_factory):
    """A server of this module's own, without demo data, with a registered insurer
    (service provider, purpose disease-management) and hospital (data holder)."""
    server = start_server(tmp_path_factory, "kizuna-fhir", [])
    admin = bearer(server, "--role", "tenant-admin", "--party", ADMIN_PARTY)
    for party, body in [
        (INSURER, {"name": "絆健保 (test)", "roles": ["service-provider"], "registeredPurposes": ["disease-management"]}),
        (HOSPITAL, {"name": "絆川病院 (test)", "roles": ["data-holder"], "registeredPurposes": ["treatment"]}),
    ]:
        r = requests.put(f"{server.base_url}/kizuna/v1/parties/{party}", json=body, headers=admin, timeout=10)
        assert r.status_code == 201, r.text
    yield server
    stop_server(server)


def bearer(server, *args: str) -> dict:
    return {"Authorization": f"Bearer {kizuna_token(server, *args)}"}


def admin_headers(server) -> dict:
    return bearer(server, "--role", "tenant-admin", "--party", ADMIN_PARTY)


def citizen_headers(server, subject: str) -> dict:
    return bearer(server, "--role", "citizen", "--subject", subject)


def insurer_headers(server) -> dict:
    return bearer(server, "--role", "service-provider", "--party", INSURER, "--purpose", "disease-management")


def base(server) -> str:
    return f"{server.base_url}/fhir"


def person() -> str:
    """A fresh data-subject URI."""
    return f"urn:ngsi-ld:Person:fhir-{uuid.uuid4().hex[:10]}"


def fhirclient_for(server, headers: dict) -> fhir_client.FHIRClient:
    """A `fhirclient` FHIRClient on the server's FHIR base whose requests carry
    `headers` (fhirclient's own auth only speaks SMART OAuth2; its `FHIRServer` uses one
    `requests.Session`, so session headers ride along on every request)."""
    smart = fhir_client.FHIRClient(settings={"app_id": "kizuna-tests", "api_base": base(server)})
    smart.server.session.headers.update(headers)
    return smart


def patient_json(subject: str, family: str = "絆川", given: str = "花子", birth: str = "1960-04-01") -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SUBJECT_SYSTEM, "value": subject}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "female",
        "birthDate": birth,
    }


def bp_json(patient_ref: str, systolic: float, diastolic: float, when: str) -> dict:
    """A home blood pressure panel (JP Core vital signs: LOINC 85354-9, UCUM mm[Hg])."""

    def component(code: str, display: str, value: float) -> dict:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": when,
        "component": [
            component("8480-6", "Systolic blood pressure", systolic),
            component("8462-4", "Diastolic blood pressure", diastolic),
        ],
    }


def create(server, headers: dict, resource: dict) -> dict:
    r = requests.post(
        f"{base(server)}/{resource['resourceType']}",
        data=json.dumps(resource),
        headers={**headers, "Content-Type": FHIR_JSON},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()


def search(server, headers: dict, rtype: str, params) -> dict:
    r = requests.get(f"{base(server)}/{rtype}", params=params, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset", body
    return body


def ids_of(bundle: dict, rtype: str | None = None) -> list[str]:
    return [
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if rtype is None or e["resource"]["resourceType"] == rtype
    ]


def parse_strict(resource: dict) -> FHIRAbstractBase:
    """Parses a resource with fhirclient's R4 models (strict: unknown elements and
    wrong types raise)."""
    return FHIRElementFactory.instantiate(resource["resourceType"], resource)


def assert_outcome(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(FHIR_JSON), r.headers
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"] and all(i["severity"] in ("error", "fatal") for i in body["issue"]), body
    parse_strict(body)
    return body


# ---------------------------------------------------------------------------------
# 1. fhirclient: metadata, create, read, search


def test_fhirclient_capability_create_read_search(fhir):
    smart = fhirclient_for(fhir, admin_headers(fhir))
    server: fhir_server.FHIRServer = smart.server

    # The CapabilityStatement, parsed by fhirclient's R4 models.
    cap = server.capabilityStatement
    assert cap.fhirVersion == "4.0.1"
    assert cap.kind == "instance"
    assert "application/fhir+json" in cap.format
    rest = cap.rest[0]
    assert rest.mode == "server"
    resources = {r.type: r for r in rest.resource}
    assert {"Patient", "Observation", "Flag", "Communication", "Consent"} <= set(resources)
    patient_params = {p.name: p.type for p in resources["Patient"].searchParam}
    assert patient_params["identifier"] == "token"
    assert patient_params["birthdate"] == "date"
    assert {i.code for i in resources["Patient"].interaction} == {
        "read", "vread", "history-instance", "search-type", "create", "update", "delete"
    }
    assert {i.code for i in resources["Flag"].interaction} == {"read", "vread", "history-instance", "search-type", "update"}
    assert "Observation:patient" in resources["Observation"].searchInclude
    assert {i.code for i in rest.interaction} == {"transaction", "batch"}

    # Create a Patient with fhirclient's model.
    subject = person()
    p = fhir_patient.Patient(patient_json(subject, family="山田", given="太郎", birth="1955-07-15"))
    created = p.create(server)
    pid = created["id"]
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["source"] == ADMIN_PARTY

    # Read it back.
    back = fhir_patient.Patient.read(pid, server)
    assert back.id == pid
    assert back.name[0].family == "山田" and back.name[0].given == ["太郎"]
    assert back.birthDate.isostring == "1955-07-15"
    assert [(i.system, i.value) for i in back.identifier] == [(SUBJECT_SYSTEM, subject)]
    assert back.meta.versionId == "1"

    # Three observations: two BP panels and a body weight; search by patient and code.
    for sys_, dia, when in [(118, 72, "2026-10-01T07:00:00+09:00"), (121, 74, "2026-10-02T07:00:00+09:00")]:
        o = fhir_observation.Observation(bp_json(f"Patient/{pid}", sys_, dia, when))
        assert o.create(server)["subject"]["reference"] == f"Patient/{pid}"
    weight = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-10-02T07:05:00+09:00",
        "valueQuantity": {"value": 61.5, "unit": "kg", "system": UCUM, "code": "kg"},
    }
    fhir_observation.Observation(weight).create(server)

    found = fhir_observation.Observation.where(
        struct={"patient": pid, "code": "http://loinc.org|85354-9"}
    ).perform_resources(server)
    assert len(found) == 2
    assert all(isinstance(o, fhir_observation.Observation) for o in found)
    assert sorted(o.component[0].valueQuantity.value for o in found) == [118, 121]
    assert {o.subject.reference for o in found} == {f"Patient/{pid}"}

    by_identifier = fhir_patient.Patient.where(
        struct={"identifier": f"{SUBJECT_SYSTEM}|{subject}"}
    ).perform_resources(server)
    assert [x.id for x in by_identifier] == [pid]
    by_birthdate = fhir_patient.Patient.where(
        struct={"identifier": f"{SUBJECT_SYSTEM}|{subject}", "birthdate": "1955-07-15"}
    ).perform_resources(server)
    assert [x.id for x in by_birthdate] == [pid]
    none = fhir_patient.Patient.where(
        struct={"identifier": f"{SUBJECT_SYSTEM}|{subject}", "birthdate": "1955-07-16"}
    ).perform_resources(server)
    assert none == []


# ---------------------------------------------------------------------------------
# 2. Transaction Bundles (atomic, urn:uuid references rewritten)


def transaction_bundle(subject: str, observations: list[dict], patient_full_url: str) -> dict:
    entries = [
        {
            "fullUrl": patient_full_url,
            "resource": patient_json(subject, family="佐藤", given="一郎", birth="1950-01-20"),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for o in observations:
        entries.append({
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": o,
            "request": {"method": "POST", "url": "Observation"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def count_of(server, headers: dict, rtype: str, params: dict) -> int:
    return search(server, headers, rtype, {**params, "_summary": "count"})["total"]


def test_transaction_bundle_with_fhirclient_is_atomic(fhir):
    admin = admin_headers(fhir)
    smart = fhirclient_for(fhir, admin)
    subject = person()
    full_url = f"urn:uuid:{uuid.uuid4()}"
    observations = [
        bp_json(full_url, 112, 70, "2026-11-01T07:00:00+09:00"),
        bp_json(full_url, 114, 71, "2026-11-02T07:00:00+09:00"),
        bp_json(full_url, 116, 72, "2026-11-03T07:00:00+09:00"),
    ]
    # Observations listed BEFORE the Patient they reference: the server orders creates.
    tx = transaction_bundle(subject, observations, full_url)
    tx["entry"] = tx["entry"][1:] + tx["entry"][:1]
    b = fhir_bundle.Bundle(tx)
    assert b.createPath() is None  # fhirclient posts transactions to the base URL
    out = b.create(smart.server)

    resp = fhir_bundle.Bundle(out)  # strict R4 parse of the response
    assert resp.type == "transaction-response"
    assert len(resp.entry) == 4
    assert [e.response.status for e in resp.entry] == ["201 Created"] * 4
    patient_entry = resp.entry[3]
    assert patient_entry.resource.resource_type == "Patient"
    pid = patient_entry.resource.id
    assert patient_entry.response.location == f"Patient/{pid}/_history/1"
    assert patient_entry.fullUrl == f"{base(fhir)}/Patient/{pid}"
    for e in resp.entry[:3]:
        assert e.resource.resource_type == "Observation"
        assert e.resource.subject.reference == f"Patient/{pid}"
        assert e.response.location == f"Observation/{e.resource.id}/_history/1"
    # What is stored says the same.
    stored = search(fhir, admin, "Observation", {"patient": pid, "_sort": "date"})
    assert stored["total"] == 3
    assert [e["resource"]["effectiveDateTime"][:10] for e in stored["entry"]] == [
        "2026-11-01", "2026-11-02", "2026-11-03"
    ]
    assert {e["resource"]["subject"]["reference"] for e in stored["entry"]} == {f"Patient/{pid}"}

    # A second transaction whose entry[2] is invalid (mmHg is not the UCUM code mm[Hg]):
    # 400 naming Bundle.entry[2], and nothing of the bundle is stored.
    patients_before = count_of(fhir, admin, "Patient", {})
    observations_before = count_of(fhir, admin, "Observation", {})
    subject2 = person()
    full_url2 = f"urn:uuid:{uuid.uuid4()}"
    bad = bp_json(full_url2, 130, 80, "2026-11-05T07:00:00+09:00")
    bad["component"][0]["valueQuantity"]["code"] = "mmHg"
    tx2 = transaction_bundle(
        subject2,
        [bp_json(full_url2, 120, 75, "2026-11-04T07:00:00+09:00"), bad,
         bp_json(full_url2, 122, 76, "2026-11-06T07:00:00+09:00")],
        full_url2,
    )
    with pytest.raises(requests.HTTPError) as err:
        fhir_bundle.Bundle(tx2).create(smart.server)
    outcome = assert_outcome(err.value.response, 400)
    expressions = [x for i in outcome["issue"] for x in i.get("expression", [])]
    assert expressions == ["Bundle.entry[2].resource.component[0].valueQuantity.code"], outcome
    assert "mm[Hg]" in json.dumps(outcome, ensure_ascii=False)
    assert count_of(fhir, admin, "Patient", {}) == patients_before
    assert count_of(fhir, admin, "Observation", {}) == observations_before
    assert count_of(fhir, admin, "Patient", {"identifier": f"{SUBJECT_SYSTEM}|{subject2}"}) == 0

    # An entry referencing a Patient that does not exist: 422, nothing stored either.
    tx3 = transaction_bundle(
        person(),
        [bp_json(full_url2, 120, 75, "2026-11-04T07:00:00+09:00"),
         bp_json("Patient/no-such-patient", 120, 75, "2026-11-04T07:00:00+09:00")],
        full_url2,
    )
    r = requests.post(base(fhir), data=json.dumps(tx3), headers={**admin, "Content-Type": FHIR_JSON}, timeout=10)
    outcome = assert_outcome(r, 422)
    assert [x for i in outcome["issue"] for x in i.get("expression", [])] == ["Bundle.entry[2].resource.subject"]
    assert count_of(fhir, admin, "Patient", {}) == patients_before
    assert count_of(fhir, admin, "Observation", {}) == observations_before

    # The alert an Observation raises is part of the same transaction: a failed bundle
    # with a 150/95 reading leaves no Flag (and no threshold state: the same reading
    # sent again afterwards raises exactly one).
    pid2 = create(fhir, admin, patient_json(person()))["id"]
    high = bp_json(f"Patient/{pid2}", 150, 95, "2026-11-07T07:00:00+09:00")
    tx4 = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": high, "request": {"method": "POST", "url": "Observation"}},
        {"resource": bad | {"subject": {"reference": f"Patient/{pid2}"}}, "request": {"method": "POST", "url": "Observation"}},
    ]}
    r = requests.post(base(fhir), data=json.dumps(tx4), headers={**admin, "Content-Type": FHIR_JSON}, timeout=10)
    assert_outcome(r, 400)
    assert count_of(fhir, admin, "Flag", {"patient": pid2}) == 0
    assert count_of(fhir, admin, "Communication", {"patient": pid2}) == 0
    create(fhir, admin, high)
    assert count_of(fhir, admin, "Flag", {"patient": pid2}) == 1
    assert count_of(fhir, admin, "Communication", {"patient": pid2}) == 1

    # A batch: each entry on its own; the bad one fails, the others are stored.
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": bp_json(f"Patient/{pid2}", 112, 70, "2026-11-08T07:00:00+09:00"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": bad | {"subject": {"reference": f"Patient/{pid2}"}}, "request": {"method": "POST", "url": "Observation"}},
        {"resource": bp_json(f"Patient/{pid2}", 113, 70, "2026-11-09T07:00:00+09:00"),
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    out = fhir_bundle.Bundle(batch).create(smart.server)
    parsed = fhir_bundle.Bundle(out)
    assert parsed.type == "batch-response"
    assert [e.response.status for e in parsed.entry] == ["201 Created", "400 Bad Request", "201 Created"]
    assert parsed.entry[1].response.outcome.issue[0].code == "code-invalid"
    assert count_of(fhir, admin, "Observation", {"patient": pid2}) == 3  # 150/95, 112/70, 113/70


# ---------------------------------------------------------------------------------
# 3. fhirpy: date prefixes, _sort, paging, _include


def test_conditional_create_update_and_references_with_fhirpy_and_fhirclient(fhir):
    """A hospital that does not know Kizuna's Patient ids: fhirpy's `get_or_create`
    (search parameters on the POST URL) finds the existing Patient instead of making a
    second one; a fhirclient transaction with `ifNoneExist` and a conditional reference
    (`Patient?identifier=...`) files readings under that Patient; fhirpy's conditional
    `update` upserts."""
    admin = admin_headers(fhir)
    hospital = bearer(fhir, "--role", "data-holder", "--party", HOSPITAL)
    subject = person()
    identifier = f"{SUBJECT_SYSTEM}|{subject}"
    pid = create(fhir, admin, patient_json(subject, family="高橋", given="四郎"))["id"]

    client = SyncFHIRClient(base(fhir), authorization=hospital["Authorization"])
    patient, created = client.resources("Patient").search(identifier=identifier).get_or_create(
        client.resource("Patient", **patient_json(subject, family="高橋", given="四郎"))
    )
    assert created is False
    # The content is the city's, not released to the hospital: it learns the match only.
    assert patient.resource_type == "OperationOutcome", patient
    assert count_of(fhir, admin, "Patient", {"identifier": identifier}) == 1
    other = person()
    made, created = client.resources("Patient").search(identifier=f"{SUBJECT_SYSTEM}|{other}").get_or_create(
        client.resource("Patient", **patient_json(other, family="伊藤", given="五月"))
    )
    assert created is True and made.id
    again, created = client.resources("Patient").search(identifier=f"{SUBJECT_SYSTEM}|{other}").get_or_create(
        client.resource("Patient", **patient_json(other, family="伊藤", given="五月"))
    )
    assert created is False and again.id == made.id  # the hospital supplied it: released

    # The If-None-Exist header of R4, with requests: 200 and Location at the match.
    r = requests.post(
        f"{base(fhir)}/Patient",
        data=json.dumps(patient_json(subject, family="高橋", given="四郎")),
        headers={**hospital, "Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={identifier}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert f"/Patient/{pid}/_history/1" in r.headers["Location"]
    assert r.json()["resourceType"] == "OperationOutcome"

    # fhirclient: a checkup Bundle with a conditional Patient and a conditional reference.
    smart = fhirclient_for(fhir, hospital)
    full_url = f"urn:uuid:{uuid.uuid4()}"
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": full_url,
                "resource": patient_json(subject, family="高橋", given="四郎"),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={identifier}"},
            },
            {
                "resource": bp_json(full_url, 128, 82, "2026-11-10T07:00:00+09:00"),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": bp_json(f"Patient?identifier={identifier}", 126, 80, "2026-11-11T07:00:00+09:00"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    b = fhir_bundle.Bundle(tx)
    assert b.entry[0].request.ifNoneExist == f"identifier={identifier}"
    resp = fhir_bundle.Bundle(b.create(smart.server))
    assert [e.response.status for e in resp.entry] == ["200 OK", "201 Created", "201 Created"]
    assert resp.entry[0].response.location == f"Patient/{pid}/_history/1"
    assert resp.entry[0].resource is None
    assert {e.resource.subject.reference for e in resp.entry[1:]} == {f"Patient/{pid}"}
    assert count_of(fhir, admin, "Patient", {"identifier": identifier}) == 1
    assert count_of(fhir, admin, "Observation", {"patient": pid}) == 2

    # fhirpy's conditional update (PUT Patient?identifier=...): the hospital's own Patient
    # is updated in place, and one for a new person is created.
    moved = patient_json(other, family="伊藤", given="五月")
    moved["address"] = [{"city": "前橋市"}]
    updated, created = client.resources("Patient").search(identifier=f"{SUBJECT_SYSTEM}|{other}").update(
        client.resource("Patient", **moved)
    )
    assert created is False and updated.id == made.id and updated["meta"]["versionId"] == "2"
    newcomer = person()
    fresh, created = client.resources("Patient").search(identifier=f"{SUBJECT_SYSTEM}|{newcomer}").update(
        client.resource("Patient", **patient_json(newcomer, family="渡辺", given="六郎"))
    )
    assert created is True and fresh.id
    assert count_of(fhir, admin, "Patient", {"identifier": f"{SUBJECT_SYSTEM}|{newcomer}"}) == 1


def test_fhirpy_dates_sort_paging_include(fhir):
    admin = admin_headers(fhir)
    subject = person()
    pid = create(fhir, admin, patient_json(subject, family="鈴木", given="次郎"))["id"]
    other = create(fhir, admin, patient_json(person(), family="田中", given="三郎"))["id"]
    # Twelve days of readings (1..12 November), plus one for another patient. Noon JST
    # (03:00 UTC) keeps each reading on the same calendar day whichever zone the server
    # takes a search date without offset in (R4 leaves that to the server).
    for day in range(1, 13):
        create(fhir, admin, bp_json(f"Patient/{pid}", 110 + day % 3, 70, f"2026-11-{day:02d}T12:00:00+09:00"))
    create(fhir, admin, bp_json(f"Patient/{other}", 110, 70, "2026-11-05T12:00:00+09:00"))

    client = SyncFHIRClient(base(fhir), authorization=admin["Authorization"])
    obs = client.resources("Observation").search(patient=pid)
    assert obs.count() == 12

    window = obs.search(date__ge="2026-11-03", date__lt="2026-11-10")
    assert window.count() == 7  # 3..9 November

    # _count=3 with -date: pages of 3, 3, 1 through the next links.
    paged = window.sort("-date").limit(3)
    first = paged.fetch_raw()
    assert first["total"] == 7
    assert len(first["entry"]) == 3
    assert [link["relation"] for link in first["link"]] == ["self", "next"]
    everything = paged.fetch_all()
    days = [o["effectiveDateTime"][:10] for o in everything]
    assert days == [f"2026-11-{d:02d}" for d in range(9, 2, -1)]
    assert len({o["id"] for o in everything}) == 7

    # _count=0 is _summary=count (FHIR R4 search 3.1.1.5.4): the total, no entries and no
    # next link (a next link back to the same page would send fetch_all round forever).
    zero = obs.limit(0).fetch_raw()
    assert zero["total"] == 12
    assert "entry" not in zero
    assert [link["relation"] for link in zero["link"]] == ["self"], zero["link"]

    # gt/le at day precision: gt2026-11-10 is 11 and 12; le2026-11-02 is 1 and 2.
    assert obs.search(date__gt="2026-11-10").count() == 2
    assert obs.search(date__le="2026-11-02").count() == 2
    # Ascending by date, an exact day.
    asc = obs.sort("date").limit(50).fetch_all()
    assert [o["effectiveDateTime"][:10] for o in asc] == [f"2026-11-{d:02d}" for d in range(1, 13)]
    assert [o["effectiveDateTime"][:10] for o in obs.search(date="2026-11-07").fetch_all()] == ["2026-11-07"]

    # _include=Observation:patient: the Patient once, in mode include.
    raw = obs.search(date__ge="2026-11-10").include("Observation", "patient").fetch_raw()
    modes = Counter((e["resource"]["resourceType"], e["search"]["mode"]) for e in raw["entry"])
    assert modes == Counter({("Observation", "match"): 3, ("Patient", "include"): 1})
    assert raw["total"] == 3
    included = [e for e in raw["entry"] if e["search"]["mode"] == "include"][0]
    assert included["resource"]["id"] == pid
    assert included["fullUrl"] == f"{base(fhir)}/Patient/{pid}"


# ---------------------------------------------------------------------------------
# 4. vread, history, update with If-Match, delete


def test_versions_if_match_delete_history(fhir):
    admin = admin_headers(fhir)
    h = {**admin, "Content-Type": FHIR_JSON}
    pid = create(fhir, admin, patient_json(person()))["id"]
    obs = bp_json(f"Patient/{pid}", 119, 73, "2026-11-10T07:00:00+09:00")
    r = requests.post(f"{base(fhir)}/Observation", data=json.dumps(obs), headers=h, timeout=10)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == f"{base(fhir)}/Observation/{oid}/_history/1"
    url = f"{base(fhir)}/Observation/{oid}"

    v2 = {**r.json(), "status": "amended"}
    r = requests.put(url, data=json.dumps(v2), headers={**h, "If-Match": 'W/"1"'}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == 'W/"2"'
    assert r.json()["meta"]["versionId"] == "2" and r.json()["status"] == "amended"

    # A stale If-Match: 412, and nothing changes.
    stale = {**v2, "status": "corrected"}
    r = requests.put(url, data=json.dumps(stale), headers={**h, "If-Match": 'W/"1"'}, timeout=10)
    assert_outcome(r, 412)
    r = requests.get(url, headers=admin, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "amended" and r.headers["ETag"] == 'W/"2"'

    # vread of both versions.
    r1 = requests.get(f"{url}/_history/1", headers=admin, timeout=10)
    assert r1.status_code == 200 and r1.json()["status"] == "final" and r1.json()["meta"]["versionId"] == "1"
    r2 = requests.get(f"{url}/_history/2", headers=admin, timeout=10)
    assert r2.status_code == 200 and r2.json()["status"] == "amended"
    assert_outcome(requests.get(f"{url}/_history/9", headers=admin, timeout=10), 404)

    # Delete with a stale If-Match fails, with the right one succeeds; then read → 410.
    assert_outcome(requests.delete(url, headers={**admin, "If-Match": 'W/"1"'}, timeout=10), 412)
    r = requests.delete(url, headers={**admin, "If-Match": 'W/"2"'}, timeout=10)
    assert r.status_code == 200, r.text
    assert_outcome(requests.get(url, headers=admin, timeout=10), 410)
    assert_outcome(requests.get(f"{url}/_history/3", headers=admin, timeout=10), 410)
    # A deleted resource is no longer found by search.
    assert count_of(fhir, admin, "Observation", {"_id": oid}) == 0

    # History: three versions, newest first (FHIR R4 3.1.0.11: "oldest versions last").
    r = requests.get(f"{url}/_history", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    hist = r.json()
    parse_strict(hist)
    assert hist["type"] == "history" and hist["total"] == 3
    assert [e["response"]["etag"] for e in hist["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "PUT", "POST"]
    assert "resource" not in hist["entry"][0]
    assert [e["resource"]["status"] for e in hist["entry"][1:]] == ["amended", "final"]


# ---------------------------------------------------------------------------------
# 5. Consent decides what the insurer sees; the person's access log shows it


def test_insurer_worklist_follows_consent_and_is_logged(fhir):
    admin = admin_headers(fhir)
    subject = person()
    pid = create(fhir, admin, patient_json(subject, family="高橋", given="和子"))["id"]
    # Home BP 150/95: II度高血圧 (JSH2019) → recommend-visit.
    oid = create(fhir, admin, bp_json(f"Patient/{pid}", 150, 95, "2026-11-12T07:00:00+09:00"))["id"]
    flags = search(fhir, admin, "Flag", {"patient": pid})
    assert flags["total"] == 1, flags
    flag = flags["entry"][0]["resource"]
    fid = flag["id"]
    assert flag["status"] == "active"
    assert [(c["system"], c["code"]) for c in flag["code"]["coding"]] == [(RECOMMENDATION, "recommend-visit")]
    assert flag["subject"] == {"reference": f"Patient/{pid}"}
    parse_strict(flag)

    insurer = insurer_headers(fhir)
    citizen = citizen_headers(fhir, subject)

    def worklist() -> list[str]:
        return ids_of(search(fhir, insurer, "Flag", WORKLIST))

    def read_flag() -> int:
        return requests.get(f"{base(fhir)}/Flag/{fid}", headers=insurer, timeout=10).status_code

    assert worklist() == []
    assert read_flag() == 404
    assert requests.get(f"{base(fhir)}/Observation/{oid}", headers=insurer, timeout=10).status_code == 404

    r = requests.post(
        f"{fhir.base_url}/me/consents",
        json={"recipient": INSURER, "purposes": ["disease-management"], "categories": ["health"], "noticeVersion": "2026-11"},
        headers=citizen,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    consent_id = r.json()["id"]

    assert worklist() == [fid]
    assert read_flag() == 200
    # The same with the purpose in the Kizuna-Purpose header instead of the token.
    no_purpose = bearer(fhir, "--role", "service-provider", "--party", INSURER)
    r = requests.get(f"{base(fhir)}/Flag", params=WORKLIST, headers={**no_purpose, "Kizuna-Purpose": "disease-management"}, timeout=10)
    assert r.status_code == 200 and ids_of(r.json()) == [fid], r.text
    # Without any purpose: nothing.
    r = requests.get(f"{base(fhir)}/Flag", params=WORKLIST, headers=no_purpose, timeout=10)
    assert r.status_code == 200 and ids_of(r.json()) == [], r.text
    # The consent is for disease-management; a research purpose sees nothing.
    r = requests.get(f"{base(fhir)}/Flag", params=WORKLIST, headers={**no_purpose, "Kizuna-Purpose": "research"}, timeout=10)
    assert r.status_code == 200 and ids_of(r.json()) == [], r.text

    r = requests.post(f"{fhir.base_url}/me/consents/{consent_id}/withdraw", headers=citizen, timeout=10)
    assert r.status_code == 200, r.text
    assert worklist() == []
    assert read_flag() == 404

    # The person's access log: every decision about the Flag for the insurer, in order.
    r = requests.get(f"{fhir.base_url}/me/access-log", params={"limit": 1000}, headers=citizen, timeout=10)
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    on_flag = [rec for rec in records if rec["resource"] == f"Flag/{fid}" and rec["actor"] == INSURER]
    assert [(rec["allowed"], rec["purpose"]) for rec in on_flag] == [
        (False, "disease-management"),  # worklist before consent
        (False, "disease-management"),  # read before consent
        (True, "disease-management"),  # worklist under consent
        (True, "disease-management"),  # read under consent
        (True, "disease-management"),  # worklist, purpose in the header
        (False, None),  # no purpose
        (False, "research"),  # wrong purpose
        (False, "disease-management"),  # worklist after withdrawal
        (False, "disease-management"),  # read after withdrawal
    ], on_flag
    assert all(rec["action"] == "read" for rec in on_flag), on_flag
    assert all(consent_id in json.dumps(rec["basis"]) for rec in on_flag if rec["allowed"]), on_flag
    assert [rec["actor_name"] for rec in on_flag][:1] == ["絆健保 (test)"]
    # The insurer's failed read of the Observation is there too.
    assert any(rec["resource"] == f"Observation/{oid}" and rec["actor"] == INSURER and not rec["allowed"] for rec in records)


# ---------------------------------------------------------------------------------
# 6. Patient/$everything


def test_everything_for_the_person_themself(fhir):
    admin = admin_headers(fhir)
    subject = person()
    pid = create(fhir, admin, patient_json(subject, family="伊藤", given="美咲"))["id"]
    citizen = citizen_headers(fhir, subject)
    # The person records a home reading themself: 162/102 is III度高血圧 → urgent-visit.
    oid = create(fhir, citizen, bp_json(f"Patient/{pid}", 162, 102, "2026-11-13T21:00:00+09:00"))["id"]
    # Someone else's data is not part of it.
    other_pid = create(fhir, admin, patient_json(person()))["id"]
    create(fhir, admin, bp_json(f"Patient/{other_pid}", 165, 105, "2026-11-13T21:00:00+09:00"))

    r = requests.get(f"{base(fhir)}/Patient/{pid}/$everything", headers=citizen, timeout=10)
    assert r.status_code == 200, r.text
    b = r.json()
    parsed = fhir_bundle.Bundle(b)  # strict R4 parse, including the generated Flag and Communication
    assert parsed.type == "searchset"
    kinds = Counter(e["resource"]["resourceType"] for e in b["entry"])
    assert kinds == Counter({"Patient": 1, "Observation": 1, "Flag": 1, "Communication": 1}), kinds
    assert b["total"] == 4
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in b["entry"]}
    assert by_type["Patient"]["id"] == pid
    assert by_type["Observation"]["id"] == oid
    assert by_type["Observation"]["meta"]["source"] == subject  # the person supplied it
    flag = by_type["Flag"]
    assert [c["code"] for c in flag["code"]["coding"]] == ["urgent-visit"]
    assert flag["subject"] == {"reference": f"Patient/{pid}"}
    comm = by_type["Communication"]
    assert comm["recipient"] == [{"reference": f"Patient/{pid}"}]
    assert {a["reference"] for a in comm["about"]} == {f"Observation/{oid}", f"Flag/{flag['id']}"}

    # Another citizen: 404 (not 403), exactly like a missing Patient.
    stranger = citizen_headers(fhir, person())
    assert_outcome(requests.get(f"{base(fhir)}/Patient/{pid}/$everything", headers=stranger, timeout=10), 404)
    assert_outcome(requests.get(f"{base(fhir)}/Patient/{pid}", headers=stranger, timeout=10), 404)
    assert_outcome(requests.get(f"{base(fhir)}/Patient/no-such-id/$everything", headers=citizen, timeout=10), 404)
    # The stranger's searches do not find it either.
    assert search(fhir, stranger, "Flag", {"patient": pid})["total"] == 0
    # And a citizen cannot record data about someone else.
    r = requests.post(
        f"{base(fhir)}/Observation",
        data=json.dumps(bp_json(f"Patient/{pid}", 120, 70, "2026-11-14T07:00:00+09:00")),
        headers={**stranger, "Content-Type": FHIR_JSON},
        timeout=10,
    )
    assert_outcome(r, 403)


# ---------------------------------------------------------------------------------
# 7. Error shapes


def test_error_shapes(fhir):
    admin = admin_headers(fhir)
    pid = create(fhir, admin, patient_json(person()))["id"]
    body = json.dumps(patient_json(person()))

    # Bad JSON → 400 OperationOutcome.
    r = requests.post(f"{base(fhir)}/Patient", data="{not json", headers={**admin, "Content-Type": FHIR_JSON}, timeout=10)
    o = assert_outcome(r, 400)
    assert o["issue"][0]["code"] == "structure"

    # Wrong Content-Type → 415.
    r = requests.post(f"{base(fhir)}/Patient", data=body, headers={**admin, "Content-Type": "text/plain"}, timeout=10)
    assert_outcome(r, 415)
    r = requests.post(f"{base(fhir)}/Patient", data=body, headers={**admin, "Content-Type": "application/fhir+xml"}, timeout=10)
    assert_outcome(r, 415)

    # Accept XML only → 406; _format=xml → 406.
    r = requests.get(f"{base(fhir)}/Patient/{pid}", headers={**admin, "Accept": "application/fhir+xml"}, timeout=10)
    assert_outcome(r, 406)
    r = requests.get(f"{base(fhir)}/Patient", params={"_format": "xml"}, headers=admin, timeout=10)
    assert_outcome(r, 406)

    # An unknown search parameter: ignored and reported by default, 400 when strict.
    r = requests.get(f"{base(fhir)}/Patient", params={"_id": pid, "shoe-size": "27"}, headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    lenient = r.json()
    assert ids_of(lenient, "Patient") == [pid]
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1 and "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    assert "shoe-size" not in lenient["link"][0]["url"]  # the self link lists what was used
    r = requests.get(
        f"{base(fhir)}/Patient",
        params={"_id": pid, "shoe-size": "27"},
        headers={**admin, "Prefer": "handling=strict"},
        timeout=10,
    )
    o = assert_outcome(r, 400)
    assert "shoe-size" in o["issue"][0]["diagnostics"]

    # Missing credentials on create → 401 with a Bearer challenge.
    r = requests.post(f"{base(fhir)}/Patient", data=body, headers={"Content-Type": FHIR_JSON}, timeout=10)
    o = assert_outcome(r, 401)
    assert o["issue"][0]["code"] == "login"
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    # A bad token → 401 too.
    r = requests.post(
        f"{base(fhir)}/Patient", data=body, headers={"Content-Type": FHIR_JSON, "Authorization": "Bearer nope"}, timeout=10
    )
    assert_outcome(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    # Anonymous reads of personal data: 404 like a missing resource.
    assert_outcome(requests.get(f"{base(fhir)}/Patient/{pid}", timeout=10), 404)

    # A Patient without the data-subject identifier → 422 naming Patient.identifier.
    nosubj = {"resourceType": "Patient", "name": [{"family": "名無"}]}
    r = requests.post(f"{base(fhir)}/Patient", data=json.dumps(nosubj), headers={**admin, "Content-Type": FHIR_JSON}, timeout=10)
    o = assert_outcome(r, 422)
    assert o["issue"][0]["expression"] == ["Patient.identifier"]
    # An Observation of a Patient that does not exist → 422 naming Observation.subject.
    r = requests.post(
        f"{base(fhir)}/Observation",
        data=json.dumps(bp_json("Patient/nobody", 120, 70, "2026-11-14T07:00:00+09:00")),
        headers={**admin, "Content-Type": FHIR_JSON},
        timeout=10,
    )
    o = assert_outcome(r, 422)
    assert o["issue"][0]["expression"] == ["Observation.subject"]
    # An unknown resource type → 404; POST on an instance → 405.
    assert_outcome(requests.get(f"{base(fhir)}/Spaceship", headers=admin, timeout=10), 404)
    r = requests.post(f"{base(fhir)}/Patient/{pid}", data=body, headers={**admin, "Content-Type": FHIR_JSON}, timeout=10)
    assert_outcome(r, 405)
    # A service provider cannot write: 403.
    r = requests.post(
        f"{base(fhir)}/Patient", data=body, headers={**insurer_headers(fhir), "Content-Type": FHIR_JSON}, timeout=10
    )
    assert_outcome(r, 403)


# ---------------------------------------------------------------------------------
# Changing the person a Patient record belongs to


def test_changing_a_patients_data_subject_moves_or_is_refused(fhir):
    """A hospital linked a Patient to the wrong person and corrects its data-subject
    identifier. Afterwards the wrong person must no longer read the record's
    Observations (they are not theirs) and the right person must: either the server
    refuses to re-link a Patient that already has data (4xx OperationOutcome, nothing
    changes), or everything that references the Patient follows it."""
    admin = admin_headers(fhir)
    wrong, right = person(), person()
    p = create(fhir, admin, patient_json(wrong))
    oid = create(fhir, admin, bp_json(f"Patient/{p['id']}", 118, 72, "2026-11-15T07:00:00+09:00"))["id"]
    as_wrong = citizen_headers(fhir, wrong)
    as_right = citizen_headers(fhir, right)
    assert requests.get(f"{base(fhir)}/Observation/{oid}", headers=as_wrong, timeout=10).status_code == 200

    corrected = {**p, "identifier": [{"system": SUBJECT_SYSTEM, "value": right}]}
    r = requests.put(
        f"{base(fhir)}/Patient/{p['id']}",
        data=json.dumps(corrected),
        headers={**admin, "Content-Type": FHIR_JSON},
        timeout=10,
    )
    if r.status_code >= 400:
        assert r.status_code in (409, 422), r.text
        assert_outcome(r, r.status_code)
        assert requests.get(f"{base(fhir)}/Observation/{oid}", headers=as_wrong, timeout=10).status_code == 200
        return
    assert r.status_code == 200, r.text
    statuses = {
        "wrong person reads the Patient": requests.get(f"{base(fhir)}/Patient/{p['id']}", headers=as_wrong, timeout=10).status_code,
        "right person reads the Patient": requests.get(f"{base(fhir)}/Patient/{p['id']}", headers=as_right, timeout=10).status_code,
        "wrong person reads the Observation": requests.get(f"{base(fhir)}/Observation/{oid}", headers=as_wrong, timeout=10).status_code,
        "right person reads the Observation": requests.get(f"{base(fhir)}/Observation/{oid}", headers=as_right, timeout=10).status_code,
        "wrong person finds Observations": search(fhir, as_wrong, "Observation", {"patient": p["id"]})["total"],
    }
    assert statuses == {
        "wrong person reads the Patient": 404,
        "right person reads the Patient": 200,
        "wrong person reads the Observation": 404,
        "right person reads the Observation": 200,
        "wrong person finds Observations": 0,
    }


WORKLIST = {
    "code": "urn:kizuna:fhir:recommendation|recommend-visit,urn:kizuna:fhir:recommendation|urgent-visit",
    "status": "active",
}


def test_demo_worklist_follows_hanakos_consent(tmp_path_factory):
    """The README's FHIR tour, checked for content: on the demo, the insurer's worklist
    holds Taro (information-bank delegation) only; Hanako's new high reading joins it
    only once she consents, and leaves it when she stops the insurer's use."""
    server = start_server(tmp_path_factory, "kizuna-fhir-demo", ["--demo"])
    try:
        insurer = bearer(
            server,
            "--role", "service-provider", "--party", "urn:kizuna:party:kizuna-kenpo", "--purpose", "disease-management",
        )
        hanako = citizen_headers(server, "urn:ngsi-ld:Person:kizunagawa:hanako")

        def worklist_patients() -> list[str]:
            b = search(server, insurer, "Flag", WORKLIST)
            return sorted({e["resource"]["subject"]["reference"] for e in b.get("entry", [])})

        assert worklist_patients() == ["Patient/taro"]
        created = create(server, hanako, bp_json("Patient/hanako", 152, 96, "2026-11-23T07:00:00+09:00"))
        assert created["subject"]["reference"] == "Patient/hanako"
        mine = search(server, hanako, "Flag", {"patient": "hanako", **WORKLIST})
        assert [e["resource"]["code"]["coding"][0]["code"] for e in mine["entry"]] == ["recommend-visit"]
        assert worklist_patients() == ["Patient/taro"]
        r = requests.post(
            f"{server.base_url}/me/consents",
            headers={**hanako, "Content-Type": "application/json"},
            json={"recipient": "urn:kizuna:party:kizuna-kenpo", "purposes": ["disease-management"],
                  "categories": ["health"], "noticeVersion": "kenpo-2026"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        assert worklist_patients() == ["Patient/hanako", "Patient/taro"]
        log = requests.get(f"{server.base_url}/me/access-log", params={"limit": 1000}, headers=hanako, timeout=10).json()
        assert any(
            e["actor"] == "urn:kizuna:party:kizuna-kenpo" and e["resource"].startswith("Flag/") and e["allowed"]
            for e in log["records"]
        ), log
        r = requests.post(f"{server.base_url}/me/consents/{r.json()['id']}/withdraw", headers=hanako, timeout=10)
        assert r.status_code == 200, r.text
        assert worklist_patients() == ["Patient/taro"]
        # Yui's schedule, read by her mother as guardian.
        r = requests.get(f"{server.base_url}/fhir/Patient/yui/$immunization-schedule", headers=hanako, timeout=10)
        assert r.status_code == 200, r.text
        statuses = {x["extension"][0]["valueCode"] for x in r.json()["recommendation"]}
        assert "done" in statuses and statuses <= {"done", "upcoming", "due", "overdue", "expired"}
        assert requests.get(
            f"{server.base_url}/fhir/Patient/yui/$immunization-schedule",
            headers=citizen_headers(server, "urn:ngsi-ld:Person:kizunagawa:taro"),
            timeout=10,
        ).status_code == 404
    finally:
        stop_server(server)
