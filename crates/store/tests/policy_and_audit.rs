//! The consent engine's records and the audit chain in the SQLite store: every record
//! kind round-trips and stays in its tenant; the cached policy reflects a write as soon
//! as the write returns (also under concurrent readers); the audit chain links across
//! writes and restarts, and `verify_audit` names the tenant and the first bad `seq`
//! when the database file is edited behind the store's back (a record's JSON, a
//! removed middle or last record, swapped records, a head without records, ...).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kizuna_consent::{
    AccessRequest, Action, ApiKeyRecord, AuditDecision, AuditEntry, Caller, Category, ChainFault, Classification,
    ConsentMethod, ConsentRecord, Delegation, LegalBasis, Party, ProvisionRecord, Purpose, RecipientKind, Role,
    UsageStop, DATA_SUBJECT, GENESIS_HASH,
};
use kizuna_ngsild::entity::AttrKind;
use kizuna_store::{Attribute, AuditReport, Entity, Store, StoreError};
use serde_json::json;

const BP: &str = "https://uri.etsi.org/ngsi-ld/default-context/BloodPressure";
const CLINIC: &str = "urn:party:clinic";
const ALICE: &str = "urn:person:alice";
const BOB: &str = "urn:person:bob";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("time").with_timezone(&Utc)
}

fn party(id: &str) -> Party {
    Party {
        id: id.into(),
        name: format!("name of {id}"),
        roles: vec![Role::DataHolder, Role::ServiceProvider],
        registered_purposes: vec![Purpose::new("healthcare")],
        recipient_kind: Some(RecipientKind::new("hospital")),
    }
}

fn api_key(id: &str, tenant: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        tenant: tenant.into(),
        party: CLINIC.into(),
        role: Role::DataHolder,
        secret_sha256: "ab".repeat(32),
        label: "detector".into(),
        created_at: t0(),
        revoked_at: None,
    }
}

fn consent(id: &str, tenant: &str, subject: &str, recipient: &str) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        subject: subject.into(),
        controller: tenant.into(),
        recipient: recipient.into(),
        purposes: vec![Purpose::new("healthcare")],
        categories: vec![Category::Health],
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "1".into(),
        method: ConsentMethod::App,
        granted_at: t0(),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

fn delegation(id: &str, tenant: &str, subject: &str) -> Delegation {
    Delegation {
        id: id.into(),
        subject: subject.into(),
        controller: tenant.into(),
        categories: vec![Category::Health],
        recipient_kinds: vec![RecipientKind::new("hospital")],
        purposes: vec![Purpose::new("healthcare")],
        excluded_recipients: vec![],
        notice_version: "1".into(),
        method: ConsentMethod::Counter,
        granted_at: t0(),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

fn stop(tenant: &str, subject: &str, recipient: &str) -> UsageStop {
    UsageStop {
        subject: subject.into(),
        controller: tenant.into(),
        recipient: recipient.into(),
        stopped_at: t0(),
        given_by: None,
    }
}

fn provision(tenant: &str, subject: &str, n: u32) -> ProvisionRecord {
    ProvisionRecord {
        controller: tenant.into(),
        delegation_id: "d1".into(),
        subject: subject.into(),
        recipient: CLINIC.into(),
        recipient_kind: RecipientKind::new("hospital"),
        purpose: Purpose::new("healthcare"),
        categories: vec![Category::Health],
        resource: format!("urn:bp:{n}"),
        at: t0() + Duration::seconds(i64::from(n)),
    }
}

fn entry(tenant: &str, n: usize) -> AuditEntry {
    // Every third entry is an anonymous denial; even entries are about Alice, odd about Bob.
    let anonymous = matches!(n % 3, 0);
    let about_alice = matches!(n % 2, 0);
    AuditEntry {
        tenant: tenant.into(),
        at: format!("2025-01-01T00:00:{:02}.{:03}Z", n % 60, n % 1000),
        actor: if anonymous { "anonymous".into() } else { CLINIC.into() },
        role: if anonymous { Role::Anonymous } else { Role::DataHolder },
        subject: Some(if about_alice { ALICE.into() } else { BOB.into() }),
        resource: format!("urn:bp:{n}"),
        action: Action::Read,
        purpose: (!anonymous).then(|| Purpose::new("healthcare")),
        decision: AuditDecision {
            allowed: !anonymous,
            basis: (!anonymous).then(|| "consent".to_string()),
            reason: anonymous.then(|| "no-credentials".to_string()),
        },
    }
}

fn bp(id: &str, subject: &str) -> Entity {
    let mut e = Entity {
        id: id.into(),
        types: vec![BP.into()],
        scope: vec![],
        attrs: Default::default(),
        created_at: None,
        modified_at: None,
    };
    let a = Attribute { kind: AttrKind::Relationship, ..Attribute::property(json!(subject)) };
    e.attrs.insert(DATA_SUBJECT.into(), vec![a]);
    e
}

/// Runs `f` in a write transaction of `tenant`.
fn write<T: Send + 'static>(
    store: &Store,
    tenant: &str,
    f: impl FnOnce(&mut dyn kizuna_store::Txn) -> Result<T, StoreError> + Send + 'static,
) -> T {
    store.write(tenant, f).expect("write")
}

fn append(store: &Store, tenant: &str, from: usize, n: usize) -> Vec<kizuna_consent::AuditRecord> {
    let entries: Vec<AuditEntry> = (from..from + n).map(|i| entry(tenant, i)).collect();
    write(store, tenant, move |tx| tx.append_audit(entries))
}

// ------------------------------------------------------------------ records

#[test]
fn every_record_kind_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let t = "maebashi";

    // Parties: put, replace, read, delete.
    let mut p = party(CLINIC);
    let p2 = party("urn:party:app");
    {
        let (p, p2) = (p.clone(), p2.clone());
        write(&store, t, move |tx| {
            tx.put_party(&p)?;
            tx.put_party(&p2)
        });
    }
    assert_eq!(store.party(t, CLINIC).expect("party"), Some(p.clone()));
    p.name = "Maebashi Clinic".into();
    {
        let p = p.clone();
        write(&store, t, move |tx| tx.put_party(&p));
    }
    assert_eq!(store.parties(t).expect("parties"), vec![p2.clone(), p.clone()]);
    assert!(write(&store, t, |tx| tx.delete_party("urn:party:app")));
    assert!(!write(&store, t, |tx| tx.delete_party("urn:party:app")));
    assert_eq!(store.parties(t).expect("parties"), vec![p.clone()]);

    // API keys: ids are unique, revocation happens once.
    let k = api_key("k1", t);
    {
        let k = k.clone();
        assert!(write(&store, t, move |tx| tx.put_api_key(&k)));
    }
    {
        let k = k.clone();
        assert!(!write(&store, t, move |tx| tx.put_api_key(&k)));
    }
    assert_eq!(store.api_key("k1").expect("key"), Some(k.clone()));
    assert_eq!(store.api_key("nope").expect("key"), None);
    let at = t0() + Duration::days(3);
    assert!(write(&store, t, move |tx| tx.revoke_api_key("k1", at)));
    assert!(!write(&store, t, move |tx| tx.revoke_api_key("k1", at + Duration::days(1))));
    assert!(!write(&store, t, move |tx| tx.revoke_api_key("nope", at)));
    let revoked = store.api_key("k1").expect("key").expect("present");
    assert_eq!(revoked.revoked_at, Some(at));
    assert_eq!(store.api_keys(t).expect("keys"), vec![revoked]);

    // Classification: empty until set, then as set.
    assert_eq!(store.classification(t).expect("class"), Classification::new());
    let class = Classification::new().with_personal(BP, Category::Health, None).with_public("urn:type:Park");
    {
        let class = class.clone();
        write(&store, t, move |tx| tx.set_classification(&class));
    }
    assert_eq!(store.classification(t).expect("class"), class);

    // Consents: by id, by subject, by recipient; a put replaces.
    let c1 = consent("c1", t, ALICE, CLINIC);
    let c2 = consent("c2", t, ALICE, "urn:party:app");
    let mut c3 = consent("c3", t, BOB, CLINIC);
    {
        let (c1, c2, c3) = (c1.clone(), c2.clone(), c3.clone());
        write(&store, t, move |tx| {
            tx.put_consent(&c3)?;
            tx.put_consent(&c2)?;
            tx.put_consent(&c1)
        });
    }
    assert_eq!(store.consent(t, "c1").expect("consent"), Some(c1.clone()));
    assert_eq!(store.consent(t, "c9").expect("consent"), None);
    assert_eq!(store.consents_of(t, ALICE).expect("of"), vec![c1.clone(), c2.clone()]);
    assert_eq!(store.consents_by_recipient(t, CLINIC).expect("by"), vec![c1.clone(), c3.clone()]);
    c3.withdrawn_at = Some(t0() + Duration::days(1));
    {
        let c3 = c3.clone();
        write(&store, t, move |tx| tx.put_consent(&c3));
    }
    assert_eq!(store.consents_of(t, BOB).expect("of"), vec![c3.clone()]);

    // Delegations.
    let d1 = delegation("d1", t, ALICE);
    let d2 = delegation("d2", t, BOB);
    {
        let (d1, d2) = (d1.clone(), d2.clone());
        write(&store, t, move |tx| {
            tx.put_delegation(&d1)?;
            tx.put_delegation(&d2)
        });
    }
    assert_eq!(store.delegation(t, "d2").expect("d"), Some(d2.clone()));
    assert_eq!(store.delegations_of(t, ALICE).expect("d"), vec![d1.clone()]);

    // Usage stops: one per subject and recipient; lifting deletes.
    let s1 = stop(t, ALICE, "urn:party:app");
    let s2 = stop(t, ALICE, CLINIC);
    {
        let (s1, s2) = (s1.clone(), s2.clone());
        write(&store, t, move |tx| {
            tx.put_usage_stop(&s1)?;
            tx.put_usage_stop(&s2)?;
            tx.put_usage_stop(&s2)
        });
    }
    assert_eq!(store.usage_stops_of(t, ALICE).expect("stops"), vec![s1.clone(), s2.clone()]);
    assert!(write(&store, t, |tx| tx.delete_usage_stop(ALICE, CLINIC)));
    assert!(!write(&store, t, |tx| tx.delete_usage_stop(ALICE, CLINIC)));
    assert_eq!(store.usage_stops_of(t, ALICE).expect("stops"), vec![s1.clone()]);

    // Provisions: paged by sequence number, oldest first.
    let provisions: Vec<ProvisionRecord> = (0..5).map(|n| provision(t, ALICE, n)).collect();
    {
        let mut p = provisions.clone();
        p.push(provision(t, BOB, 99));
        write(&store, t, move |tx| tx.add_provisions(&p));
    }
    let page1 = store.provisions_of(t, ALICE, 0, 3).expect("page");
    assert_eq!(page1.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(), provisions[..3].to_vec());
    let after = page1.last().expect("last").0;
    let page2 = store.provisions_of(t, ALICE, after, 3).expect("page");
    assert_eq!(page2.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(), provisions[3..].to_vec());
    assert!(page1.iter().chain(page2.iter()).zip(page1.iter().chain(page2.iter()).skip(1)).all(|(a, b)| a.0 < b.0));

    // Audit: the citizen's log and the tenant's pages.
    let records = append(&store, t, 0, 10);
    let alice: Vec<_> = records.iter().filter(|r| r.subject.as_deref() == Some(ALICE)).cloned().collect();
    assert_eq!(store.audit_of_subject(t, ALICE, 0, 100).expect("log"), alice);
    assert_eq!(store.audit_of_subject(t, ALICE, alice[1].seq, 2).expect("log"), alice[2..4].to_vec());
    assert_eq!(store.audit_page(t, 0, 4).expect("page"), records[..4].to_vec());
    assert_eq!(store.audit_page(t, 4, 100).expect("page"), records[4..].to_vec());

    // Erasure removes the subject's provisions only.
    assert_eq!(write(&store, t, |tx| tx.erase_subject_records(ALICE)), 5);
    assert_eq!(write(&store, t, |tx| tx.erase_subject_records(ALICE)), 0);
    assert!(store.provisions_of(t, ALICE, 0, 100).expect("page").is_empty());
    assert_eq!(store.provisions_of(t, BOB, 0, 100).expect("page").len(), 1);
    assert_eq!(store.consents_of(t, ALICE).expect("of").len(), 2);
    assert_eq!(store.delegations_of(t, ALICE).expect("of").len(), 1);
    assert_eq!(store.usage_stops_of(t, ALICE).expect("of").len(), 1);
    assert_eq!(store.audit_of_subject(t, ALICE, 0, 100).expect("log").len(), alice.len());

    // Everything survives a restart; the policy is built from all of it.
    store.close();
    drop(store);
    let store = Store::open_sqlite(dir.path()).expect("reopen");
    assert_eq!(store.parties(t).expect("parties"), vec![p.clone()]);
    assert_eq!(store.consents_of(t, ALICE).expect("of"), vec![c1, c2]);
    let policy = store.policy(t).expect("policy");
    assert_eq!(policy.tenant, t);
    assert_eq!(policy.classification, class);
    assert_eq!(policy.parties.get(CLINIC), Some(&p));
    assert_eq!(policy.snapshot_for(Some(ALICE)).consents.len(), 2);
    assert_eq!(policy.snapshot_for(Some(ALICE)).delegations, vec![d1]);
    assert_eq!(policy.snapshot_for(Some(ALICE)).usage_stops, vec![s1]);
    assert_eq!(policy.snapshot_for(Some(BOB)).consents, vec![c3]);
    assert!(store.verify_audit().expect("verify").is_ok());
}

#[test]
fn every_read_stays_in_its_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let (a, b) = ("a", "b");
    write(&store, a, move |tx| {
        tx.put_party(&party(CLINIC))?;
        tx.put_api_key(&api_key("ka", a))?;
        tx.set_classification(&Classification::new().with_personal(BP, Category::Health, None))?;
        tx.put_consent(&consent("c1", a, ALICE, CLINIC))?;
        tx.put_delegation(&delegation("d1", a, ALICE))?;
        tx.put_usage_stop(&stop(a, ALICE, CLINIC))?;
        tx.add_provisions(&[provision(a, ALICE, 1)])?;
        tx.append_audit(vec![entry(a, 1), entry(a, 2)])
    });
    append(&store, b, 1, 1); // about Bob

    assert_eq!(store.party(b, CLINIC).expect("read"), None);
    assert!(store.parties(b).expect("read").is_empty());
    assert!(store.api_keys(b).expect("read").is_empty());
    assert_eq!(store.api_key("ka").expect("read").map(|k| k.tenant), Some(a.to_string()));
    assert_eq!(store.classification(b).expect("read"), Classification::new());
    assert_eq!(store.consent(b, "c1").expect("read"), None);
    assert!(store.consents_of(b, ALICE).expect("read").is_empty());
    assert!(store.consents_by_recipient(b, CLINIC).expect("read").is_empty());
    assert_eq!(store.delegation(b, "d1").expect("read"), None);
    assert!(store.delegations_of(b, ALICE).expect("read").is_empty());
    assert!(store.usage_stops_of(b, ALICE).expect("read").is_empty());
    assert!(store.provisions_of(b, ALICE, 0, 10).expect("read").is_empty());
    assert!(store.audit_of_subject(b, ALICE, 0, 10).expect("read").is_empty());
    let b_log = store.audit_page(b, 0, 10).expect("read");
    assert_eq!(b_log.len(), 1);
    assert_eq!((b_log[0].seq, b_log[0].prev_hash.as_str()), (1, GENESIS_HASH), "each tenant has its own chain");
    let policy_b = store.policy(b).expect("policy");
    assert!(policy_b.parties.is_empty());
    assert!(policy_b.snapshot_for(Some(ALICE)).consents.is_empty());
    assert_eq!(store.policy(a).expect("policy").snapshot_for(Some(ALICE)).consents.len(), 1);

    // Writes in tenant b cannot reach tenant a's records...
    assert!(!write(&store, b, |tx| tx.revoke_api_key("ka", t0())));
    assert!(!write(&store, b, |tx| tx.delete_party(CLINIC)));
    assert!(!write(&store, b, |tx| tx.delete_usage_stop(ALICE, CLINIC)));
    assert_eq!(write(&store, b, |tx| tx.erase_subject_records(ALICE)), 0);
    assert_eq!(store.provisions_of(a, ALICE, 0, 10).expect("read").len(), 1);
    assert_eq!(store.api_key("ka").expect("read").and_then(|k| k.revoked_at), None);
    // ...nor store records of another tenant.
    let refused: Vec<Result<(), StoreError>> = vec![
        store.write(b, move |tx| tx.put_consent(&consent("x", a, ALICE, CLINIC))),
        store.write(b, move |tx| tx.put_delegation(&delegation("x", a, ALICE))),
        store.write(b, move |tx| tx.put_usage_stop(&stop(a, ALICE, CLINIC))),
        store.write(b, move |tx| tx.add_provisions(&[provision(a, ALICE, 2)])),
        store.write(b, move |tx| tx.put_api_key(&api_key("kx", a)).map(|_| ())),
        store.write(b, move |tx| tx.append_audit(vec![entry(b, 1), entry(a, 2)]).map(|_| ())),
    ];
    for r in refused {
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    assert_eq!(store.audit_page(b, 0, 10).expect("read").len(), 1, "a refused batch appends nothing");
    assert!(store.consents_of(b, ALICE).expect("read").is_empty());
    assert!(store.verify_audit().expect("verify").is_ok());
}

// ------------------------------------------------------------------ policy cache

fn clinic_reads_alice(store: &Store, tenant: &str) -> bool {
    let policy = store.policy(tenant).expect("policy");
    let caller =
        policy.enrich(Caller { party: Some(CLINIC.into()), role: Role::DataHolder, ..Caller::anonymous(tenant) });
    let req = AccessRequest { caller, purpose: Some(Purpose::new("healthcare")), action: Action::Read };
    policy.decide(&req, &bp("urn:bp:1", ALICE), Utc::now()).is_allowed()
}

#[test]
fn the_cached_policy_reflects_each_write_once_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let t = "maebashi";
    write(&store, t, move |tx| {
        tx.set_classification(&Classification::new().with_personal(BP, Category::Health, None))?;
        tx.put_party(&party(CLINIC))?;
        tx.put_consent(&consent("c1", t, ALICE, CLINIC))
    });
    assert!(clinic_reads_alice(&store, t));
    // Cached: the same snapshot until a write changes the records.
    let p1 = store.policy(t).expect("policy");
    assert!(Arc::ptr_eq(&p1, &store.policy(t).expect("policy")));
    // Writes that do not touch policy records keep it.
    append(&store, t, 0, 3);
    write(&store, t, move |tx| tx.add_provisions(&[provision(t, ALICE, 1)]));
    assert!(Arc::ptr_eq(&p1, &store.policy(t).expect("policy")));

    // A withdrawal is seen by the first decision after the write returns.
    let mut withdrawn = consent("c1", t, ALICE, CLINIC);
    withdrawn.withdrawn_at = Some(Utc::now());
    {
        let w = withdrawn.clone();
        write(&store, t, move |tx| tx.put_consent(&w));
    }
    assert!(!clinic_reads_alice(&store, t));
    assert!(!Arc::ptr_eq(&p1, &store.policy(t).expect("policy")));

    // A rolled-back write leaves the policy as it was.
    let r: Result<(), StoreError> = store.write(t, move |tx| {
        tx.put_consent(&consent("c1", t, ALICE, CLINIC))?;
        Err(StoreError::Invalid("changed my mind".into()))
    });
    assert!(r.is_err());
    assert!(!clinic_reads_alice(&store, t));

    // Regranted, then a usage stop, then lifted; the classification and registry count too.
    write(&store, t, move |tx| tx.put_consent(&consent("c1", t, ALICE, CLINIC)));
    assert!(clinic_reads_alice(&store, t));
    write(&store, t, move |tx| tx.put_usage_stop(&stop(t, ALICE, CLINIC)));
    assert!(!clinic_reads_alice(&store, t));
    write(&store, t, |tx| tx.delete_usage_stop(ALICE, CLINIC).map(|_| ()));
    assert!(clinic_reads_alice(&store, t));
    write(&store, t, |tx| tx.set_classification(&Classification::new()));
    assert_eq!(store.policy(t).expect("policy").classification, Classification::new());
    write(&store, t, |tx| tx.delete_party(CLINIC).map(|_| ()));
    assert!(store.policy(t).expect("policy").parties.is_empty());
}

#[test]
fn concurrent_readers_never_keep_a_policy_older_than_an_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let t = "maebashi";
    write(&store, t, move |tx| {
        tx.set_classification(&Classification::new().with_personal(BP, Category::Health, None))?;
        tx.put_party(&party(CLINIC))
    });
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, done) = (store.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    store.policy(t).expect("policy");
                }
            })
        })
        .collect();
    for round in 0..200 {
        let mut c = consent("c1", t, ALICE, CLINIC);
        let granted = round % 2 == 0;
        if !granted {
            c.withdrawn_at = Some(Utc::now());
        }
        write(&store, t, move |tx| tx.put_consent(&c));
        assert_eq!(clinic_reads_alice(&store, t), granted, "round {round}");
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
}

// ------------------------------------------------------------------ the audit chain

#[test]
fn the_chain_links_across_writes_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    // Concurrent writers in two tenants (grouped into shared commits by the writer).
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let tenant = if w % 2 == 0 { "a" } else { "b" };
                for i in 0..10 {
                    append(&store, tenant, (w * 10 + i) * 100, 100);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let check = |store: &Store, expect: &[(&str, u64)]| {
        let report = store.verify_audit().expect("verify");
        assert_eq!(report.fault, None);
        let heads = store.audit_heads().expect("heads");
        assert_eq!(
            store.audit_tenants().expect("tenants"),
            expect.iter().map(|(t, _)| t.to_string()).collect::<Vec<_>>()
        );
        for ((t, n), head) in expect.iter().zip(&heads) {
            assert_eq!((head.tenant.as_str(), head.seq), (*t, *n));
            let all = store.audit_page(t, 0, usize::MAX).expect("page");
            assert_eq!(all.len() as u64, *n);
            assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
            kizuna_consent::verify_to_heads(&all, std::slice::from_ref(head)).expect("chain");
        }
        let summary: Vec<(String, u64, String)> =
            heads.iter().map(|h| (h.tenant.clone(), h.seq, h.hash.clone())).collect();
        assert_eq!(report.tenants, summary);
    };
    check(&store, &[("a", 4000), ("b", 4000)]);

    store.close();
    drop(store);
    let store = Store::open_sqlite(dir.path()).expect("reopen");
    let head_before = store.audit_heads().expect("heads")[0].clone();
    let more = append(&store, "a", 0, 5);
    assert_eq!(more[0].seq, 4001);
    assert_eq!(more[0].prev_hash, head_before.hash);
    append(&store, "c", 0, 1);
    check(&store, &[("a", 4005), ("b", 4000), ("c", 1)]);
}

/// A store with chains in tenants `a`, `b`, `c` of `n` records each, closed; returns the
/// directory (the store is reopened by [`verify_after`]).
fn closed_store(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    for t in ["a", "b", "c"] {
        let mut done = 0;
        while done < n {
            let k = (n - done).min(500);
            append(&store, t, done, k);
            done += k;
        }
    }
    assert!(store.verify_audit().expect("verify").is_ok());
    store.close();
    dir
}

/// Edits the database file directly, then reopens the store and verifies.
fn verify_after(dir: &Path, sql: &str) -> AuditReport {
    let conn = rusqlite::Connection::open(dir.join("kizuna.db")).expect("open file");
    conn.execute_batch(sql).expect("tamper");
    drop(conn);
    let store = Store::open_sqlite(dir).expect("reopen");
    let report = store.verify_audit().expect("verify");
    store.close();
    report
}

/// Asserts the report names tenant `b` at `seq` for `reason`, with `a` verified before it.
fn assert_fault(report: &AuditReport, seq: u64, reason: ChainFault) {
    let fault = report.fault.as_ref().expect("a fault");
    assert_eq!((fault.tenant.as_str(), fault.seq, &fault.reason), ("b", seq, &reason), "{fault}");
    assert_eq!(report.tenants.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), vec!["a"]);
}

#[test]
fn an_edited_record_is_named() {
    let dir = closed_store(30);
    let report = verify_after(
        dir.path(),
        "UPDATE audit_log SET doc = json_set(doc, '$.actor', 'urn:party:evil') WHERE tenant = 'b' AND seq = 7",
    );
    assert_fault(&report, 7, ChainFault::Hash);
    assert_eq!(report.fault.as_ref().map(|f| f.index), Some(6));
}

#[test]
fn an_edited_record_with_a_recomputed_hash_is_named_at_the_next_link() {
    let dir = closed_store(30);
    // The forger rewrites record 7 consistently (JSON and column), but record 8 still
    // links to the old hash.
    let conn = rusqlite::Connection::open(dir.path().join("kizuna.db")).expect("open file");
    let doc: String =
        conn.query_row("SELECT doc FROM audit_log WHERE tenant = 'b' AND seq = 7", [], |r| r.get(0)).expect("doc");
    let mut rec: kizuna_consent::AuditRecord = serde_json::from_str(&doc).expect("record");
    rec.actor = "urn:party:evil".into();
    rec.hash = kizuna_consent::chain(&rec.prev_hash, &rec);
    conn.execute(
        "UPDATE audit_log SET doc = ?1, hash = ?2, actor = ?3 WHERE tenant = 'b' AND seq = 7",
        rusqlite::params![serde_json::to_string(&rec).expect("json"), rec.hash, rec.actor],
    )
    .expect("forge");
    drop(conn);
    let report = verify_after(dir.path(), "");
    assert_fault(&report, 8, ChainFault::PrevHash { expected: rec.hash.clone() });
}

#[test]
fn a_hash_column_disagreeing_with_the_json_is_named() {
    let dir = closed_store(30);
    let report =
        verify_after(dir.path(), "UPDATE audit_log SET hash = '00' || substr(hash, 3) WHERE tenant = 'b' AND seq = 12");
    assert_fault(&report, 12, ChainFault::Hash);
}

#[test]
fn a_removed_middle_record_is_named() {
    // Past one read chunk, so the walk carries the chain across chunks.
    let dir = closed_store(2_600);
    let report = verify_after(dir.path(), "DELETE FROM audit_log WHERE tenant = 'b' AND seq = 2300");
    assert_fault(&report, 2301, ChainFault::Sequence { expected: 2300 });
}

#[test]
fn a_removed_last_record_is_caught_by_the_head() {
    let dir = closed_store(30);
    let report = verify_after(dir.path(), "DELETE FROM audit_log WHERE tenant = 'b' AND seq = 30");
    assert_fault(&report, 30, ChainFault::Truncated { head_seq: 30 });
}

#[test]
fn swapped_records_are_named() {
    let dir = closed_store(30);
    let report = verify_after(
        dir.path(),
        "UPDATE audit_log SET seq = -1 WHERE tenant = 'b' AND seq = 5;
         UPDATE audit_log SET seq = 5 WHERE tenant = 'b' AND seq = 6;
         UPDATE audit_log SET seq = 6 WHERE tenant = 'b' AND seq = -1;",
    );
    // Record #4 (the 5th) is the one whose JSON says 6.
    assert_fault(&report, 6, ChainFault::Sequence { expected: 5 });
    assert_eq!(report.fault.as_ref().map(|f| f.index), Some(4));
}

#[test]
fn swapped_contents_are_named() {
    let dir = closed_store(30);
    // The rows keep their seq; their JSON and hashes change places.
    let report = verify_after(
        dir.path(),
        "CREATE TEMP TABLE s AS SELECT seq, doc, hash FROM audit_log WHERE tenant = 'b' AND seq IN (9, 10);
         UPDATE audit_log SET doc = (SELECT doc FROM s WHERE s.seq = 19 - audit_log.seq),
                              hash = (SELECT hash FROM s WHERE s.seq = 19 - audit_log.seq)
         WHERE tenant = 'b' AND seq IN (9, 10);",
    );
    assert_fault(&report, 10, ChainFault::Sequence { expected: 9 });
}

#[test]
fn a_chain_without_records_or_without_a_head_is_named() {
    let dir = closed_store(30);
    let report = verify_after(dir.path(), "DELETE FROM audit_log WHERE tenant = 'b'");
    assert_fault(&report, 1, ChainFault::Truncated { head_seq: 30 });

    let dir = closed_store(30);
    let report = verify_after(dir.path(), "DELETE FROM audit_heads WHERE tenant = 'b'");
    assert_fault(&report, 30, ChainFault::HeadMismatch);

    let dir = closed_store(30);
    let report = verify_after(dir.path(), "UPDATE audit_heads SET seq = 25 WHERE tenant = 'b'");
    assert_fault(&report, 26, ChainFault::HeadMismatch);
}

#[test]
fn an_unreadable_record_is_named() {
    let dir = closed_store(30);
    let report = verify_after(dir.path(), "UPDATE audit_log SET doc = '{' WHERE tenant = 'b' AND seq = 3");
    assert_fault(&report, 3, ChainFault::Hash);
}
