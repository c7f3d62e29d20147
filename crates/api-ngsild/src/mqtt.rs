//! MQTT notification endpoints (`mqtt://` and `mqtts://`, ETSI GS CIM 009 §7.3 MQTT
//! binding): the notification is published to the URI's path as topic, as
//! `{"metadata": {<headers>}, "body": <notification>}`, with the QoS from
//! `notifierInfo` `MQTT-QoS` (0, 1 or 2; default 1). Delivery counts as successful once
//! the broker acknowledged the publication (for QoS 0: once it was written).
//!
//! Each delivery opens its own connection: simple and correct; notification rates
//! that need connection reuse are future work.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, Transport};
use serde_json::{Map, Value};

/// Publishes `body` with `metadata` to the topic of `uri`.
pub(crate) async fn publish(
    uri: &str,
    metadata: Map<String, Value>,
    body: Value,
    qos: u8,
    timeout: Duration,
) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
    let tls = match url.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        other => return Err(format!("{uri}: scheme {other} is not MQTT")),
    };
    let host = url.host_str().ok_or_else(|| format!("{uri}: no host"))?.to_string();
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let topic = url.path().trim_start_matches('/').to_string();
    if topic.is_empty() {
        return Err(format!("{uri}: the path must name the topic"));
    }
    let qos = match qos {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    };
    let client_id = format!("kizuna-{}", uuid::Uuid::new_v4().simple());
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(5));
    if !url.username().is_empty() {
        opts.set_credentials(url.username(), url.password().unwrap_or(""));
    }
    if tls {
        opts.set_transport(Transport::tls_with_default_config());
    }
    let payload = serde_json::json!({"metadata": metadata, "body": body}).to_string();
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.publish(topic, qos, false, payload).await.map_err(|e| format!("{uri}: {e}"))?;
    let wait = async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => return Ok(()),
                Ok(Event::Incoming(Packet::PubComp(_))) if qos == QoS::ExactlyOnce => return Ok(()),
                Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == QoS::AtMostOnce => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("{uri}: {e}")),
            }
        }
    };
    let outcome = tokio::time::timeout(timeout, wait).await.unwrap_or_else(|_| Err(format!("{uri}: timed out")));
    // Say goodbye properly; the outcome is already decided.
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    outcome
}
