//! The CAP 1.2 message model: [`Alert`] → [`Info`] → [`Resource`] / [`Area`].
//!
//! Field names, nesting and cardinalities follow the OASIS CAP 1.2 standard (1 July 2010)
//! and its XML schema (namespace `urn:oasis:names:tc:emergency:cap:1.2`): a required element
//! is a plain field, an optional one an `Option`, a repeatable one a `Vec` named by the
//! element (singular, as in the schema: `info`, `area`, `polygon`, ...).
//!
//! The JSON form (serde) uses exactly the CAP element names (`msgType`, `senderName`,
//! `responseType`, `eventCode`, `areaDesc`, `mimeType`, `derefUri`, `valueName`, ...), the
//! CAP enumeration values (`"Actual"`, `"CBRNE"`, `"AllClear"`) and the CAP lexical forms
//! for date-times (`"2026-07-14T09:30:00+09:00"`), polygons (`"36.38,139.05 36.40,139.05 ..."`)
//! and circles (`"36.39,139.06 2.5"`), so a JSON alert and a CAP XML alert carry the same
//! text. Empty lists and absent optional elements are omitted; unknown JSON fields are refused.
//!
//! What the types guarantee: enumerations hold only CAP values; a [`CapDateTime`] is always
//! representable as `YYYY-MM-DDThh:mm:ss±hh:mm`; polygon and circle coordinates are numbers.
//! Everything else (required text not empty, ranges, closure, cross-field rules) is checked
//! by [`crate::validate`](mod@crate::validate).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The CAP 1.2 XML namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

macro_rules! cap_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order the CAP standard lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The CAP code value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The CAP code values, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("'{}' is not one of {}", s, $name::expected())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

cap_enum!(
    /// `alert/status`: the appropriate handling of the message.
    Status {
        /// Actionable by all targeted recipients.
        Actual = "Actual",
        /// Actionable only by designated exercise participants.
        Exercise = "Exercise",
        /// For messages that support alert network internal functions.
        System = "System",
        /// Technical testing only, all recipients disregard.
        Test = "Test",
        /// A preliminary template or draft, not actionable in its current form.
        Draft = "Draft",
    }
);

cap_enum!(
    /// `alert/msgType`: the nature of the message.
    MsgType {
        /// Initial information requiring attention by targeted recipients.
        Alert = "Alert",
        /// Updates and supersedes the earlier message(s) identified in `references`.
        Update = "Update",
        /// Cancels the earlier message(s) identified in `references`.
        Cancel = "Cancel",
        /// Acknowledges receipt and acceptance of the message(s) identified in `references`.
        Ack = "Ack",
        /// Indicates rejection of the message(s) identified in `references`.
        Error = "Error",
    }
);

cap_enum!(
    /// `alert/scope`: the intended distribution.
    Scope {
        /// For general dissemination to unrestricted audiences.
        Public = "Public",
        /// For dissemination only to users with a known operational requirement (`restriction`).
        Restricted = "Restricted",
        /// For dissemination only to specified addresses (`addresses`).
        Private = "Private",
    }
);

cap_enum!(
    /// `info/category`.
    Category {
        /// Geophysical (inc. landslide).
        Geo = "Geo",
        /// Meteorological (inc. flood).
        Met = "Met",
        /// General emergency and public safety.
        Safety = "Safety",
        /// Law enforcement, military, homeland and local/private security.
        Security = "Security",
        /// Rescue and recovery.
        Rescue = "Rescue",
        /// Fire suppression and rescue.
        Fire = "Fire",
        /// Medical and public health.
        Health = "Health",
        /// Pollution and other environmental.
        Env = "Env",
        /// Public and private transportation.
        Transport = "Transport",
        /// Utility, telecommunication, other non-transport infrastructure.
        Infra = "Infra",
        /// Chemical, Biological, Radiological, Nuclear or High-Yield Explosive threat or attack.
        Cbrne = "CBRNE",
        /// Other events.
        Other = "Other",
    }
);

cap_enum!(
    /// `info/responseType`: the type of action recommended for the target audience.
    ResponseType {
        /// Take shelter in place or per `instruction`.
        Shelter = "Shelter",
        /// Relocate as instructed in the `instruction`.
        Evacuate = "Evacuate",
        /// Make preparations per the `instruction`.
        Prepare = "Prepare",
        /// Execute a pre-planned activity identified in `instruction`.
        Execute = "Execute",
        /// Avoid the subject event as per the `instruction`.
        Avoid = "Avoid",
        /// Attend to information sources as described in `instruction`.
        Monitor = "Monitor",
        /// Evaluate the information in this message (not for public warnings).
        Assess = "Assess",
        /// The subject event no longer poses a threat or concern.
        AllClear = "AllClear",
        /// No action recommended.
        None = "None",
    }
);

cap_enum!(
    /// `info/urgency`.
    Urgency {
        /// Responsive action should be taken immediately.
        Immediate = "Immediate",
        /// Responsive action should be taken soon (within next hour).
        Expected = "Expected",
        /// Responsive action should be taken in the near future.
        Future = "Future",
        /// Responsive action is no longer required.
        Past = "Past",
        /// Urgency not known.
        Unknown = "Unknown",
    }
);

cap_enum!(
    /// `info/severity`.
    Severity {
        /// Extraordinary threat to life or property.
        Extreme = "Extreme",
        /// Significant threat to life or property.
        Severe = "Severe",
        /// Possible threat to life or property.
        Moderate = "Moderate",
        /// Minimal to no known threat to life or property.
        Minor = "Minor",
        /// Severity unknown.
        Unknown = "Unknown",
    }
);

cap_enum!(
    /// `info/certainty`.
    Certainty {
        /// Determined to have occurred or to be ongoing.
        Observed = "Observed",
        /// Likely (p > ~50%).
        Likely = "Likely",
        /// Possible but not likely (p <= ~50%).
        Possible = "Possible",
        /// Not expected to occur (p ~ 0).
        Unlikely = "Unlikely",
        /// Certainty unknown.
        Unknown = "Unknown",
    }
);

// ---------------------------------------------------------------------------------------
// Date-time
// ---------------------------------------------------------------------------------------

/// A CAP date-time: `YYYY-MM-DDThh:mm:ss±hh:mm`.
///
/// The rule (CAP 1.2, `sent`): the \[dateTime\] format, e.g. `2002-05-24T16:49:00-07:00`;
/// "Alphabetic timezone designators such as 'Z' MUST NOT be used. The timezone for UTC MUST
/// be represented as '-00:00'." The schema restricts `xs:dateTime` with the pattern
/// `\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d`, so there are no fractional seconds and
/// the offset is always present.
///
/// Kizuna reads `+00:00` as well as `-00:00` (both mean UTC; some CAP 1.1 profiles allowed
/// `+00:00`) and always writes `-00:00`. `Z`, fractional seconds, a missing offset, `24:00:00`
/// and offsets beyond ±14:00 (the `xs:dateTime` limit) are refused. Two values are equal when
/// they are the same instant written with the same offset.
#[derive(Debug, Clone, Copy)]
pub struct CapDateTime(DateTime<FixedOffset>);

impl CapDateTime {
    /// Parses the CAP lexical form (see the type's documentation).
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        let shape_ok = b.len() == 25
            && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24].iter().all(|&i| digit(i))
            && at(4, b'-')
            && at(7, b'-')
            && at(10, b'T')
            && at(13, b':')
            && at(16, b':')
            && (at(19, b'+') || at(19, b'-'))
            && at(22, b':');
        if !shape_ok {
            return Err(format!(
                "'{s}' is not a CAP date-time (YYYY-MM-DDThh:mm:ss±hh:mm, no fractional seconds, \
                 UTC written -00:00, never Z)"
            ));
        }
        let dt = DateTime::parse_from_rfc3339(s).map_err(|e| format!("'{s}' is not a valid date-time ({e})"))?;
        Self::from_datetime(dt).map_err(|e| format!("'{s}': {e}"))
    }

    /// Wraps a chrono date-time, dropping any fraction of a second. Refuses offsets that are
    /// not whole minutes or beyond ±14:00, and years outside 0000..=9999 (CAP writes four digits).
    pub fn from_datetime(dt: DateTime<FixedOffset>) -> Result<Self, String> {
        let offset = dt.offset().local_minus_utc();
        if offset % 60 != 0 {
            return Err("the UTC offset must be a whole number of minutes".into());
        }
        if offset.abs() > 14 * 3600 {
            return Err("the UTC offset must be within ±14:00".into());
        }
        if !(0..=9999).contains(&dt.year()) {
            return Err("the year must have four digits".into());
        }
        let whole = dt.with_nanosecond(0).ok_or("the time cannot be represented")?;
        Ok(CapDateTime(whole))
    }

    /// The chrono value.
    pub fn datetime(&self) -> DateTime<FixedOffset> {
        self.0
    }
}

impl PartialEq for CapDateTime {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 && self.0.offset() == other.0.offset()
    }
}

impl Eq for CapDateTime {}

impl fmt::Display for CapDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.to_rfc3339_opts(SecondsFormat::Secs, false);
        // chrono writes a zero offset as "+00:00"; CAP requires "-00:00".
        match s.strip_suffix("+00:00") {
            Some(head) => write!(f, "{head}-00:00"),
            None => f.write_str(&s),
        }
    }
}

impl FromStr for CapDateTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CapDateTime::parse(s)
    }
}

impl Serialize for CapDateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CapDateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CapDateTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------

/// A WGS 84 coordinate pair, written `lat,lon` in CAP (and `{"lat":..,"lon":..}` in JSON
/// outside polygons and circles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Self {
        Point { lat, lon }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

/// Parses a CAP number: an `xs:decimal` (`-36.5`, `+139`, `.5`; no exponent, no NaN/inf).
pub(crate) fn parse_decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let ok = digits(int) && frac.is_none_or(digits) && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_point(pair: &str) -> Result<Point, String> {
    let (lat, lon) = pair.split_once(',').ok_or_else(|| format!("'{pair}' is not a lat,lon pair"))?;
    match (parse_decimal(lat), parse_decimal(lon)) {
        (Some(lat), Some(lon)) => Ok(Point { lat, lon }),
        _ => Err(format!("'{pair}' is not a lat,lon pair of decimal numbers")),
    }
}

/// `area/polygon`: "a whitespace-delimited list of [WGS 84] coordinate pairs"; at least four
/// pairs, the first and last the same (checked by [`crate::validate()`], not by parsing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polygon(pub Vec<Point>);

impl Polygon {
    /// A closed ring from the given points (the first point is repeated at the end if needed).
    pub fn closed(mut points: Vec<Point>) -> Self {
        if let (Some(first), Some(last)) = (points.first().copied(), points.last().copied()) {
            if first != last {
                points.push(first);
            }
        }
        Polygon(points)
    }

    pub fn points(&self) -> &[Point] {
        &self.0
    }
}

impl fmt::Display for Polygon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl FromStr for Polygon {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split_whitespace().map(parse_point).collect::<Result<Vec<_>, _>>().map(Polygon)
    }
}

/// `area/circle`: "a central point given as a [WGS 84] coordinate pair followed by a space
/// character and a radius value in kilometers", e.g. `36.39,139.06 2.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub center: Point,
    /// Kilometres.
    pub radius: f64,
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.center, self.radius)
    }
}

impl FromStr for Circle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(center), Some(radius), None) => {
                let center = parse_point(center)?;
                let radius =
                    parse_decimal(radius).ok_or_else(|| format!("radius '{radius}' is not a decimal number"))?;
                Ok(Circle { center, radius })
            }
            _ => Err(format!("'{s}' is not 'lat,lon radius'")),
        }
    }
}

macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(Polygon);
serde_as_string!(Circle);

// ---------------------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------------------

/// A `valueName`/`value` pair: `eventCode`, `parameter` and `geocode` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueName {
    pub value_name: String,
    pub value: String,
}

impl ValueName {
    pub fn new(value_name: impl Into<String>, value: impl Into<String>) -> Self {
        ValueName { value_name: value_name.into(), value: value.into() }
    }
}

/// A `geocode` is a `valueName`/`value` pair (e.g. `JP-LGCode` / `102016`).
pub type Geocode = ValueName;

/// `alert`: the message and its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alert {
    /// Unique per sender; no spaces, commas, `<` or `&`.
    pub identifier: String,
    /// Globally unique sender; no spaces, commas, `<` or `&`.
    pub sender: String,
    pub sent: CapDateTime,
    pub status: Status,
    pub msg_type: MsgType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub scope: Scope,
    /// Required when `scope` is `Restricted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<String>,
    /// Space-delimited group listing; required when `scope` is `Private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Space-separated `sender,identifier,sent` triples of earlier messages
    /// (see [`crate::Reference`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incidents: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Info>,
}

/// `info`: one language's description of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Info {
    /// RFC 3066 language tag; CAP's default when absent is `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// At least one.
    pub category: Vec<Category>,
    pub event: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_type: Vec<ResponseType>,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_code: Vec<ValueName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<CapDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<CapDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<CapDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// A full absolute URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<ValueName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub area: Vec<Area>,
}

impl Info {
    /// An `info` with the required elements only.
    pub fn new(
        category: Category,
        event: impl Into<String>,
        urgency: Urgency,
        severity: Severity,
        certainty: Certainty,
    ) -> Self {
        Info {
            language: None,
            category: vec![category],
            event: event.into(),
            response_type: Vec::new(),
            urgency,
            severity,
            certainty,
            audience: None,
            event_code: Vec::new(),
            effective: None,
            onset: None,
            expires: None,
            sender_name: None,
            headline: None,
            description: None,
            instruction: None,
            web: None,
            contact: None,
            parameter: Vec::new(),
            resource: Vec::new(),
            area: Vec::new(),
        }
    }

    /// The language, with CAP's default `en-US` when absent.
    pub fn language_or_default(&self) -> &str {
        self.language.as_deref().unwrap_or("en-US")
    }

    /// The first `parameter` with this `valueName`.
    pub fn parameter(&self, value_name: &str) -> Option<&str> {
        self.parameter.iter().find(|p| p.value_name == value_name).map(|p| p.value.as_str())
    }
}

/// `resource`: a file with supplemental information (an image, a map, audio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    pub resource_desc: String,
    pub mime_type: String,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The content itself, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deref_uri: Option<String>,
    /// SHA-1 of the content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `area`: where the information applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Area {
    pub area_desc: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polygon: Vec<Polygon>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circle: Vec<Circle>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geocode: Vec<Geocode>,
    /// Feet above mean sea level (WGS 84). A JSON number (exact in XML; serde_json reads
    /// numbers beyond ~15 significant digits back to within 1 ULP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    /// Feet; only with `altitude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<f64>,
}

impl Area {
    pub fn new(area_desc: impl Into<String>) -> Self {
        Area {
            area_desc: area_desc.into(),
            polygon: Vec::new(),
            circle: Vec::new(),
            geocode: Vec::new(),
            altitude: None,
            ceiling: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

/// An extended message identifier, `sender,identifier,sent`: how `references` names an
/// earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: CapDateTime,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.sender, self.identifier, self.sent)
    }
}

impl Reference {
    /// Parses a `references` value: one or more triples separated by whitespace. Each
    /// sender and identifier must satisfy the identifier rule (no whitespace, `,`, `<`, `&`).
    pub fn parse_list(s: &str) -> Result<Vec<Reference>, String> {
        let mut out = Vec::new();
        for token in s.split_whitespace() {
            let mut parts = token.split(',');
            let (Some(sender), Some(identifier), Some(sent), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("'{token}' is not sender,identifier,sent"));
            };
            if !is_cap_id(sender) {
                return Err(format!("'{token}': the sender is empty or contains '<' or '&'"));
            }
            if !is_cap_id(identifier) {
                return Err(format!("'{token}': the identifier is empty or contains '<' or '&'"));
            }
            let sent = CapDateTime::parse(sent).map_err(|e| format!("'{token}': {e}"))?;
            out.push(Reference { sender: sender.to_string(), identifier: identifier.to_string(), sent });
        }
        if out.is_empty() {
            return Err("no sender,identifier,sent triple".into());
        }
        Ok(out)
    }

    /// Writes a `references` value.
    pub fn join(refs: &[Reference]) -> String {
        refs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
    }
}

/// The identifier rule for `identifier` and `sender`: not empty, and no spaces, commas or
/// restricted characters (`<` and `&`). Any whitespace counts as a space.
pub fn is_cap_id(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&'))
}

impl Alert {
    /// This message's extended identifier, for another message's `references`.
    pub fn reference(&self) -> Reference {
        Reference { sender: self.sender.clone(), identifier: self.identifier.clone(), sent: self.sent }
    }

    /// The parsed `references` (empty when absent).
    pub fn referenced(&self) -> Result<Vec<Reference>, String> {
        match &self.references {
            None => Ok(Vec::new()),
            Some(s) => Reference::parse_list(s),
        }
    }
}
