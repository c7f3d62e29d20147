"""A guardian acting for her ward under /me, black-box: the real binary with its demo
residents (Hanako is the guardian of her daughter Yui, recorded from the 母子健康手帳),
tokens minted by `kizuna token`, plain `requests` as the citizen app. Hanako names Yui in
the `Kizuna-On-Behalf-Of` header to manage Yui's consents and read Yui's access log;
Taro, who is nobody's guardian, is refused.

The test shares the session's demo server with other modules: what it grants for Yui it
withdraws again (a consent is never deleted, only withdrawn), and it changes nothing of
anybody else's."""

from __future__ import annotations

import requests

from conftest import kizuna_token

HANAKO = "urn:ngsi-ld:Person:kizunagawa:hanako"
YUI = "urn:ngsi-ld:Person:kizunagawa:yui"
TARO = "urn:ngsi-ld:Person:kizunagawa:taro"
APP = "urn:kizuna:party:sukoyaka-app"
GUARDIANSHIP = "urn:kizuna:guardianship:demo-hanako-yui"
OBO = "Kizuna-On-Behalf-Of"


def citizen(server, subject: str) -> dict:
    token = kizuna_token(server, "--role", "citizen", "--subject", subject)
    return {"Authorization": f"Bearer {token}"}


def access_log(server, headers: dict) -> list[dict]:
    """Every record of an access log, page by page."""
    records: list[dict] = []
    after = 0
    while True:
        r = requests.get(
            f"{server.base_url}/me/access-log", params={"after": after, "limit": 1000}, headers=headers, timeout=30
        )
        assert r.status_code == 200, r.text
        page = r.json()
        records.extend(page["records"])
        if page["next"] is None:
            return records
        after = page["next"]


def test_hanako_manages_yuis_consents_and_reads_her_access_log(kizuna_demo):
    base = kizuna_demo.base_url
    hanako = citizen(kizuna_demo, HANAKO)
    for_yui = {**hanako, OBO: YUI}

    me = requests.get(f"{base}/me", headers=for_yui, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json() == {"subject": YUI, "tenant": me.json()["tenant"], "actor": HANAKO, "guardianship": GUARDIANSHIP}

    # Yui's consents, listed by her mother.
    r = requests.get(f"{base}/me/consents", headers=for_yui, timeout=10)
    assert r.status_code == 200, r.text
    before = {c["id"] for c in r.json()}
    assert all(c["subject"] == YUI for c in r.json())

    # Hanako grants one for Yui: Yui's record, given by Hanako.
    body = {
        "recipient": APP,
        "purposes": ["child-rearing-support"],
        "categories": ["health"],
        "noticeVersion": "sukoyaka-2026",
    }
    r = requests.post(f"{base}/me/consents", json=body, headers=for_yui, timeout=10)
    assert r.status_code == 201, r.text
    granted = r.json()
    cid = granted["id"]
    try:
        assert granted["subject"] == YUI and granted["given_by"] == HANAKO, granted
        listed = requests.get(f"{base}/me/consents", headers=for_yui, timeout=10).json()
        assert {c["id"] for c in listed} == before | {cid}
        mine = [c for c in listed if c["id"] == cid]
        assert mine and mine[0]["given_by"] == HANAKO and mine[0]["withdrawn_at"] is None, mine
        # Yui sees the same record on her own account; Hanako's own consents do not hold it.
        yui_own = requests.get(f"{base}/me/consents", headers=citizen(kizuna_demo, YUI), timeout=10).json()
        assert cid in {c["id"] for c in yui_own}
        hanako_own = requests.get(f"{base}/me/consents", headers=hanako, timeout=10).json()
        assert cid not in {c["id"] for c in hanako_own}
        # Without the header the consent is not Hanako's to withdraw.
        r = requests.post(f"{base}/me/consents/{cid}/withdraw", headers=hanako, timeout=10)
        assert r.status_code == 404, r.text
    finally:
        # Withdrawn again whatever happened above, so no other test sees it in force.
        r = requests.post(f"{base}/me/consents/{cid}/withdraw", headers=for_yui, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn_at"] and r.json()["given_by"] == HANAKO
    assert r.json()["withdrawn_by"] == HANAKO

    # Hanako reads Yui's data (decided under the guardianship), then Yui's access log shows
    # the reads with Hanako as actor and the guardianship as basis.
    r = requests.get(f"{base}/me/data", headers=for_yui, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(f"{base}/fhir/Immunization", params={"patient": "yui"}, headers=hanako, timeout=30)
    assert r.status_code == 200, r.text
    log = access_log(kizuna_demo, for_yui)
    by_hanako = [e for e in log if e["actor"] == HANAKO]
    assert by_hanako, log[-5:]
    assert all(e["basis"] == f"guardian:{GUARDIANSHIP}" for e in by_hanako if e["allowed"]), by_hanako[:5]
    # Her own log is a different one.
    own = access_log(kizuna_demo, hanako)
    assert not {e["seq"] for e in own} & {e["seq"] for e in by_hanako}


def test_taro_cannot_act_for_yui_and_bad_headers_are_refused(kizuna_demo):
    base = kizuna_demo.base_url
    taro = {**citizen(kizuna_demo, TARO), OBO: YUI}
    for method, path, body in [
        ("GET", "/me/consents", None),
        ("GET", "/me/access-log", None),
        ("POST", "/me/consents", {"recipient": APP, "purposes": ["x"], "categories": ["health"], "noticeVersion": "1"}),
        ("GET", "/me/export", None),
    ]:
        r = requests.request(method, f"{base}{path}", json=body, headers=taro, timeout=30)
        assert r.status_code == 403, (path, r.text)
        problem = r.json()
        assert problem["type"] == "urn:kizuna:errors:Forbidden" and problem["status"] == 403
        assert OBO in problem["detail"] and YUI in problem["detail"], problem
    # Nothing was granted for Yui by Taro.
    yui_own = requests.get(f"{base}/me/consents", headers=citizen(kizuna_demo, YUI), timeout=10).json()
    assert all(c.get("given_by") != TARO for c in yui_own)

    # The ward does not act for her guardian; a header that is not a URI is a bad request.
    r = requests.get(f"{base}/me/consents", headers={**citizen(kizuna_demo, YUI), OBO: HANAKO}, timeout=10)
    assert r.status_code == 403, r.text
    r = requests.get(f"{base}/me/consents", headers={**citizen(kizuna_demo, HANAKO), OBO: "yui"}, timeout=10)
    assert r.status_code == 400, r.text
    assert OBO in r.json()["detail"]
