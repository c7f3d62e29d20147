//! Table-driven tests of the NGSI-LD query language `q` (ETSI GS CIM 009 §4.9):
//! parsing (input → canonical text / tree), rejection (input → error), name mapping,
//! and evaluation against hand-built entities.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use kizuna_ngsild::entity::{AttrKind, Attribute, Entity};
use kizuna_ngsild::query::{AttrPath, Op, QValue, Query, QueryError, Term, MAX_DEPTH, MAX_QUERY_LEN};
use serde_json::{json, Value};

fn parse(q: &str) -> Query {
    match Query::parse(q) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{q:?} should parse: {e}"),
    }
}

// ---------------------------------------------------------------------------------
// Parsing: valid input → canonical text, and the canonical text parses to the same.

#[test]
fn valid_queries_print_canonically_and_round_trip() {
    let cases: &[(&str, &str)] = &[
        // existence
        ("temperature", "temperature"),
        ("isMonitoredBy", "isMonitoredBy"),
        // every operator (spec examples 1..4)
        ("temperature==20", "temperature==20"),
        ("temperature!=20", "temperature!=20"),
        ("speed>50", "speed>50"),
        ("speed>=50", "speed>=50"),
        ("speed<50", "speed<50"),
        ("speed<=50", "speed<=50"),
        (r#"brandName~="^Merc""#, r#"brandName~="^Merc""#),
        (r#"brandName!~="^Merc""#, r#"brandName!~="^Merc""#),
        (r#"brandName!="Mercedes""#, r#"brandName!="Mercedes""#),
        (
            r#"isParked=="urn:ngsi-ld:OffStreetParking:Downtown1""#,
            r#"isParked=="urn:ngsi-ld:OffStreetParking:Downtown1""#,
        ),
        (r#"speed>50;brandName!="Mercedes""#, r#"speed>50;brandName!="Mercedes""#),
        // numbers
        ("a==-1.5", "a==-1.5"),
        ("a==1.0", "a==1"),
        ("a==1e3", "a==1000"),
        ("a==2.5E-3", "a==0.0025"),
        ("a==1e300", "a==1e300"),
        ("a==-0", "a==-0"),
        ("a==0.1", "a==0.1"),
        // booleans
        ("a==true", "a==true"),
        ("a!=false", "a!=false"),
        // strings with escapes
        (r#"a=="say \"hi\"""#, r#"a=="say \"hi\"""#),
        (r#"a=="back\\slash""#, r#"a=="back\\slash""#),
        (r#"a=="tab\there""#, r#"a=="tab\there""#),
        (r#"a=="\u00e9t\u00E9""#, r#"a=="été""#),
        (r#"a=="semi;colon|pipe(paren)""#, r#"a=="semi;colon|pipe(paren)""#),
        ("a==\"\"", "a==\"\""),
        (r#"a>"abc""#, r#"a>"abc""#),
        // dates, times, dateTimes
        ("a==2017-12-24", "a==2017-12-24"),
        ("a>=2017-12-24T12:00:00Z", "a>=2017-12-24T12:00:00Z"),
        ("a>=2017-12-24T12:00:00.250Z", "a>=2017-12-24T12:00:00.250Z"),
        ("a<2017-12-24T12:00:00+01:00", "a<2017-12-24T12:00:00+01:00"),
        ("a>=2017-12-24T12:00:00+00:00", "a>=2017-12-24T12:00:00Z"),
        ("a<12:00:00Z", "a<12:00:00Z"),
        ("a<12:00:00", "a<12:00:00Z"),
        ("a<12:00:00.5Z", "a<12:00:00.500Z"),
        // URIs and terms (unquoted)
        ("isParked==urn:ngsi-ld:OffStreetParking:Downtown1", "isParked==urn:ngsi-ld:OffStreetParking:Downtown1"),
        ("a==https://example.org/x?y=1#frag", "a==https://example.org/x?y=1#frag"),
        ("gender==Male", "gender==Male"),
        ("a!=urn:a:1,urn:a:2", "a!=urn:a:1,urn:a:2"),
        // ranges
        ("temperature==10..20", "temperature==10..20"),
        ("temperature!=-5.5..2e1", "temperature!=-5.5..20"),
        ("d==2017-01-01..2017-12-31", "d==2017-01-01..2017-12-31"),
        ("t==2017-01-01T00:00:00Z..2017-12-31T23:59:59Z", "t==2017-01-01T00:00:00Z..2017-12-31T23:59:59Z"),
        ("h==08:00:00Z..18:00:00Z", "h==08:00:00Z..18:00:00Z"),
        (r#"s=="a".."m""#, r#"s=="a".."m""#),
        ("a==1.5..2.5", "a==1.5..2.5"),
        // lists
        (r#"color=="black","red""#, r#"color=="black","red""#),
        ("a==1,2,3", "a==1,2,3"),
        ("a!=1,true,\"x\",2017-12-24", "a!=1,true,\"x\",2017-12-24"),
        // precedence and grouping (examples 6 and 7)
        (r#"((speed>50|rpm>3000);brandName=="Mercedes")"#, r#"(speed>50|rpm>3000);brandName=="Mercedes""#),
        ("(temperature>=20;temperature<=25)|capacity<=10", "(temperature>=20;temperature<=25)|capacity<=10"),
        ("a;b|c;d", "(a;b)|(c;d)"),
        ("a|b;c", "a|(b;c)"),
        ("a;(b|c)", "a;(b|c)"),
        ("(a)", "a"),
        ("((((a))))", "a"),
        ("a;b;c", "a;b;c"),
        ("a|b|c", "a|b|c"),
        ("(a;b);c", "(a;b);c"),
        // paths: sub-properties, metadata, compound values (examples 8..10)
        ("temperature.observedAt>=2017-12-24T12:00:00Z", "temperature.observedAt>=2017-12-24T12:00:00Z"),
        (r#"address[city]=="Berlin""#, r#"address[city]=="Berlin""#),
        ("sensor.rawdata[airquality.particulate]==40", "sensor.rawdata[airquality.particulate]==40"),
        ("sensor.rawdata[airquality][particulate]==40", "sensor.rawdata[airquality.particulate]==40"),
        (r#"name[en-GB]=="red""#, r#"name[en-GB]=="red""#),
        (r#"name[*]=="red""#, r#"name[*]=="red""#),
        ("a.b.c", "a.b.c"),
        ("température_2>0", "température_2>0"),
        // white space between tokens is tolerated
        (" speed > 50 ; brandName != \"Mercedes\" ", "speed>50;brandName!=\"Mercedes\""),
        ("( a | b ) ; c", "(a|b);c"),
        ("a == 1 , 2", "a==1,2"),
        ("a == 1 .. 2", "a==1..2"),
        // regex escapes: only \" is one
        (r#"a~="\d+\.\d""#, r#"a~="\d+\.\d""#),
        (r#"a~="say \"hi\"""#, r#"a~="say \"hi\"""#),
        (r#"a~="\\""#, r#"a~="\\""#),
        (r#"a~="(?i)^merc""#, r#"a~="(?i)^merc""#),
    ];
    for (input, canonical) in cases {
        let q = parse(input);
        assert_eq!(&q.to_string(), canonical, "printing the parse of {input:?}");
        assert_eq!(parse(canonical), q, "re-parsing {canonical:?}");
    }
}

fn path(attr: &str, sub: &[&str], compound: &[&str]) -> AttrPath {
    AttrPath {
        attr: attr.into(),
        sub: sub.iter().map(|s| s.to_string()).collect(),
        compound: compound.iter().map(|s| s.to_string()).collect(),
    }
}

fn term(attr: &str, op: Option<(Op, QValue)>) -> Query {
    Query::Term(Term { path: path(attr, &[], &[]), op })
}

fn cmp(attr: &str, op: Op, v: QValue) -> Query {
    term(attr, Some((op, v)))
}

#[test]
fn valid_queries_parse_to_the_expected_tree() {
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
    let cases: Vec<(&str, Query)> = vec![
        ("temperature", term("temperature", None)),
        ("a==20", cmp("a", Op::Eq, QValue::Number(20.0))),
        ("a!=\"x\"", cmp("a", Op::Ne, QValue::Str("x".into()))),
        ("a>1", cmp("a", Op::Gt, QValue::Number(1.0))),
        ("a>=1", cmp("a", Op::Ge, QValue::Number(1.0))),
        ("a<1", cmp("a", Op::Lt, QValue::Number(1.0))),
        ("a<=1", cmp("a", Op::Le, QValue::Number(1.0))),
        ("a==true", cmp("a", Op::Eq, QValue::Bool(true))),
        ("a==2017-12-24", cmp("a", Op::Eq, QValue::Date(date(2017, 12, 24)))),
        ("a<12:30:00Z", cmp("a", Op::Lt, QValue::Time(NaiveTime::from_hms_opt(12, 30, 0).expect("valid time")))),
        (
            "a>2017-12-24T12:00:00Z",
            cmp(
                "a",
                Op::Gt,
                QValue::DateTime(chrono::DateTime::parse_from_rfc3339("2017-12-24T12:00:00Z").expect("valid")),
            ),
        ),
        ("a==urn:x:1", cmp("a", Op::Eq, QValue::Uri("urn:x:1".into()))),
        ("a==Male", cmp("a", Op::Eq, QValue::Uri("Male".into()))),
        ("a==1..2", cmp("a", Op::Eq, QValue::Range(Box::new(QValue::Number(1.0)), Box::new(QValue::Number(2.0))))),
        (
            "a==1,\"b\",false",
            cmp("a", Op::Eq, QValue::List(vec![QValue::Number(1.0), QValue::Str("b".into()), QValue::Bool(false)])),
        ),
        ("a;b|c", Query::Or(vec![Query::And(vec![term("a", None), term("b", None)]), term("c", None)])),
        ("a|b;c", Query::Or(vec![term("a", None), Query::And(vec![term("b", None), term("c", None)])])),
        ("(a|b);c", Query::And(vec![Query::Or(vec![term("a", None), term("b", None)]), term("c", None)])),
        ("a;b;c", Query::And(vec![term("a", None), term("b", None), term("c", None)])),
        ("temperature.observedAt", Query::Term(Term { path: path("temperature", &["observedAt"], &[]), op: None })),
        (
            "sensor.rawdata[airquality.particulate]==40",
            Query::Term(Term {
                path: path("sensor", &["rawdata"], &["airquality", "particulate"]),
                op: Some((Op::Eq, QValue::Number(40.0))),
            }),
        ),
        ("address[a][b]", Query::Term(Term { path: path("address", &[], &["a", "b"]), op: None })),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input), want, "parsing {input:?}");
    }
    // Patterns compare by source text; check the kind and the text.
    match parse(r#"a~="x\d""#) {
        Query::Term(Term { op: Some((Op::Match, QValue::Regex(p))), .. }) => assert_eq!(p.as_str(), r"x\d"),
        other => panic!("unexpected {other:?}"),
    }
    match parse(r#"a!~="\"q\"""#) {
        Query::Term(Term { op: Some((Op::NotMatch, QValue::Regex(p))), .. }) => assert_eq!(p.as_str(), "\"q\""),
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Rejection: invalid input → an error naming what was expected, and where.

#[test]
fn invalid_queries_are_rejected_with_a_precise_error() {
    let cases: &[(&str, &str)] = &[
        ("temperature 20", "expected an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|' or ')' after 'temperature', found '2' at position 12"),
        ("temperature=20", "after 'temperature', found '=' (did you mean '=='?) at position 11"),
        ("temperature=>20", "found '=' (did you mean '=='?) at position 11"),
        ("a==", "expected a value after '==', found the end of the query at position 3"),
        ("a==;b", "expected a value after '==', found ';' at position 3"),
        ("a>", "expected a value after '>'"),
        ("", "the query is empty"),
        ("   ", "the query is empty"),
        (";", "expected an attribute name or '(', found ';' at position 0"),
        ("a;", "expected an attribute name or '(', found the end of the query at position 2"),
        ("a|", "found the end of the query at position 2"),
        ("a;;b", "found ';' at position 2"),
        ("(a", "expected ';', '|' or ')' to close the '(' at position 0, found the end of the query at position 2"),
        ("a)", "unbalanced ')'"),
        ("()", "expected an attribute name or '(', found ')' at position 1"),
        ("1a", "expected an attribute name or '(', found '1' at position 0"),
        ("_a", "found '_' at position 0"),
        ("!a", "found '!' at position 0"),
        ("a.", "expected a sub-attribute name after '.' (starting with a letter), found the end of the query at position 2"),
        ("a..b", "expected a sub-attribute name"),
        ("a[", "expected a member name or '*' inside '[...]'"),
        ("a[]", "expected a member name or '*' inside '[...]', found ']' at position 2"),
        ("a[b", "expected '.' or ']' to close the '[' at position 1, found the end of the query at position 3"),
        ("a[b.]", "expected a member name or '*'"),
        ("sensor{humidity}==40", "linked-entity paths"),
        // values
        ("a==abc def", "expected ';', '|' or the end of the query, found 'd' at position 7"),
        ("a==hello-world", "expected a value, found 'hello-world' (strings are quoted"),
        ("a==01", "invalid number '01'"),
        ("a==1.", "invalid number '1.'"),
        ("a==.5", "expected a value after '=='"),
        ("a==1e", "invalid number '1e'"),
        ("a==+1", "expected a value, found '+1'"),
        ("a==-", "invalid number '-'"),
        ("a==1e999", "the number '1e999' is out of range"),
        ("a==2017-13-01", "invalid date '2017-13-01'"),
        ("a==2017-12-24T25:00:00Z", "invalid dateTime '2017-12-24T25:00:00Z'"),
        ("a==2017-12-24T12:00:00", "invalid dateTime"),
        ("a==25:00:00Z", "invalid time '25:00:00Z'"),
        ("a==12:00:00X", "invalid time"),
        ("a==\"open", "unterminated string: no closing '\"' at position 3"),
        (r#"a=="bad \x escape""#, "invalid string (invalid escape) at position 3"),
        ("a==\"raw\nnewline\"", "invalid string (control character"),
        ("a==1\"x\"", "expected ';', '|' or the end of the query, found '\"' at position 4"),
        ("a==1)", "unbalanced ')'"),
        ("a==1 2", "found '2' at position 5"),
        ("a==1<2", "found '<' at position 4"),
        ("a==bad_scheme:x", "invalid URI 'bad_scheme:x' (bad scheme 'bad_scheme')"),
        // value kinds per operator
        ("a>true", "'>' needs a number, string, dateTime, date or time, found a boolean at position 2"),
        ("a<=urn:x:1", "'<=' needs a number, string, dateTime, date or time, found a URI at position 3"),
        ("a>1..2", "a range ('..') is only allowed after == or !=, not '>' at position 3"),
        ("a<1,2", "a list of values (',') is only allowed after == or !=, not '<' at position 3"),
        ("a==true..false", "a range needs a number, string, dateTime, date or time before '..' at position 3"),
        ("a==1..\"b\"", "the end of a range must be of the same kind as its start (a number) at position 6"),
        ("a==1..2017-01-01", "the end of a range must be of the same kind"),
        ("a==1..", "expected a value after '==', found the end of the query at position 6"),
        ("a==1..2..3", "found '.' at position 7"),
        ("a==1..2,3", "found ',' at position 7"),
        ("a==1,", "expected a value after '==', found the end of the query at position 5"),
        ("a==1,,2", "found ',' at position 5"),
        // patterns
        ("a~=abc", "expected a quoted regular expression after '~=', found 'a' at position 3"),
        ("a!~=1", "expected a quoted regular expression after '!~='"),
        (r#"a~="(unclosed""#, "invalid regular expression at position 3: unclosed group"),
        (r#"a~="x"#, "unterminated regular expression"),
        (r#"a~="x","y""#, "expected ';', '|' or the end of the query, found ','"),
        // positions count characters, not bytes
        ("température 1", "after 'température', found '1' at position 12"),
    ];
    let mut failures = Vec::new();
    for (input, want) in cases {
        match Query::parse(input) {
            Ok(q) => failures.push(format!("{input:?} should be rejected, parsed as {q:?}")),
            Err(e) => {
                let msg = e.to_string();
                if !msg.starts_with("q: ") || !msg.contains(want) {
                    failures.push(format!("{input:?}:\n  got  {msg}\n  want …{want}…"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn pathological_input_is_rejected_without_panicking() {
    // Deep nesting: an error, not a stack overflow.
    let deep = format!("{}a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert_eq!(Query::parse(&deep), Err(QueryError::TooDeep { pos: MAX_DEPTH, max: MAX_DEPTH }));
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parse(&ok), term("a", None));
    let very_deep = "(".repeat(MAX_QUERY_LEN);
    assert!(matches!(Query::parse(&very_deep), Err(QueryError::TooDeep { .. })));

    // Length.
    let long = format!("a=={}", "1".repeat(MAX_QUERY_LEN));
    assert_eq!(Query::parse(&long), Err(QueryError::TooLong { len: MAX_QUERY_LEN + 3, max: MAX_QUERY_LEN }));
    let many_terms = vec!["a==1"; 1500].join(";");
    assert!(many_terms.len() <= MAX_QUERY_LEN);
    assert!(matches!(parse(&many_terms), Query::And(v) if v.len() == 1500));

    // A regex that is short to write and huge to compile.
    let err = Query::parse(r#"a~="((a{100}){100}){100}""#).expect_err("too big a regex");
    assert!(matches!(err, QueryError::Regex { pos: 3, .. }), "{err:?}");
}

#[test]
fn errors_convert_to_ngsi_errors() {
    use kizuna_ngsild::{ErrorKind, NgsiError};
    let e: NgsiError = Query::parse("a=").expect_err("invalid").into();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.detail.contains("position 1"), "{}", e.detail);
    let e: NgsiError = Query::parse(&"(".repeat(100)).expect_err("too deep").into();
    assert_eq!(e.kind, ErrorKind::TooComplexQuery);
}

// ---------------------------------------------------------------------------------
// Name mapping and the storage helper.

#[test]
fn map_names_expands_attributes_and_sub_attributes_only() {
    let mut q = parse(
        r#"(temperature.observedAt>2017-12-24T12:00:00Z;sensor.rawdata[air.pm10]==4)|name[en]=="x";a.unitCode=="CEL";b.datasetId==urn:d:1;c.createdAt;d.modifiedAt"#,
    );
    q.map_names(&|s: &str| format!("https://ex.org/{s}"));
    let printed = q.to_string();
    for want in [
        "https://ex.org/temperature.observedAt>",
        "https://ex.org/sensor.https://ex.org/rawdata[air.pm10]==4",
        "https://ex.org/name[en]==",
        "https://ex.org/a.unitCode==",
        "https://ex.org/b.datasetId==",
        "https://ex.org/c.createdAt",
        "https://ex.org/d.modifiedAt",
    ] {
        assert!(printed.contains(want), "{want} not in {printed}");
    }
}

#[test]
fn attribute_names_lists_top_level_attributes_once() {
    let q = parse("(a>1;b.c==2)|a[x]==3;d.e|b");
    assert_eq!(q.attribute_names(), vec!["a", "b", "d"]);
    assert_eq!(parse("x").attribute_names(), vec!["x"]);
}

// ---------------------------------------------------------------------------------
// Evaluation against hand-built entities.

fn prop(v: Value) -> Attribute {
    Attribute::property(v)
}

fn with_kind(kind: AttrKind, v: Value) -> Attribute {
    Attribute { kind, ..Attribute::property(v) }
}

fn entity(attrs: Vec<(&str, Vec<Attribute>)>) -> Entity {
    Entity {
        id: "urn:ngsi-ld:Thing:1".into(),
        types: vec!["https://ex.org/Thing".into()],
        scope: Vec::new(),
        attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        created_at: None,
        modified_at: None,
    }
}

/// The entity most evaluation cases run against.
fn sample() -> Entity {
    let mut temperature = prop(json!(21.5));
    temperature.observed_at = Some("2017-12-24T12:00:00Z".into());
    temperature.unit_code = Some("CEL".into());
    temperature.created_at = Some("2020-01-01T00:00:00.000Z".into());
    temperature.modified_at = Some("2021-06-01T10:00:00.000Z".into());
    temperature.sub.insert("accuracy".into(), prop(json!(0.5)));
    let mut deep = prop(json!("d"));
    deep.sub.insert("level".into(), prop(json!(3)));
    temperature.sub.insert("provider".into(), deep);

    let mut speed_b = prop(json!(80));
    speed_b.dataset_id = Some("urn:ngsi-ld:Dataset:b".into());

    let mut sensor = prop(json!(40));
    sensor.sub.insert("rawdata".into(), prop(json!({"airquality": {"particulate": 40, "PM20": 85}})));

    entity(vec![
        ("temperature", vec![temperature]),
        ("speed", vec![prop(json!(50)), speed_b]),
        ("brandName", vec![prop(json!("Mercedes"))]),
        ("colors", vec![prop(json!(["blue", "red", "green"]))]),
        ("active", vec![prop(json!(true))]),
        ("born", vec![prop(json!("2000-02-29"))]),
        ("opens", vec![prop(json!("08:30:00Z"))]),
        ("lastSeen", vec![prop(json!("2021-03-04T05:06:07+02:00"))]),
        ("typed", vec![prop(json!({"@type": "DateTime", "@value": "2021-03-04T05:06:07Z"}))]),
        ("address", vec![prop(json!({"city": "Berlin", "street": "Ulrich Strasse", "zip": [10115, 10117]}))]),
        ("sensor", vec![sensor]),
        ("isParked", vec![with_kind(AttrKind::Relationship, json!("urn:ngsi-ld:OffStreetParking:Downtown1"))]),
        ("owners", vec![with_kind(AttrKind::Relationship, json!(["urn:ngsi-ld:Person:1", "urn:ngsi-ld:Person:2"]))]),
        ("ranking", vec![with_kind(AttrKind::Relationship, json!("urn:ngsi-ld:Rank:5"))]),
        (
            "name",
            vec![with_kind(AttrKind::LanguageProperty, json!({"fr": "rouge", "en": "red", "de": ["rot", "Katze"]}))],
        ),
        ("gender", vec![with_kind(AttrKind::VocabProperty, json!("https://ex.org/Male"))]),
        ("steps", vec![with_kind(AttrKind::ListProperty, json!([1, 2, 3]))]),
        ("location", vec![with_kind(AttrKind::GeoProperty, json!({"type": "Point", "coordinates": [-8.6, 41.6]}))]),
        ("tickets", vec![with_kind(AttrKind::JsonProperty, json!({"id": "85a6", "value": "Overstay 60 minutes"}))]),
        ("count", vec![prop(json!(0))]),
    ])
}

#[test]
fn evaluation_table() {
    let e = sample();
    let cases: &[(&str, bool)] = &[
        // existence
        ("temperature", true),
        ("humidity", false),
        ("temperature.accuracy", true),
        ("temperature.precision", false),
        ("temperature.provider.level", true),
        ("temperature.provider.nothing", false),
        ("temperature.observedAt", true),
        ("speed.observedAt", false),
        ("address[city]", true),
        ("address[country]", false),
        ("name[en]", true),
        ("name[it]", false),
        // numbers, every operator
        ("temperature==21.5", true),
        ("temperature==21", false),
        ("temperature!=21", true),
        ("temperature!=21.5", false),
        ("temperature>21", true),
        ("temperature>21.5", false),
        ("temperature>=21.5", true),
        ("temperature<22", true),
        ("temperature<21.5", false),
        ("temperature<=21.5", true),
        ("temperature==20..22", true),
        ("temperature==21.5..22", true),
        ("temperature==22..30", false),
        ("temperature!=22..30", true),
        ("temperature!=20..22", false),
        ("temperature==1,21.5,3", true),
        ("temperature==1,2,3", false),
        ("temperature!=1,2,3", true),
        ("temperature!=1,21.5", false),
        ("count==0", true),
        ("count==-0", true),
        // missing attribute: no comparison matches, not even !=
        ("humidity!=1", false),
        ("humidity!=\"x\"", false),
        ("humidity<1", false),
        // type mismatch: not equal, not ordered
        ("temperature==\"21.5\"", false),
        ("temperature!=\"21.5\"", true),
        ("temperature>\"a\"", false),
        ("brandName>1", false),
        ("active==1", false),
        // multi-instance: any instance
        ("speed==80", true),
        ("speed==50", true),
        ("speed>60", true),
        ("speed<60", true),
        ("speed>90", false),
        ("speed!=50", false),
        ("speed!=70", true),
        ("speed.datasetId==\"urn:ngsi-ld:Dataset:b\"", true),
        ("speed.datasetId==urn:ngsi-ld:Dataset:b", true),
        ("speed.datasetId", true),
        ("temperature.datasetId", false),
        // strings, regex
        ("brandName==\"Mercedes\"", true),
        ("brandName!=\"Mercedes\"", false),
        ("brandName!=\"Volvo\"", true),
        ("brandName>\"Audi\"", true),
        ("brandName<\"Audi\"", false),
        ("brandName==\"A\"..\"N\"", true),
        ("brandName==\"Volvo\",\"Mercedes\"", true),
        ("brandName~=\"^Merc\"", true),
        ("brandName~=\"cedes$\"", true),
        ("brandName~=\"^merc\"", false),
        ("brandName~=\"(?i)^merc\"", true),
        ("brandName!~=\"^Merc\"", false),
        ("brandName!~=\"^Volvo\"", true),
        ("temperature~=\"2\"", false),
        ("temperature!~=\"2\"", false),
        ("brandName==Mercedes", true),
        // arrays: any element
        ("colors==\"red\"", true),
        ("colors==\"black\"", false),
        ("colors!=\"red\"", false),
        ("colors!=\"black\"", true),
        ("colors==\"black\",\"green\"", true),
        ("colors!=\"black\",\"green\"", false),
        ("colors~=\"^gr\"", true),
        ("colors!~=\"^gr\"", false),
        ("colors!~=\"^x\"", true),
        ("steps==2", true),
        ("steps>2", true),
        ("steps>3", false),
        ("steps==2..2", true),
        // booleans
        ("active==true", true),
        ("active==false", false),
        ("active!=false", true),
        // dates, times, dateTimes
        ("born==2000-02-29", true),
        ("born>1999-12-31", true),
        ("born<1999-12-31", false),
        ("born==2000-01-01..2000-12-31", true),
        ("born==\"2000-02-29\"", true),
        ("opens<09:00:00Z", true),
        ("opens>09:00:00", false),
        ("opens==08:30:00Z", true),
        ("opens==08:00:00Z..09:00:00Z", true),
        ("lastSeen==2021-03-04T03:06:07Z", true),
        ("lastSeen>2021-03-04T04:00:00Z", false),
        ("lastSeen<2021-03-04T05:06:07+01:00", true),
        ("lastSeen==2021-01-01T00:00:00Z..2021-12-31T00:00:00Z", true),
        ("lastSeen==2021-03-04", false),
        ("typed==2021-03-04T05:06:07Z", true),
        ("typed>2021-03-04T05:06:06Z", true),
        ("born>2000-01-01T00:00:00Z", false),
        // metadata paths
        ("temperature.observedAt>=2017-12-24T12:00:00Z", true),
        ("temperature.observedAt>2017-12-24T12:00:00Z", false),
        ("temperature.observedAt==2017-12-24T13:00:00+01:00", true),
        ("temperature.unitCode==\"CEL\"", true),
        ("temperature.unitCode!=\"FAH\"", true),
        ("temperature.createdAt<2020-06-01T00:00:00Z", true),
        ("temperature.modifiedAt>2021-01-01T00:00:00Z", true),
        ("temperature.observedAt.x", false),
        // sub-properties
        ("temperature.accuracy==0.5", true),
        ("temperature.accuracy>1", false),
        ("temperature.provider.level==3", true),
        // compound values
        ("address[city]==\"Berlin\"", true),
        ("address[city]!=\"Berlin\"", false),
        ("address[city]!=\"Paris\"", true),
        ("address[country]!=\"Paris\"", false),
        ("address[zip]==10117", true),
        ("address[zip.0]==10115", true),
        ("address[zip.1]==10115", false),
        ("address[*]==\"Berlin\"", true),
        ("address==\"Berlin\"", false),
        ("sensor.rawdata[airquality.particulate]==40", true),
        ("sensor.rawdata[airquality][PM20]>80", true),
        ("sensor.rawdata[airquality.particulate.x]", false),
        ("tickets[value]==\"Overstay 60 minutes\"", true),
        ("location[type]==\"Point\"", true),
        ("location==\"Point\"", false),
        // relationships: equality only
        ("isParked==\"urn:ngsi-ld:OffStreetParking:Downtown1\"", true),
        ("isParked==urn:ngsi-ld:OffStreetParking:Downtown1", true),
        ("isParked==urn:ngsi-ld:OffStreetParking:Other", false),
        ("isParked!=urn:ngsi-ld:OffStreetParking:Other", true),
        ("owners==urn:ngsi-ld:Person:2", true),
        ("owners==urn:ngsi-ld:Person:3,urn:ngsi-ld:Person:1", true),
        ("owners!=urn:ngsi-ld:Person:2", false),
        ("owners!=urn:ngsi-ld:Person:3", true),
        ("ranking>\"urn:ngsi-ld:Rank:1\"", false),
        ("ranking~=\"Rank\"", false),
        ("ranking!~=\"Nope\"", false),
        // vocab
        ("gender==https://ex.org/Male", true),
        ("gender==Male", false),
        // language maps: any language, or one
        ("name==\"red\"", true),
        ("name==\"rouge\"", true),
        ("name==\"Katze\"", true),
        ("name==\"black\"", false),
        ("name!=\"red\"", false),
        ("name!=\"black\"", true),
        ("name[en]==\"red\"", true),
        ("name[fr]==\"red\"", false),
        ("name[de]==\"rot\"", true),
        ("name[*]==\"rouge\"", true),
        ("name[en]!=\"red\"", false),
        ("name[fr]!=\"red\"", true),
        ("name~=\"^ro\"", true),
        ("name[en]~=\"^ro\"", false),
        // logic
        ("temperature>20;brandName==\"Mercedes\"", true),
        ("temperature>30;brandName==\"Mercedes\"", false),
        ("temperature>30|brandName==\"Mercedes\"", true),
        ("temperature>30|humidity", false),
        ("humidity;temperature|brandName", true),
        ("humidity;(temperature|brandName)", false),
        ("((speed>100|temperature>20);brandName==\"Mercedes\")", true),
        ("(temperature>=20;temperature<=25)|capacity<=10", true),
    ];
    let mut failures = Vec::new();
    for (input, want) in cases {
        if parse(input).matches(&e) != *want {
            failures.push(format!("{input:?} should give {want}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn evaluation_after_name_expansion() {
    let expand = |s: &str| format!("https://ex.org/{s}");
    let mut temperature = prop(json!(21));
    temperature.observed_at = Some("2017-12-24T12:00:00Z".into());
    temperature.sub.insert(expand("accuracy"), prop(json!(0.5)));
    let e = entity(vec![
        ("https://ex.org/temperature", vec![temperature]),
        ("https://ex.org/address", vec![prop(json!({"city": "Berlin"}))]),
    ]);
    for (input, want) in [
        ("temperature==21", true),
        ("temperature.accuracy==0.5", true),
        ("temperature.observedAt==2017-12-24T12:00:00Z", true),
        ("address[city]==\"Berlin\"", true),
        ("address[city]==\"Paris\"", false),
    ] {
        let mut q = parse(input);
        assert!(!q.matches(&e) || !want, "{input:?} must not match before expansion");
        q.map_names(&expand);
        assert_eq!(q.matches(&e), want, "{input:?} after expansion");
    }
}

#[test]
fn multi_instance_language_and_relationship_edge_cases() {
    // One instance red, one blue: == matches either, != matches neither.
    let e = entity(vec![(
        "color",
        vec![prop(json!("red")), {
            let mut b = prop(json!("blue"));
            b.dataset_id = Some("urn:d:2".into());
            b
        }],
    )]);
    assert!(parse("color==\"red\"").matches(&e));
    assert!(parse("color==\"blue\"").matches(&e));
    assert!(!parse("color!=\"red\"").matches(&e));
    assert!(parse("color!=\"green\"").matches(&e));
    assert!(parse("color~=\"^bl\"").matches(&e));
    assert!(!parse("color!~=\"^bl\"").matches(&e));

    // An empty languageMap exists but holds no value.
    let e = entity(vec![("label", vec![with_kind(AttrKind::LanguageProperty, json!({}))])]);
    assert!(parse("label").matches(&e));
    assert!(!parse("label==\"x\"").matches(&e));
    assert!(!parse("label[en]").matches(&e));

    // A ListRelationship compares its objects.
    let e = entity(vec![("stops", vec![with_kind(AttrKind::ListRelationship, json!(["urn:s:1", "urn:s:2"]))])]);
    assert!(parse("stops==urn:s:2").matches(&e));
    assert!(!parse("stops>\"urn:s:0\"").matches(&e));

    // Null and object values compare with nothing.
    let e = entity(vec![("n", vec![prop(Value::Null)]), ("o", vec![prop(json!({"a": 1}))])]);
    assert!(parse("n").matches(&e));
    assert!(!parse("n==0").matches(&e));
    assert!(parse("n!=0").matches(&e));
    assert!(!parse("o==1").matches(&e));
    assert!(parse("o[a]==1").matches(&e));
}
