//! End-user management, the one path for every operator surface (the CLI and the admin API).
//! Each operation validates everything first and then writes once, so a refused or interrupted
//! command leaves no half-created user.
//!
//! Operators name a user by username or by subject: the (normalized) username is tried first,
//! then the id. Usernames can never be UUIDs, so the two never collide.

use serde::Serialize;

use crate::crypto::passwords::hash_password;
use crate::protocol::user::{
    User, normalize_username, validate_email, validate_name, validate_password,
};
use crate::storage::{StorageError, Store};

/// A new user's profile as an operator gives it.
#[derive(Debug, Default, Clone)]
pub struct UserSpec {
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StorageError> for UserError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(m) => UserError::Conflict(m),
            other => UserError::Storage(other),
        }
    }
}

/// A user as operators see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub sub: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserView {
    pub fn of(u: &User) -> Self {
        UserView {
            sub: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

fn invalid(e: String) -> UserError {
    UserError::Invalid(e)
}

/// Creates a user with a password. The subject is a new random UUID.
pub fn create(
    store: &Store,
    spec: UserSpec,
    password: &str,
    now: i64,
) -> Result<UserView, UserError> {
    let username = normalize_username(&spec.username).map_err(invalid)?;
    let email = spec.email.trim().to_string();
    validate_email(&email).map_err(invalid)?;
    validate_name("name", spec.name.as_deref()).map_err(invalid)?;
    validate_name("given_name", spec.given_name.as_deref()).map_err(invalid)?;
    validate_name("family_name", spec.family_name.as_deref()).map_err(invalid)?;
    validate_password(password).map_err(invalid)?;
    // Refuse a taken username before the slow hash; the unique constraint stays the real guard.
    if store.get_user_by_username(&username)?.is_some() {
        return Err(UserError::Conflict(format!(
            "username `{username}` is taken"
        )));
    }
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username,
        email,
        email_verified: spec.email_verified,
        name: spec.name,
        given_name: spec.given_name,
        family_name: spec.family_name,
        password_hash: Some(hash_password(password)?),
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.insert_user(&user)?;
    Ok(UserView::of(&user))
}

/// Finds a user by username (normalized) or else by subject.
pub fn find(store: &Store, username_or_id: &str) -> Result<User, UserError> {
    if let Ok(username) = normalize_username(username_or_id)
        && let Some(u) = store.get_user_by_username(&username)?
    {
        return Ok(u);
    }
    let id = match uuid::Uuid::try_parse(username_or_id.trim()) {
        Ok(uuid) => uuid.hyphenated().to_string(),
        Err(_) => username_or_id.to_string(),
    };
    store
        .get_user(&id)?
        .ok_or_else(|| UserError::NotFound(username_or_id.to_string()))
}

/// Every user, ordered by username.
pub fn list(store: &Store) -> Result<Vec<UserView>, UserError> {
    Ok(store.list_users()?.iter().map(UserView::of).collect())
}

pub fn show(store: &Store, username_or_id: &str) -> Result<UserView, UserError> {
    Ok(UserView::of(&find(store, username_or_id)?))
}

/// A change to a user's profile as an operator gives it; `None` leaves a field as it is. For
/// `name`, `given_name` and `family_name`, `Some("")` removes the value.
#[derive(Debug, Default, Clone)]
pub struct ProfileChanges {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl ProfileChanges {
    fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.email_verified.is_none()
            && self.name.is_none()
            && self.given_name.is_none()
            && self.family_name.is_none()
    }
}

/// A new value of an optional name: `""` removes it; anything else must pass [`validate_name`].
fn changed_name(
    field: &str,
    new: Option<String>,
    current: Option<String>,
) -> Result<Option<String>, UserError> {
    match new {
        None => Ok(current),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => {
            validate_name(field, Some(&v)).map_err(invalid)?;
            Ok(Some(v))
        }
    }
}

/// Changes a user's profile fields (`tessera user update`, `PATCH /admin/v1/users/{user}`),
/// with the rules of [`create`]; everything is validated before the one write. A changed e-mail
/// address is unverified unless `email_verified` is given too. The username, subject, password
/// and state do not change here.
pub fn update(
    store: &Store,
    username_or_id: &str,
    changes: ProfileChanges,
    now: i64,
) -> Result<UserView, UserError> {
    if changes.is_empty() {
        return Err(invalid(
            "nothing to change: give email, email_verified, name, given_name or family_name".into(),
        ));
    }
    let email = match changes.email {
        Some(e) => {
            let e = e.trim().to_string();
            validate_email(&e).map_err(invalid)?;
            Some(e)
        }
        None => None,
    };
    let mut user = find(store, username_or_id)?;
    user.name = changed_name("name", changes.name, user.name)?;
    user.given_name = changed_name("given_name", changes.given_name, user.given_name)?;
    user.family_name = changed_name("family_name", changes.family_name, user.family_name)?;
    if let Some(e) = email {
        if e != user.email && changes.email_verified.is_none() {
            user.email_verified = false;
        }
        user.email = e;
    }
    if let Some(v) = changes.email_verified {
        user.email_verified = v;
    }
    store
        .update_user_profile(&user, now)
        .map_err(not_found_as(username_or_id))?;
    user.updated_at = now;
    Ok(UserView::of(&user))
}

fn not_found_as(who: &str) -> impl FnOnce(StorageError) -> UserError + '_ {
    move |e| match e {
        StorageError::NotFound => UserError::NotFound(who.to_string()),
        other => other.into(),
    }
}

fn set_disabled(
    store: &Store,
    username_or_id: &str,
    disabled: bool,
    now: i64,
) -> Result<UserView, UserError> {
    let mut user = find(store, username_or_id)?;
    store
        .set_user_disabled(&user.id, disabled, now)
        .map_err(not_found_as(username_or_id))?;
    user.disabled = disabled;
    user.updated_at = now;
    Ok(UserView::of(&user))
}

/// Disables a user: they can no longer log in, every refresh token of theirs ends (with the
/// access tokens issued from it), and their sessions end at once (with back-channel logout).
/// Idempotent.
pub async fn disable(
    env: &super::sessions::Env<'_>,
    username_or_id: &str,
    now: i64,
) -> Result<UserView, UserError> {
    let who = username_or_id.to_string();
    let view = env
        .store
        .run(move |s| Ok(set_disabled(s, &who, true, now)))
        .await??;
    super::sessions::end_all_for_user(env, &view.sub, now).await?;
    Ok(view)
}

/// Enables a disabled user again. Idempotent.
pub fn enable(store: &Store, username_or_id: &str, now: i64) -> Result<UserView, UserError> {
    set_disabled(store, username_or_id, false, now)
}

/// Deletes a user, ending their sessions first (the deletion removes the session registry rows
/// that ending needs); returns what they were.
pub async fn delete(
    env: &super::sessions::Env<'_>,
    username_or_id: &str,
    now: i64,
) -> Result<UserView, UserError> {
    let who = username_or_id.to_string();
    let user = env.store.run_read(move |s| Ok(find(s, &who))).await??;
    super::sessions::end_all_for_user(env, &user.id, now).await?;
    let (id, who) = (user.id.clone(), username_or_id.to_string());
    env.store
        .run(move |s| Ok(s.delete_user(&id).map_err(not_found_as(&who))))
        .await??;
    Ok(UserView::of(&user))
}

/// Replaces a user's password.
pub fn set_password(
    store: &Store,
    username_or_id: &str,
    password: &str,
    now: i64,
) -> Result<UserView, UserError> {
    validate_password(password).map_err(invalid)?;
    let mut user = find(store, username_or_id)?;
    let hash = hash_password(password)?;
    store
        .set_user_password(&user.id, &hash, now)
        .map_err(not_found_as(username_or_id))?;
    user.updated_at = now;
    Ok(UserView::of(&user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::passwords::{PHC_PREFIX, verify_password};

    use crate::storage::sql::test_store as store;

    fn spec(username: &str) -> UserSpec {
        UserSpec {
            username: username.into(),
            email: "alice@example.com".into(),
            ..UserSpec::default()
        }
    }

    #[tokio::test]
    async fn create_find_and_change() {
        let (_dir, s) = store();
        let s = std::sync::Arc::new(s);
        let settings = crate::config::Settings::default();
        let sessions =
            crate::session::SessionStore::Sql(crate::session::SqlSessionStore::new(s.clone()));
        let kek = crate::crypto::kek::Kek::generate().unwrap();
        let directory = crate::flows::directory::Directory::load(&s, &kek).unwrap();
        let env = crate::flows::sessions::Env {
            settings: &settings,
            store: &s,
            sessions: &sessions,
            directory: &directory,
            wait_for_delivery: true,
        };
        let v = create(&s, spec("  Alice "), "password1", 100).unwrap();
        assert_eq!(v.username, "alice");
        let sub = uuid::Uuid::try_parse(&v.sub).unwrap();
        assert_eq!(sub.get_version_num(), 4);
        let stored = s.get_user(&v.sub).unwrap().unwrap();
        let hash = stored.password_hash.unwrap();
        assert!(hash.starts_with(PHC_PREFIX));
        assert!(verify_password("password1", &hash));

        // By username in any case, by sub in any case.
        assert_eq!(show(&s, "ALICE").unwrap(), v);
        assert_eq!(show(&s, &v.sub).unwrap(), v);
        assert_eq!(show(&s, &v.sub.to_uppercase()).unwrap(), v);
        assert!(matches!(show(&s, "bob"), Err(UserError::NotFound(_))));

        match create(&s, spec("ALICE"), "password2", 101) {
            Err(UserError::Conflict(m)) => assert_eq!(m, "username `alice` is taken"),
            other => panic!("{other:?}"),
        }

        let d = disable(&env, "alice", 200).await.unwrap();
        assert!(d.disabled && d.updated_at == 200);
        assert!(show(&s, "alice").unwrap().disabled);
        assert!(!enable(&s, "alice", 201).unwrap().disabled);

        set_password(&s, "alice", "new password", 300).unwrap();
        let hash = s.get_user(&v.sub).unwrap().unwrap().password_hash.unwrap();
        assert!(verify_password("new password", &hash));
        assert!(!verify_password("password1", &hash));
        assert!(matches!(
            set_password(&s, "alice", "short", 301),
            Err(UserError::Invalid(_))
        ));

        assert_eq!(delete(&env, "alice", 400).await.unwrap().sub, v.sub);
        assert!(matches!(
            delete(&env, "alice", 401).await,
            Err(UserError::NotFound(_))
        ));
        assert!(list(&s).unwrap().is_empty());
    }

    #[test]
    fn invalid_input_creates_nothing() {
        let (_dir, s) = store();
        let cases: Vec<(UserSpec, &str)> = vec![
            (spec("has space"), "password1"),
            (spec(""), "password1"),
            (spec("6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f"), "password1"),
            (
                UserSpec {
                    email: "not-an-email".into(),
                    ..spec("bob")
                },
                "password1",
            ),
            (
                UserSpec {
                    name: Some("bad\nname".into()),
                    ..spec("bob")
                },
                "password1",
            ),
            (
                UserSpec {
                    family_name: Some(String::new()),
                    ..spec("bob")
                },
                "password1",
            ),
            (spec("bob"), "short"),
            (spec("bob"), "tab\tinside"),
        ];
        for (sp, pw) in cases {
            let r = create(&s, sp.clone(), pw, 1);
            assert!(matches!(r, Err(UserError::Invalid(_))), "{sp:?}: {r:?}");
        }
        assert!(list(&s).unwrap().is_empty());
    }

    #[test]
    fn update_changes_only_the_profile_fields_given() {
        let (_dir, s) = store();
        let v = create(
            &s,
            UserSpec {
                name: Some("Dan".into()),
                given_name: Some("Daniel".into()),
                email_verified: true,
                ..spec("dan")
            },
            "password1",
            1,
        )
        .unwrap();
        let name = |n: &str| ProfileChanges {
            name: Some(n.into()),
            ..ProfileChanges::default()
        };
        let u = update(&s, "DAN", name("Daniel Doe"), 2).unwrap();
        assert_eq!(u.name.as_deref(), Some("Daniel Doe"));
        assert_eq!(
            (u.given_name.as_deref(), u.email_verified, u.updated_at),
            (Some("Daniel"), true, 2)
        );
        assert_eq!(show(&s, &v.sub).unwrap(), u);

        // A new address is unverified unless said otherwise; "" removes a name.
        let u = update(
            &s,
            "dan",
            ProfileChanges {
                email: Some(" dan@example.org ".into()),
                given_name: Some(String::new()),
                ..ProfileChanges::default()
            },
            3,
        )
        .unwrap();
        assert_eq!(
            (u.email.as_str(), u.email_verified, u.given_name),
            ("dan@example.org", false, None)
        );
        let u = update(
            &s,
            &v.sub,
            ProfileChanges {
                email: Some("dan@example.net".into()),
                email_verified: Some(true),
                ..ProfileChanges::default()
            },
            4,
        )
        .unwrap();
        assert!(u.email_verified);

        // Refusals change nothing.
        for bad in [
            ProfileChanges::default(),
            ProfileChanges {
                email: Some("not-an-email".into()),
                name: Some("Fine".into()),
                ..ProfileChanges::default()
            },
            name("bad\nname"),
            name("   "),
            name(&"x".repeat(201)),
        ] {
            let r = update(&s, "dan", bad.clone(), 5);
            assert!(matches!(r, Err(UserError::Invalid(_))), "{bad:?}: {r:?}");
        }
        assert!(matches!(
            update(&s, "nobody", name("X"), 5),
            Err(UserError::NotFound(_))
        ));
        assert_eq!(show(&s, "dan").unwrap(), u);
        let stored = s.get_user(&v.sub).unwrap().unwrap();
        assert!(verify_password(
            "password1",
            stored.password_hash.as_deref().unwrap()
        ));
    }

    #[test]
    fn view_never_carries_the_hash() {
        let (_dir, s) = store();
        let v = create(&s, spec("carol"), "password1", 1).unwrap();
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            !json.contains("argon2") && !json.contains("password"),
            "{json}"
        );
    }

    #[test]
    fn disabling_revokes_the_families_in_the_same_write() {
        let (_dir, s) = store();
        crate::storage::sql::test_client(&s, "web", 100);
        let ada = create(&s, spec("ada"), "password1", 100).unwrap();
        let (family, first) = crate::storage::sql::test_family("f1", "web", &ada.sub);
        // Started as the code exchange starts one.
        let redemption = crate::storage::sql::Redemption {
            access_token_jti: first.access_jti.clone(),
            expires_at: first.access_expires_at,
        };
        let fam = Some((&family, &first));
        assert!(
            s.record_redemption("code-1", "web", &ada.sub, &redemption, fam, 100)
                .unwrap()
        );
        let before = s.view_revisions().unwrap();

        // One storage write, one transaction: whoever sees the user disabled sees the
        // revocations too (a node reloads its views by these counters).
        s.set_user_disabled(&ada.sub, true, 200).unwrap();
        let after = s.view_revisions().unwrap();
        assert_eq!(after.users, before.users + 1);
        assert_eq!(after.revocations, before.revocations + 1);
        assert!(s.is_access_token_revoked("jti-f1").unwrap());
        assert!(
            s.revoked_access_tokens()
                .unwrap()
                .contains(&"jti-f1".to_string())
        );

        // Enabling again restores neither; disabling again revokes nothing new.
        s.set_user_disabled(&ada.sub, false, 300).unwrap();
        s.set_user_disabled(&ada.sub, true, 400).unwrap();
        assert_eq!(s.view_revisions().unwrap().revocations, after.revocations);
        assert!(s.is_access_token_revoked("jti-f1").unwrap());
    }
}
