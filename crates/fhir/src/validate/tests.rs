use super::*;
use serde_json::json;

fn errors(r: &Value) -> Vec<String> {
    match validate_resource(r) {
        Ok(_) => Vec::new(),
        Err(oo) => oo.issue.iter().filter(|i| i.is_error()).flat_map(|i| i.expression.clone()).collect(),
    }
}

fn warnings(r: &Value) -> Vec<String> {
    check(r, None).issues().iter().filter(|i| !i.is_error()).flat_map(|i| i.expression.clone()).collect()
}

fn assert_ok(r: &Value) {
    let e = errors(r);
    assert!(e.is_empty(), "unexpected errors: {e:?}");
}

fn assert_err(r: &Value, expr: &str) {
    let e = errors(r);
    assert!(e.iter().any(|x| x == expr), "expected an error at {expr}, got {e:?}");
}

fn bp() -> Value {
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns"]},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": "Patient/hanako"},
        "effectiveDateTime": "2026-11-20T07:30:00+09:00",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 142, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 88, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
        ]
    })
}

fn weight() -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/hanako"},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 61.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
    })
}

fn lab() -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202", "display": "HbA1c(NGSP)"}]},
        "subject": {"reference": "Patient/taro"},
        "effectiveDateTime": "2026-06-01T09:00:00+09:00",
        "valueQuantity": {"value": 6.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    })
}

// ------------------------------------------------------------------ primitives

#[test]
fn primitive_formats() {
    assert!(is_date("2026") && is_date("2026-02") && is_date("2024-02-29"));
    assert!(!is_date("2026-02-30") && !is_date("2026-13") && !is_date("26-01-01") && !is_date("2026/01/01"));
    assert!(
        is_date_time("2026-11-20T07:30:00+09:00")
            && is_date_time("2026-11-20T07:30:00.123Z")
            && is_date_time("2026-11")
    );
    assert!(!is_date_time("2026-11-20T07:30") && !is_date_time("2026-11-20T07:30:00"));
    assert!(is_instant("2026-11-20T07:30:00Z") && !is_instant("2026-11-20"));
    assert!(is_id("abc-1.2") && !is_id("a b") && !is_id(&"x".repeat(65)));
    assert!(is_code("final") && is_code("a b") && !is_code(" a") && !is_code("a  b"));
    assert_eq!(relative_reference_type("Patient/p1"), Some("Patient"));
    assert_eq!(relative_reference_type("Patient/p1/_history/2"), Some("Patient"));
    assert_eq!(relative_reference_type("patient/p1"), None);
    assert_eq!(relative_reference_type("Patient"), None);
}

#[test]
fn not_an_object_or_unknown_type() {
    assert_err(&json!([1]), "$this");
    assert_err(&json!({"status": "final"}), "resourceType");
    assert_err(&json!({"resourceType": "Basic"}), "resourceType");
    let e = validate_resource_as(&weight(), "Patient").expect_err("wrong type");
    assert_eq!(e.issue[0].code, IssueCode::Invalid);
    assert!(validate_resource_as(&weight(), "Observation").is_ok());
}

#[test]
fn json_rules() {
    let mut r = weight();
    r["note"] = json!([]);
    r["issued"] = Value::Null;
    r["id"] = json!("");
    let e = errors(&r);
    assert!(e.contains(&"Observation.note".to_owned()), "{e:?}");
    assert!(e.contains(&"Observation.issued".to_owned()), "{e:?}");
    assert!(e.contains(&"Observation.id".to_owned()), "{e:?}");
}

// ------------------------------------------------------------------ Patient

#[test]
fn patient_valid() {
    let p = json!({
        "resourceType": "Patient",
        "id": "hanako",
        "meta": {"lastUpdated": "2026-11-20T00:00:00Z"},
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "00000010"}],
        "name": [
            {"use": "official", "family": "絆川", "given": ["花子"], "text": "絆川 花子",
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}]},
            {"use": "official", "family": "キズナガワ", "given": ["ハナコ"],
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}]}
        ],
        "gender": "female",
        "birthDate": "1970-01-01",
        "telecom": [{"system": "phone", "value": "0270-00-0000", "use": "home"}],
        "address": [{"use": "home", "line": ["絆川市本町1-1"], "postalCode": "370-0000"}]
    });
    assert_ok(&p);
}

#[test]
fn patient_invalid() {
    let p = json!({
        "resourceType": "Patient",
        "id": "bad id",
        "gender": "F",
        "birthDate": "1970/01/01",
        "name": {"family": "x"},
        "deceasedBoolean": "no",
        "managingOrganization": {"reference": "Patient/x"},
        "meta": {"lastUpdated": "2026-11-20"}
    });
    for e in [
        "Patient.id",
        "Patient.gender",
        "Patient.birthDate",
        "Patient.name",
        "Patient.deceasedBoolean",
        "Patient.managingOrganization.reference",
        "Patient.meta.lastUpdated",
    ] {
        assert_err(&p, e);
    }
    let kana = json!({"resourceType": "Patient", "name": [{"family": "x", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "KANA"}]}]});
    assert_err(&kana, "Patient.name[0].extension[0].valueCode");
    let contained = json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "name": "x"}]});
    assert_err(&contained, "Patient.contained");
}

// ------------------------------------------------------------------ Observation

#[test]
fn observation_vitals_valid() {
    assert_ok(&bp());
    assert_ok(&weight());
    let mut glucose = weight();
    glucose["code"]["coding"][0]["code"] = json!("41653-7");
    glucose["valueQuantity"] =
        json!({"value": 108, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"});
    assert_ok(&glucose);
    let mut hr = weight();
    hr["code"]["coding"][0]["code"] = json!("8867-4");
    hr["valueQuantity"] =
        json!({"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"});
    assert_ok(&hr);
    let mut h = weight();
    h["code"]["coding"][0]["code"] = json!("8302-2");
    h["valueQuantity"] = json!({"value": 158.2, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"});
    assert_ok(&h);
}

#[test]
fn observation_required() {
    let r = json!({"resourceType": "Observation"});
    assert_err(&r, "Observation.status");
    assert_err(&r, "Observation.code");
    assert_err(&r, "Observation.subject");
    let mut r = weight();
    r["status"] = json!("done");
    assert_err(&r, "Observation.status");
}

#[test]
fn observation_vital_rules() {
    // vital signs need effective[x]
    let mut r = weight();
    r.as_object_mut().map(|o| o.remove("effectiveDateTime"));
    assert_err(&r, "Observation.effective[x]");
    // wrong unit for body weight
    let mut r = weight();
    r["valueQuantity"]["code"] = json!("cm");
    assert_err(&r, "Observation.valueQuantity.code");
    // decimal as string
    let mut r = weight();
    r["valueQuantity"]["value"] = json!("61.5");
    assert_err(&r, "Observation.valueQuantity.value");
    // no LOINC coding
    let mut r = weight();
    r["code"]["coding"][0]["system"] = json!("http://example.org/local");
    assert_err(&r, "Observation.code.coding");
    // no value at all (vs-2)
    let mut r = weight();
    r.as_object_mut().map(|o| o.remove("valueQuantity"));
    assert_err(&r, "Observation.value[x]");
    // with dataAbsentReason it is fine
    r["dataAbsentReason"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed"}]});
    assert_ok(&r);
    // bad dateTime (no time zone)
    let mut r = weight();
    r["effectiveDateTime"] = json!("2026-11-20T07:30:00");
    assert_err(&r, "Observation.effectiveDateTime");
    // two effective[x]
    let mut r = weight();
    r["effectivePeriod"] = json!({"start": "2026-11-20"});
    assert_err(&r, "Observation.effective[x]");
    // value and dataAbsentReason (obs-6)
    let mut r = weight();
    r["dataAbsentReason"] = json!({"text": "x"});
    assert_err(&r, "Observation.dataAbsentReason");
}

#[test]
fn observation_bp_components() {
    let mut r = bp();
    r["component"].as_array_mut().map(|a| a.remove(1));
    assert_err(&r, "Observation.component");
    let mut r = bp();
    r["component"][0]["valueQuantity"]["code"] = json!("kPa");
    assert_err(&r, "Observation.component[0].valueQuantity.code");
    let mut r = bp();
    r["component"][1].as_object_mut().map(|o| o.remove("valueQuantity"));
    assert_err(&r, "Observation.component[1].value[x]");
    let mut r = bp();
    r["subject"] = json!({"reference": "Group/g1"});
    assert_err(&r, "Observation.subject.reference");
    let mut r = bp();
    r["subject"] = json!({"reference": "hanako"});
    assert_err(&r, "Observation.subject.reference");
    let mut r = bp();
    r["subject"] = json!({"reference": "urn:uuid:8f0c3c56-0000-4000-8000-000000000001"});
    assert_ok(&r);
    r["subject"] = json!({"reference": "https://other.example/fhir/Patient/p1"});
    assert_ok(&r);
    r["subject"] = json!({"reference": "https://other.example/fhir/Group/g1"});
    assert_err(&r, "Observation.subject.reference");
    r["subject"] = json!({"display": "絆川 花子"});
    assert_err(&r, "Observation.subject.reference");
    r["performer"] = json!([{"display": "絆川クリニック"}]);
    r["subject"] = json!({"reference": "Patient/hanako"});
    assert_ok(&r);
    r["subject"] = json!({"type": "Patient"});
    assert_err(&r, "Observation.subject.reference");
}

#[test]
fn observation_profile_commits_to_category() {
    let mut r = bp();
    r.as_object_mut().map(|o| o.remove("category"));
    assert_err(&r, "Observation.category");
    let mut r = lab();
    r["meta"] = json!({"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]});
    assert_ok(&r);
    r.as_object_mut().map(|o| o.remove("category"));
    assert_err(&r, "Observation.category");
    // without a profile or category, an Observation is generic: no vital-sign rules
    let mut r = weight();
    r.as_object_mut().map(|o| o.remove("category"));
    r.as_object_mut().map(|o| o.remove("effectiveDateTime"));
    assert_ok(&r);
}

#[test]
fn observation_lab() {
    assert_ok(&lab());
    let mut r = lab();
    r["code"]["coding"][0]["code"] = json!("3D046");
    assert_err(&r, "Observation.code.coding[0].code");
    let mut r = lab();
    r["code"]["coding"][0]["system"] = json!("http://medis.or.jp/CodeSystem/master-JLAC10-17digits");
    assert_ok(&r);
    let mut r = lab();
    r["code"]["coding"][0]["system"] = json!("http://example.org/local-lab");
    assert_ok(&r);
    assert!(warnings(&r).contains(&"Observation.code.coding".to_owned()));
    let mut r = lab();
    r["category"] = json!({"text": "laboratory"});
    assert_err(&r, "Observation.category");
}

// ------------------------------------------------------------------ Immunization

fn imm() -> Value {
    json!({
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "urn:kizuna:fhir:CodeSystem:jp-routine-vaccine", "code": "mr", "display": "麻しん風しん混合(MR)"}]},
        "patient": {"reference": "Patient/child1"},
        "occurrenceDateTime": "2025-04-10",
        "primarySource": true,
        "lotNumber": "Y123",
        "doseQuantity": {"value": 0.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        "protocolApplied": [{"doseNumberPositiveInt": 1, "series": "第1期"}]
    })
}

#[test]
fn immunization_valid_and_invalid() {
    assert_ok(&imm());
    let r = json!({"resourceType": "Immunization"});
    for e in ["Immunization.status", "Immunization.vaccineCode", "Immunization.patient", "Immunization.occurrence[x]"] {
        assert_err(&r, e);
    }
    let mut r = imm();
    r["vaccineCode"]["coding"][0]["code"] = json!("measles-mumps");
    assert_err(&r, "Immunization.vaccineCode.coding[0].code");
    let mut r = imm();
    r["protocolApplied"][0] = json!({"doseNumberPositiveInt": 0});
    assert_err(&r, "Immunization.protocolApplied[0].doseNumberPositiveInt");
    let mut r = imm();
    r["protocolApplied"][0] = json!({"series": "x"});
    assert_err(&r, "Immunization.protocolApplied[0].doseNumber[x]");
    let mut r = imm();
    r["status"] = json!("given");
    assert_err(&r, "Immunization.status");
    // coded only with a YJ code: accepted with a warning
    let mut r = imm();
    r["vaccineCode"] =
        json!({"coding": [{"system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "code": "631340QG1024"}]});
    assert_ok(&r);
    assert!(warnings(&r).contains(&"Immunization.vaccineCode.coding".to_owned()));
    r["vaccineCode"]["coding"][0]["code"] = json!("6313");
    assert_err(&r, "Immunization.vaccineCode.coding[0].code");
}

// ------------------------------------------------------------------ medication

fn dispense() -> Value {
    json!({
        "resourceType": "MedicationDispense",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationDispense"]},
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://medis.or.jp/CodeSystem/master-HOT9", "code": "103835401", "display": "ムコダイン錠250mg"}]},
        "subject": {"reference": "Patient/taro"},
        "quantity": {"value": 9, "unit": "錠", "system": "urn:oid:1.2.392.100495.20.2.101", "code": "TAB"},
        "whenHandedOver": "2026-11-01T10:00:00+09:00",
        "dosageInstruction": [{"text": "1回1錠 1日3回 毎食後 3日分"}]
    })
}

#[test]
fn medication_dispense() {
    assert_ok(&dispense());
    let mut r = dispense();
    r["medicationCodeableConcept"]["coding"][0]["code"] = json!("10383540");
    assert_err(&r, "MedicationDispense.medicationCodeableConcept.coding[0].code");
    let mut r = dispense();
    r["medicationCodeableConcept"]["coding"][0] =
        json!({"system": "urn:oid:1.2.392.100495.20.2.73", "code": "2233002F1027"});
    assert_ok(&r);
    r["medicationCodeableConcept"]["coding"][0]["code"] = json!("2233002F10");
    assert_err(&r, "MedicationDispense.medicationCodeableConcept.coding[0].code");
    let mut r = dispense();
    r["medicationCodeableConcept"]["coding"][0] =
        json!({"system": "http://medis.or.jp/CodeSystem/master-HOT13", "code": "1038354010101"});
    assert_ok(&r);
    let r = json!({"resourceType": "MedicationDispense", "status": "completed"});
    assert_err(&r, "MedicationDispense.medication[x]");
    assert_err(&r, "MedicationDispense.subject");
    let mut r = dispense();
    r["medicationReference"] = json!({"reference": "Medication/m1"});
    assert_err(&r, "MedicationDispense.medication[x]");
    let mut r = dispense();
    r["dosageInstruction"] = json!({"text": "x"});
    assert_err(&r, "MedicationDispense.dosageInstruction");
}

#[test]
fn medication_statement() {
    let ok = json!({
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"text": "市販の胃腸薬"},
        "subject": {"reference": "Patient/taro"},
        "effectivePeriod": {"start": "2026-10-01", "end": "2026-10-14"},
        "dateAsserted": "2026-10-15"
    });
    assert_ok(&ok);
    let mut r = ok.clone();
    r["effectivePeriod"] = json!({"start": "2026-10-14", "end": "2026-10-01"});
    assert_err(&r, "MedicationStatement.effectivePeriod");
    let mut r = ok;
    r["status"] = json!("taking");
    r["medicationCodeableConcept"] = json!({});
    assert_err(&r, "MedicationStatement.status");
    assert_err(&r, "MedicationStatement.medicationCodeableConcept");
}

// ------------------------------------------------------------------ checkups

#[test]
fn encounter() {
    let ok = json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/taro"},
        "period": {"start": "2026-06-01T09:00:00+09:00", "end": "2026-06-01T10:00:00+09:00"},
        "serviceProvider": {"reference": "Organization/kenshin-center"}
    });
    assert_ok(&ok);
    let mut r = ok.clone();
    r["class"] = json!([{"code": "AMB"}]);
    assert_err(&r, "Encounter.class");
    let mut r = ok;
    r["class"] = json!({"code": "AMB"});
    r["serviceProvider"] = json!({"reference": "Practitioner/p"});
    assert_err(&r, "Encounter.class");
    assert_err(&r, "Encounter.serviceProvider.reference");
}

#[test]
fn diagnostic_report() {
    let ok = json!({
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "特定健康診査"},
        "subject": {"reference": "Patient/taro"},
        "effectiveDateTime": "2026-06-01",
        "issued": "2026-06-10T12:00:00+09:00",
        "result": [{"reference": "Observation/o1"}, {"reference": "urn:uuid:0b7e2a1e-0000-4000-8000-000000000002"}]
    });
    assert_ok(&ok);
    let mut r = ok;
    r["result"][0] = json!({"reference": "Patient/p"});
    r["issued"] = json!("2026-06-10");
    assert_err(&r, "DiagnosticReport.result[0].reference");
    assert_err(&r, "DiagnosticReport.issued");
    assert_err(&json!({"resourceType": "DiagnosticReport", "status": "final"}), "DiagnosticReport.code");
}

#[test]
fn condition() {
    let ok = json!({
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"text": "高血圧症"},
        "subject": {"reference": "Patient/taro"},
        "onsetDateTime": "2020"
    });
    assert_ok(&ok);
    let mut r = ok.clone();
    r["verificationStatus"]["coding"][0]["code"] = json!("entered-in-error");
    assert_err(&r, "Condition.clinicalStatus");
    let mut r = ok.clone();
    r["abatementDateTime"] = json!("2025-01-01");
    assert_err(&r, "Condition.clinicalStatus");
    let mut r = ok;
    r["clinicalStatus"]["coding"][0]["code"] = json!("cured");
    r.as_object_mut().map(|o| o.remove("subject"));
    assert_err(&r, "Condition.clinicalStatus.coding[0].code");
    assert_err(&r, "Condition.subject");
}

#[test]
fn organization() {
    assert_ok(&json!({"resourceType": "Organization", "name": "絆川市国民健康保険"}));
    assert_ok(
        &json!({"resourceType": "Organization", "identifier": [{"system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber", "value": "00012345"}]}),
    );
    assert_err(&json!({"resourceType": "Organization", "active": true}), "Organization");
    assert_err(&json!({"resourceType": "Organization", "name": 3}), "Organization.name");
}

#[test]
fn outcome_collects_everything() {
    let r = json!({"resourceType": "Observation", "status": "bogus", "subject": {"reference": "Group/1"}});
    let oo = validate_resource(&r).expect_err("invalid");
    assert!(oo.issue.len() >= 3);
    let j = oo.to_json();
    assert_eq!(j["resourceType"], "OperationOutcome");
    assert!(j["issue"].as_array().is_some_and(|a| a.iter().all(|i| i["expression"].is_array())));
}
