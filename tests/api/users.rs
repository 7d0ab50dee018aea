//! The user-management CLI, on both storage tiers.

use diesel::{
    Connection, ExpressionMethods, OptionalExtension, PgConnection, QueryDsl, RunQueryDsl,
    SqliteConnection,
};
use serde_json::Value;
use tessera::config::DatabaseTarget;

use crate::helpers::{Backend, Deployment};

tiers!(
    create_show_list_and_lifecycle,
    duplicates_and_invalid_input_are_refused_without_half_creating,
    passwords_come_only_from_stdin,
    unknown_users_fail_with_a_message,
    stored_hashes_are_argon2id_with_the_minimum_parameters,
);

const PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

impl Deployment {
    /// `tessera user create` with the password on stdin; returns the JSON printed.
    async fn create_user(&self, args: &[&str], password: &str) -> Value {
        let mut all = vec!["user", "create"];
        all.extend_from_slice(args);
        all.push("--password-stdin");
        let out = self.cli_stdin(&all, &format!("{password}\n")).await;
        assert!(
            out.status.success(),
            "tessera {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn user_count(&self) -> usize {
        self.cli_json(&["user", "list"])
            .await
            .as_array()
            .unwrap()
            .len()
    }

    /// The password hash stored for a username, read straight from the database.
    fn stored_hash(&self, name: &str) -> Option<String> {
        use tessera::storage::sql::schema::users;
        let query = users::table
            .filter(users::username.eq(name.to_string()))
            .select(users::password_hash);
        let row: Option<Option<String>> = match self.settings().database_target().unwrap() {
            DatabaseTarget::Postgres(url) => {
                let mut c = PgConnection::establish(&url).unwrap();
                query.first(&mut c).optional().unwrap()
            }
            DatabaseTarget::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                query.first(&mut c).optional().unwrap()
            }
        };
        row.flatten()
    }
}

fn assert_failed(out: &std::process::Output, what: &str, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} should fail");
    assert!(err.contains(says), "{what}: expected {says:?} in {err:?}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

async fn create_show_list_and_lifecycle(backend: Backend) {
    let d = Deployment::new(backend);
    let password = "correct horse battery staple";
    let alice = d
        .create_user(
            &[
                "--username",
                "  Alice.Smith ",
                "--email",
                "alice@example.com",
                "--name",
                "Alice Smith",
                "--given-name",
                "Alice",
                "--family-name",
                "Smith",
                "--email-verified",
            ],
            password,
        )
        .await;
    let sub = alice["sub"].as_str().unwrap().to_string();
    let uuid = uuid::Uuid::try_parse(&sub).expect("sub is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(sub, uuid.hyphenated().to_string(), "canonical form");
    assert_eq!(alice["username"], "alice.smith", "lower-cased and trimmed");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["email_verified"], true);
    assert_eq!(alice["name"], "Alice Smith");
    assert_eq!(alice["given_name"], "Alice");
    assert_eq!(alice["family_name"], "Smith");
    assert_eq!(alice["disabled"], false);
    assert!(alice["created_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(alice["created_at"], alice["updated_at"]);

    let bob = d
        .create_user(
            &["--username", "bob", "--email", "bob@example.com"],
            "hunter2hunter2",
        )
        .await;
    assert_eq!(bob["email_verified"], false);
    assert_eq!(bob["name"], Value::Null);
    assert_ne!(bob["sub"], alice["sub"]);

    // Neither the password nor its hash is ever printed.
    let listed = d.cli_json(&["user", "list"]).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice.smith", "bob"], "ordered by username");
    let shown_by_name = d.cli_json(&["user", "show", "ALICE.smith"]).await;
    let shown_by_sub = d.cli_json(&["user", "show", &sub]).await;
    assert_eq!(shown_by_name, alice);
    assert_eq!(shown_by_sub, alice);
    for v in [&alice, &bob, &listed, &shown_by_name] {
        let raw = v.to_string();
        assert!(
            !raw.contains("argon2") && !raw.contains(password) && !raw.contains("hash"),
            "{raw}"
        );
    }

    // disable / enable
    let disabled = d.cli_json(&["user", "disable", "alice.smith"]).await;
    assert_eq!(disabled["disabled"], true);
    assert_eq!(d.cli_json(&["user", "show", &sub]).await["disabled"], true);
    assert_eq!(
        d.cli_json(&["user", "show", "bob"]).await["disabled"],
        false
    );
    let enabled = d.cli_json(&["user", "enable", &sub]).await;
    assert_eq!(enabled["disabled"], false);
    assert_eq!(
        d.cli_json(&["user", "show", "alice.smith"]).await["disabled"],
        false
    );

    // set-password: the new one verifies, the old one no longer does.
    let before = d.stored_hash("alice.smith").unwrap();
    assert!(tessera::crypto::passwords::verify_password(
        password, &before
    ));
    let out = d
        .cli_stdin(
            &["user", "set-password", "Alice.Smith", "--password-stdin"],
            "a brand new passphrase\r\n",
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sub"], sub.as_str());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("argon2"));
    let after = d.stored_hash("alice.smith").unwrap();
    assert_ne!(before, after);
    assert!(
        tessera::crypto::passwords::verify_password("a brand new passphrase", &after),
        "CR LF stripped"
    );
    assert!(!tessera::crypto::passwords::verify_password(
        password, &after
    ));

    // delete
    let deleted = d.cli_json(&["user", "delete", &sub]).await;
    assert_eq!(deleted, serde_json::json!({"deleted": "alice.smith"}));
    assert_failed(
        &d.cli(&["user", "show", &sub]).await,
        "show after delete",
        "no user",
    );
    assert_eq!(d.user_count().await, 1);
    let deleted = d.cli_json(&["user", "delete", "BOB"]).await;
    assert_eq!(deleted["deleted"], "bob");
    assert_eq!(d.user_count().await, 0);
}

async fn duplicates_and_invalid_input_are_refused_without_half_creating(backend: Backend) {
    let d = Deployment::new(backend);
    let first = d
        .create_user(
            &["--username", "carol", "--email", "carol@example.com"],
            "password1",
        )
        .await;

    // A taken username, in any letter case.
    for name in ["carol", "CAROL", " Carol "] {
        let out = d
            .cli_stdin(
                &[
                    "user",
                    "create",
                    "--username",
                    name,
                    "--email",
                    "other@example.com",
                    "--password-stdin",
                ],
                "password2\n",
            )
            .await;
        assert_failed(&out, name, "username `carol` is taken");
    }
    assert_eq!(d.user_count().await, 1);
    assert_eq!(
        d.cli_json(&["user", "show", "carol"]).await,
        first,
        "unchanged"
    );
    assert!(tessera::crypto::passwords::verify_password(
        "password1",
        &d.stored_hash("carol").unwrap()
    ));

    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--username", "has space", "--email", "x@example.com"],
            "password1",
            "username",
        ),
        (
            &["--username", "", "--email", "x@example.com"],
            "password1",
            "username",
        ),
        (
            &["--username", &"x".repeat(65), "--email", "x@example.com"],
            "password1",
            "username",
        ),
        (
            &["--username", "sl/ash", "--email", "x@example.com"],
            "password1",
            "username",
        ),
        (
            &[
                "--username",
                "6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f",
                "--email",
                "x@example.com",
            ],
            "password1",
            "UUID",
        ),
        (
            &["--username", "dave", "--email", "not-an-email"],
            "password1",
            "email",
        ),
        (
            &["--username", "dave", "--email", "a@b@c"],
            "password1",
            "email",
        ),
        (
            &["--username", "dave", "--email", "@example.com"],
            "password1",
            "email",
        ),
        (
            &["--username", "dave", "--email", "dave@exa mple.com"],
            "password1",
            "email",
        ),
        (
            &["--username", "dave", "--email", "d@example.com"],
            "short",
            "at least 8 characters",
        ),
        (
            &["--username", "dave", "--email", "d@example.com"],
            "1234567",
            "at least 8 characters",
        ),
        (
            &["--username", "dave", "--email", "d@example.com"],
            "tab\tinside",
            "control",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--name",
                "bad\u{7}name",
            ],
            "password1",
            "name",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--given-name",
                "",
            ],
            "password1",
            "given_name",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--family-name",
                &"x".repeat(201),
            ],
            "password1",
            "family_name",
        ),
    ];
    for (args, password, says) in cases {
        let mut all = vec!["user", "create"];
        all.extend_from_slice(args);
        all.push("--password-stdin");
        let out = d.cli_stdin(&all, &format!("{password}\n")).await;
        assert_failed(&out, &format!("{args:?} / {password:?}"), says);
    }
    assert_eq!(d.user_count().await, 1, "nothing half-created");

    // A too-short new password leaves the old one in place.
    let out = d
        .cli_stdin(
            &["user", "set-password", "carol", "--password-stdin"],
            "short\n",
        )
        .await;
    assert_failed(&out, "short new password", "at least 8 characters");
    assert!(tessera::crypto::passwords::verify_password(
        "password1",
        &d.stored_hash("carol").unwrap()
    ));
}

async fn passwords_come_only_from_stdin(backend: Backend) {
    let d = Deployment::new(backend);
    let create = [
        "user",
        "create",
        "--username",
        "erin",
        "--email",
        "erin@example.com",
    ];

    // Without --password-stdin: refused, even with a password piped in.
    let out = d.cli_stdin(&create, "password1\n").await;
    assert_failed(&out, "create without --password-stdin", "--password-stdin");
    // No flag takes a password as an argument.
    let mut with_arg = create.to_vec();
    with_arg.extend(["--password", "password1"]);
    let out = d.cli(&with_arg).await;
    assert!(!out.status.success(), "--password is not a flag");
    // --password-stdin with nothing (or an empty line) on stdin.
    let mut piped = create.to_vec();
    piped.push("--password-stdin");
    assert_failed(&d.cli(&piped).await, "empty stdin", "no password");
    assert_failed(
        &d.cli_stdin(&piped, "\n").await,
        "empty line",
        "no password",
    );
    assert_eq!(d.user_count().await, 0);

    // Only the first line counts, without its line ending; no trailing newline is fine too.
    d.create_user(&create[2..], "first line\nsecond line").await;
    let hash = d.stored_hash("erin").unwrap();
    assert!(tessera::crypto::passwords::verify_password(
        "first line",
        &hash
    ));
    assert!(!tessera::crypto::passwords::verify_password(
        "first line\n",
        &hash
    ));
    let out = d
        .cli_stdin(
            &["user", "set-password", "erin", "--password-stdin"],
            "no newline at the end",
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tessera::crypto::passwords::verify_password(
        "no newline at the end",
        &d.stored_hash("erin").unwrap()
    ));
    // Leading and trailing spaces belong to the password.
    d.cli_stdin(
        &["user", "set-password", "erin", "--password-stdin"],
        "  spaced out  \n",
    )
    .await;
    assert!(tessera::crypto::passwords::verify_password(
        "  spaced out  ",
        &d.stored_hash("erin").unwrap()
    ));

    // set-password without the flag is refused and changes nothing.
    let before = d.stored_hash("erin").unwrap();
    let out = d
        .cli_stdin(&["user", "set-password", "erin"], "another password\n")
        .await;
    assert_failed(
        &out,
        "set-password without --password-stdin",
        "--password-stdin",
    );
    assert_eq!(d.stored_hash("erin").unwrap(), before);
}

async fn unknown_users_fail_with_a_message(backend: Backend) {
    let d = Deployment::new(backend);
    let nobody_sub = uuid::Uuid::new_v4().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["user", "show", "nobody"],
        vec!["user", "show", &nobody_sub],
        vec!["user", "disable", "nobody"],
        vec!["user", "enable", "nobody"],
        vec!["user", "delete", "nobody"],
    ];
    for args in &commands {
        let out = d.cli(args).await;
        assert_failed(&out, &format!("{args:?}"), "no user");
    }
    let out = d
        .cli_stdin(
            &["user", "set-password", "nobody", "--password-stdin"],
            "password1\n",
        )
        .await;
    assert_failed(&out, "set-password nobody", "no user `nobody`");
    assert_eq!(d.user_count().await, 0);
}

async fn stored_hashes_are_argon2id_with_the_minimum_parameters(backend: Backend) {
    let d = Deployment::new(backend);
    d.create_user(
        &["--username", "frank", "--email", "frank@example.com"],
        "password1",
    )
    .await;
    d.create_user(
        &["--username", "grace", "--email", "grace@example.com"],
        "password1",
    )
    .await;
    let frank = d.stored_hash("frank").unwrap();
    let grace = d.stored_hash("grace").unwrap();
    for h in [&frank, &grace] {
        assert!(h.starts_with(PREFIX), "{h}");
        assert!(!h.contains("password1"));
        assert!(tessera::crypto::passwords::verify_password("password1", h));
        assert!(!tessera::crypto::passwords::verify_password("password2", h));
    }
    assert_ne!(frank, grace, "a salt of its own");
}
