//! Claims of the tokens Tessera issues. Access tokens follow RFC 9068 §2.2: `iss`, `exp`, `aud`,
//! `sub`, `client_id`, `iat`, `jti`, and `scope` when scopes were granted.

use serde::Serialize;

use super::scope::Scopes;

/// `aud`: a single string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl AccessTokenClaims {
    /// Claims of a client-credentials token: the client is its own subject.
    pub fn for_client(
        issuer: &str,
        client_id: &str,
        scopes: &Scopes,
        audience: Vec<String>,
        now: i64,
        ttl: i64,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer.to_string(),
            sub: client_id.to_string(),
            aud: Audience(audience),
            client_id: client_id.to_string(),
            scope: (!scopes.is_empty()).then(|| scopes.to_string()),
            iat: now,
            exp: now + ttl,
            jti,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9068_shape() {
        let c = AccessTokenClaims::for_client(
            "https://id.example",
            "svc",
            &Scopes::parse("a b").unwrap(),
            vec!["https://api".into()],
            1000,
            600,
            "j1".into(),
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aud"], "https://api");
        assert_eq!(v["sub"], "svc");
        assert_eq!(v["client_id"], "svc");
        assert_eq!(v["scope"], "a b");
        assert_eq!(v["exp"], 1600);
        let c2 = AccessTokenClaims::for_client(
            "i",
            "svc",
            &Scopes::default(),
            vec!["x".into(), "y".into()],
            0,
            1,
            "j".into(),
        );
        let v = serde_json::to_value(&c2).unwrap();
        assert_eq!(v["aud"], serde_json::json!(["x", "y"]));
        assert!(v.get("scope").is_none());
    }
}
