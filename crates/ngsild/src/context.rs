//! JSON-LD `@context` processing, restricted to what NGSI-LD needs: expanding short
//! names (terms) to IRIs on input and compacting IRIs to terms on output.
//!
//! This is not a general JSON-LD processor. It understands the shapes contexts take in
//! practice (URLs, arrays, objects with string or `{"@id": ...}` definitions, compact
//! IRIs such as `schema:name`, `@vocab`, `null` to undefine) and nothing else; the
//! NGSI-LD core context is always applied last, so core terms cannot be redefined
//! (ETSI GS CIM 009 §5.5.7).
//!
//! Remote contexts are not fetched here: [`Context::build`] asks a caller-supplied
//! `load` function for each URL it meets and reports [`ContextError::Missing`] with the
//! URL it lacks, so the HTTP layer can fetch it (asynchronously, with its cache) and try
//! again.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// The `@vocab` of the core context: where undefined terms expand to.
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";

/// The NGSI-LD namespace.
pub const NGSI_LD: &str = "https://uri.etsi.org/ngsi-ld/";

/// Every URL under which ETSI has published the core context. All resolve to the
/// built-in copy, so a server without internet access works with any of them.
pub const CORE_CONTEXT_URLS: &[&str] = &[
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.4.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.5.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
];

/// The URL Kizuna names in `Link` headers of its responses.
pub const CORE_CONTEXT_URL: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";

const CORE_CONTEXT_DOC: &str = include_str!("contexts/ngsi-ld-core-context.jsonld");

/// Why a context could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ContextError {
    /// A remote context the caller has not supplied yet.
    #[error("@context {0} has not been loaded")]
    Missing(String),
    /// The context is not a shape JSON-LD allows.
    #[error("invalid @context: {0}")]
    Invalid(String),
}

/// Whether `url` names one of the published core contexts.
pub fn is_core_context_url(url: &str) -> bool {
    CORE_CONTEXT_URLS.contains(&url)
}

/// An active context: term definitions, ready to expand and compact names.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// term -> IRI (keywords such as `@id` are kept out).
    terms: HashMap<String, String>,
    /// IRI -> term, first term wins; core terms take precedence.
    reverse: HashMap<String, String>,
    vocab: String,
}

impl Context {
    /// The core context alone: what a request without a user context uses.
    pub fn core() -> Context {
        static CORE: OnceLock<Context> = OnceLock::new();
        CORE.get_or_init(|| {
            let doc: Value = serde_json::from_str(CORE_CONTEXT_DOC).expect("the built-in core context is valid JSON");
            let mut raw = RawDefs::default();
            raw.add(doc.get("@context").unwrap_or(&Value::Null), &|_| None, 0)
                .expect("the built-in core context is well-formed");
            Context::finish(RawDefs::default(), raw)
        })
        .clone()
    }

    /// Builds the active context for a user context (`None`: the core context only).
    ///
    /// `user` is what came in a `Link` header (a URL string) or in a body's `@context`
    /// (a URL, an array or an object). `load` returns the `@context` member's value of a
    /// remote context document, or `None` if it is not at hand.
    pub fn build(user: Option<&Value>, load: &dyn Fn(&str) -> Option<Value>) -> Result<Context, ContextError> {
        let Some(user) = user else {
            return Ok(Context::core());
        };
        let mut raw = RawDefs::default();
        raw.add(user, load, 0)?;
        let core_doc: Value = serde_json::from_str(CORE_CONTEXT_DOC).expect("the built-in core context is valid JSON");
        let mut core = RawDefs::default();
        core.add(core_doc.get("@context").unwrap_or(&Value::Null), &|_| None, 0)?;
        Ok(Context::finish(raw, core))
    }

    fn finish(user: RawDefs, core: RawDefs) -> Context {
        let user_terms = user.resolve();
        let core_terms = core.resolve();
        let mut terms = user_terms.clone();
        // The core context is applied last: its terms override the user's.
        for (t, iri) in &core_terms {
            terms.insert(t.clone(), iri.clone());
        }
        let mut reverse: HashMap<String, String> = HashMap::new();
        // Core terms first so that e.g. `location` always compacts to `location`.
        let mut core_sorted: Vec<_> = core_terms.iter().collect();
        core_sorted.sort();
        for (t, iri) in core_sorted {
            reverse.entry(iri.clone()).or_insert_with(|| t.clone());
        }
        let mut user_sorted: Vec<_> = user_terms.iter().collect();
        // Prefer the shortest term for an IRI, then alphabetical, for stable output.
        user_sorted.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
        for (t, iri) in user_sorted {
            if terms.get(t) == Some(iri) {
                reverse.entry(iri.clone()).or_insert_with(|| t.clone());
            }
        }
        let vocab = user.vocab.or(core.vocab).unwrap_or_else(|| DEFAULT_VOCAB.to_string());
        Context { inner: Arc::new(Inner { terms, reverse, vocab }) }
    }

    /// Expands a short name to its IRI: a defined term, a compact IRI `prefix:suffix`,
    /// an absolute IRI as it is, or else the `@vocab` plus the name.
    pub fn expand(&self, name: &str) -> String {
        if let Some(iri) = self.inner.terms.get(name) {
            return iri.clone();
        }
        if let Some((prefix, suffix)) = name.split_once(':') {
            if !suffix.starts_with("//") {
                if let Some(base) = self.inner.terms.get(prefix) {
                    return format!("{base}{suffix}");
                }
            }
            if is_absolute_iri(name) {
                return name.to_string();
            }
        }
        format!("{}{}", self.inner.vocab, name)
    }

    /// Compacts an IRI to the shortest name this context expands back to it.
    pub fn compact(&self, iri: &str) -> String {
        if let Some(term) = self.inner.reverse.get(iri) {
            return term.clone();
        }
        if let Some(rest) = iri.strip_prefix(self.inner.vocab.as_str()) {
            if !rest.is_empty() && !self.inner.terms.contains_key(rest) && !rest.contains(':') {
                return rest.to_string();
            }
        }
        iri.to_string()
    }
}

/// An absolute IRI: a scheme, a colon, something after it (`urn:x:y`, `https://...`).
pub fn is_absolute_iri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && !rest.contains(char::is_whitespace)
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
}

/// Term definitions as written, before compact IRIs among them are resolved.
#[derive(Default)]
struct RawDefs {
    defs: Vec<(String, Option<String>)>,
    vocab: Option<String>,
}

const MAX_NESTING: usize = 8;

impl RawDefs {
    fn add(&mut self, ctx: &Value, load: &dyn Fn(&str) -> Option<Value>, depth: usize) -> Result<(), ContextError> {
        if depth > MAX_NESTING {
            return Err(ContextError::Invalid("contexts nested deeper than 8 levels".into()));
        }
        match ctx {
            Value::Null => Ok(()),
            Value::String(url) => {
                if is_core_context_url(url) {
                    return Ok(()); // applied last anyway
                }
                let doc = load(url).ok_or_else(|| ContextError::Missing(url.clone()))?;
                self.add(&doc, load, depth + 1)
            }
            Value::Array(items) => items.iter().try_for_each(|c| self.add(c, load, depth + 1)),
            Value::Object(map) => {
                for (term, def) in map {
                    match term.as_str() {
                        "@vocab" => match def {
                            Value::String(v) => self.vocab = Some(v.clone()),
                            Value::Null => self.vocab = None,
                            _ => return Err(ContextError::Invalid("@vocab must be a string".into())),
                        },
                        t if t.starts_with('@') => {} // @version, @protected, @language, @base
                        _ => {
                            let iri = match def {
                                Value::String(s) => Some(s.clone()),
                                Value::Null => None,
                                Value::Object(o) => match o.get("@id") {
                                    Some(Value::String(s)) => Some(s.clone()),
                                    Some(Value::Null) => None,
                                    None => Some(term.clone()), // expands through @vocab or prefix
                                    Some(_) => {
                                        return Err(ContextError::Invalid(format!(
                                            "the @id of term '{term}' must be a string"
                                        )))
                                    }
                                },
                                _ => {
                                    return Err(ContextError::Invalid(format!(
                                        "the definition of term '{term}' must be a string or an object"
                                    )))
                                }
                            };
                            self.defs.push((term.clone(), iri));
                        }
                    }
                }
                Ok(())
            }
            _ => Err(ContextError::Invalid("@context must be a URL, an array or an object".into())),
        }
    }

    /// Resolves compact IRIs (`prefix:suffix`) against the prefixes defined here.
    fn resolve(&self) -> HashMap<String, String> {
        let mut raw: HashMap<String, Option<String>> = HashMap::new();
        for (t, iri) in &self.defs {
            raw.insert(t.clone(), iri.clone());
        }
        let vocab = self.vocab.clone().unwrap_or_else(|| DEFAULT_VOCAB.to_string());
        let mut out = HashMap::new();
        for (term, iri) in &raw {
            let Some(iri) = iri else { continue };
            if iri.starts_with('@') {
                continue; // `id: @id`, `type: @type`
            }
            out.insert(term.clone(), resolve_one(iri, &raw, &vocab, 0));
        }
        out
    }
}

fn resolve_one(iri: &str, raw: &HashMap<String, Option<String>>, vocab: &str, depth: usize) -> String {
    if depth > MAX_NESTING {
        return iri.to_string();
    }
    if let Some((prefix, suffix)) = iri.split_once(':') {
        if !suffix.starts_with("//") {
            if let Some(Some(base)) = raw.get(prefix) {
                let base = resolve_one(base, raw, vocab, depth + 1);
                return format!("{base}{suffix}");
            }
        }
        return iri.to_string();
    }
    // A bare word: another term, or relative to @vocab.
    match raw.get(iri) {
        Some(Some(other)) if other != iri => resolve_one(other, raw, vocab, depth + 1),
        _ => format!("{vocab}{iri}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_terms_expand_and_compact() {
        let c = Context::core();
        assert_eq!(c.expand("location"), "https://uri.etsi.org/ngsi-ld/location");
        assert_eq!(c.expand("temperature"), "https://uri.etsi.org/ngsi-ld/default-context/temperature");
        assert_eq!(c.compact("https://uri.etsi.org/ngsi-ld/default-context/temperature"), "temperature");
        assert_eq!(c.compact("https://uri.etsi.org/ngsi-ld/location"), "location");
        assert_eq!(c.expand("https://example.org/x"), "https://example.org/x");
        assert_eq!(c.expand("urn:x:y"), "urn:x:y");
    }

    #[test]
    fn user_context_with_prefixes_and_remote_parts() {
        let remote = json!({"sdm": "https://smartdatamodels.org/", "name": "sdm:name"});
        let user = json!(["https://example.org/ctx.jsonld", {"Shelter": "https://example.org/Shelter", "cap": {"@id": "sdm:capacity"}}]);
        let load = |u: &str| (u == "https://example.org/ctx.jsonld").then(|| remote.clone());
        let c = Context::build(Some(&user), &load).expect("builds");
        assert_eq!(c.expand("name"), "https://smartdatamodels.org/name");
        assert_eq!(c.expand("cap"), "https://smartdatamodels.org/capacity");
        assert_eq!(c.expand("sdm:other"), "https://smartdatamodels.org/other");
        assert_eq!(c.compact("https://example.org/Shelter"), "Shelter");
        assert_eq!(c.compact("https://smartdatamodels.org/name"), "name");
        // Core terms cannot be redefined.
        let evil = json!({"location": "https://evil.example/loc"});
        let c = Context::build(Some(&evil), &|_| None).expect("builds");
        assert_eq!(c.expand("location"), "https://uri.etsi.org/ngsi-ld/location");
    }

    #[test]
    fn missing_remote_context_is_reported() {
        let user = json!("https://example.org/missing.jsonld");
        let err = Context::build(Some(&user), &|_| None).expect_err("missing");
        assert_eq!(err, ContextError::Missing("https://example.org/missing.jsonld".into()));
        let core = json!(CORE_CONTEXT_URL);
        assert!(Context::build(Some(&core), &|_| None).is_ok());
    }
}
