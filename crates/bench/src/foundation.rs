//! 1b and 2a–2d: the foundation measurements (raw SQLite inserts, single creates,
//! batch upsert, retrieve, queries over the sensor data set). See the crate docs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use reqwest::header::CONTENT_TYPE;

use crate::report::{int, ms, pct, verdict, Row};
use crate::{client, data, load, rate_p50_p99, servers, sqlite, Ctx};

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
            .target(format!("≥ 25% of 1a: {}", verdict(c_ratio >= 0.25))),
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
    let bodies: Vec<Bytes> = docs
        .chunks(p.batch_size)
        .map(|part| {
            let items: Vec<&str> = part.iter().map(|(_, j)| j.as_str()).collect();
            Bytes::from(format!("[{}]", items.join(",")))
        })
        .collect();
    let sizes: Vec<usize> = docs.chunks(p.batch_size).map(<[_]>::len).collect();
    let u = {
        let (http, url) = (http.clone(), format!("{}/ngsi-ld/v1/entityOperations/upsert", k2.base));
        load::drain(p.batch_clients, bodies, move |b| http.post(&url).header(CONTENT_TYPE, "application/json").body(b))
            .await?
    };
    cx.errors.note("2b batch upsert", &u);
    // All batches have `batch_size` entities but perhaps the last; count the failed ones as the largest.
    let upserted = sizes.iter().sum::<usize>() as u64 - u.errors * p.batch_size as u64;
    let u_rate = upserted as f64 / u.elapsed.as_secs_f64();
    let u_ratio = u_rate / sq.one_txn;
    cx.rows.push(
        Row::new(
            format!("2b batch upsert, {} per request, {} clients", int(p.batch_size as f64), p.batch_clients),
            format!("{} entities/s ({:.2} s)", int(u_rate), u.elapsed.as_secs_f64()),
        )
        .against(format!("{} rows/s (1b, 1 txn)", int(sq.one_txn)), pct(u_ratio))
        .target(format!("≥ 50,000/s: {}", verdict(u_rate >= 50_000.0))),
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
        let target = if shape.is_count {
            "none (reads every entity)".to_string()
        } else {
            format!("p99 < 20 ms: {}", verdict(p99 < 20.0 && o.errors == 0))
        };
        cx.rows.push(
            Row::new(
                format!("2d {} [{matches}]", shape.label),
                format!("p50 {} / p99 {} ms ({} runs)", ms(p50), ms(p99), o.latencies.len()),
            )
            .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), "")
            .target(target),
        );
    }
    drop(http);
    k2.stop().await?;
    cx.sqlite = Some(sq);
    Ok(())
}
