//! `GET /fhir/metadata`: the CapabilityStatement, generated from the same tables the
//! server runs on (types, search parameters, interactions), so it cannot drift.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kizuna_fhir::search::{common_params, params_of, stored_types};
use serde_json::{json, Value};

use crate::write::WRITABLE;
use crate::{base_url, fhir_response};

/// The JP Core profile each type's data is shaped after.
fn profile(rtype: &str) -> Option<&'static str> {
    Some(match rtype {
        "Patient" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient",
        "Observation" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_Common",
        "Immunization" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Immunization",
        "MedicationDispense" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationDispense",
        "Encounter" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Encounter",
        "DiagnosticReport" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_DiagnosticReport_Common",
        "Condition" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Condition",
        "Organization" => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization",
        _ => return None,
    })
}

/// The CapabilityStatement.
pub fn statement(base: &str) -> Value {
    let mut resources: Vec<Value> = stored_types()
        .map(|t| {
            let writable = WRITABLE.contains(&t);
            let mut interactions = vec!["read", "vread", "history-instance", "search-type"];
            if writable {
                interactions.extend(["create", "update", "delete"]);
            } else if t == "Flag" {
                interactions.push("update");
            }
            let params: Vec<Value> = common_params()
                .iter()
                .chain(params_of(t))
                .map(|p| json!({"name": p.name, "type": p.kind.as_str(), "documentation": p.doc}))
                .collect();
            let includes: Vec<String> = params_of(t)
                .iter()
                .filter(|p| p.kind == kizuna_fhir::search::ParamKind::Reference)
                .map(|p| format!("{t}:{}", p.name))
                .collect();
            let revincludes: Vec<String> = kizuna_fhir::search::stored_types()
                .flat_map(|src| {
                    params_of(src)
                        .iter()
                        .filter(move |p| {
                            p.kind == kizuna_fhir::search::ParamKind::Reference && p.target.is_none_or(|x| x == t)
                        })
                        .map(move |p| format!("{src}:{}", p.name))
                })
                .collect();
            let mut r = json!({
                "type": t,
                "interaction": interactions.iter().map(|i| json!({"code": i})).collect::<Vec<_>>(),
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": writable,
                "conditionalCreate": writable,
                "conditionalUpdate": writable,
                "conditionalDelete": "not-supported",
                "searchInclude": includes,
                "searchRevInclude": revincludes,
                "searchParam": params,
            });
            if let Some(p) = profile(t) {
                r["supportedProfile"] = json!([p]);
            }
            if t == "Patient" {
                r["operation"] = json!([
                    {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
                    {"name": "immunization-schedule", "definition": "urn:kizuna:fhir:OperationDefinition:immunization-schedule"}
                ]);
            }
            if !writable {
                r["documentation"] = json!(if t == "Flag" {
                    "Written by Kizuna's threshold rules; whoever may read a Flag may update its status and period.end (close it)."
                } else {
                    "Written by Kizuna itself (threshold alerts, immunisation reminders); read and search only."
                });
            }
            r
        })
        .collect();
    resources.push(json!({
        "type": "Consent",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "documentation": "A read-only view of Kizuna's consent records (ISO/IEC TS 27560 fields) as FHIR Consent; manage consents at /me/consents.",
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "The person the consent is about"},
            {"name": "status", "type": "token", "documentation": "active | inactive"}
        ]
    }));
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "Kizuna",
        "kind": "instance",
        "software": {"name": "Kizuna", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Kizuna regional data-linkage platform: personal health records", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every read is decided by Kizuna's consent engine (the same one as the NGSI-LD API) and recorded in the person's access log; a resource the caller may not see answers 404. Unknown search parameters are ignored and reported (Prefer: handling=strict makes them a 400).",
            "security": {
                "cors": false,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth", "display": "OAuth"}]}],
                "description": "Bearer tokens (OIDC / Kizuna's issuer) or X-Api-Key; the purpose of use in Kizuna-Purpose or the token's purpose claim."
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": [
                {"name": "thresholds", "definition": "urn:kizuna:fhir:OperationDefinition:thresholds"},
                {"name": "send-reminders", "definition": "urn:kizuna:fhir:OperationDefinition:send-reminders"},
                {"name": "research-extract", "definition": "urn:kizuna:fhir:OperationDefinition:research-extract"}
            ]
        }]
    })
}

/// `GET /fhir/metadata` (no credentials needed, as FHIR requires).
pub async fn metadata(headers: HeaderMap) -> Response {
    fhir_response(StatusCode::OK, &statement(&base_url(&headers)))
}
