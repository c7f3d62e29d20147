//! `kizuna-cap`: the pure core of Kizuna's alert service — OASIS Common Alerting Protocol
//! (CAP) 1.2 messages, with the Japanese evacuation information (避難情報) mapped onto them.
//!
//! - [`model`]: [`Alert`], [`Info`], [`Resource`], [`Area`], the CAP enumerations,
//!   [`CapDateTime`], [`Polygon`], [`Circle`], [`Reference`] (serde: the JSON form uses the
//!   CAP element names).
//! - [`xml`]: CAP 1.2 XML in ([`xml::from_xml`], schema-level checks) and out ([`to_xml`],
//!   canonical form).
//! - [`validate`](mod@validate): the rules beyond the schema, every problem with its element path.
//! - [`japan`]: 警戒レベル 3–5, shelter opening/closing and lifting as CAP values (a documented
//!   table), bilingual alerts, and the L-Alert details ([`japan::EvacuationDetail`]).
//! - [`geocode`]: 全国地方公共団体コード (check digit), the table of every prefecture, 市区町村 and
//!   行政区 with their boundaries ([`geocode::Gazetteer`]), CAP geocode `JP-LGCode`.
//!
//! Invariant: no I/O, no HTTP, no SQL (the national table is compiled in; a city's own file is
//! read by the program and handed over as text).
//!
//! Sources: OASIS, "Common Alerting Protocol Version 1.2", OASIS Standard, 1 July 2010, and
//! its schema `CAP-v1.2.xsd`; 内閣府「避難情報に関するガイドライン」(令和3年5月); 総務省
//! 全国地方公共団体コード.

pub mod geocode;
pub mod japan;
pub mod model;
pub mod problem;
pub mod samples;
pub mod validate;
pub mod xml;

pub use model::*;
pub use problem::{Problem, Problems};
pub use validate::{validate, validate_with};
pub use xml::{from_xml, to_xml};

/// Reads a CAP 1.2 XML message and checks it completely: the schema ([`xml::from_xml`]) and
/// every rule of [`validate()`] that needs no other message. All problems are returned, each
/// with its element path. Never panics, whatever the input (the fuzzing entry point).
pub fn parse(xml: &str) -> Result<Alert, Problems> {
    let alert = xml::from_xml(xml)?;
    validate::validate(&alert)?;
    Ok(alert)
}

/// [`parse`], also checking that every message in `references` exists.
pub fn parse_with(xml: &str, exists: impl Fn(&Reference) -> bool) -> Result<Alert, Problems> {
    let alert = xml::from_xml(xml)?;
    validate::validate_with(&alert, exists)?;
    Ok(alert)
}
