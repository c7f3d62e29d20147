//! FHIR R4 / JP Core building blocks for Kizuna's personal health records (issue 6).
//!
//! A pure library (no HTTP, no SQL) that the FHIR API crate builds on:
//!
//! - [`outcome`]: FHIR R4 `OperationOutcome` construction and a [`outcome::ValidationErrors`]
//!   collector whose issues name the offending element with a FHIRPath-like `expression`.
//! - [`validate`]: validation of incoming resources (`serde_json::Value`) against the R4
//!   base cardinalities and the JP Core profiles Kizuna relies on, plus the code systems
//!   Kizuna reads (LOINC vitals, JLAC10 lab results, UCUM, YJ/HOT drugs, the local routine
//!   vaccine code system in [`codes`]).
//! - [`thresholds`]: the lifestyle-disease settings table (JSH2019, JDS, JAS 2022, CKD,
//!   特定健診 保健指導判定値 / 受診勧奨判定値) and [`thresholds::assess`].
//! - [`schedule`]: the routine immunisation schedule (定期接種) computed from a birth date.
//! - [`people`]: a seeded generator of synthetic Japanese test people (JP Core Patients with
//!   home vitals, 特定健診 results, prenatal and infant checkups, immunisations, dispenses).
//! - [`deid`]: research extracts (データ二次利用) with keyed pseudonyms, generalised
//!   quasi-identifiers and k-anonymity, with a report of what was done.

pub mod codes;
pub mod deid;
pub mod outcome;
pub mod people;
pub mod schedule;
pub mod search;
pub mod thresholds;
pub mod validate;

pub use outcome::{IssueCode, IssueSeverity, OperationOutcome, OutcomeIssue, ValidationErrors};
pub use validate::validate_resource;
