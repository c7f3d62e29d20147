//! `GET /me/export`: the data portability package — everything held about the citizen,
//! in open formats, as one ZIP archive.
//!
//! Every entity included (current, or known only by its history) and every FHIR
//! resource included goes through the decision point with [`Action::Export`] and is
//! appended to the access log before the package leaves; the access log in the package
//! therefore lists this export too. FHIR resources are decided as the FHIR API decides
//! them ([`kizuna_api_fhir::access::Caller::decide`]: the resource as an entity of type
//! `http://hl7.org/fhir/<Type>`, audited as `Type/id`).
//!
//! # Layout
//! - [`export`]: the handler (gather, decide, record, package);
//! - [`Package`]: the contents, and [`Package::zip`] writing the archive: `manifest.json`,
//!   `entities.jsonld`, `entities.csv`, `consents.json`, `delegations.json`,
//!   `usage-stops.json`, `provisions.json`, `access-log.json`, `access-log.csv`,
//!   `fhir.json` ([`fhir_bundle`]);
//! - [`entities_csv`], [`access_log_csv`]: the CSV files (RFC 4180 quoting by `csv`).

use std::io::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, SecondsFormat, Timelike, Utc};
use kizuna_api_ngsild::access::{self, Access};
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::{Action, AuditRecord, ConsentRecord, Delegation, ProvisionRecord, UsageStop};
use kizuna_ngsild::context::CORE_CONTEXT_URL;
use kizuna_ngsild::{Context, Entity, ErrorKind, NgsiError};
use kizuna_store::{FhirRecord, TemporalEntity};
use serde_json::{json, Value};

use crate::common::{require_citizen, to_value};
use crate::me::{access_view, provision_view};
use crate::mine;

/// Records read per page while collecting the logs.
const LOG_PAGE: usize = 1000;

/// One entity of the package: its current state (if it still exists) and its history
/// (if it has any).
struct Item {
    current: Option<Entity>,
    history: Option<TemporalEntity>,
}

/// Everything that goes into the package, rendered.
pub(crate) struct Package {
    subject: String,
    tenant: String,
    generated_at: chrono::DateTime<Utc>,
    entities: Vec<Entity>,
    histories: Vec<TemporalEntity>,
    consents: Vec<ConsentRecord>,
    delegations: Vec<Delegation>,
    usage_stops: Vec<UsageStop>,
    provisions: Vec<Value>,
    access_log: Vec<Value>,
    /// My FHIR resources (current versions), released for export.
    fhir: Vec<FhirRecord>,
    /// The FHIR base URL the resources' `fullUrl`s are built on.
    fhir_base: String,
    /// A guardian exporting for a ward: `{"actor", "guardianship"}`, put in the manifest.
    acting: Option<Value>,
}

/// `GET /me/export` — my portability package (`application/zip`, `Content-Disposition:
/// attachment; filename="kizuna-export-<date>.zip"`). A guardian acting for a ward gets
/// the ward's package; its manifest names them (`requestedBy`).
pub(crate) async fn export(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = require_citizen(&access, &headers)?;
    let me = principal.subject.clone();
    let tenant = access.tenant().to_string();
    let classification = Arc::new(access.policy.classification.clone());

    // 1. What is held: current entities with their history, history-only entities, and
    //    FHIR resources.
    let (t, c, s) = (tenant.clone(), classification.clone(), me.clone());
    let (items, fhir_held) = st
        .read(move |store| {
            let h = mine::holdings(store, &t, &c, &s)?;
            let mut items = Vec::with_capacity(h.current.len() + h.history_only.len());
            for e in h.current {
                // History recorded while the entity was someone else's stays out.
                let history = mine::history(store, &t, &e.id)?.filter(|te| mine::is_of(&c, &te.entity, &s));
                items.push(Item { current: Some(e), history });
            }
            for probe in h.history_only {
                let history = mine::history(store, &t, &probe.id)?.filter(|te| mine::is_of(&c, &te.entity, &s));
                if history.is_some() {
                    items.push(Item { current: None, history });
                }
            }
            let fhir = store.fhir_of_subject(&t, &s)?;
            Ok((items, fhir))
        })
        .await?;

    // 2. Decide each (action export) and record the decisions before anything leaves.
    let mut exporter = access.clone();
    exporter.request.action = Action::Export;
    let now = Utc::now();
    let mut audits = Vec::new();
    let mut provisions = Vec::new();
    let mut entities = Vec::new();
    let mut histories = Vec::new();
    for item in items {
        let basis = match (&item.current, &item.history) {
            (Some(e), _) => e.clone(),
            (None, Some(te)) => te.entity.clone(),
            (None, None) => continue,
        };
        let v = exporter.decide(basis, now);
        audits.extend(v.audit);
        provisions.extend(v.provision);
        if v.released.is_none() {
            continue;
        }
        if let Some(e) = item.current {
            entities.push(e);
        }
        if let Some(te) = item.history {
            histories.push(te);
        }
    }
    let fhir_caller = kizuna_api_fhir::access::Caller { access: exporter.clone(), tenant: tenant.clone() };
    let mut fhir = Vec::with_capacity(fhir_held.len());
    for r in fhir_held {
        // The store's "current, not deleted" is checked again: a delete has nothing to export.
        if r.deleted || r.resource.is_none() {
            continue;
        }
        let v = fhir_caller.decide(&r.rtype, &r.id, r.subject.as_deref(), r.source.as_deref(), now);
        audits.extend(v.audit);
        provisions.extend(v.provision);
        if v.allowed {
            fhir.push(r);
        }
    }
    access::record(&st, &tenant, audits, provisions).await?;

    // 3. The records about me.
    let (t, s) = (tenant.clone(), me.clone());
    let (consents, delegations, usage_stops, provision_rows, audit_rows) = st
        .read(move |store| {
            let consents = store.consents_of(&t, &s)?;
            let delegations = store.delegations_of(&t, &s)?;
            let stops = store.usage_stops_of(&t, &s)?;
            let mut provisions: Vec<(i64, ProvisionRecord)> = Vec::new();
            loop {
                let after = provisions.last().map_or(0, |(seq, _)| *seq);
                let page = store.provisions_of(&t, &s, after, LOG_PAGE)?;
                let full = page.len() >= LOG_PAGE;
                provisions.extend(page);
                if !full {
                    break;
                }
            }
            let mut audit: Vec<AuditRecord> = Vec::new();
            loop {
                let after = audit.last().map_or(0, |r| r.seq);
                let page = store.audit_of_subject(&t, &s, after, LOG_PAGE)?;
                let full = page.len() >= LOG_PAGE;
                audit.extend(page);
                if !full {
                    break;
                }
            }
            Ok((consents, delegations, stops, provisions, audit))
        })
        .await?;
    let provisions =
        provision_rows.iter().map(|(seq, p)| provision_view(&access.policy, *seq, p)).collect::<Result<Vec<_>, _>>()?;
    let access_log = audit_rows.iter().map(|r| access_view(&access.policy, r)).collect();

    // 4. The archive.
    let package = Package {
        subject: me,
        tenant,
        generated_at: now,
        entities,
        histories,
        consents,
        delegations,
        usage_stops,
        provisions,
        access_log,
        fhir,
        fhir_base: kizuna_api_fhir::base_url(&headers),
        acting: principal.acting(),
    };
    let bytes = tokio::task::spawn_blocking(move || package.zip())
        .await
        .map_err(|e| internal(format!("the export could not be built: {e}")))??;
    let filename = format!("attachment; filename=\"kizuna-export-{}.zip\"", now.format("%Y-%m-%d"));
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&filename) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn internal(detail: String) -> ApiError {
    ApiError::Ngsi(NgsiError::new(ErrorKind::InternalError, detail))
}

/// The files of the package: (name, media type, description).
const FILES: &[(&str, &str, &str)] = &[
    ("manifest.json", "application/json", "this file: what the package holds and how to read it"),
    (
        "entities.jsonld",
        "application/ld+json",
        "my entities in NGSI-LD normalized form (\"entities\") and the recorded history of each entity that has one, \
         in the NGSI-LD temporal representation (\"temporalEntities\"); names are compacted with the NGSI-LD core context",
    ),
    (
        "entities.csv",
        "text/csv",
        "one row per attribute instance, current and historical: entityId, entityType, attribute, datasetId, \
         observedAt, value (JSON), kind, source (current|history), instanceId",
    ),
    ("consents.json", "application/json", "my consent records (ISO/IEC TS 27560 fields), withdrawn ones included"),
    ("delegations.json", "application/json", "my information-bank provision conditions, withdrawn ones included"),
    ("usage-stops.json", "application/json", "the recipients I have stopped from using my data"),
    ("provisions.json", "application/json", "what the information bank provided to whom under my delegations"),
    (
        "access-log.json",
        "application/json",
        "every decision about my data: who asked, in which role, for what purpose, what, when, allowed or denied and why",
    ),
    ("access-log.csv", "text/csv", "the access log as CSV"),
    (
        "fhir.json",
        "application/fhir+json",
        "my health records held as FHIR R4 resources (JP Core): a Bundle of type collection, one entry per resource \
         in its current version (meta.versionId, meta.lastUpdated, meta.source = who supplied it)",
    ),
];

impl Package {
    /// Writes the archive (deflate), every file dated `generated_at`.
    pub(crate) fn zip(self) -> Result<Vec<u8>, ApiError> {
        let ctx = Context::core();
        let counts = [
            ("entities.jsonld", self.entities.len() + self.histories.len()),
            ("consents.json", self.consents.len()),
            ("delegations.json", self.delegations.len()),
            ("usage-stops.json", self.usage_stops.len()),
            ("provisions.json", self.provisions.len()),
            ("access-log.json", self.access_log.len()),
            ("fhir.json", self.fhir.len()),
        ];
        let files: Vec<Value> = FILES
            .iter()
            .map(|(name, media, description)| {
                let mut f = json!({"name": name, "mediaType": media, "description": description});
                if let (Some(o), Some((_, n))) = (f.as_object_mut(), counts.iter().find(|(c, _)| c == name)) {
                    o.insert("records".into(), Value::from(*n));
                }
                f
            })
            .collect();
        let mut manifest = json!({
            "format": "kizuna-export/1",
            "subject": self.subject,
            "tenant": self.tenant,
            "generatedAt": self.generated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "files": files,
            "notes": [
                "Text files are UTF-8. JSON files are arrays of records unless said otherwise; record fields are those of Kizuna's consent records (snake_case, RFC 3339 times in UTC).",
                "entities.jsonld is JSON-LD: its @context is the NGSI-LD core context, so short names expand to the IRIs Kizuna stores.",
                "CSV files follow RFC 4180: a header row, comma-separated, fields with commas, quotes or line breaks quoted.",
                "Only personal data whose one known data subject is you is included; data about several people is not.",
                "Producing this package was itself recorded in your access log (action export).",
            ],
        });
        // A guardian's export for a ward names the guardian and the guardianship.
        if let (Some(o), Some(acting)) = (manifest.as_object_mut(), self.acting) {
            o.insert("requestedBy".into(), acting);
        }
        let entities = json!({
            "@context": CORE_CONTEXT_URL,
            "entities": self.entities.iter().map(|e| mine::render(e, &ctx)).collect::<Vec<_>>(),
            "temporalEntities": self.histories.iter().map(|te| mine::render_history(te, &ctx)).collect::<Vec<_>>(),
        });
        let entities_csv = entities_csv(&self.entities, &self.histories, &ctx)?;
        let access_csv = access_log_csv(&self.access_log)?;
        let fhir = fhir_bundle(&self.fhir, &self.fhir_base, &self.generated_at);

        let when = &self.generated_at;
        let stamp = zip::DateTime::from_date_and_time(
            u16::try_from(when.year()).unwrap_or(1980),
            when.month() as u8,
            when.day() as u8,
            when.hour() as u8,
            when.minute() as u8,
            when.second() as u8,
        )
        .unwrap_or_default();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(stamp);
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).map_err(|e| internal(e.to_string()));
        let contents: Vec<(&str, Vec<u8>)> = vec![
            ("manifest.json", pretty(&manifest)?),
            ("entities.jsonld", pretty(&entities)?),
            ("entities.csv", entities_csv),
            ("consents.json", pretty(&to_value(&self.consents)?)?),
            ("delegations.json", pretty(&to_value(&self.delegations)?)?),
            ("usage-stops.json", pretty(&to_value(&self.usage_stops)?)?),
            ("provisions.json", pretty(&Value::Array(self.provisions))?),
            ("access-log.json", pretty(&Value::Array(self.access_log))?),
            ("access-log.csv", access_csv),
            ("fhir.json", pretty(&fhir)?),
        ];
        debug_assert_eq!(contents.len(), FILES.len());
        for (name, bytes) in contents {
            w.start_file(name, options).map_err(|e| internal(format!("zip: {e}")))?;
            w.write_all(&bytes).map_err(|e| internal(format!("zip: {e}")))?;
        }
        let cursor = w.finish().map_err(|e| internal(format!("zip: {e}")))?;
        Ok(cursor.into_inner())
    }
}

/// `fhir.json`: a FHIR R4 Bundle of type `collection` with one entry per resource
/// (`fullUrl` = `<base>/<Type>/<id>`, so the references between them resolve), in the
/// store's order (type, id); without `entry` when there are none (FHIR JSON has no
/// empty arrays). A collection carries no `total` (bdl-1).
pub(crate) fn fhir_bundle(records: &[FhirRecord], base: &str, at: &chrono::DateTime<Utc>) -> Value {
    let entries: Vec<Value> = records
        .iter()
        .filter_map(|r| {
            let resource = r.resource.clone()?;
            Some(json!({"fullUrl": format!("{base}/{}/{}", r.rtype, r.id), "resource": resource}))
        })
        .collect();
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"lastUpdated": at},
        "type": "collection",
        "timestamp": at,
    });
    // FHIR JSON has no empty arrays: no resources, no `entry`.
    if let (Some(o), false) = (bundle.as_object_mut(), entries.is_empty()) {
        o.insert("entry".into(), Value::Array(entries));
    }
    bundle
}

/// `entities.csv`: one row per attribute instance of the current entities (`source`
/// `current`) and of their histories (`history`).
pub(crate) fn entities_csv(
    entities: &[Entity],
    histories: &[TemporalEntity],
    ctx: &Context,
) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| internal(format!("csv: {e}"));
    w.write_record([
        "entityId",
        "entityType",
        "attribute",
        "datasetId",
        "observedAt",
        "value",
        "kind",
        "source",
        "instanceId",
    ])
    .map_err(err)?;
    let rows = entities.iter().map(|e| (e, "current")).chain(histories.iter().map(|te| (&te.entity, "history")));
    for (e, source) in rows {
        let types = e.types.iter().map(|t| ctx.compact(t)).collect::<Vec<_>>().join(",");
        for (name, instances) in &e.attrs {
            let attr = ctx.compact(name);
            for a in instances {
                let value = serde_json::to_string(&a.value).map_err(|e| internal(e.to_string()))?;
                w.write_record([
                    e.id.as_str(),
                    types.as_str(),
                    attr.as_str(),
                    a.dataset_id.as_deref().unwrap_or(""),
                    a.observed_at.as_deref().unwrap_or(""),
                    value.as_str(),
                    a.kind.name(),
                    source,
                    a.instance_id.as_deref().unwrap_or(""),
                ])
                .map_err(err)?;
            }
        }
    }
    w.into_inner().map_err(|e| internal(format!("csv: {e}")))
}

/// `access-log.csv`: the access log views ([`access_view`]) as rows.
pub(crate) fn access_log_csv(records: &[Value]) -> Result<Vec<u8>, ApiError> {
    const COLUMNS: &[&str] =
        &["seq", "at", "actor", "actor_name", "role", "action", "resource", "purpose", "allowed", "basis", "reason"];
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| internal(format!("csv: {e}"));
    w.write_record(COLUMNS).map_err(err)?;
    for r in records {
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|c| match r.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            })
            .collect();
        w.write_record(&row).map_err(err)?;
    }
    w.into_inner().map_err(|e| internal(format!("csv: {e}")))
}
