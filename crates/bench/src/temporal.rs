//! 1c, 4a–4b: appending history and reading the last instances.
//!
//! Instances are readings of a `power` Property (kW, `KWT`) with an `observedAt` one
//! second after the previous reading of the same entity, starting 2025-01-01T00:00:00Z.

use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use crate::data::{splitmix64, Rng};
use crate::report::{int, judge, ms, pct, Row};
use crate::{client, dir_mb, load, servers, sqlite, Ctx};

/// The entity type of the meters.
const TYPE: &str = "Meter";
/// 2025-01-01T00:00:00Z in Unix seconds.
const T0: i64 = 1_735_689_600;
/// Instances per append request (4a).
const PER_REQUEST: usize = 1000;
/// Entities appended to in 4a.
const APPEND_ENTITIES: usize = 8;
/// Instances per entity of the lastN set (4b).
const PER_ENTITY: usize = 100;

/// `YYYY-MM-DDTHH:MM:SS.000Z` for Unix seconds `t` (proleptic Gregorian, UTC).
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Reading `seq` of entity `e`: a Property instance.
fn instance(e: u64, seq: u64) -> String {
    let watts = splitmix64(e.wrapping_mul(0x1_0000_0000) ^ seq) % 50_000;
    json!({"type": "Property", "value": watts as f64 / 10.0, "unitCode": "KWT", "observedAt": rfc3339(T0 + seq as i64)})
        .to_string()
}

/// `"power": [instances from..to]`, as the body of an append.
fn power(e: u64, from: u64, to: u64) -> String {
    let items: Vec<String> = (from..to).map(|s| instance(e, s)).collect();
    format!("\"power\":[{}]", items.join(","))
}

fn append_id(e: usize) -> String {
    format!("urn:ngsi-ld:Meter:append-{e}")
}

fn meter_id(i: u64) -> String {
    format!("urn:ngsi-ld:Meter:{i:06}")
}

/// Runs 1c, 4a and 4b.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let p = cx.p.clone();

    // ---- 1c: raw SQLite history rows ----
    eprintln!("[1c] raw SQLite history rows, {PER_REQUEST} per txn …");
    let docs: Vec<String> = (0..10_000u64).map(|s| instance(0, s)).collect();
    let avg_bytes = docs.iter().map(String::len).sum::<usize>() as f64 / docs.len() as f64;
    let sqlite_dir = cx.root.join("sqlite-history");
    std::fs::create_dir_all(&sqlite_dir)?;
    let base = {
        let (dir, dur) = (sqlite_dir.clone(), p.duration);
        tokio::task::spawn_blocking(move || sqlite::measure_history(&dir, &docs, dur, PER_REQUEST)).await??
    };
    cx.rows.push(Row::new(
        format!("1c raw SQLite history rows ({avg_bytes:.0} B doc), {PER_REQUEST} per txn"),
        format!("{} rows/s ({} rows)", int(base.rate), int(base.rows as f64)),
    ));

    // ---- 4a: append ----
    let dir = cx.root.join("kizuna-temporal");
    let k = servers::kizuna(&dir).await?;
    let http = client(p.clients)?;
    let base_url = format!("{}/ngsi-ld/v1/temporal/entities", k.base);
    for e in 0..APPEND_ENTITIES {
        let body = format!("{{\"id\":\"{}\",\"type\":\"{TYPE}\",{}}}", append_id(e), power(e as u64, 0, 1));
        load::fetch(http.post(&base_url).header(CONTENT_TYPE, "application/json").body(body))
            .await
            .map_err(|err| anyhow::anyhow!("creating temporal entity {}: {err}", append_id(e)))?;
    }
    let requests = p.temporal_instances.div_ceil(PER_REQUEST as u64) as usize;
    let clients = p.batch_clients.min(APPEND_ENTITIES);
    eprintln!(
        "[4a] Kizuna temporal append, {} requests of {PER_REQUEST} instances, {clients} clients …",
        int(requests as f64)
    );
    // Lane c appends to entities c, c + clients, …, in turn; each entity's instances
    // are sent in time order by a single lane.
    let mut next_seq = [1u64; APPEND_ENTITIES];
    let mut lane_bodies: Vec<Vec<(usize, Bytes)>> = vec![Vec::new(); clients];
    for r in 0..requests {
        let lane = r % clients;
        let owned: Vec<usize> = (lane..APPEND_ENTITIES).step_by(clients).collect();
        let e = owned[(r / clients) % owned.len()];
        let from = next_seq[e];
        next_seq[e] += PER_REQUEST as u64;
        lane_bodies[lane].push((e, Bytes::from(format!("{{{}}}", power(e as u64, from, from + PER_REQUEST as u64)))));
    }
    let first_lane_entities: Vec<usize> = lane_bodies[0].iter().map(|(e, _)| *e).collect();
    let lanes: Vec<Vec<reqwest::RequestBuilder>> = lane_bodies
        .into_iter()
        .map(|lane| {
            lane.into_iter()
                .map(|(e, body)| {
                    http.post(format!("{base_url}/{}/attrs", append_id(e)))
                        .header(CONTENT_TYPE, "application/json")
                        .body(body)
                })
                .collect()
        })
        .collect();
    let budget = Duration::from_secs(if p.quick { 30 } else { 120 });
    let outs = load::lanes(lanes, budget).await?;
    // How many instances entity 0's history should now hold (lane 0 sends its requests in order).
    let lane0_sent = (outs[0].ok + outs[0].errors) as usize;
    let expected0 =
        1 + first_lane_entities[..lane0_sent].iter().filter(|&&e| e == 0).count() as u64 * PER_REQUEST as u64;
    let lane0_clean = outs[0].errors == 0;
    let mut a = load::Outcome::default();
    let elapsed = outs[0].elapsed;
    for o in outs {
        a.merge(o);
    }
    a.elapsed = elapsed;
    cx.errors.note("4a temporal append", &a);
    // The history of entity 0 holds every instance sent (the server's own count).
    let mut counted_right = lane0_clean;
    if lane0_clean {
        let got = load::fetch(http.get(format!("{base_url}/{}", append_id(0))).query(&[
            ("attrs", "power"),
            ("options", "aggregatedValues"),
            ("aggrMethods", "totalCount"),
        ]))
        .await
        .ok()
        .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.pointer("/power/totalCount/0/0").and_then(Value::as_u64));
        if got != Some(expected0) {
            counted_right = false;
            cx.mismatches.push(format!("4a: {} holds {got:?} instances, {expected0} were sent", append_id(0)));
        }
    }

    let inst_rate = a.ok as f64 * PER_REQUEST as f64 / a.elapsed.as_secs_f64();
    cx.rows.push(
        Row::new(
            format!("4a POST /temporal/…/attrs, {PER_REQUEST} inst/req, {APPEND_ENTITIES} entities, {clients} clients"),
            format!(
                "{} instances/s ({} in {:.1} s)",
                int(inst_rate),
                int(a.ok as f64 * PER_REQUEST as f64),
                a.elapsed.as_secs_f64()
            ),
        )
        .against(format!("{} rows/s (1c)", int(base.rate)), pct(inst_rate / base.rate))
        .judged("≥ 50,000/s", judge(inst_rate >= 50_000.0, &[&a]).requiring(counted_right)),
    );
    cx.rows.push(Row::new(
        "   per-request latency p50 / p99",
        format!("{} / {} ms", ms(a.latencies.percentile_ms(50.0)), ms(a.latencies.percentile_ms(99.0))),
    ));
    // ---- 4b: lastN over many entities ----
    let m = p.temporal_entities;
    let create_clients = 8;
    eprintln!(
        "[4b] Kizuna creating {} temporal entities × {PER_ENTITY} instances, {create_clients} clients …",
        int(m as f64)
    );
    let bodies: Vec<Bytes> = (0..m)
        .map(|i| {
            Bytes::from(format!(
                "{{\"id\":\"{}\",\"type\":\"{TYPE}\",{}}}",
                meter_id(i),
                power(1000 + i, 0, PER_ENTITY as u64)
            ))
        })
        .collect();
    let c = {
        let (http, url) = (http.clone(), base_url.clone());
        load::drain(create_clients, bodies, move |b| http.post(&url).header(CONTENT_TYPE, "application/json").body(b))
            .await?
    };
    cx.errors.note("4b temporal create", &c);
    let c_rate = c.ok as f64 * PER_ENTITY as f64 / c.elapsed.as_secs_f64();
    cx.rows.push(Row::new(
        format!("4b POST /temporal/entities, {} × {PER_ENTITY} inst, {create_clients} clients", int(m as f64)),
        format!(
            "{} instances/s ({} entities/s, {:.1} s; store {:.0} MB)",
            int(c_rate),
            int(c.ok as f64 / c.elapsed.as_secs_f64()),
            c.elapsed.as_secs_f64(),
            dir_mb(&dir)
        ),
    ));
    eprintln!("[4b] Kizuna GET /temporal/entities/{{id}}?lastN=100, {} sequential …", p.queries);
    let mut rng = Rng::new(0x7E4_5EED);
    let mk = |rng: &mut Rng| http.get(format!("{base_url}/{}", meter_id(rng.below(m)))).query(&[("lastN", "100")]);
    let mut warm = Rng::new(1);
    load::sequential(5, Duration::from_secs(30), || mk(&mut warm)).await;
    let want = PER_ENTITY.min(100);
    let o = load::sequential_checked(
        p.queries,
        Duration::from_secs(60),
        || mk(&mut rng),
        |_, body| {
            let n = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("power").and_then(Value::as_array).map(Vec::len));
            if n == Some(want) {
                Ok(())
            } else {
                Err(format!("lastN=100 answered {n:?} instances of power, not {want}"))
            }
        },
    )
    .await;
    cx.errors.note("4b lastN", &o);
    let (p50, p99) = (o.latencies.percentile_ms(50.0), o.latencies.percentile_ms(99.0));
    cx.rows.push(
        Row::new(
            format!("4b GET /temporal/entities/{{id}}?lastN=100, 1 of {}", int(m as f64)),
            format!("p50 {} / p99 {} ms ({} runs)", ms(p50), ms(p99), o.latencies.len()),
        )
        .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(cx.hello.seq_p50), ms(cx.hello.seq_p99)), "")
        .judged("p99 < 5 ms", judge(p99 < 5.0, &[&o])),
    );
    drop(http);
    k.stop().await.context("stopping the temporal server")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(T0), "2025-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400 + 86_399), "2000-02-29T23:59:59.000Z");
    }
}
