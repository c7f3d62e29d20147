//! Querying entities: `GET /entities` and `POST /entityOperations/query`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use kizuna_ngsild::entity::{render_entity, validate_attr_name, RenderOptions};
use kizuna_ngsild::geoquery::GeoQuery;
use kizuna_ngsild::{Context, Entity, ErrorKind, NgsiError};
use kizuna_store::{EntityQuery, TypeSelector};
use serde_json::Value;

use super::body_bytes;
use super::entity::split_names;
use crate::access::{self, Ledger};
use crate::error::{bad_data, ApiError};
use crate::request::{allow_params, bool_param, param, query_pairs, usize_param, MediaType, Ngsi, Options};
use crate::ApiState;

/// The header carrying the total number of matches (`count=true`).
pub(crate) const RESULTS_COUNT: &str = "NGSILD-Results-Count";

/// Parses the type-selection syntax (§4.17): `A,B` or `A|B` (either), `A;B` (both),
/// parentheses to group — into a disjunction of conjunctions of expanded types.
pub(crate) fn parse_type_selector(s: &str, ctx: &Context) -> Result<TypeSelector, ApiError> {
    fn expr(p: &mut Parser<'_>) -> Result<Vec<Vec<String>>, ApiError> {
        let mut alts = term(p)?;
        while matches!(p.peek(), Some(',') | Some('|')) {
            p.next();
            alts.extend(term(p)?);
        }
        Ok(alts)
    }
    fn term(p: &mut Parser<'_>) -> Result<Vec<Vec<String>>, ApiError> {
        let mut acc = factor(p)?;
        while p.peek() == Some(';') {
            p.next();
            let rhs = factor(p)?;
            // (a|b);(c|d) = a;c | a;d | b;c | b;d
            let mut out = Vec::new();
            for l in &acc {
                for r in &rhs {
                    let mut both = l.clone();
                    both.extend(r.iter().cloned());
                    out.push(both);
                }
            }
            if out.len() > 64 {
                return Err(ApiError::Ngsi(NgsiError::new(
                    ErrorKind::TooComplexQuery,
                    "the type selector is too complex",
                )));
            }
            acc = out;
        }
        Ok(acc)
    }
    fn factor(p: &mut Parser<'_>) -> Result<Vec<Vec<String>>, ApiError> {
        if p.peek() == Some('(') {
            p.next();
            p.depth += 1;
            if p.depth > 8 {
                return Err(bad_data("the type selector nests too deeply"));
            }
            let inner = expr(p)?;
            p.depth -= 1;
            if p.next() != Some(')') {
                return Err(bad_data(format!("type selector: missing ')' at position {}", p.pos)));
            }
            return Ok(inner);
        }
        let start = p.pos;
        while let Some(c) = p.peek() {
            if ",|;()".contains(c) {
                break;
            }
            p.next();
        }
        let name = p.src[start..p.pos].trim();
        if name.is_empty() {
            return Err(bad_data(format!("type selector: expected a type name at position {start}")));
        }
        validate_attr_name(name).map_err(|_| bad_data(format!("'{name}' is not a valid entity type name")))?;
        Ok(vec![vec![p.ctx.expand(name)]])
    }
    struct Parser<'a> {
        src: &'a str,
        pos: usize,
        depth: usize,
        ctx: &'a Context,
    }
    impl Parser<'_> {
        fn peek(&self) -> Option<char> {
            self.src[self.pos..].chars().next()
        }
        fn next(&mut self) -> Option<char> {
            let c = self.peek()?;
            self.pos += c.len_utf8();
            Some(c)
        }
    }
    let mut p = Parser { src: s, pos: 0, depth: 0, ctx };
    let sel = expr(&mut p)?;
    if p.pos != s.len() {
        return Err(bad_data(format!("type selector: unexpected '{}' at position {}", &s[p.pos..], p.pos)));
    }
    Ok(TypeSelector(sel))
}

/// Parses `q` and expands its attribute names.
fn parse_q(q: &str, ctx: &Context) -> Result<kizuna_ngsild::query::Query, ApiError> {
    use kizuna_ngsild::query::QueryError;
    let mut parsed = kizuna_ngsild::query::Query::parse(q).map_err(|e| match e {
        QueryError::TooLong { .. } | QueryError::TooDeep { .. } => {
            ApiError::Ngsi(NgsiError::new(ErrorKind::TooComplexQuery, format!("q is too complex: {e}")))
        }
        other => bad_data(format!("invalid q: {other}")),
    })?;
    parsed.map_names(&|n| ctx.expand(n));
    parsed.map_uri_values(&|v| ctx.expand(v));
    Ok(parsed)
}

/// The query parameters [`parse_common_query`] reads.
pub(crate) const SELECTION_PARAMS: &[&str] = &[
    "type",
    "id",
    "idPattern",
    "attrs",
    "q",
    "limit",
    "offset",
    "count",
    "options",
    "format",
    "lang",
    "georel",
    "geometry",
    "coordinates",
    "geoproperty",
];

/// Parses the entity-selection parameters shared by `GET /entities` and the temporal
/// query: `type`, `id`, `idPattern`, `attrs`, `q`, the geo-query, `limit`, `offset`,
/// `count`. At least one of `type`, `id`, `idPattern`, `attrs`, `q`, `georel` is required.
pub(crate) fn parse_common_query(
    st: &ApiState,
    pairs: &[(String, String)],
    ctx: &Context,
) -> Result<EntityQuery, ApiError> {
    if param(pairs, "scopeQ").is_some() || param(pairs, "csf").is_some() {
        return Err(ApiError::Ngsi(NgsiError::new(
            ErrorKind::OperationNotSupported,
            "scopeQ and csf are not implemented",
        )));
    }
    if !["type", "id", "idPattern", "attrs", "q", "georel"].iter().any(|k| param(pairs, k).is_some()) {
        return Err(bad_data("a query needs at least one of type, id, idPattern, attrs, q or a geo-query"));
    }
    let count = bool_param(pairs, "count")?;
    let ids: Vec<String> = match param(pairs, "id") {
        Some(list) => list
            .split(',')
            .map(|i| {
                let i = i.trim();
                super::path_id(i).map(|_| i.to_string())
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(EntityQuery {
        types: param(pairs, "type").map(|t| parse_type_selector(t, ctx)).transpose()?,
        ids,
        id_pattern: param(pairs, "idPattern").map(compile_id_pattern).transpose()?,
        attrs: param(pairs, "attrs").map(|a| split_names(a, ctx)).transpose()?.unwrap_or_default(),
        q: param(pairs, "q").map(|q| parse_q(q, ctx)).transpose()?,
        geo: parse_geo_params(pairs, ctx)?,
        limit: usize_param(pairs, "limit", st.config.default_limit)?,
        offset: usize_param(pairs, "offset", 0)?,
        count,
        gate: None,
    })
}

/// The geo-query from `georel`, `geometry`, `coordinates`, `geoproperty` (all or none of
/// the first three).
fn parse_geo_params(pairs: &[(String, String)], ctx: &Context) -> Result<Option<GeoQuery>, ApiError> {
    let parts = [param(pairs, "georel"), param(pairs, "geometry"), param(pairs, "coordinates")];
    match parts {
        [None, None, None] => {
            if param(pairs, "geoproperty").is_some() {
                return Err(bad_data("geoproperty needs georel, geometry and coordinates"));
            }
            Ok(None)
        }
        [Some(rel), Some(geometry), Some(coords)] => {
            let mut g = GeoQuery::from_params(rel, geometry, coords, param(pairs, "geoproperty"))?;
            g.property = ctx.expand(&g.property);
            Ok(Some(g))
        }
        _ => Err(bad_data("a geo-query needs all of georel, geometry and coordinates")),
    }
}

/// `GET /ngsi-ld/v1/entities` — ETSI GS CIM 009 §5.7.2 (query entities): `type`, `id`,
/// `idPattern`, `attrs`, `q`, geo-query (`georel`, `geometry`, `coordinates`,
/// `geoproperty`; `near` answers are ordered by distance), `limit`, `offset`, `count`,
/// `options`, `lang`; `Accept: application/geo+json` gives a FeatureCollection
/// (`geometryProperty` chooses the geometry).
pub(crate) async fn query_entities(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &[SELECTION_PARAMS, &["local", "geometryProperty", "csf", "scopeQ"]].concat())?;
    let ctx = req.context(&st).await?;
    let opts = Options::from_pairs(&pairs)?;
    let q = parse_common_query(&st, &pairs, &ctx)?;
    run_query(&st, &req, q, opts, &pairs, &ctx).await
}

fn compile_id_pattern(p: &str) -> Result<regex::Regex, ApiError> {
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| bad_data(format!("idPattern is not a valid regular expression: {e}")))
}

async fn run_query(
    st: &ApiState,
    req: &Ngsi,
    q: EntityQuery,
    opts: Options,
    pairs: &[(String, String)],
    ctx: &Context,
) -> Result<Response, ApiError> {
    let lang = param(pairs, "lang");
    if q.limit > st.config.max_limit {
        return Err(ApiError::Ngsi(NgsiError::new(
            ErrorKind::TooManyResults,
            format!("limit {} is above the maximum page size {}", q.limit, st.config.max_limit),
        )));
    }
    if q.limit == 0 && !q.count {
        return Err(bad_data("limit=0 is only allowed with count=true"));
    }
    req.require_tenant(st)?;
    let projection = if q.attrs.is_empty() { None } else { Some(q.attrs.clone()) };
    let tenant = req.tenant.clone();
    let ledger = Ledger::default();
    let mut q = q;
    q.gate = Some(req.access.gate(&q, &ledger));
    let result = st.read(move |s| s.query(&tenant, &q)).await?;
    let (audits, provisions) = ledger.settle(result.entities.iter().map(|e| e.id.as_str()));
    access::record(st, &req.tenant, audits, provisions).await?;
    let ro = RenderOptions { format: opts.format(), sys_attrs: opts.sys_attrs, attrs: projection.as_deref(), lang };
    let body = if req.accept == MediaType::GeoJson {
        let geometry_property = ctx.expand(param(pairs, "geometryProperty").unwrap_or("location"));
        feature_collection(&result.entities, &ro, ctx, &geometry_property)
    } else {
        Value::Array(result.entities.iter().map(|e| Value::Object(render_entity(e, &ro, ctx))).collect())
    };
    let mut resp = req.respond(StatusCode::OK, body);
    if let Some(total) = result.total {
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            resp.headers_mut().insert(RESULTS_COUNT, v);
        }
    }
    Ok(resp)
}

/// `POST /ngsi-ld/v1/entityOperations/query` — §5.7.4 (query entities via POST): a
/// Query data type body (`entities`, `attrs`, `q`), paged by `limit`/`offset`/`count`.
pub(crate) async fn batch_query(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["limit", "offset", "count", "options", "format", "lang", "geometryProperty"])?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    let obj = json.as_object().ok_or_else(|| bad_data("the query body must be a JSON object"))?;
    match obj.get("type").and_then(Value::as_str) {
        Some("Query") => {}
        _ => return Err(bad_data("the query body must have \"type\": \"Query\"")),
    }
    let mut q = EntityQuery {
        limit: usize_param(&pairs, "limit", st.config.default_limit)?,
        offset: usize_param(&pairs, "offset", 0)?,
        count: bool_param(&pairs, "count")?,
        ..Default::default()
    };
    if let Some(entities) = obj.get("entities") {
        let list = entities.as_array().ok_or_else(|| bad_data("'entities' must be an array"))?;
        if list.len() != 1 {
            // Several selectors would need a union; one is what clients send.
            if list.is_empty() {
                return Err(bad_data("'entities' must not be empty"));
            }
            return Err(ApiError::Ngsi(NgsiError::new(
                ErrorKind::OperationNotSupported,
                "a Query with more than one EntitySelector is not supported yet",
            )));
        }
        let sel = &list[0];
        if let Some(t) = sel.get("type") {
            let t = t.as_str().ok_or_else(|| bad_data("the EntitySelector's type must be a string"))?;
            q.types = Some(parse_type_selector(t, &ctx)?);
        }
        if let Some(id) = sel.get("id") {
            let id = id.as_str().ok_or_else(|| bad_data("the EntitySelector's id must be a string"))?;
            super::path_id(id)?;
            q.ids = vec![id.to_string()];
        }
        if let Some(p) = sel.get("idPattern") {
            let p = p.as_str().ok_or_else(|| bad_data("idPattern must be a string"))?;
            q.id_pattern = Some(compile_id_pattern(p)?);
        }
    }
    if let Some(attrs) = obj.get("attrs") {
        let list = attrs.as_array().ok_or_else(|| bad_data("'attrs' must be an array of names"))?;
        for a in list {
            let a = a.as_str().ok_or_else(|| bad_data("'attrs' must be an array of names"))?;
            validate_attr_name(a)?;
            q.attrs.push(ctx.expand(a));
        }
    }
    if let Some(qs) = obj.get("q") {
        let qs = qs.as_str().ok_or_else(|| bad_data("'q' must be a string"))?;
        q.q = Some(parse_q(qs, &ctx)?);
    }
    if let Some(g) = obj.get("geoQ") {
        let mut g = GeoQuery::from_json(g)?;
        g.property = ctx.expand(&g.property);
        q.geo = Some(g);
    }
    if q.types.is_none()
        && q.ids.is_empty()
        && q.id_pattern.is_none()
        && q.attrs.is_empty()
        && q.q.is_none()
        && q.geo.is_none()
    {
        return Err(bad_data("a Query needs at least one of entities, attrs, q or geoQ"));
    }
    let opts = Options::from_pairs(&pairs)?;
    run_query(&st, &req, q, opts, &pairs, &ctx).await
}

/// A GeoJSON FeatureCollection of entities (ETSI GS CIM 009 §4.5.16): each Feature's
/// geometry is the value of `geometry_property` (null if absent), its properties the
/// rest of the entity in the chosen representation.
pub(crate) fn feature_collection(
    entities: &[Entity],
    ro: &RenderOptions<'_>,
    ctx: &Context,
    geometry_property: &str,
) -> Value {
    let features: Vec<Value> = entities.iter().map(|e| feature(e, ro, ctx, geometry_property)).collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

/// One entity as a GeoJSON Feature.
pub(crate) fn feature(e: &Entity, ro: &RenderOptions<'_>, ctx: &Context, geometry_property: &str) -> Value {
    let geometry = e
        .attrs
        .get(geometry_property)
        .and_then(|is| is.iter().find(|a| a.kind == kizuna_ngsild::AttrKind::GeoProperty))
        .map(|a| a.value.clone())
        .unwrap_or(Value::Null);
    let mut props = render_entity(e, ro, ctx);
    props.remove("id");
    serde_json::json!({"id": e.id, "type": "Feature", "geometry": geometry, "properties": props})
}
