//! CAP 1.2 alerts over HTTP: [`alerts_router`], to be nested at `/alerts/v1`.
//!
//! ```no_run
//! # fn app(state: kizuna_api_ngsild::ApiState) -> axum::Router {
//! axum::Router::new()
//!     .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
//!     .nest("/alerts/v1", kizuna_api_alerts::alerts_router(state))
//! # }
//! ```
//!
//! # Endpoints
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /alerts` | tenant admin | issue, update (msgType Update) or cancel (msgType Cancel) an alert: CAP 1.2 XML (`application/cap+xml`, `application/xml`), the CAP JSON form, or the Japanese shorthand ([`issue`]); 201 + `Location` + summary; 400 listing every problem with its element path, nothing stored; 409 duplicate identifier |
//! | `GET /alerts?active=true\|false` | public | summaries, newest first |
//! | `GET /alerts/{identifier}` | public | `Accept: application/cap+xml` / `application/xml`: the CAP XML; else the summary with the chain (`references`, `supersededBy`) |
//! | `GET /feed.atom` | public | Atom 1.0 feed of the tenant's CAP messages ([`atom`]) |
//! | `GET /active.geojson` | public | FeatureCollection: active alerts (geometry = `location`) and open shelters |
//! | `GET /here?lat=&lon=` | public | active alerts whose area contains the point, most severe first, and the 5 nearest open shelters with free capacity |
//! | `POST/GET /media`, `GET/DELETE /media/{id}`, `GET /alerts/{identifier}/receipts` | tenant admin | media registration and per-alert delivery receipts ([`media`]) |
//! | `POST /shelters/{id}/open`, `POST /shelters/{id}/close` | tenant admin | 避難所開設 / 閉鎖: issue the alert for the shelter, then set its `isOpen` ([`shelters`]) |
//! | `GET /stream` | public | Server-Sent Events: `event: alert` with the summary per issued/updated/cancelled message; keep-alive comments every 15 s |
//!
//! The tenant is the `NGSILD-Tenant` header or the credentials' tenant (the `Access` of
//! `kizuna-api-ngsild`). The public endpoints also accept `?tenant=` (a browser's
//! `EventSource` and feed readers cannot set headers), need no credentials even without
//! `--dev-open-access`, and do not pass the NGSI-LD consent gate: alerts and shelters are
//! public information.
//!
//! Every message is stored as an NGSI-LD entity of the tenant ([`entity`] documents the
//! exact shape), so subscriptions, geo-queries and the temporal API see it. An Update or
//! Cancel sets `active` false on the messages it references; a Cancel is stored inactive;
//! expiry is recomputed on every read of this API (the stored flag is not rewritten when an
//! alert merely expires).
//!
//! Shelters are the tenant's `PointOfInterest` entities (Smart Data Models) whose `category`
//! contains `shelter`, open when `https://kizuna.example/ns/isOpen` is true, with
//! `.../capacity` and `.../occupancy`.
//!
//! # Layout
//! - `entity.rs`: the entity contract and the JSON summary;
//! - `geo.rs`: CAP areas as GeoJSON, point-in-area (geocode-only areas: the coded area's
//!   boundary, or 3 km around its point when it has none);
//! - `issue.rs`: reading a request to issue (XML, CAP JSON, shorthand);
//! - `atom.rs`: the Atom feed;
//! - `map.rs`: the public map page and its layers (municipal boundaries, shelters);
//! - `basemap.rs`: the map's base layer (roads, rivers, water…) from the site's file;
//! - `media.rs`: media registration and receipts over HTTP;
//! - `shelters.rs`: opening and closing a shelter, which issues its alert.

pub mod atom;
pub mod basemap;
pub mod entity;
pub mod geo;
pub mod issue;
mod map;
pub mod media;
pub mod shelters;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_cap::{Alert, MsgType, Point};
use kizuna_ngsild::entity::now_timestamp;
use kizuna_ngsild::{Attribute, Entity, ErrorKind, NgsiError};
use kizuna_store::{EntityQuery, TypeSelector};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::entity::{attr, entity_id, iri, severity_rank, Derived, Stored, ALERT_TYPE, LOCATION};

/// Where the router is nested (for links in the feed and `Location`).
pub const MOUNT: &str = "/alerts/v1";
/// Largest request body (a CAP message).
const MAX_BODY: usize = 1024 * 1024;
/// Page size when reading all alerts or shelters of a tenant.
const PAGE: usize = 1000;
/// How many shelters `/here` answers.
const NEAREST_SHELTERS: usize = 5;
/// The keep-alive interval of the SSE stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The Smart Data Models PointOfInterest type and the shelter attributes.
pub const POI_TYPE: &str = "https://smartdatamodels.org/dataModel.PointOfInterest/PointOfInterest";
pub const POI_CATEGORY: &str = "https://smartdatamodels.org/dataModel.PointOfInterest/category";
pub const IS_OPEN: &str = "https://kizuna.example/ns/isOpen";
pub const CAPACITY: &str = "https://kizuna.example/ns/capacity";
pub const OCCUPANCY: &str = "https://kizuna.example/ns/occupancy";
pub const NAME: &str = "https://smartdatamodels.org/name";

/// The router's state: the API state and the SSE channels (one per tenant, per router).
#[derive(Clone)]
pub struct AlertsState {
    api: ApiState,
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<String>>>>,
    basemap: Option<Arc<basemap::Basemap>>,
}

impl FromRef<AlertsState> for ApiState {
    fn from_ref(s: &AlertsState) -> ApiState {
        s.api.clone()
    }
}

impl AlertsState {
    /// The API state.
    pub(crate) fn api(&self) -> &ApiState {
        &self.api
    }

    /// The public map's base layer, if the site has one.
    pub(crate) fn basemap(&self) -> Option<&basemap::Basemap> {
        self.basemap.as_deref()
    }

    fn channel(&self, tenant: &str) -> broadcast::Sender<String> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(tenant.to_string()).or_insert_with(|| broadcast::channel(256).0).clone()
    }
}

/// The alerts API, to be nested at `/alerts/v1` (see the crate documentation), without a base
/// map.
pub fn alerts_router(state: ApiState) -> Router {
    alerts_router_with(state, None)
}

/// The alerts API with the public map's base layer ([`basemap`]).
pub fn alerts_router_with(state: ApiState, basemap: Option<basemap::Basemap>) -> Router {
    let state = AlertsState { api: state, channels: Arc::default(), basemap: basemap.map(Arc::new) };
    Router::new()
        .route("/alerts", get(list).post(issue_alert))
        .route("/alerts/{identifier}", get(one))
        .route("/feed.atom", get(feed))
        .route("/active.geojson", get(active_geojson))
        .route("/here", get(here))
        .route("/stream", get(stream))
        .route("/media", get(media::list).post(media::register))
        .route("/media/{id}", get(media::one).delete(media::remove))
        .route("/alerts/{identifier}/receipts", get(media::receipts))
        .merge(map::routes())
        .route("/shelters/{id}/open", axum::routing::post(shelters::open))
        .route("/shelters/{id}/close", axum::routing::post(shelters::close))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}

/// The authenticated caller (credentials optional) and the tenant.
struct Caller {
    access: Access,
    tenant: String,
}

impl FromRequestParts<AlertsState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AlertsState) -> Result<Caller, ApiError> {
        let header_tenant = kizuna_api_ngsild::header_tenant(&parts.headers)?;
        let (access, tenant) = Access::establish(&st.api, &parts.headers, header_tenant.as_deref()).await?;
        Ok(Caller { access, tenant })
    }
}

/// The tenant of a public request: `?tenant=`, else as [`Caller`].
struct PublicTenant(String);

impl FromRequestParts<AlertsState> for PublicTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AlertsState) -> Result<Self, ApiError> {
        let q: Query<HashMap<String, String>> =
            Query::try_from_uri(&parts.uri).map_err(|e| bad(format!("the query string is not valid: {e}")))?;
        if let Some(t) = q.get("tenant") {
            kizuna_api_ngsild::validate_tenant(t)?;
            return Ok(PublicTenant(t.clone()));
        }
        Ok(PublicTenant(Caller::from_request_parts(parts, st).await?.tenant))
    }
}

/// Every entity of `type_iri` in `tenant`, read directly from the store (no consent gate).
async fn all_of_type(st: &ApiState, tenant: &str, type_iri: &str) -> Result<Vec<Entity>, ApiError> {
    let (tenant, type_iri) = (tenant.to_string(), type_iri.to_string());
    st.read(move |s| {
        let mut out = Vec::new();
        loop {
            let q = EntityQuery {
                types: Some(TypeSelector(vec![vec![type_iri.clone()]])),
                limit: PAGE,
                offset: out.len(),
                ..Default::default()
            };
            let page = s.query(&tenant, &q)?.entities;
            let n = page.len();
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
        }
    })
    .await
}

/// The tenant's alerts, newest first.
async fn load(st: &ApiState, tenant: &str) -> Result<Vec<Stored>, ApiError> {
    let mut v: Vec<Stored> =
        all_of_type(st, tenant, ALERT_TYPE).await?.into_iter().filter_map(Stored::from_entity).collect();
    v.sort_by(|a, b| {
        b.alert.sent.datetime().cmp(&a.alert.sent.datetime()).then_with(|| b.alert.identifier.cmp(&a.alert.identifier))
    });
    Ok(v)
}

/// The alerts that may apply at `p`, found with the store's spatial index: those whose
/// `location` intersects the point (polygons, circles as polygons, coded boundaries) and those
/// within 3 km of the point of a coded area without a boundary (see [`geo`]). Only
/// candidates: `/here` then checks each exactly, as before.
async fn candidates_at(st: &ApiState, tenant: &str, p: Point) -> Result<Vec<Stored>, ApiError> {
    let point = format!("[{},{}]", p.lon, p.lat);
    // 1% more than the code-only radius: the index measures geodesic distance, `/here`
    // haversine; and it also catches points between a circle's arc and its 32-gon.
    let near = format!("near;maxDistance=={}", (geo::GEOCODE_RADIUS_M * 1.01).ceil());
    let queries = [
        kizuna_ngsild::geoquery::GeoQuery::from_params("intersects", "Point", &point, Some(LOCATION))?,
        kizuna_ngsild::geoquery::GeoQuery::from_params(&near, "Point", &point, Some(LOCATION))?,
    ];
    let tenant = tenant.to_string();
    let found = st
        .read(move |s| {
            let mut out: Vec<Entity> = Vec::new();
            for g in queries {
                let mut offset = 0;
                loop {
                    let q = EntityQuery {
                        types: Some(TypeSelector(vec![vec![ALERT_TYPE.to_string()]])),
                        geo: Some(g.clone()),
                        limit: PAGE,
                        offset,
                        ..Default::default()
                    };
                    let page = s.query(&tenant, &q)?.entities;
                    let n = page.len();
                    offset += n;
                    for e in page {
                        if !out.iter().any(|o| o.id == e.id) {
                            out.push(e);
                        }
                    }
                    if n < PAGE {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await?;
    Ok(found.into_iter().filter_map(Stored::from_entity).collect())
}

/// identifier → identifiers of the Updates and Cancels that reference it.
fn superseded(all: &[Stored]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for s in all.iter().rev() {
        if matches!(s.alert.msg_type, MsgType::Update | MsgType::Cancel) {
            for r in &s.derived.references {
                m.entry(r.clone()).or_default().push(s.alert.identifier.clone());
            }
        }
    }
    m
}

fn summaries<'a>(items: impl Iterator<Item = &'a Stored>, chain: &HashMap<String, Vec<String>>) -> Vec<Value> {
    let now = Utc::now();
    items.map(|s| s.summary(now, chain.get(&s.alert.identifier).map_or(&[][..], Vec::as_slice))).collect()
}

/// `POST /alerts`.
pub(crate) async fn issue_alert(
    State(st): State<AlertsState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.access.require_tenant_admin("issuing alerts")?;
    let c = &caller.access.request.caller;
    let tenant = caller.tenant.clone();
    let stored = load(&st.api, &tenant).await?;
    let known: HashMap<String, Alert> = stored.iter().map(|s| (s.alert.identifier.clone(), s.alert.clone())).collect();
    let default_sender = c
        .party
        .clone()
        .unwrap_or_else(|| format!("kizuna:{}", if tenant.is_empty() { "default" } else { tenant.as_str() }));
    let alert = issue::read_alert(&headers, &body, &known, &default_sender)?;
    let now = Utc::now();
    let derived = Derived::of(&alert);
    let active = entity::initially_active(&alert, &derived, now);
    let mut e = entity::to_entity(&alert, &derived, active)?;
    let stamp = now_timestamp();
    e.stamp_new(&stamp);
    let refs: Vec<String> = match alert.msg_type {
        MsgType::Update | MsgType::Cancel => derived.references.clone(),
        _ => Vec::new(),
    };
    let new = e.clone();
    let affected = st
        .api
        .write_unguarded(&tenant, move |tx| {
            if !tx.insert(&new)? {
                return Err(ApiError::Ngsi(NgsiError::new(
                    ErrorKind::AlreadyExists,
                    format!("an alert with identifier '{}' already exists", alert_identifier(&new)),
                )));
            }
            let mut affected = Vec::new();
            for r in refs {
                if let Some(mut old) = tx.get(&entity_id(&r))? {
                    let was = old.attrs.get(&iri("active")).and_then(|v| v.first()).cloned();
                    let mut a = Attribute::property(json!(false));
                    a.created_at = was.and_then(|w| w.created_at);
                    a.stamp(&stamp);
                    old.attrs.insert(iri("active"), vec![a]);
                    old.modified_at = Some(stamp.clone());
                    tx.update(&old)?;
                    affected.push(old);
                }
            }
            Ok(affected)
        })
        .await?;
    let identifier = alert.identifier.clone();
    let mine = Stored { entity: e, alert, derived };
    let summary = mine.summary(now, &[]);
    let tx = st.channel(&tenant);
    let _ = tx.send(summary.to_string());
    for old in affected.into_iter().filter_map(Stored::from_entity) {
        let _ = tx.send(old.summary(now, std::slice::from_ref(&identifier)).to_string());
    }
    let mut resp = (StatusCode::CREATED, Json(summary)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{MOUNT}/alerts/{}", entity::encode(&identifier))) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn alert_identifier(e: &Entity) -> String {
    attr(e, &iri("identifier")).and_then(Value::as_str).unwrap_or(&e.id).to_string()
}

/// `GET /alerts?active=`.
async fn list(
    State(st): State<AlertsState>,
    PublicTenant(tenant): PublicTenant,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let active = match q.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(bad(format!("active: '{other}' is not true or false"))),
    };
    let all = load(&st.api, &tenant).await?;
    let chain = superseded(&all);
    let now = Utc::now();
    let items = all.iter().filter(|s| active.is_none_or(|want| s.active_at(now) == want));
    Ok(Json(Value::Array(summaries(items, &chain))).into_response())
}

fn wants_xml(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/cap+xml") || a.contains("application/xml") || a.contains("text/xml"))
}

/// `GET /alerts/{identifier}`.
async fn one(
    State(st): State<AlertsState>,
    PublicTenant(tenant): PublicTenant,
    Path(identifier): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let all = load(&st.api, &tenant).await?;
    let Some(s) = all.iter().find(|s| s.alert.identifier == identifier) else {
        return Err(ApiError::Ngsi(NgsiError::not_found(format!("no alert '{identifier}'"))));
    };
    if wants_xml(&headers) {
        let xml = attr(&s.entity, &iri("capXml")).and_then(Value::as_str).unwrap_or_default().to_string();
        return Ok(([(header::CONTENT_TYPE, "application/cap+xml; charset=utf-8")], xml).into_response());
    }
    let chain = superseded(&all);
    Ok(Json(summaries(std::iter::once(s), &chain).pop().unwrap_or(Value::Null)).into_response())
}

/// The absolute URL of this API for links (`Host`, `X-Forwarded-Proto`).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    match host {
        Some(h) => format!("{proto}://{h}{MOUNT}"),
        None => MOUNT.to_string(),
    }
}

/// `GET /feed.atom`.
async fn feed(
    State(st): State<AlertsState>,
    PublicTenant(tenant): PublicTenant,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let all = load(&st.api, &tenant).await?;
    let body = atom::feed(&tenant, &base_url(&headers), &all, Utc::now());
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], body).into_response())
}

/// An open shelter.
struct Shelter {
    entity: Entity,
    point: Point,
    capacity: Option<f64>,
    occupancy: Option<f64>,
}

impl Shelter {
    fn free(&self) -> bool {
        self.capacity.is_some_and(|c| c > self.occupancy.unwrap_or(0.0))
    }

    fn properties(&self) -> Value {
        let name = attr(&self.entity, NAME).cloned();
        json!({
            "kind": "shelter",
            "id": self.entity.id,
            "name": name,
            "isOpen": true,
            "capacity": self.capacity,
            "occupancy": self.occupancy,
        })
    }
}

async fn open_shelters(st: &ApiState, tenant: &str) -> Result<Vec<Shelter>, ApiError> {
    let entities = all_of_type(st, tenant, POI_TYPE).await?;
    Ok(entities
        .into_iter()
        .filter_map(|e| {
            let is_shelter = match attr(&e, POI_CATEGORY) {
                Some(Value::Array(a)) => a.iter().any(|c| c == "shelter"),
                Some(Value::String(s)) => s == "shelter",
                _ => false,
            };
            let open = attr(&e, IS_OPEN).and_then(Value::as_bool) == Some(true);
            let coords = attr(&e, LOCATION).filter(|g| g["type"] == "Point").map(|g| g["coordinates"].clone())?;
            let point = Point::new(coords[1].as_f64()?, coords[0].as_f64()?);
            let capacity = attr(&e, CAPACITY).and_then(Value::as_f64);
            let occupancy = attr(&e, OCCUPANCY).and_then(Value::as_f64);
            (is_shelter && open).then_some(Shelter { entity: e, point, capacity, occupancy })
        })
        .collect())
}

fn alert_feature(s: &Stored) -> Option<Value> {
    let d = &s.derived;
    Some(json!({
        "type": "Feature",
        "id": s.entity.id,
        "geometry": d.location.clone()?,
        "properties": {
            "kind": "alert",
            "identifier": s.alert.identifier,
            "msgType": s.alert.msg_type.as_str(),
            "event": d.event,
            "headline": d.headline,
            "warningLevel": d.warning_level,
            "severity": d.severity.map(|x| x.as_str()),
            "expires": d.expires.map(|e| e.to_string()),
        }
    }))
}

/// `GET /active.geojson`.
async fn active_geojson(
    State(st): State<AlertsState>,
    PublicTenant(tenant): PublicTenant,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let alerts = load(&st.api, &tenant).await?;
    let mut features: Vec<Value> = alerts.iter().filter(|s| s.active_at(now)).filter_map(alert_feature).collect();
    for sh in open_shelters(&st.api, &tenant).await? {
        features.push(json!({
            "type": "Feature",
            "id": sh.entity.id,
            "geometry": {"type": "Point", "coordinates": [sh.point.lon, sh.point.lat]},
            "properties": sh.properties(),
        }));
    }
    let body = json!({"type": "FeatureCollection", "features": features});
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response())
}

fn coordinate(q: &HashMap<String, String>, name: &str, max: f64) -> Result<f64, ApiError> {
    let raw = q.get(name).ok_or_else(|| bad(format!("{name}: required")))?;
    let v: f64 = raw.trim().parse().map_err(|_| bad(format!("{name}: '{raw}' is not a number")))?;
    if !v.is_finite() || v.abs() > max {
        return Err(bad(format!("{name}: {v} is out of range -{max}..{max}")));
    }
    Ok(v)
}

/// `GET /here?lat=&lon=`.
async fn here(
    State(st): State<AlertsState>,
    PublicTenant(tenant): PublicTenant,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let p = Point::new(coordinate(&q, "lat", 90.0)?, coordinate(&q, "lon", 180.0)?);
    let now: DateTime<Utc> = Utc::now();
    let all = candidates_at(&st.api, &tenant, p).await?;
    // An active alert is superseded by nothing (an Update or Cancel deactivates it).
    let chain = HashMap::new();
    let mut hits: Vec<&Stored> = all.iter().filter(|s| s.active_at(now) && geo::alert_contains(&s.alert, p)).collect();
    hits.sort_by(|a, b| {
        let la = a.derived.warning_level.unwrap_or(f64::NEG_INFINITY);
        let lb = b.derived.warning_level.unwrap_or(f64::NEG_INFINITY);
        lb.total_cmp(&la)
            .then_with(|| severity_rank(b.derived.severity).cmp(&severity_rank(a.derived.severity)))
            .then_with(|| b.alert.sent.datetime().cmp(&a.alert.sent.datetime()))
    });
    let mut shelters: Vec<(f64, Shelter)> = open_shelters(&st.api, &tenant)
        .await?
        .into_iter()
        .filter(Shelter::free)
        .map(|s| (geo::haversine_m(p, s.point), s))
        .collect();
    shelters.sort_by(|a, b| a.0.total_cmp(&b.0));
    let shelters: Vec<Value> = shelters
        .into_iter()
        .take(NEAREST_SHELTERS)
        .map(|(d, s)| {
            let mut props = s.properties();
            props["distance"] = json!(d.round());
            props["location"] = json!({"type": "Point", "coordinates": [s.point.lon, s.point.lat]});
            props
        })
        .collect();
    Ok(Json(json!({
        "point": {"lat": p.lat, "lon": p.lon},
        "alerts": summaries(hits.into_iter(), &chain),
        "shelters": shelters,
    }))
    .into_response())
}

/// `GET /stream`.
async fn stream(State(st): State<AlertsState>, PublicTenant(tenant): PublicTenant) -> Response {
    let rx = st.channel(&tenant).subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(data) => return Some((Ok::<Event, Infallible>(Event::default().event("alert").data(data)), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response()
}
