//! CAP 1.2 XML: [`from_xml`] reads a message into the model, [`to_xml`] writes the canonical
//! form.
//!
//! Reading checks what the CAP 1.2 XML schema checks: the root is `alert` in the namespace
//! `urn:oasis:names:tc:emergency:cap:1.2`; every element is a CAP element in that namespace,
//! in schema order (every CAP complex type is an `xs:sequence`), with its cardinality;
//! required elements are present; enumerations, date-times (see [`CapDateTime`]), integers
//! and decimals have their lexical form; `polygon` and `circle` are lists of numbers. It
//! reports every such problem it can find, each with its element path (`alert/info[1]/urgency`),
//! not only the first; only a document that is not well-formed XML stops it at once.
//!
//! Also refused: a DOCTYPE (no entity definitions, so no entity expansion attacks), entity
//! references other than the five predefined ones, characters XML 1.0 does not allow,
//! attributes on CAP elements (namespace declarations and `xsi:` attributes excepted),
//! elements nested deeper than [`MAX_DEPTH`]. An XML signature (`ds:Signature`, namespace
//! `http://www.w3.org/2000/09/xmldsig#`, which the schema allows after the last `info`) is
//! accepted and ignored: Kizuna does not verify XML signatures (deliveries are signed per medium
//! with HMAC instead), and [`to_xml`] does not reproduce it.
//!
//! Whitespace: text elements (`headline`, `description`, ...) keep their text exactly;
//! code values, date-times, numbers, `language` and URIs are read with surrounding whitespace
//! removed. Line ends are normalised as XML 1.0 requires (`\r\n` → `\n`); [`to_xml`] writes a
//! carriage return as `&#13;` so that it survives.
//!
//! The rules beyond the schema (polygon closure, `expires` after `sent`, references, ...) are
//! [`crate::validate`](mod@crate::validate)'s; [`crate::parse`] runs both.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use crate::model::*;
use crate::problem::{Problem, Problems};

/// The XML Signature namespace (the only foreign elements the CAP schema allows, in `alert`).
pub const XMLDSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// How deep elements may nest. CAP needs 4 (`alert/info/area/geocode/value`); anything deeper
/// is refused before it is examined.
pub const MAX_DEPTH: usize = 16;

// ---------------------------------------------------------------------------------------
// Reading: XML → a small element tree
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Elem {
    ns: Option<String>,
    name: String,
    text: String,
    children: Vec<Elem>,
    bad_attrs: Vec<String>,
}

impl Elem {
    fn is_cap(&self) -> bool {
        self.ns.as_deref() == Some(CAP_NS)
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn owned_ns(ns: ResolveResult<'_>) -> Result<Option<String>, String> {
    match ns {
        ResolveResult::Bound(Namespace(b)) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(format!("undeclared namespace prefix '{}'", String::from_utf8_lossy(&p))),
    }
}

fn new_elem(reader: &NsReader<&[u8]>, ns: Option<String>, e: &BytesStart<'_>) -> Result<Elem, String> {
    let name = String::from_utf8_lossy(e.local_name().into_inner()).into_owned();
    let mut bad_attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("malformed attribute in <{name}>: {err}"))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (attr_ns, local) = reader.resolver().resolve_attribute(attr.key);
        let is_xsi = matches!(attr_ns, ResolveResult::Bound(Namespace(b)) if b == XSI_NS.as_bytes());
        if !is_xsi {
            bad_attrs.push(String::from_utf8_lossy(local.into_inner()).into_owned());
        }
    }
    Ok(Elem { ns, name, text: String::new(), children: Vec::new(), bad_attrs })
}

fn push_text(stack: &mut [Elem], text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
        return Err(format!("character U+{:04X} is not allowed in XML", c as u32));
    }
    match stack.last_mut() {
        Some(top) => {
            top.text.push_str(text);
            Ok(())
        }
        None if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

fn read_tree(xml: &str) -> Result<Elem, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let at = reader.buffer_position();
        let (ns, event) =
            reader.read_resolved_event().map_err(|e| format!("not well-formed XML near byte {at}: {e}"))?;
        let ns = owned_ns(ns);
        match event {
            Event::Start(e) => {
                let ns = ns?;
                if root.is_some() {
                    return Err("more than one root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH} levels"));
                }
                let elem = new_elem(&reader, ns, &e)?;
                stack.push(elem);
            }
            Event::Empty(e) => {
                let ns = ns?;
                if root.is_some() {
                    return Err("more than one root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH} levels"));
                }
                let elem = new_elem(&reader, ns, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(elem),
                    None => root = Some(elem),
                }
            }
            Event::End(_) => {
                let elem = stack.pop().ok_or("an end tag without a start tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(elem),
                    None => root = Some(elem),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| format!("text is not valid UTF-8: {e}"))?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(t) => {
                if stack.is_empty() {
                    return Err("CDATA outside the root element".into());
                }
                let text = t.xml10_content().map_err(|e| format!("CDATA is not valid UTF-8: {e}"))?;
                push_text(&mut stack, &text)?;
            }
            Event::GeneralRef(r) => {
                if stack.is_empty() {
                    return Err("an entity reference outside the root element".into());
                }
                let ch = match r.resolve_char_ref().map_err(|e| format!("bad character reference: {e}"))? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(|e| format!("bad entity reference: {e}"))?;
                        match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => return Err(format!("unknown entity &{other};")),
                        }
                    }
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed in a CAP message".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("the document ends inside <{}>", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

// ---------------------------------------------------------------------------------------
// Reading: the element tree against the schema → the model
// ---------------------------------------------------------------------------------------

/// One entry of a schema `xs:sequence`.
struct Slot {
    name: &'static str,
    required: bool,
    many: bool,
}

const fn one(name: &'static str) -> Slot {
    Slot { name, required: true, many: false }
}
const fn opt(name: &'static str) -> Slot {
    Slot { name, required: false, many: false }
}
const fn any(name: &'static str) -> Slot {
    Slot { name, required: false, many: true }
}
const fn some(name: &'static str) -> Slot {
    Slot { name, required: true, many: true }
}

const ALERT: &[Slot] = &[
    one("identifier"),
    one("sender"),
    one("sent"),
    one("status"),
    one("msgType"),
    opt("source"),
    one("scope"),
    opt("restriction"),
    opt("addresses"),
    any("code"),
    opt("note"),
    opt("references"),
    opt("incidents"),
    any("info"),
];

const INFO: &[Slot] = &[
    opt("language"),
    some("category"),
    one("event"),
    any("responseType"),
    one("urgency"),
    one("severity"),
    one("certainty"),
    opt("audience"),
    any("eventCode"),
    opt("effective"),
    opt("onset"),
    opt("expires"),
    opt("senderName"),
    opt("headline"),
    opt("description"),
    opt("instruction"),
    opt("web"),
    opt("contact"),
    any("parameter"),
    any("resource"),
    any("area"),
];

const RESOURCE: &[Slot] =
    &[one("resourceDesc"), one("mimeType"), opt("size"), opt("uri"), opt("derefUri"), opt("digest")];

const AREA: &[Slot] =
    &[one("areaDesc"), any("polygon"), any("circle"), any("geocode"), opt("altitude"), opt("ceiling")];

const VALUE_NAME: &[Slot] = &[one("valueName"), one("value")];

struct Ctx {
    problems: Vec<Problem>,
}

/// The children of one element, sorted into the slots of its sequence, with their paths.
struct Groups<'a> {
    slots: Vec<Vec<(String, &'a Elem)>>,
}

impl<'a> Groups<'a> {
    fn get(&self, i: usize) -> &[(String, &'a Elem)] {
        &self.slots[i]
    }
    fn first(&self, i: usize) -> Option<(&str, &'a Elem)> {
        self.slots[i].first().map(|(p, e)| (p.as_str(), *e))
    }
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

impl Ctx {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn attrs(&mut self, e: &Elem, path: &str) {
        for a in &e.bad_attrs {
            self.problem(path, format!("attribute '{a}' is not allowed on <{}>", e.name));
        }
    }

    /// Checks an element of complex type against its sequence and sorts its children.
    fn group<'a>(&mut self, parent: &'a Elem, path: &str, seq: &[Slot], allow_signature: bool) -> Groups<'a> {
        self.attrs(parent, path);
        if !is_blank(&parent.text) {
            self.problem(path, format!("text is not allowed directly in <{}>", parent.name));
        }
        let mut slots: Vec<Vec<(String, &Elem)>> = seq.iter().map(|_| Vec::new()).collect();
        let mut last: Option<usize> = None;
        let mut signature_seen = false;
        for child in &parent.children {
            if !child.is_cap() {
                let is_signature = allow_signature && child.ns.as_deref() == Some(XMLDSIG_NS);
                if is_signature {
                    signature_seen = true;
                    continue;
                }
                let message = match &child.ns {
                    None => format!("<{}> is not in the CAP 1.2 namespace ({CAP_NS})", child.name),
                    Some(ns) => format!("<{}> in namespace {ns} is not allowed here", child.name),
                };
                self.problem(format!("{path}/{}", child.name), message);
                continue;
            }
            let Some(i) = seq.iter().position(|s| s.name == child.name) else {
                self.problem(
                    format!("{path}/{}", child.name),
                    format!("<{}> is not a CAP 1.2 element here", child.name),
                );
                continue;
            };
            let slot = &seq[i];
            let child_path = if slot.many {
                format!("{path}/{}[{}]", slot.name, slots[i].len())
            } else {
                format!("{path}/{}", slot.name)
            };
            if signature_seen {
                self.problem(&child_path, "CAP elements must come before the XML signature");
            } else if let Some(l) = last.filter(|&l| l > i) {
                self.problem(
                    &child_path,
                    format!("<{}> is out of order: it must come before <{}>", slot.name, seq[l].name),
                );
            }
            if !slot.many && !slots[i].is_empty() {
                self.problem(&child_path, format!("<{}> may appear only once", slot.name));
            }
            last = Some(last.map_or(i, |l| l.max(i)));
            slots[i].push((child_path, child));
        }
        for (i, slot) in seq.iter().enumerate() {
            if slot.required && slots[i].is_empty() {
                let p = if slot.many { format!("{path}/{}[0]", slot.name) } else { format!("{path}/{}", slot.name) };
                self.problem(p, format!("required element <{}> is missing", slot.name));
            }
        }
        Groups { slots }
    }

    /// The text of a simple element.
    fn text(&mut self, e: &Elem, path: &str) -> String {
        self.attrs(e, path);
        if let Some(c) = e.children.first() {
            self.problem(path, format!("<{}> must contain text only, found <{}>", e.name, c.name));
        }
        e.text.clone()
    }

    fn parsed<T: std::str::FromStr<Err = String>>(&mut self, e: &Elem, path: &str) -> Option<T> {
        let raw = self.text(e, path);
        match raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r')).parse::<T>() {
            Ok(v) => Some(v),
            Err(msg) => {
                self.problem(path, msg);
                None
            }
        }
    }

    fn opt_text(&mut self, g: &Groups<'_>, i: usize) -> Option<String> {
        g.first(i).map(|(p, e)| self.text(e, p))
    }

    fn opt_parsed<T: std::str::FromStr<Err = String>>(&mut self, g: &Groups<'_>, i: usize) -> Option<T> {
        g.first(i).and_then(|(p, e)| self.parsed(e, p))
    }

    fn trimmed(&mut self, g: &Groups<'_>, i: usize) -> Option<String> {
        self.opt_text(g, i).map(|s| s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r')).to_string())
    }

    fn value_names(&mut self, items: &[(String, &Elem)]) -> Vec<ValueName> {
        let mut out = Vec::new();
        for (path, e) in items {
            let g = self.group(e, path, VALUE_NAME, false);
            let value_name = self.opt_text(&g, 0);
            let value = self.opt_text(&g, 1);
            if let (Some(value_name), Some(value)) = (value_name, value) {
                out.push(ValueName { value_name, value });
            }
        }
        out
    }

    fn resource(&mut self, e: &Elem, path: &str) -> Option<Resource> {
        let g = self.group(e, path, RESOURCE, false);
        let resource_desc = self.opt_text(&g, 0);
        let mime_type = self.opt_text(&g, 1);
        let size = g.first(2).and_then(|(p, e)| {
            let raw = self.text(e, p);
            let t = raw.trim();
            match t.strip_prefix('+').unwrap_or(t).parse::<u64>() {
                Ok(n)
                    if !t.is_empty() && t.bytes().skip(usize::from(t.starts_with('+'))).all(|b| b.is_ascii_digit()) =>
                {
                    Some(n)
                }
                _ => {
                    self.problem(p, format!("'{t}' is not a number of bytes (a non-negative integer)"));
                    None
                }
            }
        });
        let uri = self.trimmed(&g, 3);
        let deref_uri = self.opt_text(&g, 4);
        let digest = self.trimmed(&g, 5);
        Some(Resource { resource_desc: resource_desc?, mime_type: mime_type?, size, uri, deref_uri, digest })
    }

    fn decimal(&mut self, g: &Groups<'_>, i: usize) -> Option<f64> {
        g.first(i).and_then(|(p, e)| {
            let raw = self.text(e, p);
            let t = raw.trim();
            let v = parse_decimal(t);
            if v.is_none() {
                self.problem(p, format!("'{t}' is not a decimal number"));
            }
            v
        })
    }

    fn area(&mut self, e: &Elem, path: &str) -> Option<Area> {
        let g = self.group(e, path, AREA, false);
        let area_desc = self.opt_text(&g, 0);
        let mut polygon = Vec::new();
        for (p, e) in g.get(1) {
            if let Some(poly) = self.parsed::<Polygon>(e, p) {
                polygon.push(poly);
            }
        }
        let mut circle = Vec::new();
        for (p, e) in g.get(2) {
            if let Some(c) = self.parsed::<Circle>(e, p) {
                circle.push(c);
            }
        }
        let geocode = self.value_names(g.get(3));
        let altitude = self.decimal(&g, 4);
        let ceiling = self.decimal(&g, 5);
        Some(Area { area_desc: area_desc?, polygon, circle, geocode, altitude, ceiling })
    }

    fn info(&mut self, e: &Elem, path: &str) -> Option<Info> {
        let g = self.group(e, path, INFO, false);
        let language = self.trimmed(&g, 0);
        let mut category = Vec::new();
        for (p, e) in g.get(1) {
            if let Some(c) = self.parsed::<Category>(e, p) {
                category.push(c);
            }
        }
        let event = self.opt_text(&g, 2);
        let mut response_type = Vec::new();
        for (p, e) in g.get(3) {
            if let Some(r) = self.parsed::<ResponseType>(e, p) {
                response_type.push(r);
            }
        }
        let urgency = self.opt_parsed::<Urgency>(&g, 4);
        let severity = self.opt_parsed::<Severity>(&g, 5);
        let certainty = self.opt_parsed::<Certainty>(&g, 6);
        let audience = self.opt_text(&g, 7);
        let event_code = self.value_names(g.get(8));
        let effective = self.opt_parsed::<CapDateTime>(&g, 9);
        let onset = self.opt_parsed::<CapDateTime>(&g, 10);
        let expires = self.opt_parsed::<CapDateTime>(&g, 11);
        let sender_name = self.opt_text(&g, 12);
        let headline = self.opt_text(&g, 13);
        let description = self.opt_text(&g, 14);
        let instruction = self.opt_text(&g, 15);
        let web = self.trimmed(&g, 16);
        let contact = self.opt_text(&g, 17);
        let parameter = self.value_names(g.get(18));
        let mut resource = Vec::new();
        for (p, e) in g.get(19) {
            if let Some(r) = self.resource(e, p) {
                resource.push(r);
            }
        }
        let mut area = Vec::new();
        for (p, e) in g.get(20) {
            if let Some(a) = self.area(e, p) {
                area.push(a);
            }
        }
        Some(Info {
            language,
            category,
            event: event?,
            response_type,
            urgency: urgency?,
            severity: severity?,
            certainty: certainty?,
            audience,
            event_code,
            effective,
            onset,
            expires,
            sender_name,
            headline,
            description,
            instruction,
            web,
            contact,
            parameter,
            resource,
            area,
        })
    }

    fn alert(&mut self, root: &Elem) -> Option<Alert> {
        let g = self.group(root, "alert", ALERT, true);
        let identifier = self.opt_text(&g, 0);
        let sender = self.opt_text(&g, 1);
        let sent = self.opt_parsed::<CapDateTime>(&g, 2);
        let status = self.opt_parsed::<Status>(&g, 3);
        let msg_type = self.opt_parsed::<MsgType>(&g, 4);
        let source = self.opt_text(&g, 5);
        let scope = self.opt_parsed::<Scope>(&g, 6);
        let restriction = self.opt_text(&g, 7);
        let addresses = self.opt_text(&g, 8);
        let mut code = Vec::new();
        for (p, e) in g.get(9) {
            code.push(self.text(e, p));
        }
        let note = self.opt_text(&g, 10);
        let references = self.opt_text(&g, 11);
        let incidents = self.opt_text(&g, 12);
        let mut info = Vec::new();
        for (p, e) in g.get(13) {
            if let Some(i) = self.info(e, p) {
                info.push(i);
            }
        }
        Some(Alert {
            identifier: identifier?,
            sender: sender?,
            sent: sent?,
            status: status?,
            msg_type: msg_type?,
            source,
            scope: scope?,
            restriction,
            addresses,
            code,
            note,
            references,
            incidents,
            info,
        })
    }
}

/// Reads a CAP 1.2 XML message into the model, checking it against the schema (see the
/// module documentation). Never panics, whatever the input.
pub fn from_xml(xml: &str) -> Result<Alert, Problems> {
    // A byte order mark is allowed before the XML declaration.
    let xml = xml.strip_prefix('\u{FEFF}').unwrap_or(xml);
    let root = read_tree(xml).map_err(|m| Problems::one("alert", m))?;
    if !(root.is_cap() && root.name == "alert") {
        let found = match &root.ns {
            Some(ns) => format!("<{}> in namespace {ns}", root.name),
            None => format!("<{}> in no namespace", root.name),
        };
        return Err(Problems::one(
            "alert",
            format!("the root element must be <alert> in namespace {CAP_NS}, found {found}"),
        ));
    }
    let mut ctx = Ctx { problems: Vec::new() };
    let alert = ctx.alert(&root);
    match alert {
        Some(a) if ctx.problems.is_empty() => Ok(a),
        _ if ctx.problems.is_empty() => Err(Problems::one("alert", "the message could not be read")),
        _ => Err(Problems(ctx.problems)),
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

struct Writer {
    out: String,
}

impl Writer {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn escaped(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '\r' => self.out.push_str("&#13;"),
                c => self.out.push(c),
            }
        }
    }

    fn leaf(&mut self, depth: usize, name: &str, text: &str) {
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.escaped(text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn opt(&mut self, depth: usize, name: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.leaf(depth, name, t);
        }
    }

    fn open(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn close(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn value_names(&mut self, depth: usize, name: &str, items: &[ValueName]) {
        for vn in items {
            self.open(depth, name);
            self.leaf(depth + 1, "valueName", &vn.value_name);
            self.leaf(depth + 1, "value", &vn.value);
            self.close(depth, name);
        }
    }

    fn info(&mut self, info: &Info) {
        let d = 2;
        self.open(1, "info");
        self.opt(d, "language", &info.language);
        for c in &info.category {
            self.leaf(d, "category", c.as_str());
        }
        self.leaf(d, "event", &info.event);
        for r in &info.response_type {
            self.leaf(d, "responseType", r.as_str());
        }
        self.leaf(d, "urgency", info.urgency.as_str());
        self.leaf(d, "severity", info.severity.as_str());
        self.leaf(d, "certainty", info.certainty.as_str());
        self.opt(d, "audience", &info.audience);
        self.value_names(d, "eventCode", &info.event_code);
        for (name, t) in [("effective", &info.effective), ("onset", &info.onset), ("expires", &info.expires)] {
            if let Some(t) = t {
                self.leaf(d, name, &t.to_string());
            }
        }
        self.opt(d, "senderName", &info.sender_name);
        self.opt(d, "headline", &info.headline);
        self.opt(d, "description", &info.description);
        self.opt(d, "instruction", &info.instruction);
        self.opt(d, "web", &info.web);
        self.opt(d, "contact", &info.contact);
        self.value_names(d, "parameter", &info.parameter);
        for r in &info.resource {
            self.open(d, "resource");
            self.leaf(d + 1, "resourceDesc", &r.resource_desc);
            self.leaf(d + 1, "mimeType", &r.mime_type);
            if let Some(size) = r.size {
                self.leaf(d + 1, "size", &size.to_string());
            }
            self.opt(d + 1, "uri", &r.uri);
            self.opt(d + 1, "derefUri", &r.deref_uri);
            self.opt(d + 1, "digest", &r.digest);
            self.close(d, "resource");
        }
        for a in &info.area {
            self.open(d, "area");
            self.leaf(d + 1, "areaDesc", &a.area_desc);
            for p in &a.polygon {
                self.leaf(d + 1, "polygon", &p.to_string());
            }
            for c in &a.circle {
                self.leaf(d + 1, "circle", &c.to_string());
            }
            self.value_names(d + 1, "geocode", &a.geocode);
            if let Some(v) = a.altitude {
                self.leaf(d + 1, "altitude", &v.to_string());
            }
            if let Some(v) = a.ceiling {
                self.leaf(d + 1, "ceiling", &v.to_string());
            }
            self.close(d, "area");
        }
        self.close(1, "info");
    }
}

/// Writes the canonical CAP 1.2 XML of a message: UTF-8, the CAP namespace as the default
/// namespace, elements in schema order, two-space indentation, UTC as `-00:00`.
///
/// Write only messages that passed [`crate::validate()`]: an invalid one (an empty polygon, a
/// control character in a text) is written as it is and will fail elsewhere.
pub fn to_xml(alert: &Alert) -> String {
    let mut w = Writer { out: String::with_capacity(2048) };
    w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.out.push_str("<alert xmlns=\"");
    w.out.push_str(CAP_NS);
    w.out.push_str("\">\n");
    w.leaf(1, "identifier", &alert.identifier);
    w.leaf(1, "sender", &alert.sender);
    w.leaf(1, "sent", &alert.sent.to_string());
    w.leaf(1, "status", alert.status.as_str());
    w.leaf(1, "msgType", alert.msg_type.as_str());
    w.opt(1, "source", &alert.source);
    w.leaf(1, "scope", alert.scope.as_str());
    w.opt(1, "restriction", &alert.restriction);
    w.opt(1, "addresses", &alert.addresses);
    for c in &alert.code {
        w.leaf(1, "code", c);
    }
    w.opt(1, "note", &alert.note);
    w.opt(1, "references", &alert.references);
    w.opt(1, "incidents", &alert.incidents);
    for info in &alert.info {
        w.info(info);
    }
    w.out.push_str("</alert>\n");
    w.out
}
