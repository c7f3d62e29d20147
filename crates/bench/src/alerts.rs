//! 7a–7b: the alerts API (`/alerts/v1`, issue 7), on a server without
//! `--dev-open-access`, with a tenant administrator's token from the server's built-in
//! issuer. Each part has a tenant of its own, so 7b's alerts reach no medium.
//!
//! - 7a: [`MEDIA`] media (`POST /alerts/v1/media`, format `cap+xml`), even ones for the
//!   whole tenant, odd ones for the municipality 102016, each POSTing to its own path
//!   `/m/{i}` of one in-process receiver, which reads the CAP `<identifier>` out of each
//!   body (`bench-7a-{k}`). Alerts (Japanese shorthand, `evacuation-order`, code 102016
//!   and a small polygon, status Exercise) are issued one at a time; each is timed from
//!   the 201 of `POST /alerts/v1/alerts` (its whole body read) to its arrival at the
//!   first and at the last of the media (0 if before the 201).
//! - 7b: [`HERE_ALERTS`] alerts (`--quick`: [`HERE_ALERTS_QUICK`]), each a lon/lat-aligned
//!   square of side 1–3 km (corners on a 1e-6° grid) centred uniformly over geo.rs's
//!   40 km × 40 km square, issued by a few concurrent clients (bodies built before the
//!   clock); then `GET /alerts/v1/here?lat=&lon=` from random points on the 1e-6° grid
//!   offset by half a step (never on an edge), sequential. The true set of alerts
//!   containing each point is computed here and compared with the identifiers answered. Baseline: the NGSI-LD
//!   geo-query `type=Alert&georel=intersects&geometry=Point` over the same alert
//!   entities, same points, `count=true`, its count checked likewise.

use std::cell::Cell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use kizuna_auth::{BuiltinIssuer, TokenRequest};
use kizuna_consent::Role;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use tokio::sync::mpsc::{self, UnboundedReceiver};

use crate::data::Rng;
use crate::load::{self, Latencies, Outcome};
use crate::report::{int, ms, Row};
use crate::servers::{self, Running};
use crate::{client, geo, Ctx};

/// Media registered in 7a.
const MEDIA: usize = 100;
/// Alerts with polygons in 7b.
const HERE_ALERTS: usize = 1000;
/// Alerts with polygons in 7b of a `--quick` run (a smoke run: issuing is the slow part,
/// about 10 minutes for 1,000 in a debug build).
const HERE_ALERTS_QUICK: usize = 200;
/// Concurrent clients issuing 7b's alerts.
const ISSUE_CLIENTS: usize = 4;
const TENANT_A: &str = "alerts-7a";
const TENANT_B: &str = "alerts-7b";
const PARTY: &str = "urn:kizuna:party:bench-city";
/// The municipality of every alert (前橋市).
const CODE: &str = "102016";

/// One CAP message received by a medium.
#[derive(Debug, Clone, Copy)]
struct Receipt {
    at: Instant,
    medium: u32,
    /// `k` of the identifier `bench-7a-{k}`, if the body had one.
    alert: Option<u64>,
}

/// The number `k` of `<identifier>bench-7a-{k}</identifier>` in a CAP XML body.
fn alert_number(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<identifier>")? + "<identifier>".len();
    let end = start + text[start..].find("</identifier>")?;
    text[start..end].trim().strip_prefix("bench-7a-")?.parse().ok()
}

/// The media's receiver: `POST /m/{i}` records the arrival, answers 204 at once.
async fn media_receiver() -> anyhow::Result<(Running, UnboundedReceiver<Receipt>)> {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;

    async fn received(
        State(tx): State<mpsc::UnboundedSender<Receipt>>,
        Path(medium): Path<u32>,
        body: Bytes,
    ) -> StatusCode {
        let at = Instant::now();
        let _ = tx.send(Receipt { at, medium, alert: alert_number(&body) });
        StatusCode::NO_CONTENT
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route("/m/{medium}", post(received)).with_state(tx);
    Ok((servers::serve(app, "the media receiver").await?, rx))
}

/// Runs 7a and 7b on one server.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let dir = cx.root.join("kizuna-alerts");
    let (k, store) = servers::kizuna_with_store(&dir).await?;
    let (recv, receipts) = media_receiver().await?;
    let result = phases(cx, &k.base, &dir, &recv.base, receipts).await;
    drop(store);
    k.stop().await.context("stopping the alerts server")?;
    recv.stop().await.context("stopping the media receiver")?;
    result
}

fn p50_p99(l: &Latencies) -> String {
    format!("p50 {} / p99 {} ms", ms(l.percentile_ms(50.0)), ms(l.percentile_ms(99.0)))
}

/// A shorthand alert: evacuation order for 102016 with one polygon (`[lat, lon]` pairs).
fn alert_body(identifier: &str, ring: &[[f64; 2]]) -> String {
    json!({
        "kind": "evacuation-order",
        "identifier": identifier,
        "areas": [{"code": CODE, "polygon": ring}],
        "status": "Exercise",
    })
    .to_string()
}

async fn phases(
    cx: &mut Ctx,
    base: &str,
    dir: &std::path::Path,
    receiver: &str,
    mut receipts: UnboundedReceiver<Receipt>,
) -> anyhow::Result<()> {
    let p = cx.p.clone();
    let issuer = BuiltinIssuer::load_or_create(dir).context("loading the server's built-in issuer")?;
    let token = |tenant: &str| -> anyhow::Result<String> {
        let req = TokenRequest {
            tenant: tenant.into(),
            party: Some(PARTY.into()),
            role: Role::TenantAdmin,
            subject: None,
            purpose: None,
            ttl: Duration::from_secs(6 * 3600),
        };
        Ok(format!("Bearer {}", issuer.issue(&req).context("issuing a token")?))
    };
    let (auth_a, auth_b) = (token(TENANT_A)?, token(TENANT_B)?);
    let http = client(16)?;
    let alerts_url = format!("{base}/alerts/v1/alerts");
    let (hs_p50, hs_p99) = (cx.hello.seq_p50, cx.hello.seq_p99);

    // ---- 7a: distribution latency to 100 media ----
    eprintln!("[7a] registering {MEDIA} media …");
    let mut reg = Outcome::default();
    for i in 0..MEDIA {
        let codes: Vec<&str> = if i % 2 == 0 { vec![] } else { vec![CODE] };
        let body = json!({"name": format!("bench medium {i}"), "endpoint": format!("{receiver}/m/{i}"),
                          "areas": {"geocodes": codes}, "minLevel": null, "format": "cap+xml"});
        let t0 = Instant::now();
        let r = load::send(
            http.post(format!("{base}/alerts/v1/media"))
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, &auth_a)
                .header("NGSILD-Tenant", TENANT_A)
                .body(body.to_string()),
        )
        .await;
        reg.record(t0, r);
    }
    cx.errors.note("7a registering media", &reg);
    anyhow::ensure!(reg.errors == 0, "7a: media registration failed");
    let count = if p.quick { 10 } else { 50 };
    let warm = 1;
    // A ~1 km square in 前橋市.
    let ring = [[36.385, 139.055], [36.385, 139.066], [36.394, 139.066], [36.394, 139.055], [36.385, 139.055]];
    eprintln!("[7a] {count} alerts issued one at a time (+{warm} warm-up), each to {MEDIA} media …");
    let (mut ack, mut first, mut last) = (Latencies::default(), Latencies::default(), Latencies::default());
    let mut outcome = Outcome::default();
    let (mut missing, mut stray) = (0usize, 0usize);
    let timeout = Duration::from_secs(30);
    let start = Instant::now();
    for k in 0..(warm + count) as u64 {
        let body = alert_body(&format!("bench-7a-{k}"), &ring);
        let t0 = Instant::now();
        let r = load::fetch(
            http.post(&alerts_url)
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, &auth_a)
                .header("NGSILD-Tenant", TENANT_A)
                .body(body),
        )
        .await;
        let acked = Instant::now();
        if let Err(e) = r {
            outcome.record(t0, Err(format!("issuing alert {k}: {e}")));
            continue;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen: HashSet<u32> = HashSet::new();
        let (mut f, mut l): (Option<Instant>, Option<Instant>) = (None, None);
        while seen.len() < MEDIA {
            match tokio::time::timeout_at(deadline, receipts.recv()).await {
                Ok(Some(rc)) if rc.alert == Some(k) => {
                    if seen.insert(rc.medium) {
                        f = Some(f.map_or(rc.at, |x| x.min(rc.at)));
                        l = Some(l.map_or(rc.at, |x| x.max(rc.at)));
                    }
                }
                Ok(Some(_)) => stray += 1,
                Ok(None) => anyhow::bail!("the media receiver stopped"),
                Err(_) => break,
            }
        }
        if seen.len() < MEDIA {
            missing += MEDIA - seen.len();
            outcome
                .record(t0, Err(format!("alert {k}: {} of {MEDIA} media received it within {timeout:?}", seen.len())));
            continue;
        }
        if k >= warm as u64 {
            let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(acked)).unwrap_or_default();
            outcome.ok += 1;
            ack.push(acked - t0);
            first.push(since(f));
            last.push(since(l));
        }
    }
    outcome.elapsed = start.elapsed();
    // Late or duplicate deliveries.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while receipts.try_recv().is_ok() {
        stray += 1;
    }
    cx.errors.note("7a distribution", &outcome);
    if missing > 0 {
        cx.errors.other(format!("7a: {missing} (alert, medium) deliveries missing"));
    }
    if stray > 0 {
        cx.errors.other(format!("7a: {stray} receipts not expected (duplicates or late)"));
    }
    cx.rows.push(
        Row::new(format!("7a POST /alerts 201 → all {MEDIA} media received ({} alerts)", last.len()), p50_p99(&last))
            .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), ""),
    );
    cx.rows.push(Row::new("   … → first medium received", p50_p99(&first)));
    cx.rows.push(Row::new("   POST /alerts round trip", p50_p99(&ack)));
    cx.rows.push(Row::new(
        "   deliveries checked (alert × medium)",
        format!("{} of {}", int((outcome.ok as usize * MEDIA) as f64), int((count * MEDIA) as f64)),
    ));

    // ---- 7b: which alerts apply here, 1,000 polygons ----
    let here_alerts = if p.quick { HERE_ALERTS_QUICK } else { HERE_ALERTS };
    let (lon0, lat0, w, h) = geo::area();
    let (m_lat, m_lon) = geo::metres_per_degree(geo::CENTER_LAT);
    let r6 = |x: f64| (x * 1e6).round() / 1e6;
    let mut rng = Rng::new(0x7B_0001);
    // (min_lon, min_lat, max_lon, max_lat) per alert.
    let squares: Vec<(f64, f64, f64, f64)> = (0..here_alerts)
        .map(|_| {
            let cx_ = lon0 + w * rng.below(1_000_000) as f64 / 1e6;
            let cy = lat0 + h * rng.below(1_000_000) as f64 / 1e6;
            let half = (1000.0 + rng.below(2001) as f64) / 2.0;
            let (dl, dp) = (half / m_lon, half / m_lat);
            (r6(cx_ - dl), r6(cy - dp), r6(cx_ + dl), r6(cy + dp))
        })
        .collect();
    let ids: Vec<String> = (0..here_alerts).map(|i| format!("bench-7b-{i:04}")).collect();
    let bodies: Vec<Bytes> = squares
        .iter()
        .zip(&ids)
        .map(|(&(a, b, c, d), id)| Bytes::from(alert_body(id, &[[b, a], [b, c], [d, c], [d, a], [b, a]])))
        .collect();
    eprintln!("[7b] issuing {here_alerts} alerts with polygons, {ISSUE_CLIENTS} clients …");
    let issued = {
        let (http, url, auth) = (http.clone(), alerts_url.clone(), auth_b.clone());
        load::drain(ISSUE_CLIENTS, bodies, move |b| {
            http.post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, &auth)
                .header("NGSILD-Tenant", TENANT_B)
                .body(b)
        })
        .await?
    };
    cx.errors.note("7b issuing alerts", &issued);
    cx.rows.push(Row::new(
        format!("7b issue {} alerts with polygons, {ISSUE_CLIENTS} clients", int(here_alerts as f64)),
        format!("{:.1} alerts/s ({:.1} s)", issued.rate(), issued.elapsed.as_secs_f64()),
    ));
    // Query points on the 1e-6° grid shifted by half a step: never on an edge.
    let points: Vec<(f64, f64)> = (0..p.queries)
        .map(|_| {
            let lon = ((lon0 * 1e6).ceil() + rng.below((w * 1e6) as u64) as f64 + 0.5) / 1e6;
            let lat = ((lat0 * 1e6).ceil() + rng.below((h * 1e6) as u64) as f64 + 0.5) / 1e6;
            (lon, lat)
        })
        .collect();
    let truth: Vec<HashSet<&str>> = points
        .iter()
        .map(|&(x, y)| {
            squares
                .iter()
                .zip(&ids)
                .filter(|(&(a, b, c, d), _)| a < x && x < c && b < y && y < d)
                .map(|(_, id)| id.as_str())
                .collect()
        })
        .collect();
    let mean_true = truth.iter().map(HashSet::len).sum::<usize>() as f64 / truth.len().max(1) as f64;
    let budget = Duration::from_secs(if p.quick { 30 } else { 90 });

    eprintln!("[7b] GET /alerts/v1/here from {} random points, sequential …", points.len());
    let (next, returned, wrong) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let mut wrong_samples: Vec<String> = Vec::new();
    let here_url = format!("{base}/alerts/v1/here");
    let here = load::sequential_checked(
        points.len(),
        budget,
        || {
            let (lon, lat) = points[next.get() % points.len()];
            next.set(next.get() + 1);
            http.get(&here_url).query(&[
                ("lat", lat.to_string()),
                ("lon", lon.to_string()),
                ("tenant", TENANT_B.into()),
            ])
        },
        |_, body| {
            let i = next.get() - 1;
            let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
            let got: HashSet<&str> = v["alerts"]
                .as_array()
                .ok_or("no alerts array")?
                .iter()
                .filter_map(|a| a["identifier"].as_str())
                .collect();
            returned.set(returned.get() + got.len());
            if got != truth[i] {
                wrong.set(wrong.get() + 1);
                if wrong_samples.len() < 5 {
                    let (lon, lat) = points[i];
                    wrong_samples.push(format!(
                        "7b /here at {lat},{lon}: {} alerts answered, {} true",
                        got.len(),
                        truth[i].len()
                    ));
                }
            }
            Ok(())
        },
    )
    .await;
    cx.errors.note("7b GET /here", &here);
    let here_n = here.ok.max(1) as f64;
    let here_mean = returned.get() as f64 / here_n;

    eprintln!("[7b] baseline: NGSI-LD georel=intersects from the same points …");
    let (next, counted, wrong_ld) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let ngsi_url = format!("{base}/ngsi-ld/v1/entities");
    let ld = load::sequential_checked(
        points.len(),
        budget,
        || {
            let (lon, lat) = points[next.get() % points.len()];
            next.set(next.get() + 1);
            http.get(&ngsi_url)
                .query(&[
                    ("type", "Alert".to_string()),
                    ("georel", "intersects".into()),
                    ("geometry", "Point".into()),
                    ("coordinates", format!("[{lon},{lat}]")),
                    ("count", "true".into()),
                ])
                .header(AUTHORIZATION, &auth_b)
                .header("NGSILD-Tenant", TENANT_B)
        },
        |headers, body| {
            let i = next.get() - 1;
            let n: usize = headers
                .get("NGSILD-Results-Count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .ok_or("no NGSILD-Results-Count")?;
            let page: Vec<Value> = serde_json::from_slice(body).map_err(|e| format!("not a JSON array: {e}"))?;
            counted.set(counted.get() + n);
            if n != truth[i].len() || page.len() != n.min(20) {
                wrong_ld.set(wrong_ld.get() + 1);
                if wrong_samples.len() < 10 {
                    let (lon, lat) = points[i];
                    wrong_samples.push(format!(
                        "7b NGSI-LD intersects at {lat},{lon}: count {n} ({} on the page), {} true",
                        page.len(),
                        truth[i].len()
                    ));
                }
            }
            Ok(())
        },
    )
    .await;
    cx.errors.note("7b NGSI-LD intersects", &ld);
    let ld_mean = counted.get() as f64 / ld.ok.max(1) as f64;
    for s in wrong_samples {
        cx.mismatches.push(s.clone());
    }
    if wrong.get() > 0 {
        cx.errors.other(format!("7b /here: {} of {} answers differ from the true set", wrong.get(), here.ok));
    }
    if wrong_ld.get() > 0 {
        cx.errors.other(format!("7b NGSI-LD intersects: {} of {} counts differ from the truth", wrong_ld.get(), ld.ok));
    }
    let (h50, h99) = (here.latencies.percentile_ms(50.0), here.latencies.percentile_ms(99.0));
    let (l50, l99) = (ld.latencies.percentile_ms(50.0), ld.latencies.percentile_ms(99.0));
    cx.rows.push(
        Row::new(
            format!("7b GET /here, {} active polygons ({} points)", int(here_alerts as f64), here.latencies.len()),
            format!("p50 {} / p99 {} ms", ms(h50), ms(h99)),
        )
        .against(
            format!("p50 {} / p99 {} ms (NGSI-LD intersects)", ms(l50), ms(l99)),
            format!("{:.1}× / {:.1}×", h50 / l50.max(1e-9), h99 / l99.max(1e-9)),
        ),
    );
    cx.rows.push(Row::new(
        "   mean alerts per point: /here · NGSI-LD count · true",
        format!("{here_mean:.2} · {ld_mean:.2} · {mean_true:.2}"),
    ));
    cx.rows.push(Row::new(
        "   answers checked against the truth (wrong)",
        format!("/here {} ({}), NGSI-LD {} ({})", here.ok, wrong.get(), ld.ok, wrong_ld.get()),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_of_a_cap_body() {
        let xml = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>bench-7a-42</identifier></alert>";
        assert_eq!(alert_number(xml.as_bytes()), Some(42));
        assert_eq!(alert_number(b"<identifier>other</identifier>"), None);
    }
}
