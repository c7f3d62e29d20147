//! The NGSI-LD Query Language `q` (ETSI GS CIM 009 V1.8 §4.9): parse, print, evaluate.
//!
//! A query is a tree of Query Terms joined by `;` (AND) and `|` (OR), AND binding
//! tighter than OR and parentheses grouping. A Query Term is an attribute path, alone
//! (existence test, `q=temperature`) or followed by an operator and a value
//! (`q=temperature>=20`, `q=brandName~="^Merc"`, `q=address[city]=="Berlin"`).
//!
//! The parser is strict where the grammar is (operators, value kinds per operator,
//! names) and reports the first error with its character position. It accepts ASCII
//! white space between tokens, which the grammar does not, because clients write
//! `speed > 50` and rejecting it helps nobody. Input longer than [`MAX_QUERY_LEN`]
//! bytes or parentheses nested deeper than [`MAX_DEPTH`] are rejected, so a hostile
//! `q` costs bounded time and stack.
//!
//! Beyond the ABNF, and as the examples of §4.9 use them:
//! - parentheses may nest (`((a|b);c)`), and contain any query;
//! - an unquoted word on the right of `==`/`!=` (`gender==Male`, example 12) is read
//!   as a [`QValue::Uri`] (a term or IRI), like `urn:ngsi-ld:Road:1`;
//! - the compound part of a path may be written `[a.b]` (the grammar) or `[a][b]`;
//!   `[*]` stands for every member (`name[*]=="red"` on a LanguageProperty).
//!
//! Not supported: the linked-entity paths of V1.8 (`sensor{humidity}`), which need
//! other entities to evaluate; they are rejected with a precise error. The
//! specification has no negated existence (`!attr`), so neither has this module.
//!
//! # Layout
//! - this file: the syntax tree ([`Query`], [`Term`], [`AttrPath`], [`Op`],
//!   [`QValue`], [`Pattern`]), [`QueryError`], name mapping and the helpers the
//!   storage layer uses;
//! - `parse.rs`: text → [`Query`] (a recursive-descent parser with depth and length
//!   limits; regular expressions are compiled here, once per query);
//! - `print.rs`: [`Query`] → canonical text (`Display`), the inverse of parsing;
//! - `eval.rs`: [`Query::matches`], evaluation against an [`crate::entity::Entity`].

mod eval;
mod parse;
mod print;

use std::fmt;
use std::str::FromStr;

use crate::error::{ErrorKind, NgsiError};

/// The longest `q` accepted, in bytes: far beyond any hand-written query, small enough
/// that parsing and evaluation stay cheap.
pub const MAX_QUERY_LEN: usize = 8 * 1024;

/// How deep parentheses may nest.
pub const MAX_DEPTH: usize = 32;

/// The most a regular expression of `~=` may compile to, in bytes (guards against
/// patterns like `(a{100}){100}` that are short to write and huge to compile).
const MAX_REGEX_SIZE: usize = 1 << 20;

/// Sub-path names that address an attribute's metadata rather than a sub-attribute:
/// they are never expanded by the `@context` and read the attribute's own members.
pub const METADATA_NAMES: &[&str] = &["observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"];

/// A parsed `q` query.
///
/// `And` and `Or` always hold at least two operands as produced by the parser; a
/// parenthesised group becomes its own node, so printing and re-parsing yields the
/// same tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// All operands hold (`a;b`).
    And(Vec<Query>),
    /// At least one operand holds (`a|b`).
    Or(Vec<Query>),
    /// A single Query Term.
    Term(Term),
}

/// One Query Term: an attribute path and, unless it is a bare existence test, an
/// operator with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// Which attribute (and which part of it) the term is about.
    pub path: AttrPath,
    /// `None`: the term holds if the target element exists (`q=temperature`).
    pub op: Option<(Op, QValue)>,
}

/// An attribute path: `attr.sub1.sub2[key1.key2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The top-level attribute (short name as parsed; an IRI after [`Query::map_names`]).
    pub attr: String,
    /// Sub-attributes after the attribute, or one of the [`METADATA_NAMES`].
    pub sub: Vec<String>,
    /// Keys into a compound (JSON object) value, or a language tag of a
    /// LanguageProperty; `*` stands for every member.
    pub compound: Vec<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `~=`: the target string matches the regular expression.
    Match,
    /// `!~=`: the target string does not match the regular expression.
    NotMatch,
}

impl Op {
    /// The operator as written in `q`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Match => "~=",
            Op::NotMatch => "!~=",
        }
    }
}

/// The value on the right of an operator.
///
/// Which kinds an operator accepts: `==`/`!=` take any but [`QValue::Regex`];
/// `>`, `>=`, `<`, `<=` take a number, string, dateTime, date or time; `~=`/`!~=` take
/// only [`QValue::Regex`].
#[derive(Debug, Clone, PartialEq)]
pub enum QValue {
    /// A JSON number (`20`, `-1.5e3`).
    Number(f64),
    /// A quoted JSON string (`"Mercedes"`, with JSON escapes).
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// A dateTime (`2017-12-24T12:00:00Z`); compared with string values read as such.
    DateTime(chrono::DateTime<chrono::FixedOffset>),
    /// A date (`2017-12-24`).
    Date(chrono::NaiveDate),
    /// A time (`12:00:00Z`).
    Time(chrono::NaiveTime),
    /// An unquoted URI (`urn:ngsi-ld:Road:1`) or term (`Male`), for Relationship
    /// objects and VocabProperty values.
    Uri(String),
    /// `lo..hi`, both ends included; both ends are of the same comparable kind.
    Range(Box<QValue>, Box<QValue>),
    /// `a,b,c`: equal to any of the members (never ranges or lists themselves).
    List(Vec<QValue>),
    /// The quoted regular expression of `~=` and `!~=`, compiled once.
    Regex(Pattern),
}

/// A regular expression of `~=`, kept with its source text.
///
/// It matches anywhere in the target string (anchor with `^`/`$` for a whole-string
/// match), which is what the other brokers do with `~=`.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    /// Compiles `source`, with a size limit against pathological patterns.
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        let regex =
            regex::RegexBuilder::new(source).size_limit(MAX_REGEX_SIZE).dfa_size_limit(MAX_REGEX_SIZE).build()?;
        Ok(Pattern { source: source.to_string(), regex })
    }

    /// The pattern as written (after removing the `\"` escapes of the quoted form).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches anywhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

/// Why a `q` string was rejected.
///
/// Positions count characters (not bytes) from 0, in the string as received after
/// percent-decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query is empty (or only white space).
    #[error("q: the query is empty")]
    Empty,
    /// The query is longer than [`MAX_QUERY_LEN`].
    #[error("q: the query is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_QUERY_LEN`].
        max: usize,
    },
    /// Parentheses nest deeper than [`MAX_DEPTH`].
    #[error("q: parentheses nested deeper than {max} at position {pos}")]
    TooDeep {
        /// Where the parenthesis that is one too many is.
        pos: usize,
        /// [`MAX_DEPTH`].
        max: usize,
    },
    /// The text does not follow the grammar; `message` says what was expected.
    #[error("q: {message} at position {pos}")]
    Syntax {
        /// Where the problem is.
        pos: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// The regular expression of `~=`/`!~=` does not compile.
    #[error("q: invalid regular expression at position {pos}: {message}")]
    Regex {
        /// Where the quoted pattern starts.
        pos: usize,
        /// The regular expression engine's explanation.
        message: String,
    },
}

impl From<QueryError> for NgsiError {
    /// A malformed query is a malformed request; one too big to handle is "too complex".
    fn from(e: QueryError) -> NgsiError {
        let kind = match e {
            QueryError::TooLong { .. } | QueryError::TooDeep { .. } => ErrorKind::TooComplexQuery,
            QueryError::Empty | QueryError::Syntax { .. } | QueryError::Regex { .. } => ErrorKind::InvalidRequest,
        };
        NgsiError::new(kind, e.to_string())
    }
}

impl Query {
    /// Parses `q` text (already percent-decoded).
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        parse::parse(input)
    }

    /// Applies `f` to every attribute name and sub-attribute name (not to compound
    /// keys, which are JSON member names, nor to the [`METADATA_NAMES`]). The HTTP
    /// layer passes the `@context` expansion here, turning short names into IRIs.
    pub fn map_names(&mut self, f: &dyn Fn(&str) -> String) {
        match self {
            Query::And(qs) | Query::Or(qs) => qs.iter_mut().for_each(|q| q.map_names(f)),
            Query::Term(t) => {
                t.path.attr = f(&t.path.attr);
                for s in t.path.sub.iter_mut().filter(|s| !METADATA_NAMES.contains(&s.as_str())) {
                    *s = f(s);
                }
            }
        }
    }

    /// Applies `f` to every unquoted term value (`gender==Male`): the HTTP layer expands
    /// them through the `@context`, as VocabProperty values are stored expanded.
    /// Absolute URIs (relationship targets) are left as they are by the expansion.
    pub fn map_uri_values(&mut self, f: &dyn Fn(&str) -> String) {
        fn walk(v: &mut QValue, f: &dyn Fn(&str) -> String) {
            match v {
                QValue::Uri(s) => *s = f(s),
                QValue::List(items) => items.iter_mut().for_each(|i| walk(i, f)),
                QValue::Range(a, b) => {
                    walk(a, f);
                    walk(b, f);
                }
                _ => {}
            }
        }
        match self {
            Query::And(qs) | Query::Or(qs) => qs.iter_mut().for_each(|q| q.map_uri_values(f)),
            Query::Term(t) => {
                if let Some((_, v)) = t.op.as_mut() {
                    walk(v, f);
                }
            }
        }
    }

    /// The top-level attribute names the query refers to, each once, in order of first
    /// appearance (for the storage layer to pick indexes).
    pub fn attribute_names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| q.collect_names(out)),
            Query::Term(t) => {
                if !out.contains(&t.path.attr.as_str()) {
                    out.push(&t.path.attr);
                }
            }
        }
    }

    /// Whether the entity satisfies the query (see `eval.rs` for the exact semantics
    /// of each operator).
    pub fn matches(&self, e: &crate::entity::Entity) -> bool {
        match self {
            Query::And(qs) => qs.iter().all(|q| q.matches(e)),
            Query::Or(qs) => qs.iter().any(|q| q.matches(e)),
            Query::Term(t) => eval::term_matches(t, e),
        }
    }
}

impl FromStr for Query {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Query, QueryError> {
        Query::parse(s)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        print::write_query(self, f)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        print::write_term(self, f)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        print::write_path(self, f)
    }
}

impl fmt::Display for QValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        print::write_value(self, f)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
