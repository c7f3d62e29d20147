//! The load generator: a closed loop of tokio tasks sharing one keep-alive
//! [`reqwest::Client`], each sending its next request as soon as the previous one is
//! answered. Every request's latency (send → last body byte) is recorded; only a
//! complete success counts — a 2xx answer other than 207 Multi-Status, which reports a
//! partial failure — anything else is an error with a sample kept for the report. Batch
//! loads ([`drain_batches`]) also count the items the server says it stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
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
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// 2xx answers.
    pub ok: u64,
    /// Transport failures, non-2xx answers and 207s (partial failures).
    pub errors: u64,
    /// Items the server confirmed stored (batch loads only: every item of a 201/204, the
    /// `success` list of a 207).
    pub stored: u64,
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
        self.stored += other.stored;
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

/// Sends one request and reads the whole body; `Ok` only for a complete success.
pub async fn send(request: RequestBuilder) -> Result<(), String> {
    fetch(request).await.map(|_| ())
}

/// Sends one request and reads the whole body: status, headers and body, or the
/// transport error.
async fn exchange(request: RequestBuilder) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let resp = request.send().await.map_err(|e| format!("transport error: {e}"))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    Ok((status, headers, body))
}

/// `Ok` for a complete success: 2xx but not 207 Multi-Status (NGSI-LD answers a batch
/// or an attribute update with some failed items with 207).
fn complete(status: StatusCode) -> bool {
    status.is_success() && status != StatusCode::MULTI_STATUS
}

/// An error naming the status with the start of the body.
fn refusal(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(300).collect();
    format!("{status}: {cut}")
}

/// Sends one request and reads the whole body; `Ok` (headers and body) only for a
/// complete success, else an error naming the status with the start of the body.
pub async fn fetch(request: RequestBuilder) -> Result<(HeaderMap, Bytes), String> {
    let (status, headers, body) = exchange(request).await?;
    if complete(status) {
        Ok((headers, body))
    } else {
        Err(refusal(status, &body))
    }
}

/// How many of the `sent` items of one batch request (`POST /entityOperations/...`)
/// the answer says were stored, and whether the request succeeded in full: all of them
/// on a 201 or 204; on a 207 the entity ids under `success` of its BatchOperationResult
/// (ETSI GS CIM 009 §5.2.17), the request being an error that names the failed ones;
/// none on any other answer.
pub fn batch_stored(status: StatusCode, body: &[u8], sent: u64) -> (u64, Result<(), String>) {
    if status == StatusCode::MULTI_STATUS {
        let parsed: Option<(u64, u64)> = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| {
            let success = v.get("success")?.as_array()?.len() as u64;
            let errors = v.get("errors")?.as_array()?.len() as u64;
            Some((success, errors))
        });
        return match parsed {
            Some((success, errors)) if success <= sent => (
                success,
                Err(format!("207: {errors} of {sent} items failed, {success} stored; {}", refusal(status, body))),
            ),
            _ => (
                0,
                Err(format!("207 without a valid BatchOperationResult for {sent} items; {}", refusal(status, body))),
            ),
        };
    }
    if complete(status) {
        (sent, Ok(()))
    } else {
        (0, Err(refusal(status, body)))
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

/// Like [`drain`] for batch requests: each body goes with the number of items in it,
/// and [`Outcome::stored`] counts the items the answers say were stored
/// ([`batch_stored`]).
pub async fn drain_batches<F>(clients: usize, batches: Vec<(Bytes, u64)>, make: F) -> anyhow::Result<Outcome>
where
    F: Fn(Bytes) -> RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let batches = Arc::new(batches);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (make, batches, next) = (Arc::clone(&make), Arc::clone(&batches), Arc::clone(&next));
        tasks.spawn(async move {
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((body, sent)) = batches.get(i) else { break };
                let t0 = Instant::now();
                let result = match exchange(make(body.clone())).await {
                    Ok((status, _, answer)) => {
                        let (stored, result) = batch_stored(status, &answer, *sent);
                        out.stored += stored;
                        result
                    }
                    Err(e) => Err(e),
                };
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
    fn a_batch_counts_only_what_was_stored() {
        let created = br#"["urn:a:1","urn:a:2","urn:a:3"]"#;
        assert_eq!(batch_stored(StatusCode::CREATED, created, 3), (3, Ok(())));
        assert_eq!(batch_stored(StatusCode::NO_CONTENT, b"", 3), (3, Ok(())));
        // A partial failure: two stored, one failed; the request is an error.
        let partial = br#"{"success":["urn:a:1","urn:a:2"],"errors":[{"entityId":"urn:a:3","error":{"type":"x"}}]}"#;
        let (stored, result) = batch_stored(StatusCode::MULTI_STATUS, partial, 3);
        assert_eq!(stored, 2);
        assert!(result.is_err_and(|e| e.contains("1 of 3 items failed")));
        // All failed in a 207, or a refusal, or a 207 whose body is not a result.
        let none = br#"{"success":[],"errors":[{"entityId":"urn:a:1","error":{}}]}"#;
        assert_eq!(batch_stored(StatusCode::MULTI_STATUS, none, 1).0, 0);
        assert_eq!(batch_stored(StatusCode::BAD_REQUEST, b"{}", 1000).0, 0);
        assert_eq!(batch_stored(StatusCode::MULTI_STATUS, b"oops", 5).0, 0);
        assert!(batch_stored(StatusCode::MULTI_STATUS, b"oops", 5).1.is_err());
        // A 207 claiming more successes than items sent is not believed.
        let more = br#"{"success":["a","b","c"],"errors":[]}"#;
        assert_eq!(batch_stored(StatusCode::MULTI_STATUS, more, 2).0, 0);
    }

    #[test]
    fn a_207_is_not_a_complete_success() {
        assert!(complete(StatusCode::OK) && complete(StatusCode::CREATED) && complete(StatusCode::NO_CONTENT));
        assert!(!complete(StatusCode::MULTI_STATUS));
        assert!(!complete(StatusCode::INTERNAL_SERVER_ERROR));
    }

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
