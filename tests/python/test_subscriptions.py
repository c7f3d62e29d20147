"""Subscriptions and notification delivery, black-box against the real binary
(ETSI GS CIM 009 v1.8 §5.8 Subscriptions, §5.2.12 Subscription, §5.3 Notification).

Notifications go to a real HTTP receiver (`receiver.py`). Kizuna's delivery rules
checked here (crates/api-ngsild/src/notifier.rs): one ordered queue per subscription,
retries with exponential backoff (1 s doubling), `notification.status: failed` after 3
consecutive failures and `ok` after the next success, `Kizuna-Notification-Id` stable
across retries, `Kizuna-Signature` (HMAC-SHA256) when `notifierInfo` has `hmacSecret`,
throttling delays but never drops.

Each test uses its own entity type (and receiver), so tests sharing the session server
never see each other's notifications. Waits poll with deadlines; no fixed sleeps except
where a test must show that nothing arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
import requests

from conftest import CORE_CONTEXT
from receiver import Receiver

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
JSON = {"Content-Type": "application/json"}
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TIMEOUT = 10
# The core @context, unversioned or versioned (Kizuna sends ...-context-v1.8.jsonld).
CORE_CONTEXT_RE = re.compile(re.escape(CORE_CONTEXT.removesuffix(".jsonld")) + r"(-v1\.\d+)?\.jsonld")


# -- helpers --------------------------------------------------------------------------

@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def hdrs(tenant: str | None = None) -> dict:
    return {**JSON, "NGSILD-Tenant": tenant} if tenant else dict(JSON)


def sub_body(etype: str, uri: str, sid: str | None = None, **extra) -> dict:
    notification = extra.pop("notification", {})
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {"endpoint": {"uri": uri}, **notification},
        **extra,
    }
    if sid:
        body["id"] = sid
    return body


def create_sub(server, body: dict, tenant: str | None = None) -> str:
    r = requests.post(f"{server.ngsi}/subscriptions", json=body, headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    loc = unquote(r.headers["Location"])
    assert loc.startswith("/ngsi-ld/v1/subscriptions/"), loc
    sid = loc.removeprefix("/ngsi-ld/v1/subscriptions/")
    if "id" in body:
        assert sid == body["id"]
    return sid


def get_sub(server, sid: str, tenant: str | None = None) -> dict:
    r = requests.get(f"{server.ngsi}/subscriptions/{sid}", headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def patch_sub(server, sid: str, fragment: dict, tenant: str | None = None) -> None:
    r = requests.patch(f"{server.ngsi}/subscriptions/{sid}", json=fragment, headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 204, r.text


def create_entity(server, eid: str, etype: str, tenant: str | None = None, **attrs) -> None:
    body = {"id": eid, "type": etype, **attrs}
    r = requests.post(f"{server.ngsi}/entities", json=body, headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 201, r.text


def set_attrs(server, eid: str, tenant: str | None = None, **attrs) -> None:
    """PATCH /entities/{id}/attrs with Properties `name=value` (204 = acknowledged)."""
    frag = {k: {"type": "Property", "value": v} for k, v in attrs.items()}
    r = requests.patch(f"{server.ngsi}/entities/{eid}/attrs", json=frag, headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 204, r.text


def delete_entity(server, eid: str) -> None:
    r = requests.delete(f"{server.ngsi}/entities/{eid}", timeout=TIMEOUT)
    assert r.status_code == 204, r.text


def of(sid: str):
    """Filter: successfully received notifications of subscription `sid`."""
    return lambda r: r.header("Kizuna-Subscription-Id") == sid and r.answered < 300


def poll(fn, timeout: float, what: str, interval: float = 0.1):
    """Calls `fn` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def values(notes, attr: str = "temperature") -> list:
    """The keyValues `attr` of each notification's single entity."""
    return [n.body["data"][0][attr] for n in notes]


def assert_problem(r: requests.Response, status: int, error: str, *mentions: str) -> dict:
    assert r.status_code == status, r.text
    assert "json" in r.headers.get("Content-Type", ""), r.headers
    body = r.json()
    assert body["type"] == ERRORS + error, body
    assert isinstance(body.get("title"), str) and body["title"], body
    for m in mentions:
        assert m in body.get("detail", ""), body
    return body


def parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def names(uid: str) -> tuple[str, str]:
    """A fresh entity type and an entity id of that type."""
    etype = f"SubT{uid}"
    return etype, f"urn:ngsi-ld:{etype}:e1"


# -- 1. CRUD and validation --------------------------------------------------------------

def test_subscription_crud(kizuna, receiver, uid):
    etype, _ = names(uid)
    sid = f"urn:ngsi-ld:Subscription:{uid}"
    body = sub_body(etype, receiver.url, sid, description="crud", watchedAttributes=["temperature"],
                    notification={"attributes": ["temperature"], "format": "keyValues",
                                  "endpoint": {"uri": receiver.url, "notifierInfo": [
                                      {"key": "hmacSecret", "value": f"very-secret-{uid}"}]}})
    r = requests.post(f"{kizuna.ngsi}/subscriptions", json=body, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert unquote(r.headers["Location"]) == f"/ngsi-ld/v1/subscriptions/{sid}"

    r = requests.get(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert f"very-secret-{uid}" not in r.text  # the signing secret is never shown
    got = r.json()
    assert got["id"] == sid and got["type"] == "Subscription"
    assert got["entities"] == [{"type": etype}]
    assert got["watchedAttributes"] == ["temperature"]
    assert got["description"] == "crud"
    assert got["isActive"] is True and got["status"] == "active"
    n = got["notification"]
    assert n["attributes"] == ["temperature"] and n["format"] == "keyValues"
    assert n["endpoint"]["uri"] == receiver.url
    assert n["endpoint"]["notifierInfo"] == [{"key": "hmacSecret", "value": "********"}]
    assert n["status"] == "ok" and n["timesSent"] == 0 and n["timesFailed"] == 0
    assert n["pendingNotifications"] == 0
    assert "lastFailure" not in n and "lastSuccess" not in n

    # 409 on a duplicate id.
    r = requests.post(f"{kizuna.ngsi}/subscriptions", json=body, headers=JSON, timeout=TIMEOUT)
    assert_problem(r, 409, "AlreadyExists")

    # PATCH: members given replace the stored ones; the rest is kept.
    patch_sub(kizuna, sid, {"description": "patched", "throttling": 5})
    got = get_sub(kizuna, sid)
    assert got["description"] == "patched" and got["throttling"] == 5
    assert got["watchedAttributes"] == ["temperature"]
    assert got["notification"]["endpoint"]["notifierInfo"] == [{"key": "hmacSecret", "value": "********"}]

    # DELETE, then 404 everywhere.
    r = requests.delete(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert_problem(requests.get(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT), 404, "ResourceNotFound")
    assert_problem(requests.delete(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT), 404, "ResourceNotFound")
    r = requests.patch(f"{kizuna.ngsi}/subscriptions/{sid}", json={"description": "x"}, headers=JSON,
                       timeout=TIMEOUT)
    assert_problem(r, 404, "ResourceNotFound")


def test_list_with_count(kizuna, receiver, uid):
    tenant = f"subs{uid}"  # a tenant of its own, so the count is exact
    etype, _ = names(uid)
    ids = [create_sub(kizuna, sub_body(etype, receiver.url, f"urn:ngsi-ld:Subscription:{uid}-{i}"), tenant)
           for i in range(3)]
    r = requests.get(f"{kizuna.ngsi}/subscriptions", params={"count": "true"}, headers=hdrs(tenant),
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["NGSILD-Results-Count"] == "3"
    assert sorted(s["id"] for s in r.json()) == sorted(ids)

    r = requests.get(f"{kizuna.ngsi}/subscriptions", params={"count": "true", "limit": 2, "offset": 2},
                     headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["NGSILD-Results-Count"] == "3" and len(r.json()) == 1

    r = requests.get(f"{kizuna.ngsi}/subscriptions", headers=hdrs(tenant), timeout=TIMEOUT)
    assert "NGSILD-Results-Count" not in r.headers

    # The signing secret is masked in lists too.
    patch_sub(kizuna, ids[0], {"notification": {"endpoint": {
        "uri": receiver.url, "notifierInfo": [{"key": "hmacSecret", "value": f"list-secret-{uid}"}]}}}, tenant)
    r = requests.get(f"{kizuna.ngsi}/subscriptions", headers=hdrs(tenant), timeout=TIMEOUT)
    assert r.status_code == 200 and f"list-secret-{uid}" not in r.text
    [first] = [s for s in r.json() if s["id"] == ids[0]]
    assert first["notification"]["endpoint"]["notifierInfo"] == [{"key": "hmacSecret", "value": "********"}]


def test_what_get_shows_can_be_sent_back(kizuna, receiver, uid):
    etype, _ = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url, description="original"))
    shown = get_sub(kizuna, sid)
    # PATCH with the notification member exactly as shown ...
    r = requests.patch(f"{kizuna.ngsi}/subscriptions/{sid}", json={"notification": shown["notification"]},
                       headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    # ... and POST a copy of the whole subscription under another id.
    copy = dict(shown, id=f"{sid}-copy")
    r = requests.post(f"{kizuna.ngsi}/subscriptions", json=copy, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert get_sub(kizuna, f"{sid}-copy")["notification"]["endpoint"] == shown["notification"]["endpoint"]


BAD_SUBSCRIPTIONS = {
    "missing-notification": (lambda b: b.pop("notification"), "notification"),
    "bad-endpoint-uri": (lambda b: b["notification"]["endpoint"].update(uri="not a uri"), "endpoint.uri"),
    "ftp-endpoint-uri": (lambda b: b["notification"]["endpoint"].update(uri="ftp://example.com/x"),
                         "endpoint.uri"),
    "unknown-format": (lambda b: b["notification"].update(format="xml"), "format"),
    "bad-q": (lambda b: b.update(q="temperature>>"), "q"),
    "watched-and-timeInterval": (lambda b: b.update(watchedAttributes=["temperature"], timeInterval=10),
                                 "timeInterval"),
}


@pytest.mark.parametrize("case", BAD_SUBSCRIPTIONS, ids=list(BAD_SUBSCRIPTIONS))
def test_bad_subscription_is_bad_request_data(kizuna, receiver, uid, case):
    mutate, member = BAD_SUBSCRIPTIONS[case]
    body = sub_body(names(uid)[0], receiver.url, f"urn:ngsi-ld:Subscription:{uid}")
    mutate(body)
    r = requests.post(f"{kizuna.ngsi}/subscriptions", json=body, headers=JSON, timeout=TIMEOUT)
    problem = assert_problem(r, 400, "BadRequestData", member)
    if case == "watched-and-timeInterval":
        assert "watchedAttributes" in problem["detail"], problem
    if case == "bad-q":
        assert re.search(r"(^|\W)q(\W|$)", problem["detail"]), problem  # names `q` itself
    # nothing was created
    r = requests.get(f"{kizuna.ngsi}/subscriptions/{body['id']}", timeout=TIMEOUT)
    assert r.status_code == 404


# -- 2. what fires and what is sent ----------------------------------------------------

def test_matching_and_non_matching_updates(kizuna, receiver, uid):
    etype, eid = names(uid)
    other_type_id = f"urn:ngsi-ld:Other{uid}:e1"
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0},
                  humidity={"type": "Property", "value": 50})
    create_entity(kizuna, other_type_id, f"Other{uid}", temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, q="temperature>20", watchedAttributes=["temperature"],
                                      notification={"attributes": ["temperature"]}))

    set_attrs(kizuna, eid, humidity=60)               # not watched
    set_attrs(kizuna, eid, temperature=10)            # watched, but q is false
    set_attrs(kizuna, other_type_id, temperature=30)  # another type
    set_attrs(kizuna, eid, temperature=25)            # matches
    set_attrs(kizuna, eid, temperature=25)            # same value again: not an update
    set_attrs(kizuna, eid, humidity=70)               # not watched (q holds)
    set_attrs(kizuna, eid, temperature=26)            # matches

    # The queue is ordered, so the first two notifications are the matching updates.
    notes = receiver.wait_for(2, where=of(sid))
    assert [n.body["data"][0]["temperature"]["value"] for n in notes] == [25, 26]
    before = time.time()
    for n in notes:
        b = n.body
        assert b["type"] == "Notification"
        assert b["subscriptionId"] == sid
        assert b["id"] == n.header("Kizuna-Notification-Id")
        assert abs(parse_ts(b["notifiedAt"]).timestamp() - before) < 30
        assert isinstance(b["data"], list) and len(b["data"]) == 1
        # projected: only `temperature` besides id and type (no humidity)
        assert b["data"][0] == {"id": eid, "type": etype,
                                "temperature": {"type": "Property", "value": b["data"][0]["temperature"]["value"]}}
        assert b.get("triggerReason") == "attributeUpdated"
    assert notes[0].header("Kizuna-Notification-Id") != notes[1].header("Kizuna-Notification-Id")
    assert receiver.quiet(0.5, where=of(sid)) == []

    n = poll(lambda: (s := get_sub(kizuna, sid)["notification"])["timesSent"] >= 2 and s, 5, "timesSent 2")
    assert n["status"] == "ok" and n["timesSent"] == 2 and n["pendingNotifications"] == 0
    assert "lastSuccess" in n and "lastNotification" in n


@pytest.mark.parametrize("fmt,expected", [
    ("normalized", {"type": "Property", "value": 21, "unitCode": "CEL"}),
    ("keyValues", 21),
    ("concise", {"value": 21, "unitCode": "CEL"}),
])
def test_notification_formats(kizuna, receiver, uid, fmt, expected):
    etype, eid = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": fmt}))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 21, "unitCode": "CEL"})
    [n] = receiver.wait_for(1, where=of(sid))
    assert n.body["data"] == [{"id": eid, "type": etype, "temperature": expected}]
    assert n.body.get("triggerReason") == "attributeCreated"


@pytest.mark.parametrize("accept", ["application/json", "application/ld+json"])
def test_accept_decides_where_the_context_goes(kizuna, receiver, uid, accept):
    etype, eid = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url,
                                      notification={"endpoint": {"uri": receiver.url, "accept": accept}}))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 1})
    [n] = receiver.wait_for(1, where=of(sid))
    assert n.header("Content-Type").split(";")[0].strip() == accept
    if accept == "application/json":
        assert "@context" not in n.body
        link = n.header("Link")
        assert link and JSONLD_CONTEXT_REL in link, link
        assert CORE_CONTEXT_RE.fullmatch(link.split(";")[0].strip().strip("<>")), link
    else:
        assert n.header("Link") is None
        assert CORE_CONTEXT_RE.fullmatch(n.body["@context"]), n.body


def test_receiver_info_and_hmac_signature(kizuna, receiver, uid):
    etype, eid = names(uid)
    secret = f"s3cret-{uid}"
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"endpoint": {
        "uri": receiver.url,
        "receiverInfo": [{"key": "X-Api-Key", "value": f"key-{uid}"}, {"key": "X-Origin", "value": "kizuna-test"}],
        "notifierInfo": [{"key": "hmacSecret", "value": secret}],
    }}))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 1})
    [n] = receiver.wait_for(1, where=of(sid))
    assert n.header("X-Api-Key") == f"key-{uid}"
    assert n.header("X-Origin") == "kizuna-test"
    assert n.header("Kizuna-Notification-Id") == n.body["id"]

    sig = n.header("Kizuna-Signature")
    assert sig, n.headers
    parts = dict(p.split("=", 1) for p in sig.split(","))
    t, v1 = parts["t"], parts["v1"]
    assert abs(int(t) - time.time()) < 60
    mac = lambda key: hmac.new(key.encode(), t.encode() + b"." + n.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac(secret), v1)
    assert not hmac.compare_digest(mac(secret + "x"), v1)   # a wrong secret does not verify
    tampered = n.raw.replace(b'"value":1', b'"value":2')
    assert tampered != n.raw
    assert hmac.new(secret.encode(), t.encode() + b"." + tampered, hashlib.sha256).hexdigest() != v1


def test_no_signature_without_secret(kizuna, receiver, uid):
    etype, eid = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 1})
    [n] = receiver.wait_for(1, where=of(sid))
    assert n.header("Kizuna-Signature") is None
    assert n.header("NGSILD-Tenant") is None


def test_tenant_header_arrives(kizuna, receiver, uid):
    etype, eid = names(uid)
    tenant = f"tn{uid}"
    sid = create_sub(kizuna, sub_body(etype, receiver.url), tenant=tenant)
    # The same entity in the default tenant does not fire the tenant's subscription.
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 1})
    create_entity(kizuna, eid, etype, tenant=tenant, temperature={"type": "Property", "value": 2})
    notes = receiver.wait_for(1, where=of(sid))
    assert notes[0].header("NGSILD-Tenant") == tenant
    assert notes[0].body["data"][0]["temperature"]["value"] == 2
    assert receiver.quiet(0.3, where=of(sid)) == []
    # And the subscription is only visible in its tenant.
    assert get_sub(kizuna, sid, tenant)["id"] == sid
    r = requests.get(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT)
    assert r.status_code == 404


# -- 3. order -----------------------------------------------------------------------------

def test_twenty_quick_updates_arrive_in_order(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    for v in range(1, 21):
        set_attrs(kizuna, eid, temperature=v)
    notes = receiver.wait_for(20, where=of(sid))
    assert values(notes) == list(range(1, 21))
    assert len({n.header("Kizuna-Notification-Id") for n in notes}) == 20


# -- 4. receiver failures -------------------------------------------------------------

def test_http_500_is_retried_with_the_same_notification_id(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    receiver.status = 500
    set_attrs(kizuna, eid, temperature=1)
    [failed] = receiver.wait_for(1, where=lambda r: r.header("Kizuna-Subscription-Id") == sid)
    assert failed.answered == 500
    n = poll(lambda: (s := get_sub(kizuna, sid)["notification"])["timesFailed"] >= 1 and s, 5, "timesFailed 1")
    assert "500" in n["lastFailureReason"] and "lastFailure" in n
    assert n["status"] == "ok"  # one failure is not yet `failed`
    receiver.status = 200
    [ok] = receiver.wait_for(1, timeout=6, where=of(sid))  # the first retry comes after ~1 s
    assert ok.header("Kizuna-Notification-Id") == failed.header("Kizuna-Notification-Id")
    assert values([ok]) == [1]
    n = poll(lambda: (s := get_sub(kizuna, sid)["notification"])["timesSent"] >= 1 and s, 5, "timesSent 1")
    assert n["timesFailed"] >= 1 and n["status"] == "ok" and n["pendingNotifications"] == 0


def test_receiver_down_then_back(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    receiver.stop()
    for v in range(1, 6):
        set_attrs(kizuna, eid, temperature=v)

    seen_failed: list[int] = []

    def failed():
        n = get_sub(kizuna, sid)["notification"]
        if not seen_failed or seen_failed[-1] != n["timesFailed"]:
            seen_failed.append(n["timesFailed"])
        return n if n["status"] == "failed" else None

    # Failures at ~0 s, ~1 s, ~3 s (1 s backoff doubling): `failed` after the third.
    n = poll(failed, 10, "notification.status failed")
    assert n["timesFailed"] >= 3, n
    assert seen_failed == sorted(seen_failed) and len(seen_failed) >= 2, seen_failed  # it grew
    assert n["lastFailureReason"] and isinstance(n["lastFailureReason"], str)
    assert "lastFailure" in n and n["timesSent"] == 0
    assert n["pendingNotifications"] == 5
    assert get_sub(kizuna, sid)["status"] == "active"  # delivery trouble is not the subscription's status

    receiver.start()  # same port
    # The next retry is at most 8 s away after 3 failures (16 s if a 4th slipped in).
    notes = receiver.wait_for(5, timeout=20, where=of(sid))
    assert values(notes) == [1, 2, 3, 4, 5]
    n = poll(lambda: (s := get_sub(kizuna, sid)["notification"])["pendingNotifications"] == 0 and s, 5,
             "an empty queue")
    assert n["status"] == "ok" and n["timesSent"] == 5
    assert parse_ts(n["lastSuccess"]) >= parse_ts(n["lastFailure"])


# -- 5. crash --------------------------------------------------------------------------

def test_queued_notifications_survive_kill_9(kizuna_restartable, receiver, uid):
    server = kizuna_restartable
    etype, eid = names(uid)
    create_entity(server, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(server, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    receiver.stop()
    for v in (1, 2, 3):
        set_attrs(server, eid, temperature=v)  # acknowledged with 204
    server.kill9()
    server.restart()
    receiver.start()

    notes = receiver.wait_for(3, timeout=20, where=of(sid))
    # At-least-once: a duplicate must carry the same notification id (and content).
    first_seen: dict[str, object] = {}
    order = []
    for n in receiver.wait_for(3, where=of(sid)):
        nid = n.header("Kizuna-Notification-Id")
        v = n.body["data"][0]["temperature"]
        if nid in first_seen:
            assert first_seen[nid] == v, (nid, first_seen[nid], v)
        else:
            first_seen[nid] = v
            order.append(v)
    assert order == [1, 2, 3], [(n.header("Kizuna-Notification-Id"), values([n])) for n in notes]
    n = poll(lambda: (s := get_sub(server, sid)["notification"])["pendingNotifications"] == 0 and s, 5,
             "empty queue")
    assert n["status"] == "ok" and n["timesSent"] >= 3


# -- 6. isActive, expiresAt, throttling ----------------------------------------------------

def test_pause_keeps_the_queue_and_resume_delivers_it(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    set_attrs(kizuna, eid, temperature=1)
    assert values(receiver.wait_for(1, where=of(sid))) == [1]

    receiver.stop()
    set_attrs(kizuna, eid, temperature=2)  # queued: the receiver is down
    patch_sub(kizuna, sid, {"isActive": False})
    got = get_sub(kizuna, sid)
    assert got["isActive"] is False and got["status"] == "paused"
    receiver.start()
    set_attrs(kizuna, eid, temperature=3)  # while paused: not notified
    # Retries would be due after 1-2 s; paused, nothing is sent.
    assert receiver.quiet(3.0, where=of(sid)) == []
    assert get_sub(kizuna, sid)["notification"]["pendingNotifications"] == 1

    patch_sub(kizuna, sid, {"isActive": True})
    assert get_sub(kizuna, sid)["status"] == "active"
    set_attrs(kizuna, eid, temperature=4)
    notes = receiver.wait_for(3, timeout=10, where=of(sid))
    assert values(notes) == [1, 2, 4]
    assert receiver.quiet(0.3, where=of(sid)) == []


def test_expired_subscription_sends_nothing(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))

    # Kizuna rejects an expiresAt that is not in the future, on create and on PATCH.
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    r = requests.patch(f"{kizuna.ngsi}/subscriptions/{sid}", json={"expiresAt": past}, headers=JSON,
                       timeout=TIMEOUT)
    assert_problem(r, 400, "BadRequestData", "expiresAt")

    soon = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    patch_sub(kizuna, sid, {"expiresAt": soon.isoformat().replace("+00:00", "Z")})
    set_attrs(kizuna, eid, temperature=1)
    assert values(receiver.wait_for(1, where=of(sid))) == [1]

    got = poll(lambda: (s := get_sub(kizuna, sid))["status"] == "expired" and s, 6, "status expired")
    assert got["expiresAt"]
    set_attrs(kizuna, eid, temperature=2)
    assert receiver.quiet(1.5, where=of(sid)) == []
    assert get_sub(kizuna, sid)["notification"]["timesSent"] == 1


def test_expired_subscription_does_not_deliver_its_queue(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    receiver.stop()
    set_attrs(kizuna, eid, temperature=1)  # queued, first attempt fails
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    patch_sub(kizuna, sid, {"expiresAt": soon.isoformat().replace("+00:00", "Z")})
    poll(lambda: get_sub(kizuna, sid)["status"] == "expired", 5, "status expired")
    receiver.start()
    # Retries are due within ~2 s; an expired subscription must send nothing more.
    assert [r.body for r in receiver.quiet(3.0, where=of(sid))] == []


def test_throttling_delays_but_never_drops(kizuna, receiver, uid):
    # Three notifications queued together (the receiver is down while they are made,
    # so they are certainly in the queue at once): all arrive, in order, >= 2 s apart.
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, throttling=2, notification={"format": "keyValues"}))
    receiver.stop()
    for v in (1, 2, 3):
        set_attrs(kizuna, eid, temperature=v)
    poll(lambda: get_sub(kizuna, sid)["notification"]["timesFailed"] >= 1, 5, "a failed attempt")
    receiver.start()
    notes = receiver.wait_for(3, timeout=12, where=of(sid))  # retry after ~1 s, then 2 s + 2 s
    assert values(notes) == [1, 2, 3]
    gaps = [round(b.at - a.at, 2) for a, b in zip(notes, notes[1:])]
    assert all(g >= 1.8 for g in gaps), gaps


def test_throttling_applies_to_updates_spread_over_time(kizuna, receiver, uid):
    # §5.2.12: throttling is the minimal period between two consecutive notifications,
    # also when the queue was empty in between (updates 0.5 s apart, not a burst).
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, throttling=2, notification={"format": "keyValues"}))
    for v in (1, 2, 3):
        set_attrs(kizuna, eid, temperature=v)
        time.sleep(0.5)
    notes = receiver.wait_for(3, timeout=12, where=of(sid))
    assert values(notes) == [1, 2, 3]
    gaps = [round(b.at - a.at, 2) for a, b in zip(notes, notes[1:])]
    assert all(g >= 1.8 for g in gaps), gaps


def test_deleting_a_subscription_drops_its_queue(kizuna, receiver, uid):
    etype, eid = names(uid)
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 0})
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    receiver.stop()
    set_attrs(kizuna, eid, temperature=1)
    poll(lambda: get_sub(kizuna, sid)["notification"]["timesFailed"] >= 1, 5, "a failed attempt")
    r = requests.delete(f"{kizuna.ngsi}/subscriptions/{sid}", timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    receiver.start()
    assert receiver.quiet(2.5, where=of(sid)) == []  # the retry would have been due after 1 s


# -- 7. entity creation and deletion triggers -----------------------------------------------

def test_entity_created_and_deleted_triggers(kizuna, receiver, uid):
    etype, eid = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notificationTrigger=["entityCreated", "entityDeleted"],
                                      notification={"format": "keyValues"}))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 7})
    set_attrs(kizuna, eid, temperature=8)  # entityUpdated is not asked for
    delete_entity(kizuna, eid)
    notes = receiver.wait_for(2, where=of(sid))
    assert [n.body["triggerReason"] for n in notes] == ["entityCreated", "entityDeleted"]
    assert all(n.body["data"][0]["id"] == eid for n in notes)
    assert notes[0].body["data"][0]["temperature"] == 7
    assert receiver.quiet(0.3, where=of(sid)) == []


def test_default_triggers_do_not_notify_deletion(kizuna, receiver, uid):
    etype, eid = names(uid)
    sid = create_sub(kizuna, sub_body(etype, receiver.url, notification={"format": "keyValues"}))
    create_entity(kizuna, eid, etype, temperature={"type": "Property", "value": 1})
    delete_entity(kizuna, eid)
    eid2 = eid + "b"
    create_entity(kizuna, eid2, etype, temperature={"type": "Property", "value": 2})
    notes = receiver.wait_for(2, where=of(sid))
    assert [(n.body["data"][0]["id"], n.body["triggerReason"]) for n in notes] == [
        (eid, "attributeCreated"), (eid2, "attributeCreated")]
