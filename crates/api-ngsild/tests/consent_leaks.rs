//! The leak property of the consent gate, over HTTP: for random tenants (persons,
//! parties, entities, consents, delegations, usage stops) and random callers, every read
//! path — retrieve, `GET /entities?type=` (with and without `count=true`, with `q` on
//! each attribute), `POST /entityOperations/query`, temporal retrieve and temporal query —
//! returns exactly what an **independent oracle** written here from the access policy
//! says: which entities, and for each the set of attribute names. A difference is
//! either a leak (more than the oracle allows) or an over-denial (less).
//!
//! The oracle re-derives the rules (it never calls `kizuna_consent::decide`):
//! admin sees all; non-personal data: anonymous callers only public data, others all;
//! personal data: unknown subject → admin only; own data → all; no party or anonymous →
//! nothing; no purpose → nothing; service provider with a purpose it is not registered
//! for → nothing; usage stop → nothing; a whole-entity consent → all; a delegation that
//! covers every category of the entity, lists the caller's kind, does not exclude it,
//! lists the purpose, and holds all of the caller's registered purposes → all; else the
//! union of the attribute lists of the attribute-limited consents; else nothing.
//!
//! Each case runs in its own tenant (`case-<n>`) of one server. The cases are generated
//! by a seeded generator (SplitMix64): the run is deterministic, and a failure names
//! the case's seed and prints the case. `KIZUNA_LEAK_CASES` (number of cases) and
//! `KIZUNA_LEAK_SEED` (the first seed) change the run. (The crate has no `proptest`
//! dev-dependency; `run_case` of a seed is what a `proptest!` over `any::<u64>()` would call.)
//!
//! Temporal reads are checked without a window and in the window `timerel=after` 2000
//! on `observedAt`. In the main property every attribute instance, the `dataSubject`
//! relationship included, carries an `observedAt`, so the window holds every instance;
//! the `..._with_windowless_subjects` variant leaves it off about half of the subject
//! relationships (ignored: it fails on a known bug, see tests/access.rs
//! `a_temporal_window_*`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::{enc, Call, Resp, Setup, TestServer};
use kizuna_consent::{
    Category, Classification, ConsentMethod, ConsentRecord, Delegation, LegalBasis, Party, Purpose, RecipientKind,
    Role, UsageStop,
};
use serde_json::{json, Value};

/// Cases per run: each runs ~330 requests and ~590 (request, entity) checks.
const CASES: u64 = 30;
/// The first seed (case `n` uses `SEED + n`).
const SEED: u64 = 0x6b69_7a75_6e61;
/// Cases run at the same time (each in its own tenant).
const PARALLEL: usize = 3;

const V: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const OBSERVED: &str = "2024-01-01T00:00:00Z";
const TYPES: [&str; 5] = ["BloodPressure", "Position", "Shelter", "Sensor", "Note"];
const ALL_TYPES: &str = "BloodPressure,Position,Shelter,Sensor,Note";
const PERSONS: usize = 3;

const CITY: &str = "urn:ngsi-ld:Party:city";
const CLINIC: &str = "urn:ngsi-ld:Party:clinic";
const APP: &str = "urn:ngsi-ld:Party:app";
const INSURER: &str = "urn:ngsi-ld:Party:insurer";

/// A registered party: id, role, registered purposes, recipient kind.
struct PartyDef {
    id: &'static str,
    role: Role,
    purposes: &'static [&'static str],
    kind: Option<&'static str>,
}

const PARTIES: [PartyDef; 3] = [
    PartyDef { id: CLINIC, role: Role::DataHolder, purposes: &[], kind: None },
    PartyDef { id: APP, role: Role::ServiceProvider, purposes: &["p1"], kind: Some("app-vendor") },
    PartyDef { id: INSURER, role: Role::ServiceProvider, purposes: &["p1", "p2"], kind: Some("insurer") },
];

fn person(i: usize) -> String {
    format!("urn:ngsi-ld:Person:p{i}")
}

fn iri(name: &str) -> String {
    format!("{V}{name}")
}

// ---------------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------------

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One of `items` by weight.
    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut r = (self.next() % u64::from(total)) as u32;
        for (x, w) in items {
            if r < *w {
                return *x;
            }
            r -= w;
        }
        items[items.len() - 1].0
    }

    fn subset<T: Copy>(&mut self, items: &[T], p: f64) -> Vec<T> {
        items.iter().copied().filter(|_| self.chance(p)).collect()
    }

    fn nonempty_subset<T: Copy>(&mut self, items: &[T]) -> Vec<T> {
        loop {
            let s = self.subset(items, 0.5);
            if !s.is_empty() {
                return s;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// No `dataSubject` relationship.
    Absent,
    /// One person.
    One(usize),
    /// Two instances naming two persons (ambiguous: an unknown subject).
    Two(usize, usize),
}

#[derive(Debug, Clone)]
struct Ent {
    id: String,
    ty: &'static str,
    subject: Subject,
    systolic: Option<i64>,
    diastolic: Option<i64>,
    /// Attributes given more history (temporal instances) after creation.
    history: Vec<&'static str>,
    /// Whether the `dataSubject` instances carry `observedAt` (and so fall in the
    /// temporal query's window).
    subject_observed: bool,
}

impl Ent {
    fn personal(&self) -> bool {
        matches!(self.ty, "BloodPressure" | "Position") || self.subject != Subject::Absent
    }

    fn categories(&self) -> Vec<&'static str> {
        match self.ty {
            "BloodPressure" => vec!["health"],
            "Position" => vec!["location"],
            _ => vec!["unclassified"],
        }
    }

    fn known_subject(&self) -> Option<usize> {
        match self.subject {
            Subject::One(i) => Some(i),
            _ => None,
        }
    }

    /// The attribute names of the current entity.
    fn names(&self) -> BTreeSet<String> {
        let mut s = BTreeSet::new();
        if self.systolic.is_some() {
            s.insert("systolic".to_string());
        }
        if self.diastolic.is_some() {
            s.insert("diastolic".to_string());
        }
        if self.subject != Subject::Absent {
            s.insert("dataSubject".to_string());
        }
        s
    }

    /// The attribute names with history (temporal reads), in the `observedAt` window
    /// after 2000 or without a window.
    fn temporal_names(&self, window: bool) -> BTreeSet<String> {
        let mut s = self.names();
        s.extend(self.history.iter().map(|a| a.to_string()));
        if window && !self.subject_observed {
            s.remove("dataSubject");
        }
        s
    }

    fn json(&self) -> Value {
        let prop = |v: i64| json!({"type": "Property", "value": v, "observedAt": OBSERVED});
        let rel = |i: usize| {
            let mut r = json!({"type": "Relationship", "object": person(i)});
            if self.subject_observed {
                r["observedAt"] = json!(OBSERVED);
            }
            r
        };
        let mut e = json!({"id": self.id, "type": self.ty});
        if let Some(v) = self.systolic {
            e["systolic"] = prop(v);
        }
        if let Some(v) = self.diastolic {
            e["diastolic"] = prop(v);
        }
        match self.subject {
            Subject::Absent => {}
            Subject::One(i) => e["dataSubject"] = rel(i),
            Subject::Two(i, j) => {
                let mut second = rel(j);
                second["datasetId"] = json!("urn:ngsi-ld:dataset:second");
                e["dataSubject"] = json!([rel(i), second]);
            }
        }
        e
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InForce,
    /// In force, expiring in 30 days.
    UntilLater,
    Expired,
    Withdrawn,
    /// Granted tomorrow.
    NotYet,
}

impl State {
    fn in_force(self) -> bool {
        matches!(self, State::InForce | State::UntilLater)
    }

    /// (granted_at, expires_at, withdrawn_at) relative to `now`.
    fn times(self, now: DateTime<Utc>) -> (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let days = chrono::Duration::days;
        let granted = now - days(30);
        match self {
            State::InForce => (granted, None, None),
            State::UntilLater => (granted, Some(now + days(30)), None),
            State::Expired => (granted, Some(now - days(1)), None),
            State::Withdrawn => (granted, None, Some(now - chrono::Duration::hours(1))),
            State::NotYet => (now + days(1), None, None),
        }
    }

    fn random(rng: &mut Rng) -> State {
        rng.weighted(&[
            (State::InForce, 55),
            (State::UntilLater, 15),
            (State::Expired, 10),
            (State::Withdrawn, 10),
            (State::NotYet, 10),
        ])
    }
}

#[derive(Debug, Clone)]
struct Consent {
    id: String,
    subject: usize,
    recipient: String,
    purposes: Vec<&'static str>,
    categories: Vec<&'static str>,
    types: Vec<&'static str>,
    systolic_only: bool,
    state: State,
}

#[derive(Debug, Clone)]
struct Deleg {
    id: String,
    subject: usize,
    categories: Vec<&'static str>,
    kinds: Vec<&'static str>,
    purposes: Vec<&'static str>,
    excluded: Vec<&'static str>,
    state: State,
}

#[derive(Debug, Clone)]
struct Stop {
    subject: usize,
    recipient: &'static str,
}

/// A caller as the oracle sees it (the server learns the same from the token and the
/// party registry).
#[derive(Debug, Clone)]
struct Caller {
    label: String,
    role: Role,
    /// The party (for citizens: their own URN, the token's `sub`; `None`: anonymous).
    party: Option<String>,
    subject: Option<usize>,
    registered: Vec<&'static str>,
    kind: Option<&'static str>,
    purpose: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Case {
    n: u64,
    seed: u64,
    tenant: String,
    ents: Vec<Ent>,
    consents: Vec<Consent>,
    delegations: Vec<Deleg>,
    stops: Vec<Stop>,
    callers: Vec<Caller>,
}

fn random_purpose(rng: &mut Rng) -> Option<&'static str> {
    rng.weighted(&[(None, 10), (Some("p1"), 50), (Some("p2"), 30), (Some("p3"), 10)])
}

fn generate(n: u64, seed: u64, windowless: bool) -> Case {
    let mut rng = Rng(seed);
    let tenant = format!("case-{n}");
    let mut ents = Vec::new();
    let count = 5 + rng.below(3);
    for k in 0..count {
        let ty =
            rng.weighted(&[("BloodPressure", 35), ("Position", 20), ("Shelter", 15), ("Sensor", 15), ("Note", 15)]);
        let one = Subject::One(rng.below(PERSONS));
        let i = rng.below(PERSONS);
        let two = Subject::Two(i, (i + 1 + rng.below(PERSONS - 1)) % PERSONS);
        let subject = match ty {
            "BloodPressure" | "Position" => rng.weighted(&[(one, 80), (Subject::Absent, 10), (two, 10)]),
            "Note" => rng.weighted(&[(one, 85), (two, 15)]),
            _ => rng.weighted(&[(Subject::Absent, 85), (one, 15)]),
        };
        let mut systolic = rng.chance(0.8).then(|| 60 + rng.below(140) as i64);
        let diastolic = rng.chance(0.8).then(|| 40 + rng.below(80) as i64);
        if subject == Subject::Absent && systolic.is_none() && diastolic.is_none() {
            systolic = Some(100);
        }
        let history = if rng.chance(0.5) { rng.nonempty_subset(&["systolic", "diastolic"]) } else { vec![] };
        let subject_observed = !(windowless && rng.chance(0.5));
        ents.push(Ent {
            id: format!("urn:ngsi-ld:{ty}:c{n}-e{k}"),
            ty,
            subject,
            systolic,
            diastolic,
            history,
            subject_observed,
        });
    }
    let recipients: Vec<String> = PARTIES.iter().map(|p| p.id.to_string()).collect();
    let consents = (0..3 + rng.below(6))
        .map(|k| {
            let recipient = if rng.chance(0.1) {
                person(rng.below(PERSONS))
            } else {
                recipients[rng.weighted(&[(0, 25), (1, 40), (2, 35)])].clone()
            };
            let (categories, types) = if rng.chance(0.7) {
                (rng.nonempty_subset(&["health", "location"]), vec![])
            } else {
                (vec![], rng.nonempty_subset(&["BloodPressure", "Position", "Note"]))
            };
            Consent {
                id: format!("c{k}"),
                subject: rng.below(PERSONS),
                recipient,
                purposes: rng.nonempty_subset(&["p1", "p2"]),
                categories,
                types,
                systolic_only: rng.chance(0.35),
                state: State::random(&mut rng),
            }
        })
        .collect();
    let delegations = (0..1 + rng.below(3))
        .map(|k| Deleg {
            id: format!("d{k}"),
            subject: rng.below(PERSONS),
            categories: rng.nonempty_subset(&["health", "location", "unclassified"]),
            kinds: rng.nonempty_subset(&["app-vendor", "insurer"]),
            purposes: rng.weighted(&[(&["p1", "p2"][..], 50), (&["p1"][..], 35), (&["p2"][..], 15)]).to_vec(),
            excluded: rng.subset(&[APP, INSURER], 0.2),
            state: rng.weighted(&[(State::InForce, 60), (State::Withdrawn, 20), (State::Expired, 20)]),
        })
        .collect();
    let stops = (0..rng.below(3))
        .map(|_| Stop { subject: rng.below(PERSONS), recipient: rng.weighted(&[(CLINIC, 1), (APP, 1), (INSURER, 1)]) })
        .collect();
    let mut callers = vec![Caller {
        label: "tenant-admin".into(),
        role: Role::TenantAdmin,
        party: Some(CITY.into()),
        subject: None,
        registered: vec![],
        kind: None,
        purpose: random_purpose(&mut rng),
    }];
    // Each party twice, with independent purposes.
    for round in 0..2 {
        for p in &PARTIES {
            if round == 1 && p.role != Role::ServiceProvider {
                continue;
            }
            let purpose = random_purpose(&mut rng);
            callers.push(Caller {
                label: format!("{} ({}, purpose {purpose:?})", p.id, p.role),
                role: p.role,
                party: Some(p.id.into()),
                subject: None,
                registered: p.purposes.to_vec(),
                kind: p.kind,
                purpose,
            });
        }
    }
    for i in 0..PERSONS {
        let purpose = random_purpose(&mut rng);
        callers.push(Caller {
            label: format!("citizen {} (purpose {purpose:?})", person(i)),
            role: Role::Citizen,
            party: Some(person(i)),
            subject: Some(i),
            registered: vec![],
            kind: None,
            purpose,
        });
    }
    let purpose = random_purpose(&mut rng);
    callers.push(Caller {
        label: format!("anonymous (purpose {purpose:?})"),
        role: Role::Anonymous,
        party: None,
        subject: None,
        registered: vec![],
        kind: None,
        purpose,
    });
    Case { n, seed, tenant, ents, consents, delegations, stops, callers }
}

// ---------------------------------------------------------------------------------
// The oracle.
// ---------------------------------------------------------------------------------

/// What the caller may see of an entity, and why (for the statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    Admin,
    Public,
    NonPersonal,
    Own,
    Consent,
    Delegation,
    Limited,
    NotPublic,
    UnknownSubject,
    NoParty,
    NoPurpose,
    NotRegistered,
    Stopped,
    NoConsent,
}

impl Why {
    fn released(self) -> bool {
        matches!(
            self,
            Why::Admin | Why::Public | Why::NonPersonal | Why::Own | Why::Consent | Why::Delegation | Why::Limited
        )
    }
}

/// `None`: the whole entity; `Some(set)`: only these attributes; with the reason.
fn oracle(case: &Case, c: &Caller, e: &Ent) -> (Why, Option<BTreeSet<&'static str>>) {
    let whole = |why| (why, None);
    let hidden = |why| (why, Some(BTreeSet::new()));
    if c.role == Role::TenantAdmin {
        return whole(Why::Admin);
    }
    if !e.personal() {
        return match (e.ty == "Shelter", c.role == Role::Anonymous) {
            (true, _) => whole(Why::Public),
            (false, true) => hidden(Why::NotPublic),
            (false, false) => whole(Why::NonPersonal),
        };
    }
    let Some(subject) = e.known_subject() else { return hidden(Why::UnknownSubject) };
    if c.role == Role::Citizen && c.subject == Some(subject) {
        return whole(Why::Own);
    }
    let party = match (&c.party, c.role) {
        (Some(p), r) if r != Role::Anonymous => p.as_str(),
        _ => return hidden(Why::NoParty),
    };
    let Some(purpose) = c.purpose else { return hidden(Why::NoPurpose) };
    if c.role == Role::ServiceProvider && !c.registered.contains(&purpose) {
        return hidden(Why::NotRegistered);
    }
    if case.stops.iter().any(|s| s.subject == subject && s.recipient == party) {
        return hidden(Why::Stopped);
    }
    let cats = e.categories();
    let matching: Vec<&Consent> = case
        .consents
        .iter()
        .filter(|k| {
            k.subject == subject
                && k.recipient == party
                && k.purposes.contains(&purpose)
                && (cats.iter().all(|x| k.categories.contains(x)) || k.types.contains(&e.ty))
                && k.state.in_force()
        })
        .collect();
    if matching.iter().any(|k| !k.systolic_only) {
        return whole(Why::Consent);
    }
    let delegated = c.kind.is_some_and(|kind| {
        case.delegations.iter().any(|d| {
            d.subject == subject
                && d.state.in_force()
                && cats.iter().all(|x| d.categories.contains(x))
                && d.kinds.contains(&kind)
                && !d.excluded.contains(&party)
                && d.purposes.contains(&purpose)
                && c.registered.contains(&purpose)
                && c.registered.iter().all(|r| d.purposes.contains(r))
        })
    });
    if delegated {
        return whole(Why::Delegation);
    }
    if !matching.is_empty() {
        return (Why::Limited, Some(["systolic"].into_iter().collect()));
    }
    hidden(Why::NoConsent)
}

/// The attribute names the caller must get (`None`: the entity must be withheld), for
/// the current entity or its history.
/// Which representation a read path returns.
#[derive(Debug, Clone, Copy)]
enum View {
    /// The current entity.
    Current,
    /// Its whole history.
    History,
    /// Its history in the window `timerel=after&timeAt=2000-01-01T00:00:00Z` (on `observedAt`).
    Window,
}

fn expected(case: &Case, c: &Caller, e: &Ent, view: View) -> (Why, Option<BTreeSet<String>>) {
    let (why, allowed) = oracle(case, c, e);
    if !why.released() {
        return (why, None);
    }
    let names = match view {
        View::Current => e.names(),
        View::History => e.temporal_names(false),
        View::Window => e.temporal_names(true),
    };
    let names = match allowed {
        None => names,
        Some(a) => names.into_iter().filter(|n| a.contains(n.as_str())).collect(),
    };
    (why, Some(names))
}

// ---------------------------------------------------------------------------------
// Running a case.
// ---------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Stats {
    cases: u64,
    requests: u64,
    checks: u64,
    count_checks: u64,
    by_why: BTreeMap<String, u64>,
    /// Checks where personal data was visible to someone other than the admin or subject.
    visible_personal: u64,
    withheld_personal: u64,
    limited: u64,
    mismatches: Vec<String>,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.cases += o.cases;
        self.requests += o.requests;
        self.checks += o.checks;
        self.count_checks += o.count_checks;
        for (k, v) in o.by_why {
            *self.by_why.entry(k).or_default() += v;
        }
        self.visible_personal += o.visible_personal;
        self.withheld_personal += o.withheld_personal;
        self.limited += o.limited;
        self.mismatches.extend(o.mismatches);
    }
}

struct Runner<'a> {
    srv: &'a TestServer,
    case: &'a Case,
    caller: &'a Caller,
    token: Option<String>,
    stats: Stats,
}

fn attr_names(e: &Value) -> BTreeSet<String> {
    e.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !["id", "type", "@context", "scope", "createdAt", "modifiedAt"].contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

impl Runner<'_> {
    fn on(&self, c: Call) -> Call {
        let mut c = c.tenant(&self.case.tenant);
        if let Some(t) = &self.token {
            c = c.bearer(t);
        }
        if let Some(p) = self.caller.purpose {
            c = c.purpose(p);
        }
        c
    }

    async fn send(&mut self, c: Call) -> Resp {
        self.stats.requests += 1;
        self.on(c).send().await
    }

    fn fail(&mut self, msg: String) {
        let m = format!("case {} (seed {:#x}), caller {}: {msg}", self.case.n, self.case.seed, self.caller.label);
        self.stats.mismatches.push(m);
    }

    /// Compares one entity's answer with the oracle.
    fn check(&mut self, path: &str, e: &Ent, got: Option<BTreeSet<String>>, view: View) {
        let (why, want) = expected(self.case, self.caller, e, view);
        self.stats.checks += 1;
        *self.stats.by_why.entry(format!("{why:?}")).or_default() += 1;
        if e.personal() {
            match why {
                Why::Consent | Why::Delegation | Why::Limited => self.stats.visible_personal += 1,
                w if !w.released() => self.stats.withheld_personal += 1,
                _ => {}
            }
            if why == Why::Limited {
                self.stats.limited += 1;
            }
        }
        if got != want {
            let kind = match (&want, &got) {
                (None, Some(_)) => "LEAK (withheld entity returned)",
                (Some(w), Some(g)) if !g.is_subset(w) => "LEAK (attributes beyond the grant)",
                _ => "OVER-DENIAL",
            };
            self.fail(format!(
                "{kind} on {path} for {} ({}, subject {:?}): expected {want:?} ({why:?}), got {got:?}",
                e.id, e.ty, e.subject
            ));
        }
    }

    /// Checks a list answer against the oracle for `selected` entities (`keep` filters
    /// the expected ones further, e.g. by a `q` condition).
    fn check_list(
        &mut self,
        path: &str,
        r: &Resp,
        selected: &[&Ent],
        view: View,
        keep: &dyn Fn(&BTreeSet<String>) -> bool,
    ) {
        if r.status != 200 {
            self.fail(format!("{path}: status {} {}", r.status, r.text));
            return;
        }
        let body = r.json();
        let Some(list) = body.as_array() else {
            self.fail(format!("{path}: not an array: {body}"));
            return;
        };
        let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in list {
            let id = e["id"].as_str().unwrap_or_default().to_string();
            if got.insert(id.clone(), attr_names(e)).is_some() {
                self.fail(format!("{path}: {id} returned twice"));
            }
        }
        for id in got.keys() {
            if !selected.iter().any(|e| &e.id == id) {
                self.fail(format!("LEAK on {path}: {id} is not selected by the request (or not of this tenant)"));
            }
        }
        for e in selected {
            let seen = got.get(&e.id).cloned();
            // An entity the oracle releases but the condition excludes must be absent.
            let (_, want) = expected(self.case, self.caller, e, view);
            if want.as_ref().is_some_and(|w| !keep(w)) {
                self.stats.checks += 1;
                if let Some(s) = seen {
                    self.fail(format!(
                        "LEAK on {path}: {} matched a condition on attributes it may not show: {s:?}",
                        e.id
                    ));
                }
                continue;
            }
            self.check(path, e, seen, view);
        }
    }

    /// Checks `NGSILD-Results-Count` against the number of entities the oracle releases.
    fn check_count(&mut self, path: &str, r: &Resp, selected: &[&Ent], view: View) {
        let want = selected.iter().filter(|e| expected(self.case, self.caller, e, view).1.is_some()).count();
        self.stats.count_checks += 1;
        let got = r.header("ngsild-results-count");
        if got.as_deref() != Some(want.to_string().as_str()) {
            self.fail(format!("{path}: NGSILD-Results-Count {got:?}, expected {want}"));
        }
    }

    async fn run(&mut self, rng: &mut Rng) {
        let case = self.case;
        let one = |r: &Resp| -> Result<Option<BTreeSet<String>>, String> {
            match r.status {
                200 => Ok(Some(attr_names(&r.json()))),
                404 => Ok(None),
                s => Err(format!("status {s}: {}", r.text)),
            }
        };
        // Retrieve and temporal retrieve of every entity.
        for e in &case.ents {
            let r = self.send(self.srv.get(&format!("/entities/{}", enc(&e.id)))).await;
            match one(&r) {
                Ok(got) => self.check("GET /entities/{id}", e, got, View::Current),
                Err(m) => self.fail(format!("GET /entities/{}: {m}", e.id)),
            }
            let r = self.send(self.srv.get(&format!("/temporal/entities/{}", enc(&e.id)))).await;
            match one(&r) {
                Ok(got) => self.check("GET /temporal/entities/{id}", e, got, View::History),
                Err(m) => self.fail(format!("GET /temporal/entities/{}: {m}", e.id)),
            }
            let window = [("timerel", "after"), ("timeAt", "2000-01-01T00:00:00Z")];
            let r = self.send(self.srv.get(&format!("/temporal/entities/{}", enc(&e.id))).query(&window)).await;
            match one(&r) {
                Ok(got) => self.check("GET /temporal/entities/{id}?timerel=after", e, got, View::Window),
                Err(m) => self.fail(format!("GET /temporal/entities/{}?timerel=after: {m}", e.id)),
            }
        }
        let all: Vec<&Ent> = case.ents.iter().collect();
        let any = |_: &BTreeSet<String>| true;
        // Per type: GET (randomly with count=true) and POST query.
        for ty in TYPES {
            let selected: Vec<&Ent> = case.ents.iter().filter(|e| e.ty == ty).collect();
            let count = rng.chance(0.5);
            let mut q = vec![("type", ty), ("limit", "100")];
            if count {
                q.push(("count", "true"));
            }
            let r = self.send(self.srv.get("/entities").query(&q)).await;
            let path = format!("GET /entities?type={ty}{}", if count { "&count=true" } else { "" });
            self.check_list(&path, &r, &selected, View::Current, &any);
            if count {
                self.check_count(&path, &r, &selected, View::Current);
            }
            let body = json!({"type": "Query", "entities": [{"type": ty}]});
            let r = self.send(self.srv.post("/entityOperations/query").query(&[("limit", "100")]).json(&body)).await;
            self.check_list(&format!("POST /entityOperations/query type {ty}"), &r, &selected, View::Current, &any);
        }
        // All types, counted.
        let r = self
            .send(self.srv.get("/entities").query(&[("type", ALL_TYPES), ("count", "true"), ("limit", "100")]))
            .await;
        self.check_list("GET /entities?type=all&count=true", &r, &all, View::Current, &any);
        self.check_count("GET /entities?type=all&count=true", &r, &all, View::Current);
        // Conditions on each attribute: never true of a withheld one.
        for attr in ["systolic", "diastolic"] {
            let q = format!("{attr}>0");
            let has = move |s: &BTreeSet<String>| s.contains(attr);
            let r =
                self.send(self.srv.get("/entities").query(&[("type", ALL_TYPES), ("q", &q), ("limit", "100")])).await;
            self.check_list(&format!("GET /entities?q={q}"), &r, &all, View::Current, &has);
        }
        // Temporal query over all types, in a window holding every instance.
        let window = [("type", ALL_TYPES), ("timerel", "after"), ("timeAt", "2000-01-01T00:00:00Z"), ("limit", "100")];
        let mut q = window.to_vec();
        q.push(("count", "true"));
        let r = self.send(self.srv.get("/temporal/entities").query(&q)).await;
        self.check_list("GET /temporal/entities?type=all&timerel=after", &r, &all, View::Window, &any);
        self.check_count("GET /temporal/entities?type=all&timerel=after&count=true", &r, &all, View::Window);
        let attr = if rng.chance(0.5) { "systolic" } else { "diastolic" };
        let cond = format!("{attr}>0");
        let mut q = window.to_vec();
        q.push(("q", &cond));
        let r = self.send(self.srv.get("/temporal/entities").query(&q)).await;
        let has = move |s: &BTreeSet<String>| s.contains(attr);
        self.check_list(&format!("GET /temporal/entities?q={cond}"), &r, &all, View::Window, &has);
    }
}

async fn setup_case(srv: &TestServer, case: &Case) {
    let now = Utc::now();
    let tenant = case.tenant.clone();
    let (t, c) = (tenant.clone(), case.clone());
    srv.store_write(&tenant, move |tx| {
        tx.set_classification(
            &Classification::new()
                .with_personal(&iri("BloodPressure"), Category::Health, None)
                .with_personal(&iri("Position"), Category::Location, None)
                .with_public(&iri("Shelter")),
        )?;
        for p in &PARTIES {
            tx.put_party(&Party {
                id: p.id.into(),
                name: p.id.into(),
                roles: vec![p.role],
                registered_purposes: p.purposes.iter().map(|x| Purpose::new(*x)).collect(),
                recipient_kind: p.kind.map(RecipientKind::new),
            })?;
        }
        for k in &c.consents {
            let (granted_at, expires_at, withdrawn_at) = k.state.times(now);
            tx.put_consent(&ConsentRecord {
                id: k.id.clone(),
                subject: person(k.subject),
                controller: t.clone(),
                recipient: k.recipient.clone(),
                purposes: k.purposes.iter().map(|p| Purpose::new(*p)).collect(),
                categories: k.categories.iter().map(|x| Category::parse(x)).collect(),
                types: k.types.iter().map(|x| iri(x)).collect(),
                attributes: if k.systolic_only { vec![iri("systolic")] } else { vec![] },
                legal_basis: LegalBasis::Consent,
                notice_version: "1".into(),
                method: ConsentMethod::App,
                granted_at,
                expires_at,
                withdrawn_at,
                given_by: None,
                withdrawn_by: None,
            })?;
        }
        for d in &c.delegations {
            let (granted_at, expires_at, withdrawn_at) = d.state.times(now);
            tx.put_delegation(&Delegation {
                id: d.id.clone(),
                subject: person(d.subject),
                controller: t.clone(),
                categories: d.categories.iter().map(|x| Category::parse(x)).collect(),
                recipient_kinds: d.kinds.iter().map(|k| RecipientKind::new(*k)).collect(),
                purposes: d.purposes.iter().map(|p| Purpose::new(*p)).collect(),
                excluded_recipients: d.excluded.iter().map(|x| x.to_string()).collect(),
                notice_version: "1".into(),
                method: ConsentMethod::App,
                granted_at,
                expires_at,
                withdrawn_at,
                given_by: None,
                withdrawn_by: None,
            })?;
        }
        for s in &c.stops {
            tx.put_usage_stop(&UsageStop {
                subject: person(s.subject),
                controller: t.clone(),
                recipient: s.recipient.into(),
                stopped_at: now,
                given_by: None,
            })?;
        }
        Ok(())
    })
    .await;
    let admin = srv.token(&tenant, Role::TenantAdmin, Some(CITY), None);
    let body = Value::Array(case.ents.iter().map(Ent::json).collect());
    let r = srv.post("/entityOperations/create").tenant(&tenant).bearer(&admin).json(&body).send().await;
    assert_eq!(r.status, 201, "case {}: batch create: {}", case.n, r.text);
    for e in case.ents.iter().filter(|e| !e.history.is_empty()) {
        let mut body = json!({});
        for (k, a) in e.history.iter().enumerate() {
            body[*a] = json!([
                {"type": "Property", "value": 150 + k, "observedAt": "2024-02-01T00:00:00Z"},
                {"type": "Property", "value": 151 + k, "observedAt": "2024-03-01T00:00:00Z"},
            ]);
        }
        let r = srv
            .post(&format!("/temporal/entities/{}/attrs", enc(&e.id)))
            .tenant(&tenant)
            .bearer(&admin)
            .json(&body)
            .send()
            .await;
        assert_eq!(r.status, 204, "case {}: history of {}: {}", case.n, e.id, r.text);
    }
}

/// One case: generate, store, ask as every caller, compare with the oracle.
async fn run_case(srv: &TestServer, n: u64, seed: u64, windowless: bool) -> Stats {
    let case = generate(n, seed, windowless);
    setup_case(srv, &case).await;
    let mut rng = Rng(seed ^ 0x5eed);
    let mut total = Stats { cases: 1, ..Stats::default() };
    for caller in &case.callers {
        let token = match caller.role {
            Role::Anonymous => None,
            Role::Citizen => Some(srv.token(&case.tenant, Role::Citizen, None, caller.party.as_deref())),
            role => Some(srv.token(&case.tenant, role, caller.party.as_deref(), None)),
        };
        let mut r = Runner { srv, case: &case, caller, token, stats: Stats::default() };
        r.run(&mut rng).await;
        total.add(r.stats);
    }
    if !total.mismatches.is_empty() {
        total.mismatches.push(format!("case {n} (seed {seed:#x}) was: {case:#?}"));
    }
    total
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.strip_prefix("0x").map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok()))
        .unwrap_or(default)
}

/// Runs the cases on one server (a few at a time, each in its own tenant), prints the
/// summary and fails on any difference or if the run exercised too little.
async fn property(windowless: bool) {
    let started = Instant::now();
    let cases = env_u64("KIZUNA_LEAK_CASES", CASES);
    let seed = env_u64("KIZUNA_LEAK_SEED", SEED);
    let srv = Arc::new(TestServer::start_with(Setup { open: false, ..Default::default() }).await);
    let mut stats = Stats::default();
    let mut next = 0;
    while next < cases {
        let mut set = tokio::task::JoinSet::new();
        for n in next..(next + PARALLEL as u64).min(cases) {
            let srv = srv.clone();
            set.spawn(async move { run_case(&srv, n, seed.wrapping_add(n), windowless).await });
        }
        next += PARALLEL as u64;
        while let Some(r) = set.join_next().await {
            stats.add(r.expect("case task"));
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "consent leak property{}: {} cases (seeds {seed:#x}..), {} requests, {} (request, entity) checks, {} count checks in {:.1} s",
        if windowless { " (windowless subjects)" } else { "" },
        stats.cases,
        stats.requests,
        stats.checks,
        stats.count_checks,
        elapsed.as_secs_f64()
    );
    eprintln!(
        "  personal data visible by consent/delegation: {}, of which attribute-limited: {}; personal data withheld: {}",
        stats.visible_personal, stats.limited, stats.withheld_personal
    );
    eprintln!("  checks by oracle reason: {:?}", stats.by_why);
    if !stats.mismatches.is_empty() {
        let shown: Vec<&String> = stats.mismatches.iter().take(40).collect();
        panic!(
            "{} differences between the server and the oracle (first {}):\n{}",
            stats.mismatches.len(),
            shown.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
    // The property is not vacuous.
    if cases >= CASES {
        assert!(stats.checks >= 3000, "only {} checks", stats.checks);
    }
    for (what, n) in [
        ("visible personal data (consent or delegation)", stats.visible_personal),
        ("withheld personal data", stats.withheld_personal),
        ("attribute-limited results", stats.limited),
        ("delegations", stats.by_why.get("Delegation").copied().unwrap_or(0)),
        ("whole-entity consents", stats.by_why.get("Consent").copied().unwrap_or(0)),
        ("own data", stats.by_why.get("Own").copied().unwrap_or(0)),
        ("usage stops", stats.by_why.get("Stopped").copied().unwrap_or(0)),
        ("unknown subjects", stats.by_why.get("UnknownSubject").copied().unwrap_or(0)),
    ] {
        assert!(n > 0, "no check exercised {what}: the property is vacuous there");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_path_releases_more_or_less_than_the_policy() {
    property(false).await;
}

/// The same property when about half of the `dataSubject` relationships carry no
/// `observedAt`, so that the temporal window (`timerel=after` on `observedAt`) holds no
/// instance of them: the decision must still be about the entity's subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_path_releases_more_or_less_than_the_policy_with_windowless_subjects() {
    property(true).await;
}
