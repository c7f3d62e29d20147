//! [`Query`] → canonical `q` text, the inverse of `parse.rs`: for every query the
//! parser returns, parsing the printed text gives the same query back.
//!
//! Canonical means: no white space, every nested `And`/`Or` in parentheses (so the
//! tree shape survives), compound keys as `[a.b]`, strings as JSON, numbers in the
//! shortest form that reads back to the same `f64`.

use std::fmt::{self, Write};

use chrono::SecondsFormat;

use super::{AttrPath, QValue, Query, Term};

pub(super) fn write_query(q: &Query, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match q {
        Query::Term(t) => write_term(t, f),
        Query::And(qs) => write_joined(qs, ';', f),
        Query::Or(qs) => write_joined(qs, '|', f),
    }
}

fn write_joined(qs: &[Query], sep: char, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, q) in qs.iter().enumerate() {
        if i > 0 {
            f.write_char(sep)?;
        }
        match q {
            Query::Term(t) => write_term(t, f)?,
            Query::And(_) | Query::Or(_) => {
                f.write_char('(')?;
                write_query(q, f)?;
                f.write_char(')')?;
            }
        }
    }
    Ok(())
}

pub(super) fn write_term(t: &Term, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write_path(&t.path, f)?;
    if let Some((op, v)) = &t.op {
        f.write_str(op.as_str())?;
        write_value(v, f)?;
    }
    Ok(())
}

pub(super) fn write_path(p: &AttrPath, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&p.attr)?;
    for s in &p.sub {
        f.write_char('.')?;
        f.write_str(s)?;
    }
    if !p.compound.is_empty() {
        f.write_char('[')?;
        for (i, k) in p.compound.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            f.write_str(k)?;
        }
        f.write_char(']')?;
    }
    Ok(())
}

pub(super) fn write_value(v: &QValue, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        QValue::Number(n) => write_number(*n, f),
        QValue::Str(s) => {
            // Serializing a String to JSON cannot fail; fall back to Debug all the same.
            match serde_json::to_string(s) {
                Ok(json) => f.write_str(&json),
                Err(_) => write!(f, "{s:?}"),
            }
        }
        QValue::Bool(b) => write!(f, "{b}"),
        QValue::DateTime(d) => f.write_str(&d.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        QValue::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
        QValue::Time(t) => write!(f, "{}Z", t.format("%H:%M:%S%.f")),
        QValue::Uri(u) => f.write_str(u),
        QValue::Range(lo, hi) => {
            write_value(lo, f)?;
            f.write_str("..")?;
            write_value(hi, f)
        }
        QValue::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write_value(item, f)?;
            }
            Ok(())
        }
        QValue::Regex(p) => {
            // Inverse of the parser's rule: backslash pairs stay as they are, a bare
            // quote gets a backslash.
            f.write_char('"')?;
            let mut chars = p.as_str().chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        f.write_char('\\')?;
                        if let Some(next) = chars.next() {
                            f.write_char(next)?;
                        }
                    }
                    '"' => f.write_str("\\\"")?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('"')
        }
    }
}

/// Plain notation for ordinary magnitudes, exponent notation for the extremes (Rust's
/// `Display` for `f64` would write 1e300 as 301 digits). Both are JSON numbers and
/// both are the shortest text that parses back to the same `f64`.
fn write_number(n: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let a = n.abs();
    if a != 0.0 && !(1e-6..1e16).contains(&a) {
        write!(f, "{n:e}")
    } else {
        write!(f, "{n}")
    }
}
