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
        skip_consent -> Bool,
        web_origins -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        id_token_signed_response_alg -> Nullable<Text>,
    }
}

// More columns of `clients` (dynamic registration), declared apart so that no table! has more
// than diesel's 16 columns without the slow-to-compile `32-column-tables` feature.
diesel::table! {
    #[sql_name = "clients"]
    client_registration (id) {
        id -> Text,
        logo_uri -> Nullable<Text>,
        policy_uri -> Nullable<Text>,
        tos_uri -> Nullable<Text>,
        contacts -> Text,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        registration_token_hash -> Nullable<Text>,
        secret_sealed -> Nullable<Binary>,
        token_endpoint_auth_signing_alg -> Nullable<Text>,
    }
}

diesel::table! {
    registration_tokens (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        remaining_uses -> Nullable<BigInt>,
        id -> Text,
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
        activates_at -> Nullable<BigInt>,
        remove_after -> Nullable<BigInt>,
        removed_at -> Nullable<BigInt>,
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

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        email_verified -> Bool,
        name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    redeemed_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        access_token_jti -> Text,
        redeemed_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        revoked_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    counters (key) {
        key -> Text,
        count -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    token_families (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        sid -> Nullable<Text>,
        auth_time -> BigInt,
        created_at -> BigInt,
        absolute_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        successor_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    family_access_tokens (jti) {
        jti -> Text,
        family_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    browser_sessions (sid) {
        sid -> Text,
        store_key -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    session_clients (sid, client_id) {
        sid -> Text,
        client_id -> Text,
    }
}

diesel::joinable!(refresh_tokens -> token_families (family_id));
diesel::joinable!(consents -> users (user_id));
diesel::joinable!(consents -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(
    clients,
    users,
    consents,
    token_families,
    refresh_tokens,
    family_access_tokens,
    browser_sessions,
    session_clients
);
