//! FHIR R4 `OperationOutcome` (<https://hl7.org/fhir/R4/operationoutcome.html>).
//!
//! An `OperationOutcome` carries one or more `issue`s, each with a `severity`
//! (value set <https://hl7.org/fhir/R4/valueset-issue-severity.html>, required binding),
//! a `code` (<https://hl7.org/fhir/R4/valueset-issue-type.html>, required binding), an
//! optional human-readable `diagnostics` and optional `expression`s: FHIRPath expressions
//! locating the element the issue is about (e.g. `Observation.valueQuantity.value`,
//! `Patient.name[0].family`). R4 deprecates `location` in favour of `expression`, so only
//! `expression` is emitted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

/// `OperationOutcome.issue.severity` (R4 value set `issue-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverity {
    /// The issue caused the action to fail and no further checking could be performed.
    Fatal,
    /// The issue is sufficiently important to cause the action to fail.
    Error,
    /// The issue is not important enough to cause the action to fail.
    Warning,
    /// For information only.
    Information,
}

/// `OperationOutcome.issue.code` (R4 value set `issue-type`), the subset Kizuna emits plus
/// the common processing codes. Serialised as the FHIR code (`code-invalid`, `not-found`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueCode {
    /// Content invalid against the specification or a profile (parent of the next five).
    Invalid,
    /// A structural issue in the content such as wrong namespace, unable to parse, or the
    /// wrong JSON type for an element.
    Structure,
    /// A required element is missing.
    Required,
    /// An element or header value is invalid (e.g. a malformed date).
    Value,
    /// A content validation rule failed (e.g. a profile invariant).
    Invariant,
    /// The code or system could not be understood, or it was not valid in the value set.
    CodeInvalid,
    /// The content / operation failed to pass a security check.
    Security,
    /// The client needs to initiate an authentication process.
    Login,
    /// The user or system was not able to be authenticated.
    Unknown,
    /// The reference provided was not found.
    NotFound,
    /// The resource has been deleted.
    Deleted,
    /// The operation is not supported.
    NotSupported,
    /// Content could not be accepted because of an edit conflict (optimistic locking).
    Conflict,
    /// An internal error has occurred.
    Exception,
    /// Informational: processing completed.
    Informational,
    /// Not all data sharing requirements were met (e.g. consent refused).
    Suppressed,
    /// Processing issues that are not covered by the other codes.
    Processing,
    /// The operation would result in a duplicate.
    Duplicate,
    /// Too many matches / resources, or a request too costly.
    TooCostly,
    /// The user does not have the rights to perform this action.
    Forbidden,
    /// A business rule of the server was broken (e.g. an unknown referenced patient).
    BusinessRule,
    /// A transient processing issue (retry may succeed).
    Transient,
}

impl IssueCode {
    /// The FHIR code string.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::Invariant => "invariant",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::Security => "security",
            IssueCode::Login => "login",
            IssueCode::Unknown => "unknown",
            IssueCode::NotFound => "not-found",
            IssueCode::Deleted => "deleted",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Conflict => "conflict",
            IssueCode::Exception => "exception",
            IssueCode::Informational => "informational",
            IssueCode::Suppressed => "suppressed",
            IssueCode::Processing => "processing",
            IssueCode::Duplicate => "duplicate",
            IssueCode::TooCostly => "too-costly",
            IssueCode::Forbidden => "forbidden",
            IssueCode::BusinessRule => "business-rule",
            IssueCode::Transient => "transient",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeIssue {
    pub severity: IssueSeverity,
    pub code: IssueCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

impl OutcomeIssue {
    /// An `error` issue about the element at `expression`.
    pub fn error(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: IssueSeverity::Error,
            code,
            diagnostics: Some(diagnostics.into()),
            expression: vec![expression.into()],
        }
    }

    /// A `warning` issue about the element at `expression`.
    pub fn warning(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Self { severity: IssueSeverity::Warning, ..Self::error(code, expression, diagnostics) }
    }

    /// True for `fatal` and `error` issues (the ones that make the request fail).
    pub fn is_error(&self) -> bool {
        matches!(self.severity, IssueSeverity::Fatal | IssueSeverity::Error)
    }
}

/// A FHIR R4 `OperationOutcome` resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationOutcome {
    /// `issue` has cardinality 1..* in R4.
    pub issue: Vec<OutcomeIssue>,
}

impl OperationOutcome {
    /// An outcome with a single issue without expression (e.g. `not-found` for a read).
    pub fn single(severity: IssueSeverity, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self {
            issue: vec![OutcomeIssue { severity, code, diagnostics: Some(diagnostics.into()), expression: Vec::new() }],
        }
    }

    /// An informational "all OK" outcome (R4 requires at least one issue; `informational`
    /// with severity `information` is the conventional success form).
    pub fn ok(diagnostics: impl Into<String>) -> Self {
        Self::single(IssueSeverity::Information, IssueCode::Informational, diagnostics)
    }

    /// True if any issue is `fatal` or `error`.
    pub fn has_errors(&self) -> bool {
        self.issue.iter().any(OutcomeIssue::is_error)
    }

    /// The resource as FHIR JSON (`resourceType` first).
    pub fn to_json(&self) -> Value {
        let issues: Vec<Value> = self
            .issue
            .iter()
            .map(|i| {
                let mut o = serde_json::Map::new();
                o.insert("severity".into(), json!(i.severity));
                o.insert("code".into(), json!(i.code.as_str()));
                if let Some(d) = &i.diagnostics {
                    o.insert("diagnostics".into(), json!(d));
                }
                if !i.expression.is_empty() {
                    o.insert("expression".into(), json!(i.expression));
                }
                Value::Object(o)
            })
            .collect();
        json!({ "resourceType": "OperationOutcome", "issue": issues })
    }
}

/// Collects validation issues while walking a resource; turns into an
/// [`OperationOutcome`] (`Err`) when any error was recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationErrors {
    issues: Vec<OutcomeIssue>,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an issue.
    pub fn push(&mut self, issue: OutcomeIssue) {
        self.issues.push(issue);
    }

    /// Records an error about the element at `expression`.
    pub fn error(&mut self, code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) {
        self.push(OutcomeIssue::error(code, expression, diagnostics));
    }

    /// Records a warning about the element at `expression`.
    pub fn warning(&mut self, code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) {
        self.push(OutcomeIssue::warning(code, expression, diagnostics));
    }

    /// `required`: the element at `expression` is missing.
    pub fn required(&mut self, expression: impl Into<String>) {
        let e = expression.into();
        let d = format!("{e}: required element is missing");
        self.error(IssueCode::Required, e, d);
    }

    /// The recorded issues.
    pub fn issues(&self) -> &[OutcomeIssue] {
        &self.issues
    }

    /// True if any error (not just warnings) was recorded.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(OutcomeIssue::is_error)
    }

    /// True if nothing at all was recorded.
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// The expressions of all recorded issues (handy in tests and logs).
    pub fn expressions(&self) -> Vec<&str> {
        self.issues.iter().flat_map(|i| i.expression.iter().map(String::as_str)).collect()
    }

    /// `Ok(warnings)` when no error was recorded, else `Err` with every issue.
    pub fn into_result(self) -> Result<Vec<OutcomeIssue>, OperationOutcome> {
        if self.has_errors() {
            Err(OperationOutcome { issue: self.issues })
        } else {
            Ok(self.issues)
        }
    }

    /// All issues as an `OperationOutcome` (possibly with no issue).
    pub fn into_outcome(self) -> OperationOutcome {
        OperationOutcome { issue: self.issues }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_codes_as_fhir() {
        assert_eq!(json!(IssueCode::CodeInvalid), json!("code-invalid"));
        assert_eq!(json!(IssueCode::NotFound), json!("not-found"));
        assert_eq!(json!(IssueSeverity::Error), json!("error"));
        assert_eq!(IssueCode::TooCostly.to_string(), "too-costly");
    }

    #[test]
    fn outcome_json_shape() {
        let mut e = ValidationErrors::new();
        e.required("Observation.status");
        e.error(IssueCode::Value, "Observation.effectiveDateTime", "bad date");
        e.warning(IssueCode::CodeInvalid, "Observation.code.coding[0]", "unknown code");
        assert!(e.has_errors());
        assert_eq!(
            e.expressions(),
            vec!["Observation.status", "Observation.effectiveDateTime", "Observation.code.coding[0]"]
        );
        let oo = e.into_result().expect_err("has errors");
        let j = oo.to_json();
        assert_eq!(j["resourceType"], "OperationOutcome");
        assert_eq!(j["issue"][0]["severity"], "error");
        assert_eq!(j["issue"][0]["code"], "required");
        assert_eq!(j["issue"][0]["expression"][0], "Observation.status");
        assert_eq!(j["issue"][2]["severity"], "warning");
        // round trip through serde
        let back: OperationOutcome = serde_json::from_value(json!({"issue": j["issue"].clone()})).expect("parse");
        assert_eq!(back, oo);
    }

    #[test]
    fn warnings_only_is_ok() {
        let mut e = ValidationErrors::new();
        assert!(e.is_empty());
        e.warning(IssueCode::CodeInvalid, "X.y", "hmm");
        let w = e.into_result().expect("only warnings");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn single_and_ok() {
        let nf = OperationOutcome::single(IssueSeverity::Error, IssueCode::NotFound, "Patient/x not found");
        assert!(nf.has_errors());
        assert!(nf.to_json()["issue"][0].get("expression").is_none());
        assert!(!OperationOutcome::ok("fine").has_errors());
    }
}
