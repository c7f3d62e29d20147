"""Kizuna driven by a real third-party NGSI-LD client: Orange's `ngsildclient` (PyPI).

Everything here goes through ngsildclient's own `Client` and `Entity` builder, never raw
HTTP, so these tests break if Kizuna answers in a way an existing client cannot use
(pillar 1: "existing clients of those standards must work unchanged").

What ngsildclient 0.5.2 sends (read from its source), i.e. what Kizuna must accept:
- `Client()` probes `GET /ngsi-ld/v1/entities?type=None&limit=0&count=true` with
  `Accept: application/json` and needs a 2xx, else it raises NgsiNotConnectedError.
  It then guesses the vendor with `GET /version` (Orion-LD: JSON key "orionld version")
  and `GET /actuator/health` + `/actuator/info` (Java brokers); any error there just
  means vendor "unknown", which is fine.
- Every request carries `Content-Type: application/ld+json` (even GET and DELETE without
  a body) and `Accept: application/ld+json`; bodies carry `@context`.
- Create is `POST /ngsi-ld/v1/entities/` and batch ops `POST .../entityOperations/
  {create,upsert,update,delete}/`, both WITH a trailing slash.
- `exists()` is true only if the retrieved body has an `@context` member.
- `count()` reads the `NGSILD-Results-Count` header of `?limit=0&count=true`.
- Errors are mapped from the ProblemDetails `type` (e.g. .../errors/AlreadyExists).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ngsildclient import Client, Entity, MultAttrValue
from ngsildclient.api.exceptions import NgsiAlreadyExistsError, NgsiResourceNotFoundError

from conftest import CORE_CONTEXT, DEMO_CONTEXT, REPO_ROOT

OBSERVED = "2026-11-23T06:00:00Z"
DEMO_FILE = REPO_ROOT / "crates" / "server" / "demo" / "demo-city.json"
SDM_POI = "https://smartdatamodels.org/dataModel.PointOfInterest/PointOfInterest"


def make_client(server) -> Client:
    # The constructor itself probes the broker and raises if the probe fails.
    return Client(hostname=server.host, port=server.port, verbose=False)


@pytest.fixture
def client(kizuna):
    c = make_client(kizuna)
    yield c
    c.close()


@pytest.fixture
def demo_client(kizuna_demo):
    c = make_client(kizuna_demo)
    yield c
    c.close()


def wire(entity: Entity | dict) -> dict:
    """The entity as plain JSON, as it travels on the wire."""
    if isinstance(entity, Entity):
        return json.loads(entity.to_json())
    return json.loads(json.dumps(entity))


def canonical(entity: Entity | dict) -> dict:
    """Wire form without `@context`, multi-attribute instances ordered by datasetId
    (NGSI-LD does not define their order)."""
    d = wire(entity)
    d.pop("@context", None)
    for name, attr in d.items():
        if isinstance(attr, list):
            d[name] = sorted(attr, key=lambda a: a.get("datasetId", ""))
    return d


def shelter(etype: str, key: str, capacity: int, *, is_open: bool = True, shelter_type: str = "designatedShelter",
            ctx: list[str] | None = None) -> Entity:
    """A shelter built with ngsildclient's builder: properties with metadata, a nested
    sub-property, a multi-attribute, a relationship and a GeoProperty."""
    e = Entity(etype, f"kizunagawa:{key}", ctx=ctx)
    e.prop("name", f"テスト避難所 {key}")
    e.prop("capacity", capacity, unitcode="IE")
    e.prop("occupancy", 0, unitcode="IE", observedat=OBSERVED).prop("reliability", 0.9, nested=True)
    e.prop("isOpen", is_open, observedat=OBSERVED)
    e.prop("shelterType", shelter_type)
    e.prop("accessibilityFacilities", ["wheelchairAccessible", "accessibleToilet"])
    e.prop("address", {"addressRegion": "群馬県", "addressLocality": "絆川市",
                       "streetAddress": "本町二丁目4-1", "postalCode": "379-2301"})
    e.prop("temperature", MultAttrValue()
           .add(11.8, datasetid="urn:ngsi-ld:Dataset:sensor-a", unitcode="CEL", observedat=OBSERVED)
           .add(12.1, datasetid="urn:ngsi-ld:Dataset:sensor-b", unitcode="CEL", observedat=OBSERVED))
    e.rel("refBuilding", "urn:ngsi-ld:Building:kizunagawa:city-hall")
    e.loc(36.4152, 139.2031)  # ngsildclient takes (lat, lon) and writes [lon, lat]
    e.obs(OBSERVED)  # dateObserved as {"@type": "DateTime", "@value": ...}
    return e


# --- against an empty server ---------------------------------------------------------


def test_client_connects(client):
    assert client.is_connected()


def test_create_and_retrieve_round_trip(client, uid):
    e = shelter("KizunaTestShelter", f"rt-{uid}", 450)
    assert client.create(e) is True

    got = client.get(e.id, asdict=True)
    assert "@context" in got
    assert canonical(got) == canonical(e)
    assert client.exists(e.id)

    as_entity = client.get(e.id)
    assert as_entity["capacity"].value == 450
    assert as_entity["location"]["value"]["coordinates"] == [139.2031, 36.4152]


def test_round_trip_with_the_demo_context(client, uid):
    # The body names the demo context (shipped inside Kizuna, resolved offline); reading
    # back with the same context as a Link header gives the same short names.
    e = shelter("PointOfInterest", f"ctx-{uid}", 300, ctx=[DEMO_CONTEXT, CORE_CONTEXT])
    e["name"] = {"type": "LanguageProperty", "languageMap": {"ja": "テスト避難所", "en": "Test shelter"}}
    e.prop("category", ["shelter"])
    assert client.create(e) is True

    got = client.get(e.id, ctx=DEMO_CONTEXT, asdict=True)
    assert canonical(got) == canonical(e)

    # With the core context only, the same entity shows its expanded IRIs.
    expanded = client.get(e.id, asdict=True)
    assert expanded["type"] == SDM_POI
    assert "https://kizuna.example/ns/capacity" in expanded
    assert "https://smartdatamodels.org/dataModel.PointOfInterest/category" in expanded


def test_query_by_type_and_q(client, uid):
    etype = f"KizunaQueryTest{uid}"
    small = shelter(etype, f"q-small-{uid}", 100, shelter_type="welfareShelter")
    medium = shelter(etype, f"q-medium-{uid}", 300, is_open=False)
    large = shelter(etype, f"q-large-{uid}", 600)
    created = client.create([small, medium, large])
    assert created.ok, created.errors

    everything = client.query(type=etype)
    assert {e.id for e in everything} == {small.id, medium.id, large.id}
    by_id = {e.id: e for e in everything}
    assert canonical(by_id[large.id]) == canonical(large)

    def ids(q: str) -> set[str]:
        return {e.id for e in client.query(type=etype, q=q)}

    assert ids("capacity>200") == {medium.id, large.id}
    assert ids("capacity==100") == {small.id}
    assert ids('shelterType=="welfareShelter"') == {small.id}
    assert ids("isOpen==true;capacity<500") == {small.id}
    assert ids("isOpen==false|capacity>=600") == {medium.id, large.id}

    assert client.count(type=etype) == 3
    assert client.count(type=etype, q="capacity>200") == 2
    assert len(client.query_head(type=etype, n=2)) == 2  # limit=2


def test_update_an_attribute(client, uid):
    etype = f"KizunaUpdateTest{uid}"
    e = shelter(etype, f"upd-{uid}", 450)
    assert client.create(e) is True

    # Client.update(entity): ngsildclient replaces the entity (GET, DELETE, POST).
    e["occupancy.value"] = 120
    assert client.update(e) is True
    assert client.get(e.id, asdict=True)["occupancy"]["value"] == 120

    # Client.update([entities]): batch update, only the attributes sent are changed.
    patch = Entity(etype, f"kizunagawa:upd-{uid}")
    patch.prop("occupancy", 200, unitcode="IE", observedat=OBSERVED)
    result = client.update([patch])
    assert result.ok, result.errors

    got = client.get(e.id, asdict=True)
    assert got["occupancy"] == {"type": "Property", "value": 200, "unitCode": "IE", "observedAt": OBSERVED}
    assert got["capacity"]["value"] == 450
    assert canonical(got)["temperature"] == canonical(e)["temperature"]


def test_batch_create_upsert_count_delete(client, uid):
    etype = f"KizunaBatchTest{uid}"
    first = [shelter(etype, f"b{i}-{uid}", 100 * (i + 1)) for i in range(5)]
    for e in first:
        e.prop("note", "to be replaced")

    created = client.create(first)
    assert created.ok, created.errors
    assert set(created.success) == {e.id for e in first}
    assert client.count(type=etype) == 5

    # Upsert (replace mode): two existing entities are replaced, two new ones created.
    replaced = [shelter(etype, f"b{i}-{uid}", 999) for i in range(2)]
    new = [shelter(etype, f"b{i}-{uid}", 50) for i in range(5, 7)]
    upserted = client.upsert(replaced + new)
    assert upserted.ok, upserted.errors
    assert client.count(type=etype) == 7
    for e in replaced + new:
        assert canonical(client.get(e.id, asdict=True)) == canonical(e)  # "note" is gone

    # Upsert (update mode): attributes are added to what is there.
    extra = Entity(etype, f"kizunagawa:b2-{uid}")
    extra.prop("warningLevel", 3, observedat=OBSERVED)
    merged = client.upsert([extra], update=True)
    assert merged.ok, merged.errors
    got = client.get(extra.id, asdict=True)
    assert got["warningLevel"]["value"] == 3
    assert got["note"]["value"] == "to be replaced"

    deleted = client.delete(first + new)
    assert deleted.ok, deleted.errors
    assert client.count(type=etype) == 0


def test_delete_one(client, uid):
    e = shelter("KizunaTestShelter", f"del-{uid}", 80)
    assert client.create(e) is True
    assert client.delete(e) is True
    assert not client.exists(e.id)
    with pytest.raises(NgsiResourceNotFoundError):
        client.get(e.id)


def test_errors_arrive_as_ngsildclient_exceptions(client, uid):
    # ngsildclient maps the ProblemDetails `type` to its exception classes.
    e = shelter("KizunaTestShelter", f"dup-{uid}", 10)
    assert client.create(e) is True
    with pytest.raises(NgsiAlreadyExistsError) as exc:
        client.create(e)
    assert exc.value.problemdetails.status == 409

    with pytest.raises(NgsiResourceNotFoundError) as exc:
        client.get(f"urn:ngsi-ld:KizunaTestShelter:missing-{uid}")
    assert exc.value.problemdetails.status == 404


# --- against the --demo server -------------------------------------------------------


def demo_entities() -> list[dict]:
    return json.loads(DEMO_FILE.read_text(encoding="utf-8"))


def test_demo_shelters_found_by_type(demo_client):
    demo = demo_entities()
    pois = {e["id"] for e in demo if e["type"] == "PointOfInterest"}
    shelters = {e["id"]: e for e in demo if ":shelter-" in e["id"]}
    assert len(shelters) >= 8

    found = demo_client.query(type="PointOfInterest", ctx=DEMO_CONTEXT)
    assert {e.id for e in found} == pois
    for e in found:
        if e.id in shelters:
            assert canonical(e) == canonical(shelters[e.id])

    first = next(e for e in found if e.id.endswith(":shelter-001"))
    assert first["name"]["type"] == "LanguageProperty"
    assert first["name"]["languageMap"]["ja"] == "絆川市立中央小学校"


def test_demo_q_filters(demo_client):
    demo = [e for e in demo_entities() if e["type"] == "PointOfInterest"]

    def ids(q: str) -> set[str]:
        return {e.id for e in demo_client.query(type="PointOfInterest", q=q, ctx=DEMO_CONTEXT)}

    assert ids("isOpen==true") == {e["id"] for e in demo if e.get("isOpen", {}).get("value") is True}
    assert ids("capacity>=500") == {e["id"] for e in demo if e.get("capacity", {}).get("value", 0) >= 500}


def test_demo_type_names_depend_on_the_context(demo_client):
    n = sum(1 for e in demo_entities() if e["type"] == "PointOfInterest")
    assert demo_client.entities.count("PointOfInterest", ctx=DEMO_CONTEXT) == n
    assert demo_client.count(type=SDM_POI) == n  # the expanded type needs no context
    # Under the core context alone "PointOfInterest" names another type (default vocab).
    assert demo_client.count(type="PointOfInterest") == 0


def test_demo_entities_round_trip(demo_client):
    demo = demo_entities()
    ids = {e["id"] for e in demo}
    for expected in demo:
        got = demo_client.get(expected["id"], ctx=DEMO_CONTEXT, asdict=True)
        assert canonical(got) == canonical(expected), expected["id"]
        # Every relationship of the demo points at an entity of the demo.
        for attr in expected.values():
            if isinstance(attr, dict) and attr.get("type") == "Relationship":
                assert attr["object"] in ids
