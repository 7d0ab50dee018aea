//! Claims of the tokens Tessera issues. Access tokens follow RFC 9068 §2.2: `iss`, `exp`, `aud`,
//! `sub`, `client_id`, `iat`, `jti`, and `scope` when scopes were granted.

use serde::Serialize;
use serde_json::{Map, Value};

use super::scope::Scopes;
use super::user::User;

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

/// Borrowed where the values already live elsewhere (the settings, the client, the user).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Audience,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl<'a> AccessTokenClaims<'a> {
    /// Claims of a client-credentials token: the client is its own subject.
    pub fn for_client(
        issuer: &'a str,
        client_id: &'a str,
        scopes: &Scopes,
        audience: Vec<String>,
        now: i64,
        ttl: i64,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer,
            sub: client_id,
            aud: Audience(audience),
            client_id,
            scope: (!scopes.is_empty()).then(|| scopes.to_string()),
            iat: now,
            exp: now + ttl,
            jti,
        }
    }
}

impl<'a> AccessTokenClaims<'a> {
    /// Claims of a token issued to `client_id` on behalf of a user (`sub`).
    #[allow(clippy::too_many_arguments)]
    pub fn for_user(
        issuer: &'a str,
        client_id: &'a str,
        user_id: &'a str,
        scopes: &Scopes,
        audience: Vec<String>,
        now: i64,
        ttl: i64,
        jti: String,
    ) -> Self {
        let mut c = Self::for_client(issuer, client_id, scopes, audience, now, ttl, jti);
        c.sub = user_id;
        c
    }
}

/// The user claims that the granted scopes release (OIDC Core §5.4): `profile` → name,
/// given_name, family_name, preferred_username, updated_at; `email` → email, email_verified.
/// `sub` is always included.
pub fn user_claims(user: &User, scopes: &Scopes) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), Value::String(user.id.clone()));
    if scopes.contains("profile") {
        for (k, v) in [
            ("name", &user.name),
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        }
        m.insert(
            "preferred_username".into(),
            Value::String(user.username.clone()),
        );
        m.insert("updated_at".into(), Value::from(user.updated_at));
    }
    if scopes.contains("email") {
        m.insert("email".into(), Value::String(user.email.clone()));
        m.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    m
}

/// ID token claims (OIDC Core §2, §3.1.3.6): the registered claims plus the user claims of the
/// granted scopes.
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    pub sid: String,
    #[serde(flatten)]
    pub user: Map<String, Value>,
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

    #[test]
    fn user_claims_follow_scopes() {
        let u = User {
            id: "6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            family_name: None,
            password_hash: Some("secret-hash".into()),
            disabled: false,
            created_at: 1,
            updated_at: 2,
        };
        let only = user_claims(&u, &Scopes::parse("openid").unwrap());
        assert_eq!(Value::Object(only), serde_json::json!({"sub": u.id}));
        let all = Value::Object(user_claims(
            &u,
            &Scopes::parse("openid profile email").unwrap(),
        ));
        assert_eq!(all["name"], "Ada Lovelace");
        assert_eq!(all["preferred_username"], "ada");
        assert_eq!(all["email_verified"], true);
        assert!(all.get("family_name").is_none());
        assert!(!all.to_string().contains("secret-hash"));
    }
}
