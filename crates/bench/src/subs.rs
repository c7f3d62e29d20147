//! 5a–5c: subscriptions and notifications, delivered to the in-process receiver of
//! [`servers::receiver`] on 127.0.0.1.
//!
//! - The probe entity `urn:ngsi-ld:Probe:0` has a `seq` Property; every update sets it
//!   to a new number, and each matching subscription (on type `Probe`, watching `seq`,
//!   notifying `seq` only) posts to `/notify/{its number}`, so each receipt names the
//!   update and the subscription it belongs to.
//! - Latency is from the moment the 204 of `PATCH /entities/{id}/attrs` has been read
//!   to the receipt (its whole body read) at the receiver — 0 if the notification came
//!   first. With many subscriptions it is the time to the *last* receipt.
//! - 5c's writes go to 1,000 `Station` entities; its non-matching subscriptions are on
//!   type `Elsewhere`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::data::Rng;
use crate::load::{self, Latencies, Outcome};
use crate::report::{int, judge, ms, pct, Row};
use crate::servers::{self, Arrival};
use crate::{client, rate_p50_p99, Ctx, Params};

const PROBE: &str = "urn:ngsi-ld:Probe:0";
/// Entities written in 5c.
const STATIONS: u64 = 1000;
/// Concurrent clients creating or deleting subscriptions.
const SETUP_CLIENTS: usize = 8;

struct Env<'a> {
    p: &'a Params,
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/ngsi-ld/v1`.
    ngsi: String,
    /// The receiver's base URL.
    receiver: String,
    arrivals: UnboundedReceiver<Arrival>,
    /// The next `seq` value (strictly increasing over the whole run).
    seq: u64,
}

/// Runs 5c, 5a and 5b (in that order: 5c needs a store with no matching subscription).
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let p = cx.p.clone();
    let (recv, arrivals) = servers::receiver().await?;
    let dir = cx.root.join("kizuna-subs");
    let k = servers::kizuna(&dir).await?;
    let mut env = Env {
        p: &p,
        http: client(p.clients.max(SETUP_CLIENTS))?,
        ngsi: format!("{}/ngsi-ld/v1", k.base),
        receiver: recv.base.clone(),
        arrivals,
        seq: 1,
    };
    let result = phases(cx, &mut env).await;
    drop(env);
    k.stop().await.context("stopping the subscriptions server")?;
    recv.stop().await.context("stopping the receiver")?;
    result
}

fn json_post(http: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    http.post(url).header(CONTENT_TYPE, "application/json").body(body)
}

fn probe_sub(receiver: &str, i: usize) -> Bytes {
    Bytes::from(
        json!({
            "id": format!("urn:ngsi-ld:Subscription:bench-probe-{i:05}"),
            "type": "Subscription",
            "entities": [{"type": "Probe"}],
            "watchedAttributes": ["seq"],
            "notification": {"attributes": ["seq"], "format": "normalized",
                             "endpoint": {"uri": format!("{receiver}/notify/{i}"), "accept": "application/json"}}
        })
        .to_string(),
    )
}

fn other_sub_id(i: usize) -> String {
    format!("urn:ngsi-ld:Subscription:bench-other-{i:05}")
}

fn other_sub(receiver: &str, i: usize) -> Bytes {
    Bytes::from(
        json!({
            "id": other_sub_id(i),
            "type": "Subscription",
            "entities": [{"type": "Elsewhere"}],
            "watchedAttributes": ["temperature"],
            "notification": {"endpoint": {"uri": format!("{receiver}/notify/{}", 100_000 + i), "accept": "application/json"}}
        })
        .to_string(),
    )
}

/// Throws away the arrivals so far; how many there were.
fn flush(arrivals: &mut UnboundedReceiver<Arrival>) -> usize {
    let mut n = 0;
    while arrivals.try_recv().is_ok() {
        n += 1;
    }
    n
}

/// Times of one update: PATCH round trip, then first and last receipt after the 204.
struct Timing {
    ack: Duration,
    first: Duration,
    last: Duration,
}

/// Sets the probe's `seq` to a new value and waits (at most `timeout`) for `expect`
/// distinct subscriptions to deliver it.
async fn update_and_wait(env: &mut Env<'_>, expect: usize, timeout: Duration) -> Result<Timing, String> {
    let k = env.seq;
    env.seq += 1;
    let body = json!({"seq": {"type": "Property", "value": k}}).to_string();
    let t0 = Instant::now();
    load::fetch(
        env.http
            .patch(format!("{}/entities/{PROBE}/attrs", env.ngsi))
            .header(CONTENT_TYPE, "application/json")
            .body(body),
    )
    .await?;
    let acked = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen: HashSet<u32> = HashSet::new();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    while seen.len() < expect {
        match tokio::time::timeout_at(deadline, env.arrivals.recv()).await {
            Ok(Some(a)) if a.seq == Some(k) => {
                if seen.insert(a.sub) {
                    first = Some(first.map_or(a.at, |f| f.min(a.at)));
                    last = Some(last.map_or(a.at, |l| l.max(a.at)));
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the receiver stopped".into()),
            Err(_) => return Err(format!("update {k}: {} of {expect} notifications within {timeout:?}", seen.len())),
        }
    }
    let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(acked)).unwrap_or_default();
    Ok(Timing { ack: acked - t0, first: since(first), last: since(last) })
}

/// `count` timed updates (at most `budget`, at least 3), after `warm` unrecorded ones.
async fn latency_run(
    env: &mut Env<'_>,
    expect: usize,
    warm: usize,
    count: usize,
    budget: Duration,
    timeout: Duration,
) -> (Latencies, Latencies, Latencies, Outcome) {
    let (mut ack, mut first, mut last) = (Latencies::default(), Latencies::default(), Latencies::default());
    let mut out = Outcome::default();
    let start = Instant::now();
    for n in 0..warm + count {
        if n >= warm + 3 && start.elapsed() > budget {
            break;
        }
        let t0 = Instant::now();
        match update_and_wait(env, expect, timeout).await {
            Ok(t) if n >= warm => {
                out.ok += 1;
                ack.push(t.ack);
                first.push(t.first);
                last.push(t.last);
            }
            Ok(_) => {}
            Err(e) => {
                out.record(t0, Err(e));
                // What is still queued would spoil the next figures: stop here.
                break;
            }
        }
    }
    out.elapsed = start.elapsed();
    (ack, first, last, out)
}

fn p50_p99(l: &Latencies) -> String {
    format!("p50 {} / p99 {} ms", ms(l.percentile_ms(50.0)), ms(l.percentile_ms(99.0)))
}

/// Waits until no notification has arrived for `quiet` (at most `limit`); how many came.
async fn settle(arrivals: &mut UnboundedReceiver<Arrival>, quiet: Duration, limit: Duration) -> usize {
    let end = tokio::time::Instant::now() + limit;
    let mut n = 0;
    while tokio::time::Instant::now() < end {
        match tokio::time::timeout(quiet, arrivals.recv()).await {
            Ok(Some(_)) => n += 1,
            _ => break,
        }
    }
    n
}

async fn phases(cx: &mut Ctx, env: &mut Env<'_>) -> anyhow::Result<()> {
    let p = env.p;
    let f = p.fanout;
    let (hs_p50, hs_p99) = (cx.hello.seq_p50, cx.hello.seq_p99);

    // ---- 5c: write throughput with non-matching subscriptions ----
    let stations: Vec<String> = (0..STATIONS)
        .map(|i| {
            json!({"id": format!("urn:ngsi-ld:Station:{i:05}"), "type": "Station",
                   "temperature": {"type": "Property", "value": 20.0}})
            .to_string()
        })
        .collect();
    load::fetch(json_post(
        &env.http,
        &format!("{}/entityOperations/upsert", env.ngsi),
        format!("[{}]", stations.join(",")),
    ))
    .await
    .map_err(|e| anyhow::anyhow!("creating the stations: {e}"))?;
    let make = {
        let (http, ngsi) = (env.http.clone(), env.ngsi.clone());
        move |rng: &mut Rng| {
            let id = format!("urn:ngsi-ld:Station:{:05}", rng.below(STATIONS));
            let body =
                format!("{{\"temperature\":{{\"type\":\"Property\",\"value\":{}}}}}", rng.below(5000) as f64 / 100.0);
            http.patch(format!("{ngsi}/entities/{id}/attrs")).header(CONTENT_TYPE, "application/json").body(body)
        }
    };
    let timed = |label: String| {
        let make = make.clone();
        async move {
            eprintln!("[5c] Kizuna PATCH /entities/{{id}}/attrs, {} clients, {label} …", p.clients);
            load::closed_loop(p.clients, p.warmup(), make.clone()).await?;
            load::closed_loop(p.clients, p.duration, make).await
        }
    };
    let none_a = timed("no subscriptions".into()).await?;
    cx.errors.note("5c writes, no subscriptions (before)", &none_a);
    eprintln!("[5c] creating {f} non-matching subscriptions …");
    let made = {
        let (http, url) = (env.http.clone(), format!("{}/subscriptions", env.ngsi));
        let bodies = (0..f).map(|i| other_sub(&env.receiver, i)).collect();
        load::drain(SETUP_CLIENTS, bodies, move |b| json_post(&http, &url, b)).await?
    };
    cx.errors.note("5c creating non-matching subscriptions", &made);
    let with = timed(format!("{f} non-matching subscriptions")).await?;
    cx.errors.note("5c writes, non-matching subscriptions", &with);
    let mut deletes: Vec<Vec<reqwest::RequestBuilder>> = (0..SETUP_CLIENTS).map(|_| Vec::new()).collect();
    for i in 0..f {
        deletes[i % SETUP_CLIENTS].push(env.http.delete(format!("{}/subscriptions/{}", env.ngsi, other_sub_id(i))));
    }
    let deleted = load::lanes(deletes, Duration::from_secs(120)).await?;
    for d in &deleted {
        cx.errors.note("5c deleting non-matching subscriptions", d);
    }
    let none_b = timed("no subscriptions (again)".into()).await?;
    cx.errors.note("5c writes, no subscriptions (after)", &none_b);
    let stray = flush(&mut env.arrivals);
    if stray > 0 {
        cx.errors.other(format!("5c: {stray} notifications arrived, none expected (no subscription matched)"));
    }
    let (ra, a50, a99) = rate_p50_p99(&none_a);
    let (rb, _, _) = rate_p50_p99(&none_b);
    let (rw, w50, w99) = rate_p50_p99(&with);
    let r0 = (ra + rb) / 2.0;
    cx.rows.push(
        Row::new(
            format!("5c PATCH /attrs, {} clients, no subscriptions", p.clients),
            format!("{} / {} writes/s (before / after)", int(ra), int(rb)),
        )
        .against(format!("{} req/s (1a)", int(cx.hello.rate)), pct(r0 / cx.hello.rate)),
    );
    cx.rows.push(
        Row::new("   latency p50 / p99 (before)", format!("{} / {} ms", ms(a50), ms(a99)))
            .against(format!("{} / {} ms (1a)", ms(cx.hello.p50), ms(cx.hello.p99)), ""),
    );
    cx.rows.push(
        Row::new(format!("5c … with {} non-matching subscriptions", int(f as f64)), format!("{} writes/s", int(rw)))
            .against(format!("{} writes/s (mean of none)", int(r0)), pct(rw / r0))
            .judged("≥ 90%", judge(rw / r0 >= 0.9, &[&with, &none_a, &none_b]).requiring(stray == 0)),
    );
    cx.rows.push(Row::new("   latency p50 / p99", format!("{} / {} ms", ms(w50), ms(w99))));

    // ---- 5a: latency, one matching subscription ----
    let probe = json!({"id": PROBE, "type": "Probe", "seq": {"type": "Property", "value": 0}}).to_string();
    load::fetch(json_post(&env.http, &format!("{}/entities", env.ngsi), probe))
        .await
        .map_err(|e| anyhow::anyhow!("creating the probe: {e}"))?;
    load::fetch(json_post(&env.http, &format!("{}/subscriptions", env.ngsi), probe_sub(&env.receiver, 0)))
        .await
        .map_err(|e| anyhow::anyhow!("creating the probe subscription: {e}"))?;
    settle(&mut env.arrivals, Duration::from_millis(300), Duration::from_secs(5)).await;
    let updates = if p.quick { 50 } else { 500 };
    eprintln!("[5a] notification latency, 1 subscription, {updates} sequential updates …");
    let (ack, _first, last, o) =
        latency_run(env, 1, 5, updates, Duration::from_secs(if p.quick { 20 } else { 60 }), Duration::from_secs(10))
            .await;
    cx.errors.note("5a latency, 1 subscription", &o);
    cx.rows.push(
        Row::new(format!("5a PATCH ack → notification received, 1 sub ({} updates)", last.len()), p50_p99(&last))
            .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), ""),
    );
    cx.rows.push(Row::new("   PATCH round trip", p50_p99(&ack)));

    // ---- 5a: latency, many matching subscriptions ----
    eprintln!("[5a] creating {} more matching subscriptions …", f.saturating_sub(1));
    let made = {
        let (http, url) = (env.http.clone(), format!("{}/subscriptions", env.ngsi));
        let bodies = (1..f).map(|i| probe_sub(&env.receiver, i)).collect();
        load::drain(SETUP_CLIENTS, bodies, move |b| json_post(&http, &url, b)).await?
    };
    cx.errors.note("5a creating matching subscriptions", &made);
    settle(&mut env.arrivals, Duration::from_millis(300), Duration::from_secs(10)).await;
    let fan_updates = if p.quick { 5 } else { 30 };
    eprintln!("[5a] notification latency, {f} subscriptions, {fan_updates} sequential updates …");
    let (ack, first, last, o) = latency_run(
        env,
        f,
        1,
        fan_updates,
        Duration::from_secs(if p.quick { 30 } else { 120 }),
        Duration::from_secs(60),
    )
    .await;
    cx.errors.note(&format!("5a latency, {f} subscriptions"), &o);
    cx.rows.push(
        Row::new(
            format!("5a PATCH ack → last of {} notifications ({} updates)", int(f as f64), last.len()),
            p50_p99(&last),
        )
        .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), ""),
    );
    cx.rows.push(Row::new("   … → first of them", p50_p99(&first)));
    cx.rows.push(Row::new(format!("   PATCH round trip ({} notifications queued)", int(f as f64)), p50_p99(&ack)));
    let fan_ok = o.errors == 0;

    // ---- 5b: sustained notifications/s ----
    if !fan_ok {
        settle(&mut env.arrivals, Duration::from_secs(2), Duration::from_secs(60)).await;
    }
    flush(&mut env.arrivals);
    let burst: u64 = if p.quick { 3 } else { 20 };
    let expected = burst as usize * f;
    eprintln!("[5b] burst of {burst} updates × {f} subscriptions = {} notifications …", int(expected as f64));
    let first_seq = env.seq;
    let start = Instant::now();
    let mut write_errors = Outcome::default();
    for _ in 0..burst {
        let k = env.seq;
        env.seq += 1;
        let body = json!({"seq": {"type": "Property", "value": k}}).to_string();
        let t0 = Instant::now();
        let r = load::send(
            env.http
                .patch(format!("{}/entities/{PROBE}/attrs", env.ngsi))
                .header(CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await;
        write_errors.record(t0, r);
    }
    let writes_done = start.elapsed();
    cx.errors.note("5b burst writes", &write_errors);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(if p.quick { 30 } else { 90 });
    let mut seen: HashSet<(u32, u64)> = HashSet::new();
    let mut per_second: Vec<u64> = Vec::new();
    let mut last_at = start;
    while seen.len() < expected {
        match tokio::time::timeout_at(deadline, env.arrivals.recv()).await {
            Ok(Some(a)) => {
                if let Some(s) = a.seq.filter(|s| (first_seq..first_seq + burst).contains(s)) {
                    if seen.insert((a.sub, s)) {
                        let sec = a.at.saturating_duration_since(start).as_secs() as usize;
                        if per_second.len() <= sec {
                            per_second.resize(sec + 1, 0);
                        }
                        per_second[sec] += 1;
                        last_at = last_at.max(a.at);
                    }
                }
            }
            _ => break,
        }
    }
    let span = last_at.saturating_duration_since(start).as_secs_f64();
    let rate = if span > 0.0 { seen.len() as f64 / span } else { 0.0 };
    if seen.len() < expected {
        cx.errors.other(format!("5b: {} of {expected} notifications arrived before the deadline", seen.len()));
    }
    // Full seconds only (the last one is partial).
    let full = &per_second[..per_second.len().saturating_sub(1)];
    let (lo, hi) = (full.iter().min().copied().unwrap_or(0), full.iter().max().copied().unwrap_or(0));
    cx.rows.push(
        Row::new(
            format!("5b notifications/s, {} subs × burst of {burst} updates", int(f as f64)),
            format!(
                "{} /s ({} in {:.1} s; writes took {:.2} s)",
                int(rate),
                int(seen.len() as f64),
                span,
                writes_done.as_secs_f64()
            ),
        )
        .against(format!("{} req/s (1a)", int(cx.hello.rate)), pct(rate / cx.hello.rate)),
    );
    let spread = if full.is_empty() {
        "n/a (under 1 s)".to_string()
    } else {
        format!("{} / {}", int(lo as f64), int(hi as f64))
    };
    cx.rows.push(Row::new("   receipts per full second, min / max", spread));
    Ok(())
}
