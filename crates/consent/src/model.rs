//! The vocabulary of the consent engine: who asks ([`Caller`], [`Role`]), why
//! ([`Purpose`]), what kind of data it is ([`Category`], [`Classification`],
//! [`Classified`]), and the records that permit a read ([`ConsentRecord`],
//! [`Delegation`]), stop it ([`UsageStop`]) or account for it ([`ProvisionRecord`]).
//!
//! # Layout
//! - callers: [`Role`], [`Caller`], [`Purpose`] (with [`Purpose::VOCABULARY`]),
//!   [`RecipientKind`] (with [`RecipientKind::VOCABULARY`]);
//! - what is personal: [`Category`], [`PersonalType`], [`Classification`] and its
//!   [`Classification::classify`] → [`Classified`];
//! - records: [`ConsentRecord`] (ISO/IEC TS 27560 / Kantara Consent Receipt fields),
//!   [`LegalBasis`], [`ConsentMethod`], [`Delegation`] (information-bank provision
//!   conditions), [`UsageStop`], [`ProvisionRecord`], and [`RecordError`] for records
//!   that cannot be valid.
//!
//! All entity types, attribute and relationship names are **expanded IRIs**, as in
//! [`kizuna_ngsild::Entity`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use kizuna_ngsild::{AttrKind, Entity};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The expanded IRI of the `dataSubject` relationship (the default-context term
/// `dataSubject` expanded with the NGSI-LD core context). Any entity carrying it is
/// personal data about the relationship's object.
pub const DATA_SUBJECT: &str = "https://uri.etsi.org/ngsi-ld/default-context/dataSubject";

/// The role a caller acts in. One party may hold several roles; each request is made
/// in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The municipality running the tenant: the controller of the tenant's data.
    TenantAdmin,
    /// A party that pushes records (hospital, insurer, school, the city's systems, sensors).
    DataHolder,
    /// A party registered with the purposes it may use data for (app vendor, insurer's
    /// disease-management team, shop, media).
    ServiceProvider,
    /// A resident: the data subject of records about them.
    Citizen,
    /// No credentials: may read only what the tenant marks public.
    Anonymous,
}

impl Role {
    /// The role's name as serialized (`tenant-admin`, `data-holder`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TenantAdmin => "tenant-admin",
            Role::DataHolder => "data-holder",
            Role::ServiceProvider => "service-provider",
            Role::Citizen => "citizen",
            Role::Anonymous => "anonymous",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a caller wants personal data. Purposes are compared as exact strings: there is
/// no hierarchy (`disease-management` does not imply `healthcare`), so a consent or a
/// registration names every purpose it allows.
///
/// [`Purpose::VOCABULARY`] is the documented vocabulary; other strings are accepted
/// (a tenant may define its own) but [`Purpose::is_known`] tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Purpose(pub String);

impl Purpose {
    /// The documented purposes, with what each covers.
    pub const VOCABULARY: &'static [(&'static str, &'static str)] = &[
        ("healthcare", "diagnosis and treatment of the person by a medical institution or pharmacy"),
        ("care-prevention", "long-term-care prevention programmes (介護予防)"),
        ("disease-management", "prevention of lifestyle-disease aggravation by an insurer (重症化予防)"),
        ("child-rearing-support", "maternal and child health, checkups and vaccinations (子育て支援)"),
        ("watch-over", "locating children and elderly people by their guardians (見守り)"),
        ("research", "secondary use for research"),
        ("benefit-administration", "granting and accounting municipal benefits and points"),
        ("emergency", "search and rescue in an emergency or disaster (still needs a consent or delegation)"),
        ("education", "school affairs and learning support"),
        ("resident-services", "prefilling applications at the municipal counter (書かない窓口)"),
        ("recommendation", "offers and recommendations from local shops"),
    ];

    /// A purpose from its name.
    pub fn new(name: impl Into<String>) -> Purpose {
        Purpose(name.into())
    }

    /// The purpose's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the purpose is in [`Purpose::VOCABULARY`].
    pub fn is_known(&self) -> bool {
        Self::VOCABULARY.iter().any(|(p, _)| *p == self.0)
    }
}

impl From<&str> for Purpose {
    fn from(s: &str) -> Purpose {
        Purpose(s.to_string())
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of recipient a party is, as registered with the information bank; a
/// citizen's [`Delegation`] names the kinds it allows. Compared as exact strings;
/// [`RecipientKind::VOCABULARY`] documents the usual ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecipientKind(pub String);

impl RecipientKind {
    /// The documented recipient kinds.
    pub const VOCABULARY: &'static [&'static str] = &[
        "hospital",
        "pharmacy",
        "insurer",
        "municipality",
        "school",
        "care-provider",
        "app-vendor",
        "retailer",
        "media",
        "research-institute",
    ];

    /// A recipient kind from its name.
    pub fn new(name: impl Into<String>) -> RecipientKind {
        RecipientKind(name.into())
    }

    /// The kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for RecipientKind {
    fn from(s: &str) -> RecipientKind {
        RecipientKind(s.to_string())
    }
}

/// Who is asking, as the authentication layer established it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The tenant (municipality) the request is made in.
    pub tenant: String,
    /// The authenticated party (a URN); `None` for anonymous callers. Consents,
    /// delegation exclusions and usage stops name recipients by this value.
    #[serde(default)]
    pub party: Option<String>,
    /// The role the request is made in.
    pub role: Role,
    /// For citizens: their own URN as a data subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// For service providers (and any registered recipient): the purposes the party is
    /// registered for. A service provider may state no other purpose.
    #[serde(default)]
    pub registered_purposes: Vec<Purpose>,
    /// The kind of recipient the party is registered as, for information-bank
    /// provision ([`Delegation::recipient_kinds`]); `None`: not a registered recipient.
    #[serde(default)]
    pub recipient_kind: Option<RecipientKind>,
}

impl Caller {
    /// An anonymous caller in `tenant`.
    pub fn anonymous(tenant: impl Into<String>) -> Caller {
        Caller {
            tenant: tenant.into(),
            party: None,
            role: Role::Anonymous,
            subject: None,
            registered_purposes: Vec::new(),
            recipient_kind: None,
        }
    }

    /// What the audit log names as the actor: the party, else the citizen's subject
    /// URN, else `anonymous`.
    pub fn actor(&self) -> &str {
        match (&self.party, &self.subject) {
            (Some(p), _) => p,
            (None, Some(s)) => s,
            (None, None) => "anonymous",
        }
    }
}

/// The kind of personal data an entity type holds (APPI special-care categories and the
/// product's data families). Serialized as its lowercase name; any other string is
/// [`Category::Other`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Medical records, vitals, checkups, medication (`health`).
    Health,
    /// Positions, trails, detections (`location`).
    Location,
    /// Payment histories (`payment`).
    Payment,
    /// Benefits and point grants (`benefit`).
    Benefit,
    /// School records and learning data (`education`).
    Education,
    /// Name, address, date of birth, identifiers (`identity`).
    Identity,
    /// Household and family relations (`family`).
    Family,
    /// Personal only through a `dataSubject` relationship, with no personal type
    /// (`unclassified`): a consent must name this category or the entity's types.
    Unclassified,
    /// A tenant-defined category.
    Other(String),
}

impl Category {
    /// The category's serialized name.
    pub fn as_str(&self) -> &str {
        match self {
            Category::Health => "health",
            Category::Location => "location",
            Category::Payment => "payment",
            Category::Benefit => "benefit",
            Category::Education => "education",
            Category::Identity => "identity",
            Category::Family => "family",
            Category::Unclassified => "unclassified",
            Category::Other(s) => s,
        }
    }

    /// The category named `s`: a known name gives its variant, anything else `Other`.
    pub fn parse(s: &str) -> Category {
        match s {
            "health" => Category::Health,
            "location" => Category::Location,
            "payment" => Category::Payment,
            "benefit" => Category::Benefit,
            "education" => Category::Education,
            "identity" => Category::Identity,
            "family" => Category::Family,
            "unclassified" => Category::Unclassified,
            other => Category::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Category::parse(&s))
    }
}

/// How one personal entity type is classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalType {
    /// The category of its data.
    pub category: Category,
    /// The expanded IRI of the relationship naming the data subject
    /// (default: [`DATA_SUBJECT`]).
    #[serde(default = "default_subject_relationship")]
    pub subject_relationship: String,
}

fn default_subject_relationship() -> String {
    DATA_SUBJECT.to_string()
}

/// A tenant's classification of its entity types: which are personal (with category and
/// subject relationship) and which are public. Types in neither set are non-personal
/// but not public.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// Personal entity types (expanded IRIs).
    #[serde(default)]
    pub personal: BTreeMap<String, PersonalType>,
    /// Public entity types (expanded IRIs): anonymous callers may read them.
    #[serde(default)]
    pub public: BTreeSet<String>,
}

/// What [`Classification::classify`] says an entity is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Classified {
    /// Not personal, and every type is public: anyone may read it.
    Public,
    /// Not personal: any authenticated caller may read it.
    NonPersonal,
    /// Personal data.
    Personal {
        /// The data subject, `None` when unknown: no subject relationship, a value that
        /// is not a URI, or more than one distinct subject. Unknown-subject data is
        /// released to the tenant admin only.
        subject: Option<String>,
        /// Every category the entity falls in (sorted, never empty): one per personal
        /// type, or [`Category::Unclassified`] when personal only by `dataSubject`.
        categories: Vec<Category>,
    },
}

impl Classification {
    /// An empty classification: nothing personal (except by `dataSubject`), nothing public.
    pub fn new() -> Classification {
        Classification::default()
    }

    /// Marks `type_iri` personal, in `category`, with its subject named by
    /// `subject_relationship` (`None`: [`DATA_SUBJECT`]).
    pub fn with_personal(mut self, type_iri: &str, category: Category, subject_relationship: Option<&str>) -> Self {
        let subject_relationship = subject_relationship.unwrap_or(DATA_SUBJECT).to_string();
        self.personal.insert(type_iri.to_string(), PersonalType { category, subject_relationship });
        self
    }

    /// Marks `type_iri` public.
    pub fn with_public(mut self, type_iri: &str) -> Self {
        self.public.insert(type_iri.to_string());
        self
    }

    /// Classifies an entity. The rules, in order:
    ///
    /// 1. The entity is **personal** if any of its types is a personal type, or if it has
    ///    a [`DATA_SUBJECT`] attribute (of any kind).
    /// 2. Its subjects are the objects of the [`DATA_SUBJECT`] relationship and of the
    ///    subject relationship of each of its personal types, over every instance
    ///    (`datasetId`). `Relationship` objects (a URI or an array of URIs) and
    ///    `ListRelationship` object lists are read; any other kind or value makes the
    ///    subject unreadable. The subject is known only if exactly one distinct URI was
    ///    found and nothing was unreadable; otherwise it is unknown (`None`).
    /// 3. Its categories are those of its personal types (sorted, deduplicated), or
    ///    [`Category::Unclassified`] if it has none.
    /// 4. A non-personal entity is **public** if it has at least one type and every type
    ///    is public, else **non-personal**. Personal always wins over public.
    pub fn classify(&self, e: &Entity) -> Classified {
        let personal_types: Vec<&PersonalType> =
            e.types.iter().filter_map(|t| self.personal.get(t).or_else(|| fhir_builtin(t))).collect();
        let has_data_subject = e.attrs.contains_key(DATA_SUBJECT);
        if personal_types.is_empty() && !has_data_subject {
            let public = !e.types.is_empty() && e.types.iter().all(|t| self.public.contains(t));
            return if public { Classified::Public } else { Classified::NonPersonal };
        }
        let mut relationships: BTreeSet<&str> =
            personal_types.iter().map(|p| p.subject_relationship.as_str()).collect();
        relationships.insert(DATA_SUBJECT);
        let mut subjects = BTreeSet::new();
        let mut unreadable = false;
        for rel in relationships {
            for inst in e.attrs.get(rel).into_iter().flatten() {
                if !collect_objects(inst.kind, &inst.value, &mut subjects) {
                    unreadable = true;
                }
            }
        }
        let subject = match (unreadable, subjects.len()) {
            (false, 1) => subjects.into_iter().next(),
            _ => None,
        };
        let mut categories: Vec<Category> = personal_types.iter().map(|p| p.category.clone()).collect();
        categories.sort();
        categories.dedup();
        if categories.is_empty() {
            categories.push(Category::Unclassified);
        }
        Classified::Personal { subject, categories }
    }
}

/// The namespace of FHIR resource types as the decision point sees them
/// (`http://hl7.org/fhir/Observation`): the FHIR API decides each resource as an entity
/// of this type with the resource's data subject as its [`DATA_SUBJECT`].
pub const FHIR_TYPE_BASE: &str = "http://hl7.org/fhir/";

/// The built-in classification of FHIR resource types, used when the tenant's
/// classification does not name the type: `Patient` is personal data of category
/// `identity`; the clinical resources Kizuna stores (`Observation`, `Immunization`,
/// `MedicationDispense`, `MedicationStatement`, `Encounter`, `DiagnosticReport`,
/// `Condition`, `Flag`, `Communication`, `Consent`) are personal data of category
/// `health`. `Organization` and other types are not personal.
pub fn fhir_builtin(type_iri: &str) -> Option<&'static PersonalType> {
    static IDENTITY: std::sync::LazyLock<PersonalType> = std::sync::LazyLock::new(|| PersonalType {
        category: Category::Identity,
        subject_relationship: DATA_SUBJECT.to_string(),
    });
    static HEALTH: std::sync::LazyLock<PersonalType> = std::sync::LazyLock::new(|| PersonalType {
        category: Category::Health,
        subject_relationship: DATA_SUBJECT.to_string(),
    });
    match type_iri.strip_prefix(FHIR_TYPE_BASE)? {
        "Patient" => Some(&IDENTITY),
        "Observation"
        | "Immunization"
        | "MedicationDispense"
        | "MedicationStatement"
        | "Encounter"
        | "DiagnosticReport"
        | "Condition"
        | "Flag"
        | "Communication"
        | "Consent" => Some(&HEALTH),
        _ => None,
    }
}

/// Adds the entity URIs a relationship instance points to; `false` if the instance is
/// not a relationship or a value is not a non-empty string.
fn collect_objects(kind: AttrKind, value: &Value, out: &mut BTreeSet<String>) -> bool {
    let mut push = |v: &Value| match v.as_str() {
        Some(s) if !s.is_empty() => {
            out.insert(s.to_string());
            true
        }
        _ => false,
    };
    match (kind, value) {
        (AttrKind::Relationship, Value::String(_)) => push(value),
        (AttrKind::Relationship, Value::Array(a)) if !a.is_empty() => a.iter().all(&mut push),
        (AttrKind::ListRelationship, Value::Array(a)) if !a.is_empty() => {
            a.iter().all(|v| push(v.get("object").unwrap_or(v)))
        }
        _ => false,
    }
}

/// The legal basis of processing a consent record documents (APPI / ISO/IEC 29184 terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegalBasis {
    /// The person's consent (the normal case).
    Consent,
    /// Necessary for a contract with the person.
    Contract,
    /// Required by law or ordinance.
    LegalObligation,
    /// Protection of life, body or property.
    VitalInterest,
    /// A public task of the municipality.
    PublicTask,
}

/// How a consent (or delegation) was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentMethod {
    /// In the citizen app or web portal.
    App,
    /// At a municipal counter, recorded by staff.
    Counter,
    /// On paper, entered by staff.
    Paper,
}

/// One consent: the data subject permits one recipient to read some of their data for
/// some purposes. Fields follow ISO/IEC TS 27560 and the Kantara Consent Receipt.
///
/// It **covers** an entity when every category of the entity is in `categories`, or
/// every type of the entity is in `types`; `attributes`, when non-empty, further limits
/// what is released to those attributes. It is **valid at** `now` when
/// `granted_at <= now`, `now < expires_at` (if set) and `withdrawn_at` is unset — a
/// withdrawal takes effect as soon as it is recorded, whatever time it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The record's id (consent receipt id).
    pub id: String,
    /// The data subject (PII principal): a citizen URN.
    pub subject: String,
    /// The controller: the tenant (municipality) holding the data.
    pub controller: String,
    /// The recipient party (a party URN, as in [`Caller::party`]).
    pub recipient: String,
    /// The purposes the recipient may read for.
    pub purposes: Vec<Purpose>,
    /// The data categories covered.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Entity types (expanded IRIs) covered, alternatively to categories.
    #[serde(default)]
    pub types: Vec<String>,
    /// If non-empty, only these attributes (expanded IRIs) are released.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// The legal basis.
    pub legal_basis: LegalBasis,
    /// The version of the privacy notice the subject was shown.
    pub notice_version: String,
    /// How the consent was given.
    pub method: ConsentMethod,
    /// When it was given.
    pub granted_at: DateTime<Utc>,
    /// When it lapses (exclusive), if ever.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was withdrawn, if it was.
    #[serde(default)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// The guardian (their data-subject URI) who gave it on the data subject's behalf;
    /// `None` when the subject gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_by: Option<String>,
    /// The guardian who withdrew it on the data subject's behalf; `None` when the subject
    /// (or the tenant admin, recording a withdrawal made at the counter) withdrew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_by: Option<String>,
}

/// Why a record cannot be valid (for write paths that store consents and delegations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A required field is empty.
    #[error("record '{id}': '{field}' must not be empty")]
    Empty {
        /// The record.
        id: String,
        /// The empty field.
        field: &'static str,
    },
    /// `expires_at` is not after `granted_at`.
    #[error("record '{id}': expires_at must be after granted_at")]
    ExpiresBeforeGranted {
        /// The record.
        id: String,
    },
}

fn require(id: &str, field: &'static str, empty: bool) -> Result<(), RecordError> {
    if empty {
        Err(RecordError::Empty { id: id.to_string(), field })
    } else {
        Ok(())
    }
}

fn check_times(id: &str, granted: DateTime<Utc>, expires: Option<DateTime<Utc>>) -> Result<(), RecordError> {
    match expires {
        Some(x) if x <= granted => Err(RecordError::ExpiresBeforeGranted { id: id.to_string() }),
        _ => Ok(()),
    }
}

/// Whether a record with these times is in force at `now` (see [`ConsentRecord`]).
pub(crate) fn in_force(
    granted_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    withdrawn_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    granted_at <= now && expires_at.is_none_or(|x| now < x) && withdrawn_at.is_none()
}

impl ConsentRecord {
    /// Checks the fields a consent needs: id, subject, recipient, at least one
    /// purpose, at least one category or type, a notice version, and expiry after grant.
    pub fn validate(&self) -> Result<(), RecordError> {
        let id = &self.id;
        require(id, "id", id.is_empty())?;
        require(id, "subject", self.subject.is_empty())?;
        require(id, "recipient", self.recipient.is_empty())?;
        require(id, "purposes", self.purposes.is_empty())?;
        require(id, "categories or types", self.categories.is_empty() && self.types.is_empty())?;
        require(id, "notice_version", self.notice_version.is_empty())?;
        check_times(id, self.granted_at, self.expires_at)
    }

    /// Whether the consent is in force at `now`: granted, not expired, not withdrawn.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        in_force(self.granted_at, self.expires_at, self.withdrawn_at, now)
    }
}

/// Information-bank provision conditions (情報信託機能): the subject delegates to the
/// bank the decision to provide data in `categories` to recipients of `recipient_kinds`
/// for `purposes`, never to `excluded_recipients`. In force under the same time rules
/// as [`ConsentRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// The delegation's id.
    pub id: String,
    /// The data subject.
    pub subject: String,
    /// The controller (tenant).
    pub controller: String,
    /// Categories that may be provided (every category of an entity must be listed).
    pub categories: Vec<Category>,
    /// Kinds of recipients that may receive data.
    pub recipient_kinds: Vec<RecipientKind>,
    /// Purposes data may be provided for; a recipient's registered purposes must all be
    /// among them.
    pub purposes: Vec<Purpose>,
    /// Parties that must never receive data, whatever their kind.
    #[serde(default)]
    pub excluded_recipients: Vec<String>,
    /// The version of the notice the subject was shown.
    pub notice_version: String,
    /// How the conditions were set.
    pub method: ConsentMethod,
    /// When they were set.
    pub granted_at: DateTime<Utc>,
    /// When they lapse (exclusive), if ever.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When they were withdrawn, if they were.
    #[serde(default)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// The guardian (their data-subject URI) who gave it on the data subject's behalf;
    /// `None` when the subject gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_by: Option<String>,
    /// The guardian who withdrew it on the data subject's behalf; `None` when the subject
    /// withdrew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_by: Option<String>,
}

impl Delegation {
    /// Checks the fields a delegation needs: id, subject, at least one
    /// category, recipient kind and purpose, a notice version, and expiry after grant.
    pub fn validate(&self) -> Result<(), RecordError> {
        let id = &self.id;
        require(id, "id", id.is_empty())?;
        require(id, "subject", self.subject.is_empty())?;
        require(id, "categories", self.categories.is_empty())?;
        require(id, "recipient_kinds", self.recipient_kinds.is_empty())?;
        require(id, "purposes", self.purposes.is_empty())?;
        require(id, "notice_version", self.notice_version.is_empty())?;
        check_times(id, self.granted_at, self.expires_at)
    }

    /// Whether the conditions are in force at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        in_force(self.granted_at, self.expires_at, self.withdrawn_at, now)
    }
}

/// The subject has stopped all use of their data by one recipient (利用停止): no consent
/// or delegation releases their data to it while the stop exists. Lifting a stop means
/// deleting the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageStop {
    /// The data subject.
    pub subject: String,
    /// The controller (tenant).
    pub controller: String,
    /// The recipient party that may no longer receive the subject's data.
    pub recipient: String,
    /// When the stop was requested (informational: a stop applies from the moment it is
    /// recorded).
    pub stopped_at: DateTime<Utc>,
    /// The guardian (their data-subject URI) who set it on the data subject's behalf;
    /// `None` when the subject set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_by: Option<String>,
}

/// A guardian's standing to act for a person (a parent for a child, a legal guardian
/// for an adult ward), recorded by the municipality or a data holder from a document
/// (出生届, 母子健康手帳の交付, 後見登記). While in force, the guardian, authenticated as a
/// citizen, reads the ward's personal data as the ward would (basis `guardian:<id>`)
/// and may record data about the ward (a child's home measurements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guardianship {
    /// Stable id.
    pub id: String,
    /// The controller (tenant).
    pub controller: String,
    /// The guardian's data-subject URI.
    pub guardian: String,
    /// The ward's data-subject URI.
    pub ward: String,
    /// The relationship (`mother`, `father`, `parent`, `legal-guardian`, ...).
    pub relationship: String,
    /// The document the relationship was established from (`出生届`, `母子健康手帳`, ...).
    pub evidence: String,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive; a child's 18th birthday), if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// When it was ended early, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

impl Guardianship {
    /// Whether it is in force at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && self.valid_until.is_none_or(|u| now < u) && self.ended_at.is_none_or(|e| now < e)
    }
}

/// What the information bank provided to whom, under which delegation: produced by
/// [`crate::decide`] whenever a delegation (not a consent) allows a read, for the caller
/// to store where the citizen can see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRecord {
    /// The controller (tenant).
    pub controller: String,
    /// The delegation that allowed the provision.
    pub delegation_id: String,
    /// The data subject.
    pub subject: String,
    /// The recipient party.
    pub recipient: String,
    /// The recipient's registered kind.
    pub recipient_kind: RecipientKind,
    /// The purpose stated.
    pub purpose: Purpose,
    /// The categories of the data provided.
    pub categories: Vec<Category>,
    /// The entity provided.
    pub resource: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl ProvisionRecord {
    /// The usage stop a citizen records to stop this provision from now on.
    pub fn stop(&self, at: DateTime<Utc>) -> UsageStop {
        UsageStop {
            subject: self.subject.clone(),
            controller: self.controller.clone(),
            recipient: self.recipient.clone(),
            stopped_at: at,
            given_by: None,
        }
    }
}
