//! Randomized leak test of every FHIR read path against an independent oracle.
//!
//! Each case builds random people (Patient, Observations, some raising a Flag), random
//! consents (categories, purposes, withdrawn, expired, attribute-limited), usage stops
//! and guardianships, then asks as random callers (tenant admin, the supplying clinic,
//! service providers with and without purpose, citizens, guardians, anonymous) on every
//! read path — read, vread, history, search by patient, search of everything,
//! `_include`, `_revinclude`, chained parameters, `$everything` — and compares what each
//! answer releases with the oracle, written from the documented rules, not by calling the
//! decision point.
//!
//! Every answer is also held to the status the rules give it, derived from what the
//! oracle allows and never from the answer: an instance read (read, vread, history,
//! `$everything`) of something the caller may not see is 404 with a `not-found`
//! OperationOutcome, exactly like a missing resource; a search is 200 with a searchset
//! Bundle. A 5xx or any other status is a failure, never "nothing released".
//! Thirty cases, six at a time, each on its own server (the NGSI-LD leak test's scale);
//! `KIZUNA_LEAK_SEED` and `KIZUNA_LEAK_CASES` reproduce or extend a run.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use kizuna_consent::{Category, Guardianship, Role, UsageStop};
use serde_json::Value;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

const PROVIDERS: [(&str, &[&str]); 2] =
    [("urn:kizuna:party:app", &["disease-management"]), ("urn:kizuna:party:bank", &["disease-management", "research"])];
const PURPOSES: [&str; 3] = ["disease-management", "research", "healthcare"];

#[derive(Clone, Debug)]
struct Grant {
    subject: String,
    recipient: String,
    purpose: String,
    categories: Vec<Category>,
    usable: bool,
}

#[derive(Clone, Debug)]
enum Who {
    Admin,
    Clinic,
    Anonymous,
    Citizen(String),
    Provider(usize, Option<String>),
}

struct World {
    /// resource key (`Type/id`) → subject.
    owner: HashMap<String, String>,
    grants: Vec<Grant>,
    stops: BTreeSet<(String, String)>,
    guardians: BTreeSet<(String, String)>,
}

impl World {
    /// The oracle: may `who` read resource `key`?
    fn allowed(&self, who: &Who, key: &str) -> bool {
        let subject = &self.owner[key];
        let category = if key.starts_with("Patient/") { Category::Identity } else { Category::Health };
        match who {
            Who::Admin => true,
            // The clinic supplied every Patient and Observation (basis `source`); Flags and
            // Communications come from Kizuna's rules, and the clinic states no purpose.
            Who::Clinic => key.starts_with("Patient/") || key.starts_with("Observation/"),
            Who::Anonymous => false,
            Who::Citizen(me) => me == subject || self.guardians.contains(&(me.clone(), subject.clone())),
            Who::Provider(i, purpose) => {
                let (party, registered) = PROVIDERS[*i];
                let Some(purpose) = purpose else { return false };
                if !registered.contains(&purpose.as_str()) {
                    return false;
                }
                if self.stops.contains(&(subject.clone(), party.to_string())) {
                    return false;
                }
                self.grants.iter().any(|g| {
                    g.usable
                        && &g.subject == subject
                        && g.recipient == party
                        && &g.purpose == purpose
                        && g.categories.contains(&category)
                })
            }
        }
    }
}

fn token(s: &Server, who: &Who) -> Option<String> {
    match who {
        Who::Admin => Some(s.admin()),
        Who::Clinic => Some(s.clinic()),
        Who::Anonymous => None,
        Who::Citizen(me) => Some(s.citizen(me)),
        Who::Provider(i, purpose) => {
            Some(s.token(Role::ServiceProvider, Some(PROVIDERS[*i].0), None, purpose.as_deref()))
        }
    }
}

/// The `Type/id` keys of every resource in a Bundle (match and include entries), or of
/// a single resource.
fn released(body: &Value) -> BTreeSet<String> {
    let key = |r: &Value| format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
    match body["resourceType"].as_str() {
        Some("Bundle") => body["entry"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["resource"]["resourceType"] != "OperationOutcome")
                    .map(|e| key(&e["resource"]))
                    .collect()
            })
            .unwrap_or_default(),
        Some("OperationOutcome") | None => BTreeSet::new(),
        Some(_) => [key(body)].into_iter().collect(),
    }
}

/// How the rules say a read path answers, whatever it releases.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// read, vread, history, `$everything`: 200 with what may be read, or — when nothing
    /// of it may be — 404 `not-found`, exactly like a resource that does not exist.
    Instance,
    /// A search: always 200 with a searchset Bundle, withheld matches simply absent.
    Search,
}

/// Checks one answer against the rules: its status (derived from `want`, never from the
/// answer), its body's shape, exactly what it releases and, for a search without
/// includes, its `total`. Returns the differences.
fn judge(rule: Rule, r: &Reply, want: &BTreeSet<String>, total: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let status = match rule {
        Rule::Instance if want.is_empty() => 404,
        Rule::Instance | Rule::Search => 200,
    };
    if r.status != status {
        out.push(format!("status {} where the rules say {status}: {}", r.status, r.body));
        return out;
    }
    match (rule, status) {
        (Rule::Search, _) => {
            if r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" {
                out.push(format!("not a searchset Bundle: {}", r.body));
            }
            if let Some(n) = total {
                if r.body["total"].as_u64() != Some(n as u64) {
                    out.push(format!("total {} where {n} may be read", r.body["total"]));
                }
            }
        }
        (Rule::Instance, 404) => {
            if r.body["resourceType"] != "OperationOutcome" || r.body["issue"][0]["code"] != "not-found" {
                out.push(format!("a 404 without a not-found OperationOutcome: {}", r.body));
            }
        }
        (Rule::Instance, _) => {}
    }
    let got = released(&r.body);
    if &got != want {
        out.push(format!("released {got:?}, the rules allow {want:?}"));
    }
    out
}

/// Cases per run, as in the NGSI-LD leak test (`api-ngsild/tests/consent_leaks.rs`):
/// each builds 3–5 people and asks about 15 callers on every read path, about 1,000
/// requests.
const CASES: u64 = 30;
/// Cases run at the same time (each on its own server): more concurrent requests share
/// each durable audit commit (12 cases took 35 s at 6 against 41 s at 3, 2 busy cores).
const PARALLEL: u64 = 6;

/// What a run did, for the summary and the not-vacuous checks.
#[derive(Default)]
struct Stats {
    requests: u64,
    checks: u64,
    visible: u64,
    /// Answers whose status the rules made 404.
    not_found: u64,
    failures: Vec<String>,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.requests += o.requests;
        self.checks += o.checks;
        self.visible += o.visible;
        self.not_found += o.not_found;
        self.failures.extend(o.failures);
    }
}

async fn run_case(case: u64, seed: u64) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng(seed ^ (case + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let s = Server::start().await;
    for (party, purposes) in PROVIDERS {
        s.put_party(party, &[Role::ServiceProvider], purposes).await;
    }
    let n = 3 + rng.below(3) as usize;
    let people: Vec<String> = (0..n).map(|i| format!("urn:ngsi-ld:Person:c{case}p{i}")).collect();
    let mut world = World { owner: HashMap::new(), grants: vec![], stops: BTreeSet::new(), guardians: BTreeSet::new() };
    let mut patients = Vec::new();
    for (i, subject) in people.iter().enumerate() {
        let pid = s.patient(subject, "1970-01-01", "female").await;
        world.owner.insert(format!("Patient/{pid}"), subject.clone());
        for k in 0..(1 + rng.below(2)) {
            let sys = if rng.chance(40) { 150.0 } else { 118.0 };
            let oid = s.bp(&pid, sys, 80.0, &format!("2026-11-{:02}T07:00:00+09:00", 1 + k)).await;
            world.owner.insert(format!("Observation/{oid}"), subject.clone());
        }
        patients.push(pid);
        // Consents.
        for (pi, (party, _)) in PROVIDERS.iter().enumerate() {
            if !rng.chance(60) {
                continue;
            }
            let purpose = PURPOSES[rng.below(3) as usize].to_string();
            let mut categories = vec![];
            for c in [Category::Health, Category::Identity, Category::Location] {
                if rng.chance(55) {
                    categories.push(c);
                }
            }
            if categories.is_empty() {
                categories.push(Category::Health);
            }
            let mut c = consent_record(&format!("c{case}-{i}-{pi}"), subject, party, &purpose, Category::Health);
            c.categories = categories.clone();
            let state = rng.below(5);
            match state {
                1 => c.withdrawn_at = Some(ago(10)),
                2 => c.expires_at = Some(ago(5)),
                3 => c.attributes = vec!["https://uri.etsi.org/ngsi-ld/default-context/systolic".into()],
                _ => {}
            }
            world.grants.push(Grant {
                subject: subject.clone(),
                recipient: party.to_string(),
                purpose,
                categories,
                usable: state == 0 || state == 4,
            });
            s.write(move |tx| tx.put_consent(&c)).await;
            if rng.chance(40) {
                let stop = UsageStop {
                    subject: subject.clone(),
                    controller: T.into(),
                    recipient: party.to_string(),
                    stopped_at: ago(1),
                    given_by: None,
                };
                world.stops.insert((subject.clone(), party.to_string()));
                s.write(move |tx| tx.put_usage_stop(&stop)).await;
            }
        }
    }
    // Flags and Communications raised by high readings belong to their person too.
    for rt in ["Flag", "Communication"] {
        let all = s.get(&format!("/{rt}?_count=1000"), Some(&s.admin())).await;
        assert_eq!(all.status, 200, "case {case}: the admin's {rt} search: {}", all.body);
        for e in all.body["entry"].as_array().cloned().unwrap_or_default() {
            let r = &e["resource"];
            let pid = r["subject"]["reference"]
                .as_str()
                .expect("a subject reference")
                .trim_start_matches("Patient/")
                .to_string();
            let owner = world.owner[&format!("Patient/{pid}")].clone();
            world.owner.insert(format!("{rt}/{}", r["id"].as_str().expect("an id")), owner);
        }
    }
    // A guardianship or two (one ended).
    if n >= 2 {
        let (g, w) = (people[0].clone(), people[1].clone());
        world.guardians.insert((g.clone(), w.clone()));
        s.guardian(&format!("g{case}"), &g, &w).await;
        let ended = Guardianship {
            id: format!("g{case}-ended"),
            controller: T.into(),
            guardian: people[n - 1].clone(),
            ward: people[0].clone(),
            relationship: "father".into(),
            evidence: "出生届".into(),
            valid_from: ago(1000),
            valid_until: None,
            ended_at: Some(ago(10)),
        };
        s.write(move |tx| tx.put_guardianship(&ended)).await;
    }
    let mut callers = vec![Who::Admin, Who::Clinic, Who::Anonymous];
    for p in &people {
        callers.push(Who::Citizen(p.clone()));
    }
    for i in 0..PROVIDERS.len() {
        callers.push(Who::Provider(i, None));
        for p in PURPOSES {
            callers.push(Who::Provider(i, Some(p.to_string())));
        }
    }
    let keys: Vec<String> = world.owner.keys().cloned().collect();
    for who in &callers {
        let tok = token(&s, who);
        let t = tok.as_deref();
        let expect = |subset: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
            subset.filter(|k| world.allowed(who, k)).cloned().collect()
        };
        // A search's `total` counts its matches; the type searches below have no includes.
        let mut check = |path: String, rule: Rule, r: Reply, want: BTreeSet<String>, total: Option<usize>| {
            stats.requests += 1;
            stats.checks += want.len().max(1) as u64;
            stats.visible += want.len() as u64;
            if matches!(rule, Rule::Instance) && want.is_empty() {
                stats.not_found += 1;
            }
            for d in judge(rule, &r, &want, total) {
                stats.failures.push(format!("case {case} seed {seed:#x}: {who:?} GET {path}: {d}"));
            }
        };
        // read, history and vread of every resource
        for k in &keys {
            let want = expect(&mut [k].into_iter());
            check(k.clone(), Rule::Instance, s.get(&format!("/{k}"), t).await, want.clone(), None);
            check(
                format!("{k}/_history"),
                Rule::Instance,
                s.get(&format!("/{k}/_history"), t).await,
                want.clone(),
                None,
            );
            check(format!("{k}/_history/1"), Rule::Instance, s.get(&format!("/{k}/_history/1"), t).await, want, None);
        }
        // searches
        for (i, pid) in patients.iter().enumerate() {
            let subject = &people[i];
            let mine: Vec<String> =
                keys.iter().filter(|k| k.starts_with("Observation/") && &world.owner[*k] == subject).cloned().collect();
            let q = format!("/Observation?patient={pid}");
            check(q.clone(), Rule::Search, s.get(&q, t).await, expect(&mut mine.iter()), None);
            let q = format!("/Observation?patient={pid}&_include=Observation:patient");
            let mut want = expect(&mut mine.iter());
            if !want.is_empty() {
                want.extend(expect(&mut [format!("Patient/{pid}")].iter()));
            }
            check(q.clone(), Rule::Search, s.get(&q, t).await, want, None);
            let pkey = format!("Patient/{pid}");
            let want: BTreeSet<String> = if world.allowed(who, &pkey) {
                keys.iter().filter(|k| &world.owner[*k] == subject && world.allowed(who, k)).cloned().collect()
            } else {
                BTreeSet::new()
            };
            let q = format!("/{pkey}/$everything");
            check(q.clone(), Rule::Instance, s.get(&q, t).await, want, None);
            // A chain through the person's Patient finds their Observations only for a
            // caller who may read that Patient (who these records belong to).
            let q = format!("/Observation?patient.identifier=urn:kizuna:data-subject%7C{subject}");
            let want = if world.allowed(who, &pkey) { expect(&mut mine.iter()) } else { BTreeSet::new() };
            check(q.clone(), Rule::Search, s.get(&q, t).await, want, None);
            // _revinclude: the Patient if it may be read, and each of its Observations
            // that may be.
            let q = format!("/Patient?_id={pid}&_revinclude=Observation:subject");
            let mut want = BTreeSet::new();
            if world.allowed(who, &pkey) {
                want.insert(pkey.clone());
                want.extend(expect(&mut mine.iter()));
            }
            check(q.clone(), Rule::Search, s.get(&q, t).await, want, None);
        }
        for rt in ["Observation", "Patient", "Flag", "Communication"] {
            let q = format!("/{rt}?_count=1000");
            let r = s.get(&q, t).await;
            let of_type: Vec<String> = keys.iter().filter(|k| k.starts_with(&format!("{rt}/"))).cloned().collect();
            let want = expect(&mut of_type.iter());
            let n = want.len();
            check(q, Rule::Search, r, want, Some(n));
        }
    }
    drop(s);
    stats
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.strip_prefix("0x").map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok()))
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fhir_read_path_releases_what_the_rules_withhold() {
    let started = std::time::Instant::now();
    let seed = env_u64("KIZUNA_LEAK_SEED", 0x5eed_f41e);
    let cases = env_u64("KIZUNA_LEAK_CASES", CASES);
    let mut stats = Stats::default();
    let mut next = 0;
    while next < cases {
        let mut set = tokio::task::JoinSet::new();
        for case in next..(next + PARALLEL).min(cases) {
            set.spawn(run_case(case, seed));
        }
        next += PARALLEL;
        while let Some(done) = set.join_next().await {
            stats.add(done.expect("case task"));
        }
    }
    eprintln!(
        "FHIR consent leak test: {cases} cases (seed {seed:#x}), {} requests, {} checks, {} released as expected, \
         {} withheld answered 404, in {:.1} s",
        stats.requests,
        stats.checks,
        stats.visible,
        stats.not_found,
        started.elapsed().as_secs_f64()
    );
    if !stats.failures.is_empty() {
        let shown: Vec<&str> = stats.failures.iter().take(40).map(String::as_str).collect();
        panic!("{} answers differ from the rules (first {}):\n{}", stats.failures.len(), shown.len(), shown.join("\n"));
    }
    // Not vacuous: releases, refusals and 404s were all exercised.
    assert!(stats.visible > 0 && stats.checks > stats.visible, "the cases must exercise both releases and refusals");
    assert!(stats.not_found > 0, "no withheld read was exercised");
}
