//! `q` text → [`Query`]: a recursive-descent parser over the grammar of §4.9.
//!
//! ```text
//! query   = and *("|" and)
//! and     = primary *(";" primary)
//! primary = "(" query ")" / term                 ; nesting bounded by MAX_DEPTH
//! term    = path [op value]
//! path    = name *("." name) *("[" key *("." key) "]")
//! value   = "quoted regex"                        ; after ~= and !~=
//!         / single ".." single / single 1*("," single) / single
//! single  = number / "string" / true / false / dateTime / date / time / URI-or-term
//! ```
//!
//! Recursion happens only at `(`, and is bounded, so no input can overflow the stack.

use chrono::{DateTime, NaiveDate, NaiveTime};

use super::{AttrPath, Op, Pattern, QValue, Query, QueryError, Term, MAX_DEPTH, MAX_QUERY_LEN};

/// Parses a whole query.
pub(super) fn parse(input: &str) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong { len: input.len(), max: MAX_QUERY_LEN });
    }
    if input.trim_matches(is_ws).is_empty() {
        return Err(QueryError::Empty);
    }
    let mut p = Parser { src: input, pos: 0, depth: 0 };
    let q = p.or()?;
    p.skip_ws();
    match p.peek() {
        None => Ok(q),
        Some(')') => Err(p.err(p.pos, "unbalanced ')': no '(' is open".to_string())),
        Some(c) => Err(p.err(p.pos, format!("expected ';', '|' or the end of the query, found {}", show(c)))),
    }
}

/// The white space tolerated between tokens.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// How a character is quoted in messages.
fn show(c: char) -> String {
    format!("{c:?}")
}

/// Characters of an attribute name after the first (TermChar of the grammar).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters of a compound key: JSON member names and language tags (`en-GB`).
fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Characters that may make up an unquoted value (number, date, URI, ...): those of
/// RFC 3986 (and non-ASCII ones for IRIs) less the delimiters of `q` itself.
fn is_bare_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'*+=%".contains(c)
    } else {
        !c.is_whitespace() && !c.is_control()
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// How many parentheses are open.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.bump();
        }
    }

    /// A syntax error at byte offset `at`, reported as a character position.
    fn err(&self, at: usize, message: String) -> QueryError {
        QueryError::Syntax { pos: self.char_pos(at), message }
    }

    fn char_pos(&self, at: usize) -> usize {
        self.src.get(..at).map_or(0, |s| s.chars().count())
    }

    /// "found 'x'" or "found the end of the query", for messages.
    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("found {}", show(c)),
            None => "found the end of the query".to_string(),
        }
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.and()?];
        loop {
            self.skip_ws();
            if self.peek() != Some('|') {
                break;
            }
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::Or(items) })
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.primary()?];
        loop {
            self.skip_ws();
            if self.peek() != Some(';') {
                break;
            }
            self.bump();
            items.push(self.primary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::And(items) })
    }

    fn primary(&mut self) -> Result<Query, QueryError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                if self.depth >= MAX_DEPTH {
                    return Err(QueryError::TooDeep { pos: self.char_pos(open), max: MAX_DEPTH });
                }
                self.depth += 1;
                self.bump();
                let q = self.or()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.err(
                        self.pos,
                        format!(
                            "expected ';', '|' or ')' to close the '(' at position {}, {}",
                            self.char_pos(open),
                            self.found()
                        ),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(q)
            }
            Some(c) if c.is_alphabetic() => Ok(Query::Term(self.term()?)),
            _ => Err(self.err(self.pos, format!("expected an attribute name or '(', {}", self.found()))),
        }
    }

    fn term(&mut self) -> Result<Term, QueryError> {
        let start = self.pos;
        let path = self.path()?;
        let path_text = &self.src[start..self.pos];
        self.skip_ws();
        let op_pos = self.pos;
        let op = match self.peek() {
            None | Some(';' | '|' | ')') => return Ok(Term { path, op: None }),
            _ => self.op().ok_or_else(|| {
                let hint = if self.rest().starts_with('=') { " (did you mean '=='?)" } else { "" };
                self.err(
                    op_pos,
                    format!(
                        "expected an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|' or ')' after '{path_text}', {}{hint}",
                        self.found()
                    ),
                )
            })?,
        };
        let value = self.value(op)?;
        Ok(Term { path, op: Some((op, value)) })
    }

    fn path(&mut self) -> Result<AttrPath, QueryError> {
        let attr = self.name("an attribute name")?;
        let mut sub = Vec::new();
        while self.peek() == Some('.') {
            self.bump();
            sub.push(self.name("a sub-attribute name after '.'")?);
        }
        let mut compound = Vec::new();
        while self.peek() == Some('[') {
            let open = self.pos;
            self.bump();
            loop {
                compound.push(self.key()?);
                if self.peek() != Some('.') {
                    break;
                }
                self.bump();
            }
            if self.peek() != Some(']') {
                return Err(self.err(
                    self.pos,
                    format!(
                        "expected '.' or ']' to close the '[' at position {}, {}",
                        self.char_pos(open),
                        self.found()
                    ),
                ));
            }
            self.bump();
        }
        if self.peek() == Some('{') {
            return Err(self.err(
                self.pos,
                "linked-entity paths ('attr{path}') are not supported; expected an operator".to_string(),
            ));
        }
        Ok(AttrPath { attr, sub, compound })
    }

    /// An AttrName: a letter, then letters, digits and `_`.
    fn name(&mut self, what: &str) -> Result<String, QueryError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_alphabetic() => self.bump(),
            _ => return Err(self.err(start, format!("expected {what} (starting with a letter), {}", self.found()))),
        }
        while self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        Ok(self.src[start..self.pos].to_string())
    }

    /// A key inside `[...]`: a JSON member name, a language tag, or `*`.
    fn key(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        if self.peek() == Some('*') {
            self.bump();
            return Ok("*".to_string());
        }
        while self.peek().is_some_and(is_key_char) {
            self.bump();
        }
        if self.pos == start {
            return Err(self.err(start, format!("expected a member name or '*' inside '[...]', {}", self.found())));
        }
        Ok(self.src[start..self.pos].to_string())
    }

    /// The operator at the current position, consumed, if there is one.
    fn op(&mut self) -> Option<Op> {
        // Longest first: "!~=" before "!=", ">=" before ">".
        const OPS: [(&str, Op); 8] = [
            ("==", Op::Eq),
            ("!~=", Op::NotMatch),
            ("!=", Op::Ne),
            ("~=", Op::Match),
            (">=", Op::Ge),
            (">", Op::Gt),
            ("<=", Op::Le),
            ("<", Op::Lt),
        ];
        let (text, op) = OPS.iter().find(|(text, _)| self.rest().starts_with(text))?;
        self.pos += text.len();
        Some(*op)
    }

    fn value(&mut self, op: Op) -> Result<QValue, QueryError> {
        self.skip_ws();
        if matches!(op, Op::Match | Op::NotMatch) {
            if self.peek() != Some('"') {
                return Err(self.err(
                    self.pos,
                    format!("expected a quoted regular expression after '{}', {}", op.as_str(), self.found()),
                ));
            }
            return self.regex().map(QValue::Regex);
        }
        let equality = matches!(op, Op::Eq | Op::Ne);
        let first_pos = self.pos;
        let first = self.single(op)?;
        self.skip_ws();
        if self.rest().starts_with("..") {
            if !equality {
                return Err(self.err(self.pos, format!("a range ('..') is only allowed after == or !=, not '{op}'")));
            }
            if !is_comparable(&first) {
                return Err(self
                    .err(first_pos, "a range needs a number, string, dateTime, date or time before '..'".to_string()));
            }
            self.pos += 2;
            self.skip_ws();
            let second_pos = self.pos;
            let second = self.single(op)?;
            if std::mem::discriminant(&first) != std::mem::discriminant(&second) {
                return Err(self.err(
                    second_pos,
                    format!("the end of a range must be of the same kind as its start ({})", kind_name(&first)),
                ));
            }
            return Ok(QValue::Range(Box::new(first), Box::new(second)));
        }
        if self.peek() == Some(',') {
            if !equality {
                return Err(
                    self.err(self.pos, format!("a list of values (',') is only allowed after == or !=, not '{op}'"))
                );
            }
            let mut items = vec![first];
            while self.peek() == Some(',') {
                self.bump();
                self.skip_ws();
                items.push(self.single(op)?);
                self.skip_ws();
            }
            return Ok(QValue::List(items));
        }
        if !equality && !is_comparable(&first) {
            return Err(self.err(
                first_pos,
                format!("'{op}' needs a number, string, dateTime, date or time, found {}", kind_name(&first)),
            ));
        }
        Ok(first)
    }

    /// One value: quoted string or unquoted token.
    fn single(&mut self, op: Op) -> Result<QValue, QueryError> {
        let start = self.pos;
        match self.peek() {
            Some('"') => return self.string().map(QValue::Str),
            Some(c) if is_bare_char(c) && c != '.' => {}
            _ => return Err(self.err(start, format!("expected a value after '{op}', {}", self.found()))),
        }
        while let Some(c) = self.peek() {
            if !is_bare_char(c) || (c == '.' && self.peek2() == Some('.')) {
                break;
            }
            self.bump();
        }
        let token = &self.src[start..self.pos];
        classify(token).map_err(|message| self.err(start, message))
    }

    /// A JSON string (RFC 8259 §7, as the grammar's quotedStr says).
    fn string(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        self.bump();
        loop {
            match self.peek() {
                None => return Err(self.err(start, "unterminated string: no closing '\"'".to_string())),
                Some('\\') => {
                    self.bump();
                    self.bump();
                }
                Some('"') => {
                    self.bump();
                    break;
                }
                Some(_) => self.bump(),
            }
        }
        serde_json::from_str::<String>(&self.src[start..self.pos])
            .map_err(|e| self.err(start, format!("invalid string ({})", json_reason(&e))))
    }

    /// A quoted regular expression. Only `\"` is an escape (for a quote); every other
    /// backslash pair is kept as it is, so `"\d+"` means the pattern `\d+`.
    fn regex(&mut self) -> Result<Pattern, QueryError> {
        let start = self.pos;
        self.bump();
        let mut source = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err(start, "unterminated regular expression: no closing '\"'".to_string())),
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        Some('"') => source.push('"'),
                        Some(c) => {
                            source.push('\\');
                            source.push(c);
                        }
                        None => source.push('\\'),
                    }
                    self.bump();
                }
                Some('"') => {
                    self.bump();
                    break;
                }
                Some(c) => {
                    source.push(c);
                    self.bump();
                }
            }
        }
        Pattern::new(&source).map_err(|e| QueryError::Regex { pos: self.char_pos(start), message: regex_reason(&e) })
    }
}

/// The useful part of a serde_json error (without its "line 1 column n").
fn json_reason(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The last line of a regex error (the first ones draw the pattern with a caret).
fn regex_reason(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern");
    last.trim().trim_start_matches("error: ").to_string()
}

/// Whether the value may be ordered (`>`, ranges).
fn is_comparable(v: &QValue) -> bool {
    matches!(v, QValue::Number(_) | QValue::Str(_) | QValue::DateTime(_) | QValue::Date(_) | QValue::Time(_))
}

fn kind_name(v: &QValue) -> &'static str {
    match v {
        QValue::Number(_) => "a number",
        QValue::Str(_) => "a string",
        QValue::Bool(_) => "a boolean",
        QValue::DateTime(_) => "a dateTime",
        QValue::Date(_) => "a date",
        QValue::Time(_) => "a time",
        QValue::Uri(_) => "a URI",
        QValue::Range(..) => "a range",
        QValue::List(_) => "a list",
        QValue::Regex(_) => "a regular expression",
    }
}

/// What an unquoted token is.
fn classify(token: &str) -> Result<QValue, String> {
    match token {
        "true" => return Ok(QValue::Bool(true)),
        "false" => return Ok(QValue::Bool(false)),
        _ => {}
    }
    let b = token.as_bytes();
    let first = token.chars().next().ok_or_else(|| "expected a value".to_string())?;
    if first.is_ascii_digit() || first == '-' {
        let digits_at = |idx: &[usize]| idx.iter().all(|&i| b.get(i).is_some_and(u8::is_ascii_digit));
        let is_date_prefix = b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && digits_at(&[0, 1, 2, 3, 5, 6, 8, 9]);
        if is_date_prefix && b.len() > 10 && matches!(b[10], b'T' | b't') {
            return DateTime::parse_from_rfc3339(token)
                .map(QValue::DateTime)
                .map_err(|e| format!("invalid dateTime '{token}' ({e}; expected e.g. 2017-12-24T12:00:00Z)"));
        }
        if is_date_prefix && b.len() == 10 {
            return parse_date(token).map(QValue::Date).ok_or_else(|| format!("invalid date '{token}'"));
        }
        if b.len() >= 8 && b[2] == b':' && b[5] == b':' && digits_at(&[0, 1, 3, 4, 6, 7]) {
            return parse_time(token)
                .map(QValue::Time)
                .ok_or_else(|| format!("invalid time '{token}' (expected e.g. 12:00:00Z)"));
        }
        return parse_number(token).map(QValue::Number);
    }
    if first.is_alphabetic() {
        return match token.split_once(':') {
            Some((scheme, _)) => {
                if scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && first.is_ascii_alphabetic()
                {
                    Ok(QValue::Uri(token.to_string()))
                } else {
                    Err(format!("invalid URI '{token}' (bad scheme '{scheme}')"))
                }
            }
            None if token.chars().all(is_name_char) => Ok(QValue::Uri(token.to_string())),
            None => Err(format!("expected a value, found '{token}' (strings are quoted: \"...\")")),
        };
    }
    Err(format!("expected a value, found '{token}'"))
}

/// A JSON number (RFC 8259 §6), finite as an `f64`.
fn parse_number(token: &str) -> Result<f64, String> {
    let invalid = || format!("invalid number '{token}'");
    let b = token.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == int_start || (b[int_start] == b'0' && i - int_start > 1) {
        return Err(invalid());
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == frac {
            return Err(invalid());
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp {
            return Err(invalid());
        }
    }
    if i != b.len() {
        return Err(invalid());
    }
    let n: f64 = token.parse().map_err(|_| invalid())?;
    if n.is_finite() {
        Ok(n)
    } else {
        Err(format!("the number '{token}' is out of range"))
    }
}

/// `hh:mm:ss[.fraction][Z]`: the Time of §4.6.3 (UTC; the `Z` may be left out).
pub(super) fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    let b = s.as_bytes();
    let shape_ok = b.len() >= 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
        && (b.len() == 8 || (b[8] == b'.' && b.len() > 9 && b[9..].iter().all(u8::is_ascii_digit)));
    if !shape_ok {
        return None;
    }
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()
}

/// `YYYY-MM-DD`: the Date of §4.6.3.
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}
