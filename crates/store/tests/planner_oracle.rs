//! The SQL planner (type index, attribute-index pushdown, early stop) must return exactly
//! what the reference semantics [`EntityQuery::matches`] accepts, in id order, for every
//! page: a property test over random queries against a store of random entities. The
//! queries are valid by construction (ranges and lists only after `==`/`!=`, URIs only
//! compared for equality); any the parser still refuses are counted and may be at most
//! 10% of the run (`common::Tally`).

mod common;

use std::sync::OnceLock;

use kizuna_ngsild::entity::{now_timestamp, parse_entity};
use kizuna_ngsild::query::Query;
use kizuna_ngsild::{Context, Entity};
use kizuna_store::{EntityQuery, Gate, Store, StoreError, TypeSelector};
use proptest::prelude::*;
use serde_json::{json, Value};

const TYPES: &[&str] = &["Shelter", "Sensor", "Road"];
const WORDS: &[&str] = &["kita", "minami", "higashi", "nishi"];

/// A deterministic pseudo-random entity set (LCG), with numbers, strings, arrays,
/// relationships, multi-instance attributes, sub-properties and language maps.
fn entities() -> Vec<Entity> {
    let mut seed: u64 = 42;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let ctx = Context::core();
    let now = now_timestamp();
    (0..300)
        .map(|i| {
            let mut body = json!({"id": format!("urn:ngsi-ld:E:{i:04}"), "type": TYPES[next(3) as usize]});
            let o = body.as_object_mut().expect("object");
            if next(2) == 0 {
                o.insert("extra".into(), json!({"type": "Property", "value": 1}));
                o.insert("type".into(), json!([TYPES[next(3) as usize], TYPES[next(3) as usize]]));
            }
            if next(5) != 0 {
                o.insert(
                    "a".into(),
                    json!({"type": "Property", "value": next(10), "unitCode": "C62",
                    "q1": {"type": "Property", "value": next(3)}}),
                );
            }
            if next(3) != 0 {
                o.insert("b".into(), json!({"type": "Property", "value": (next(100) as f64) / 10.0}));
            }
            match next(4) {
                0 => {}
                1 => {
                    o.insert("s".into(), json!({"type": "Property", "value": WORDS[next(4) as usize]}));
                }
                2 => {
                    o.insert("s".into(), json!({"type": "Property", "value": [WORDS[next(4) as usize], next(10)]}));
                }
                _ => {
                    o.insert(
                        "s".into(),
                        json!({"type": "LanguageProperty", "languageMap": {"ja": WORDS[next(4) as usize], "en": "x"}}),
                    );
                }
            }
            if next(2) == 0 {
                o.insert(
                    "r".into(),
                    json!({"type": "Relationship", "object": format!("urn:ngsi-ld:E:{:04}", next(300))}),
                );
            }
            if next(4) == 0 {
                o.insert(
                    "m".into(),
                    json!([{"type": "Property", "value": next(10)},
                    {"type": "Property", "value": next(10), "datasetId": "urn:ngsi-ld:Dataset:2"}]),
                );
            }
            if next(4) == 0 {
                o.insert(
                    "c".into(),
                    json!({"type": "Property", "value": {"k": next(10), "w": WORDS[next(4) as usize]}}),
                );
            }
            let mut e = parse_entity(&body, &ctx).expect("valid generated entity");
            e.stamp_new(&now);
            e
        })
        .collect()
}

struct Fixture {
    store: Store,
    all: Vec<Entity>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(dir.path()).expect("open");
        let mut all = entities();
        let batch = all.clone();
        store
            .write("t", move |tx| {
                for e in &batch {
                    tx.insert(e)?;
                }
                Ok::<(), StoreError>(())
            })
            .expect("load");
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Fixture { store, all, _dir: dir }
    })
}

/// A value any comparison accepts: a number or a string.
fn ordered_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..11).prop_map(|n| n.to_string()),
        (0u32..100).prop_map(|n| format!("{}", n as f64 / 10.0)),
        prop::sample::select(WORDS).prop_map(|w| format!("\"{w}\"")),
    ]
}

/// A value only `==` and `!=` accept: a range, a list, a URI.
fn equality_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..10, 0u32..10).prop_map(|(a, b)| format!("{a}..{b}")),
        (0u32..10, 0u32..10).prop_map(|(a, b)| format!("{a},{b}")),
        prop::sample::select(WORDS).prop_map(|w| format!("\"{w}\",\"nishi\"")),
        (0u32..300).prop_map(|n| format!("urn:ngsi-ld:E:{n:04}")),
    ]
}

fn term() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec!["a", "b", "s", "r", "m", "c[k]", "c[w]", "a.q1", "a.unitCode", "zz"]);
    let condition = prop_oneof![
        // Every operator with a number or a string.
        (prop::sample::select(vec!["==", "!=", ">", ">=", "<", "<="]), ordered_value())
            .prop_map(|(op, v)| format!("{op}{v}")),
        // Equality with a range, a list or a URI.
        (prop::sample::select(vec!["==", "!="]), equality_value()).prop_map(|(op, v)| format!("{op}{v}")),
        // Existence.
        Just(String::new()),
    ];
    (path, condition).prop_map(|(p, c)| format!("{p}{c}"))
}

fn q_string() -> impl Strategy<Value = String> {
    term().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(";")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join("|")),
            inner.prop_map(|q| format!("({q})")),
        ]
    })
}

fn type_selector() -> impl Strategy<Value = Option<Vec<Vec<&'static str>>>> {
    prop_oneof![
        Just(None),
        prop::sample::select(TYPES).prop_map(|t| Some(vec![vec![t]])),
        (prop::sample::select(TYPES), prop::sample::select(TYPES)).prop_map(|(a, b)| Some(vec![vec![a], vec![b]])),
        (prop::sample::select(TYPES), prop::sample::select(TYPES)).prop_map(|(a, b)| Some(vec![vec![a, b]])),
    ]
}

#[test]
fn planner_matches_oracle() {
    let strategy = (
        prop::option::of(q_string()),
        type_selector(),
        prop::sample::subsequence(vec!["a", "r", "m", "zz"], 0..2),
        1usize..40,
        0usize..80,
        any::<bool>(),
        0u8..3,
    );
    common::run("planner_matches_oracle", 1500, strategy, |input, tally| {
        let (q, types, attrs, limit, offset, count, gate_kind) = input;
        let f = fixture();
        let ctx = Context::core();
        let parsed = match q.as_deref().map(Query::parse).transpose() {
            Ok(p) => p.map(|mut p| {
                p.map_names(&|n| ctx.expand(n));
                p
            }),
            Err(e) => {
                tally.discarded(format!("q refused: {e}"));
                return Ok(());
            }
        };
        let query = EntityQuery {
            types: types.map(|alts| {
                TypeSelector(alts.into_iter().map(|all| all.into_iter().map(|t| ctx.expand(t)).collect()).collect())
            }),
            attrs: attrs.iter().map(|a| ctx.expand(a)).collect(),
            q: parsed,
            limit,
            offset,
            count,
            gate: gate(gate_kind),
            ..Default::default()
        };
        let expected: Vec<Entity> = f.all.iter().filter_map(|e| query.admit(e.clone())).collect();
        let got = f.store.query("t", &query).expect("query");
        let got_ids: Vec<&str> = got.entities.iter().map(|e| e.id.as_str()).collect();
        let want_ids: Vec<&str> = expected.iter().skip(offset).take(limit).map(|e| e.id.as_str()).collect();
        prop_assert_eq!(got_ids, want_ids, "q={:?}", q);
        if count {
            prop_assert_eq!(got.total, Some(expected.len() as u64));
        } else {
            prop_assert_eq!(got.total, None);
        }
        tally.checked();
        Ok(())
    });
}

/// An access gate as the consent engine attaches one: 0 none, 1 withholds every other
/// entity, 2 releases every third entity without its attribute `a` (so `q` on `a` must
/// not see the withheld value).
fn gate(kind: u8) -> Option<Gate> {
    let a = Context::core().expand("a");
    let number = |e: &Entity| e.id.rsplit(':').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    match kind {
        1 => Some(Gate::new(move |e| (number(&e) % 2 == 0).then_some(e))),
        2 => Some(Gate::new(move |mut e| {
            if number(&e) % 3 == 0 {
                e.attrs.remove(&a);
            }
            Some(e)
        })),
        _ => None,
    }
}

#[test]
fn gate_withholds_and_hides_attributes_from_conditions() {
    let f = fixture();
    let ctx = Context::core();
    let mut q = Query::parse("a>=0").expect("parses");
    q.map_names(&|n| ctx.expand(n));
    let all = EntityQuery { q: Some(q.clone()), limit: 1000, count: true, ..Default::default() };
    let n_all = f.store.query("t", &all).expect("query").total.expect("count");
    let hidden = EntityQuery { gate: gate(2), ..all.clone() };
    let got = f.store.query("t", &hidden).expect("query");
    assert!(got.total.expect("count") < n_all, "a condition on a withheld attribute must not match");
    assert!(got
        .entities
        .iter()
        .all(|e| e.id.rsplit(':').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) % 3 != 0));
    let halved = EntityQuery { gate: gate(1), ..all };
    let got = f.store.query("t", &halved).expect("query");
    assert_eq!(got.total, Some(got.entities.len() as u64), "count is over released entities");
}

#[test]
fn pushdown_is_not_vacuous() {
    // The property above only proves something if queries select some but not all entities.
    let f = fixture();
    let ctx = Context::core();
    let mut q = Query::parse("a>5;s==\"kita\"").expect("parses");
    q.map_names(&|n| ctx.expand(n));
    let query = EntityQuery { q: Some(q), limit: 1000, count: true, ..Default::default() };
    let n = f.store.query("t", &query).expect("query").total.expect("count");
    assert!(n > 0 && n < 300, "{n} matches");
    let _: Value = json!(null);
}

/// The discard limit itself: a property that throws away half of its inputs fails, even
/// though every input it did check passed.
#[test]
#[should_panic(expected = "inputs discarded")]
fn a_property_that_discards_too_much_fails() {
    common::run("the discard limit's own test, expected to fail", 200, 0u32..1000, |n, tally| {
        if n % 2 == 0 {
            tally.discarded("even");
        } else {
            tally.checked();
        }
        Ok(())
    });
}
