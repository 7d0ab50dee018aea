// Column types are the ones both backends share: ids and JSON as TEXT, times as BIGINT unix
// seconds, sealed secrets as BLOB/BYTEA. Keep in step with migrations/{postgres,sqlite}.

diesel::table! {
    revisions (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        auth_method -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        audiences -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_jwk -> Text,
        private_key -> Binary,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        sealed -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    session_entries (key) {
        key -> Text,
        value -> Binary,
        expires_at -> BigInt,
        consumed -> Bool,
    }
}
