//! The request pipeline every operation shares: the tenant, content negotiation
//! (ETSI GS CIM 009 §6.3.4 and §6.3.6), the user `@context`, the JSON body, the query
//! string — and building responses in the representation the client accepts.
//!
//! [`Ngsi`] is an axum extractor; it authenticates the caller and loads the tenant's
//! policy ([`crate::access::Access`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::context::CORE_CONTEXT_URL;
use kizuna_ngsild::{Context, ErrorKind, NgsiError};
use serde_json::Value;

use crate::error::{bad_data, ApiError};
use crate::ApiState;

/// The header naming the tenant.
pub const TENANT_HEADER: &str = "NGSILD-Tenant";
const JSONLD_CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";

/// The representation a response is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: `@context` in a `Link` header.
    Json,
    /// `application/ld+json`: `@context` in the body.
    JsonLd,
    /// `application/geo+json` (GeoJSON).
    GeoJson,
}

/// What every NGSI-LD request carries besides its own parameters.
#[derive(Debug, Clone)]
pub struct Ngsi {
    /// The tenant (`""`: the default tenant).
    pub tenant: String,
    /// Whether the tenant was named explicitly in the header.
    pub tenant_given: bool,
    /// The response representation chosen from `Accept`.
    pub accept: MediaType,
    /// The context URL from a `Link` header, if any.
    pub link_context: Option<String>,
    /// The request body's media type, if it has a body.
    pub content_type: Option<String>,
    /// The caller and the tenant's policy as of this request.
    pub access: crate::access::Access,
}

impl FromRequestParts<ApiState> for Ngsi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let header_tenant = header_tenant(headers)?;
        let tenant_given = header_tenant.is_some();
        let (access, tenant) = crate::access::Access::establish(state, headers, header_tenant.as_deref()).await?;
        Ok(Ngsi {
            access,
            tenant,
            tenant_given,
            accept: negotiate(headers)?,
            link_context: link_context(headers)?,
            content_type: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()),
        })
    }
}

/// The tenant named by the `NGSILD-Tenant` header, if any, validated.
pub fn header_tenant(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(TENANT_HEADER) {
        Some(v) => {
            let t = v.to_str().map_err(|_| bad_data("the NGSILD-Tenant header is not ASCII"))?.trim().to_string();
            validate_tenant(&t)?;
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// Checks a tenant name: 1-64 characters among letters, digits, `_`, `-`, `.`, `:`.
pub fn validate_tenant(t: &str) -> Result<(), ApiError> {
    let ok = !t.is_empty()
        && t.len() <= 64
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(bad_data(format!(
            "the tenant '{t}' is not valid: use 1-64 characters among letters, digits, '_', '-', '.', ':'"
        )))
    }
}

/// Chooses the response representation from `Accept` (absent or `*/*`: JSON).
fn negotiate(headers: &HeaderMap) -> Result<MediaType, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(MediaType::Json);
    };
    let accept = accept.to_str().map_err(|_| ApiError::NotAcceptable("the Accept header is not ASCII".into()))?;
    let mut best: Option<(f32, MediaType)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let mt = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        let ty = match mt.as_str() {
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            "application/ld+json" => MediaType::JsonLd,
            "application/geo+json" => MediaType::GeoJson,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, ty));
        }
    }
    best.map(|(_, t)| t).ok_or_else(|| {
        ApiError::NotAcceptable(format!(
            "none of '{accept}' can be produced: use application/json, application/ld+json or application/geo+json"
        ))
    })
}

/// The URL of a `Link` header with the JSON-LD context relation, if present.
pub fn link_context(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    for v in headers.get_all(header::LINK) {
        let s = v.to_str().map_err(|_| bad_data("the Link header is not ASCII"))?;
        for link in s.split(',') {
            if !link.contains(JSONLD_CONTEXT_REL) {
                continue;
            }
            let url = link
                .trim()
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .map(|(u, _)| u.trim().to_string())
                .ok_or_else(|| bad_data(format!("the Link header '{link}' is malformed")))?;
            return Ok(Some(url));
        }
    }
    Ok(None)
}

impl Ngsi {
    /// The active context for a request without a body.
    pub async fn context(&self, state: &ApiState) -> Result<Context, ApiError> {
        let user = self.link_context.as_ref().map(|u| Value::String(u.clone()));
        state.contexts.resolve(user.as_ref()).await
    }

    /// Parses a JSON body after checking its media type, and resolves the active
    /// context: from the `Link` header for `application/json`, from the body's
    /// `@context` for `application/ld+json`.
    pub async fn body(
        &self,
        state: &ApiState,
        bytes: &[u8],
        merge_patch_ok: bool,
    ) -> Result<(Value, Context), ApiError> {
        let ct = self.content_type.as_deref().unwrap_or("");
        let ld = match ct {
            "application/json" => false,
            "application/ld+json" => true,
            "application/merge-patch+json" if merge_patch_ok => false,
            "" => return Err(ApiError::UnsupportedMediaType("the request has a body but no Content-Type".into())),
            other => {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "Content-Type '{other}' is not supported: use application/json or application/ld+json"
                )))
            }
        };
        let body: Value = serde_json::from_slice(bytes).map_err(|e| {
            if bytes.is_empty() {
                bad_data("the request body is empty")
            } else {
                ApiError::Ngsi(NgsiError::invalid(format!("the request body is not valid JSON: {e}")))
            }
        })?;
        let user = body_context(&body);
        let ctx = if ld {
            if self.link_context.is_some() {
                return Err(bad_data("a JSON-LD Link header cannot be used with Content-Type application/ld+json"));
            }
            let user = user.ok_or_else(|| bad_data("an application/ld+json body must contain an @context"))?;
            state.contexts.resolve(Some(&user)).await?
        } else {
            if user.is_some() {
                return Err(bad_data(
                    "an application/json body cannot contain @context: send it in a Link header or use application/ld+json",
                ));
            }
            self.context(state).await?
        };
        Ok((body, ctx))
    }

    /// Fails with `NonexistentTenant` if a tenant was named that holds no data.
    pub fn require_tenant(&self, state: &ApiState) -> Result<(), ApiError> {
        if self.tenant_given && !state.store.tenant_exists(&self.tenant)? {
            return Err(ApiError::Ngsi(NgsiError::new(
                ErrorKind::NonexistentTenant,
                format!("tenant '{}' does not exist", self.tenant),
            )));
        }
        Ok(())
    }

    /// The `@context` to put in a JSON-LD response body.
    pub fn response_context(&self) -> Value {
        Value::String(self.link_context.clone().unwrap_or_else(|| CORE_CONTEXT_URL.to_string()))
    }

    /// A response carrying entity data, in the negotiated representation: `@context` in
    /// each object for JSON-LD, in a `Link` header for JSON.
    pub fn respond(&self, status: StatusCode, mut body: Value) -> Response {
        let mut headers = HeaderMap::new();
        match self.accept {
            MediaType::JsonLd => {
                let ctx = self.response_context();
                match &mut body {
                    Value::Object(o) => {
                        o.insert("@context".into(), ctx);
                    }
                    Value::Array(items) => {
                        for item in items {
                            if let Value::Object(o) = item {
                                o.insert("@context".into(), ctx.clone());
                            }
                        }
                    }
                    _ => {}
                }
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
            }
            MediaType::Json | MediaType::GeoJson => {
                let url = self.link_context.clone().unwrap_or_else(|| CORE_CONTEXT_URL.to_string());
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "<{url}>; rel=\"{JSONLD_CONTEXT_REL}\"; type=\"application/ld+json\""
                )) {
                    headers.insert(header::LINK, v);
                }
                let ct = if self.accept == MediaType::GeoJson { "application/geo+json" } else { "application/json" };
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
        }
        if self.tenant_given {
            if let Ok(v) = HeaderValue::from_str(&self.tenant) {
                headers.insert(TENANT_HEADER, v);
            }
        }
        (status, headers, body.to_string()).into_response()
    }
}

/// The `@context` member of a body (of the first element for an array body).
fn body_context(body: &Value) -> Option<Value> {
    match body {
        Value::Object(o) => o.get("@context").cloned(),
        Value::Array(a) => a.first().and_then(|f| f.get("@context")).cloned(),
        _ => None,
    }
}

/// The query string as (name, value) pairs, rejecting a parameter given twice.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if out.iter().any(|(ek, _)| ek == k.as_ref()) {
            return Err(bad_data(format!("the query parameter '{k}' is given more than once")));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The values of `options=` (and `format=`) as flags.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// `keyValues` / `simplified`.
    pub key_values: bool,
    /// `concise`.
    pub concise: bool,
    /// `sysAttrs`.
    pub sys_attrs: bool,
    /// `noOverwrite`.
    pub no_overwrite: bool,
    /// `update` (batch upsert).
    pub update: bool,
    /// `replace` (batch upsert).
    pub replace: bool,
}

impl Options {
    /// Parses `options` and `format` from the query pairs, naming unknown values.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Options, ApiError> {
        let mut o = Options::default();
        for (k, v) in pairs {
            match k.as_str() {
                "options" => {
                    for opt in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        match opt {
                            "keyValues" | "simplified" => o.key_values = true,
                            "concise" => o.concise = true,
                            "normalized" => {}
                            "sysAttrs" => o.sys_attrs = true,
                            "noOverwrite" => o.no_overwrite = true,
                            "update" => o.update = true,
                            "replace" => o.replace = true,
                            other => return Err(bad_data(format!("unknown value '{other}' in options"))),
                        }
                    }
                }
                "format" => match v.as_str() {
                    "keyValues" | "simplified" => o.key_values = true,
                    "concise" => o.concise = true,
                    "normalized" => {}
                    other => return Err(bad_data(format!("unknown format '{other}'"))),
                },
                _ => {}
            }
        }
        if o.key_values && o.concise {
            return Err(bad_data("keyValues and concise cannot be asked for together"));
        }
        Ok(o)
    }

    /// The entity representation these options select.
    pub fn format(&self) -> kizuna_ngsild::entity::Format {
        use kizuna_ngsild::entity::Format;
        if self.key_values {
            Format::KeyValues
        } else if self.concise {
            Format::Concise
        } else {
            Format::Normalized
        }
    }
}

/// Rejects query parameters an operation does not know.
pub fn allow_params(pairs: &[(String, String)], allowed: &[&str]) -> Result<(), ApiError> {
    for (k, _) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(bad_data(format!("the query parameter '{k}' is not supported by this operation")));
        }
    }
    Ok(())
}

/// A `true`/`false` query parameter (`false` when absent).
pub fn bool_param(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match param(pairs, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(bad_data(format!("{name} must be true or false, not '{v}'"))),
    }
}

/// A non-negative integer query parameter (`default` when absent).
pub fn usize_param(pairs: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    match param(pairs, name) {
        None => Ok(default),
        Some(v) => {
            v.parse::<usize>().map_err(|_| bad_data(format!("{name} must be a non-negative integer, not '{v}'")))
        }
    }
}

/// The value of query parameter `name`.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
