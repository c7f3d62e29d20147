//! The CAP 1.2 rules beyond the XML schema, and Kizuna's own rules for the values it defines.
//!
//! [`validate`] returns every problem found, each with its element path, never only the
//! first. Reading XML ([`crate::xml::from_xml`]) or JSON (serde) has already enforced the
//! enumerations, the date-time form (`YYYY-MM-DDThh:mm:ss±hh:mm`, see
//! [`crate::CapDateTime`]) and the numeric form of coordinates; what a model value can still
//! get wrong is checked here:
//!
//! | rule | CAP 1.2 source |
//! |---|---|
//! | `identifier`, `sender` not empty, no whitespace, `,`, `<`, `&` | `identifier`, `sender` |
//! | every text is XML 1.0 characters | XML 1.0 `Char` |
//! | `scope` Restricted needs `restriction`; Private needs `addresses` | `restriction`, `addresses` |
//! | `msgType` Update, Cancel, Ack, Error need `references` | `msgType` ("...identified in `<references>`") |
//! | `references`: whitespace-separated `sender,identifier,sent` triples, each a CAP date-time; not this message itself; sent no later than this one; and, given a lookup, an existing message | `references` |
//! | at least one `info` when `msgType` is Alert or Update (a Cancel, Ack or Error may have none) | 3.2.1 / Kizuna |
//! | `info/language` an RFC 3066 tag (`xs:language`) | `language` |
//! | at least one `category`; `event` not empty | `category`, `event` |
//! | `expires` after `sent`, and after `effective` when given | `expires`, `effective` |
//! | `web` a full absolute URI | `web` |
//! | `valueName` not empty (eventCode, parameter, geocode) | `eventCode`, `parameter`, `geocode` |
//! | `resource`: `resourceDesc` and a `type/subtype` `mimeType`; `uri` absolute unless it names a `derefUri`; `derefUri` base64; `digest` a SHA-1 (40 hex digits) | `resource` |
//! | `areaDesc` not empty | `areaDesc` |
//! | `polygon`: ≥ 4 pairs, first = last, latitudes −90..90, longitudes −180..180 | `polygon` |
//! | `circle`: centre in range, radius ≥ 0 km | `circle` |
//! | `ceiling` only with `altitude`, and not below it | `ceiling` |
//! | geocode `JP-LGCode`: six digits with a valid check digit | Kizuna ([`crate::geocode`]) |
//! | parameter `JP-WarningLevel`: 1 to 5 | Kizuna ([`crate::japan`]) |

use crate::geocode;
use crate::japan::{PARAM_WARNING_LEVEL, VALUE_NAME_LG_CODE};
use crate::model::*;
use crate::problem::{Problem, Problems};

/// Checks a message against every rule above except the existence of referenced messages.
pub fn validate(alert: &Alert) -> Result<(), Problems> {
    finish(problems(alert, None))
}

/// Checks a message against every rule above; `exists` answers whether a referenced message
/// is known (an earlier message of this tenant, for instance).
pub fn validate_with(alert: &Alert, exists: impl Fn(&Reference) -> bool) -> Result<(), Problems> {
    finish(problems(alert, Some(&exists)))
}

fn finish(p: Vec<Problem>) -> Result<(), Problems> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(Problems(p))
    }
}

/// Every problem with a message (empty when it is valid).
pub fn problems(alert: &Alert, exists: Option<&dyn Fn(&Reference) -> bool>) -> Vec<Problem> {
    let mut c = Checker { out: Vec::new() };
    c.alert(alert, exists);
    c.out
}

/// `xs:language`: `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`.
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok =
        parts.next().is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A full absolute URI: a scheme (`letter *(letter / digit / + - .)`), `:`, and no whitespace.
pub fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut sb = scheme.bytes();
    sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

fn is_xml_text(s: &str) -> Option<char> {
    s.chars().find(|&c| !(matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')))
}

struct Checker {
    out: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Problem::new(path, message));
    }

    fn text(&mut self, path: &str, s: &str) {
        if let Some(c) = is_xml_text(s) {
            self.problem(path, format!("contains U+{:04X}, which XML cannot carry", c as u32));
        }
    }

    fn opt_text(&mut self, path: &str, s: &Option<String>) {
        if let Some(s) = s {
            self.text(path, s);
        }
    }

    fn required_text(&mut self, path: &str, s: &str) {
        self.text(path, s);
        if s.trim().is_empty() {
            self.problem(path, "must not be empty");
        }
    }

    fn id(&mut self, path: &str, s: &str) {
        self.text(path, s);
        if !is_cap_id(s) {
            self.problem(path, "must not be empty or contain spaces, commas, '<' or '&'");
        }
    }

    fn point(&mut self, path: &str, what: &str, p: Point) {
        if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
            self.problem(path, format!("{what}: latitude {} is not within -90..90", p.lat));
        }
        if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
            self.problem(path, format!("{what}: longitude {} is not within -180..180", p.lon));
        }
    }

    fn alert(&mut self, a: &Alert, exists: Option<&dyn Fn(&Reference) -> bool>) {
        self.id("alert/identifier", &a.identifier);
        self.id("alert/sender", &a.sender);
        self.opt_text("alert/source", &a.source);
        self.opt_text("alert/restriction", &a.restriction);
        self.opt_text("alert/addresses", &a.addresses);
        self.opt_text("alert/note", &a.note);
        self.opt_text("alert/incidents", &a.incidents);
        for (i, code) in a.code.iter().enumerate() {
            self.text(&format!("alert/code[{i}]"), code);
        }

        match a.scope {
            Scope::Restricted if a.restriction.as_deref().is_none_or(|r| r.trim().is_empty()) => {
                self.problem("alert/restriction", "required when <scope> is Restricted")
            }
            Scope::Private if a.addresses.as_deref().is_none_or(|r| r.trim().is_empty()) => {
                self.problem("alert/addresses", "required when <scope> is Private")
            }
            _ => {}
        }

        self.references(a, exists);

        if matches!(a.msg_type, MsgType::Alert | MsgType::Update) && a.info.is_empty() {
            self.problem("alert/info[0]", format!("a message of type {} needs at least one <info>", a.msg_type));
        }
        for (i, info) in a.info.iter().enumerate() {
            self.info(&format!("alert/info[{i}]"), info, a);
        }
    }

    fn references(&mut self, a: &Alert, exists: Option<&dyn Fn(&Reference) -> bool>) {
        let path = "alert/references";
        let needs = matches!(a.msg_type, MsgType::Update | MsgType::Cancel | MsgType::Ack | MsgType::Error);
        let Some(raw) = &a.references else {
            if needs {
                self.problem(path, format!("required when <msgType> is {}", a.msg_type));
            }
            return;
        };
        self.text(path, raw);
        let refs = match Reference::parse_list(raw) {
            Ok(r) => r,
            Err(e) => {
                self.problem(path, e);
                return;
            }
        };
        let me = a.reference();
        for r in &refs {
            if r.sender == me.sender && r.identifier == me.identifier {
                self.problem(path, format!("{r} is this message itself"));
                continue;
            }
            if r.sent.datetime() > a.sent.datetime() {
                self.problem(path, format!("{r} was sent after this message ({})", a.sent));
            }
            if let Some(exists) = exists {
                if !exists(r) {
                    self.problem(path, format!("{r}: no such message"));
                }
            }
        }
    }

    fn value_names(&mut self, path: &str, name: &str, items: &[ValueName]) {
        for (j, vn) in items.iter().enumerate() {
            let p = format!("{path}/{name}[{j}]");
            self.required_text(&format!("{p}/valueName"), &vn.value_name);
            self.text(&format!("{p}/value"), &vn.value);
        }
    }

    fn info(&mut self, path: &str, info: &Info, a: &Alert) {
        if let Some(lang) = &info.language {
            if !is_language_tag(lang) {
                self.problem(
                    format!("{path}/language"),
                    format!("'{lang}' is not an RFC 3066 language tag (e.g. ja-JP)"),
                );
            }
        }
        if info.category.is_empty() {
            self.problem(format!("{path}/category[0]"), "at least one <category> is required");
        }
        self.required_text(&format!("{path}/event"), &info.event);
        self.opt_text(&format!("{path}/audience"), &info.audience);
        self.value_names(path, "eventCode", &info.event_code);

        if let Some(expires) = info.expires {
            if expires.datetime() <= a.sent.datetime() {
                self.problem(format!("{path}/expires"), format!("{expires} is not after <sent> {}", a.sent));
            }
            if let Some(effective) = info.effective {
                if expires.datetime() <= effective.datetime() {
                    self.problem(format!("{path}/expires"), format!("{expires} is not after <effective> {effective}"));
                }
            }
        }

        for (name, v) in [
            ("senderName", &info.sender_name),
            ("headline", &info.headline),
            ("description", &info.description),
            ("instruction", &info.instruction),
            ("contact", &info.contact),
        ] {
            self.opt_text(&format!("{path}/{name}"), v);
        }
        if let Some(web) = &info.web {
            if !is_absolute_uri(web) {
                self.problem(format!("{path}/web"), format!("'{web}' is not a full absolute URI"));
            }
        }

        self.value_names(path, "parameter", &info.parameter);
        for (j, p) in info.parameter.iter().enumerate() {
            if p.value_name == PARAM_WARNING_LEVEL && !matches!(p.value.as_str(), "1" | "2" | "3" | "4" | "5") {
                self.problem(
                    format!("{path}/parameter[{j}]/value"),
                    format!("{PARAM_WARNING_LEVEL} must be 1 to 5, not '{}'", p.value),
                );
            }
        }

        for (j, r) in info.resource.iter().enumerate() {
            self.resource(&format!("{path}/resource[{j}]"), r);
        }
        for (j, area) in info.area.iter().enumerate() {
            self.area(&format!("{path}/area[{j}]"), area);
        }
    }

    fn resource(&mut self, path: &str, r: &Resource) {
        self.required_text(&format!("{path}/resourceDesc"), &r.resource_desc);
        let mt = r.mime_type.trim();
        let mime_ok = mt.split_once('/').is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && !mt.chars().any(char::is_whitespace);
        if !mime_ok {
            self.problem(format!("{path}/mimeType"), format!("'{}' is not a MIME type (type/subtype)", r.mime_type));
        }
        if let Some(uri) = &r.uri {
            self.text(&format!("{path}/uri"), uri);
            if r.deref_uri.is_none() && !is_absolute_uri(uri) {
                self.problem(format!("{path}/uri"), format!("'{uri}' is not a full absolute URI"));
            }
        }
        if let Some(data) = &r.deref_uri {
            let ok = data
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=') || c.is_ascii_whitespace());
            if !ok {
                self.problem(format!("{path}/derefUri"), "must be base64 data");
            }
        }
        if let Some(d) = &r.digest {
            if !(d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit())) {
                self.problem(format!("{path}/digest"), "must be a SHA-1 digest (40 hexadecimal digits)");
            }
        }
    }

    fn area(&mut self, path: &str, area: &Area) {
        self.required_text(&format!("{path}/areaDesc"), &area.area_desc);
        for (k, poly) in area.polygon.iter().enumerate() {
            let p = format!("{path}/polygon[{k}]");
            let pts = poly.points();
            if pts.len() < 4 {
                self.problem(&p, format!("needs at least 4 coordinate pairs, has {}", pts.len()));
            }
            if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
                if first != last {
                    self.problem(&p, "first and last points differ (the polygon must be closed)");
                }
            }
            for (n, pt) in pts.iter().enumerate() {
                self.point(&p, &format!("point {n} ({pt})"), *pt);
            }
        }
        for (k, circle) in area.circle.iter().enumerate() {
            let p = format!("{path}/circle[{k}]");
            self.point(&p, "centre", circle.center);
            if !(circle.radius.is_finite() && circle.radius >= 0.0) {
                self.problem(&p, format!("radius {} km must be 0 or more", circle.radius));
            }
        }
        self.value_names(path, "geocode", &area.geocode);
        for (k, g) in area.geocode.iter().enumerate() {
            if g.value_name == VALUE_NAME_LG_CODE {
                if let Err(e) = geocode::check_code(&g.value) {
                    self.problem(format!("{path}/geocode[{k}]/value"), e);
                }
            }
        }
        for (name, v) in [("altitude", area.altitude), ("ceiling", area.ceiling)] {
            if v.is_some_and(|v| !v.is_finite()) {
                self.problem(format!("{path}/{name}"), "must be a finite number");
            }
        }
        match (area.altitude, area.ceiling) {
            (None, Some(_)) => self.problem(format!("{path}/ceiling"), "may only be used with <altitude>"),
            (Some(alt), Some(ceil)) if ceil < alt => {
                self.problem(format!("{path}/ceiling"), format!("{ceil} is below <altitude> {alt}"))
            }
            _ => {}
        }
    }
}
