//! 1b and 2a–2d: the foundation measurements (raw SQLite inserts, single creates,
//! batch upsert, retrieve, queries over the sensor data set). See the crate docs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use reqwest::header::CONTENT_TYPE;

use crate::load::Outcome;
use crate::report::{int, judge, ms, pct, Row, Verdict};
use crate::{client, data, load, rate_p50_p99, servers, sqlite, Ctx};

/// 2b's target: entities stored per second by batch upsert.
const UPSERT_TARGET: f64 = 50_000.0;

/// 2b's figure and verdict from the load of `entities` entities: entities the answers
/// say were stored per second (never more than were sent, never a wrapped subtraction).
/// Passes only if every batch was stored in full and the rate met the target.
fn upsert_figure(u: &Outcome, entities: u64) -> (f64, Verdict) {
    let secs = u.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { u.stored as f64 / secs } else { 0.0 };
    (rate, judge(rate >= UPSERT_TARGET, &[u]).requiring(u.stored == entities))
}

/// Runs 1b and 2a–2d, adding their rows to `cx`.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let p = cx.p.clone();
    let p = &p;
    let (h_rate, h_p50, h_p99) = (cx.hello.rate, cx.hello.p50, cx.hello.p99);
    let (hs_p50, hs_p99) = (cx.hello.seq_p50, cx.hello.seq_p99);
    // The data set, generated once: (id, JSON) per entity.
    let docs: Arc<Vec<(String, String)>> = Arc::new(
        (0..p.entities)
            .map(|i| {
                let id = data::entity_id(i);
                let json = data::entity_json(&id, &data::sensor(i));
                (id, json)
            })
            .collect(),
    );
    let avg_bytes = docs.iter().map(|(_, j)| j.len()).sum::<usize>() as f64 / docs.len() as f64;
    println!(
        "data set: {} entities of type {}, {:.0} bytes of JSON each on average",
        int(docs.len() as f64),
        data::TYPE,
        avg_bytes
    );
    println!();

    // ---- 1b: raw SQLite ----
    eprintln!("[1b] raw SQLite inserts …");
    let sqlite_dir = cx.root.as_path().join("sqlite");
    std::fs::create_dir_all(&sqlite_dir)?;
    let sq = {
        let (docs, dir, dur, chunk) = (Arc::clone(&docs), sqlite_dir.clone(), p.duration, p.batch_size);
        tokio::task::spawn_blocking(move || sqlite::measure(&dir, &docs, dur, chunk)).await??
    };
    cx.rows.push(Row::new(
        "1b raw SQLite autocommit (1 txn per row)",
        format!("{} rows/s ({} rows)", int(sq.autocommit), int(sq.autocommit_rows as f64)),
    ));
    cx.rows.push(Row::new(
        format!("1b raw SQLite, {} rows in 1 txn", int(p.entities as f64)),
        format!("{} rows/s", int(sq.one_txn)),
    ));
    cx.rows.push(Row::new(
        format!("1b raw SQLite, {} rows per txn", int(p.batch_size as f64)),
        format!("{} rows/s", int(sq.chunked)),
    ));

    // ---- 2a: single creates, on a store of their own ----
    eprintln!("[2a] Kizuna single creates, {} clients …", p.clients);
    let k1_dir = cx.root.as_path().join("kizuna-creates");
    let k1 = servers::kizuna(&k1_dir).await?;
    let http = client(p.clients)?;
    let counter = Arc::new(AtomicU64::new(0));
    let make = {
        let (http, url, counter) = (http.clone(), format!("{}/ngsi-ld/v1/entities", k1.base), Arc::clone(&counter));
        move |_: &mut data::Rng| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let id = format!("urn:ngsi-ld:Sensor:new-{n:09}");
            let body = data::entity_json(&id, &data::sensor(n));
            http.post(&url).header(CONTENT_TYPE, "application/json").body(body)
        }
    };
    load::closed_loop(p.clients, p.warmup(), make.clone()).await?;
    let c = load::closed_loop(p.clients, p.duration, make).await?;
    cx.errors.note("2a single creates", &c);
    drop(http);
    k1.stop().await?;
    let (c_rate, c_p50, c_p99) = rate_p50_p99(&c);
    let c_ratio = c_rate / h_rate;
    cx.rows.push(
        Row::new(format!("2a POST /entities, {} clients", p.clients), format!("{} creates/s", int(c_rate)))
            .against(format!("{} req/s (1a)", int(h_rate)), pct(c_ratio))
            .judged("≥ 25% of 1a", judge(c_ratio >= 0.25, &[&c, &cx.hello.run])),
    );
    cx.rows.push(
        Row::new("   latency p50 / p99", format!("{} / {} ms", ms(c_p50), ms(c_p99)))
            .against(format!("{} / {} ms (1a)", ms(h_p50), ms(h_p99)), ""),
    );
    cx.rows.push(
        Row::new("   vs. raw SQLite autocommit", format!("{} creates/s", int(c_rate)))
            .against(format!("{} rows/s (1b)", int(sq.autocommit)), format!("{:.2}×", c_rate / sq.autocommit)),
    );

    // ---- 2b: batch upsert of the data set ----
    eprintln!("[2b] Kizuna batch upsert of {} entities …", int(p.entities as f64));
    let k2_dir = cx.root.as_path().join("kizuna-dataset");
    let k2 = servers::kizuna(&k2_dir).await?;
    let http = client(p.clients)?;
    let batches: Vec<(Bytes, u64)> = docs
        .chunks(p.batch_size)
        .map(|part| {
            let items: Vec<&str> = part.iter().map(|(_, j)| j.as_str()).collect();
            (Bytes::from(format!("[{}]", items.join(","))), part.len() as u64)
        })
        .collect();
    let u = {
        let (http, url) = (http.clone(), format!("{}/ngsi-ld/v1/entityOperations/upsert", k2.base));
        load::drain_batches(p.batch_clients, batches, move |b| {
            http.post(&url).header(CONTENT_TYPE, "application/json").body(b)
        })
        .await?
    };
    cx.errors.note("2b batch upsert", &u);
    if u.stored != p.entities {
        cx.mismatches.push(format!("2b: {} of {} entities stored", u.stored, p.entities));
    }
    let (u_rate, u_verdict) = upsert_figure(&u, p.entities);
    let u_ratio = u_rate / sq.one_txn;
    cx.rows.push(
        Row::new(
            format!("2b batch upsert, {} per request, {} clients", int(p.batch_size as f64), p.batch_clients),
            format!("{} entities/s ({:.2} s)", int(u_rate), u.elapsed.as_secs_f64()),
        )
        .against(format!("{} rows/s (1b, 1 txn)", int(sq.one_txn)), pct(u_ratio))
        .judged(format!("≥ {}/s", int(UPSERT_TARGET)), u_verdict),
    );
    cx.rows.push(Row::new("   vs. raw SQLite per-batch txns", format!("{} entities/s", int(u_rate))).against(
        format!("{} rows/s (1b, {} per txn)", int(sq.chunked), int(p.batch_size as f64)),
        pct(u_rate / sq.chunked),
    ));
    cx.rows.push(Row::new(
        "   per-request latency p50 / p99",
        format!("{} / {} ms", ms(u.latencies.percentile_ms(50.0)), ms(u.latencies.percentile_ms(99.0))),
    ));

    // ---- 2c: retrieve random entities ----
    eprintln!("[2c] Kizuna GET /entities/{{id}}, {} clients …", p.clients);
    let make = {
        let (http, base, n) = (http.clone(), format!("{}/ngsi-ld/v1/entities/", k2.base), p.entities);
        move |rng: &mut data::Rng| http.get(format!("{base}{}", data::entity_id(rng.below(n))))
    };
    load::closed_loop(p.clients, p.warmup(), make.clone()).await?;
    let g = load::closed_loop(p.clients, p.duration, make).await?;
    cx.errors.note("2c retrieve", &g);
    let (g_rate, g_p50, g_p99) = rate_p50_p99(&g);
    cx.rows.push(
        Row::new(format!("2c GET /entities/{{id}} random, {} clients", p.clients), format!("{} req/s", int(g_rate)))
            .against(format!("{} req/s (1a)", int(h_rate)), pct(g_rate / h_rate)),
    );
    cx.rows.push(
        Row::new("   latency p50 / p99", format!("{} / {} ms", ms(g_p50), ms(g_p99)))
            .against(format!("{} / {} ms (1a)", ms(h_p50), ms(h_p99)), ""),
    );

    // ---- 2d: queries ----
    eprintln!("[2d] Kizuna queries, {} each, one client …", p.queries);
    let url = format!("{}/ngsi-ld/v1/entities", k2.base);
    for shape in data::query_shapes() {
        let expected = shape.expected(p.entities);
        // The server's count of matches, to check the selectivity is what we think.
        let mut counted = shape.params.clone();
        counted.retain(|(k, _)| *k != "count" && *k != "limit");
        counted.extend([("count", "true"), ("limit", "0")]);
        let resp = http.get(&url).query(&counted).send().await.context("count request")?;
        let status = resp.status();
        let server_count = resp
            .headers()
            .get("NGSILD-Results-Count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if !status.is_success() || server_count != Some(expected) {
            cx.mismatches.push(format!(
                "{}: server answered {status} with count {server_count:?}, expected {expected}",
                shape.label
            ));
        }
        let reps = if shape.is_count { p.queries.min(30) } else { p.queries };
        let budget = Duration::from_secs(if shape.is_count { 60 } else { 30 });
        let params = shape.params.clone();
        load::sequential(5, budget, || http.get(&url).query(&params)).await;
        let o = load::sequential(reps, budget, || http.get(&url).query(&params)).await;
        cx.errors.note(shape.label, &o);
        let (p50, p99) = (o.latencies.percentile_ms(50.0), o.latencies.percentile_ms(99.0));
        let matches = format!(
            "{} matches = {}",
            server_count.map(|n| int(n as f64)).unwrap_or_else(|| "?".into()),
            pct(expected as f64 / p.entities as f64)
        );
        let row = Row::new(
            format!("2d {} [{matches}]", shape.label),
            format!("p50 {} / p99 {} ms ({} runs)", ms(p50), ms(p99), o.latencies.len()),
        )
        .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), "");
        cx.rows.push(if shape.is_count {
            row.target("none (reads every entity)")
        } else {
            let counted_right = status.is_success() && server_count == Some(expected);
            row.judged("p99 < 20 ms", judge(p99 < 20.0, &[&o]).requiring(counted_right))
        });
    }
    drop(http);
    k2.stop().await?;
    cx.sqlite = Some(sq);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn load(ok: u64, errors: u64, stored: u64, millis: u64) -> Outcome {
        Outcome { ok, errors, stored, elapsed: Duration::from_millis(millis), ..Outcome::default() }
    }

    #[test]
    fn an_upsert_run_with_any_failure_cannot_pass() {
        // Complete and fast: 5,000 stored in 50 ms = 100,000/s.
        let (rate, v) = upsert_figure(&load(5, 0, 5_000, 50), 5_000);
        assert_eq!((rate.round(), v), (100_000.0, Verdict::Pass));
        // Every batch refused: nothing stored, a zero rate (no wrapped subtraction), invalid.
        let (rate, v) = upsert_figure(&load(0, 5, 0, 50), 5_000);
        assert_eq!((rate, v), (0.0, Verdict::Invalid));
        // One batch answered 207 with 999 of its 1,000 stored: fast, but invalid.
        let (rate, v) = upsert_figure(&load(4, 1, 4_999, 10), 5_000);
        assert!(rate > UPSERT_TARGET);
        assert_eq!(v, Verdict::Invalid);
        // No error reported but fewer stored than sent (the answers disagree): invalid.
        assert_eq!(upsert_figure(&load(5, 0, 4_000, 10), 5_000).1, Verdict::Invalid);
        // Slow but complete: a miss, not a failure.
        assert_eq!(upsert_figure(&load(5, 0, 5_000, 1_000), 5_000).1, Verdict::Miss);
    }
}
