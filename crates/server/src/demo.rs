//! The demo city (絆川市) — open data, and a few residents with personal data, parties,
//! consents and an information-bank delegation — and the `@context` documents shipped
//! inside the binary.

use std::path::Path;

use kizuna_api_ngsild::ApiState;
use kizuna_consent::{Classification, ConsentRecord, Delegation, Party};
use kizuna_ngsild::entity::{now_timestamp, parse_entity};
use serde_json::Value;

/// Contexts compiled into the binary: (URL, file name, content).
const SHIPPED: &[(&str, &str)] =
    &[("https://kizuna.example/contexts/demo-city.jsonld", include_str!("../contexts/demo-city.jsonld"))];

/// The demo dataset: normalized NGSI-LD entities, each naming its `@context`.
const DEMO_CITY: &str = include_str!("../demo/demo-city.json");

/// The demo's people: classification, parties, citizens, consents, a delegation, and
/// personal entities (blood pressure, a child's position, benefit points).
const DEMO_PEOPLE: &str = include_str!("../demo/demo-people.json");

/// The demo residents' health records (FHIR R4, JP Core): Patients for Hanako, Taro and
/// Yui, home blood pressure (Taro's last reading is 受診勧奨), Yui's vaccinations.
const DEMO_FHIR: &str = include_str!("../demo/demo-fhir.json");

/// The base layer of the demo city's alert map (`scripts/data/build-basemap.py --demo`: the
/// rivers and shorelines GSHHG has around the city; see DATA-SOURCES.md).
pub const BASEMAP: &str = include_str!("../demo/basemap.geojson");

/// The clinic that supplied the demo's health records.
const DEMO_CLINIC: &str = "urn:kizuna:party:kizunagawa-clinic";

/// How many generated test people the demo adds (seeded, `kizuna_fhir::people`).
const DEMO_GENERATED_PEOPLE: usize = 60;

/// The tenant the demo goes into (the default tenant).
pub const DEMO_TENANT: &str = "";

/// The shipped contexts as (URL, document).
pub fn shipped_contexts() -> Result<Vec<(String, Value)>, String> {
    SHIPPED
        .iter()
        .map(|(url, text)| {
            let doc: Value = serde_json::from_str(text).map_err(|e| format!("shipped context {url}: {e}"))?;
            Ok((url.to_string(), doc))
        })
        .collect()
}

/// Reads `dir/map.json` (URL → file name) and the files it names.
pub fn contexts_from_dir(dir: &Path) -> Result<Vec<(String, Value)>, String> {
    let map_path = dir.join("map.json");
    let map_text = std::fs::read_to_string(&map_path).map_err(|e| format!("{}: {e}", map_path.display()))?;
    let map: serde_json::Map<String, Value> =
        serde_json::from_str(&map_text).map_err(|e| format!("{}: {e}", map_path.display()))?;
    let mut out = Vec::new();
    for (url, file) in map {
        let file =
            file.as_str().ok_or_else(|| format!("{}: the value for {url} must be a file name", map_path.display()))?;
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((url, doc));
    }
    Ok(out)
}

/// The demo's policy records, with names expanded by the demo context.
struct DemoPolicy {
    classification: Classification,
    parties: Vec<Party>,
    consents: Vec<ConsentRecord>,
    delegations: Vec<Delegation>,
}

async fn demo_policy(state: &ApiState, people: &Value) -> Result<DemoPolicy, String> {
    let class = people.get("classification").ok_or("demo people: no classification")?;
    let classification = crate::classification::from_json(state, class).await.map_err(|e| format!("demo: {e}"))?;
    let parse = |key: &str| -> Result<Vec<Value>, String> {
        Ok(people
            .get(key)
            .and_then(Value::as_array)
            .ok_or(format!("demo people: no {key}"))?
            .iter()
            .map(|v| {
                let mut v = v.clone();
                if key != "parties" {
                    v["controller"] = Value::String(DEMO_TENANT.into());
                }
                v
            })
            .collect())
    };
    Ok(DemoPolicy {
        classification,
        parties: decode_all(parse("parties")?).map_err(|e| format!("demo parties: {e}"))?,
        consents: decode_all(parse("consents")?).map_err(|e| format!("demo consents: {e}"))?,
        delegations: decode_all(parse("delegations")?).map_err(|e| format!("demo delegations: {e}"))?,
    })
}

fn decode_all<T: serde::de::DeserializeOwned>(v: Vec<Value>) -> Result<Vec<T>, serde_json::Error> {
    v.into_iter().map(serde_json::from_value).collect()
}

/// Loads the demo city into the default tenant unless its entities are already there.
pub async fn load(state: &ApiState) -> Result<usize, String> {
    let items: Vec<Value> = serde_json::from_str(DEMO_CITY).map_err(|e| format!("demo dataset: {e}"))?;
    let now = now_timestamp();
    let mut entities = Vec::with_capacity(items.len());
    for item in &items {
        let ctx = state.contexts.resolve(item.get("@context")).await.map_err(|e| e.to_string())?;
        let mut e = parse_entity(item, &ctx).map_err(|e| format!("demo entity: {e}"))?;
        e.stamp_new(&now);
        entities.push(e);
    }
    let people: Value = serde_json::from_str(DEMO_PEOPLE).map_err(|e| format!("demo people: {e}"))?;
    let policy = demo_policy(state, &people).await?;
    for item in people.get("entities").and_then(Value::as_array).into_iter().flatten() {
        let ctx = state.contexts.resolve(item.get("@context")).await.map_err(|e| e.to_string())?;
        let mut e = parse_entity(item, &ctx).map_err(|e| format!("demo entity: {e}"))?;
        e.stamp_new(&now);
        entities.push(e);
    }
    let store = state.store.clone();
    let inserted = tokio::task::spawn_blocking(move || {
        store.write(DEMO_TENANT, move |tx| {
            let mut n = 0usize;
            for e in &entities {
                if tx.insert(e)? {
                    n += 1;
                }
            }
            // The people's records go in with the first load only: a restart must not
            // undo a withdrawal made while trying the demo.
            if n > 0 {
                tx.set_classification(&policy.classification)?;
                for p in &policy.parties {
                    tx.put_party(p)?;
                }
                for c in &policy.consents {
                    tx.put_consent(c)?;
                }
                for d in &policy.delegations {
                    tx.put_delegation(d)?;
                }
            }
            Ok::<usize, kizuna_store::StoreError>(n)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if inserted > 0 {
        let fhir = load_fhir(state).await?;
        tracing::info!(entities = inserted, fhir_resources = fhir, "loaded the demo city (絆川市)");
    } else {
        tracing::info!("the demo city is already loaded");
    }
    Ok(inserted)
}

/// The demo's health records: the three residents (`demo-fhir.json`), Hanako as Yui's
/// guardian, and 60 generated residents (seed 2026) with checkups, home blood pressure,
/// pregnancies and children's vaccinations — all as the clinic supplied them, assessed
/// for threshold alerts as they go in.
async fn load_fhir(state: &ApiState) -> Result<usize, String> {
    let mut resources: Vec<Value> = serde_json::from_str(DEMO_FHIR).map_err(|e| format!("demo FHIR: {e}"))?;
    let today = chrono::Utc::now().date_naive();
    let people = kizuna_fhir::people::generate(&kizuna_fhir::people::GenOptions {
        seed: 2026,
        people: DEMO_GENERATED_PEOPLE,
        today,
        id_prefix: "gen".into(),
    });
    let mut guardianships = vec![kizuna_consent::Guardianship {
        id: "urn:kizuna:guardianship:demo-hanako-yui".into(),
        controller: DEMO_TENANT.into(),
        guardian: "urn:ngsi-ld:Person:kizunagawa:hanako".into(),
        ward: "urn:ngsi-ld:Person:kizunagawa:yui".into(),
        relationship: "mother".into(),
        evidence: "母子健康手帳".into(),
        valid_from: chrono::DateTime::parse_from_rfc3339("2018-05-20T00:00:00+09:00")
            .map_err(|e| e.to_string())?
            .with_timezone(&chrono::Utc),
        valid_until: None,
        ended_at: None,
    }];
    // Patients first: every other resource references one.
    resources.extend(people.iter().map(|p| p.patient.clone()));
    for p in &people {
        resources.extend(p.resources.iter().cloned());
        for ward in &p.guardian_of {
            guardianships.push(kizuna_consent::Guardianship {
                id: format!("urn:kizuna:guardianship:{}-{}", p.patient_id(), ward.rsplit(':').next().unwrap_or("")),
                controller: DEMO_TENANT.into(),
                guardian: p.subject.clone(),
                ward: ward.clone(),
                relationship: "parent".into(),
                evidence: "母子健康手帳".into(),
                valid_from: chrono::Utc::now() - chrono::Duration::days(365 * 13),
                valid_until: None,
                ended_at: None,
            });
        }
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        store.write(DEMO_TENANT, move |tx| {
            for g in &guardianships {
                tx.put_guardianship(g)?;
            }
            kizuna_api_fhir::write::seed(tx, &resources, DEMO_CLINIC, chrono::Utc::now())
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| match e {
        kizuna_api_fhir::FhirError::Invalid(o) => format!("demo FHIR resource invalid: {}", o.to_json()),
        other => format!("demo FHIR: {other}"),
    })
}
