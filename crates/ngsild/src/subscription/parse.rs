//! Client JSON → [`Subscription`], with every error a `BadRequestData` naming the
//! offending member (`OperationNotSupported` for specified members Kizuna does not
//! implement), plus the PATCH merge and the type selection syntax.

use serde_json::Value;

use super::{
    Accept, Endpoint, EntitySelector, NotificationParams, QFilter, Subscription, Trigger, TypeSelection,
    DEFAULT_TRIGGERS,
};
use crate::context::{is_absolute_iri, Context};
use crate::entity::{validate_attr_name, Format};
use crate::error::{ErrorKind, NgsiError};
use crate::geoquery::GeoQuery;
use crate::query::{Pattern, Query, QueryError};

/// Top-level members a client may send.
const MEMBERS: &[&str] = &[
    "id",
    "type",
    "subscriptionName",
    "name",
    "description",
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "timeInterval",
    "q",
    "geoQ",
    "isActive",
    "expiresAt",
    "throttling",
    "lang",
    "notification",
    "jsonldContext",
];

/// System-generated or transport members, ignored on input.
const IGNORED: &[&str] = &["@context", "status", "createdAt", "modifiedAt", "deletedAt"];

/// Specified members Kizuna does not implement.
const UNSUPPORTED: &[&str] = &["csf", "scopeQ", "temporalQ", "datasetId"];

/// System-generated members of `notification`, ignored on input.
const NOTIFICATION_STATUS: &[&str] = &[
    "status",
    "timesSent",
    "timesFailed",
    "lastNotification",
    "lastFailure",
    "lastSuccess",
    "lastFailureReason",
    "pendingNotifications",
];

/// The URI schemes notifications can be delivered to.
const ENDPOINT_SCHEMES: &[&str] = &["http", "https", "mqtt", "mqtts"];

/// How many alternatives a type selection may expand to.
const MAX_TYPE_ALTERNATIVES: usize = 64;

/// How deep parentheses may nest in a type selection.
const MAX_TYPE_DEPTH: usize = 8;

/// How a document is read.
#[derive(Clone, Copy)]
struct Mode {
    /// Reject an `expiresAt` that is not in the future.
    check_expiry: bool,
    /// Reading back a stored subscription: keep `createdAt`/`modifiedAt`, read `qNames`.
    restore: bool,
}

fn bad(msg: impl Into<String>) -> NgsiError {
    NgsiError::bad_data(msg)
}

/// The NGSI-LD Null (removes a member in a PATCH).
fn is_null(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("urn:ngsi-ld:null")
}

impl Subscription {
    /// Parses and validates a subscription as sent to `POST /subscriptions`, expanding
    /// names with `ctx`; `id_if_missing` is the id to use when the body has none.
    ///
    /// Status members (`status`, `timesSent`, ...) and `createdAt`/`modifiedAt` are
    /// ignored; an `expiresAt` that is not in the future is rejected.
    pub fn parse(body: &Value, ctx: &Context, id_if_missing: &str) -> Result<Subscription, NgsiError> {
        parse_with(body, ctx, id_if_missing, Mode { check_expiry: true, restore: false })
    }

    /// Reads back a subscription rendered with [`Subscription::to_json`] or
    /// [`Subscription::to_storage_json`]: validated like [`Subscription::parse`], but an
    /// expired `expiresAt` is accepted, `createdAt`/`modifiedAt` are kept and `qNames`
    /// (the expansion of the `q` names) is honoured.
    pub fn restore(body: &Value, ctx: &Context, id_if_missing: &str) -> Result<Subscription, NgsiError> {
        parse_with(body, ctx, id_if_missing, Mode { check_expiry: false, restore: true })
    }

    /// Applies a `PATCH /subscriptions/{id}` fragment (names expanded with `ctx`).
    ///
    /// Members present replace the current ones; a member set to `null` (or
    /// `urn:ngsi-ld:null`) is removed. `notification` is merged member by member (its
    /// `endpoint` is replaced whole, so `receiverInfo` never follows a new `uri`
    /// unasked). The result is validated as a whole; on error `self` is unchanged. The
    /// id, `createdAt` and `modifiedAt` are kept (the caller sets `modifiedAt`). Adding
    /// `timeInterval` drops default (not client-chosen) triggers.
    pub fn merge_patch(&mut self, patch: &Value, ctx: &Context) -> Result<(), NgsiError> {
        let p = patch.as_object().ok_or_else(|| bad("a subscription fragment must be a JSON object"))?;
        match p.get("id") {
            Some(Value::String(id)) if *id == self.id => {}
            Some(_) => return Err(bad(format!("the subscription id cannot be changed (it is '{}')", self.id))),
            None => {}
        }
        let mut base = self.to_json(ctx);
        if p.get("timeInterval").is_some_and(|v| !is_null(v))
            && !p.contains_key("notificationTrigger")
            && self.notification_trigger == DEFAULT_TRIGGERS
        {
            base.remove("notificationTrigger");
        }
        for (k, v) in p {
            if is_null(v) {
                base.remove(k);
            } else if let (true, Value::Object(fragment)) = (k == "notification", v) {
                let Some(Value::Object(current)) = base.get_mut("notification") else {
                    base.insert(k.clone(), v.clone());
                    continue;
                };
                for (nk, nv) in fragment {
                    if is_null(nv) {
                        current.remove(nk);
                    } else {
                        current.insert(nk.clone(), nv.clone());
                    }
                }
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
        let mode = Mode { check_expiry: p.contains_key("expiresAt"), restore: false };
        let mut next = parse_with(&Value::Object(base), ctx, &self.id, mode)?;
        if !p.contains_key("q") {
            // The text was re-read with this request's context; keep the original expansion.
            next.q = self.q.clone();
        }
        next.id = self.id.clone();
        next.created_at = self.created_at.clone();
        next.modified_at = self.modified_at.clone();
        next.owner = self.owner.clone();
        *self = next;
        Ok(())
    }
}

fn parse_with(body: &Value, ctx: &Context, id_if_missing: &str, mode: Mode) -> Result<Subscription, NgsiError> {
    let obj = body.as_object().ok_or_else(|| bad("a subscription must be a JSON object"))?;
    for k in obj.keys() {
        let k = k.as_str();
        if MEMBERS.contains(&k) || IGNORED.contains(&k) || (mode.restore && (k == "qNames" || k == "kizunaOwner")) {
            continue;
        }
        if UNSUPPORTED.contains(&k) {
            return Err(NgsiError::new(
                ErrorKind::OperationNotSupported,
                format!("the subscription member '{k}' is not supported"),
            ));
        }
        return Err(bad(format!("unknown member '{k}' in the subscription")));
    }

    let id = match obj.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("the subscription 'id' must be a string")),
        None => id_if_missing.to_string(),
    };
    if !is_absolute_iri(&id) {
        return Err(bad(format!("the subscription id '{id}' is not a URI")));
    }
    match obj.get("type") {
        Some(Value::String(t)) if t == "Subscription" => {}
        Some(other) => return Err(bad(format!("'type' must be \"Subscription\", not {other}"))),
        None => return Err(bad("the subscription has no 'type' (it must be \"Subscription\")")),
    }
    let name = match obj.get("subscriptionName") {
        Some(v) => Some(string(v, "subscriptionName")?),
        None => obj.get("name").map(|v| string(v, "name")).transpose()?,
    };
    let description = obj.get("description").map(|v| string(v, "description")).transpose()?;

    let entities = match obj.get("entities") {
        None => Vec::new(),
        Some(Value::Array(a)) if !a.is_empty() => {
            a.iter().enumerate().map(|(i, s)| parse_selector(s, i, ctx)).collect::<Result<_, _>>()?
        }
        Some(Value::Array(_)) => return Err(bad("'entities' must not be empty")),
        Some(_) => return Err(bad("'entities' must be an array of entity selectors")),
    };
    let watched_attributes = match obj.get("watchedAttributes") {
        None => Vec::new(),
        Some(Value::Array(a)) if a.is_empty() => return Err(bad("'watchedAttributes' must not be empty")),
        Some(v) => names(v, "watchedAttributes", ctx)?,
    };
    let time_interval = obj.get("timeInterval").map(|v| seconds(v, "timeInterval")).transpose()?;
    if time_interval == Some(0) {
        return Err(bad("'timeInterval' must be greater than 0"));
    }
    let throttling = obj.get("throttling").map(|v| seconds(v, "throttling")).transpose()?.filter(|t| *t > 0);
    let given_triggers = obj.get("notificationTrigger").map(parse_triggers).transpose()?;

    if time_interval.is_some() {
        if obj.contains_key("watchedAttributes") {
            return Err(bad("'timeInterval' and 'watchedAttributes' are mutually exclusive"));
        }
        if given_triggers.is_some() {
            return Err(bad("'timeInterval' and 'notificationTrigger' are mutually exclusive"));
        }
        if throttling.is_some() {
            return Err(bad("'timeInterval' and 'throttling' are mutually exclusive"));
        }
        if entities.is_empty() {
            return Err(bad("a periodic subscription ('timeInterval') needs 'entities'"));
        }
    } else if entities.is_empty() && watched_attributes.is_empty() {
        return Err(bad("a subscription needs 'entities' or 'watchedAttributes'"));
    }
    let notification_trigger = match (time_interval, given_triggers) {
        (Some(_), _) => Vec::new(),
        (None, Some(t)) => t,
        (None, None) => DEFAULT_TRIGGERS.to_vec(),
    };

    let q = match obj.get("q") {
        None => None,
        Some(Value::String(text)) => Some(parse_q(text, ctx, obj.get("qNames").filter(|_| mode.restore))?),
        Some(_) => return Err(bad("'q' must be a string")),
    };
    let geo_q = obj.get("geoQ").map(|g| parse_geo_q(g, ctx)).transpose()?;
    let is_active = match obj.get("isActive") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("'isActive' must be true or false")),
    };
    let expires_at = obj.get("expiresAt").map(|v| parse_expires_at(v, mode.check_expiry)).transpose()?;
    let lang = match obj.get("lang") {
        None => None,
        Some(Value::String(l)) if !l.is_empty() && !l.contains(|c: char| c.is_whitespace() || c.is_control()) => {
            Some(l.clone())
        }
        Some(_) => return Err(bad("'lang' must be a language tag (or a comma-separated list of them, or '*')")),
    };
    let notification = match obj.get("notification") {
        Some(n) => parse_notification(n, ctx)?,
        None => return Err(bad("the subscription has no 'notification'")),
    };
    let jsonld_context = match obj.get("jsonldContext") {
        None => None,
        Some(Value::String(c)) if is_absolute_iri(c) => Some(c.clone()),
        Some(_) => return Err(bad("'jsonldContext' must be a URI")),
    };
    let (created_at, modified_at) = if mode.restore {
        (
            obj.get("createdAt").map(|v| string(v, "createdAt")).transpose()?,
            obj.get("modifiedAt").map(|v| string(v, "modifiedAt")).transpose()?,
        )
    } else {
        (None, None)
    };
    Ok(Subscription {
        id,
        name,
        description,
        entities,
        watched_attributes,
        notification_trigger,
        time_interval,
        q,
        geo_q,
        is_active,
        expires_at,
        throttling,
        lang,
        notification,
        jsonld_context,
        created_at,
        modified_at,
        owner: if mode.restore { obj.get("kizunaOwner").cloned() } else { None },
    })
}

fn string(v: &Value, member: &str) -> Result<String, NgsiError> {
    v.as_str().map(str::to_string).ok_or_else(|| bad(format!("'{member}' must be a string")))
}

fn boolean(v: &Value, member: &str) -> Result<bool, NgsiError> {
    v.as_bool().ok_or_else(|| bad(format!("'{member}' must be true or false")))
}

/// A whole number of seconds ≥ 0 (`10` or `10.0`).
fn seconds(v: &Value, member: &str) -> Result<u64, NgsiError> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    match v.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(f as u64),
        Some(f) if f < 0.0 => Err(bad(format!("'{member}' must not be negative (got {v})"))),
        Some(_) => Err(bad(format!("'{member}' must be a whole number of seconds (got {v})"))),
        None => Err(bad(format!("'{member}' must be a number of seconds"))),
    }
}

/// An array of attribute names, expanded, without duplicates (may be empty).
fn names(v: &Value, member: &str, ctx: &Context) -> Result<Vec<String>, NgsiError> {
    let items = v.as_array().ok_or_else(|| bad(format!("'{member}' must be an array of attribute names")))?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let n = item.as_str().ok_or_else(|| bad(format!("'{member}' must be an array of attribute names")))?;
        validate_attr_name(n).map_err(|e| bad(format!("'{member}': {}", e.detail)))?;
        let iri = ctx.expand(n);
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

fn parse_triggers(v: &Value) -> Result<Vec<Trigger>, NgsiError> {
    let items = match v {
        Value::Array(a) if !a.is_empty() => a,
        Value::Array(_) => return Err(bad("'notificationTrigger' must not be empty")),
        _ => return Err(bad("'notificationTrigger' must be an array of strings")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or_else(|| bad("'notificationTrigger' must be an array of strings"))?;
        let t = Trigger::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
            bad(format!("unknown notificationTrigger '{name}'; expected one of {}", all.join(", ")))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn parse_selector(v: &Value, i: usize, ctx: &Context) -> Result<EntitySelector, NgsiError> {
    let at = format!("entities[{i}]");
    let obj = v.as_object().ok_or_else(|| bad(format!("'{at}' must be an object")))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "id" | "idPattern" | "type")) {
        return Err(bad(format!("unknown member '{k}' in '{at}'")));
    }
    let id = match obj.get("id") {
        None => None,
        Some(Value::String(id)) if is_absolute_iri(id) => Some(id.clone()),
        Some(Value::String(id)) => return Err(bad(format!("'{at}.id': '{id}' is not a URI"))),
        Some(_) => return Err(bad(format!("'{at}.id' must be a string"))),
    };
    let id_pattern = match obj.get("idPattern") {
        None => None,
        Some(Value::String(p)) => {
            Some(Pattern::new(p).map_err(|e| bad(format!("'{at}.idPattern' is not a valid regular expression: {e}")))?)
        }
        Some(_) => return Err(bad(format!("'{at}.idPattern' must be a string"))),
    };
    let types = match obj.get("type") {
        None => return Err(bad(format!("'{at}' has no 'type'"))),
        Some(Value::String(s)) => {
            parse_type_selection(s, ctx).map_err(|e| NgsiError::new(e.kind, format!("'{at}.type': {}", e.detail)))?
        }
        Some(_) => return Err(bad(format!("'{at}.type' must be a string"))),
    };
    Ok(EntitySelector { id, id_pattern, types })
}

fn parse_q(text: &str, ctx: &Context, q_names: Option<&Value>) -> Result<QFilter, NgsiError> {
    let mut query = Query::parse(text).map_err(|e| match e {
        QueryError::TooLong { .. } | QueryError::TooDeep { .. } => NgsiError::from(e),
        _ => bad(e.to_string()),
    })?;
    let map = q_names.and_then(Value::as_object);
    query.map_names(&|n| match map.and_then(|m| m.get(n)).and_then(Value::as_str) {
        Some(iri) => iri.to_string(),
        None => ctx.expand(n),
    });
    Ok(QFilter { text: text.to_string(), query })
}

fn parse_geo_q(v: &Value, ctx: &Context) -> Result<GeoQuery, NgsiError> {
    let obj = v.as_object().ok_or_else(|| bad("'geoQ' must be an object"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "georel" | "geometry" | "coordinates" | "geoproperty")) {
        return Err(bad(format!("unknown member '{k}' in 'geoQ'")));
    }
    let mut g = GeoQuery::from_json(v).map_err(|e| {
        if e.detail.starts_with("geoQ") {
            e
        } else {
            NgsiError::new(e.kind, format!("geoQ: {}", e.detail))
        }
    })?;
    g.property = ctx.expand(&g.property);
    Ok(g)
}

fn parse_expires_at(v: &Value, check_expiry: bool) -> Result<String, NgsiError> {
    let s = v.as_str().ok_or_else(|| bad("'expiresAt' must be a string (an RFC 3339 date-time)"))?;
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| bad(format!("'expiresAt' is not an RFC 3339 date-time ('{s}': {e})")))?;
    if check_expiry && t <= chrono::Utc::now() {
        return Err(bad(format!("'expiresAt' ({s}) is not in the future")));
    }
    Ok(s.to_string())
}

fn parse_notification(v: &Value, ctx: &Context) -> Result<NotificationParams, NgsiError> {
    let obj = v.as_object().ok_or_else(|| bad("'notification' must be an object"))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "attributes" | "format" | "sysAttrs" | "showChanges" | "endpoint")
            && !NOTIFICATION_STATUS.contains(&k.as_str())
        {
            return Err(bad(format!("unknown member '{k}' in 'notification'")));
        }
    }
    let attributes = obj.get("attributes").map(|a| names(a, "notification.attributes", ctx)).transpose()?;
    let format = match obj.get("format") {
        None => Format::Normalized,
        Some(Value::String(f)) => match f.as_str() {
            "normalized" => Format::Normalized,
            "keyValues" => Format::KeyValues,
            "concise" => Format::Concise,
            other => {
                return Err(bad(format!(
                    "'notification.format' must be normalized, keyValues or concise (got '{other}')"
                )))
            }
        },
        Some(_) => return Err(bad("'notification.format' must be a string")),
    };
    let sys_attrs = obj.get("sysAttrs").map(|b| boolean(b, "notification.sysAttrs")).transpose()?.unwrap_or(false);
    let show_changes =
        obj.get("showChanges").map(|b| boolean(b, "notification.showChanges")).transpose()?.unwrap_or(false);
    let endpoint = match obj.get("endpoint") {
        Some(e) => parse_endpoint(e)?,
        None => return Err(bad("'notification' has no 'endpoint'")),
    };
    Ok(NotificationParams { attributes: attributes.unwrap_or_default(), format, sys_attrs, show_changes, endpoint })
}

fn parse_endpoint(v: &Value) -> Result<Endpoint, NgsiError> {
    let obj = v.as_object().ok_or_else(|| bad("'notification.endpoint' must be an object"))?;
    for k in obj.keys() {
        match k.as_str() {
            "uri" | "accept" | "receiverInfo" | "notifierInfo" => {}
            "timeout" | "cooldown" => {
                return Err(NgsiError::new(
                    ErrorKind::OperationNotSupported,
                    format!("'notification.endpoint.{k}' is not supported"),
                ))
            }
            _ => return Err(bad(format!("unknown member '{k}' in 'notification.endpoint'"))),
        }
    }
    let uri = match obj.get("uri") {
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(bad("'notification.endpoint.uri' must be a string")),
        None => return Err(bad("'notification.endpoint' has no 'uri'")),
    };
    validate_endpoint_uri(&uri)?;
    let accept = match obj.get("accept") {
        None => Accept::Json,
        Some(Value::String(a)) if a == "application/json" => Accept::Json,
        Some(Value::String(a)) if a == "application/ld+json" => Accept::JsonLd,
        Some(other) => {
            return Err(bad(format!(
                "'notification.endpoint.accept' must be \"application/json\" or \"application/ld+json\", not {other}"
            )))
        }
    };
    let receiver_info =
        obj.get("receiverInfo").map(|r| key_values(r, "notification.endpoint.receiverInfo")).transpose()?;
    let notifier_info =
        obj.get("notifierInfo").map(|r| key_values(r, "notification.endpoint.notifierInfo")).transpose()?;
    Ok(Endpoint {
        uri,
        accept,
        receiver_info: receiver_info.unwrap_or_default(),
        notifier_info: notifier_info.unwrap_or_default(),
    })
}

/// An absolute URI `scheme://authority...` with one of [`ENDPOINT_SCHEMES`].
fn validate_endpoint_uri(uri: &str) -> Result<(), NgsiError> {
    let invalid = || {
        bad(format!(
            "'notification.endpoint.uri' must be an absolute URI with scheme {} (got '{uri}')",
            ENDPOINT_SCHEMES.join(", ")
        ))
    };
    let (scheme, rest) = uri.split_once("://").ok_or_else(invalid)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if !ENDPOINT_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
        || host.is_empty()
        || uri.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    Ok(())
}

/// `[{"key": "...", "value": "..."}, ...]`; keys are tokens (they become header names),
/// values have no control characters.
fn key_values(v: &Value, member: &str) -> Result<Vec<(String, String)>, NgsiError> {
    let items = v.as_array().ok_or_else(|| bad(format!("'{member}' must be an array of {{key, value}} objects")))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let shape = || bad(format!("'{member}[{i}]' must be an object with string members 'key' and 'value'"));
        let o = item.as_object().ok_or_else(shape)?;
        if o.len() != 2 {
            return Err(shape());
        }
        let (Some(Value::String(k)), Some(Value::String(val))) = (o.get("key"), o.get("value")) else {
            return Err(shape());
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)) {
            return Err(bad(format!("'{member}[{i}].key' ('{k}') is not a valid key (a header field name)")));
        }
        if val.contains(|c: char| c.is_control() && c != '\t') {
            return Err(bad(format!("'{member}[{i}].value' contains a control character")));
        }
        out.push((k.clone(), val.clone()));
    }
    Ok(out)
}

/// Parses the type selection syntax (§4.17): `A,B` or `A|B` (either), `A;B` (both),
/// parentheses to group; names expanded with `ctx`.
pub fn parse_type_selection(s: &str, ctx: &Context) -> Result<TypeSelection, NgsiError> {
    let mut p = TypeParser { src: s, pos: 0, depth: 0, ctx };
    let sel = p.expr()?;
    if p.pos != s.len() {
        return Err(bad(format!("type selection: unexpected '{}' at position {}", &s[p.pos..], p.pos)));
    }
    Ok(TypeSelection(sel))
}

struct TypeParser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    ctx: &'a Context,
}

impl TypeParser<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn expr(&mut self) -> Result<Vec<Vec<String>>, NgsiError> {
        let mut alts = self.term()?;
        while matches!(self.peek(), Some(',' | '|')) {
            self.bump();
            alts.extend(self.term()?);
            if alts.len() > MAX_TYPE_ALTERNATIVES {
                return Err(NgsiError::new(ErrorKind::TooComplexQuery, "the type selection is too complex"));
            }
        }
        Ok(alts)
    }

    fn term(&mut self) -> Result<Vec<Vec<String>>, NgsiError> {
        let mut acc = self.factor()?;
        while self.peek() == Some(';') {
            self.bump();
            let rhs = self.factor()?;
            // (a|b);(c|d) = a;c | a;d | b;c | b;d
            let mut out = Vec::new();
            for l in &acc {
                for r in &rhs {
                    let mut both = l.clone();
                    both.extend(r.iter().filter(|t| !l.contains(t)).cloned());
                    out.push(both);
                }
            }
            if out.len() > MAX_TYPE_ALTERNATIVES {
                return Err(NgsiError::new(ErrorKind::TooComplexQuery, "the type selection is too complex"));
            }
            acc = out;
        }
        Ok(acc)
    }

    fn factor(&mut self) -> Result<Vec<Vec<String>>, NgsiError> {
        if self.peek() == Some('(') {
            let open = self.pos;
            self.bump();
            self.depth += 1;
            if self.depth > MAX_TYPE_DEPTH {
                return Err(bad("the type selection nests too deeply"));
            }
            let inner = self.expr()?;
            self.depth -= 1;
            if self.bump() != Some(')') {
                return Err(bad(format!("type selection: missing ')' for the '(' at position {open}")));
            }
            return Ok(inner);
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| !",|;()".contains(c)) {
            self.bump();
        }
        let name = self.src[start..self.pos].trim();
        if name.is_empty() {
            return Err(bad(format!("type selection: expected a type name at position {start}")));
        }
        validate_attr_name(name).map_err(|_| bad(format!("'{name}' is not a valid entity type name")))?;
        Ok(vec![vec![self.ctx.expand(name)]])
    }
}
