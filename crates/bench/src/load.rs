//! The load generator: a closed loop of tokio tasks sharing one keep-alive
//! [`reqwest::Client`], each sending its next request as soon as the previous one is
//! answered. Every request's latency (send → last body byte) is recorded; only 2xx
//! answers count as successes, anything else is an error with a sample kept for the
//! report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use tokio::task::JoinSet;

use crate::data::Rng;

/// Most error messages kept per measurement.
const MAX_SAMPLES: usize = 5;

/// Request latencies, sortable into percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Adds one latency.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many latencies are recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (nearest rank, `p` in 0..=100) in milliseconds; 0 if empty.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, sorted.len()) - 1;
        sorted[idx].as_secs_f64() * 1000.0
    }
}

/// The outcome of one measurement.
#[derive(Debug, Default)]
pub struct Outcome {
    /// 2xx answers.
    pub ok: u64,
    /// Transport failures and non-2xx answers.
    pub errors: u64,
    /// A few error messages.
    pub samples: Vec<String>,
    /// Latencies of the successful requests.
    pub latencies: Latencies,
    /// Wall time from the first request sent to the last answer received.
    pub elapsed: Duration,
}

impl Outcome {
    /// Counts one request sent at `started`: its latency if `result` is `Ok`, else the error.
    pub fn record(&mut self, started: Instant, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                self.latencies.push(started.elapsed());
            }
            Err(e) => {
                self.errors += 1;
                if self.samples.len() < MAX_SAMPLES {
                    self.samples.push(e);
                }
            }
        }
    }

    /// Adds the counts, error samples and latencies of `other` (not its elapsed time).
    pub fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        for s in other.samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(s);
            }
        }
        self.latencies.extend(other.latencies);
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }
}

/// Sends one request and reads the whole body; `Ok` only for a 2xx answer.
pub async fn send(request: RequestBuilder) -> Result<(), String> {
    fetch(request).await.map(|_| ())
}

/// Sends one request and reads the whole body; `Ok` (headers and body) only for a 2xx
/// answer, else an error naming the status with the start of the body.
pub async fn fetch(request: RequestBuilder) -> Result<(HeaderMap, Bytes), String> {
    let resp = request.send().await.map_err(|e| format!("transport error: {e}"))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    if status.is_success() {
        Ok((headers, body))
    } else {
        let text = String::from_utf8_lossy(&body);
        let cut: String = text.chars().take(300).collect();
        Err(format!("{status}: {cut}"))
    }
}

/// Runs `clients` concurrent closed-loop tasks for `duration`; each request is made by
/// `make` (given the task's own random generator).
pub async fn closed_loop<F>(clients: usize, duration: Duration, make: F) -> anyhow::Result<Outcome>
where
    F: Fn(&mut Rng) -> RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let make = Arc::clone(&make);
        tasks.spawn(async move {
            let mut rng = Rng::new(0xC11E_0000 + c as u64);
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let result = send(make(&mut rng)).await;
                out.record(t0, result);
            }
            out
        });
    }
    let mut total = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        total.merge(done?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Like [`closed_loop`], but each 2xx answer (headers and body) is also given to
/// `check` after its latency was taken; an `Err` from it counts the request as an error.
pub async fn closed_loop_checked<F, C>(clients: usize, duration: Duration, make: F, check: C) -> anyhow::Result<Outcome>
where
    F: Fn(&mut Rng) -> RequestBuilder + Send + Sync + 'static,
    C: Fn(&HeaderMap, &Bytes) -> Result<(), String> + Send + Sync + 'static,
{
    let (make, check) = (Arc::new(make), Arc::new(check));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let (make, check) = (Arc::clone(&make), Arc::clone(&check));
        tasks.spawn(async move {
            let mut rng = Rng::new(0xC11E_0000 + c as u64);
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let result = fetch(make(&mut rng)).await;
                let took = t0.elapsed();
                match result.and_then(|(h, b)| check(&h, &b)) {
                    Ok(()) => {
                        out.ok += 1;
                        out.latencies.push(took);
                    }
                    Err(e) => out.record(t0, Err(e)),
                }
            }
            out
        });
    }
    let mut total = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        total.merge(done?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Sends the requests made by `make` one after another (one client): `count` of them,
/// or fewer if `budget` runs out first (at least `min(count, 5)`).
pub async fn sequential<F>(count: usize, budget: Duration, make: F) -> Outcome
where
    F: FnMut() -> RequestBuilder,
{
    sequential_checked(count, budget, make, |_, _| Ok(())).await
}

/// Like [`sequential`], but each 2xx answer is also given to `check` (after its latency
/// was taken); an `Err` from it counts the request as an error.
pub async fn sequential_checked<F, C>(count: usize, budget: Duration, mut make: F, mut check: C) -> Outcome
where
    F: FnMut() -> RequestBuilder,
    C: FnMut(&HeaderMap, &Bytes) -> Result<(), String>,
{
    let start = Instant::now();
    let mut out = Outcome::default();
    for n in 0..count {
        if n >= 5 && start.elapsed() > budget {
            break;
        }
        let t0 = Instant::now();
        let result = fetch(make()).await;
        let took = t0.elapsed();
        match result.and_then(|(h, b)| check(&h, &b)) {
            Ok(()) => {
                out.ok += 1;
                out.latencies.push(took);
            }
            Err(e) => out.record(t0, Err(e)),
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Sends each lane's pre-built requests in order, one lane per concurrent task, until
/// the lane is done or `budget` has passed; one [`Outcome`] per lane, each with the
/// wall time of the whole run.
pub async fn lanes(lanes: Vec<Vec<RequestBuilder>>, budget: Duration) -> anyhow::Result<Vec<Outcome>> {
    let start = Instant::now();
    let deadline = start + budget;
    let mut tasks = JoinSet::new();
    for (i, lane) in lanes.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut out = Outcome::default();
            for request in lane {
                if Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                let result = send(request).await;
                out.record(t0, result);
            }
            (i, out)
        });
    }
    let mut outs: Vec<(usize, Outcome)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outs.push(done?);
    }
    let elapsed = start.elapsed();
    outs.sort_by_key(|(i, _)| *i);
    Ok(outs
        .into_iter()
        .map(|(_, mut o)| {
            o.elapsed = elapsed;
            o
        })
        .collect())
}

/// Sends the pre-built `bodies` with `clients` concurrent tasks taking the next body
/// from a shared queue until none is left (each body once).
pub async fn drain<F>(clients: usize, bodies: Vec<Bytes>, make: F) -> anyhow::Result<Outcome>
where
    F: Fn(Bytes) -> RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (make, bodies, next) = (Arc::clone(&make), Arc::clone(&bodies), Arc::clone(&next));
        tasks.spawn(async move {
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t0 = Instant::now();
                let result = send(make(body.clone())).await;
                out.record(t0, result);
            }
            out
        });
    }
    let mut total = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        total.merge(done?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
        assert_eq!(Latencies::default().percentile_ms(50.0), 0.0);
    }
}
