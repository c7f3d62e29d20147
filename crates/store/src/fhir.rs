//! FHIR resources in the store, in storage terms: versions, search-index rows and a
//! search description. The store does not know FHIR's rules — which elements are
//! indexed under which parameter, what a date prefix means — the API crate
//! (`kizuna-api-fhir`, with `kizuna-fhir`) turns resources and search URLs into these.
//!
//! Every version of a resource is kept (read, vread, history); a delete is a version
//! without content. The current version of each resource carries its data subject (the
//! person it belongs to, for the consent decision) and its source (the party that
//! supplied it, for provenance).

use serde_json::Value;

/// One version of a FHIR resource.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirRecord {
    /// The resource type (`Observation`).
    pub rtype: String,
    /// The logical id.
    pub id: String,
    /// The version (1, 2, ...).
    pub version: u64,
    /// When this version was stored (RFC 3339, UTC, milliseconds).
    pub last_updated: String,
    /// Whether this version is a delete.
    pub deleted: bool,
    /// The data subject the resource belongs to (a URI), if any.
    pub subject: Option<String>,
    /// The party that supplied this version.
    pub source: Option<String>,
    /// The resource as stored (`meta` included); `None` for a delete.
    pub resource: Option<Value>,
}

/// One search-index row of a resource: the value of one search parameter. A token is
/// `system` + `text` (the code); a string or reference is `text`; a date or number is
/// the range `lo..=hi` (dates in epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FhirIndexRow {
    /// The search parameter (`code`, `patient`, `date`, `_lastUpdated`...).
    pub param: String,
    /// A token's system.
    pub system: Option<String>,
    /// A token's code, a reference (`Patient/123`) or a normalised string.
    pub text: Option<String>,
    /// The low end of a date or number range.
    pub lo: Option<f64>,
    /// The high end of a date or number range.
    pub hi: Option<f64>,
}

/// One way a search parameter may match an index row.
#[derive(Debug, Clone, PartialEq)]
pub enum FhirMatch {
    /// A token: `system` and `code` as given (`None` system: any system, unless
    /// `no_system`; `None` code: any code of the system).
    Token {
        /// The system asked for.
        system: Option<String>,
        /// The code asked for.
        code: Option<String>,
        /// `|code`: the row must have no system.
        no_system: bool,
    },
    /// Exact text (references, ids, tokens without system).
    Exact(String),
    /// Text starting with this (normalised strings).
    Prefix(String),
    /// A range condition on `lo`/`hi`.
    Range(RangeCond),
}

/// How a date or number range in the index must relate to the one searched for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeCond {
    /// `eq`: the row's range lies within `lo..=hi`.
    Within(f64, f64),
    /// `ne`: the row's range does not lie within `lo..=hi`.
    NotWithin(f64, f64),
    /// `ge`: the row's range reaches `x` or later (`hi >= x`).
    HiAtLeast(f64),
    /// `gt`: the row's range extends after `x` (`hi > x`).
    HiAbove(f64),
    /// `le`: the row's range starts at `x` or earlier (`lo <= x`).
    LoAtMost(f64),
    /// `lt`: the row's range starts before `x` (`lo < x`).
    LoBelow(f64),
}

/// One search parameter: the resource matches if one of its rows for `param` matches
/// one of `any` (FHIR's comma = OR); clauses are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirClause {
    /// The search parameter.
    pub param: String,
    /// The alternatives.
    pub any: Vec<FhirMatch>,
    /// `:missing=true` (the resource has no row for `param`) when set to `Some(true)`;
    /// `Some(false)`: it has one. `any` is then ignored.
    pub missing: Option<bool>,
}

/// The order of a search's results.
#[derive(Debug, Clone, PartialEq)]
pub enum FhirSort {
    /// By the resource id.
    Id,
    /// By `_lastUpdated`.
    LastUpdated,
    /// By the lowest `lo` of a parameter's rows (dates, numbers; resources without one last).
    Range(String),
    /// By the smallest `text` of a parameter's rows (strings, tokens).
    Text(String),
}

/// A search over one resource type (current, not deleted versions).
#[derive(Debug, Clone, PartialEq)]
pub struct FhirSearch {
    /// The resource type.
    pub rtype: String,
    /// ANDed clauses.
    pub clauses: Vec<FhirClause>,
    /// Sort keys, each ascending (`false`) or descending (`true`); ties by id.
    pub sort: Vec<(FhirSort, bool)>,
    /// When set, only resources of these data subjects (a citizen's own and their wards').
    pub subjects: Option<Vec<String>>,
}

/// A resource that matched a search, before the caller's decision: enough to decide
/// (id, subject) without reading the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirHit {
    /// The logical id.
    pub id: String,
    /// The data subject, if any.
    pub subject: Option<String>,
    /// The party that supplied the current version.
    pub source: Option<String>,
}

/// One page of a search after the caller's gate: the resources on the page and how
/// many matched and passed the gate in all.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirPage {
    /// The page.
    pub records: Vec<FhirRecord>,
    /// How many passed the gate in all.
    pub total: u64,
}
