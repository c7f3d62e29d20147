"""Wire details of Kizuna's NGSI-LD API checked with raw HTTP (ETSI GS CIM 009 v1.8).

Clause numbers refer to the spec; "TP ..." to ETSI's NGSI-LD conformance test suite.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests

from conftest import CORE_CONTEXT

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
JSON = {"Content-Type": "application/json"}
LD_JSON = {"Content-Type": "application/ld+json"}
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TIMEOUT = 10


def entity(uid: str, etype: str = "KizunaHttpTest", **attrs) -> dict:
    body = {"id": f"urn:ngsi-ld:{etype}:{uid}", "type": etype,
            "capacity": {"type": "Property", "value": 120, "unitCode": "IE"}}
    body.update(attrs)
    return body


def create(server, body: dict) -> requests.Response:
    r = requests.post(f"{server.ngsi}/entities", json=body, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return r


def assert_problem(r: requests.Response, status: int, error: str) -> dict:
    """A ProblemDetails (RFC 7807) body with an NGSI-LD error type (clause 6.3.2)."""
    assert r.status_code == status, r.text
    assert "json" in r.headers.get("Content-Type", ""), r.headers
    body = r.json()
    assert body["type"] == ERRORS + error, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


def test_create_answers_201_with_location(kizuna, uid):
    body = entity(uid)
    r = create(kizuna, body)
    assert unquote(r.headers["Location"]) == f"/ngsi-ld/v1/entities/{body['id']}"
    assert r.content == b""


def test_malformed_json_is_invalid_request(kizuna):
    # Clause 5.6.1.4 / TP/NGSI-LD/CI/Prov/E/001_02_01: a body that is not JSON at all
    # is an InvalidRequest (BadRequestData is for well-formed JSON that is not valid data).
    r = requests.post(f"{kizuna.ngsi}/entities", data=b'{"id": "urn:ngsi-ld:X:1", "type": ',
                      headers=JSON, timeout=TIMEOUT)
    assert_problem(r, 400, "InvalidRequest")


@pytest.mark.parametrize("broken", [
    {"id": "urn:ngsi-ld:KizunaHttpTest:no-type"},                     # no type
    {"id": "not a uri", "type": "KizunaHttpTest"},                    # id is not a URI
    {"id": "urn:ngsi-ld:KizunaHttpTest:bad-attr", "type": "KizunaHttpTest",
     "capacity": {"type": "Property"}},                               # Property without value
], ids=["no-type", "id-not-uri", "property-without-value"])
def test_invalid_entity_is_bad_request_data(kizuna, broken):
    r = requests.post(f"{kizuna.ngsi}/entities", json=broken, headers=JSON, timeout=TIMEOUT)
    assert_problem(r, 400, "BadRequestData")


def test_ld_json_needs_context_in_body(kizuna, uid):
    # Clause 6.3.5 / TP 001_08 and 001_09: application/ld+json bodies carry their own
    # @context, and must not come with a JSON-LD Link header as well.
    r = requests.post(f"{kizuna.ngsi}/entities", json=entity(uid), headers=LD_JSON, timeout=TIMEOUT)
    assert_problem(r, 400, "BadRequestData")

    with_ctx = dict(entity(uid), **{"@context": CORE_CONTEXT})
    link = f'<{CORE_CONTEXT}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
    r = requests.post(f"{kizuna.ngsi}/entities", json=with_ctx, headers={**LD_JSON, "Link": link}, timeout=TIMEOUT)
    assert_problem(r, 400, "BadRequestData")

    r = requests.post(f"{kizuna.ngsi}/entities", json=with_ctx, headers=LD_JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text


def test_duplicate_create_is_409_already_exists(kizuna, uid):
    body = entity(uid)
    create(kizuna, body)
    r = requests.post(f"{kizuna.ngsi}/entities", json=body, headers=JSON, timeout=TIMEOUT)
    assert_problem(r, 409, "AlreadyExists")


def test_unknown_entity_is_404_resource_not_found(kizuna, uid):
    url = f"{kizuna.ngsi}/entities/urn:ngsi-ld:KizunaHttpTest:missing-{uid}"
    assert_problem(requests.get(url, timeout=TIMEOUT), 404, "ResourceNotFound")
    assert_problem(requests.delete(url, timeout=TIMEOUT), 404, "ResourceNotFound")


def test_query_needs_a_selector(kizuna):
    # Clause 5.7.2.4: no type, id, attrs, q or geoQ -> BadRequestData.
    r = requests.get(f"{kizuna.ngsi}/entities", timeout=TIMEOUT)
    assert_problem(r, 400, "BadRequestData")


def test_results_count_header(kizuna, uid):
    etype = f"KizunaCountTest{uid}"
    for i in range(3):
        create(kizuna, entity(f"{uid}-{i}", etype))

    r = requests.get(f"{kizuna.ngsi}/entities", params={"type": etype, "count": "true"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["NGSILD-Results-Count"] == "3"
    assert len(r.json()) == 3

    r = requests.get(f"{kizuna.ngsi}/entities", params={"type": etype, "count": "true", "limit": 0}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["NGSILD-Results-Count"] == "3"
    assert r.json() == []

    r = requests.get(f"{kizuna.ngsi}/entities", params={"type": etype}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert "NGSILD-Results-Count" not in r.headers


def test_ngsildclient_connection_probe(kizuna):
    # The exact request ngsildclient's Client() sends before anything else.
    r = requests.get(f"{kizuna.ngsi}/entities", params={"type": "None", "limit": 0, "count": "true"},
                     headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == []
    assert r.headers["NGSILD-Results-Count"] == "0"


def test_trailing_slash_and_bodiless_content_type(kizuna, uid):
    # ngsildclient POSTs to ".../entities/" and ".../entityOperations/create/", and sends
    # Content-Type: application/ld+json on GET and DELETE requests without a body.
    body = dict(entity(uid), **{"@context": [CORE_CONTEXT]})
    r = requests.post(f"{kizuna.ngsi}/entities/", json=body, headers=LD_JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text

    batch = [dict(entity(f"{uid}-b{i}"), **{"@context": [CORE_CONTEXT]}) for i in range(2)]
    r = requests.post(f"{kizuna.ngsi}/entityOperations/create/", json=batch, headers=LD_JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert sorted(r.json()) == sorted(e["id"] for e in batch)

    url = f"{kizuna.ngsi}/entities/{body['id']}"
    headers = {**LD_JSON, "Accept": "application/ld+json"}
    r = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert "@context" in r.json()  # ngsildclient's exists() looks for it
    r = requests.delete(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 204, r.text

    # Batch delete: a JSON array of ids, sent as application/ld+json without @context.
    r = requests.post(f"{kizuna.ngsi}/entityOperations/delete/", json=[e["id"] for e in batch],
                      headers=LD_JSON, timeout=TIMEOUT)
    assert r.status_code == 204, r.text


def test_context_in_body_or_link_header(kizuna, uid):
    # Clause 6.3.5: application/ld+json answers carry @context in the body;
    # application/json answers carry it in a Link header instead.
    body = entity(uid)
    create(kizuna, body)
    url = f"{kizuna.ngsi}/entities/{body['id']}"

    r = requests.get(url, headers={"Accept": "application/ld+json"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/ld+json")
    assert "@context" in r.json()

    r = requests.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    got = r.json()
    assert "@context" not in got
    assert JSONLD_CONTEXT_REL in r.headers.get("Link", "")
    assert got == body


def test_unsupported_content_type_is_415(kizuna, uid):
    # Clause 6.3.4: POST/PATCH bodies must be application/json or application/ld+json.
    r = requests.post(f"{kizuna.ngsi}/entities", data=b'{"id": "urn:ngsi-ld:KizunaHttpTest:t", "type": "T"}',
                      headers={"Content-Type": "text/plain"}, timeout=TIMEOUT)
    assert r.status_code == 415, r.text


def test_unacceptable_accept_is_406(kizuna, uid):
    # Clause 6.3.4: only application/json, application/ld+json (or */*) can be served.
    body = entity(uid)
    create(kizuna, body)
    r = requests.get(f"{kizuna.ngsi}/entities/{body['id']}", headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert r.status_code == 406, r.text
    r = requests.get(f"{kizuna.ngsi}/entities", params={"type": "KizunaHttpTest"},
                     headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert r.status_code == 406, r.text
