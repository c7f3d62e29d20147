//! `kizuna-bench`: Kizuna's throughput and latency, each figure printed beside a
//! baseline measured in the same run on the same machine, so that the ratios mean
//! something whatever the machine.
//!
//! ```text
//! cargo run --release -p kizuna-bench -- [--entities 100000] [--seconds 5] [--quick]
//! ```
//!
//! Everything runs in this one process on one tokio runtime (as many worker threads as
//! cores), on `127.0.0.1`: the servers are served with `axum::serve` and driven by the
//! load generator of [`load`] (tokio tasks sharing one keep-alive `reqwest::Client`,
//! per-request latency recorded, only 2xx counted). Server and load generator share
//! the cores, equally so for the baselines and for Kizuna.
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
//! - **2a — single creates.** `POST /ngsi-ld/v1/entities` of a sensor entity with five
//!   attributes and a unique id, 64 clients, N seconds, on a fresh store of its own (so
//!   it does not disturb the data set of 2b–2d). Each answer means a durable commit.
//!   Compared with 1a (target ≥ 25 %).
//! - **2b — batch upsert.** `POST /ngsi-ld/v1/entityOperations/upsert` with 1,000
//!   entities per request (bodies serialised before the clock starts), a few concurrent
//!   clients, until `--entities` exist. Compared with 1b's single transaction (target
//!   ≥ 50,000 entities/s).
//! - **2c — retrieve.** `GET /ngsi-ld/v1/entities/{id}` of random existing ids, 64
//!   clients, N seconds. Compared with 1a.
//! - **2d — queries.** `GET /ngsi-ld/v1/entities?type=Sensor&q=…` of several shapes
//!   over the data set, one client, each shape `--queries` times: median and p99
//!   latency (target p99 < 20 ms), with the number of matches the server counted beside
//!   the true number, computed from the explicit distributions of [`data`]. The full
//!   `count=true` query reads every entity and has no target.

mod data;
mod load;
mod report;
mod servers;
mod sqlite;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use clap::Parser;
use reqwest::header::CONTENT_TYPE;

use crate::load::Outcome;
use crate::report::{int, ms, pct, verdict, Row};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "kizuna-bench", about = "Kizuna throughput and latency beside same-run baselines")]
struct Args {
    /// Entities in the data set (batch upsert, retrieve, queries) [default: 100000; --quick: 5000].
    #[arg(long)]
    entities: Option<u64>,
    /// Seconds each timed load runs [default: 5; --quick: 1].
    #[arg(long)]
    seconds: Option<f64>,
    /// A smoke run: 1 second each, 5,000 entities, 50 queries per shape.
    #[arg(long)]
    quick: bool,
    /// Concurrent clients of the load runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Entities per batch upsert request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Concurrent clients sending batch upserts.
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
struct Params {
    entities: u64,
    duration: Duration,
    clients: usize,
    batch_size: usize,
    batch_clients: usize,
    queries: usize,
    dir: PathBuf,
    quick: bool,
    keep: bool,
}

impl Params {
    fn from_args(a: Args) -> anyhow::Result<Params> {
        let seconds = a.seconds.unwrap_or(if a.quick { 1.0 } else { 5.0 });
        anyhow::ensure!(seconds > 0.0 && seconds.is_finite(), "--seconds must be positive");
        let entities = a.entities.unwrap_or(if a.quick { 5_000 } else { 100_000 });
        anyhow::ensure!(entities > 0, "--entities must be positive");
        anyhow::ensure!(a.clients > 0 && a.batch_clients > 0, "client counts must be positive");
        anyhow::ensure!((1..=10_000).contains(&a.batch_size), "--batch-size must be in 1..=10000");
        Ok(Params {
            entities,
            duration: Duration::from_secs_f64(seconds),
            clients: a.clients,
            batch_size: a.batch_size,
            batch_clients: a.batch_clients,
            queries: a.queries.unwrap_or(if a.quick { 50 } else { 300 }).max(1),
            dir: a.dir.unwrap_or_else(std::env::temp_dir),
            quick: a.quick,
            keep: a.keep,
        })
    }

    /// Unrecorded warm-up before each timed load: a fifth of it, at most a second.
    fn warmup(&self) -> Duration {
        (self.duration / 5).min(Duration::from_secs(1))
    }
}

/// Errors of a measurement, kept for the report below the table.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    fn note(&mut self, what: &str, o: &Outcome) {
        if o.errors > 0 {
            self.0.push(format!("{what}: {} errors of {} requests; e.g.:", o.errors, o.errors + o.ok));
            for s in &o.samples {
                self.0.push(format!("    {s}"));
            }
        }
    }
}

fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
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
    println!(
        "parameters: entities {}, {} s per timed load (+{} s warm-up), {} clients, batch {} × {} clients, \
         {} sequential queries per shape{}, temp dir {}",
        int(p.entities as f64),
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
fn rate_p50_p99(o: &Outcome) -> (f64, f64, f64) {
    (o.rate(), o.latencies.percentile_ms(50.0), o.latencies.percentile_ms(99.0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let params = Params::from_args(Args::parse())?;
    let run_start = Instant::now();
    print_machine(&params);
    let p = &params;
    let root = tempfile::Builder::new()
        .prefix("kizuna-bench-")
        .tempdir_in(&p.dir)
        .with_context(|| format!("creating a temp dir in {}", p.dir.display()))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut errors = Errors::default();

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

    // ---- 1a: hello-world ----
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
    let (h_rate, h_p50, h_p99) = rate_p50_p99(&h);
    let hseq = load::sequential(p.queries, Duration::from_secs(30), || http.get(&url)).await;
    errors.note("1a hello-world sequential", &hseq);
    let (hs_p50, hs_p99) = (hseq.latencies.percentile_ms(50.0), hseq.latencies.percentile_ms(99.0));
    drop(http);
    hello.stop().await?;
    rows.push(Row::new(format!("1a hello-world GET /hello, {} clients", p.clients), format!("{} req/s", int(h_rate))));
    rows.push(Row::new("   latency p50 / p99", format!("{} / {} ms", ms(h_p50), ms(h_p99))));
    rows.push(Row::new(
        format!("1a hello-world sequential, 1 client ({} req)", hseq.latencies.len()),
        format!("p50 {} / p99 {} ms", ms(hs_p50), ms(hs_p99)),
    ));

    // ---- 1b: raw SQLite ----
    eprintln!("[1b] raw SQLite inserts …");
    let sqlite_dir = root.path().join("sqlite");
    std::fs::create_dir_all(&sqlite_dir)?;
    let sq = {
        let (docs, dir, dur, chunk) = (Arc::clone(&docs), sqlite_dir.clone(), p.duration, p.batch_size);
        tokio::task::spawn_blocking(move || sqlite::measure(&dir, &docs, dur, chunk)).await??
    };
    rows.push(Row::new(
        "1b raw SQLite autocommit (1 txn per row)",
        format!("{} rows/s ({} rows)", int(sq.autocommit), int(sq.autocommit_rows as f64)),
    ));
    rows.push(Row::new(
        format!("1b raw SQLite, {} rows in 1 txn", int(p.entities as f64)),
        format!("{} rows/s", int(sq.one_txn)),
    ));
    rows.push(Row::new(
        format!("1b raw SQLite, {} rows per txn", int(p.batch_size as f64)),
        format!("{} rows/s", int(sq.chunked)),
    ));

    // ---- 2a: single creates, on a store of their own ----
    eprintln!("[2a] Kizuna single creates, {} clients …", p.clients);
    let k1_dir = root.path().join("kizuna-creates");
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
    errors.note("2a single creates", &c);
    drop(http);
    k1.stop().await?;
    let (c_rate, c_p50, c_p99) = rate_p50_p99(&c);
    let c_ratio = c_rate / h_rate;
    rows.push(
        Row::new(format!("2a POST /entities, {} clients", p.clients), format!("{} creates/s", int(c_rate)))
            .against(format!("{} req/s (1a)", int(h_rate)), pct(c_ratio))
            .target(format!("≥ 25% of 1a: {}", verdict(c_ratio >= 0.25))),
    );
    rows.push(
        Row::new("   latency p50 / p99", format!("{} / {} ms", ms(c_p50), ms(c_p99)))
            .against(format!("{} / {} ms (1a)", ms(h_p50), ms(h_p99)), ""),
    );
    rows.push(
        Row::new("   vs. raw SQLite autocommit", format!("{} creates/s", int(c_rate)))
            .against(format!("{} rows/s (1b)", int(sq.autocommit)), format!("{:.2}×", c_rate / sq.autocommit)),
    );

    // ---- 2b: batch upsert of the data set ----
    eprintln!("[2b] Kizuna batch upsert of {} entities …", int(p.entities as f64));
    let k2_dir = root.path().join("kizuna-dataset");
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
    errors.note("2b batch upsert", &u);
    // All batches have `batch_size` entities but perhaps the last; count the failed ones as the largest.
    let upserted = sizes.iter().sum::<usize>() as u64 - u.errors * p.batch_size as u64;
    let u_rate = upserted as f64 / u.elapsed.as_secs_f64();
    let u_ratio = u_rate / sq.one_txn;
    rows.push(
        Row::new(
            format!("2b batch upsert, {} per request, {} clients", int(p.batch_size as f64), p.batch_clients),
            format!("{} entities/s ({:.2} s)", int(u_rate), u.elapsed.as_secs_f64()),
        )
        .against(format!("{} rows/s (1b, 1 txn)", int(sq.one_txn)), pct(u_ratio))
        .target(format!("≥ 50,000/s: {}", verdict(u_rate >= 50_000.0))),
    );
    rows.push(Row::new("   vs. raw SQLite per-batch txns", format!("{} entities/s", int(u_rate))).against(
        format!("{} rows/s (1b, {} per txn)", int(sq.chunked), int(p.batch_size as f64)),
        pct(u_rate / sq.chunked),
    ));
    rows.push(Row::new(
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
    errors.note("2c retrieve", &g);
    let (g_rate, g_p50, g_p99) = rate_p50_p99(&g);
    rows.push(
        Row::new(format!("2c GET /entities/{{id}} random, {} clients", p.clients), format!("{} req/s", int(g_rate)))
            .against(format!("{} req/s (1a)", int(h_rate)), pct(g_rate / h_rate)),
    );
    rows.push(
        Row::new("   latency p50 / p99", format!("{} / {} ms", ms(g_p50), ms(g_p99)))
            .against(format!("{} / {} ms (1a)", ms(h_p50), ms(h_p99)), ""),
    );

    // ---- 2d: queries ----
    eprintln!("[2d] Kizuna queries, {} each, one client …", p.queries);
    let url = format!("{}/ngsi-ld/v1/entities", k2.base);
    let mut mismatches = Vec::new();
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
            mismatches.push(format!(
                "{}: server answered {status} with count {server_count:?}, expected {expected}",
                shape.label
            ));
        }
        let reps = if shape.is_count { p.queries.min(30) } else { p.queries };
        let budget = Duration::from_secs(if shape.is_count { 60 } else { 30 });
        let params = shape.params.clone();
        load::sequential(5, budget, || http.get(&url).query(&params)).await;
        let o = load::sequential(reps, budget, || http.get(&url).query(&params)).await;
        errors.note(shape.label, &o);
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
        rows.push(
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

    println!("## Results");
    println!();
    report::print_table(&rows);
    println!();
    if !mismatches.is_empty() {
        println!("MATCH COUNT MISMATCHES (the server's count differs from the data set's true count):");
        for m in &mismatches {
            println!("  {m}");
        }
        println!();
    }
    if errors.0.is_empty() {
        println!("errors: none (every request answered 2xx)");
    } else {
        println!("ERRORS:");
        for e in &errors.0 {
            println!("  {e}");
        }
    }
    println!("notes: 2a runs on its own fresh store; 2b–2d on the data set. Query latency is one client, sequential;");
    println!("       pages are the default 20 entities. The 1a sequential figure is the floor of one HTTP round trip.");
    let load = loadavg();
    println!("load average at the end (includes this run): {}", load.as_deref().unwrap_or("unknown"));
    if p.keep {
        let kept = root.keep();
        println!("databases kept in {}", kept.display());
    }
    println!("total run time: {:.1} s", run_start.elapsed().as_secs_f64());
    Ok(())
}
