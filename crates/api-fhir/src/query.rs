//! Search URLs → the store's [`FhirSearch`], following the FHIR R4 search rules:
//! repeated parameters are ANDed, comma-separated values ORed; token
//! `system|code`, `|code`, `system|`, `code`; references `Patient/1`, `1` or an absolute
//! URL; dates with the prefixes `eq ne gt lt ge le` at their precision; strings match
//! from the start, case-insensitively (`:exact` for exact); `:missing`. Control
//! parameters: `_count` (default 50, at most 1000), `_offset` (paging links), `_sort`,
//! `_include`, `_summary=count`, `_total`, `_format`.
//!
//! Unknown parameters are ignored and reported in an OperationOutcome entry of the
//! Bundle (the default `Prefer: handling=lenient`); with `Prefer: handling=strict` they
//! are a 400.

use kizuna_fhir::search::{date_range, is_stored, normalize, param, ParamDef, ParamKind};
use kizuna_store::{FhirClause, FhirMatch, FhirSearch, FhirSort, RangeCond};

use crate::error::{bad, FhirError};

/// The default page size.
pub const DEFAULT_COUNT: usize = 50;
/// The largest page.
pub const MAX_COUNT: usize = 1000;

/// A parsed search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// What the store runs.
    pub search: FhirSearch,
    /// Page size.
    pub count: usize,
    /// Page start.
    pub offset: usize,
    /// `_include`: (parameter of the searched type, target type if restricted).
    pub includes: Vec<(String, Option<String>)>,
    /// `_revinclude`: (source type, its reference parameter pointing at the searched type).
    pub revincludes: Vec<(String, String)>,
    /// `_summary=count`: only the total.
    pub summary_count: bool,
    /// The parameters used, for the Bundle's links (without `_offset`).
    pub used: Vec<(String, String)>,
    /// Parameters ignored (lenient handling).
    pub ignored: Vec<String>,
    /// Chained parameters (`patient.identifier=…`), resolved before the search runs.
    pub chains: Vec<Chain>,
}

/// A chained parameter, one level deep (`patient.identifier=urn:kizuna:data-subject|…`,
/// `subject:Patient.name=山田`): the resources whose reference parameter `param` points
/// at a `target` resource matching `inner`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The reference parameter of the searched type.
    pub param: String,
    /// The type it points at.
    pub target: String,
    /// The clause on the target.
    pub inner: FhirClause,
}

/// Splits a value on commas not escaped with `\`.
fn split_or(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',') | Some('|') | Some('$') | Some('\\')) => {
                if let Some(n) = chars.next() {
                    // Keep `\|` escaped for the token split; drop the escape of others.
                    if n == '|' {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
            }
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses the query pairs of a search on `rtype`.
pub fn parse(rtype: &str, pairs: &[(String, String)], strict: bool) -> Result<SearchRequest, FhirError> {
    let mut req = SearchRequest {
        search: FhirSearch { rtype: rtype.to_string(), clauses: vec![], sort: vec![], subjects: None },
        count: DEFAULT_COUNT,
        offset: 0,
        includes: vec![],
        revincludes: vec![],
        summary_count: false,
        used: vec![],
        ignored: vec![],
        chains: vec![],
    };
    for (name, value) in pairs {
        let keep = match name.as_str() {
            "_count" => {
                let n: usize = value.parse().map_err(|_| bad(format!("_count '{value}' is not a number")))?;
                req.count = n.min(MAX_COUNT);
                // `_count=0`: the total only, like `_summary=count` (no paging links).
                if n == 0 {
                    req.summary_count = true;
                }
                true
            }
            "_offset" => {
                req.offset = value.parse().map_err(|_| bad(format!("_offset '{value}' is not a number")))?;
                false
            }
            "_format" | "_pretty" | "_total" => true,
            "_summary" => match value.as_str() {
                "count" => {
                    req.summary_count = true;
                    true
                }
                "false" => true,
                other if strict => return Err(bad(format!("_summary={other} is not supported (only count, false)"))),
                other => {
                    req.ignored.push(format!("_summary={other}"));
                    false
                }
            },
            "_sort" => {
                for key in value.split(',').filter(|k| !k.is_empty()) {
                    let (desc, name) = match key.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, key),
                    };
                    let sort = match name {
                        "_id" => FhirSort::Id,
                        "_lastUpdated" => FhirSort::LastUpdated,
                        _ => match param(rtype, name) {
                            Some(d) if d.kind == ParamKind::Date => FhirSort::Range(name.to_string()),
                            Some(_) => FhirSort::Text(name.to_string()),
                            None => return Err(bad(format!("_sort: {rtype} has no search parameter '{name}'"))),
                        },
                    };
                    req.search.sort.push((sort, desc));
                }
                true
            }
            "_include" => {
                let mut parts = value.split(':');
                let (src, p, target) = (parts.next(), parts.next(), parts.next());
                match (src, p) {
                    (Some(s), Some(p)) if s == rtype => match param(rtype, p) {
                        Some(d) if d.kind == ParamKind::Reference => {
                            req.includes.push((p.to_string(), target.map(str::to_string)));
                        }
                        _ => {
                            return Err(bad(format!("_include={value}: '{p}' is not a reference parameter of {rtype}")))
                        }
                    },
                    _ => return Err(bad(format!("_include={value}: expected {rtype}:<reference parameter>"))),
                }
                true
            }
            "_revinclude" => {
                let mut parts = value.split(':');
                let (src, p, target) = (parts.next().unwrap_or(""), parts.next(), parts.next());
                let Some(p) = p.filter(|_| is_stored(src)) else {
                    return Err(bad(format!(
                        "_revinclude={value}: expected <type>:<reference parameter> of a stored type"
                    )));
                };
                match param(src, p) {
                    Some(d) if d.kind == ParamKind::Reference => {
                        let points_here = target.or(d.target).is_none_or(|t| t == rtype);
                        if !points_here {
                            return Err(bad(format!("_revinclude={value}: {src}.{p} does not point at {rtype}")));
                        }
                        req.revincludes.push((src.to_string(), p.to_string()));
                    }
                    _ => return Err(bad(format!("_revinclude={value}: '{p}' is not a reference parameter of {src}"))),
                }
                true
            }
            "_elements" | "_contained" | "_has" | "_list" | "_text" | "_content" | "_query" | "_filter" => {
                if strict {
                    return Err(bad(format!("{name} is not supported by this server")));
                }
                req.ignored.push(name.clone());
                false
            }
            _ if name.contains('.') => match chain(rtype, name, value, strict)? {
                Some(c) => {
                    req.chains.push(c);
                    true
                }
                None => {
                    req.ignored.push(name.clone());
                    false
                }
            },
            _ => {
                let (pname, modifier) = match name.split_once(':') {
                    Some((p, m)) => (p, Some(m)),
                    None => (name.as_str(), None),
                };
                match param(rtype, pname) {
                    Some(def) => {
                        req.search.clauses.push(clause(def, modifier, value)?);
                        true
                    }
                    None if strict => {
                        return Err(bad(format!("{rtype} has no search parameter '{pname}' (see /fhir/metadata)")));
                    }
                    None => {
                        req.ignored.push(name.clone());
                        false
                    }
                }
            }
        };
        if keep {
            req.used.push((name.clone(), value.clone()));
        }
    }
    Ok(req)
}

/// Parses a chained parameter `name` (`ref[:Type].param[:modifier]`) with `value`.
/// Names this server does not know are an error under strict handling and `None`
/// (ignored) otherwise; a bad value is always an error.
fn chain(rtype: &str, name: &str, value: &str, strict: bool) -> Result<Option<Chain>, FhirError> {
    let unknown = |detail: String| if strict { Err(bad(detail)) } else { Ok(None) };
    let (head, tail) = name.split_once('.').unwrap_or((name, ""));
    let (pname, modifier) = match head.split_once(':') {
        Some((p, m)) => (p, Some(m)),
        None => (head, None),
    };
    let def = match param(rtype, pname) {
        Some(d) if d.kind == ParamKind::Reference => d,
        Some(_) => {
            return unknown(format!(
                "{name}: '{pname}' is not a reference parameter of {rtype}, so it cannot be chained"
            ))
        }
        None => return unknown(format!("{name}: {rtype} has no search parameter '{pname}' (see /fhir/metadata)")),
    };
    let target = match modifier {
        Some(t) if is_stored(t) => t,
        Some(t) => return unknown(format!("{name}: '{t}' is not a resource type this server stores")),
        None => def.target.unwrap_or("Patient"),
    };
    if tail.contains('.') {
        return unknown(format!("{name}: chains of more than one level are not supported"));
    }
    let (tname, tmod) = match tail.split_once(':') {
        Some((p, m)) => (p, Some(m)),
        None => (tail, None),
    };
    match param(target, tname) {
        Some(d) if d.kind == ParamKind::Reference => {
            unknown(format!("{name}: chains of more than one level are not supported ('{tname}' is a reference)"))
        }
        Some(d) => {
            Ok(Some(Chain { param: def.name.to_string(), target: target.to_string(), inner: clause(d, tmod, value)? }))
        }
        None => unknown(format!("{name}: {target} has no search parameter '{tname}' (see /fhir/metadata)")),
    }
}

fn clause(def: &ParamDef, modifier: Option<&str>, value: &str) -> Result<FhirClause, FhirError> {
    let name = def.name;
    if modifier == Some("missing") {
        let missing = match value {
            "true" => true,
            "false" => false,
            _ => return Err(bad(format!("{name}:missing takes true or false, not '{value}'"))),
        };
        return Ok(FhirClause { param: name.to_string(), any: vec![], missing: Some(missing) });
    }
    let mut any = Vec::new();
    for v in split_or(value) {
        if v.is_empty() {
            return Err(bad(format!("{name}: an empty value")));
        }
        any.push(match def.kind {
            ParamKind::Token => {
                if let Some(m) = modifier {
                    return Err(bad(format!("{name}:{m} is not supported (token parameters take no modifier here)")));
                }
                token(&v)
            }
            ParamKind::Reference => {
                let target = match modifier {
                    None => def.target,
                    Some(t) if t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => Some(t),
                    Some(m) => return Err(bad(format!("{name}:{m} is not supported"))),
                };
                FhirMatch::Exact(reference(&v, target.or(Some("Patient")))?)
            }
            ParamKind::Date => {
                if let Some(m) = modifier {
                    return Err(bad(format!("{name}:{m} is not supported")));
                }
                FhirMatch::Range(date(name, &v)?)
            }
            ParamKind::String => match modifier {
                None => FhirMatch::Prefix(normalize(&v)),
                Some("exact") => FhirMatch::Exact(normalize(&v)),
                Some(m) => return Err(bad(format!("{name}:{m} is not supported (use :exact)"))),
            },
            ParamKind::Uri => FhirMatch::Exact(v.clone()),
        });
    }
    Ok(FhirClause { param: name.to_string(), any, missing: None })
}

fn token(v: &str) -> FhirMatch {
    // Split on the first unescaped `|`.
    let mut system = None;
    let mut code = String::new();
    let mut chars = v.chars().peekable();
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cur.push('|');
            }
            '|' if system.is_none() => system = Some(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    code.push_str(&cur);
    match system {
        None => FhirMatch::Token { system: None, code: Some(code), no_system: false },
        Some(s) if s.is_empty() => FhirMatch::Token { system: None, code: Some(code), no_system: true },
        Some(s) if code.is_empty() => FhirMatch::Token { system: Some(s), code: None, no_system: false },
        Some(s) => FhirMatch::Token { system: Some(s), code: Some(code), no_system: false },
    }
}

/// Normalises a reference search value to `Type/id`.
pub fn reference(v: &str, default_type: Option<&str>) -> Result<String, FhirError> {
    let tail = match v.find("/fhir/") {
        Some(i) if v.starts_with("http") => &v[i + 6..],
        _ => v,
    };
    let parts: Vec<&str> = tail.split('/').collect();
    match parts.as_slice() {
        [id] => match default_type {
            Some(t) => Ok(format!("{t}/{id}")),
            None => Err(bad(format!("reference '{v}' needs a type (Type/id)"))),
        },
        [t, id] => Ok(format!("{t}/{id}")),
        [t, id, "_history", _] => Ok(format!("{t}/{id}")),
        _ => Err(bad(format!("'{v}' is not a reference (Type/id)"))),
    }
}

fn date(name: &str, v: &str) -> Result<RangeCond, FhirError> {
    let (prefix, rest) = match v.get(..2) {
        Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => (p, &v[2..]),
        _ => ("eq", v),
    };
    // `+` in a query string decodes to a space; a zone offset like `+09:00` arrives so.
    let rest = rest.replace(' ', "+");
    let (lo, hi) = date_range(&rest).map_err(|e| bad(format!("{name}: {e}")))?;
    Ok(match prefix {
        "eq" => RangeCond::Within(lo, hi),
        "ne" => RangeCond::NotWithin(lo, hi),
        "gt" => RangeCond::HiAbove(hi),
        "lt" => RangeCond::LoBelow(lo),
        "ge" => RangeCond::HiAtLeast(lo),
        "le" => RangeCond::LoAtMost(hi),
        p @ ("sa" | "eb" | "ap") => return Err(bad(format!("{name}: the prefix '{p}' is not supported"))),
        p => return Err(bad(format!("{name}: unknown prefix '{p}'"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            token("http://loinc.org|8480-6"),
            FhirMatch::Token { system: Some("http://loinc.org".into()), code: Some("8480-6".into()), no_system: false }
        );
        assert_eq!(token("|x"), FhirMatch::Token { system: None, code: Some("x".into()), no_system: true });
        assert_eq!(token("s|"), FhirMatch::Token { system: Some("s".into()), code: None, no_system: false });
        assert_eq!(token("a\\|b"), FhirMatch::Token { system: None, code: Some("a|b".into()), no_system: false });
    }

    #[test]
    fn parse_search() {
        let r = parse(
            "Observation",
            &pairs(&[
                ("patient", "p1"),
                ("code", "http://loinc.org|85354-9,http://loinc.org|8480-6"),
                ("date", "ge2026-11-01"),
                ("_count", "10"),
                ("_sort", "-date"),
                ("_include", "Observation:patient"),
                ("foo", "bar"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(r.search.clauses.len(), 3);
        assert_eq!(r.search.clauses[0].any, vec![FhirMatch::Exact("Patient/p1".into())]);
        assert_eq!(r.search.clauses[1].any.len(), 2);
        assert_eq!(r.count, 10);
        assert_eq!(r.search.sort, vec![(FhirSort::Range("date".into()), true)]);
        assert_eq!(r.includes, vec![("patient".into(), None)]);
        assert_eq!(r.ignored, vec!["foo".to_string()]);
        assert!(parse("Observation", &pairs(&[("foo", "bar")]), true).is_err());
        assert!(parse("Observation", &pairs(&[("date", "sa2026")]), false).is_err());
        assert!(parse("Observation", &pairs(&[("date", "2026-13-01")]), false).is_err());
        assert!(parse("Observation", &pairs(&[("_count", "x")]), false).is_err());
        assert!(parse("Observation", &pairs(&[("_sort", "nope")]), false).is_err());
    }

    #[test]
    fn references() {
        assert_eq!(reference("http://h/fhir/Patient/1", None).unwrap(), "Patient/1");
        assert_eq!(reference("Patient/1/_history/2", None).unwrap(), "Patient/1");
        assert_eq!(reference("1", Some("Patient")).unwrap(), "Patient/1");
        assert!(reference("a/b/c", None).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn names() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("patient".to_string()),
            Just("code".to_string()),
            Just("date".to_string()),
            Just("family".to_string()),
            Just("_count".to_string()),
            Just("_sort".to_string()),
            Just("_include".to_string()),
            Just("code:missing".to_string()),
            Just("family:exact".to_string()),
            "[a-z_:-]{0,12}",
        ]
    }

    proptest! {
        /// Any query parses or is refused with a 400 — never a panic; whatever parses
        /// keeps every clause it was given (nothing silently dropped unless reported).
        #[test]
        fn any_query_parses_or_is_refused(pairs in proptest::collection::vec((names(), ".{0,24}"), 0..6), strict in any::<bool>()) {
            match parse("Observation", &pairs, strict) {
                Ok(r) => {
                    prop_assert!(r.count <= MAX_COUNT);
                    let searchable = pairs.iter().filter(|(n, _)| {
                        let p = n.split(':').next().unwrap_or("");
                        param("Observation", p).is_some()
                    }).count();
                    prop_assert_eq!(r.search.clauses.len(), searchable);
                    if strict {
                        prop_assert!(r.ignored.is_empty());
                    }
                }
                Err(e) => prop_assert_eq!(e.status().as_u16(), 400),
            }
        }

        /// A token `system|code` is read back exactly; any date that parses is an
        /// ordered range.
        #[test]
        fn tokens_and_dates(system in "[a-z:/.]{1,20}", code in "[A-Za-z0-9-]{1,10}", date in "[0-9T:+Z.-]{0,30}") {
            prop_assert_eq!(
                token(&format!("{system}|{code}")),
                FhirMatch::Token { system: Some(system.clone()), code: Some(code.clone()), no_system: false }
            );
            if let Ok((lo, hi)) = date_range(&date) {
                prop_assert!(lo <= hi);
            }
        }
    }
}
