//! The audit chain: an untouched chain verifies; any edit, removal, reordering or
//! relinking fails verification naming the exact first bad record.

use chrono::{Duration, TimeZone, Utc};
use kizuna_consent::{
    canonical_form, chain, verify, verify_to_heads, AuditDecision, AuditEntry, AuditRecord, ChainError, ChainFault,
    ChainHead, Purpose, Role, GENESIS_HASH,
};
use kizuna_consent::{Action, TenantMismatch};
use proptest::prelude::*;

fn entry(tenant: &str, i: u64) -> AuditEntry {
    let at = Utc.with_ymd_and_hms(2025, 4, 1, 9, 0, 0).single().expect("time") + Duration::seconds(i as i64);
    AuditEntry {
        tenant: tenant.into(),
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        actor: format!("urn:kizuna:party:{}", i % 3),
        role: if i % 2 == 0 { Role::ServiceProvider } else { Role::Citizen },
        subject: (i % 4 != 0).then(|| format!("urn:ngsi-ld:Person:{}", i % 5)),
        resource: format!("urn:ngsi-ld:BloodPressure:{i}"),
        action: Action::Read,
        purpose: (i % 3 != 0).then(|| Purpose::from("healthcare")),
        decision: if i % 2 == 0 {
            AuditDecision { allowed: true, basis: Some(format!("consent:c{i}")), reason: None }
        } else {
            AuditDecision { allowed: false, basis: None, reason: Some("no-consent".into()) }
        },
    }
}

/// `n` records of one tenant.
fn build(tenant: &str, n: u64) -> Vec<AuditRecord> {
    let mut head = ChainHead::genesis(tenant);
    (1..=n).map(|i| head.append(entry(tenant, i)).expect("same tenant")).collect()
}

/// Two tenants' chains interleaved: a1 b1 a2 b2 ...
fn interleaved(n: u64) -> Vec<AuditRecord> {
    let (a, b) = (build("a", n), build("b", n));
    a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect()
}

fn err(records: &[AuditRecord]) -> ChainError {
    verify(records).expect_err("verification must fail")
}

#[test]
fn an_untouched_chain_verifies() {
    assert_eq!(verify(&[]), Ok(()));
    let recs = build("t", 20);
    assert_eq!(verify(&recs), Ok(()));
    assert_eq!(recs[0].seq, 1);
    assert_eq!(recs[0].prev_hash, GENESIS_HASH);
    assert_eq!(recs[5].prev_hash, recs[4].hash);
    assert!(recs.iter().all(|r| r.hash.len() == 64 && r.hash.chars().all(|c| c.is_ascii_hexdigit())));
    assert_eq!(verify(&interleaved(10)), Ok(()));
}

#[test]
fn append_refuses_another_tenants_entry() {
    let mut head = ChainHead::genesis("a");
    assert_eq!(head.append(entry("b", 1)), Err(TenantMismatch { chain: "a".into(), entry: "b".into() }));
    let r = head.append(entry("a", 1)).expect("same tenant");
    let mut resumed = ChainHead::after(&r);
    let r2 = resumed.append(entry("a", 2)).expect("same tenant");
    assert_eq!(verify(&[r, r2]), Ok(()));
}

#[test]
fn canonical_form_is_sorted_compact_json_with_nulls() {
    let mut rec = build("t", 1).remove(0);
    rec.actor = "a\"b\\c\nd\u{1}é".into();
    rec.subject = None;
    let s = canonical_form(GENESIS_HASH, &rec);
    let expected = format!(
        "{{\"action\":\"read\",\"actor\":\"a\\\"b\\\\c\\nd\\u0001é\",\"at\":\"2025-04-01T09:00:01.000Z\",\
         \"decision\":{{\"allowed\":false,\"basis\":null,\"reason\":\"no-consent\"}},\"prev_hash\":\"{GENESIS_HASH}\",\
         \"purpose\":\"healthcare\",\"resource\":\"urn:ngsi-ld:BloodPressure:1\",\"role\":\"citizen\",\"seq\":1,\
         \"subject\":null,\"tenant\":\"t\"}}"
    );
    assert_eq!(s, expected);
    // It is JSON, and parses back to the same members.
    let v: serde_json::Value = serde_json::from_str(&s).expect("json");
    assert_eq!(v["actor"], "a\"b\\c\nd\u{1}é");
    // The hash is SHA-256 of it; the `hash` member is not part of it.
    let before = chain(GENESIS_HASH, &rec);
    rec.hash = "ff".into();
    assert_eq!(chain(GENESIS_HASH, &rec), before);
    // A known vector: SHA-256 of the canonical form of a fixed record.
    let fixed = build("t", 1).remove(0);
    assert_eq!(fixed.hash, chain(GENESIS_HASH, &fixed));
    assert_ne!(chain("1".repeat(64).as_str(), &fixed), fixed.hash);
}

#[test]
fn editing_any_field_names_that_record() {
    type Edit = fn(&mut AuditRecord);
    let edits: [(&str, Edit); 10] = [
        ("at", |r| r.at.push('0')),
        ("actor", |r| r.actor = "urn:kizuna:party:evil".into()),
        ("role", |r| r.role = Role::TenantAdmin),
        ("subject", |r| r.subject = Some("urn:ngsi-ld:Person:other".into())),
        ("resource", |r| r.resource.push('x')),
        ("purpose", |r| r.purpose = Some(Purpose::from("research"))),
        ("allowed", |r| r.decision.allowed = !r.decision.allowed),
        ("basis", |r| r.decision.basis = Some("controller".into())),
        ("reason", |r| r.decision.reason = Some("usage-stopped".into())),
        ("hash", |r| r.hash = r.hash.replace(|c: char| c != '0', "0")),
    ];
    for (field, edit) in edits {
        for k in [0usize, 6, 11] {
            let mut recs = build("t", 12);
            edit(&mut recs[k]);
            let e = err(&recs);
            assert_eq!(
                (e.tenant.as_str(), e.seq, e.index, &e.reason),
                ("t", k as u64 + 1, k, &ChainFault::Hash),
                "{field}"
            );
        }
    }
}

#[test]
fn editing_seq_or_tenant_names_that_record() {
    let mut recs = build("t", 8);
    recs[3].seq = 9;
    let e = err(&recs);
    assert_eq!((e.seq, e.index, e.reason), (9, 3, ChainFault::Sequence { expected: 4 }));
    let mut recs = build("t", 8);
    recs[3].tenant = "u".into();
    let e = err(&recs);
    assert_eq!((e.tenant.as_str(), e.seq, e.index), ("u", 4, 3));
}

#[test]
fn removing_a_record_names_the_one_after_the_gap() {
    for k in [0usize, 4, 8] {
        let mut recs = build("t", 10);
        recs.remove(k);
        let e = err(&recs);
        assert_eq!((e.seq, e.index, e.reason), (k as u64 + 2, k, ChainFault::Sequence { expected: k as u64 + 1 }));
    }
}

#[test]
fn removing_and_renumbering_names_the_relinked_record() {
    // The attacker removes record 5 and renumbers the rest: record 6 (now seq 5) links to
    // record 5's hash, which is gone.
    let mut recs = build("t", 10);
    recs.remove(4);
    for r in &mut recs[4..] {
        r.seq -= 1;
    }
    let e = err(&recs);
    assert_eq!((e.seq, e.index), (5, 4));
    assert!(matches!(e.reason, ChainFault::PrevHash { .. }));
}

#[test]
fn swapping_two_records_names_the_first_out_of_place() {
    for k in [0usize, 3, 8] {
        let mut recs = build("t", 10);
        recs.swap(k, k + 1);
        let e = err(&recs);
        assert_eq!((e.seq, e.index, e.reason), (k as u64 + 2, k, ChainFault::Sequence { expected: k as u64 + 1 }));
    }
    // Swapped and renumbered: the prev_hash links give it away.
    let mut recs = build("t", 10);
    recs.swap(3, 4);
    recs[3].seq = 4;
    recs[4].seq = 5;
    let e = err(&recs);
    assert_eq!((e.seq, e.index), (4, 3));
    assert!(matches!(e.reason, ChainFault::PrevHash { .. }));
}

#[test]
fn changing_a_prev_hash_names_that_record() {
    for k in [0usize, 5, 9] {
        let mut recs = build("t", 10);
        recs[k].prev_hash = "ab".repeat(32);
        let e = err(&recs);
        assert_eq!((e.seq, e.index), (k as u64 + 1, k));
        assert!(matches!(e.reason, ChainFault::PrevHash { .. }));
    }
}

#[test]
fn an_edit_with_a_recomputed_hash_is_named_at_the_next_record() {
    let mut recs = build("t", 10);
    recs[3].decision.allowed = !recs[3].decision.allowed;
    recs[3].hash = chain(&recs[3].prev_hash, &recs[3]);
    let e = err(&recs);
    assert_eq!((e.seq, e.index), (5, 4));
    assert!(matches!(e.reason, ChainFault::PrevHash { .. }));
}

#[test]
fn tampering_in_one_tenant_names_that_tenants_record() {
    let mut recs = interleaved(6);
    // b's third record is at index 5.
    recs[5].resource = "urn:changed".into();
    let e = err(&recs);
    assert_eq!((e.tenant.as_str(), e.seq, e.index, e.reason), ("b", 3, 5, ChainFault::Hash));
    // Moving a record of b across a's records keeps both chains valid (order is per tenant).
    let mut recs = interleaved(3);
    recs.swap(0, 1);
    assert_eq!(verify(&recs), Ok(()));
}

#[test]
fn truncation_is_caught_against_the_known_heads() {
    let recs = build("t", 10);
    let head = ChainHead::after(&recs[9]);
    assert_eq!(verify_to_heads(&recs, std::slice::from_ref(&head)), Ok(()));
    let e = verify_to_heads(&recs[..7], std::slice::from_ref(&head)).expect_err("truncated");
    assert_eq!((e.seq, e.index, e.reason), (8, 7, ChainFault::Truncated { head_seq: 10 }));
    let e = verify_to_heads(&[], std::slice::from_ref(&head)).expect_err("all gone");
    assert_eq!(e.seq, 1);
    // The last record rewritten with a consistent hash: caught against the head.
    let mut forged = recs.clone();
    forged[9].decision.allowed = !forged[9].decision.allowed;
    forged[9].hash = chain(&forged[9].prev_hash, &forged[9]);
    assert_eq!(verify(&forged), Ok(()));
    let e = verify_to_heads(&forged, &[head]).expect_err("rewritten");
    assert_eq!((e.seq, e.index, e.reason), (10, 9, ChainFault::HeadMismatch));
}

#[test]
fn error_message_names_tenant_and_seq() {
    let mut recs = build("maebashi", 3);
    recs[1].actor = "x".into();
    assert_eq!(
        err(&recs).to_string(),
        "audit chain of tenant 'maebashi' is broken at seq 2 (record #1): hash does not match the record's contents"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any single-record edit, removal (not of a tenant's last record: that is
    /// truncation, see `verify_to_heads`), or swap of two consecutive records of one
    /// tenant in an interleaved two-tenant log is detected at the exact first bad record.
    #[test]
    fn any_tampering_is_detected_at_the_first_bad_record(n in 2u64..12, op in 0u8..3, pos in 0usize..100) {
        let mut recs = interleaved(n);
        let k = pos % (recs.len() - 2);
        let tenant = recs[k].tenant.clone();
        let seq = recs[k].seq;
        let (index, bad_seq, reason) = match op {
            0 => {
                recs[k].resource.push('!');
                (k, seq, ChainFault::Hash)
            }
            1 => {
                recs.remove(k);
                // The same tenant's next record (was k + 2) is now at k + 1.
                (k + 1, seq + 1, ChainFault::Sequence { expected: seq })
            }
            _ => {
                recs.swap(k, k + 2);
                (k, seq + 1, ChainFault::Sequence { expected: seq })
            }
        };
        let e = verify(&recs).expect_err("tampering must be detected");
        prop_assert_eq!(e, ChainError { tenant, seq: bad_seq, index, reason });
    }
}
