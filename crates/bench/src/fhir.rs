//! 8a–8c: the FHIR R4 API at `/fhir` (crate `kizuna-api-fhir`), on a server without
//! `--dev-open-access`, with a data holder's token (a hospital, `Role::DataHolder`) from
//! the server's built-in issuer.
//!
//! - **8a — transaction Bundles.** `POST /fhir` with a `transaction` Bundle of 100
//!   home blood-pressure Observations (LOINC 85354-9 panel, components 8480-6 / 8462-4 in
//!   `mm[Hg]`, category vital-signs, JP_Observation_VitalSigns) about 1,000 existing
//!   Patients (each with its `urn:kizuna:data-subject` identifier), values in the normal
//!   tier (no alert), 4 clients for N seconds (bodies built before the clock). Each
//!   answer is one durable commit holding 100 validated, indexed, versioned, audited
//!   Observations and their threshold assessments; it is checked to report 100 creates.
//!   References: `Store::write` with the same 100 records through `Txn::fhir_put`
//!   (index rows from `kizuna_api_fhir::write::index_rows`) — no HTTP, validation, audit
//!   or threshold rules — and raw SQLite inserting the same 100 JSON documents into an
//!   indexed table `(patient, code, date)` in one transaction (Kizuna's pragmas).
//! - **8b — alert evaluation per Observation.** Bundles of 100 Observations, each about
//!   a Patient with no earlier reading, sent one at a time and interleaved: normal
//!   values (assessed, no tier crossed) and values in II度高血圧 (each Observation
//!   crosses a tier: a Flag, a Communication and an NGSI-LD `HealthAlert` entity are
//!   written in its transaction). µs per Observation of each, beside
//!   `kizuna_fhir::thresholds::assess_all` alone on the same JSON (pure CPU), and the
//!   validator and the index extraction alone for scale. The Flags, Communications and
//!   HealthAlert entities are counted afterwards (exactly one of each per crossing).
//! - **8c — search over `KIZUNA_BENCH_FHIR_N` Observations** (default 1,000,000;
//!   `--quick`: 20,000): N / 100 Patients × 100 readings, one a day from 2026-01-01,
//!   loaded day by day (every patient's day-`j` reading, then day `j + 1`...) directly
//!   through `Store::write` in batches of 5,000 (two generating threads; the store's
//!   one writer), with one consent per person to the hospital for `treatment`. Load
//!   rate beside raw SQLite inserting the same documents, 5,000 per transaction. Then
//!   `GET /fhir/Observation?patient=X&code=http://loinc.org|85354-9&date=ge2026-03-22`
//!   for random patients, sequential, 1,000 requests (`--quick`: `--queries`): p50/p99
//!   (target p99 < 20 ms); every answer must hold exactly the patient's 20 readings of
//!   days 80–99 (total and entries). Each answer decides 20 Observations under consent
//!   and appends 20 audit records durably before it leaves. Baseline: the equivalent
//!   indexed query `SELECT doc … WHERE patient = ? AND code = ? AND date_ms >= ?` on the
//!   raw SQLite table, in-process, same patients.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use kizuna_api_fhir::write::{index_rows, DATA_SUBJECT_SYSTEM};
use kizuna_auth::{BuiltinIssuer, TokenRequest};
use kizuna_consent::{Category, ConsentMethod, ConsentRecord, LegalBasis, Purpose, Role};
use kizuna_store::{FhirIndexRow, FhirRecord, FhirSearch, Store, StoreError};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::data::Rng;
use crate::load::{self, Latencies, Outcome};
use crate::report::{int, judge, ms, pct, Row};
use crate::{client, servers, Ctx};

/// Observations per Bundle (and per raw SQLite transaction of 8a).
const BUNDLE: usize = 100;
/// Concurrent clients of 8a.
const CLIENTS: usize = 4;
/// Patients of 8a.
const WRITE_PATIENTS: u64 = 1000;
/// Distinct pre-built Bundle bodies of 8a (picked at random by the clients).
const BODIES: usize = 40;
/// Readings per patient in 8c (one a day).
const PER_PATIENT: u64 = 100;
/// Observations per `Store::write` when loading 8c.
const LOAD_BATCH: usize = 5000;
/// The first day 8c's query asks for (`ge2026-03-22` = day 80: 20 readings match).
const FIRST_DAY: u64 = 80;
/// The tenant of 8a and 8b.
const T_WRITE: &str = "fhir-write";
/// The tenant of 8c.
const T_SEARCH: &str = "fhir-search";
/// The hospital (data holder) writing and reading.
const HOSPITAL: &str = "urn:kizuna:party:bench-hospital";
/// The municipality (tenant admin), for counting what the rules wrote.
const CITY: &str = "urn:kizuna:party:bench-city";
/// The purpose the hospital states when it reads.
const PURPOSE: &str = "treatment";
/// FHIR JSON.
const FHIR_JSON: &str = "application/fhir+json";
/// The search of 8c as printed.
const QUERY_SHOWN: &str = "Observation?patient=X&code=http://loinc.org|85354-9&date=ge2026-03-22";

/// The data-subject URI of patient `tag-i`.
fn person(tag: &str, i: u64) -> String {
    format!("urn:ngsi-ld:Person:{tag}-{i}")
}

/// The Patient id `tag-i`.
fn patient_id(tag: &str, i: u64) -> String {
    format!("{tag}-{i}")
}

fn patient(tag: &str, i: u64) -> Value {
    json!({
        "resourceType": "Patient",
        "id": patient_id(tag, i),
        "identifier": [{"system": DATA_SUBJECT_SYSTEM, "value": person(tag, i)}],
        "name": [{"family": "Kizuna", "given": [format!("{tag}{i}")]}],
        "gender": if i & 1 == 0 { "female" } else { "male" },
        "birthDate": "1960-04-01",
    })
}

/// 2026-01-01T07:30:00Z + `day` days + `minute` minutes.
fn day_time(day: u64, minute: u64) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 7, 30, 0).single().unwrap_or_default();
    base + chrono::Duration::days(day as i64) + chrono::Duration::minutes(minute as i64)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A home blood-pressure reading (JP_Observation_VitalSigns) of `Patient/{pid}`.
fn bp(pid: &str, at: &str, sys: u64, dia: u64) -> Value {
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns"]},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": at,
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": sys, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": dia, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
        ]
    })
}

/// Normal values (正常血圧: < 115 / < 75): assessed, no alert.
fn normal(i: u64) -> (u64, u64) {
    (100 + i % 14, 60 + (i * 7) % 14)
}

/// II度高血圧 (145–159 / 90–99): an alert on a first reading.
fn high(i: u64) -> (u64, u64) {
    (146 + i % 12, 90 + i % 9)
}

fn transaction(entries: Vec<Value>) -> String {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}).to_string()
}

fn post_entry(resource: Value) -> Value {
    json!({"resource": resource, "request": {"method": "POST", "url": "Observation"}})
}

/// A Bundle creating (PUT) patients `tag-from .. tag-to`.
fn patients_bundle(tag: &str, from: u64, to: u64) -> String {
    transaction(
        (from..to)
            .map(|i| json!({"resource": patient(tag, i), "request": {"method": "PUT", "url": format!("Patient/{}", patient_id(tag, i))}}))
            .collect(),
    )
}

/// Counts `"status":"201 Created"` in a transaction-response (compact JSON).
fn created(body: &[u8]) -> usize {
    let text = std::str::from_utf8(body).unwrap_or("");
    text.matches("\"status\":\"201 Created\"").count()
}

fn check_bundle(_: &HeaderMap, body: &Bytes) -> Result<(), String> {
    match created(body) {
        n if n == BUNDLE => Ok(()),
        n => {
            let cut: String = String::from_utf8_lossy(body).chars().take(300).collect();
            Err(format!("{n} creates in the transaction-response, not {BUNDLE}: {cut}"))
        }
    }
}

fn consent(tenant: &str, subject: String, granted_at: DateTime<Utc>) -> ConsentRecord {
    ConsentRecord {
        id: format!("urn:kizuna:consent:{subject}"),
        subject,
        controller: tenant.into(),
        recipient: HOSPITAL.into(),
        purposes: vec![Purpose::new(PURPOSE)],
        categories: vec![Category::Health],
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "2026-01".into(),
        method: ConsentMethod::App,
        granted_at,
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

/// A stored version as `write::put` makes it (id and meta stamped), with its index rows.
fn stored(rtype: &str, id: String, mut resource: Value, subject: String, now: &str) -> (FhirRecord, Vec<FhirIndexRow>) {
    if let Some(o) = resource.as_object_mut() {
        o.insert("id".into(), json!(id));
        o.insert("meta".into(), json!({"versionId": "1", "lastUpdated": now, "source": HOSPITAL}));
    }
    let rows = index_rows(&resource);
    let rec = FhirRecord {
        rtype: rtype.into(),
        id,
        version: 1,
        last_updated: now.to_string(),
        deleted: false,
        subject: Some(subject),
        source: Some(HOSPITAL.into()),
        resource: Some(resource),
    };
    (rec, rows)
}

/// Writes `records` in one `Store::write`.
fn put_all(store: &Store, tenant: &str, records: Vec<(FhirRecord, Vec<FhirIndexRow>)>) -> Result<(), StoreError> {
    store.write(tenant, move |tx| {
        for (rec, rows) in &records {
            tx.fhir_put(rec, rows)?;
        }
        Ok::<_, StoreError>(())
    })
}

fn p50_p99(l: &Latencies) -> String {
    format!("p50 {} / p99 {} ms", ms(l.percentile_ms(50.0)), ms(l.percentile_ms(99.0)))
}

/// `KIZUNA_BENCH_FHIR_N`, else 1,000,000 (`--quick`: 20,000); rounded down to whole patients.
fn search_n(quick: bool) -> anyhow::Result<u64> {
    let n = match std::env::var("KIZUNA_BENCH_FHIR_N") {
        Ok(v) => v.trim().replace(['_', ','], "").parse::<u64>().context("KIZUNA_BENCH_FHIR_N is not a number")?,
        Err(_) => {
            if quick {
                20_000
            } else {
                1_000_000
            }
        }
    };
    anyhow::ensure!((PER_PATIENT..=20_000_000).contains(&n), "KIZUNA_BENCH_FHIR_N must be in 100..=20000000");
    Ok(n / PER_PATIENT * PER_PATIENT)
}

/// Runs 8a–8c on one server.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let dir = cx.root.join("kizuna-fhir");
    let (k, store) = servers::kizuna_with_store(&dir).await?;
    let result = phases(cx, &k.base, &dir, &store).await;
    drop(store);
    k.stop().await.context("stopping the FHIR server")?;
    result
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.context("a blocking task panicked")?
}

async fn phases(cx: &mut Ctx, base: &str, dir: &Path, store: &Store) -> anyhow::Result<()> {
    let p = cx.p.clone();
    let issuer = BuiltinIssuer::load_or_create(dir).context("loading the server's built-in issuer")?;
    let token = |tenant: &str, party: &str, role: Role| -> anyhow::Result<String> {
        let req = TokenRequest {
            tenant: tenant.into(),
            party: Some(party.into()),
            role,
            subject: None,
            purpose: None,
            ttl: Duration::from_secs(6 * 3600),
        };
        Ok(format!("Bearer {}", issuer.issue(&req).context("issuing a token")?))
    };
    let holder_w = token(T_WRITE, HOSPITAL, Role::DataHolder)?;
    let admin_w = token(T_WRITE, CITY, Role::TenantAdmin)?;
    let holder_s = token(T_SEARCH, HOSPITAL, Role::DataHolder)?;
    let http = client(16)?;
    let fhir = format!("{base}/fhir");
    let post = {
        let (http, fhir, auth) = (http.clone(), fhir.clone(), holder_w.clone());
        move |body: Bytes| {
            http.post(&fhir)
                .header(CONTENT_TYPE, FHIR_JSON)
                .header(ACCEPT, FHIR_JSON)
                .header(AUTHORIZATION, &auth)
                .header("NGSILD-Tenant", T_WRITE)
                .body(body)
        }
    };

    // ---- 8a: transaction Bundles of 100 Observations ----
    eprintln!("[8a] {} patients by transaction Bundle …", int(WRITE_PATIENTS as f64));
    for from in (0..WRITE_PATIENTS).step_by(BUNDLE) {
        load::fetch(post(Bytes::from(patients_bundle("w", from, (from + BUNDLE as u64).min(WRITE_PATIENTS)))))
            .await
            .map_err(|e| anyhow::anyhow!("8a: creating patients: {e}"))?;
    }
    let mut rng = Rng::new(0xF41E);
    let mut docs: Vec<Vec<Value>> = Vec::with_capacity(BODIES);
    for b in 0..BODIES as u64 {
        docs.push(
            (0..BUNDLE as u64)
                .map(|i| {
                    let n = b * BUNDLE as u64 + i;
                    let (s, d) = normal(n);
                    bp(&patient_id("w", rng.below(WRITE_PATIENTS)), &rfc3339(day_time(n / 1440, n % 1440)), s, d)
                })
                .collect(),
        );
    }
    let bodies: Arc<Vec<Bytes>> =
        Arc::new(docs.iter().map(|d| Bytes::from(transaction(d.iter().cloned().map(post_entry).collect()))).collect());
    let index_per_obs = index_rows(&docs[0][0]).len();
    let avg_body = bodies.iter().map(Bytes::len).sum::<usize>() as f64 / bodies.len() as f64;
    // The first, checked in full.
    let (_, first) =
        load::fetch(post(bodies[0].clone())).await.map_err(|e| anyhow::anyhow!("8a: the first Bundle: {e}"))?;
    check_bundle(&HeaderMap::new(), &first).map_err(|e| anyhow::anyhow!("8a: {e}"))?;
    let make = {
        let (post, bodies) = (post.clone(), Arc::clone(&bodies));
        move |rng: &mut Rng| post(bodies[rng.below(bodies.len() as u64) as usize].clone())
    };
    eprintln!("[8a] POST /fhir transaction Bundles of {BUNDLE} Observations, {CLIENTS} clients …");
    load::closed_loop_checked(CLIENTS, p.warmup(), make.clone(), check_bundle).await?;
    let bundles = load::closed_loop_checked(CLIENTS, p.duration, make, check_bundle).await?;
    cx.errors.note("8a transaction Bundles", &bundles);
    eprintln!("[8a] the same, 1 client …");
    let seq_n = if p.quick { 20 } else { 100 };
    let mut r1 = Rng::new(7);
    let seq = load::sequential_checked(
        seq_n,
        Duration::from_secs(30),
        || post(bodies[r1.below(bodies.len() as u64) as usize].clone()),
        check_bundle,
    )
    .await;
    cx.errors.note("8a transaction Bundles, 1 client", &seq);

    eprintln!("[8a] Store::write of the same 100 records, 1 thread …");
    let direct = {
        let (store, docs, dur) = (store.clone(), docs.clone(), p.duration);
        blocking(move || {
            let mut lat = Latencies::default();
            let start = Instant::now();
            let mut n: u64 = 0;
            while start.elapsed() < dur {
                let now = rfc3339_ms(Utc::now());
                let recs: Vec<_> = docs[(n as usize) % docs.len()]
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let subj = d["subject"]["reference"].as_str().unwrap_or("").trim_start_matches("Patient/");
                        let subject = format!("urn:ngsi-ld:Person:{subj}");
                        stored("Observation", format!("direct-{n}-{i}"), d.clone(), subject, &now)
                    })
                    .collect();
                let t0 = Instant::now();
                put_all(&store, T_WRITE, recs)?;
                lat.push(t0.elapsed());
                n += 1;
            }
            Ok((n as f64 / start.elapsed().as_secs_f64(), lat))
        })
        .await?
    };

    eprintln!("[8a] raw SQLite, {BUNDLE} rows per transaction …");
    let raw_bundle = {
        let (path, docs, dur) = (cx.root.join("sqlite-fhir-bundle.db"), docs.clone(), p.duration);
        blocking(move || raw_bundles(&path, &docs, dur)).await?
    };

    let (rate, b50, b99) = crate::rate_p50_p99(&bundles);
    let ratio = if raw_bundle > 0.0 { rate / raw_bundle } else { 0.0 };
    cx.rows.push(
        Row::new(
            format!(
                "8a POST /fhir transaction Bundle, {BUNDLE} BP Observations ({:.0} kB), {CLIENTS} clients",
                avg_body / 1000.0
            ),
            format!("{:.1} bundles/s = {} Observations/s", rate, int(rate * BUNDLE as f64)),
        )
        .against(
            format!(
                "{} txn/s = {} rows/s (raw SQLite, {BUNDLE} rows/txn)",
                int(raw_bundle),
                int(raw_bundle * BUNDLE as f64)
            ),
            pct(ratio),
        ),
    );
    cx.rows.push(Row::new("   latency per Bundle p50 / p99", format!("{} / {} ms", ms(b50), ms(b99))));
    cx.rows.push(
        Row::new(format!("8a … 1 client, sequential ({} Bundles)", seq.latencies.len()), p50_p99(&seq.latencies))
            .against(
                format!("{} ms/txn (raw SQLite)", ms(1000.0 / raw_bundle.max(1e-9))),
                if raw_bundle > 0.0 {
                    format!("{:.1}×", seq.latencies.percentile_ms(50.0) * raw_bundle / 1000.0)
                } else {
                    String::new()
                },
            ),
    );
    cx.rows.push(
        Row::new(
            "8a Store::write, the same 100 × fhir_put + index rows (no HTTP/validation/audit/rules), 1 thread",
            format!("{:.1} writes/s = {} Observations/s", direct.0, int(direct.0 * BUNDLE as f64)),
        )
        .against(format!("{} txn/s (raw SQLite)", int(raw_bundle)), pct(direct.0 / raw_bundle.max(1e-9))),
    );
    cx.rows.push(Row::new(
        "   per write p50 / p99",
        format!("{} ({index_per_obs} index rows per Observation)", p50_p99(&direct.1)),
    ));

    // ---- 8b: alert evaluation per Observation ----
    let k = if p.quick { 5u64 } else { 20 };
    eprintln!(
        "[8b] {} fresh patients, then {k} + {k} Bundles (no crossing / crossing), interleaved …",
        int((2 * k * BUNDLE as u64) as f64)
    );
    let fresh = 2 * k * BUNDLE as u64;
    for from in (0..fresh).step_by(BUNDLE) {
        load::fetch(post(Bytes::from(patients_bundle("a", from, from + BUNDLE as u64))))
            .await
            .map_err(|e| anyhow::anyhow!("8b: creating patients: {e}"))?;
    }
    let obs_of = |b: u64, crossing: bool| -> Vec<Value> {
        (0..BUNDLE as u64)
            .map(|i| {
                let n = b * BUNDLE as u64 + i;
                let (s, d) = if crossing { high(n) } else { normal(n) };
                bp(&patient_id("a", n), &rfc3339(day_time(10, i)), s, d)
            })
            .collect()
    };
    let calm: Vec<Vec<Value>> = (0..k).map(|b| obs_of(b, false)).collect();
    let cross: Vec<Vec<Value>> = (k..2 * k).map(|b| obs_of(b, true)).collect();
    let to_body = |d: &Vec<Value>| Bytes::from(transaction(d.iter().cloned().map(post_entry).collect()));
    let (calm_b, cross_b): (Vec<Bytes>, Vec<Bytes>) =
        (calm.iter().map(to_body).collect(), cross.iter().map(to_body).collect());
    let (mut calm_o, mut cross_o) = (Outcome::default(), Outcome::default());
    for i in 0..k as usize {
        for (body, out) in [(&calm_b[i], &mut calm_o), (&cross_b[i], &mut cross_o)] {
            let t0 = Instant::now();
            let r = load::fetch(post(body.clone())).await.and_then(|(h, b)| check_bundle(&h, &b));
            out.record(t0, r);
        }
    }
    cx.errors.note("8b Bundles, no crossing", &calm_o);
    cx.errors.note("8b Bundles, every Observation crossing", &cross_o);
    let per_obs = |o: &Outcome| o.latencies.percentile_ms(50.0) * 1000.0 / BUNDLE as f64;
    let (calm_us, cross_us) = (per_obs(&calm_o), per_obs(&cross_o));

    // What the rules wrote.
    let want = k * BUNDLE as u64;
    let counts = {
        let store = store.clone();
        blocking(move || {
            let count = |rtype: &str| -> anyhow::Result<u64> {
                let q = FhirSearch { rtype: rtype.into(), clauses: vec![], sort: vec![], subjects: None };
                Ok(store.fhir_search(T_WRITE, &q, 0, 0, &mut |_| true)?.total)
            };
            Ok((count("Flag")?, count("Communication")?))
        })
        .await?
    };
    let alerts_n = load::fetch(
        http.get(format!("{base}/ngsi-ld/v1/entities?type=HealthAlert&count=true&limit=0"))
            .header(AUTHORIZATION, &admin_w)
            .header("NGSILD-Tenant", T_WRITE),
    )
    .await
    .ok()
    .and_then(|(h, _)| h.get("NGSILD-Results-Count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()));
    if counts != (want, want) || alerts_n != Some(want) {
        cx.mismatches.push(format!(
            "8b: {want} crossings (and {want} readings crossing nothing) wrote {} Flags, {} Communications, {} HealthAlert \
             entities; {want} of each expected",
            counts.0,
            counts.1,
            alerts_n.map_or("?".to_string(), |n| n.to_string())
        ));
    }

    eprintln!("[8b] assess_all / validate / index_rows alone …");
    let (assess_calm, assess_cross, validate_us, index_us) = {
        let (calm, cross) = (calm.concat(), cross.concat());
        blocking(move || {
            let table = kizuna_fhir::thresholds::Thresholds::default();
            let time = |f: &dyn Fn(&Value)| {
                let budget = Duration::from_millis(400);
                let start = Instant::now();
                let mut n: u64 = 0;
                while start.elapsed() < budget {
                    for v in &calm[..BUNDLE] {
                        f(v);
                    }
                    n += BUNDLE as u64;
                }
                start.elapsed().as_secs_f64() * 1e6 / n as f64
            };
            let time_on = |set: &[Value]| {
                let budget = Duration::from_millis(400);
                let start = Instant::now();
                let mut n: u64 = 0;
                while start.elapsed() < budget {
                    for v in set {
                        std::hint::black_box(kizuna_fhir::thresholds::assess_all(v, &table));
                    }
                    n += set.len() as u64;
                }
                start.elapsed().as_secs_f64() * 1e6 / n as f64
            };
            let crossed = cross
                .iter()
                .filter(|v| kizuna_fhir::thresholds::assess_all(v, &table).iter().any(|a| a.crossed))
                .count();
            let calm_crossed = calm
                .iter()
                .filter(|v| kizuna_fhir::thresholds::assess_all(v, &table).iter().any(|a| a.crossed))
                .count();
            anyhow::ensure!(
                crossed == cross.len() && calm_crossed == 0,
                "8b: assess_all says {crossed} of {} high readings and {calm_crossed} of {} normal ones cross a tier",
                cross.len(),
                calm.len()
            );
            let a_calm = time_on(&calm);
            let a_cross = time_on(&cross);
            let v = time(&|v| {
                std::hint::black_box(kizuna_fhir::validate::validate_resource_as(v, "Observation").is_ok());
            });
            let ix = time(&|v| {
                std::hint::black_box(index_rows(v));
            });
            Ok((a_calm, a_cross, v, ix))
        })
        .await?
    };
    cx.rows.push(
        Row::new(
            format!(
                "8b Observation crossing no tier (fresh patient), in Bundles of {BUNDLE}, 1 client ({} Bundles)",
                calm_o.latencies.len()
            ),
            format!("{calm_us:.0} µs per Observation (Bundle p50 {} ms)", ms(calm_o.latencies.percentile_ms(50.0))),
        )
        .against(
            format!("{:.0} µs (8a Store::write per record)", 1e6 / (direct.0 * BUNDLE as f64).max(1e-9)),
            format!("{:.1}×", calm_us * direct.0 * BUNDLE as f64 / 1e6),
        ),
    );
    cx.rows.push(
        Row::new(
            format!(
                "8b Observation crossing a tier each time (+ Flag, Communication, HealthAlert) ({} Bundles)",
                cross_o.latencies.len()
            ),
            format!("{cross_us:.0} µs per Observation (Bundle p50 {} ms)", ms(cross_o.latencies.percentile_ms(50.0))),
        )
        .against(
            format!("{calm_us:.0} µs (no crossing)",),
            if calm_us > 0.0 { format!("{:.2}×", cross_us / calm_us) } else { String::new() },
        ),
    );
    cx.rows.push(Row::new("   alert cost per crossing (difference)", format!("{:.0} µs", cross_us - calm_us)));
    cx.rows.push(
        Row::new(
            "8b assess_all alone (pure, default table), no crossing / crossing",
            format!("{assess_calm:.2} / {assess_cross:.2} µs per Observation"),
        )
        .against(format!("{calm_us:.0} µs (stored, no crossing)"), pct(assess_calm / calm_us.max(1e-9))),
    );
    cx.rows.push(Row::new(
        "   for scale: validate_resource_as / index_rows alone",
        format!("{validate_us:.2} / {index_us:.2} µs per Observation"),
    ));

    // ---- 8c: search over N Observations ----
    let n = search_n(p.quick)?;
    let patients = n / PER_PATIENT;
    eprintln!(
        "[8c] loading {} Observations ({} patients × {PER_PATIENT}) through Store::write, {} per write …",
        int(n as f64),
        int(patients as f64),
        int(LOAD_BATCH as f64)
    );
    {
        let store = store.clone();
        blocking(move || {
            let granted = Utc::now() - chrono::Duration::days(30);
            let now = rfc3339_ms(Utc::now());
            for from in (0..patients).step_by(LOAD_BATCH) {
                let to = (from + LOAD_BATCH as u64).min(patients);
                let recs: Vec<_> = (from..to)
                    .map(|i| stored("Patient", patient_id("s", i), patient("s", i), person("s", i), &now))
                    .collect();
                let consents: Vec<ConsentRecord> =
                    (from..to).map(|i| consent(T_SEARCH, person("s", i), granted)).collect();
                store.write(T_SEARCH, move |tx| {
                    for (rec, rows) in &recs {
                        tx.fhir_put(rec, rows)?;
                    }
                    for c in &consents {
                        tx.put_consent(c)?;
                    }
                    Ok::<_, StoreError>(())
                })?;
            }
            Ok(())
        })
        .await?;
    }
    let load_secs = {
        let store = store.clone();
        blocking(move || load_observations(&store, patients)).await?
    };
    let load_bytes = crate::dir_mb(dir);
    let load_rate = n as f64 / load_secs;
    eprintln!("[8c] loaded in {load_secs:.1} s ({} Observations/s); raw SQLite, the same rows …", int(load_rate));
    let raw_path = cx.root.join("sqlite-fhir-search.db");
    let raw_load_secs = {
        let path = raw_path.clone();
        blocking(move || raw_load(&path, patients)).await?
    };
    let raw_load_rate = n as f64 / raw_load_secs;

    let queries = if p.quick { p.queries } else { p.queries.max(1000) };
    eprintln!("[8c] GET /fhir/{QUERY_SHOWN}, {queries} random patients, 1 client …");
    let search_url = format!("{fhir}/Observation");
    let cur = Cell::new(0u64);
    let mut qrng = Rng::new(0x5EA2C);
    // The patient's readings since 22 March, the patient named by `who`.
    let request_by = |who: (&str, String)| {
        http.get(&search_url)
            .query(&[who, ("code", "http://loinc.org|85354-9".to_string()), ("date", "ge2026-03-22".to_string())])
            .header(ACCEPT, FHIR_JSON)
            .header(AUTHORIZATION, &holder_s)
            .header("NGSILD-Tenant", T_SEARCH)
            .header("Kizuna-Purpose", PURPOSE)
    };
    let request = |p: u64| request_by(("patient", format!("Patient/{}", patient_id("s", p))));
    let want_matches = PER_PATIENT - FIRST_DAY;
    let check = |_: &HeaderMap, body: &Bytes| -> Result<(), String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let total = v.get("total").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let entries = v.get("entry").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let subject = format!("Patient/{}", patient_id("s", cur.get()));
        let mine = entries
            .iter()
            .filter(|e| e.pointer("/resource/subject/reference").and_then(Value::as_str) == Some(subject.as_str()))
            .count();
        if total == want_matches && entries.len() as u64 == want_matches && mine == entries.len() {
            Ok(())
        } else {
            Err(format!("total {total}, {} entries ({mine} of {subject}); {want_matches} expected", entries.len()))
        }
    };
    // Warm-up, then the timed requests.
    let _ = load::sequential(20, Duration::from_secs(20), || {
        let x = qrng.below(patients);
        request(x)
    })
    .await;
    let search = load::sequential_checked(
        queries,
        Duration::from_secs(if p.quick { 30 } else { 90 }),
        || {
            let x = qrng.below(patients);
            cur.set(x);
            request(x)
        },
        check,
    )
    .await;
    cx.errors.note("8c FHIR search", &search);
    // The same readings found by the person's data-subject URI (a chained parameter: the
    // Patient is looked up and decided first).
    let request_chain =
        |p: u64| request_by(("patient.identifier", format!("{DATA_SUBJECT_SYSTEM}|{}", person("s", p))));
    let chained = load::sequential_checked(
        queries,
        Duration::from_secs(if p.quick { 30 } else { 90 }),
        || {
            let x = qrng.below(patients);
            cur.set(x);
            request_chain(x)
        },
        check,
    )
    .await;
    cx.errors.note("8c FHIR chained search", &chained);
    eprintln!("[8c] the equivalent query on raw SQLite …");
    let raw_q = {
        let (path, count) = (raw_path.clone(), queries);
        blocking(move || raw_queries(&path, patients, count, want_matches)).await?
    };
    eprintln!("[8c] the same search on the store alone (Store::fhir_search, no HTTP/decision/audit) …");
    let store_q = {
        let (store, count) = (store.clone(), queries);
        blocking(move || store_queries(&store, patients, count, want_matches)).await?
    };
    let (s50, s99) = (search.latencies.percentile_ms(50.0), search.latencies.percentile_ms(99.0));
    let (q50, q99) = (raw_q.percentile_ms(50.0), raw_q.percentile_ms(99.0));
    cx.rows.push(
        Row::new(
            format!(
                "8c load {} Observations via Store::write ({} per write, 2 threads)",
                int(n as f64),
                int(LOAD_BATCH as f64)
            ),
            format!("{} Observations/s ({load_secs:.1} s; store {:.0} MB)", int(load_rate), load_bytes),
        )
        .against(
            format!("{} rows/s (raw SQLite, {} per txn)", int(raw_load_rate), int(LOAD_BATCH as f64)),
            pct(load_rate / raw_load_rate),
        ),
    );
    cx.rows.push(
        Row::new(
            format!("8c GET /fhir/{QUERY_SHOWN} ({} req, {want_matches} matches each)", search.latencies.len()),
            p50_p99(&search.latencies),
        )
        .against(
            format!("p50 {} / p99 {} ms (raw SQLite, in-process)", ms(q50), ms(q99)),
            if q50 > 0.0 { format!("{:.0}× (p50)", s50 / q50) } else { String::new() },
        )
        .judged("p99 < 20 ms", judge(s99 < 20.0, &[&search])),
    );
    let c50 = chained.latencies.percentile_ms(50.0);
    cx.rows.push(
        Row::new(
            format!(
                "   … by the person's URI: Observation?patient.identifier=…|<person>&code=…&date=… ({} req)",
                chained.latencies.len()
            ),
            p50_p99(&chained.latencies),
        )
        .against(
            format!("p50 {} ms (by Patient id, above)", ms(s50)),
            if s50 > 0.0 { format!("{:.2}× (p50)", c50 / s50) } else { String::new() },
        ),
    );
    cx.rows.push(
        Row::new(
            "   … the same on the store alone: Store::fhir_search, page of 50, every hit admitted",
            p50_p99(&store_q),
        )
        .against(
            format!("p50 {} ms (raw SQLite)", ms(q50)),
            if q50 > 0.0 { format!("{:.0}× (p50)", store_q.percentile_ms(50.0) / q50) } else { String::new() },
        ),
    );
    cx.rows.push(
        Row::new("   HTTP floor for scale", "")
            .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(cx.hello.seq_p50), ms(cx.hello.seq_p99)), ""),
    );
    cx.notes.push(format!(
        "fhir: server without --dev-open-access; data-holder tokens ({HOSPITAL}); 8a/8b in tenant {T_WRITE}, 8c in tenant \
         {T_SEARCH} (loaded after 8a/8b, with one consent per person for '{PURPOSE}'); every 8c answer decides \
         {want_matches} Observations under consent and appends {want_matches} audit records durably; \
         8c N = {} (KIZUNA_BENCH_FHIR_N)",
        int(n as f64)
    ));
    drop(http);
    Ok(())
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The day-`day` reading of search patient `i` (values vary, all normal).
fn search_obs(i: u64, day: u64) -> Value {
    let (s, d) = normal(i * 31 + day);
    bp(&patient_id("s", i), &rfc3339(day_time(day, i % 240)), s, d)
}

/// Loads `patients × PER_PATIENT` Observations day by day in batches of [`LOAD_BATCH`]:
/// two threads each building a batch (JSON, index rows) and writing it. Returns
/// seconds.
fn load_observations(store: &Store, patients: u64) -> anyhow::Result<f64> {
    let total = patients * PER_PATIENT;
    let batches = total.div_ceil(LOAD_BATCH as u64) as usize;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let start = Instant::now();
    let now = rfc3339_ms(Utc::now());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (store, next, done, now) = (store.clone(), &next, &done, now.clone());
                scope.spawn(move || -> anyhow::Result<()> {
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            return Ok(());
                        }
                        let from = (b * LOAD_BATCH) as u64;
                        let to = (from + LOAD_BATCH as u64).min(total);
                        let recs: Vec<_> = (from..to)
                            .map(|k| {
                                let (day, i) = (k / patients, k % patients);
                                stored("Observation", format!("s-{i}-{day}"), search_obs(i, day), person("s", i), &now)
                            })
                            .collect();
                        put_all(&store, T_SEARCH, recs)?;
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if d % (batches / 10).max(1) == 0 {
                            eprintln!(
                                "[8c]   {} of {} Observations, {:.0} s",
                                int((d * LOAD_BATCH).min(total as usize) as f64),
                                int(total as f64),
                                start.elapsed().as_secs_f64()
                            );
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a loading thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(start.elapsed().as_secs_f64())
}

fn open_raw(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS obs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, patient TEXT NOT NULL,
                                         code TEXT NOT NULL, date_ms INTEGER NOT NULL, doc TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS obs_patient_code_date ON obs(patient, code, date_ms);",
    )?;
    Ok(conn)
}

fn ms_of(v: &Value) -> i64 {
    v.get("effectiveDateTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp_millis())
}

/// 8a's baseline: the 100 documents of a Bundle in one transaction, for `dur`;
/// transactions per second.
fn raw_bundles(path: &Path, docs: &[Vec<Value>], dur: Duration) -> anyhow::Result<f64> {
    let mut conn = open_raw(path)?;
    let rows: Vec<Vec<(String, i64, String)>> = docs
        .iter()
        .map(|d| {
            d.iter()
                .map(|v| {
                    let patient = v["subject"]["reference"].as_str().unwrap_or("").to_string();
                    (patient, ms_of(v), v.to_string())
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < dur {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO obs (id, patient, code, date_ms, doc) VALUES (?1, ?2, 'http://loinc.org|85354-9', ?3, ?4)",
            )?;
            for (i, (patient, at, doc)) in rows[(n as usize) % rows.len()].iter().enumerate() {
                st.execute(params![format!("{n}-{i}"), patient, at, doc])?;
            }
        }
        tx.commit()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// 8c's load baseline: the same Observations (same documents, generated the same way),
/// 5,000 per transaction; seconds.
fn raw_load(path: &Path, patients: u64) -> anyhow::Result<f64> {
    let mut conn = open_raw(path)?;
    let total = patients * PER_PATIENT;
    let now = rfc3339_ms(Utc::now());
    let start = Instant::now();
    let mut k: u64 = 0;
    while k < total {
        let to = (k + LOAD_BATCH as u64).min(total);
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO obs (id, patient, code, date_ms, doc) VALUES (?1, ?2, 'http://loinc.org|85354-9', ?3, ?4)",
            )?;
            for j in k..to {
                let (day, i) = (j / patients, j % patients);
                let id = format!("s-{i}-{day}");
                let (rec, _) = stored("Observation", id.clone(), search_obs(i, day), person("s", i), &now);
                let v = rec.resource.unwrap_or(Value::Null);
                st.execute(params![id, format!("Patient/{}", patient_id("s", i)), ms_of(&v), v.to_string()])?;
            }
        }
        tx.commit()?;
        k = to;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// 8c's search on the store alone: the parsed search of the HTTP request for the same
/// random patients, `Store::fhir_search` with a gate admitting everything, page of 50.
fn store_queries(store: &Store, patients: u64, count: usize, want: u64) -> anyhow::Result<Latencies> {
    let search = |p: u64| -> anyhow::Result<FhirSearch> {
        let pairs = vec![
            ("patient".to_string(), format!("Patient/{}", patient_id("s", p))),
            ("code".to_string(), "http://loinc.org|85354-9".to_string()),
            ("date".to_string(), "ge2026-03-22".to_string()),
        ];
        Ok(kizuna_api_fhir::query::parse("Observation", &pairs, true).map_err(|e| anyhow::anyhow!("{e}"))?.search)
    };
    let mut rng = Rng::new(0x5EA2C);
    for _ in 0..20 {
        store.fhir_search(T_SEARCH, &search(rng.below(patients))?, 0, 50, &mut |_| true)?;
    }
    let mut lat = Latencies::default();
    for _ in 0..count {
        let p = rng.below(patients);
        let q = search(p)?;
        let t0 = Instant::now();
        let page = store.fhir_search(T_SEARCH, &q, 0, 50, &mut |_| true)?;
        lat.push(t0.elapsed());
        anyhow::ensure!(
            page.total == want && page.records.len() as u64 == want,
            "8c Store::fhir_search: {} of {} for patient {p}, not {want}",
            page.records.len(),
            page.total
        );
    }
    Ok(lat)
}

/// 8c's query baseline: `count` random patients (the same sequence as the HTTP
/// search), each query's rows read (documents included) and counted.
fn raw_queries(path: &Path, patients: u64, count: usize, want: u64) -> anyhow::Result<Latencies> {
    let conn = open_raw(path)?;
    let since = day_time(FIRST_DAY, 0) - chrono::Duration::hours(7) - chrono::Duration::minutes(30);
    let since = since.timestamp_millis();
    let mut st = conn.prepare(
        "SELECT doc FROM obs WHERE patient = ?1 AND code = 'http://loinc.org|85354-9' AND date_ms >= ?2
         ORDER BY date_ms LIMIT 50",
    )?;
    let mut rng = Rng::new(0x5EA2C);
    for _ in 0..20 {
        let p = rng.below(patients);
        let _ =
            st.query_map(params![format!("Patient/{}", patient_id("s", p)), since], |r| r.get::<_, String>(0))?.count();
    }
    let mut lat = Latencies::default();
    for _ in 0..count {
        let p = rng.below(patients);
        let t0 = Instant::now();
        let docs: Vec<String> = st
            .query_map(params![format!("Patient/{}", patient_id("s", p)), since], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        lat.push(t0.elapsed());
        anyhow::ensure!(docs.len() as u64 == want, "8c raw SQLite: {} rows for patient {p}, not {want}", docs.len());
    }
    Ok(lat)
}
