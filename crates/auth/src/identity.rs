//! [`Identity`]: who is calling, as established from the request's credentials, and
//! [`Via`]: how.

use kizuna_consent::{Caller, Purpose, Role};
use serde::{Deserialize, Serialize};

/// Who is calling: the result of authentication, before the party registry is consulted.
///
/// The server must still check that [`Identity::tenant`] is the tenant the request is
/// made in (a token or API key of one tenant authenticates nothing in another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The tenant the credential acts in (`""` is the default tenant).
    pub tenant: String,
    /// The authenticated party (a URN); `None` only for anonymous callers.
    pub party: Option<String>,
    /// The role the credential acts in.
    pub role: Role,
    /// For citizens: the person's own URN as a data subject; `None` for other roles.
    pub subject: Option<String>,
    /// The default purpose of use the credential states (a request may state its own).
    pub purpose: Option<Purpose>,
    /// How the caller was authenticated.
    pub via: Via,
}

/// How an [`Identity`] was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Via {
    /// No credentials were presented.
    Anonymous,
    /// A bearer token (JWT) of a trusted issuer.
    Token {
        /// The token's verified `iss`.
        issuer: String,
    },
    /// An API key.
    ApiKey {
        /// The key's public id (`kzn_<id>_...`).
        id: String,
    },
}

impl Identity {
    /// The identity of a caller without credentials in `tenant`.
    pub fn anonymous(tenant: impl Into<String>) -> Identity {
        Identity {
            tenant: tenant.into(),
            party: None,
            role: Role::Anonymous,
            subject: None,
            purpose: None,
            via: Via::Anonymous,
        }
    }

    /// The caller as the consent decision point sees it. The registered purposes and
    /// recipient kind are left empty: the server fills them in from the party registry
    /// ([`kizuna_consent::TenantPolicy::enrich`]).
    pub fn to_caller(&self) -> Caller {
        Caller {
            tenant: self.tenant.clone(),
            party: self.party.clone(),
            role: self.role,
            subject: self.subject.clone(),
            registered_purposes: Vec::new(),
            recipient_kind: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_maps_to_an_anonymous_caller() {
        let id = Identity::anonymous("maebashi");
        assert_eq!(id.to_caller(), Caller::anonymous("maebashi"));
        assert_eq!(id.via, Via::Anonymous);
    }

    #[test]
    fn caller_keeps_party_role_and_subject() {
        let id = Identity {
            tenant: "t".into(),
            party: Some("urn:person:1".into()),
            role: Role::Citizen,
            subject: Some("urn:person:1".into()),
            purpose: Some(Purpose::new("healthcare")),
            via: Via::Token { issuer: "kizuna-builtin".into() },
        };
        let c = id.to_caller();
        assert_eq!((c.tenant.as_str(), c.role), ("t", Role::Citizen));
        assert_eq!(c.party.as_deref(), Some("urn:person:1"));
        assert_eq!(c.subject.as_deref(), Some("urn:person:1"));
        assert!(c.registered_purposes.is_empty() && c.recipient_kind.is_none());
        let json = serde_json::to_value(&id).unwrap_or_default();
        assert_eq!(json["via"], serde_json::json!({"kind": "token", "issuer": "kizuna-builtin"}));
    }
}
