//! The temporal API under `/temporal/entities` (ETSI GS CIM 009 §5.6.11–§5.6.16,
//! §5.7.3, §5.7.4): every change made through the entity API is recorded as history by
//! the store; these operations add, read, aggregate and delete that history.
//!
//! Pagination of long histories: at most [`INSTANCE_LIMIT`] instances per attribute are
//! returned; when more exist the answer is `206 Partial Content` with
//! `Content-Range: date-time <first>-<last>/*` naming the returned time range, and the
//! client asks for the rest with `timerel=after&timeAt=<last>`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use kizuna_ngsild::entity::{
    now_timestamp, parse_attribute_fragment, parse_entity, parse_temporal_attributes, render_attribute,
    validate_attr_name, Format, RenderOptions,
};
use kizuna_ngsild::{AttrKind, Attribute, Context, NgsiError};
use kizuna_store::{EntityQuery, TemporalEntity, TemporalFilter, TimeProperty, TimeRel};
use serde_json::{json, Map, Value};

use super::entity::{not_found, split_names};
use super::query::{parse_common_query, RESULTS_COUNT, SELECTION_PARAMS};
use super::{body_bytes, path_id};
use crate::error::{bad_data, ApiError};
use crate::request::{allow_params, bool_param, param, query_pairs, Ngsi};
use crate::ApiState;

/// Most instances per attribute in one answer.
pub(crate) const INSTANCE_LIMIT: usize = 1000;

const AGGR_METHODS: &[&str] = &["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"];

/// Time parameters and representation options of a temporal read.
struct TemporalParams {
    filter: TemporalFilter,
    temporal_values: bool,
    aggregate: Option<(Vec<String>, Option<i64>)>,
    sys_attrs: bool,
    lang: Option<String>,
    window_start: Option<i64>,
}

fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(v)
        .map(|d| d.timestamp_millis())
        .map_err(|_| bad_data(format!("{name} '{v}' is not an RFC 3339 date-time")))
}

/// Parses an ISO 8601 duration (`PT1H`, `P1D`, `P1Y2M`) to milliseconds; years count 365
/// days and months 30 days.
pub fn parse_duration_ms(s: &str) -> Result<i64, ApiError> {
    let bad = || bad_data(format!("'{s}' is not an ISO 8601 duration such as PT1H or P1D"));
    let rest = s.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: f64 = 0.0;
    let mut any = false;
    let mut eat = |part: &str, units: &[(char, f64)]| -> Result<(), ApiError> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c).map(|(_, f)| *f).ok_or_else(bad)?;
                let n: f64 = num.parse().map_err(|_| bad())?;
                total += n * factor;
                num.clear();
                any = true;
            }
        }
        if num.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    const DAY: f64 = 86_400_000.0;
    eat(date, &[('Y', 365.0 * DAY), ('M', 30.0 * DAY), ('W', 7.0 * DAY), ('D', DAY)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return Err(bad());
        }
        eat(t, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    }
    if !any {
        return Err(bad());
    }
    Ok(total.round() as i64)
}

fn temporal_params(pairs: &[(String, String)], ctx: &Context) -> Result<TemporalParams, ApiError> {
    let timeproperty = match param(pairs, "timeproperty") {
        None | Some("observedAt") => TimeProperty::ObservedAt,
        Some("createdAt") => TimeProperty::CreatedAt,
        Some("modifiedAt") => TimeProperty::ModifiedAt,
        Some(o) => {
            return Err(bad_data(format!("timeproperty must be observedAt, createdAt or modifiedAt, not '{o}'")))
        }
    };
    let time_at = param(pairs, "timeAt").map(|v| parse_time("timeAt", v)).transpose()?;
    let end_at = param(pairs, "endTimeAt").map(|v| parse_time("endTimeAt", v)).transpose()?;
    let timerel = match param(pairs, "timerel") {
        None => {
            if time_at.is_some() || end_at.is_some() {
                return Err(bad_data("timeAt and endTimeAt need timerel"));
            }
            None
        }
        Some(rel) => {
            let at = time_at.ok_or_else(|| bad_data("timerel needs timeAt"))?;
            Some(match rel {
                "before" => TimeRel::Before(at),
                "after" => TimeRel::After(at),
                "between" => {
                    let end = end_at.ok_or_else(|| bad_data("timerel=between needs endTimeAt"))?;
                    if end <= at {
                        return Err(bad_data("endTimeAt must be later than timeAt"));
                    }
                    TimeRel::Between(at, end)
                }
                other => return Err(bad_data(format!("timerel must be before, after or between, not '{other}'"))),
            })
        }
    };
    let last_n = match param(pairs, "lastN") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad_data(format!("lastN must be a positive integer, not '{v}'"))),
        },
    };
    let mut temporal_values = false;
    let mut aggregated = false;
    let mut sys_attrs = false;
    for (k, v) in pairs {
        if k == "options" || k == "format" {
            for o in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match o {
                    "temporalValues" | "simplified" | "keyValues" => temporal_values = true,
                    "aggregatedValues" => aggregated = true,
                    "sysAttrs" => sys_attrs = true,
                    "normalized" => {}
                    other => return Err(bad_data(format!("unknown value '{other}' in options"))),
                }
            }
        }
    }
    let aggregate = if aggregated {
        let methods: Vec<String> = param(pairs, "aggrMethods")
            .ok_or_else(|| bad_data("options=aggregatedValues needs aggrMethods"))?
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        for m in &methods {
            if !AGGR_METHODS.contains(&m.as_str()) {
                return Err(bad_data(format!(
                    "unknown aggregation method '{m}'; use one of {}",
                    AGGR_METHODS.join(", ")
                )));
            }
        }
        let period = match param(pairs, "aggrPeriodDuration") {
            None | Some("P0D") | Some("PT0S") => None,
            Some(d) => Some(parse_duration_ms(d)?),
        };
        Some((methods, period))
    } else {
        None
    };
    let attrs = param(pairs, "attrs").map(|a| split_names(a, ctx)).transpose()?.unwrap_or_default();
    let window_start = match timerel {
        Some(TimeRel::After(t)) | Some(TimeRel::Between(t, _)) => Some(t),
        _ => None,
    };
    Ok(TemporalParams {
        // Aggregates cover the whole window (their answer is small); instances are paged.
        filter: TemporalFilter {
            attrs,
            timeproperty,
            timerel,
            last_n,
            instance_limit: if aggregate.is_some() { 0 } else { INSTANCE_LIMIT },
            decision_attrs: Vec::new(),
        },
        temporal_values,
        aggregate,
        sys_attrs,
        lang: param(pairs, "lang").map(str::to_string),
        window_start,
    })
}

fn ms_to_ts(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The timestamp of an instance for `tp`, in ms.
fn instance_ms(a: &Attribute, tp: TimeProperty) -> Option<i64> {
    let ts = match tp {
        TimeProperty::ObservedAt => a.observed_at.as_deref(),
        TimeProperty::CreatedAt => a.created_at.as_deref().or(a.modified_at.as_deref()),
        TimeProperty::ModifiedAt => a.modified_at.as_deref(),
    }?;
    DateTime::parse_from_rfc3339(ts).ok().map(|d| d.timestamp_millis())
}

fn instance_ts(a: &Attribute, tp: TimeProperty) -> Value {
    instance_ms(a, tp).map(|m| Value::String(ms_to_ts(m))).unwrap_or(Value::Null)
}

/// Renders a temporal entity in the representation asked for.
fn render_temporal(te: &TemporalEntity, p: &TemporalParams, ctx: &Context) -> Value {
    let e = &te.entity;
    let mut out = Map::new();
    out.insert("id".into(), Value::String(e.id.clone()));
    let types: Vec<Value> = e.types.iter().map(|t| Value::String(ctx.compact(t))).collect();
    out.insert("type".into(), if types.len() == 1 { types[0].clone() } else { Value::Array(types) });
    let ro = RenderOptions { format: Format::Normalized, sys_attrs: p.sys_attrs, attrs: None, lang: p.lang.as_deref() };
    let tp = p.filter.timeproperty;
    for (name, instances) in &e.attrs {
        let key = ctx.compact(name);
        let kind = instances.first().map(|a| a.kind).unwrap_or(AttrKind::Property);
        let value = if let Some((methods, period)) = &p.aggregate {
            aggregate(instances, kind, methods, *period, tp, p.window_start)
        } else if p.temporal_values {
            let member = match kind {
                AttrKind::Relationship => "objects",
                AttrKind::LanguageProperty => "languageMaps",
                _ => "values",
            };
            let pairs: Vec<Value> = instances.iter().map(|a| json!([a.value.clone(), instance_ts(a, tp)])).collect();
            json!({"type": kind.name(), member: pairs})
        } else {
            Value::Array(instances.iter().map(|a| render_attribute(a, &ro, ctx)).collect())
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

/// Aggregates instances per period (`aggrPeriodDuration`; `None`: one period for all).
fn aggregate(
    instances: &[Attribute],
    kind: AttrKind,
    methods: &[String],
    period: Option<i64>,
    tp: TimeProperty,
    start: Option<i64>,
) -> Value {
    let timed: Vec<(i64, &Attribute)> = instances.iter().filter_map(|a| instance_ms(a, tp).map(|t| (t, a))).collect();
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind.name().into()));
    if timed.is_empty() {
        for m in methods {
            out.insert(m.clone(), Value::Array(Vec::new()));
        }
        return Value::Object(out);
    }
    let first = start.unwrap_or(timed[0].0);
    let last = timed.iter().map(|(t, _)| *t).max().unwrap_or(first);
    let mut buckets: Vec<(i64, i64, Vec<&Attribute>)> = Vec::new();
    match period {
        None => buckets.push((first, last, timed.iter().map(|(_, a)| *a).collect())),
        Some(len) => {
            for (t, a) in &timed {
                let idx = (t - first).div_euclid(len.max(1));
                let b_start = first + idx * len;
                match buckets.iter_mut().find(|b| b.0 == b_start) {
                    Some(b) => b.2.push(a),
                    None => buckets.push((b_start, b_start + len, vec![a])),
                }
            }
            buckets.sort_by_key(|b| b.0);
        }
    }
    for m in methods {
        let series: Vec<Value> =
            buckets.iter().map(|(s, e, items)| json!([aggregate_one(m, items), ms_to_ts(*s), ms_to_ts(*e)])).collect();
        out.insert(m.clone(), Value::Array(series));
    }
    Value::Object(out)
}

fn aggregate_one(method: &str, items: &[&Attribute]) -> Value {
    let nums: Vec<f64> = items.iter().filter_map(|a| a.value.as_f64()).collect();
    let n = nums.len() as f64;
    match method {
        "totalCount" => json!(items.len()),
        "distinctCount" => {
            let mut seen: Vec<&Value> = Vec::new();
            for a in items {
                if !seen.contains(&&a.value) {
                    seen.push(&a.value);
                }
            }
            json!(seen.len())
        }
        _ if nums.is_empty() => Value::Null,
        "sum" => json!(nums.iter().sum::<f64>()),
        "avg" => json!(nums.iter().sum::<f64>() / n),
        "min" => json!(nums.iter().copied().fold(f64::INFINITY, f64::min)),
        "max" => json!(nums.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        "sumsq" => json!(nums.iter().map(|x| x * x).sum::<f64>()),
        "stddev" => {
            let mean = nums.iter().sum::<f64>() / n;
            json!((nums.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
        }
        _ => Value::Null,
    }
}

/// Adds `Content-Range` and 206 when some attribute's history was cut at the limit.
fn with_range(mut resp: Response, truncated: &[kizuna_store::Truncation], first_ms: Option<i64>) -> Response {
    if let Some(last) = truncated.iter().map(|t| t.last_returned_ms).min() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let start = first_ms.map(ms_to_ts).unwrap_or_else(|| "*".into());
        if let Ok(v) = HeaderValue::from_str(&format!("date-time {start}-{}/*", ms_to_ts(last))) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

fn first_instance_ms(te: &TemporalEntity, tp: TimeProperty) -> Option<i64> {
    te.entity.attrs.values().flatten().filter_map(|a| instance_ms(a, tp)).min()
}

/// `GET /ngsi-ld/v1/temporal/entities/{id}` — §5.7.3: an entity's temporal evolution,
/// with `attrs`, `timerel`/`timeAt`/`endTimeAt`, `timeproperty`, `lastN`,
/// `options=temporalValues|aggregatedValues` (`aggrMethods`, `aggrPeriodDuration`).
pub(crate) async fn retrieve(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(
        &pairs,
        &[
            "attrs",
            "timerel",
            "timeAt",
            "endTimeAt",
            "timeproperty",
            "lastN",
            "options",
            "format",
            "aggrMethods",
            "aggrPeriodDuration",
            "lang",
        ],
    )?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let p = temporal_params(&pairs, &ctx)?;
    let tenant = req.tenant.clone();
    let mut filter = p.filter.clone();
    filter.decision_attrs = req.access.subject_relationships();
    let lookup = id.clone();
    let stored = st.read(move |s| s.temporal_entity(&tenant, &lookup, &filter)).await?;
    // A withheld entity answers exactly like a missing one (see `access`).
    let te = match stored {
        Some(mut te) => {
            let v = req.access.decide(te.decision_view(), chrono::Utc::now());
            crate::access::record(&st, &req.tenant, v.audit.into_iter().collect(), v.provision.into_iter().collect())
                .await?;
            match v.released {
                Some(e) => {
                    te.restrict_to(&e);
                    te
                }
                None => return Err(not_found(&id)),
            }
        }
        None => return Err(not_found(&id)),
    };
    let resp = req.respond(StatusCode::OK, render_temporal(&te, &p, &ctx));
    Ok(with_range(resp, &te.truncated, first_instance_ms(&te, p.filter.timeproperty)))
}

/// `GET /ngsi-ld/v1/temporal/entities` — §5.7.4: the temporal evolution of the entities
/// selected by `type`/`id`/`idPattern`/`attrs`/`q`/geo-query, paged by entity.
/// `q` and the geo-query hold for an entity when some instances in the window satisfy them.
pub(crate) async fn query(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(
        &pairs,
        &[
            SELECTION_PARAMS,
            &["timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods", "aggrPeriodDuration"],
        ]
        .concat(),
    )?;
    let ctx = req.context(&st).await?;
    let q: EntityQuery = parse_common_query(&st, &pairs, &ctx)?;
    let p = temporal_params(&pairs, &ctx)?;
    if q.limit > st.config.max_limit {
        return Err(ApiError::Ngsi(NgsiError::new(
            kizuna_ngsild::ErrorKind::TooManyResults,
            format!("limit {} is above the maximum page size {}", q.limit, st.config.max_limit),
        )));
    }
    req.require_tenant(&st)?;
    let tenant = req.tenant.clone();
    let mut filter = p.filter.clone();
    filter.decision_attrs = req.access.subject_relationships();
    let ledger = crate::access::Ledger::default();
    let mut q = q;
    q.gate = Some(req.access.gate(&q, &ledger));
    let (page, total) = st.read(move |s| s.temporal_query(&tenant, &q, &filter)).await?;
    let (audits, provisions) = ledger.settle(page.iter().map(|te| te.entity.id.as_str()));
    crate::access::record(&st, &req.tenant, audits, provisions).await?;
    let body: Vec<Value> = page.iter().map(|te| render_temporal(te, &p, &ctx)).collect();
    let truncated: Vec<kizuna_store::Truncation> = page.iter().flat_map(|te| te.truncated.clone()).collect();
    let first = page.iter().filter_map(|te| first_instance_ms(te, p.filter.timeproperty)).min();
    let mut resp = with_range(req.respond(StatusCode::OK, Value::Array(body)), &truncated, first);
    if let Some(total) = total {
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            resp.headers_mut().insert(RESULTS_COUNT, v);
        }
    }
    Ok(resp)
}

/// Stamps temporal instances: recording time now, unless the client gave none at all.
fn stamp_instances(attrs: &mut [(String, Attribute)], now: &str) {
    for (_, a) in attrs.iter_mut() {
        a.created_at = None;
        a.stamp(now);
    }
}

/// `POST /ngsi-ld/v1/temporal/entities` — §5.6.11: creates a temporal entity (201) or
/// adds the given instances to an existing one (204).
pub(crate) async fn create(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    // Validate id and type with the entity parser (attributes are parsed as temporal).
    let mut head = Map::new();
    for k in ["id", "type"] {
        if let Some(v) = json.get(k) {
            head.insert(k.into(), v.clone());
        }
    }
    let shell = parse_entity(&Value::Object(head), &ctx)?;
    let mut attrs = parse_temporal_attributes(&json, &ctx)?;
    stamp_instances(&mut attrs, &now_timestamp());
    let id = shell.id.clone();
    let created = st
        .write(&req, move |tx| {
            let existed = tx.temporal_types(&shell.id)?.is_some();
            tx.append_history(&shell.id, &shell.types, &attrs)?;
            Ok(!existed)
        })
        .await?;
    if created {
        let mut resp = StatusCode::CREATED.into_response();
        if let Some(v) = super::location("/ngsi-ld/v1/temporal/entities/", &id) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

/// `POST /ngsi-ld/v1/temporal/entities/{id}/attrs` — §5.6.12: adds attribute instances.
pub(crate) async fn append(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    let mut attrs = parse_temporal_attributes(&json, &ctx)?;
    if attrs.is_empty() {
        return Err(bad_data("the body holds no attribute instances"));
    }
    stamp_instances(&mut attrs, &now_timestamp());
    st.write(&req, move |tx| {
        let types = tx.temporal_types(&id)?.ok_or_else(|| not_found(&id))?;
        tx.append_history(&id, &types, &attrs)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/temporal/entities/{id}` — §5.6.16: deletes the entity's history.
pub(crate) async fn delete(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    st.write(&req, move |tx| if tx.delete_history(&id)? { Ok(()) } else { Err(not_found(&id)) }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/temporal/entities/{id}/attrs/{attrId}` — §5.6.13: deletes an
/// attribute's instances (`datasetId`, or all with `deleteAll=true`).
pub(crate) async fn delete_attr(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["datasetId", "deleteAll"])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    req.require_tenant(&st)?;
    let all = bool_param(&pairs, "deleteAll")?;
    let dataset = param(&pairs, "datasetId").map(str::to_string);
    let ctx = req.context(&st).await?;
    let name = ctx.expand(&attr);
    st.write(&req, move |tx| {
        tx.temporal_types(&id)?.ok_or_else(|| not_found(&id))?;
        let n = tx.delete_attr_history(&id, &name, dataset.as_deref(), all)?;
        if n == 0 {
            return Err(ApiError::Ngsi(NgsiError::not_found(format!(
                "entity '{id}' has no history of attribute '{attr}'"
            ))));
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /ngsi-ld/v1/temporal/entities/{id}/attrs/{attrId}/{instanceId}` — §5.6.14.
pub(crate) async fn patch_instance(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr, instance)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, true).await?;
    let name = ctx.expand(&attr);
    let tenant = req.tenant.clone();
    let f = TemporalFilter { attrs: vec![name.clone()], ..Default::default() };
    let lookup = id.clone();
    let te = st.read(move |s| s.temporal_entity(&tenant, &lookup, &f)).await?.ok_or_else(|| not_found(&id))?;
    let missing = || ApiError::Ngsi(NgsiError::not_found(format!("attribute '{attr}' has no instance '{instance}'")));
    let current = te
        .entity
        .attrs
        .get(&name)
        .and_then(|is| is.iter().find(|a| a.instance_id.as_deref() == Some(instance.as_str())))
        .cloned()
        .ok_or_else(missing)?;
    let fragment = parse_attribute_fragment(&attr, &json, current.kind, &ctx)?;
    let mut updated = current.clone();
    if !fragment.value.is_null() {
        updated.kind = fragment.kind;
        updated.value = fragment.value;
    }
    if fragment.observed_at.is_some() {
        updated.observed_at = fragment.observed_at;
    }
    if fragment.unit_code.is_some() {
        updated.unit_code = fragment.unit_code;
    }
    updated.sub.extend(fragment.sub);
    updated.modified_at = Some(now_timestamp());
    let ok = st.write(&req, move |tx| Ok(tx.replace_instance(&id, &name, &instance, &updated)?)).await?;
    if !ok {
        return Err(bad_data("the instance changed while being updated; try again"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/temporal/entities/{id}/attrs/{attrId}/{instanceId}` — §5.6.15.
pub(crate) async fn delete_instance(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr, instance)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let name = ctx.expand(&attr);
    st.write(&req, move |tx| {
        if tx.delete_instance(&id, &name, &instance)? {
            Ok(())
        } else {
            Err(ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' has no instance '{instance}' of '{attr}'"))))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /kizuna/v1/retention` — Kizuna's own admin API: the tenant's retention settings.
pub(crate) async fn list_retention(State(st): State<ApiState>, req: Ngsi) -> Result<Response, ApiError> {
    let ctx = req.context(&st).await?;
    let tenant = req.tenant.clone();
    let rows = st.read(move |s| s.retention(&tenant)).await?;
    let body: Vec<Value> = rows
        .iter()
        .map(|(t, secs)| json!({"entityType": ctx.compact(t), "keepSeconds": secs, "keep": format!("PT{secs}S")}))
        .collect();
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Value::Array(body).to_string()).into_response())
}

/// `PUT /kizuna/v1/retention/{type}` with `{"keep": "P30D"}` — history of entities of
/// that type older than the duration is purged in the background.
pub(crate) async fn set_retention(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(ty): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    validate_attr_name(&ty)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    let keep = json
        .get("keep")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_data("the body needs \"keep\": an ISO 8601 duration"))?;
    let ms = parse_duration_ms(keep)?;
    let iri = ctx.expand(&ty);
    st.write(&req, move |tx| Ok(tx.set_retention(&iri, Some((ms / 1000).max(1) as u64))?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /kizuna/v1/retention/{type}` — keep that type's history indefinitely again.
pub(crate) async fn delete_retention(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(ty): Path<String>,
) -> Result<Response, ApiError> {
    validate_attr_name(&ty)?;
    let ctx = req.context(&st).await?;
    let iri = ctx.expand(&ty);
    st.write(&req, move |tx| Ok(tx.set_retention(&iri, None)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("PT1H").ok(), Some(3_600_000));
        assert_eq!(parse_duration_ms("P1D").ok(), Some(86_400_000));
        assert_eq!(parse_duration_ms("P1DT30M").ok(), Some(86_400_000 + 1_800_000));
        assert_eq!(parse_duration_ms("PT0.5S").ok(), Some(500));
        for bad in ["", "P", "PT", "1D", "P1X", "PT1"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
