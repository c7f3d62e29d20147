//! One test (or a few) per rule of `Classification::classify` and `decide`, in the
//! order their doc comments list them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kizuna_consent::{
    decide, filter_attributes, AccessRequest, Action, AuditEntry, Basis, Caller, Category, Classification, Classified,
    ConsentMethod, ConsentRecord, Delegation, DenyReason, LegalBasis, PolicySnapshot, Purpose, RecipientKind,
    RecordError, Role, UsageStop, DATA_SUBJECT,
};
use kizuna_ngsild::{AttrKind, Attribute, Entity};
use serde_json::{json, Value};

const NS: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const T: &str = "kakogawa";
const ALICE: &str = "urn:ngsi-ld:Person:alice";
const BOB: &str = "urn:ngsi-ld:Person:bob";
const HOSP: &str = "urn:kizuna:party:hospital-1";
const APP: &str = "urn:kizuna:party:app-1";

fn iri(term: &str) -> String {
    format!("{NS}{term}")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 1, 9, 0, 0).single().expect("valid time")
}

fn rel(object: Value) -> Attribute {
    Attribute { kind: AttrKind::Relationship, ..Attribute::property(object) }
}

fn entity(id: &str, types: &[&str], attrs: Vec<(String, Attribute)>) -> Entity {
    let mut map: BTreeMap<String, Vec<Attribute>> = BTreeMap::new();
    for (k, a) in attrs {
        map.entry(k).or_default().push(a);
    }
    Entity {
        id: id.to_string(),
        types: types.iter().map(|t| iri(t)).collect(),
        scope: vec![],
        attrs: map,
        created_at: None,
        modified_at: None,
    }
}

/// A blood-pressure record of `subject` with two measured attributes.
fn bp(subject: &str) -> Entity {
    entity(
        "urn:ngsi-ld:BloodPressure:1",
        &["BloodPressure"],
        vec![
            (DATA_SUBJECT.to_string(), rel(json!(subject))),
            (iri("systolic"), Attribute::property(json!(150))),
            (iri("diastolic"), Attribute::property(json!(95))),
        ],
    )
}

fn classification() -> Classification {
    Classification::new()
        .with_personal(&iri("BloodPressure"), Category::Health, None)
        .with_personal(&iri("Detection"), Category::Location, Some(&iri("wearer")))
        .with_public(&iri("Shelter"))
}

fn caller(role: Role, party: Option<&str>) -> Caller {
    Caller {
        tenant: T.into(),
        party: party.map(str::to_string),
        role,
        subject: None,
        registered_purposes: vec![],
        recipient_kind: None,
    }
}

fn provider(party: &str, purposes: &[&str], kind: &str) -> Caller {
    Caller {
        registered_purposes: purposes.iter().map(|p| Purpose::from(*p)).collect(),
        recipient_kind: Some(RecipientKind::from(kind)),
        ..caller(Role::ServiceProvider, Some(party))
    }
}

fn citizen(subject: &str) -> Caller {
    Caller { subject: Some(subject.into()), ..caller(Role::Citizen, Some(subject)) }
}

fn req(caller: Caller, purpose: Option<&str>) -> AccessRequest {
    AccessRequest { caller, purpose: purpose.map(Purpose::from), action: Action::Read }
}

fn consent(id: &str, subject: &str, recipient: &str, purposes: &[&str], categories: &[Category]) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        subject: subject.into(),
        controller: T.into(),
        recipient: recipient.into(),
        purposes: purposes.iter().map(|p| Purpose::from(*p)).collect(),
        categories: categories.to_vec(),
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "2025-01".into(),
        method: ConsentMethod::App,
        granted_at: now() - Duration::days(1),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

fn delegation(id: &str, subject: &str) -> Delegation {
    Delegation {
        id: id.into(),
        subject: subject.into(),
        controller: T.into(),
        categories: vec![Category::Health],
        recipient_kinds: vec![RecipientKind::from("insurer")],
        purposes: vec![Purpose::from("disease-management"), Purpose::from("healthcare")],
        excluded_recipients: vec![],
        notice_version: "2025-01".into(),
        method: ConsentMethod::Counter,
        granted_at: now() - Duration::days(1),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

fn policy(consents: Vec<ConsentRecord>, delegations: Vec<Delegation>, stops: Vec<UsageStop>) -> PolicySnapshot {
    PolicySnapshot {
        classification: classification(),
        consents,
        delegations,
        usage_stops: stops,
        guardianships: vec![],
    }
}

fn reason(r: &AccessRequest, e: &Entity, p: &PolicySnapshot) -> Option<DenyReason> {
    decide(r, e, p, now()).reason()
}

fn basis(r: &AccessRequest, e: &Entity, p: &PolicySnapshot) -> Basis {
    decide(r, e, p, now()).grant().expect("allowed").basis.clone()
}

// ---- classification -------------------------------------------------------------

#[test]
fn classify_public_and_non_personal() {
    let c = classification();
    assert_eq!(c.classify(&entity("urn:s:1", &["Shelter"], vec![])), Classified::Public);
    assert_eq!(c.classify(&entity("urn:s:1", &["Sensor"], vec![])), Classified::NonPersonal);
    // Public only when every type is public.
    assert_eq!(c.classify(&entity("urn:s:1", &["Shelter", "Sensor"], vec![])), Classified::NonPersonal);
}

#[test]
fn classify_personal_type_with_its_subject_relationship() {
    let c = classification();
    let e = entity("urn:d:1", &["Detection"], vec![(iri("wearer"), rel(json!(ALICE)))]);
    assert_eq!(
        c.classify(&e),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Location] }
    );
    // The configured relationship is read only for the type that configures it.
    let e = entity("urn:d:1", &["BloodPressure"], vec![(iri("wearer"), rel(json!(ALICE)))]);
    assert_eq!(c.classify(&e), Classified::Personal { subject: None, categories: vec![Category::Health] });
}

#[test]
fn classify_data_subject_makes_any_entity_personal() {
    let c = classification();
    let e = entity("urn:s:1", &["Shelter"], vec![(DATA_SUBJECT.into(), rel(json!(BOB)))]);
    assert_eq!(
        c.classify(&e),
        Classified::Personal { subject: Some(BOB.into()), categories: vec![Category::Unclassified] }
    );
}

#[test]
fn classify_unknown_subjects() {
    let c = classification();
    let unknown = Classified::Personal { subject: None, categories: vec![Category::Health] };
    // No subject relationship at all.
    assert_eq!(c.classify(&entity("urn:b:1", &["BloodPressure"], vec![])), unknown);
    // Two distinct subjects (two instances, or an array).
    let two = vec![
        (DATA_SUBJECT.to_string(), rel(json!(ALICE))),
        (DATA_SUBJECT.to_string(), Attribute { dataset_id: Some("urn:ds:2".into()), ..rel(json!(BOB)) }),
    ];
    assert_eq!(c.classify(&entity("urn:b:1", &["BloodPressure"], two)), unknown);
    let arr = vec![(DATA_SUBJECT.to_string(), rel(json!([ALICE, BOB])))];
    assert_eq!(c.classify(&entity("urn:b:1", &["BloodPressure"], arr)), unknown);
    // A Property named dataSubject is not readable as a subject.
    let prop = vec![(DATA_SUBJECT.to_string(), Attribute::property(json!(ALICE)))];
    assert_eq!(c.classify(&entity("urn:b:1", &["BloodPressure"], prop)), unknown);
    // dataSubject and the type's relationship disagree.
    let e = entity(
        "urn:d:1",
        &["Detection"],
        vec![(iri("wearer"), rel(json!(ALICE))), (DATA_SUBJECT.into(), rel(json!(BOB)))],
    );
    assert_eq!(c.classify(&e), Classified::Personal { subject: None, categories: vec![Category::Location] });
}

#[test]
fn classify_repeated_subject_and_list_relationship_are_one_subject() {
    let c = classification();
    let same = vec![(DATA_SUBJECT.to_string(), rel(json!([ALICE, ALICE])))];
    assert_eq!(c.classify(&entity("urn:b:1", &["BloodPressure"], same)).clone(), {
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Health] }
    });
    let list = Attribute { kind: AttrKind::ListRelationship, ..Attribute::property(json!([{"object": ALICE}])) };
    let e = entity("urn:b:1", &["BloodPressure"], vec![(DATA_SUBJECT.into(), list)]);
    assert_eq!(
        c.classify(&e),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Health] }
    );
}

#[test]
fn classify_multi_typed_entity_has_every_category() {
    let c = classification();
    let e = entity(
        "urn:x:1",
        &["Detection", "BloodPressure"],
        vec![(iri("wearer"), rel(json!(ALICE))), (DATA_SUBJECT.into(), rel(json!(ALICE)))],
    );
    assert_eq!(
        c.classify(&e),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Health, Category::Location] }
    );
}

#[test]
fn classification_loads_from_json() {
    let c: Classification = serde_json::from_value(json!({
        "personal": {"urn:T": {"category": "health"}, "urn:U": {"category": "pets", "subject_relationship": "urn:r"}},
        "public": ["urn:P"]
    }))
    .expect("classification");
    assert_eq!(c.personal["urn:T"].subject_relationship, DATA_SUBJECT);
    assert_eq!(c.personal["urn:U"].category, Category::Other("pets".into()));
    assert!(c.public.contains("urn:P"));
}

// ---- rule 1: tenant admin ---------------------------------------------------------

#[test]
fn rule1_tenant_admin_reads_everything_as_controller_and_is_audited() {
    let p = policy(vec![], vec![], vec![]);
    let admin = req(caller(Role::TenantAdmin, Some("urn:kizuna:party:city")), None);
    let unknown = entity("urn:b:1", &["BloodPressure"], vec![]);
    let d = decide(&admin, &unknown, &p, now());
    assert_eq!(d.grant().expect("allowed").basis, Basis::Controller);
    assert!(d.must_audit());
    assert_eq!(basis(&admin, &bp(ALICE), &p), Basis::Controller);
    assert!(!decide(&admin, &entity("urn:s:1", &["Sensor"], vec![]), &p, now()).must_audit());
}

// ---- rule 2: non-personal -----------------------------------------------------------

#[test]
fn rule2_anonymous_reads_only_public() {
    let p = policy(vec![], vec![], vec![]);
    let anon = req(Caller::anonymous(T), None);
    assert_eq!(basis(&anon, &entity("urn:s:1", &["Shelter"], vec![]), &p), Basis::Public);
    assert_eq!(reason(&anon, &entity("urn:s:1", &["Sensor"], vec![]), &p), Some(DenyReason::NotPublic));
    // An anonymous role with a party is still anonymous.
    let anon_party = req(caller(Role::Anonymous, Some(APP)), Some("research"));
    assert_eq!(reason(&anon_party, &entity("urn:s:1", &["Sensor"], vec![]), &p), Some(DenyReason::NotPublic));
}

#[test]
fn rule2_authenticated_reads_non_personal_without_purpose_unaudited() {
    let p = policy(vec![], vec![], vec![]);
    let d =
        decide(&req(caller(Role::DataHolder, Some(HOSP)), None), &entity("urn:s:1", &["Sensor"], vec![]), &p, now());
    assert_eq!(d.grant().expect("allowed").basis, Basis::NonPersonal);
    assert!(!d.must_audit());
}

// ---- rule 3: unknown subject ------------------------------------------------------

#[test]
fn rule3_unknown_subject_is_denied_to_all_but_the_admin() {
    let e = entity("urn:b:1", &["BloodPressure"], vec![]);
    let p = policy(vec![consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health])], vec![], vec![]);
    for c in [citizen(ALICE), caller(Role::DataHolder, Some(HOSP)), Caller::anonymous(T)] {
        assert_eq!(reason(&req(c, Some("healthcare")), &e, &p), Some(DenyReason::UnknownSubject));
    }
}

// ---- rule 4: the data subject -------------------------------------------------------

#[test]
fn rule4_the_subject_reads_their_own_data_without_purpose() {
    let p = policy(vec![], vec![], vec![]);
    let d = decide(&req(citizen(ALICE), None), &bp(ALICE), &p, now());
    assert_eq!(d.grant().expect("allowed").basis, Basis::Subject);
    assert!(d.must_audit());
    assert_eq!(d.subject(), Some(ALICE));
    // Another citizen is a recipient like any other.
    assert_eq!(reason(&req(citizen(BOB), None), &bp(ALICE), &p), Some(DenyReason::PurposeRequired));
    assert_eq!(reason(&req(citizen(BOB), Some("watch-over")), &bp(ALICE), &p), Some(DenyReason::NoConsent));
    // The subject rule is for the citizen role only.
    let holder = Caller { subject: Some(ALICE.into()), ..caller(Role::DataHolder, Some(HOSP)) };
    assert_eq!(reason(&req(holder, None), &bp(ALICE), &p), Some(DenyReason::PurposeRequired));
}

#[test]
fn rule4_a_guardian_reads_with_consent() {
    let mut c = consent("c1", ALICE, BOB, &["watch-over"], &[Category::Health]);
    c.legal_basis = LegalBasis::VitalInterest;
    let p = policy(vec![c], vec![], vec![]);
    assert_eq!(basis(&req(citizen(BOB), Some("watch-over")), &bp(ALICE), &p), Basis::Consent(vec!["c1".into()]));
}

// ---- rule 5: identity ---------------------------------------------------------------

#[test]
fn rule5_personal_data_needs_an_identified_party() {
    let p = policy(vec![], vec![], vec![]);
    assert_eq!(
        reason(&req(Caller::anonymous(T), Some("research")), &bp(ALICE), &p),
        Some(DenyReason::IdentityRequired)
    );
    let no_party = caller(Role::DataHolder, None);
    assert_eq!(reason(&req(no_party, Some("research")), &bp(ALICE), &p), Some(DenyReason::IdentityRequired));
}

// ---- rules 6 and 7: purpose ------------------------------------------------------

#[test]
fn rule6_purpose_required() {
    let p = policy(vec![consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health])], vec![], vec![]);
    assert_eq!(
        reason(&req(caller(Role::DataHolder, Some(HOSP)), None), &bp(ALICE), &p),
        Some(DenyReason::PurposeRequired)
    );
    assert!(decide(&req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare")), &bp(ALICE), &p, now()).is_allowed());
}

#[test]
fn rule7_service_provider_states_only_registered_purposes() {
    let p = policy(vec![consent("c1", ALICE, APP, &["research"], &[Category::Health])], vec![], vec![]);
    let sp = provider(APP, &["healthcare"], "app-vendor");
    assert_eq!(reason(&req(sp, Some("research")), &bp(ALICE), &p), Some(DenyReason::PurposeNotRegistered));
    let sp = provider(APP, &["healthcare", "research"], "app-vendor");
    assert!(decide(&req(sp, Some("research")), &bp(ALICE), &p, now()).is_allowed());
}

// ---- rule 8: usage stop --------------------------------------------------------------

#[test]
fn rule8_usage_stop_overrides_consent_and_delegation() {
    let stop = UsageStop {
        subject: ALICE.into(),
        controller: T.into(),
        recipient: APP.into(),
        stopped_at: now(),
        given_by: None,
    };
    let c = consent("c1", ALICE, APP, &["disease-management"], &[Category::Health]);
    let sp = provider(APP, &["disease-management"], "insurer");
    let p = policy(vec![c.clone()], vec![delegation("d1", ALICE)], vec![]);
    assert!(decide(&req(sp.clone(), Some("disease-management")), &bp(ALICE), &p, now()).is_allowed());
    let p = policy(vec![c.clone()], vec![delegation("d1", ALICE)], vec![stop.clone()]);
    assert_eq!(reason(&req(sp.clone(), Some("disease-management")), &bp(ALICE), &p), Some(DenyReason::UsageStopped));
    // A stop of another recipient, of another subject, or in another tenant does not apply.
    for other in [
        UsageStop { recipient: HOSP.into(), ..stop.clone() },
        UsageStop { subject: BOB.into(), ..stop.clone() },
        UsageStop { controller: "other-city".into(), ..stop.clone() },
    ] {
        let p = policy(vec![c.clone()], vec![], vec![other]);
        assert!(decide(&req(sp.clone(), Some("disease-management")), &bp(ALICE), &p, now()).is_allowed());
    }
}

// ---- rule 9: consent -----------------------------------------------------------------

#[test]
fn rule9_consent_must_match_subject_recipient_purpose_category_tenant() {
    let hosp = || req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let ok = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health]);
    assert_eq!(
        basis(&hosp(), &bp(ALICE), &policy(vec![ok.clone()], vec![], vec![])),
        Basis::Consent(vec!["c1".into()])
    );
    let wrong = [
        ConsentRecord { subject: BOB.into(), ..ok.clone() },
        ConsentRecord { recipient: APP.into(), ..ok.clone() },
        ConsentRecord { purposes: vec![Purpose::from("research")], ..ok.clone() },
        ConsentRecord { categories: vec![Category::Location], ..ok.clone() },
        ConsentRecord { controller: "other-city".into(), ..ok.clone() },
    ];
    for c in wrong {
        assert_eq!(reason(&hosp(), &bp(ALICE), &policy(vec![c], vec![], vec![])), Some(DenyReason::NoConsent));
    }
}

#[test]
fn rule9_coverage_by_type_and_by_every_category() {
    let hosp = || req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let by_type = ConsentRecord {
        categories: vec![],
        types: vec![iri("BloodPressure")],
        ..consent("c1", ALICE, HOSP, &["healthcare"], &[])
    };
    assert!(decide(&hosp(), &bp(ALICE), &policy(vec![by_type.clone()], vec![], vec![]), now()).is_allowed());
    // A two-typed entity needs both categories, or both types.
    let both = entity(
        "urn:x:1",
        &["Detection", "BloodPressure"],
        vec![(iri("wearer"), rel(json!(ALICE))), (DATA_SUBJECT.into(), rel(json!(ALICE)))],
    );
    let health = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health]);
    assert_eq!(reason(&hosp(), &both, &policy(vec![health], vec![], vec![])), Some(DenyReason::NoConsent));
    assert_eq!(reason(&hosp(), &both, &policy(vec![by_type], vec![], vec![])), Some(DenyReason::NoConsent));
    let two = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Location, Category::Health]);
    assert!(decide(&hosp(), &both, &policy(vec![two], vec![], vec![]), now()).is_allowed());
    // Unclassified personal data needs the `unclassified` category or the types.
    let tagged = entity("urn:s:1", &["Shelter"], vec![(DATA_SUBJECT.into(), rel(json!(ALICE)))]);
    let health = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health]);
    assert_eq!(reason(&hosp(), &tagged, &policy(vec![health], vec![], vec![])), Some(DenyReason::NoConsent));
    let unclassified = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Unclassified]);
    assert!(decide(&hosp(), &tagged, &policy(vec![unclassified], vec![], vec![]), now()).is_allowed());
}

#[test]
fn rule9_consent_time_window() {
    let hosp = || req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let base = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health]);
    let ms = Duration::milliseconds(1);
    let cases = [
        (ConsentRecord { granted_at: now(), ..base.clone() }, true),
        (ConsentRecord { granted_at: now() + ms, ..base.clone() }, false),
        (ConsentRecord { expires_at: Some(now() + ms), ..base.clone() }, true),
        (ConsentRecord { expires_at: Some(now()), ..base.clone() }, false),
        (ConsentRecord { withdrawn_at: Some(now() - Duration::hours(1)), ..base.clone() }, false),
        // A withdrawal is in effect as soon as it is recorded, whatever its clock says.
        (ConsentRecord { withdrawn_at: Some(now() + Duration::hours(1)), ..base.clone() }, false),
    ];
    for (c, allowed) in cases {
        let p = policy(vec![c.clone()], vec![], vec![]);
        assert_eq!(decide(&hosp(), &bp(ALICE), &p, now()).is_allowed(), allowed, "{c:?}");
    }
}

#[test]
fn rule9_withdrawal_takes_effect_on_the_next_request() {
    let hosp = req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let mut p = policy(vec![consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health])], vec![], vec![]);
    assert!(decide(&hosp, &bp(ALICE), &p, now()).is_allowed());
    p.consents[0].withdrawn_at = Some(now());
    assert_eq!(decide(&hosp, &bp(ALICE), &p, now()).reason(), Some(DenyReason::NoConsent));
}

#[test]
fn rule9_every_whole_consent_is_the_basis() {
    let hosp = req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let p = policy(
        vec![
            consent("c2", ALICE, HOSP, &["healthcare"], &[Category::Health]),
            consent("c1", ALICE, HOSP, &["healthcare", "research"], &[Category::Health]),
        ],
        vec![],
        vec![],
    );
    assert_eq!(basis(&hosp, &bp(ALICE), &p), Basis::Consent(vec!["c1".into(), "c2".into()]));
    assert_eq!(Basis::Consent(vec!["c1".into(), "c2".into()]).label(), "consent:c1,c2");
}

// ---- rule 10: delegation ----------------------------------------------------------

#[test]
fn rule10_delegation_provides_to_a_registered_recipient_within_conditions() {
    let sp = provider(APP, &["disease-management"], "insurer");
    let p = policy(vec![], vec![delegation("d2", ALICE), delegation("d1", ALICE)], vec![]);
    let d = decide(&req(sp, Some("disease-management")), &bp(ALICE), &p, now());
    let g = d.grant().expect("allowed");
    assert_eq!(g.basis, Basis::Delegation("d1".into()));
    assert_eq!(g.basis.label(), "delegation:d1");
    assert_eq!(g.attributes, None);
    let prov = d.provision().expect("provision record");
    assert_eq!(
        (prov.delegation_id.as_str(), prov.subject.as_str(), prov.recipient.as_str(), prov.purpose.as_str()),
        ("d1", ALICE, APP, "disease-management")
    );
    assert_eq!(
        (prov.resource.as_str(), prov.at, prov.categories.clone()),
        (bp(ALICE).id.as_str(), now(), vec![Category::Health])
    );
    assert_eq!(prov.recipient_kind, RecipientKind::from("insurer"));
    // The citizen stops it: the next request is denied.
    let stop = prov.stop(now());
    let p2 = policy(vec![], vec![delegation("d1", ALICE)], vec![stop]);
    let sp = provider(APP, &["disease-management"], "insurer");
    assert_eq!(reason(&req(sp, Some("disease-management")), &bp(ALICE), &p2), Some(DenyReason::UsageStopped));
}

#[test]
fn rule10_delegation_conditions_each_deny() {
    let ok_sp = provider(APP, &["disease-management"], "insurer");
    let base = delegation("d1", ALICE);
    let wrong_delegations = [
        Delegation { subject: BOB.into(), ..base.clone() },
        Delegation { controller: "other-city".into(), ..base.clone() },
        Delegation { categories: vec![Category::Location], ..base.clone() },
        Delegation { recipient_kinds: vec![RecipientKind::from("hospital")], ..base.clone() },
        Delegation { purposes: vec![Purpose::from("healthcare")], ..base.clone() },
        Delegation { excluded_recipients: vec![APP.into()], ..base.clone() },
        Delegation { withdrawn_at: Some(now()), ..base.clone() },
        Delegation { expires_at: Some(now()), ..base.clone() },
        Delegation { granted_at: now() + Duration::seconds(1), ..base.clone() },
    ];
    for d in wrong_delegations {
        let p = policy(vec![], vec![d.clone()], vec![]);
        assert_eq!(
            reason(&req(ok_sp.clone(), Some("disease-management")), &bp(ALICE), &p),
            Some(DenyReason::NoConsent),
            "{d:?}"
        );
    }
    let p = policy(vec![], vec![base], vec![]);
    // Registered purposes must all fall inside the conditions.
    let wide = provider(APP, &["disease-management", "recommendation"], "insurer");
    assert_eq!(reason(&req(wide, Some("disease-management")), &bp(ALICE), &p), Some(DenyReason::NoConsent));
    // A recipient without a registered kind is not a registered recipient.
    let unkinded = Caller { recipient_kind: None, ..ok_sp.clone() };
    assert_eq!(reason(&req(unkinded, Some("disease-management")), &bp(ALICE), &p), Some(DenyReason::NoConsent));
    // A data holder must be registered for the purpose it states to receive a provision.
    let holder = Caller { role: Role::DataHolder, registered_purposes: vec![], ..ok_sp.clone() };
    assert_eq!(reason(&req(holder.clone(), Some("disease-management")), &bp(ALICE), &p), Some(DenyReason::NoConsent));
    let holder = Caller { registered_purposes: vec![Purpose::from("healthcare")], ..holder };
    assert!(decide(&req(holder, Some("healthcare")), &bp(ALICE), &p, now()).is_allowed());
}

// ---- rules 9–11: attributes -------------------------------------------------------

#[test]
fn rule11_attribute_limited_consents_release_their_union() {
    let hosp = || req(caller(Role::DataHolder, Some(HOSP)), Some("healthcare"));
    let part = |id: &str, attrs: &[&str]| ConsentRecord {
        attributes: attrs.iter().map(|a| iri(a)).collect(),
        ..consent(id, ALICE, HOSP, &["healthcare"], &[Category::Health])
    };
    let p = policy(vec![part("c1", &["systolic"])], vec![], vec![]);
    let d = decide(&hosp(), &bp(ALICE), &p, now());
    let seen = d.apply(bp(ALICE)).expect("allowed");
    assert_eq!(seen.attrs.keys().cloned().collect::<Vec<_>>(), vec![iri("systolic")]);
    assert_eq!((seen.id.as_str(), &seen.types), (bp(ALICE).id.as_str(), &bp(ALICE).types));

    let p = policy(vec![part("c2", &["diastolic"]), part("c1", &["systolic"])], vec![], vec![]);
    let d = decide(&hosp(), &bp(ALICE), &p, now());
    assert_eq!(d.grant().expect("allowed").basis, Basis::Consent(vec!["c1".into(), "c2".into()]));
    let seen = d.apply(bp(ALICE)).expect("allowed");
    assert_eq!(seen.attrs.keys().cloned().collect::<Vec<_>>(), vec![iri("diastolic"), iri("systolic")]);

    // A whole consent wins over partial ones.
    let whole = consent("c9", ALICE, HOSP, &["healthcare"], &[Category::Health]);
    let p = policy(vec![part("c1", &["systolic"]), whole], vec![], vec![]);
    let d = decide(&hosp(), &bp(ALICE), &p, now());
    assert_eq!(d.apply(bp(ALICE)), Some(bp(ALICE)));
    assert_eq!(d.grant().expect("allowed").basis, Basis::Consent(vec!["c9".into()]));
}

#[test]
fn rule10_delegation_wins_over_partial_consents() {
    let sp = provider(APP, &["disease-management"], "insurer");
    let part = ConsentRecord {
        attributes: vec![iri("systolic")],
        ..consent("c1", ALICE, APP, &["disease-management"], &[Category::Health])
    };
    let p = policy(vec![part], vec![delegation("d1", ALICE)], vec![]);
    let d = decide(&req(sp, Some("disease-management")), &bp(ALICE), &p, now());
    assert_eq!(d.apply(bp(ALICE)), Some(bp(ALICE)));
    assert!(d.provision().is_some());
}

#[test]
fn rule12_denied_entities_are_not_released() {
    let d = decide(&req(Caller::anonymous(T), None), &bp(ALICE), &policy(vec![], vec![], vec![]), now());
    assert_eq!(d.apply(bp(ALICE)), None);
    let only = filter_attributes(&bp(ALICE), &[iri("nothing")].into_iter().collect());
    assert!(only.attrs.is_empty());
}

// ---- records and audit entries ------------------------------------------------------

#[test]
fn audit_entry_names_who_whose_what_why_when() {
    let p = policy(vec![], vec![], vec![]);
    let r = req(provider(APP, &["research"], "research-institute"), Some("research"));
    let d = decide(&r, &bp(ALICE), &p, now());
    let e = AuditEntry::from_decision(&r, &bp(ALICE).id, &d, now());
    assert_eq!(e.tenant, T);
    assert_eq!(e.actor, APP);
    assert_eq!(e.role, Role::ServiceProvider);
    assert_eq!(e.subject.as_deref(), Some(ALICE));
    assert_eq!(e.resource, "urn:ngsi-ld:BloodPressure:1");
    assert_eq!(e.purpose, Some(Purpose::from("research")));
    assert_eq!(e.at, "2025-04-01T09:00:00.000Z");
    assert!(!e.decision.allowed);
    assert_eq!(e.decision.reason.as_deref(), Some("no-consent"));
    let anon = req(Caller::anonymous(T), None);
    let d = decide(&anon, &bp(ALICE), &p, now());
    let e = AuditEntry::from_decision(&anon, "urn:x", &d, now());
    assert_eq!((e.actor.as_str(), e.decision.reason.as_deref()), ("anonymous", Some("identity-required")));
}

#[test]
fn consent_record_json_round_trip_and_validation() {
    let mut c = consent("c1", ALICE, HOSP, &["healthcare"], &[Category::Health, Category::Other("pets".into())]);
    c.expires_at = Some(now() + Duration::days(365));
    let v = serde_json::to_value(&c).expect("json");
    assert_eq!(v["categories"], json!(["health", "pets"]));
    assert_eq!(v["legal_basis"], json!("consent"));
    assert_eq!(v["method"], json!("app"));
    let back: ConsentRecord = serde_json::from_value(v).expect("parse");
    assert_eq!(back, c);
    assert_eq!(c.validate(), Ok(()));
    let bad = ConsentRecord { purposes: vec![], ..c.clone() };
    assert_eq!(bad.validate(), Err(RecordError::Empty { id: "c1".into(), field: "purposes" }));
    let bad = ConsentRecord { expires_at: Some(c.granted_at), ..c };
    assert_eq!(bad.validate(), Err(RecordError::ExpiresBeforeGranted { id: "c1".into() }));
    assert_eq!(delegation("d1", ALICE).validate(), Ok(()));
    assert!(Delegation { recipient_kinds: vec![], ..delegation("d1", ALICE) }.validate().is_err());
}

#[test]
fn purpose_vocabulary() {
    for p in ["healthcare", "care-prevention", "disease-management", "child-rearing-support", "watch-over", "research"]
    {
        assert!(Purpose::from(p).is_known(), "{p}");
    }
    assert!(!Purpose::from("marketing").is_known());
    assert_eq!(serde_json::to_value(Purpose::from("research")).expect("json"), json!("research"));
}

fn guardianship(id: &str, guardian: &str, ward: &str) -> kizuna_consent::Guardianship {
    kizuna_consent::Guardianship {
        id: id.into(),
        controller: T.into(),
        guardian: guardian.into(),
        ward: ward.into(),
        relationship: "mother".into(),
        evidence: "母子健康手帳".into(),
        valid_from: now() - Duration::days(10),
        valid_until: Some(now() + Duration::days(10)),
        ended_at: None,
    }
}

#[test]
fn rule_4b_a_guardian_reads_the_wards_data_while_the_guardianship_is_in_force() {
    let e = bp(BOB);
    let mut p = policy(vec![], vec![], vec![]);
    let r = req(citizen(ALICE), None);
    assert!(!decide(&r, &e, &p, now()).is_allowed());
    p.guardianships = vec![guardianship("g1", ALICE, BOB)];
    assert_eq!(basis(&r, &e, &p), Basis::Guardian("g1".into()));
    assert_eq!(Basis::Guardian("g1".into()).label(), "guardian:g1");
    // Not before, not after, not once ended, not for another tenant, not the other way round.
    for (name, g) in [
        (
            "not yet",
            kizuna_consent::Guardianship { valid_from: now() + Duration::days(1), ..guardianship("g", ALICE, BOB) },
        ),
        ("lapsed", kizuna_consent::Guardianship { valid_until: Some(now()), ..guardianship("g", ALICE, BOB) }),
        (
            "ended",
            kizuna_consent::Guardianship {
                ended_at: Some(now() - Duration::seconds(1)),
                ..guardianship("g", ALICE, BOB)
            },
        ),
        (
            "other tenant",
            kizuna_consent::Guardianship { controller: "elsewhere".into(), ..guardianship("g", ALICE, BOB) },
        ),
        ("reversed", guardianship("g", BOB, ALICE)),
    ] {
        p.guardianships = vec![g];
        assert!(!decide(&r, &e, &p, now()).is_allowed(), "{name}");
    }
    // Only citizens act as guardians: a provider whose party id equals the guardian's does not.
    p.guardianships = vec![guardianship("g1", ALICE, BOB)];
    let mut c = caller(Role::ServiceProvider, Some(APP));
    c.subject = Some(ALICE.into());
    assert!(!decide(&req(c, Some("disease-management")), &e, &p, now()).is_allowed());
}

#[test]
fn fhir_types_are_classified_built_in_unless_the_tenant_says_otherwise() {
    let obs = Entity {
        id: "Observation/1".into(),
        types: vec![format!("{}Observation", kizuna_consent::FHIR_TYPE_BASE)],
        scope: vec![],
        attrs: [(DATA_SUBJECT.to_string(), vec![rel(json!(ALICE))])].into_iter().collect(),
        created_at: None,
        modified_at: None,
    };
    let c = Classification::new();
    assert_eq!(
        c.classify(&obs),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Health] }
    );
    let patient = Entity { types: vec![format!("{}Patient", kizuna_consent::FHIR_TYPE_BASE)], ..obs.clone() };
    assert_eq!(
        c.classify(&patient),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Identity] }
    );
    let org = Entity {
        types: vec![format!("{}Organization", kizuna_consent::FHIR_TYPE_BASE)],
        attrs: Default::default(),
        ..obs.clone()
    };
    assert_eq!(c.classify(&org), Classified::NonPersonal);
    let custom = Classification::new().with_personal(
        &format!("{}Observation", kizuna_consent::FHIR_TYPE_BASE),
        Category::Family,
        None,
    );
    assert_eq!(
        custom.classify(&obs),
        Classified::Personal { subject: Some(ALICE.into()), categories: vec![Category::Family] }
    );
}
