//! 6a–6c: what the consent gate costs — reads of personal data decided entity by
//! entity and audited durably before the answer, audit appends, and one decision alone.
//!
//! # The data
//! One Kizuna server with the production access setting
//! ([`servers::kizuna_with_store`]: no `--dev-open-access`, real tokens from the
//! built-in issuer whose key is in the server's data dir). Two tenants hold the same
//! 1,000 entities of type `Reading`, created by batch upsert with a tenant-admin token:
//! reading `i` (id `urn:ngsi-ld:Reading:<i>`) has `systolic` = 100 + ⌊i / 10⌋ and
//! `diastolic` numbers, each with an `observedAt`, and a Relationship `patient` to
//! `urn:ngsi-ld:Person:<i % 100>`. Hence `q=systolic<110` matches exactly readings
//! 0..99, one of each person 0..99 (checked on the first answer).
//! - Tenant `personal`: the classification marks `Reading` personal, category health,
//!   its subject named by `patient`; the party `urn:kizuna:party:app` is registered as
//!   a service provider for `disease-management`; each of the 100 persons has given it
//!   a consent (purpose disease-management, category health). These records have no
//!   NGSI-LD endpoint: they are written with `Store::write` on the store the server
//!   itself runs on (one writer).
//! - Tenant `plain`: the same party registered, no classification — the same entities
//!   are not personal data, so the gate releases them without consent or audit.
//!
//! The app reads with a service-provider token of the tenant it reads in (a token is
//! bound to one tenant: the two tokens differ only in their `tenant` claim),
//! `Kizuna-Purpose: disease-management` and `NGSILD-Tenant`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use kizuna_auth::{BuiltinIssuer, TokenRequest};
use kizuna_consent::{
    AccessRequest, Action, AuditDecision, AuditEntry, Caller, Category, ChainHead, Classification, ConsentMethod,
    ConsentRecord, LegalBasis, Party, Purpose, Role,
};
use kizuna_store::{Entity, Store, StoreError};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::data::Rng;
use crate::load::{self, Outcome};
use crate::report::{int, judge, ms, pct, Row};
use crate::{client, rate_p50_p99, servers, sqlite, Ctx};

/// Readings per tenant.
const N: u64 = 1000;
/// Persons (data subjects); reading `i` is about person `i % PERSONS`.
const PERSONS: u64 = 100;
/// Entities per answer of 6a (and audit entries per write of 6b).
const PAGE: usize = 100;
/// The tenant whose readings are personal data under consent.
const PERSONAL: &str = "personal";
/// The tenant whose readings are not personal data.
const PLAIN: &str = "plain";
/// The tenant whose audit chain 6b's direct appends go to.
const DIRECT: &str = "audit-direct";
/// The reading service provider.
const APP: &str = "urn:kizuna:party:app";
/// The municipality (tenant admin) creating the data.
const CITY: &str = "urn:kizuna:party:city";
/// The purpose the app states.
const PURPOSE: &str = "disease-management";
/// `Reading`, expanded with the core context.
const READING_IRI: &str = "https://uri.etsi.org/ngsi-ld/default-context/Reading";
/// `patient`, expanded with the core context.
const PATIENT_IRI: &str = "https://uri.etsi.org/ngsi-ld/default-context/patient";
/// The query of 6a: exactly readings 0..99 (`systolic` = 100 + ⌊i / 10⌋).
const QUERY: &str = "type=Reading&limit=100&q=systolic%3C110";
/// How each entity of an answer starts (compact JSON), counted to check an answer.
const ID_MARK: &str = "\"id\":\"urn:ngsi-ld:Reading:";
/// Concurrent clients of 6a's load runs.
const CLIENTS: usize = 16;
/// Rows per transaction of 6b's second raw SQLite baseline (the commit's cost spread thin).
const BIG_TXN: usize = 10_000;
/// The query of 6a as printed.
const QUERY_SHOWN: &str = "type=Reading&limit=100&q=systolic<110";
/// Threads appending directly in 6b.
const DIRECT_THREADS: usize = 8;

fn reading_id(i: u64) -> String {
    format!("urn:ngsi-ld:Reading:{i}")
}

fn person_id(p: u64) -> String {
    format!("urn:ngsi-ld:Person:{p}")
}

fn consent_id(p: u64) -> String {
    format!("urn:kizuna:consent:app-{p}")
}

/// Reading `i` as NGSI-LD JSON (core context).
fn reading(i: u64) -> Value {
    let at = format!("2025-01-01T{:02}:{:02}:00.000Z", (i / 60) % 24, i % 60);
    json!({
        "id": reading_id(i),
        "type": "Reading",
        "systolic": {"type": "Property", "value": 100 + i / 10, "observedAt": at},
        "diastolic": {"type": "Property", "value": 60 + (i * 7) % 40, "observedAt": at},
        "patient": {"type": "Relationship", "object": person_id(i % PERSONS)},
    })
}

fn app_party() -> Party {
    Party {
        id: APP.into(),
        name: "Disease-management app".into(),
        roles: vec![Role::ServiceProvider],
        registered_purposes: vec![Purpose::new(PURPOSE)],
        recipient_kind: Some("app-vendor".into()),
    }
}

fn consent(p: u64, granted_at: DateTime<Utc>) -> ConsentRecord {
    ConsentRecord {
        id: consent_id(p),
        subject: person_id(p),
        controller: PERSONAL.into(),
        recipient: APP.into(),
        purposes: vec![Purpose::new(PURPOSE)],
        categories: vec![Category::Health],
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "2025-01".into(),
        method: ConsentMethod::App,
        granted_at,
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

/// The audit entry of the app reading reading `j` (as the gate writes it).
fn entry(tenant: &str, j: u64, at: &str) -> AuditEntry {
    AuditEntry {
        tenant: tenant.into(),
        at: at.into(),
        actor: APP.into(),
        role: Role::ServiceProvider,
        subject: Some(person_id(j % PERSONS)),
        resource: reading_id(j),
        action: Action::Read,
        purpose: Some(Purpose::new(PURPOSE)),
        decision: AuditDecision {
            allowed: true,
            basis: Some(format!("consent:{}", consent_id(j % PERSONS))),
            reason: None,
        },
    }
}

/// Runs `f` with the store on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await.context("a blocking task panicked")?
}

/// The last `seq` of `tenant`'s audit chain (0 if it has none).
async fn audit_seq(store: &Store, tenant: &'static str) -> anyhow::Result<u64> {
    blocking(store, move |s| Ok(s.audit_heads()?.into_iter().find(|h| h.tenant == tenant).map_or(0, |h| h.seq))).await
}

/// The audit records of `tenant` after `after_seq`, read page by page: (how many, how
/// many of them are not an allowed read by the app for its purpose).
async fn audit_since(store: &Store, tenant: &'static str, after_seq: u64) -> anyhow::Result<(u64, u64)> {
    blocking(store, move |s| {
        let (mut n, mut odd, mut after) = (0u64, 0u64, after_seq);
        loop {
            let page = s.audit_page(tenant, after, 10_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            n += page.len() as u64;
            odd += page
                .iter()
                .filter(|r| {
                    !(r.actor == APP && r.decision.allowed && r.purpose.as_ref().map(Purpose::as_str) == Some(PURPOSE))
                })
                .count() as u64;
        }
        Ok((n, odd))
    })
    .await
}

/// Checks an answer of 6a: 100 entities (counted by their id mark).
fn check_page(_: &HeaderMap, body: &Bytes) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
    let n = text.matches(ID_MARK).count();
    if n == PAGE {
        Ok(())
    } else {
        let cut: String = text.chars().take(200).collect();
        Err(format!("{n} entities in the answer, not {PAGE}: {cut}"))
    }
}

/// Checks the first answer in full: exactly readings 0..99, each with its measurements
/// and its patient, and the id mark counted as often as there are entities.
fn check_first(tenant: &str, body: &Bytes) -> anyhow::Result<()> {
    let v: Value = serde_json::from_slice(body).context("the answer is not JSON")?;
    let items = v.as_array().context("the answer is not an array")?;
    let ids: BTreeSet<&str> = items.iter().filter_map(|e| e.get("id").and_then(Value::as_str)).collect();
    let want: Vec<String> = (0..PAGE as u64).map(reading_id).collect();
    let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
    anyhow::ensure!(
        items.len() == PAGE && ids == want,
        "tenant {tenant}: the query answered {} entities ({} distinct ids), not readings 0..99",
        items.len(),
        ids.len()
    );
    let whole = items.iter().all(|e| ["systolic", "diastolic", "patient"].iter().all(|a| e.get(*a).is_some()));
    anyhow::ensure!(whole, "tenant {tenant}: an entity came without systolic, diastolic or patient");
    check_page(&HeaderMap::new(), body).map_err(|e| anyhow::anyhow!("tenant {tenant}: {e}"))
}

/// Writes the policy records of both tenants through `store`.
async fn write_policy(store: &Store) -> anyhow::Result<()> {
    let granted = Utc::now() - chrono::Duration::days(30);
    blocking(store, move |s| {
        s.write(PERSONAL, move |tx| {
            let class = Classification::new().with_personal(READING_IRI, Category::Health, Some(PATIENT_IRI));
            tx.set_classification(&class)?;
            tx.put_party(&app_party())?;
            for p in 0..PERSONS {
                tx.put_consent(&consent(p, granted))?;
            }
            Ok::<_, StoreError>(())
        })?;
        s.write(PLAIN, move |tx| tx.put_party(&app_party()))?;
        Ok(())
    })
    .await
    .context("writing the classification, party and consents")
}

/// Runs 6a–6c.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let dir = cx.root.join("kizuna-consent");
    let (k, store) = servers::kizuna_with_store(&dir).await?;
    let result = phases(cx, &k.base, &dir, &store).await;
    k.stop().await.context("stopping the consent server")?;
    result
}

async fn phases(cx: &mut Ctx, base: &str, dir: &std::path::Path, store: &Store) -> anyhow::Result<()> {
    let p = cx.p.clone();

    // ---- setup ----
    eprintln!("[6] consent: {} readings in tenants {PERSONAL} and {PLAIN}, policy records …", int(N as f64));
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
    write_policy(store).await?;
    let http = client(CLIENTS)?;
    let ngsi = format!("{base}/ngsi-ld/v1");
    let body = Value::Array((0..N).map(reading).collect()).to_string();
    for tenant in [PERSONAL, PLAIN] {
        load::fetch(
            http.post(format!("{ngsi}/entityOperations/upsert"))
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, token(tenant, CITY, Role::TenantAdmin)?)
                .header("NGSILD-Tenant", tenant)
                .body(body.clone()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the readings of tenant {tenant}: {e}"))?;
    }
    let url = format!("{ngsi}/entities?{QUERY}");
    let app_personal = token(PERSONAL, APP, Role::ServiceProvider)?;
    let app_plain = token(PLAIN, APP, Role::ServiceProvider)?;
    let request = {
        let (http, url) = (http.clone(), url.clone());
        move |tenant: &'static str, auth: &str| {
            http.get(&url).header(AUTHORIZATION, auth).header("Kizuna-Purpose", PURPOSE).header("NGSILD-Tenant", tenant)
        }
    };
    // The first answers, checked in full; the personal one appends 100 audit records.
    let before = audit_seq(store, PERSONAL).await?;
    for (tenant, auth) in [(PERSONAL, &app_personal), (PLAIN, &app_plain)] {
        let (_, b) = load::fetch(request(tenant, auth))
            .await
            .map_err(|e| anyhow::anyhow!("the first query in tenant {tenant}: {e}"))?;
        check_first(tenant, &b)?;
    }
    let (first_audited, first_odd) = audit_since(store, PERSONAL, before).await?;
    if first_audited != PAGE as u64 || first_odd != 0 {
        cx.mismatches.push(format!(
            "6a: the first personal query appended {first_audited} audit records ({first_odd} not an allowed read \
             by the app), not {PAGE}"
        ));
    }
    let plain_audited = audit_seq(store, PLAIN).await?;
    if plain_audited != 0 {
        cx.mismatches.push(format!("6a: tenant {PLAIN} has {plain_audited} audit records, none expected"));
    }

    // ---- 6a: the same query, personal with consent vs plain ----
    let make = |tenant: &'static str, auth: &str| {
        let (request, auth) = (request.clone(), auth.to_string());
        move |_: &mut Rng| request(tenant, &auth)
    };
    let timed = |tenant: &'static str, auth: &str, label: &'static str| {
        let make = make(tenant, auth);
        let p = &p;
        async move {
            eprintln!("[6a] GET /entities?{QUERY_SHOWN}, tenant {tenant}, {CLIENTS} clients{label} …");
            load::closed_loop_checked(CLIENTS, p.warmup(), make.clone(), check_page).await?;
            load::closed_loop_checked(CLIENTS, p.duration, make, check_page).await
        }
    };
    let plain_a = timed(PLAIN, &app_plain, "").await?;
    cx.errors.note("6a plain query (before)", &plain_a);
    // The warm-up appends too: the count starts after it.
    eprintln!("[6a] GET /entities?{QUERY_SHOWN}, tenant {PERSONAL}, {CLIENTS} clients (warm-up) …");
    load::closed_loop_checked(CLIENTS, p.warmup(), make(PERSONAL, &app_personal), check_page).await?;
    let seq0 = audit_seq(store, PERSONAL).await?;
    eprintln!("[6a] GET /entities?{QUERY_SHOWN}, tenant {PERSONAL}, {CLIENTS} clients …");
    let personal = load::closed_loop_checked(CLIENTS, p.duration, make(PERSONAL, &app_personal), check_page).await?;
    let (appended, odd) = audit_since(store, PERSONAL, seq0).await?;
    cx.errors.note("6a personal query", &personal);
    let plain_b = timed(PLAIN, &app_plain, " (again)").await?;
    cx.errors.note("6a plain query (after)", &plain_b);

    eprintln!("[6a] the same queries, 1 client, {} each …", p.queries);
    let budget = Duration::from_secs(if p.quick { 20 } else { 60 });
    let queries = p.queries;
    let seq_run = |tenant: &'static str, auth: String| {
        let request = request.clone();
        async move {
            load::sequential(5, budget, || request(tenant, &auth)).await;
            load::sequential_checked(queries, budget, || request(tenant, &auth), check_page).await
        }
    };
    let seq_personal = seq_run(PERSONAL, app_personal.clone()).await;
    cx.errors.note("6a personal query, sequential", &seq_personal);
    let seq_plain = seq_run(PLAIN, app_plain.clone()).await;
    cx.errors.note("6a plain query, sequential", &seq_plain);

    let (ra, pa50, pa99) = rate_p50_p99(&plain_a);
    let (rb, _, _) = rate_p50_p99(&plain_b);
    let (rp, pp50, pp99) = rate_p50_p99(&personal);
    let r0 = (ra + rb) / 2.0;
    let ratio = if r0 > 0.0 { rp / r0 } else { 0.0 };
    cx.rows.push(
        Row::new(
            format!("6a GET ?{QUERY_SHOWN}, {PLAIN} (not personal), {CLIENTS} clients"),
            format!("{} / {} req/s (before / after)", int(ra), int(rb)),
        )
        .against(format!("{} req/s (1a)", int(cx.hello.rate)), pct(r0 / cx.hello.rate)),
    );
    cx.rows.push(Row::new("   latency p50 / p99 (before)", format!("{} / {} ms", ms(pa50), ms(pa99))));
    cx.rows.push(
        Row::new(
            format!("6a … {PERSONAL}: 100 decided + 100 audited per request"),
            format!("{} req/s ({} entities released/s)", int(rp), int(rp * PAGE as f64)),
        )
        .against(format!("{} req/s ({PLAIN}, mean)", int(r0)), pct(ratio))
        .judged("≥ 85%", judge(ratio >= 0.85, &[&personal, &plain_a, &plain_b])),
    );
    cx.rows.push(
        Row::new("   latency p50 / p99", format!("{} / {} ms", ms(pp50), ms(pp99)))
            .against(format!("{} / {} ms ({PLAIN}, before)", ms(pa50), ms(pa99)), ""),
    );
    let (sp50, sp99) = (seq_personal.latencies.percentile_ms(50.0), seq_personal.latencies.percentile_ms(99.0));
    let (sn50, sn99) = (seq_plain.latencies.percentile_ms(50.0), seq_plain.latencies.percentile_ms(99.0));
    cx.rows.push(
        Row::new(
            format!("6a sequential, 1 client, {PLAIN} ({} req)", seq_plain.latencies.len()),
            format!("p50 {} / p99 {} ms", ms(sn50), ms(sn99)),
        )
        .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(cx.hello.seq_p50), ms(cx.hello.seq_p99)), ""),
    );
    cx.rows.push(
        Row::new(
            format!("6a sequential, 1 client, {PERSONAL} ({} req)", seq_personal.latencies.len()),
            format!("p50 {} / p99 {} ms", ms(sp50), ms(sp99)),
        )
        .against(
            format!("p50 {} / p99 {} ms ({PLAIN} seq.)", ms(sn50), ms(sn99)),
            if sn50 > 0.0 { pct(sp50 / sn50) } else { String::new() },
        ),
    );
    cx.rows.push(Row::new(
        "   p50 difference per entity (decide, audit, durable commit)",
        format!("{:.1} µs", (sp50 - sn50) * 1000.0 / PAGE as f64),
    ));

    // ---- 6b: audit appends ----
    let http_rate = appended as f64 / personal.elapsed.as_secs_f64();
    cx.rows.push(Row::new(
        format!("6b audit records appended by 6a's {PERSONAL} run (HTTP)"),
        format!(
            "{} records/s ({} records in {:.1} s; {} × {PAGE} = {})",
            int(http_rate),
            int(appended as f64),
            personal.elapsed.as_secs_f64(),
            int(personal.ok as f64),
            int((personal.ok * PAGE as u64) as f64)
        ),
    ));
    if appended != personal.ok * PAGE as u64 || odd != 0 {
        cx.mismatches.push(format!(
            "6b: 6a's {PERSONAL} run appended {appended} audit records ({odd} not an allowed read by the app); \
             {} answered requests × {PAGE} = {} expected (failed requests: {})",
            personal.ok,
            personal.ok * PAGE as u64,
            personal.errors
        ));
    }

    eprintln!("[6b] raw SQLite audit rows, {PAGE} per txn …");
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let template: Vec<AuditEntry> = (0..PAGE as u64).map(|j| entry(DIRECT, j, &now)).collect();
    let rows: Vec<sqlite::AuditRow> = {
        let mut head = ChainHead::genesis(DIRECT);
        let mut rows = Vec::with_capacity(10_000);
        for j in 0..10_000u64 {
            let rec = head.append(entry(DIRECT, j % N, &now)).map_err(|e| anyhow::anyhow!("{e}"))?;
            let doc = serde_json::to_string(&rec)?;
            rows.push(sqlite::AuditRow {
                at: rec.at,
                actor: rec.actor,
                subject: rec.subject,
                resource: rec.resource,
                doc,
                hash: rec.hash,
            });
        }
        rows
    };
    let avg_doc = rows.iter().map(|r| r.doc.len()).sum::<usize>() as f64 / rows.len() as f64;
    let rows = Arc::new(rows);
    let raw_run = |chunk: usize| {
        let (dir, dur, rows) = (cx.root.join(format!("sqlite-audit-{chunk}")), p.duration, Arc::clone(&rows));
        async move {
            std::fs::create_dir_all(&dir)?;
            tokio::task::spawn_blocking(move || sqlite::measure_audit(&dir, DIRECT, &rows, dur, chunk)).await?
        }
    };
    let raw = raw_run(PAGE).await?;
    cx.rows.push(Row::new(
        format!("6b raw SQLite audit rows ({avg_doc:.0} B doc, Kizuna's table), {PAGE} per txn"),
        format!("{} rows/s ({} rows)", int(raw.rate), int(raw.rows as f64)),
    ));
    eprintln!("[6b] raw SQLite audit rows, {} per txn …", int(BIG_TXN as f64));
    let raw_big = raw_run(BIG_TXN).await?;
    cx.rows.push(Row::new(
        format!("6b raw SQLite audit rows, {} per txn (commit cost amortised)", int(BIG_TXN as f64)),
        format!("{} rows/s ({} rows)", int(raw_big.rate), int(raw_big.rows as f64)),
    ));

    eprintln!("[6b] Store::write + append_audit, {PAGE} entries per write, {DIRECT_THREADS} threads …");
    let template = Arc::new(template);
    direct_appends(store, &template, p.warmup()).await?;
    let d = direct_appends(store, &template, p.duration).await?;
    cx.errors.note("6b direct audit appends", &d);
    let d_rate = d.ok as f64 * PAGE as f64 / d.elapsed.as_secs_f64();
    cx.rows.push(
        Row::new(
            format!("6b Store::write(append_audit), {PAGE} entries/write, {DIRECT_THREADS} threads"),
            format!("{} records/s ({} writes/s)", int(d_rate), int(d.rate())),
        )
        .against(format!("{} rows/s (raw SQLite)", int(raw.rate)), pct(d_rate / raw.rate)),
    );
    cx.rows.push(Row::new("   … the same, against raw SQLite in large transactions", "").against(
        format!("{} rows/s (raw SQLite, {} per txn)", int(raw_big.rate), int(BIG_TXN as f64)),
        pct(d_rate / raw_big.rate),
    ));
    cx.rows.push(Row::new(
        "   per-write latency p50 / p99",
        format!("{} / {} ms", ms(d.latencies.percentile_ms(50.0)), ms(d.latencies.percentile_ms(99.0))),
    ));

    // ---- 6c: one decision, in-process ----
    eprintln!("[6c] TenantPolicy::decide over {} readings, 1 thread …", int(N as f64));
    let (dec, with_entry) = {
        let dur = p.duration;
        blocking(store, move |s| decisions(s, dur)).await?
    };
    cx.rows.push(
        Row::new(
            format!("6c TenantPolicy::decide, {} readings in turn, 1 thread", int(N as f64)),
            format!("{} decisions/s ({:.2} µs each)", int(dec), 1e6 / dec),
        )
        .against("none needed: pure in-process CPU", ""),
    );
    cx.rows.push(Row::new(
        "   … + AuditEntry::from_decision (as the gate does)",
        format!("{} decisions/s ({:.2} µs each)", int(with_entry), 1e6 / with_entry),
    ));

    // The chains survived concurrent appends intact.
    let started = Instant::now();
    let report = blocking(store, |s| Ok(s.verify_audit()?)).await?;
    match &report.fault {
        None => cx.notes.push(format!(
            "consent: audit chains verified in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            report
                .tenants
                .iter()
                .map(|(t, n, _)| format!("{t} {} records", int(*n as f64)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Some(f) => cx.mismatches.push(format!("6b: the audit chains do not verify: {f}")),
    }
    cx.notes.push(format!(
        "consent: 6a runs {CLIENTS} clients; the {PLAIN} token differs from the {PERSONAL} one only in its tenant; \
         6b's HTTP count is read from the audit log (Store::audit_page), its direct appends go to tenant {DIRECT}"
    ));
    drop(http);
    Ok(())
}

/// `DIRECT_THREADS` threads each appending `template` (a fresh copy per write) to the
/// audit chain of [`DIRECT`] with `Store::write` until `duration` has passed.
async fn direct_appends(store: &Store, template: &Arc<Vec<AuditEntry>>, duration: Duration) -> anyhow::Result<Outcome> {
    let template = Arc::clone(template);
    blocking(store, move |s| {
        let start = Instant::now();
        let deadline = start + duration;
        let mut total = Outcome::default();
        let outs: Vec<Outcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..DIRECT_THREADS)
                .map(|_| {
                    let (s, template) = (s.clone(), Arc::clone(&template));
                    scope.spawn(move || {
                        let mut out = Outcome::default();
                        while Instant::now() < deadline {
                            let entries = (*template).clone();
                            let t0 = Instant::now();
                            let r = s.write(DIRECT, move |tx| tx.append_audit(entries).map(|v| v.len()));
                            let result = match r {
                                Ok(n) if n == PAGE => Ok(()),
                                Ok(n) => Err(format!("{n} records appended, not {PAGE}")),
                                Err(e) => Err(format!("{e}")),
                            };
                            out.record(t0, result);
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        for o in outs {
            total.merge(o);
        }
        total.elapsed = start.elapsed();
        Ok(total)
    })
    .await
}

/// Decisions per second of the app reading the 1,000 personal readings in turn: the
/// decision alone, then with the audit entry the gate builds from it.
fn decisions(store: &Store, duration: Duration) -> anyhow::Result<(f64, f64)> {
    let policy = store.policy(PERSONAL)?;
    let mut entities: Vec<Entity> = Vec::with_capacity(N as usize);
    for i in 0..N {
        entities.push(store.get(PERSONAL, &reading_id(i))?.with_context(|| format!("reading {i} is missing"))?);
    }
    let caller = policy.enrich(Caller {
        tenant: PERSONAL.into(),
        party: Some(APP.into()),
        role: Role::ServiceProvider,
        subject: None,
        registered_purposes: vec![],
        recipient_kind: None,
    });
    let req = AccessRequest { caller, purpose: Some(Purpose::new(PURPOSE)), action: Action::Read };
    let now = Utc::now();
    let refused = entities.iter().filter(|e| !policy.decide(&req, e, now).is_allowed()).count();
    anyhow::ensure!(refused == 0, "6c: {refused} of {N} readings are not released to the app");
    let run = |with_entry: bool| {
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < duration {
            let now = Utc::now();
            for e in &entities {
                let d = policy.decide(&req, e, now);
                if with_entry {
                    std::hint::black_box(AuditEntry::from_decision(&req, &e.id, &d, now));
                }
                std::hint::black_box(d);
            }
            n += N;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    Ok((run(false), run(true)))
}
