//! Reading a request to issue an alert: CAP 1.2 XML, the CAP JSON form, or the Japanese
//! shorthand, each checked completely (every problem with its element path).
//!
//! # The Japanese shorthand (`application/json` with a `kind` member)
//!
//! ```json
//! { "kind": "evacuation-order",
//!   "areas": [ {"code": "102016"},
//!              {"code": "102016", "name": "総社町", "polygon": [[36.41, 139.04], [36.41, 139.06], [36.38, 139.06], [36.41, 139.04]]},
//!              {"name": "新前橋町", "circle": [36.39, 139.05, 0.8]} ],
//!   "status": "Actual", "expires": "2026-07-15T09:30:00+09:00", "headline": "..." }
//! ```
//!
//! - `kind`: `elderly-evacuation` (level 3), `evacuation-order` (4), `emergency-safety` (5),
//!   `shelter-opened`, `shelter-closed`, `lifted` — or the `kizuna_cap::japan` codes
//!   (`EvacuationOrder`, ...);
//! - `areas[]`: `code` (6-digit 全国地方公共団体コード; alone: the whole municipality, named
//!   from the table), `name` / `nameEn` / `kana`, `polygon` (`[lat, lon]` pairs, closed if
//!   not), `circle` (`[lat, lon, radius_km]`), `households`, `persons`;
//! - `status`: Actual (default), Exercise or Test; `expires`: a CAP date-time; `headline`:
//!   replaces the Japanese headline; optional `identifier` (default: generated), `sender`
//!   (default: the caller's party, else `kizuna:<tenant>`), `senderName` / `senderNameEn`,
//!   `description` / `descriptionEn`, and `updates` (the identifier of a stored alert this
//!   one updates: msgType Update with `references`).
//!
//! The message is sent now, in Japan time (+09:00), and built with
//! [`kizuna_cap::japan::japanese_alert`].

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use chrono::{FixedOffset, Utc};
use kizuna_api_ngsild::ApiError;
use kizuna_cap::japan::{self, EvacuationDetail, EvacuationKind, JapaneseAlertOptions, TargetArea};
use kizuna_cap::{Alert, CapDateTime, Circle, Point, Polygon, Problems, Reference, Status};
use kizuna_ngsild::NgsiError;
use serde::Deserialize;
use serde_json::Value;

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}

fn invalid(p: &Problems) -> ApiError {
    bad(format!("the alert is not valid CAP 1.2 ({} problem(s)): {p}", p.len()))
}

/// The request body's media type, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads and checks the alert of a `POST /alerts`. `known`: the tenant's stored alerts by
/// identifier (for `references` and `updates`).
pub fn read_alert(
    headers: &HeaderMap,
    body: &[u8],
    known: &HashMap<String, Alert>,
    default_sender: &str,
) -> Result<Alert, ApiError> {
    let exists = |r: &Reference| {
        known.get(&r.identifier).is_some_and(|a| a.sender == r.sender && a.sent.datetime() == r.sent.datetime())
    };
    if body.is_empty() {
        return Err(bad("the request body is empty: a CAP 1.2 message (XML or JSON) is expected"));
    }
    match media_type(headers).as_str() {
        "application/cap+xml" | "application/xml" | "text/xml" => {
            let text = std::str::from_utf8(body).map_err(|_| bad("the CAP XML is not UTF-8"))?;
            kizuna_cap::parse_with(text, exists).map_err(|p| invalid(&p))
        }
        "application/json" => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::Ngsi(NgsiError::invalid(format!("the request body is not valid JSON: {e}"))))?;
            let alert = if v.get("kind").is_some() {
                let s: Shorthand = from_value(v, "")?;
                s.build(known, default_sender)?
            } else {
                from_value::<Alert>(v, "alert")?
            };
            kizuna_cap::validate_with(&alert, exists).map_err(|p| invalid(&p))?;
            Ok(alert)
        }
        "" => Err(ApiError::UnsupportedMediaType("the request has a body but no Content-Type".into())),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type '{other}' is not supported: use application/cap+xml, application/xml or application/json"
        ))),
    }
}

/// Deserializes `v`, naming the member at fault (`alert/info[0]/urgency: ...`).
fn from_value<T: serde::de::DeserializeOwned>(v: Value, root: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string().replace('`', "'");
        let path = if path == "." { String::new() } else { path.replace('.', "/") };
        let at = match (root.is_empty(), path.is_empty()) {
            (true, true) => "the body".to_string(),
            (true, false) => path,
            (false, true) => root.to_string(),
            (false, false) => format!("{root}/{path}"),
        };
        bad(format!("the alert is not valid: {at}: {msg}"))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Shorthand {
    kind: String,
    areas: Vec<AreaIn>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    expires: Option<CapDateTime>,
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    sender_name_en: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    description_en: Option<String>,
    #[serde(default)]
    updates: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AreaIn {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    name_en: Option<String>,
    #[serde(default)]
    kana: Option<String>,
    #[serde(default)]
    polygon: Option<Vec<[f64; 2]>>,
    #[serde(default)]
    circle: Option<[f64; 3]>,
    #[serde(default)]
    households: Option<u32>,
    #[serde(default)]
    persons: Option<u32>,
}

/// The evacuation kind named `s` (kebab-case or the crate's code).
pub fn kind(s: &str) -> Option<EvacuationKind> {
    EvacuationKind::from_code(s).or_else(|| {
        EvacuationKind::ALL.into_iter().find(|k| {
            let mut kebab = String::new();
            for (i, c) in k.code().chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            kebab == s
        })
    })
}

impl Shorthand {
    fn build(self, known: &HashMap<String, Alert>, default_sender: &str) -> Result<Alert, ApiError> {
        let mut problems: Vec<String> = Vec::new();
        let kind = kind(&self.kind);
        if kind.is_none() {
            problems.push(format!(
                "kind: '{}' is not one of elderly-evacuation, evacuation-order, emergency-safety, shelter-opened, shelter-closed, lifted",
                self.kind
            ));
        }
        let status = self.status.unwrap_or(Status::Actual);
        if !matches!(status, Status::Actual | Status::Exercise | Status::Test) {
            problems.push(format!("status: '{status}' is not one of Actual, Exercise, Test"));
        }
        if self.areas.is_empty() {
            problems.push("areas: at least one area is required".into());
        }
        let mut targets = Vec::new();
        for (i, a) in self.areas.iter().enumerate() {
            match a.target(i) {
                Ok(t) => targets.push(t),
                Err(p) => problems.extend(p),
            }
        }
        let previous = match &self.updates {
            Some(id) => match known.get(id) {
                Some(a) => Some(a),
                None => {
                    problems.push(format!("updates: no alert '{id}' is stored in this tenant"));
                    None
                }
            },
            None => None,
        };
        let (Some(kind), true) = (kind, problems.is_empty()) else {
            return Err(bad(format!("the alert is not valid: {}", problems.join("; "))));
        };
        let municipality = targets
            .iter()
            .find_map(|t| kizuna_cap::geocode::lookup(&t.detail.lg_code))
            .map(|m| m.name)
            .unwrap_or_else(|| default_sender.to_string());
        let sender_name_ja = self.sender_name.clone().unwrap_or(municipality);
        let opts = JapaneseAlertOptions {
            identifier: self.identifier.clone().unwrap_or_else(|| format!("kizuna-{}", uuid::Uuid::new_v4())),
            sender: self.sender.clone().unwrap_or_else(|| default_sender.to_string()),
            sender_name_en: self.sender_name_en.clone().unwrap_or_else(|| sender_name_ja.clone()),
            sender_name_ja,
            status,
            expires: self.expires,
            hazard: None,
            description_ja: self.description.clone(),
            description_en: self.description_en.clone(),
            contact: None,
            web: None,
        };
        let jst = FixedOffset::east_opt(9 * 3600).ok_or_else(|| bad("no Japan time offset"))?;
        let sent = CapDateTime::from_datetime(Utc::now().with_timezone(&jst)).map_err(bad)?;
        let mut alert = japan::japanese_alert(kind, &targets, sent, &opts);
        // Areas given without a municipality code: no empty geocode or code parameter.
        for info in &mut alert.info {
            info.parameter.retain(|p| !p.value.is_empty());
            for area in &mut info.area {
                area.geocode.retain(|g| !g.value.is_empty());
            }
            if let (Some(h), true) = (&self.headline, info.language_or_default().starts_with("ja")) {
                info.headline = Some(h.clone());
            }
        }
        Ok(match previous {
            Some(prev) => japan::update_of(prev, alert),
            None => alert,
        })
    }
}

impl AreaIn {
    fn target(&self, i: usize) -> Result<TargetArea, Vec<String>> {
        let at = |m: &str| format!("areas[{i}]/{m}");
        let mut problems = Vec::new();
        let municipality = match &self.code {
            Some(c) => match kizuna_cap::geocode::check_code(c) {
                Err(e) => {
                    problems.push(format!("{}: {e}", at("code")));
                    None
                }
                Ok(()) => kizuna_cap::geocode::lookup(c),
            },
            None => None,
        };
        let has_shape = self.polygon.is_some() || self.circle.is_some();
        if self.code.is_none() && !has_shape {
            problems.push(format!("areas[{i}]: give a 'code', a 'polygon' or a 'circle'"));
        }
        if self.code.is_some() && municipality.is_none() && !has_shape && problems.is_empty() {
            problems.push(format!("{}: unknown municipality code (no point to place the area)", at("code")));
        }
        let name = self.name.clone().or_else(|| municipality.as_ref().map(|m| m.name.clone()));
        if name.is_none() {
            problems.push(format!("{}: an area without a known municipality code needs a name", at("name")));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let polygon: Vec<Polygon> = self
            .polygon
            .iter()
            .map(|pts| Polygon::closed(pts.iter().map(|[lat, lon]| Point::new(*lat, *lon)).collect()))
            .collect();
        let circle: Vec<Circle> =
            self.circle.iter().map(|[lat, lon, r]| Circle { center: Point::new(*lat, *lon), radius: *r }).collect();
        Ok(TargetArea {
            detail: EvacuationDetail {
                area_name: name.unwrap_or_default(),
                area_name_kana: self
                    .kana
                    .clone()
                    .or_else(|| municipality.as_ref().filter(|_| self.name.is_none()).map(|m| m.kana.clone()))
                    .unwrap_or_default(),
                lg_code: self.code.clone().unwrap_or_default(),
                households: self.households,
                persons: self.persons,
            },
            name_en: self.name_en.clone(),
            polygon,
            circle,
        })
    }
}
