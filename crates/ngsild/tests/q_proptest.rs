//! Property tests of the query language `q`: printing then parsing any query gives it
//! back; parsing anything (random text, mutated valid queries) never panics, and
//! whatever parses prints to text that parses to the same query.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use kizuna_ngsild::entity::{AttrKind, Attribute, Entity};
use kizuna_ngsild::query::{AttrPath, Op, Pattern, QValue, Query, Term, MAX_QUERY_LEN, METADATA_NAMES};
use proptest::prelude::*;
use serde_json::json;

// ---------------------------------------------------------------------------------
// Strategies for syntax trees the parser can produce.

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Zé][a-zA-Z0-9_é]{0,7}"
}

fn sub_name() -> impl Strategy<Value = String> {
    prop_oneof![4 => name(), 1 => proptest::sample::select(METADATA_NAMES).prop_map(String::from)]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![1 => Just("*".to_string()), 5 => "[a-zA-Z0-9_-]{1,6}"]
}

fn path() -> impl Strategy<Value = AttrPath> {
    (name(), prop::collection::vec(sub_name(), 0..3), prop::collection::vec(key(), 0..3))
        .prop_map(|(attr, sub, compound)| AttrPath { attr, sub, compound })
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![any::<i32>().prop_map(f64::from), -1e6..1e6f64, any::<f64>().prop_filter("finite", |f| f.is_finite()),]
}

fn datetime() -> impl Strategy<Value = DateTime<FixedOffset>> {
    // Years 2..9998, so that no offset moves the local date out of 4 digits.
    (-62_104_060_800i64..253_370_764_800i64, 0u32..1_000_000_000, -(24 * 60 - 1)..(24 * 60i32)).prop_map(
        |(secs, nanos, offset_min)| {
            let offset = FixedOffset::east_opt(offset_min * 60).expect("offset within a day");
            DateTime::from_timestamp(secs, nanos).expect("in range").with_timezone(&offset)
        },
    )
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("in range"))
}

fn time() -> impl Strategy<Value = NaiveTime> {
    (0u32..86_400, 0u32..1_000_000_000)
        .prop_map(|(s, n)| NaiveTime::from_num_seconds_from_midnight_opt(s, n).expect("in range"))
}

fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9+-]{0,5}(\\.[a-z0-9]{1,3})?:[a-zA-Z0-9:/?#@!$&'*+=%_~é\\[\\]-]{0,12}(\\.[a-z]{1,3}){0,2}",
        "[a-zA-Z][a-zA-Z0-9_]{0,8}".prop_filter("not a boolean", |s| s != "true" && s != "false"),
    ]
}

/// The kinds that can be ordered, and make ranges.
fn comparable() -> impl Strategy<Value = QValue> {
    prop_oneof![
        number().prop_map(QValue::Number),
        any::<String>().prop_map(QValue::Str),
        datetime().prop_map(QValue::DateTime),
        date().prop_map(QValue::Date),
        time().prop_map(QValue::Time),
    ]
}

fn list_member() -> impl Strategy<Value = QValue> {
    prop_oneof![
        3 => comparable(),
        1 => any::<bool>().prop_map(QValue::Bool),
        1 => uri().prop_map(QValue::Uri),
    ]
}

fn range() -> impl Strategy<Value = QValue> {
    let r = |a: QValue, b: QValue| QValue::Range(Box::new(a), Box::new(b));
    prop_oneof![
        (number(), number()).prop_map(move |(a, b)| r(QValue::Number(a), QValue::Number(b))),
        (any::<String>(), any::<String>()).prop_map(move |(a, b)| r(QValue::Str(a), QValue::Str(b))),
        (datetime(), datetime()).prop_map(move |(a, b)| r(QValue::DateTime(a), QValue::DateTime(b))),
        (date(), date()).prop_map(move |(a, b)| r(QValue::Date(a), QValue::Date(b))),
        (time(), time()).prop_map(move |(a, b)| r(QValue::Time(a), QValue::Time(b))),
    ]
}

fn equality_value() -> impl Strategy<Value = QValue> {
    prop_oneof![
        4 => list_member(),
        1 => range(),
        1 => prop::collection::vec(list_member(), 2..5).prop_map(QValue::List),
    ]
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        proptest::sample::select(vec![r"^Merc", r"\d+\.\d*", r#"say "hi""#, r"(?i)a|b", r"[\\]", r"^$", r"x{2,3}"])
            .prop_map(String::from),
        any::<String>().prop_map(|s| regex::escape(&s)),
    ]
    .prop_map(|s| Pattern::new(&s).expect("valid pattern"))
}

fn term() -> impl Strategy<Value = Term> {
    let op = prop_oneof![
        1 => Just(None),
        3 => (proptest::sample::select(vec![Op::Eq, Op::Ne]), equality_value()).prop_map(Some),
        2 => (proptest::sample::select(vec![Op::Gt, Op::Ge, Op::Lt, Op::Le]), comparable()).prop_map(Some),
        1 => (proptest::sample::select(vec![Op::Match, Op::NotMatch]), pattern().prop_map(QValue::Regex))
            .prop_map(Some),
    ];
    (path(), op).prop_map(|(path, op)| Term { path, op })
}

fn query() -> impl Strategy<Value = Query> {
    term().prop_map(Query::Term).prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(Query::And),
            prop::collection::vec(inner, 2..5).prop_map(Query::Or),
        ]
    })
}

// ---------------------------------------------------------------------------------
// Helpers.

/// Parsing `text` did not panic; if it succeeded, the result prints to text that parses
/// back to the same query, and evaluating it does not panic either.
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    if let Ok(q) = Query::parse(text) {
        let printed = q.to_string();
        let again = Query::parse(&printed);
        prop_assert_eq!(again.as_ref(), Ok(&q), "{:?} printed as {:?}", text, printed);
        let _ = q.matches(&sample_entity());
    }
    Ok(())
}

fn sample_entity() -> Entity {
    let mut a = Attribute::property(json!({"x": [1, "two", {"y": true}], "when": "2020-01-01T00:00:00Z"}));
    a.observed_at = Some("2020-01-01T00:00:00Z".into());
    a.sub.insert("b".into(), Attribute::property(json!("12:00:00Z")));
    let mut name = Attribute::property(json!({"en": "red", "fr": ["rouge"]}));
    name.kind = AttrKind::LanguageProperty;
    let mut rel = Attribute::property(json!(["urn:a:1", "urn:a:2"]));
    rel.kind = AttrKind::Relationship;
    let mut attrs = BTreeMap::new();
    attrs.insert("a".to_string(), vec![a, Attribute::property(json!(3.5))]);
    attrs.insert("name".to_string(), vec![name]);
    attrs.insert("rel".to_string(), vec![rel]);
    attrs.insert("d".to_string(), vec![Attribute::property(json!("2020-02-02"))]);
    Entity {
        id: "urn:ngsi-ld:T:1".into(),
        types: vec!["T".into()],
        scope: Vec::new(),
        attrs,
        created_at: None,
        modified_at: None,
    }
}

/// Characters that matter to the grammar, to make random text reach the parser's
/// deeper states more often than arbitrary Unicode would.
const Q_ALPHABET: &str = "[a-e0-2;|()\\[\\].,=!<>~\"\\\\:*TZ +-]{0,48}";

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let c = prop_oneof![
        3 => proptest::sample::select(";|()[].,=!<>~\"\\:*-+ Te0a".chars().collect::<Vec<_>>()),
        1 => any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), c).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *e {
            Edit::Insert(i, c) => {
                let i = at(i, chars.len() + 1);
                chars.insert(i, c);
            }
            Edit::Delete(i) if !chars.is_empty() => {
                let i = at(i, chars.len());
                chars.remove(i);
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = at(i, chars.len());
                chars[i] = c;
            }
            Edit::Duplicate(i, n) if !chars.is_empty() => {
                let i = at(i, chars.len());
                let n = 1 + n % 8;
                let piece: Vec<char> = chars[i..chars.len().min(i + n)].to_vec();
                chars.splice(i..i, piece);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------
// Properties.

proptest! {
    // No regression files: the seeds of a failure are in its report.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(q in query()) {
        let printed = q.to_string();
        prop_assume!(printed.len() <= MAX_QUERY_LEN);
        let parsed = Query::parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&q), "printed: {}", printed);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_parse(&text)?;
    }

    #[test]
    fn grammar_flavoured_text_never_panics(text in Q_ALPHABET) {
        check_parse(&text)?;
    }

    #[test]
    fn mutated_queries_never_panic(q in query(), edits in prop::collection::vec(edit(), 1..6)) {
        let mutated = apply(&q.to_string(), &edits);
        check_parse(&mutated)?;
    }

    #[test]
    fn printed_query_evaluates_like_the_original(q in query()) {
        let printed = q.to_string();
        prop_assume!(printed.len() <= MAX_QUERY_LEN);
        let e = sample_entity();
        let parsed = Query::parse(&printed).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(parsed.matches(&e), q.matches(&e));
    }

    #[test]
    fn map_names_never_touches_compound_keys_or_metadata(q in query()) {
        let mut mapped = q.clone();
        mapped.map_names(&|s: &str| format!("x{s}"));
        fn walk(a: &Query, b: &Query) -> Result<(), TestCaseError> {
            match (a, b) {
                (Query::And(x), Query::And(y)) | (Query::Or(x), Query::Or(y)) => {
                    prop_assert_eq!(x.len(), y.len());
                    x.iter().zip(y).try_for_each(|(a, b)| walk(a, b))
                }
                (Query::Term(a), Query::Term(b)) => {
                    prop_assert_eq!(format!("x{}", a.path.attr), b.path.attr.clone());
                    prop_assert_eq!(&a.path.compound, &b.path.compound);
                    for (s, t) in a.path.sub.iter().zip(&b.path.sub) {
                        if METADATA_NAMES.contains(&s.as_str()) {
                            prop_assert_eq!(s, t);
                        } else {
                            prop_assert_eq!(format!("x{s}"), t.clone());
                        }
                    }
                    prop_assert_eq!(&a.op, &b.op);
                    Ok(())
                }
                _ => Err(TestCaseError::fail("shape changed")),
            }
        }
        walk(&q, &mapped)?;
    }
}
