//! `kizuna-bench`: Kizuna's throughput and latency, each figure printed beside a
//! baseline measured in the same run on the same machine, so that the ratios mean
//! something whatever the machine.
//!
//! ```text
//! cargo run --release -p kizuna-bench -- [--only foundation,geo,temporal,subscriptions,consent,alerts,fhir]
//!     [--entities 100000] [--geo-entities 1000000] [--seconds 5] [--quick]
//! ```
//!
//! Groups (`--only`, comma-separated or repeated; default all): `foundation` (1b,
//! 2a–2d), `geo` (3a–3c), `temporal` (1c, 4a–4b), `subscriptions` (5a–5c), `consent`
//! (6a–6c), `alerts` (7a–7b), `fhir` (8a–8c). The hello-world baseline 1a runs always: every group
//! compares with it.
//!
//! Everything runs in this one process on one tokio runtime (as many worker threads as
//! cores), on `127.0.0.1`: the servers are served with `axum::serve` and driven by the
//! load generator of [`load`] (tokio tasks sharing one keep-alive `reqwest::Client`,
//! per-request latency recorded, only complete successes counted: 2xx but not 207, a
//! partial failure). Server and load generator share the cores, equally so for the
//! baselines and for Kizuna.
//!
//! # Verdicts and the exit status
//! A target's verdict is PASS only if the figure met it *and* every measurement the
//! figure and its baseline come from had successes and no error (a 207 is an error);
//! MISS if the figure missed it; INVALID otherwise, whatever the figure. The bench exits
//! non-zero when any request failed, any answer was wrong (a count that differs from the
//! data set's truth, a missing notification), any group stopped early or any verdict is
//! INVALID; a MISS is a finding about Kizuna and does not fail the run.
//! `scripts/test.sh` runs `--quick` so that all of this keeps working.
//!
//! # Baselines
//! - **1a — hello-world.** `GET /hello` → `ok` on axum + tokio served by `axum::serve`,
//!   the very stack `kizuna::run` uses, with 64 concurrent clients for N seconds. It is
//!   the most requests per second this HTTP stack *and this load generator* can do on
//!   this machine, so "Kizuna reaches x % of it" is a fair statement about Kizuna's own
//!   per-request cost. A one-client sequential run gives the floor latency of a request.
//! - **1b — raw SQLite.** rusqlite inserting the same entity JSON documents (about 300
//!   bytes each) into a temporary file with Kizuna's pragmas (`journal_mode=WAL`,
//!   `synchronous=FULL`), with a unique text key: one transaction per row (like one
//!   request per entity), all rows in one transaction, and one transaction per 1,000
//!   rows. No HTTP, no JSON parsing, no indexes beyond the key: the ceiling of SQLite
//!   on this disk, which a broker cannot reach, only approach.
//!
//! # Kizuna (in-process: `kizuna::build_app` + `kizuna::run`, store in a temp dir)
//! Groups 2–5 send anonymous requests, so their servers run with the development
//! setting `--dev-open-access` (`config.api.dev_open_access`), which lets anonymous
//! clients read and write non-personal data — all their data is non-personal — and
//! keeps their figures comparable with runs made before writes needed credentials.
//! The consent group (6) runs without it and sends real tokens.
//!
//! - **2a — single creates.** `POST /ngsi-ld/v1/entities` of a sensor entity with five
//!   attributes and a unique id, 64 clients, N seconds, on a fresh store of its own (so
//!   it does not disturb the data set of 2b–2d). Each answer means a durable commit.
//!   Compared with 1a (target ≥ 25 %; both runs free of errors).
//! - **2b — batch upsert.** `POST /ngsi-ld/v1/entityOperations/upsert` with 1,000
//!   entities per request (bodies serialised before the clock starts), a few concurrent
//!   clients, until `--entities` exist. The figure counts the entities the answers say
//!   were stored (all of a 201/204, the `success` list of a 207); every entity must be
//!   stored. Compared with 1b's single transaction (target ≥ 50,000 entities/s).
//! - **2c — retrieve.** `GET /ngsi-ld/v1/entities/{id}` of random existing ids, 64
//!   clients, N seconds. Compared with 1a.
//! - **2d — queries.** `GET /ngsi-ld/v1/entities?type=Sensor&q=…` of several shapes
//!   over the data set, one client, each shape `--queries` times: median and p99
//!   latency (target p99 < 20 ms), with the number of matches the server counted beside
//!   the true number, computed from the explicit distributions of [`data`]. The full
//!   `count=true` query reads every entity and has no target.
//!
//! # Geo (`geo.rs`)
//! - **3a — load.** `--geo-entities` entities of type `Spot` with a `location` Point,
//!   uniform over 40 km × 40 km around 36.39 N 139.06 E, by batch upsert.
//! - **3b — near.** `georel=near;maxDistance==1000&geometry=Point` from random points,
//!   `limit=20`, one client, sequential: p50/p99 (target p99 < 10 ms) beside 1a's
//!   sequential latency; the average number of matches is the server's count, checked
//!   against the true count computed here.
//! - **3c — within** a 1 km × 1 km polygon, likewise.
//!
//! # Temporal (`temporal.rs`)
//! - **1c — raw SQLite history rows**, 1,000 per transaction, into a table shaped like
//!   Kizuna's history with one (entity, attr, time) index.
//! - **4a — append.** `POST /temporal/entities/{id}/attrs` with 1,000 instances per
//!   request (observedAt increasing), 8 entities, 4 clients: instances/s (target
//!   ≥ 50,000/s) against 1c.
//! - **4b — lastN.** 10,000 entities × 100 instances (created with `POST
//!   /temporal/entities`), then `GET /temporal/entities/{id}?lastN=100` of random ids,
//!   sequential: p50/p99 (target p99 < 5 ms), each answer checked to hold 100 instances.
//!
//! # Subscriptions (`subs.rs`) — notifications go to an in-process receiver
//! - **5a — latency** from the 204 of `PATCH /entities/{id}/attrs` to the receipt of the
//!   notification, with 1 matching subscription, and with 1,000 (to the last receipt).
//! - **5b — notifications/s** sustained with 1,000 matching subscriptions and a burst of
//!   updates, against 1a's req/s.
//! - **5c — write throughput** (`PATCH /attrs`, 64 clients) with 1,000 non-matching
//!   subscriptions, as a ratio to the same with none (target ≥ 90 %).
//!
//! # Consent (`consent.rs`) — the consent gate, with real tokens
//! One server without `--dev-open-access`; tenants `personal` and `plain` hold the same
//! 1,000 `Reading` entities (blood pressure, a `patient` relationship to one of 100
//! persons). In `personal` the classification makes them health data about the patient,
//! the app `urn:kizuna:party:app` is a registered service provider for
//! `disease-management`, and all 100 persons consented; in `plain` they are not
//! personal data. Policy records are written with `Store::write` on the server's own
//! store; tokens come from the server's built-in issuer.
//! - **6a — reads under consent.** `GET /entities?type=Reading&limit=100&q=systolic<110`
//!   (exactly 100 matches, one reading of each person) by the app's service-provider
//!   token with `Kizuna-Purpose: disease-management`: in `personal` every answer decides
//!   100 entities and appends 100 audit records durably before it leaves; in `plain`
//!   the same query decides nothing personal and audits nothing. 16 clients for N
//!   seconds (`plain` before and after, baseline their mean; target personal ≥ 85 % of
//!   plain), then one client sequentially (p50/p99). Every answer is checked to hold
//!   100 entities (else it counts as an error); the first ones in full.
//! - **6b — audit appends/s.** (i) The records 6a's personal run appended, counted in
//!   the audit log itself (`Store::audit_page`), per second (it should be req/s × 100).
//!   (ii) `Store::write(tenant, |tx| tx.append_audit(entries))` with 100 entries per
//!   write from 8 threads for N seconds, against raw SQLite inserting the same rows
//!   (JSON and hash precomputed) into a table shaped like Kizuna's `audit_log`, 100 per
//!   transaction, one connection, Kizuna's pragmas — and, as a second reference, 10,000
//!   per transaction (the commit's fsync spread thin). Kizuna's group commit merges
//!   concurrent writes into one commit, so it may beat the 100-per-transaction figure.
//! - **6c — one decision.** `TenantPolicy::decide` for the app over the 1,000 readings
//!   in turn, in-process on one thread: decisions/s, and with the `AuditEntry` the gate
//!   builds. No baseline: it is pure CPU, nothing else to compare with.
//!
//! At the end the audit chains are verified (`Store::verify_audit`).
//!
//! # Alerts (`alerts.rs`) — the CAP alerts API at `/alerts/v1`, with real tokens
//! One server without `--dev-open-access`; a tenant administrator's token from its
//! built-in issuer issues alerts in the Japanese shorthand (`evacuation-order`, area
//! code 102016 with a polygon, status Exercise). Each part has a tenant of its own.
//! - **7a — distribution latency.** 100 media (`POST /alerts/v1/media`, `cap+xml`; half
//!   for the whole tenant, half for 102016), each POSTing to its own path `/m/{i}` of one
//!   in-process receiver, which reads the CAP identifier out of the body. 50 alerts
//!   (`--quick`: 10) issued one at a time, each timed from the 201 of `POST
//!   /alerts/v1/alerts` to its receipt by the first and by the last of the 100 media:
//!   p50/p99 beside 1a's sequential latency. Every medium must receive every alert (a
//!   missing or extra receipt is an error).
//! - **7b — which alerts apply here.** 1,000 alerts (`--quick`: 200), each a
//!   lon/lat-aligned square of side 1–3 km over geo.rs's 40 km × 40 km square, issued
//!   by 4 clients (bodies built before the clock); then `GET /alerts/v1/here?lat=&lon=`
//!   from `--queries` random points, sequential: p50/p99 and the mean number of alerts
//!   answered, each answer's identifiers checked against the true set computed here (a
//!   difference is an error). Baseline: the NGSI-LD geo-query `GET /ngsi-ld/v1/entities?type=Alert&
//!   georel=intersects&geometry=Point&coordinates=[lon,lat]&count=true` over the same
//!   alert entities from the same points (its count checked likewise).
//!
//! # FHIR (`fhir.rs`) — the FHIR R4 API at `/fhir`, with a data holder's token
//! One server without `--dev-open-access`; details in `fhir.rs`.
//! - **8a — transaction Bundles** of 100 home-BP Observations about existing Patients, 4
//!   clients: Bundles/s and Observations/s, against `Store::write` of the same records and
//!   raw SQLite inserting the same 100 documents into an indexed table in one transaction.
//! - **8b — alert evaluation per Observation**: µs per stored Observation crossing no tier
//!   vs crossing one each time (Flag, Communication, HealthAlert entity written), beside
//!   `kizuna_fhir::thresholds::assess_all` alone.
//! - **8c — search** `Observation?patient=&code=&date=ge` over `KIZUNA_BENCH_FHIR_N`
//!   Observations (default 1,000,000, loaded through `Store::write`), sequential: p50/p99
//!   (target p99 < 20 ms) against the same indexed query on raw SQLite; the load rate
//!   against raw SQLite's.

mod alerts;
mod consent;
mod data;
mod fhir;
mod foundation;
mod geo;
mod load;
mod report;
mod servers;
mod sqlite;
mod subs;
mod temporal;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::load::Outcome;
use crate::report::{int, ms, Row};

/// A group of measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Group {
    /// 1b, 2a–2d: SQLite inserts, creates, batch upsert, retrieve, queries.
    Foundation,
    /// 3a–3c: geo-queries over located entities.
    Geo,
    /// 1c, 4a–4b: temporal append and lastN.
    Temporal,
    /// 5a–5c: notification latency and rate, write cost of subscriptions.
    Subscriptions,
    /// 6a–6c: reads of personal data under consent (decided and audited), audit appends, decisions.
    Consent,
    /// 7a–7b: alert distribution latency to 100 media, "which alerts apply here" over 1,000 polygons.
    Alerts,
    /// 8a–8c: FHIR transaction Bundles, alert evaluation per Observation, search over 1M Observations.
    Fhir,
}

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "kizuna-bench", about = "Kizuna throughput and latency beside same-run baselines")]
struct Args {
    /// Only these groups (comma-separated or repeated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
    /// Entities in the data set (batch upsert, retrieve, queries) [default: 100000; --quick: 5000].
    #[arg(long)]
    entities: Option<u64>,
    /// Located entities of the geo group [default: 1000000; --quick: 20000].
    #[arg(long)]
    geo_entities: Option<u64>,
    /// Attribute instances appended in 4a (at most 2 minutes) [default: 500000; --quick: 20000].
    #[arg(long)]
    temporal_instances: Option<u64>,
    /// Temporal entities of 100 instances each for lastN (4b) [default: 10000; --quick: 500].
    #[arg(long)]
    temporal_entities: Option<u64>,
    /// Matching (and non-matching) subscriptions of 5a–5c [default: 1000; --quick: 100].
    #[arg(long)]
    fanout: Option<usize>,
    /// Seconds each timed load runs [default: 5; --quick: 1].
    #[arg(long)]
    seconds: Option<f64>,
    /// A smoke run: 1 second each, small data sets, 50 queries per shape.
    #[arg(long)]
    quick: bool,
    /// Concurrent clients of the load runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Entities per batch upsert request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Concurrent clients sending batch upserts (and temporal appends).
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
    /// Sequential queries per query shape [default: 300; --quick: 50].
    #[arg(long)]
    queries: Option<usize>,
    /// Where the temporary databases go [default: the system temp dir].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the databases after the run (their directory is printed), e.g. to look at query plans.
    #[arg(long)]
    keep: bool,
}

/// The resolved parameters.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub groups: Vec<Group>,
    pub entities: u64,
    pub geo_entities: u64,
    pub temporal_instances: u64,
    pub temporal_entities: u64,
    pub fanout: usize,
    pub duration: Duration,
    pub clients: usize,
    pub batch_size: usize,
    pub batch_clients: usize,
    pub queries: usize,
    pub dir: PathBuf,
    pub quick: bool,
    pub keep: bool,
}

impl Params {
    fn from_args(a: Args) -> anyhow::Result<Params> {
        let seconds = a.seconds.unwrap_or(if a.quick { 1.0 } else { 5.0 });
        anyhow::ensure!(seconds > 0.0 && seconds.is_finite() && seconds <= 600.0, "--seconds must be in (0, 600]");
        let entities = a.entities.unwrap_or(if a.quick { 5_000 } else { 100_000 });
        anyhow::ensure!((1..=10_000_000).contains(&entities), "--entities must be in 1..=10000000");
        let geo_entities = a.geo_entities.unwrap_or(if a.quick { 20_000 } else { 1_000_000 });
        anyhow::ensure!((1..=10_000_000).contains(&geo_entities), "--geo-entities must be in 1..=10000000");
        let temporal_instances = a.temporal_instances.unwrap_or(if a.quick { 20_000 } else { 500_000 });
        anyhow::ensure!((1..=10_000_000).contains(&temporal_instances), "--temporal-instances must be in 1..=10000000");
        let temporal_entities = a.temporal_entities.unwrap_or(if a.quick { 500 } else { 10_000 });
        anyhow::ensure!((1..=100_000).contains(&temporal_entities), "--temporal-entities must be in 1..=100000");
        let fanout = a.fanout.unwrap_or(if a.quick { 100 } else { 1000 });
        anyhow::ensure!((1..=5_000).contains(&fanout), "--fanout must be in 1..=5000");
        anyhow::ensure!((1..=1024).contains(&a.clients), "--clients must be in 1..=1024");
        anyhow::ensure!((1..=64).contains(&a.batch_clients), "--batch-clients must be in 1..=64");
        anyhow::ensure!((1..=10_000).contains(&a.batch_size), "--batch-size must be in 1..=10000");
        let mut groups = a.only;
        if groups.is_empty() {
            groups = Group::value_variants().to_vec();
        }
        Ok(Params {
            groups,
            entities,
            geo_entities,
            temporal_instances,
            temporal_entities,
            fanout,
            duration: Duration::from_secs_f64(seconds),
            clients: a.clients,
            batch_size: a.batch_size,
            batch_clients: a.batch_clients,
            queries: a.queries.unwrap_or(if a.quick { 50 } else { 300 }).clamp(1, 100_000),
            dir: a.dir.unwrap_or_else(std::env::temp_dir),
            quick: a.quick,
            keep: a.keep,
        })
    }

    /// Unrecorded warm-up before each timed load: a fifth of it, at most a second.
    pub fn warmup(&self) -> Duration {
        (self.duration / 5).min(Duration::from_secs(1))
    }

    fn runs(&self, g: Group) -> bool {
        self.groups.contains(&g)
    }
}

/// Errors of a measurement, kept for the report below the table.
#[derive(Default)]
pub(crate) struct Errors(Vec<String>);

impl Errors {
    pub fn note(&mut self, what: &str, o: &Outcome) {
        if o.errors > 0 {
            self.0.push(format!("{what}: {} errors of {} requests; e.g.:", o.errors, o.errors + o.ok));
            for s in &o.samples {
                self.0.push(format!("    {s}"));
            }
        }
    }

    /// Notes a problem that is not a failed request.
    pub fn other(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }
}

/// The hello-world baseline figures (1a).
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    /// The counts of the closed-loop run (latencies dropped): a verdict compared with
    /// 1a is judged from them too.
    pub run: Outcome,
    /// Requests per second with `clients` clients.
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
    /// One client, sequential.
    pub seq_p50: f64,
    pub seq_p99: f64,
}

/// What the groups share: the parameters, the baselines, and what they report.
pub(crate) struct Ctx {
    pub p: Params,
    pub root: PathBuf,
    pub hello: Hello,
    /// 1b, when the foundation group ran.
    pub sqlite: Option<sqlite::SqliteRates>,
    pub rows: Vec<Row>,
    pub errors: Errors,
    pub mismatches: Vec<String>,
    pub notes: Vec<String>,
}

pub(crate) fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find(|l| l.starts_with(prefix)).map(|l| l.split(':').nth(1).unwrap_or(l).trim().to_string())
}

fn print_machine(p: &Params) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let cpu = first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let mem = first_line("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).ok();
    let load = loadavg();
    println!("# kizuna-bench");
    println!();
    println!("machine: nproc {cores}, CPU {cpu}, memory {mem}, kernel {}", kernel.as_deref().unwrap_or("unknown"));
    println!("toolchain: {rustc}; this binary: {} build", if cfg!(debug_assertions) { "DEBUG" } else { "release" });
    if cfg!(debug_assertions) {
        println!("WARNING: a debug build; run with --release for meaningful figures");
    }
    println!("load average at start: {}", load.as_deref().unwrap_or("unknown"));
    if busy(load.as_deref()) {
        println!("WARNING: the machine is busy (load average ≥ 0.5): other work shares the cores with this run");
    }
    let groups: Vec<String> =
        p.groups.iter().filter_map(|g| g.to_possible_value().map(|v| v.get_name().to_string())).collect();
    println!(
        "parameters: groups {}; entities {}, geo entities {}, temporal: {} appended instances, {} entities × 100; \
         fan-out {} subscriptions; {} s per timed load (+{} s warm-up), {} clients, batch {} × {} clients, \
         {} sequential queries per shape{}, temp dir {}",
        groups.join(","),
        int(p.entities as f64),
        int(p.geo_entities as f64),
        int(p.temporal_instances as f64),
        int(p.temporal_entities as f64),
        int(p.fanout as f64),
        p.duration.as_secs_f64(),
        p.warmup().as_secs_f64(),
        p.clients,
        int(p.batch_size as f64),
        p.batch_clients,
        p.queries,
        if p.quick { " (--quick)" } else { "" },
        p.dir.display()
    );
    println!();
}

/// `/proc/loadavg`'s three averages, if readable.
fn loadavg() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Whether the 1-minute load average says other work is running.
fn busy(load: Option<&str>) -> bool {
    load.and_then(|l| l.split_whitespace().next()).and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 0.5)
}

/// The figures of a closed-loop load run: rate, and p50/p99 in ms.
pub(crate) fn rate_p50_p99(o: &Outcome) -> (f64, f64, f64) {
    (o.rate(), o.latencies.percentile_ms(50.0), o.latencies.percentile_ms(99.0))
}

/// The total size of the files under `dir`, in MB.
pub(crate) fn dir_mb(dir: &std::path::Path) -> f64 {
    fn walk(d: &std::path::Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(d) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir) as f64 / 1e6
}

/// 1a: hello-world with `clients` clients, then one client sequentially.
async fn hello_world(p: &Params, errors: &mut Errors, rows: &mut Vec<Row>) -> anyhow::Result<Hello> {
    eprintln!("[1a] hello-world, {} clients …", p.clients);
    let hello = servers::hello().await?;
    let http = client(p.clients)?;
    let url = format!("{}/hello", hello.base);
    let make = {
        let (http, url) = (http.clone(), url.clone());
        move |_: &mut data::Rng| http.get(&url)
    };
    load::closed_loop(p.clients, p.warmup(), make.clone()).await?;
    let h = load::closed_loop(p.clients, p.duration, make).await?;
    errors.note("1a hello-world", &h);
    let (rate, p50, p99) = rate_p50_p99(&h);
    let hseq = load::sequential(p.queries, Duration::from_secs(30), || http.get(&url)).await;
    errors.note("1a hello-world sequential", &hseq);
    let (seq_p50, seq_p99) = (hseq.latencies.percentile_ms(50.0), hseq.latencies.percentile_ms(99.0));
    drop(http);
    hello.stop().await?;
    rows.push(Row::new(format!("1a hello-world GET /hello, {} clients", p.clients), format!("{} req/s", int(rate))));
    rows.push(Row::new("   latency p50 / p99", format!("{} / {} ms", ms(p50), ms(p99))));
    rows.push(Row::new(
        format!("1a hello-world sequential, 1 client ({} req)", hseq.latencies.len()),
        format!("p50 {} / p99 {} ms", ms(seq_p50), ms(seq_p99)),
    ));
    let run = Outcome { ok: h.ok, errors: h.errors, elapsed: h.elapsed, ..Outcome::default() };
    Ok(Hello { run, rate, p50, p99, seq_p50, seq_p99 })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let params = Params::from_args(Args::parse())?;
    let run_start = Instant::now();
    print_machine(&params);
    let root = tempfile::Builder::new()
        .prefix("kizuna-bench-")
        .tempdir_in(&params.dir)
        .with_context(|| format!("creating a temp dir in {}", params.dir.display()))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut errors = Errors::default();
    let hello = hello_world(&params, &mut errors, &mut rows).await?;
    let mut cx = Ctx {
        p: params.clone(),
        root: root.path().to_path_buf(),
        hello,
        sqlite: None,
        rows,
        errors,
        mismatches: Vec::new(),
        notes: Vec::new(),
    };
    // A group that fails is reported and the others still run.
    for group in Group::value_variants().iter().copied().filter(|g| params.runs(*g)) {
        let name = group.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        let started = Instant::now();
        let result = match group {
            Group::Foundation => foundation::run(&mut cx).await,
            Group::Geo => geo::run(&mut cx).await,
            Group::Temporal => temporal::run(&mut cx).await,
            Group::Subscriptions => subs::run(&mut cx).await,
            Group::Consent => consent::run(&mut cx).await,
            Group::Alerts => alerts::run(&mut cx).await,
            Group::Fhir => fhir::run(&mut cx).await,
        };
        if let Err(e) = result {
            eprintln!("[{name}] FAILED: {e:#}");
            cx.errors.other(format!("group {name} stopped early: {e:#}"));
        }
        cx.notes.push(format!("group {name} took {:.1} s", started.elapsed().as_secs_f64()));
    }

    println!("## Results");
    println!();
    report::print_table(&cx.rows);
    println!();
    if !cx.mismatches.is_empty() {
        println!("MATCH COUNT MISMATCHES (the server's answer differs from the data set's truth):");
        for m in &cx.mismatches {
            println!("  {m}");
        }
        println!();
    }
    if cx.errors.0.is_empty() {
        println!("errors: none (every request succeeded in full)");
    } else {
        println!("ERRORS:");
        for e in &cx.errors.0 {
            println!("  {e}");
        }
    }
    if params.runs(Group::Foundation) {
        println!(
            "notes: 2a runs on its own fresh store; 2b–2d on the data set. Query latency is one client, sequential;"
        );
        println!(
            "       pages are the default 20 entities. The 1a sequential figure is the floor of one HTTP round trip."
        );
    }
    if params.runs(Group::Consent) {
        println!(
            "notes: the consent group (6a–6c) runs on a server with real tokens (no --dev-open-access); groups 2–5 \
             run with --dev-open-access."
        );
    }
    for n in &cx.notes {
        println!("note: {n}");
    }
    let load = loadavg();
    println!("load average at the end (includes this run): {}", load.as_deref().unwrap_or("unknown"));
    if params.keep {
        let kept = root.keep();
        println!("databases kept in {}", kept.display());
    }
    println!("total run time: {:.1} s", run_start.elapsed().as_secs_f64());
    let (pass, miss, invalid) = report::tally(&cx.rows);
    println!("verdicts: {pass} PASS, {miss} MISS, {invalid} INVALID");
    // Each failed measurement is one line, followed by its indented samples.
    let failed = cx.errors.0.iter().filter(|l| !l.starts_with(' ')).count();
    let failures = failures(failed, cx.mismatches.len(), invalid);
    anyhow::ensure!(failures.is_empty(), "the run is not valid: {}", failures.join(", "));
    Ok(())
}

/// Why a run fails (empty: it does not): errors, wrong answers, INVALID verdicts. A
/// MISS is a finding, not a failure.
fn failures(errors: usize, mismatches: usize, invalid: usize) -> Vec<String> {
    let mut out = Vec::new();
    if errors > 0 {
        out.push(format!("{errors} measurements with errors"));
    }
    if mismatches > 0 {
        out.push(format!("{mismatches} wrong answers"));
    }
    if invalid > 0 {
        out.push(format!("{invalid} INVALID verdicts"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_mismatches_and_invalid_verdicts_fail_the_run_misses_do_not() {
        assert!(failures(0, 0, 0).is_empty());
        assert_eq!(failures(3, 0, 0), vec!["3 measurements with errors"]);
        assert_eq!(failures(0, 1, 0), vec!["1 wrong answers"]);
        assert_eq!(failures(0, 0, 2), vec!["2 INVALID verdicts"]);
    }
}
