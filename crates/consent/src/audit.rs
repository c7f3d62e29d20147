//! The access log: every decision about personal data, allowed or denied, appended to a
//! chain of records hashed per tenant, so that any altered, removed or reordered record
//! is detected and named.
//!
//! # Layout
//! - [`AuditEntry`] (a decision, not yet in a chain; [`AuditEntry::from_decision`]) and
//!   [`AuditRecord`] (an entry with its `seq`, `prev_hash` and `hash`);
//! - [`ChainHead`]: the last `seq` and `hash` of a tenant's chain, which appends;
//! - [`canonical_form`] and [`chain`]: what is hashed, precisely;
//! - [`verify`] / [`verify_to_heads`]: the checks, failing with a [`ChainError`] that
//!   names the first bad record ([`ChainFault`] says what is wrong with it).
//!
//! # The chain
//! Each tenant has its own chain. Its first record has `seq` 1 and `prev_hash`
//! [`GENESIS_HASH`] (64 zeros); record *n + 1* has `seq` *n + 1* and `prev_hash` equal
//! to record *n*'s `hash`; each `hash` is [`chain`]`(prev_hash, record)`. Removing the
//! *last* records of a chain leaves a valid shorter chain: [`verify_to_heads`] catches
//! that against heads kept elsewhere (e.g. published or stored apart from the log).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decision::{AccessRequest, Action, Decision, Outcome};
use crate::model::{Purpose, Role};

/// The `prev_hash` of the first record of every tenant's chain: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The decision as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDecision {
    /// Allowed or denied.
    pub allowed: bool,
    /// For allowed reads: the basis ([`crate::Basis::label`]).
    pub basis: Option<String>,
    /// For denied reads: the reason ([`crate::DenyReason::as_str`]).
    pub reason: Option<String>,
}

/// A decision to log, before it has a place in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The tenant whose chain it goes to.
    pub tenant: String,
    /// When (RFC 3339, UTC, milliseconds, `Z`).
    pub at: String,
    /// Who asked: the party, or `anonymous` ([`crate::Caller::actor`]).
    pub actor: String,
    /// The role they asked in.
    pub role: Role,
    /// Whose data (the data subject), if known.
    pub subject: Option<String>,
    /// What was asked for: an entity id, or another resource name.
    pub resource: String,
    /// What they wanted to do.
    pub action: Action,
    /// The purpose they stated.
    pub purpose: Option<Purpose>,
    /// The decision.
    pub decision: AuditDecision,
}

impl AuditEntry {
    /// The entry for `decision` about `resource`, decided at `at`.
    pub fn from_decision(req: &AccessRequest, resource: &str, decision: &Decision, at: DateTime<Utc>) -> AuditEntry {
        let decision_logged = match &decision.outcome {
            Outcome::Allowed(g) => AuditDecision { allowed: true, basis: Some(g.basis.label()), reason: None },
            Outcome::Denied(r) => AuditDecision { allowed: false, basis: None, reason: Some(r.as_str().to_string()) },
        };
        AuditEntry {
            tenant: req.caller.tenant.clone(),
            at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            actor: req.caller.actor().to_string(),
            role: req.caller.role,
            subject: decision.subject().map(str::to_string),
            resource: resource.to_string(),
            action: req.action,
            purpose: req.purpose.clone(),
            decision: decision_logged,
        }
    }
}

/// One record of a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The tenant whose chain it is in.
    pub tenant: String,
    /// Its position in the tenant's chain, from 1.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who asked (party or `anonymous`).
    pub actor: String,
    /// The role they asked in.
    pub role: Role,
    /// Whose data.
    pub subject: Option<String>,
    /// What was asked for.
    pub resource: String,
    /// What they wanted to do.
    pub action: Action,
    /// The purpose they stated.
    pub purpose: Option<Purpose>,
    /// The decision.
    pub decision: AuditDecision,
    /// The previous record's `hash` (lowercase hex), or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// [`chain`]`(prev_hash, self)` (lowercase hex).
    pub hash: String,
}

/// The end of one tenant's chain: what the next record links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The tenant.
    pub tenant: String,
    /// The last `seq` (0 for an empty chain).
    pub seq: u64,
    /// The last `hash` ([`GENESIS_HASH`] for an empty chain).
    pub hash: String,
}

/// Appending to the wrong chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an entry of tenant '{entry}' cannot be appended to the chain of tenant '{chain}'")]
pub struct TenantMismatch {
    /// The chain's tenant.
    pub chain: String,
    /// The entry's tenant.
    pub entry: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis(tenant: impl Into<String>) -> ChainHead {
        ChainHead { tenant: tenant.into(), seq: 0, hash: GENESIS_HASH.to_string() }
    }

    /// The head after `last`.
    pub fn after(last: &AuditRecord) -> ChainHead {
        ChainHead { tenant: last.tenant.clone(), seq: last.seq, hash: last.hash.clone() }
    }

    /// Links `entry` after this head and advances the head to it.
    pub fn append(&mut self, entry: AuditEntry) -> Result<AuditRecord, TenantMismatch> {
        if entry.tenant != self.tenant {
            return Err(TenantMismatch { chain: self.tenant.clone(), entry: entry.tenant });
        }
        let mut rec = AuditRecord {
            tenant: entry.tenant,
            seq: self.seq + 1,
            at: entry.at,
            actor: entry.actor,
            role: entry.role,
            subject: entry.subject,
            resource: entry.resource,
            action: entry.action,
            purpose: entry.purpose,
            decision: entry.decision,
            prev_hash: self.hash.clone(),
            hash: String::new(),
        };
        rec.hash = chain(&self.hash, &rec);
        self.seq = rec.seq;
        self.hash = rec.hash.clone();
        Ok(rec)
    }
}

/// The bytes [`chain`] hashes: the record as canonical JSON (RFC 8785, JCS, for the
/// value types it holds), **without** its `hash` member and with `prev_hash` set to the
/// given `prev_hash`:
///
/// - one object, no whitespace, members sorted by name:
///   `action, actor, at, decision, prev_hash, purpose, resource, role, seq, subject,
///   tenant`; `decision` is the object `{"allowed":…,"basis":…,"reason":…}`;
/// - absent values (`purpose`, `subject`, `basis`, `reason`) are `null`, never omitted;
/// - strings escape only `"` → `\"`, `\` → `\\`, and U+0000–U+001F (`\b \t \n \f \r`,
///   others `\u00xx` lowercase hex); everything else is literal UTF-8;
/// - `seq` is a decimal integer, `allowed` is `true`/`false`; `role` and `action` are
///   their serialized names (`service-provider`, `read`).
///
/// Example: `{"action":"read","actor":"urn:p:1","at":"2025-01-01T00:00:00.000Z",
/// "decision":{"allowed":false,"basis":null,"reason":"no-consent"},"prev_hash":"00…0",
/// "purpose":"research","resource":"urn:e:1","role":"service-provider","seq":1,
/// "subject":"urn:c:1","tenant":"t"}` (on one line).
pub fn canonical_form(prev_hash: &str, rec: &AuditRecord) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"action\":");
    json_str(&mut out, rec.action.as_str());
    out.push_str(",\"actor\":");
    json_str(&mut out, &rec.actor);
    out.push_str(",\"at\":");
    json_str(&mut out, &rec.at);
    out.push_str(",\"decision\":{\"allowed\":");
    out.push_str(if rec.decision.allowed { "true" } else { "false" });
    out.push_str(",\"basis\":");
    json_opt(&mut out, rec.decision.basis.as_deref());
    out.push_str(",\"reason\":");
    json_opt(&mut out, rec.decision.reason.as_deref());
    out.push_str("},\"prev_hash\":");
    json_str(&mut out, prev_hash);
    out.push_str(",\"purpose\":");
    json_opt(&mut out, rec.purpose.as_ref().map(Purpose::as_str));
    out.push_str(",\"resource\":");
    json_str(&mut out, &rec.resource);
    out.push_str(",\"role\":");
    json_str(&mut out, rec.role.as_str());
    let _ = write!(out, ",\"seq\":{}", rec.seq);
    out.push_str(",\"subject\":");
    json_opt(&mut out, rec.subject.as_deref());
    out.push_str(",\"tenant\":");
    json_str(&mut out, &rec.tenant);
    out.push('}');
    out
}

fn json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The hash of `rec` linked after `prev_hash`: lowercase hex SHA-256 of the UTF-8 bytes
/// of [`canonical_form`]`(prev_hash, rec)`. `rec.hash` (and `rec.prev_hash`) are not
/// read.
pub fn chain(prev_hash: &str, rec: &AuditRecord) -> String {
    let digest = Sha256::digest(canonical_form(prev_hash, rec).as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// What is wrong with the first bad record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum ChainFault {
    /// Its `seq` is not the next one of its tenant's chain (a record before it was
    /// removed, or records were reordered).
    Sequence {
        /// The `seq` the chain needed here.
        expected: u64,
    },
    /// Its `prev_hash` is not the previous record's `hash` (or the genesis hash).
    PrevHash {
        /// The hash it should link to.
        expected: String,
    },
    /// Its `hash` does not match its contents (the record was edited).
    Hash,
    /// The chain ends before the known head (its last records were removed).
    Truncated {
        /// The head's `seq`.
        head_seq: u64,
    },
    /// The chain's last record is not the known head (it was rewritten).
    HeadMismatch,
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::Sequence { expected } => write!(f, "sequence broken: expected seq {expected}"),
            ChainFault::PrevHash { expected } => write!(f, "prev_hash does not link to {expected}"),
            ChainFault::Hash => f.write_str("hash does not match the record's contents"),
            ChainFault::Truncated { head_seq } => write!(f, "chain ends before its head (seq {head_seq})"),
            ChainFault::HeadMismatch => f.write_str("the last record is not the known head"),
        }
    }
}

/// A chain that does not verify: the first bad record and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("audit chain of tenant '{tenant}' is broken at seq {seq} (record #{index}): {reason}")]
pub struct ChainError {
    /// The tenant whose chain is broken.
    pub tenant: String,
    /// The `seq` the bad record carries (for [`ChainFault::Truncated`]: the first missing
    /// seq).
    pub seq: u64,
    /// Its position in the slice given to [`verify`] (for `Truncated`: the slice length).
    pub index: usize,
    /// What is wrong.
    pub reason: ChainFault,
}

/// Verifies the chains of every tenant in `records` (records of several tenants may be
/// interleaved; each tenant's must appear in chain order). Walking the slice in order,
/// for each record of tenant *t*:
///
/// 1. its `seq` must be the previous `seq` of *t* plus one (1 for the first) —
///    detects removals and reorderings ([`ChainFault::Sequence`]);
/// 2. its `prev_hash` must be the previous record's `hash` (for the first,
///    [`GENESIS_HASH`]) — detects a relinked record ([`ChainFault::PrevHash`]);
/// 3. its `hash` must equal [`chain`]`(prev_hash, record)` — detects edits of any field
///    ([`ChainFault::Hash`]).
///
/// Fails on the first record (in slice order) breaking a rule, naming it. An edit whose
/// author also recomputed the edited record's hash is named at the next record (its
/// `prev_hash` no longer links).
pub fn verify(records: &[AuditRecord]) -> Result<(), ChainError> {
    verify_heads_of(records).map(|_| ())
}

/// [`verify`], then checks each tenant of `heads` against its chain's end: a chain that
/// stops before its head's `seq` fails with [`ChainFault::Truncated`], one whose last
/// record has the head's `seq` but not its `hash` with [`ChainFault::HeadMismatch`].
/// Records of tenants without a head are verified as by [`verify`].
pub fn verify_to_heads(records: &[AuditRecord], heads: &[ChainHead]) -> Result<(), ChainError> {
    let ends = verify_heads_of(records)?;
    for head in heads {
        let end = ends.get(head.tenant.as_str()).map(|(seq, hash, _)| (*seq, *hash));
        let (seq, hash) = end.unwrap_or((0, GENESIS_HASH));
        if seq < head.seq {
            return Err(ChainError {
                tenant: head.tenant.clone(),
                seq: seq + 1,
                index: records.len(),
                reason: ChainFault::Truncated { head_seq: head.seq },
            });
        }
        if seq == head.seq && hash != head.hash {
            let index = ends.get(head.tenant.as_str()).map_or(records.len(), |(_, _, i)| *i);
            return Err(ChainError { tenant: head.tenant.clone(), seq, index, reason: ChainFault::HeadMismatch });
        }
    }
    Ok(())
}

/// Verifies and returns each tenant's end: (last seq, last hash, index of last record).
fn verify_heads_of(records: &[AuditRecord]) -> Result<BTreeMap<&str, (u64, &str, usize)>, ChainError> {
    let mut ends: BTreeMap<&str, (u64, &str, usize)> = BTreeMap::new();
    for (index, rec) in records.iter().enumerate() {
        let (last_seq, last_hash) = ends.get(rec.tenant.as_str()).map_or((0, GENESIS_HASH), |(s, h, _)| (*s, *h));
        let fail = |reason| Err(ChainError { tenant: rec.tenant.clone(), seq: rec.seq, index, reason });
        if rec.seq != last_seq + 1 {
            return fail(ChainFault::Sequence { expected: last_seq + 1 });
        }
        if rec.prev_hash != last_hash {
            return fail(ChainFault::PrevHash { expected: last_hash.to_string() });
        }
        if chain(last_hash, rec) != rec.hash {
            return fail(ChainFault::Hash);
        }
        ends.insert(rec.tenant.as_str(), (rec.seq, rec.hash.as_str(), index));
    }
    Ok(ends)
}
