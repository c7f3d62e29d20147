"""MQTT notification endpoints against a real broker: Debian's mosquitto, started here on
a free port, and the third-party `paho-mqtt` client as the subscriber."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
import requests

LINK_CORE = '<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker():
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    proc = subprocess.Popen([exe, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("mosquitto did not start")
    yield port
    proc.kill()
    proc.wait()


class Subscriber:
    def __init__(self, port: int, topic: str):
        self.messages: list[dict] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.ready.set()
        self.client.on_message = lambda c, u, msg: self.messages.append(json.loads(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(5), "subscription to the broker failed"

    def wait_for(self, n: int, timeout: float = 10) -> list[dict]:
        deadline = time.time() + timeout
        while len(self.messages) < n and time.time() < deadline:
            time.sleep(0.05)
        return self.messages

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_notifications_are_published_to_mqtt_in_order(kizuna, broker):
    api = kizuna.ngsi
    sub = Subscriber(broker, "city/sensors")
    try:
        eid = "urn:ngsi-ld:RiverSensor:mqtt-1"
        r = requests.post(f"{api}/entities", json={"id": eid, "type": "RiverSensor", "level": {"type": "Property", "value": 1.0}},
                          headers={"Link": LINK_CORE})
        assert r.status_code == 201, r.text
        body = {
            "type": "Subscription",
            "entities": [{"type": "RiverSensor"}],
            "watchedAttributes": ["level"],
            "notification": {"format": "keyValues", "attributes": ["level"],
                             "endpoint": {"uri": f"mqtt://127.0.0.1:{broker}/city/sensors", "accept": "application/json",
                                          "receiverInfo": [{"key": "X-City", "value": "kizunagawa"}],
                                          "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}},
        }
        r = requests.post(f"{api}/subscriptions", json=body)
        assert r.status_code == 201, r.text
        sub_id = r.headers["Location"].rsplit("/", 1)[1]
        for v in [2.0, 3.0, 4.0]:
            r = requests.patch(f"{api}/entities/{eid}/attrs", json={"level": {"type": "Property", "value": v}})
            assert r.status_code == 204, r.text
        msgs = sub.wait_for(3)
        assert [m["body"]["data"][0]["level"] for m in msgs] == [2.0, 3.0, 4.0]
        first = msgs[0]
        assert first["body"]["type"] == "Notification"
        assert first["body"]["subscriptionId"] == sub_id
        assert first["metadata"]["Content-Type"] == "application/json"
        assert first["metadata"]["X-City"] == "kizunagawa"
        assert "json-ld#context" in first["metadata"]["Link"]
        status = requests.get(f"{api}/subscriptions/{sub_id}").json()["notification"]
        deadline = time.time() + 5
        while status["timesSent"] < 3 and time.time() < deadline:
            time.sleep(0.1)
            status = requests.get(f"{api}/subscriptions/{sub_id}").json()["notification"]
        assert status["timesSent"] == 3 and status["status"] == "ok"
    finally:
        sub.close()


def test_unreachable_broker_is_reported_failed(kizuna):
    api = kizuna.ngsi
    dead = free_port()  # nothing listens here
    body = {
        "type": "Subscription",
        "entities": [{"type": "Lamp"}],
        "notification": {"endpoint": {"uri": f"mqtt://127.0.0.1:{dead}/x", "accept": "application/json"}},
    }
    r = requests.post(f"{api}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    sub_id = r.headers["Location"].rsplit("/", 1)[1]
    r = requests.post(f"{api}/entities", json={"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "on": {"type": "Property", "value": True}})
    assert r.status_code == 201
    deadline = time.time() + 10
    n = {}
    while time.time() < deadline:
        n = requests.get(f"{api}/subscriptions/{sub_id}").json()["notification"]
        if n.get("timesFailed", 0) >= 1:
            break
        time.sleep(0.1)
    assert n["timesFailed"] >= 1 and n["timesSent"] == 0
    assert str(dead) in n["lastFailureReason"]
    assert n["pendingNotifications"] == 1  # kept, not dropped
