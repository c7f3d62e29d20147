//! The Atom 1.0 feed (RFC 4287) of a tenant's CAP messages, as public CAP aggregators read
//! it: one `entry` per message, newest first, each with the alert's URN as `id`, the
//! headline (else the event) as `title`, `sent` as `updated`, a `summary`, and a
//! `<link rel="alternate" type="application/cap+xml">` to the CAP XML.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::entity::{encode, Stored};

/// The Atom namespace.
pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

fn text(map: &serde_json::Map<String, serde_json::Value>, lang: &str) -> Option<String> {
    map.get(lang).and_then(|v| v.as_str()).map(str::to_string)
}

/// The feed. `base`: the absolute URL prefix of the alerts API (`http://host/alerts/v1`);
/// `alerts`: newest first.
pub fn feed(tenant: &str, base: &str, alerts: &[Stored], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut w = Writer::new(Vec::new());
    let _ = write_feed(&mut w, tenant, base, alerts, now);
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

fn simple(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(value)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn link(w: &mut Writer<Vec<u8>>, rel: &str, ty: &str, href: &str) -> std::io::Result<()> {
    let el = BytesStart::new("link").with_attributes([("rel", rel), ("type", ty), ("href", href)]);
    w.write_event(Event::Empty(el))
}

fn write_feed(
    w: &mut Writer<Vec<u8>>,
    tenant: &str,
    base: &str,
    alerts: &[Stored],
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(BytesStart::new("feed").with_attributes([("xmlns", ATOM_NS)])))?;
    let name = if tenant.is_empty() { "default" } else { tenant };
    simple(w, "id", &format!("urn:kizuna:alerts:{}", encode(name)))?;
    simple(w, "title", &format!("Kizuna CAP alerts ({name})"))?;
    let updated = alerts
        .first()
        .map(|s| s.alert.sent.to_string())
        .unwrap_or_else(|| now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    simple(w, "updated", &updated)?;
    w.write_event(Event::Start(BytesStart::new("author")))?;
    simple(w, "name", &format!("Kizuna ({name})"))?;
    w.write_event(Event::End(BytesEnd::new("author")))?;
    link(w, "self", "application/atom+xml", &format!("{base}/feed.atom"))?;
    for s in alerts {
        let a = &s.alert;
        let d = &s.derived;
        w.write_event(Event::Start(BytesStart::new("entry")))?;
        simple(w, "id", &s.entity.id)?;
        let title = text(&d.headline, "ja")
            .or_else(|| text(&d.headline, "en"))
            .or_else(|| d.headline.values().find_map(|v| v.as_str().map(str::to_string)))
            .or_else(|| text(&d.event, "ja"))
            .or_else(|| d.event.values().find_map(|v| v.as_str().map(str::to_string)))
            .unwrap_or_else(|| format!("{} {}", a.msg_type, a.identifier));
        simple(w, "title", &title)?;
        simple(w, "updated", &a.sent.to_string())?;
        simple(w, "published", &a.sent.to_string())?;
        let mut summary = vec![format!("{} / {} / {}", a.msg_type, a.status, a.scope)];
        if let Some(i) = a.info.first() {
            summary.push(format!("{} / {} / {}", i.severity, i.urgency, i.certainty));
        }
        if let Some(l) = d.warning_level {
            summary.push(format!("警戒レベル {l}"));
        }
        if !d.area_desc.is_empty() {
            summary.push(d.area_desc.join("; "));
        }
        if let Some(e) = d.expires {
            summary.push(format!("expires {e}"));
        }
        if let Some(n) = &a.note {
            summary.push(n.clone());
        }
        simple(w, "summary", &summary.join(" — "))?;
        let href = format!("{base}/alerts/{}", encode(&a.identifier));
        link(w, "alternate", "application/cap+xml", &href)?;
        w.write_event(Event::End(BytesEnd::new("entry")))?;
    }
    w.write_event(Event::End(BytesEnd::new("feed")))
}
