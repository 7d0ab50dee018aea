//! End-users in SQL. Usernames arrive normalized (lower-cased) and the `users.username` unique
//! constraint is the one guard against duplicates. Users are not cached in memory (unlike
//! clients), so writes do not bump a change counter.

use diesel::prelude::*;

use super::schema::users;
use super::{BrowserSessionRecord, Store, map_err};
use crate::protocol::user::User;
use crate::storage::{StorageError, StorageResult};

#[derive(Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub(super) struct UserRow {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    password_hash: Option<String>,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        UserRow {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            password_hash: u.password_hash.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            given_name: r.given_name,
            family_name: r.family_name,
            password_hash: r.password_hash,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    /// Inserts a new user; `Conflict` when the username (or id) is taken.
    pub fn insert_user(&self, user: &User) -> StorageResult<()> {
        let row = UserRow::from(user);
        self.with_conn(|conn| {
            conn.transaction(|c| {
                diesel::insert_into(users::table).values(&row).execute(c)?;
                Ok(())
            })
            .map_err(|e| match map_err(e) {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("username `{}` is taken", user.username))
                }
                other => other,
            })
        })
    }

    /// The user with this id if it exists and is not disabled: who may sign in, get codes and
    /// tokens, and whose tokens are active.
    pub fn get_active_user(&self, id: &str) -> StorageResult<Option<User>> {
        Ok(self.get_user(id)?.filter(|u| !u.disabled))
    }

    /// The active user with this id (as [`Store::get_active_user`]) and the scopes they
    /// granted `client_id` (space-separated; `None` without a consent), in one query — after
    /// registering `session` when given (a sign-in just made; on PostgreSQL in the same
    /// statement, one round trip).
    pub fn get_active_user_with_consent(
        &self,
        id: &str,
        client_id: &str,
        session: Option<&BrowserSessionRecord>,
    ) -> StorageResult<Option<(User, Option<String>)>> {
        use super::schema::consents;
        if let Some(record) = session {
            if let Some(read) = self.with_pg(|pg| register_and_read_pg(pg, record, id, client_id)) {
                return read;
            }
            self.register_browser_session(record)?;
        }
        self.with_conn(|c| {
            users::table
                .left_join(
                    consents::table.on(consents::user_id
                        .eq(users::id)
                        .and(consents::client_id.eq(client_id))),
                )
                .filter(users::id.eq(id))
                .filter(users::disabled.eq(false))
                .select((UserRow::as_select(), consents::scopes.nullable()))
                .first::<(UserRow, Option<String>)>(c)
                .optional()
                .map(|r| r.map(|(u, scopes)| (User::from(u), scopes)))
                .map_err(map_err)
        })
    }

    /// The user with this id (`sub`).
    pub fn get_user(&self, id: &str) -> StorageResult<Option<User>> {
        self.with_conn(|c| {
            users::table
                .filter(users::id.eq(id))
                .select(UserRow::as_select())
                .first(c)
                .optional()
                .map(|r| r.map(User::from))
                .map_err(map_err)
        })
    }

    /// The user with this username, which must already be normalized (lower-cased).
    pub fn get_user_by_username(&self, username: &str) -> StorageResult<Option<User>> {
        self.with_conn(|c| {
            users::table
                .filter(users::username.eq(username))
                .select(UserRow::as_select())
                .first(c)
                .optional()
                .map(|r| r.map(User::from))
                .map_err(map_err)
        })
    }

    /// Every user, ordered by username.
    pub fn list_users(&self) -> StorageResult<Vec<User>> {
        self.with_conn(|c| {
            users::table
                .order(users::username.asc())
                .select(UserRow::as_select())
                .load(c)
                .map(|rows| rows.into_iter().map(User::from).collect())
                .map_err(map_err)
        })
    }

    /// Disables or enables a user; `NotFound` when it does not exist. Disabling also revokes
    /// every refresh-token family of the user (and so the access tokens issued from them), in
    /// the same transaction: a node never sees the user disabled without the revocations, and
    /// so never serves those tokens again after the user is enabled.
    pub fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> StorageResult<()> {
        self.write_one(|c| {
            let n = diesel::update(users::table.filter(users::id.eq(id)))
                .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
                .execute(c)?;
            if n > 0 && disabled && super::refresh::revoke_families_of_user_in(c, id, now)? > 0 {
                super::grants::bump_view(c, super::grants::REVOCATIONS)?;
            }
            Ok(n)
        })
    }

    /// Replaces a user's password hash; `NotFound` when it does not exist.
    pub fn set_user_password(&self, id: &str, hash: &str, now: i64) -> StorageResult<()> {
        self.write_one(|c| {
            diesel::update(users::table.filter(users::id.eq(id)))
                .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
                .execute(c)
        })
    }

    /// Deletes a user (and, by cascade, their remembered consents); `NotFound` when it does not
    /// exist.
    pub fn delete_user(&self, id: &str) -> StorageResult<()> {
        self.write_one(|c| diesel::delete(users::table.filter(users::id.eq(id))).execute(c))
    }

    /// Runs one write in a transaction; no row touched is `NotFound`.
    fn write_one(
        &self,
        write: impl FnOnce(&mut super::DbConn) -> QueryResult<usize>,
    ) -> StorageResult<()> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                if write(c)? == 0 {
                    return Err(diesel::result::Error::NotFound);
                }
                // Nodes cache active users for userinfo and introspection: tell them.
                super::grants::bump_view(c, super::grants::USERS)
            })
            .map_err(map_err)
        })?;
        super::grants::note_local_write();
        Ok(())
    }
}

impl Store {
    /// Replaces a user's profile fields (`email`, `email_verified`, `name`, `given_name`,
    /// `family_name`) with those of `user`, which must already be validated; `NotFound` when
    /// it does not exist. The username, password and state are not touched.
    pub fn update_user_profile(&self, user: &User, now: i64) -> StorageResult<()> {
        self.write_one(|c| {
            diesel::update(users::table.filter(users::id.eq(&user.id)))
                .set((
                    users::email.eq(&user.email),
                    users::email_verified.eq(user.email_verified),
                    users::name.eq(&user.name),
                    users::given_name.eq(&user.given_name),
                    users::family_name.eq(&user.family_name),
                    users::updated_at.eq(now),
                ))
                .execute(c)
        })
    }
}

/// [`Store::get_active_user_with_consent`] with a session to register, on PostgreSQL: the
/// insert and the read in one statement (the read does not see the insert, nor needs to).
fn register_and_read_pg(
    pg: &mut diesel::PgConnection,
    r: &BrowserSessionRecord,
    id: &str,
    client_id: &str,
) -> StorageResult<Option<(User, Option<String>)>> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(embed)]
        user: UserRow,
        #[diesel(sql_type = Nullable<Text>)]
        granted: Option<String>,
    }
    diesel::sql_query(
        "WITH r AS (INSERT INTO browser_sessions \
         (sid, store_key, user_id, auth_time, created_at, expires_at, ended_at) \
         VALUES ($3, $4, $5, $6, $7, $8, $9)) \
         SELECT users.*, consents.scopes AS granted FROM users LEFT JOIN consents \
         ON consents.user_id = users.id AND consents.client_id = $2 \
         WHERE users.id = $1 AND NOT users.disabled",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(client_id)
    .bind::<Text, _>(&r.sid)
    .bind::<Text, _>(&r.store_key)
    .bind::<Text, _>(&r.user_id)
    .bind::<BigInt, _>(r.auth_time)
    .bind::<BigInt, _>(r.created_at)
    .bind::<BigInt, _>(r.expires_at)
    .bind::<Nullable<BigInt>, _>(r.ended_at)
    .get_result::<Row>(pg)
    .optional()
    .map(|row| row.map(|r| (User::from(r.user), r.granted)))
    .map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::sql::test_store as store;

    fn user(id: &str, username: &str) -> User {
        User {
            id: id.into(),
            username: username.into(),
            email: format!("{username}@example.com"),
            email_verified: false,
            name: Some("Name".into()),
            given_name: None,
            family_name: None,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
            disabled: false,
            created_at: 10,
            updated_at: 10,
        }
    }

    #[test]
    fn crud_on_sqlite() {
        let (_dir, s) = store();
        let bob = user("id-b", "bob");
        s.insert_user(&bob).unwrap();
        s.insert_user(&user("id-a", "alice")).unwrap();
        match s.insert_user(&user("id-c", "bob")) {
            Err(StorageError::Conflict(m)) => assert_eq!(m, "username `bob` is taken"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.get_user("id-b").unwrap(), Some(bob.clone()));
        assert_eq!(s.get_user_by_username("bob").unwrap(), Some(bob));
        assert_eq!(s.get_user("nobody").unwrap(), None);
        let names: Vec<String> = s
            .list_users()
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["alice", "bob"]);

        s.set_user_disabled("id-b", true, 20).unwrap();
        let b = s.get_user("id-b").unwrap().unwrap();
        assert!(b.disabled && b.updated_at == 20);
        s.set_user_password("id-b", "new-hash", 30).unwrap();
        let b = s.get_user("id-b").unwrap().unwrap();
        assert_eq!(b.password_hash.as_deref(), Some("new-hash"));
        assert_eq!((b.created_at, b.updated_at), (10, 30));

        for r in [
            s.set_user_disabled("nobody", true, 1),
            s.set_user_password("nobody", "h", 1),
            s.delete_user("nobody"),
        ] {
            assert!(matches!(r, Err(StorageError::NotFound)), "{r:?}");
        }
        s.delete_user("id-b").unwrap();
        assert_eq!(s.get_user("id-b").unwrap(), None);
        assert_eq!(s.list_users().unwrap().len(), 1);
    }
}
