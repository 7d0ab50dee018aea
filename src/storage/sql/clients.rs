//! Clients in SQL. List-valued metadata is stored as JSON text, scopes space-separated.

use diesel::prelude::*;

use super::schema::{client_registration, clients};
use super::{DbConn, Store, bump, map_err};
use crate::protocol::client::{Client, ClientMetadata, GrantType, PartnerMetadata};
use crate::protocol::client_auth::{AssertionAlg, AuthMethod};
use crate::protocol::scope::Scopes;
use crate::storage::{StorageError, StorageResult};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true, treat_none_as_default_value = false)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    auth_method: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    audiences: String,
    created_at: i64,
    updated_at: i64,
    skip_consent: bool,
    web_origins: String,
    backchannel_logout_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
}

/// The registration columns of `clients` (see `schema::client_registration`).
#[derive(Queryable, Selectable, AsChangeset)]
#[diesel(table_name = client_registration, treat_none_as_null = true)]
struct RegistrationRow {
    id: String,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    contacts: String,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    registration_token_hash: Option<String>,
    secret_sealed: Option<Vec<u8>>,
    token_endpoint_auth_signing_alg: Option<String>,
}

impl From<&Client> for RegistrationRow {
    fn from(c: &Client) -> Self {
        let p = &c.metadata.partner;
        RegistrationRow {
            id: c.id.clone(),
            logo_uri: p.logo_uri.clone(),
            policy_uri: p.policy_uri.clone(),
            tos_uri: p.tos_uri.clone(),
            contacts: json_list(&p.contacts),
            jwks: p.jwks.clone(),
            jwks_uri: p.jwks_uri.clone(),
            registration_token_hash: c.registration_token_hash.clone(),
            secret_sealed: c.secret_sealed.clone(),
            token_endpoint_auth_signing_alg: p
                .token_endpoint_auth_signing_alg
                .map(|a| a.as_str().to_string()),
        }
    }
}

impl RegistrationRow {
    fn apply(self, c: &mut Client) -> StorageResult<()> {
        let signing_alg = match self.token_endpoint_auth_signing_alg.as_deref() {
            None => None,
            Some(a) => Some(AssertionAlg::parse(a).ok_or_else(|| {
                StorageError::Other(anyhow::anyhow!(
                    "corrupt client {}: token_endpoint_auth_signing_alg",
                    c.id
                ))
            })?),
        };
        c.metadata.partner = PartnerMetadata {
            logo_uri: self.logo_uri,
            policy_uri: self.policy_uri,
            tos_uri: self.tos_uri,
            contacts: parse_list("contacts", &self.contacts)?,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            token_endpoint_auth_signing_alg: signing_alg,
        };
        c.registration_token_hash = self.registration_token_hash;
        c.secret_sealed = self.secret_sealed;
        Ok(())
    }
}

/// Writes the registration columns of an existing row.
pub(super) fn write_registration(
    conn: &mut DbConn,
    client: &Client,
) -> Result<usize, diesel::result::Error> {
    let row = RegistrationRow::from(client);
    diesel::update(client_registration::table.filter(client_registration::id.eq(&client.id)))
        .set(&row)
        .execute(conn)
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(field: &str, text: &str) -> StorageResult<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Other(anyhow::anyhow!("corrupt clients.{field}: {e}")))
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        let m = &c.metadata;
        ClientRow {
            id: c.id.clone(),
            name: m.name.clone(),
            secret_hash: c.secret_hash.clone(),
            auth_method: m.auth_method.as_str().into(),
            redirect_uris: json_list(&m.redirect_uris),
            post_logout_redirect_uris: json_list(&m.post_logout_redirect_uris),
            grant_types: json_list(
                &m.grant_types
                    .iter()
                    .map(|g| g.as_str().to_string())
                    .collect::<Vec<_>>(),
            ),
            scopes: m.scopes.to_string(),
            audiences: json_list(&m.audiences),
            created_at: c.created_at,
            updated_at: c.updated_at,
            skip_consent: m.skip_consent,
            web_origins: json_list(&m.web_origins),
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            id_token_signed_response_alg: m.id_token_alg.map(|a| a.as_str().to_string()),
        }
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StorageError;
    fn try_from(r: ClientRow) -> StorageResult<Client> {
        let corrupt =
            |what: &str| StorageError::Other(anyhow::anyhow!("corrupt client {}: {what}", r.id));
        let auth_method =
            AuthMethod::parse(&r.auth_method).ok_or_else(|| corrupt("auth_method"))?;
        let grant_types = parse_list("grant_types", &r.grant_types)?
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant_types")))
            .collect::<StorageResult<Vec<_>>>()?;
        let scopes = Scopes::parse(&r.scopes).map_err(|_| corrupt("scopes"))?;
        Ok(Client {
            metadata: ClientMetadata {
                name: r.name.clone(),
                auth_method,
                redirect_uris: parse_list("redirect_uris", &r.redirect_uris)?,
                post_logout_redirect_uris: parse_list(
                    "post_logout_redirect_uris",
                    &r.post_logout_redirect_uris,
                )?,
                grant_types,
                scopes,
                audiences: parse_list("audiences", &r.audiences)?,
                skip_consent: r.skip_consent,
                web_origins: parse_list("web_origins", &r.web_origins)?,
                backchannel_logout_uri: r.backchannel_logout_uri,
                id_token_alg: match r.id_token_signed_response_alg.as_deref() {
                    None => None,
                    Some(a) => Some(
                        crate::protocol::jose::Alg::parse(a)
                            .ok_or_else(|| corrupt("id_token_signed_response_alg"))?,
                    ),
                },
                partner: PartnerMetadata::default(),
            },
            id: r.id,
            secret_hash: r.secret_hash,
            secret_sealed: None,
            registration_token_hash: None,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn load(conn: &mut DbConn, client_id: &str) -> StorageResult<Option<Client>> {
    let Some(mut client) = clients::table
        .filter(clients::id.eq(client_id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?
        .map(Client::try_from)
        .transpose()?
    else {
        return Ok(None);
    };
    let reg = client_registration::table
        .filter(client_registration::id.eq(client_id))
        .select(RegistrationRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?;
    if let Some(reg) = reg {
        reg.apply(&mut client)?;
    }
    Ok(Some(client))
}

/// Inserts the main row of a client (without the registration columns).
pub(super) fn insert_row(
    conn: &mut DbConn,
    client: &Client,
) -> Result<usize, diesel::result::Error> {
    diesel::insert_into(clients::table)
        .values(ClientRow::from(client))
        .execute(conn)
}

impl Store {
    /// Inserts a new client; `Conflict` when the id is taken. All or nothing.
    pub fn insert_client(&self, client: &Client) -> StorageResult<()> {
        let row = ClientRow::from(client);
        self.with_conn(|conn| {
            conn.transaction(|c| {
                bump(c, "clients")?;
                diesel::insert_into(clients::table)
                    .values(&row)
                    .execute(c)?;
                write_registration(c, client)?;
                Ok(())
            })
            .map_err(|e| match map_err(e) {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("client id `{}` is taken", client.id))
                }
                other => other,
            })
        })
    }

    /// Replaces a client's metadata and secret hash; `NotFound` when it does not exist.
    pub fn update_client(&self, client: &Client) -> StorageResult<()> {
        let row = ClientRow::from(client);
        self.with_conn(|conn| {
            conn.transaction(|c| {
                bump(c, "clients")?;
                let n = diesel::update(clients::table.filter(clients::id.eq(&client.id)))
                    .set((
                        clients::name.eq(&row.name),
                        clients::secret_hash.eq(&row.secret_hash),
                        clients::auth_method.eq(&row.auth_method),
                        clients::redirect_uris.eq(&row.redirect_uris),
                        clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
                        clients::grant_types.eq(&row.grant_types),
                        clients::scopes.eq(&row.scopes),
                        clients::audiences.eq(&row.audiences),
                        clients::updated_at.eq(row.updated_at),
                        clients::skip_consent.eq(row.skip_consent),
                        clients::web_origins.eq(&row.web_origins),
                        clients::backchannel_logout_uri.eq(&row.backchannel_logout_uri),
                        clients::id_token_signed_response_alg.eq(&row.id_token_signed_response_alg),
                    ))
                    .execute(c)?;
                if n == 0 {
                    return Err(diesel::result::Error::NotFound);
                }
                write_registration(c, client)?;
                Ok(())
            })
            .map_err(map_err)
        })
    }

    /// Deletes a client; `NotFound` when it does not exist.
    pub fn delete_client(&self, client_id: &str) -> StorageResult<()> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                bump(c, "clients")?;
                let n =
                    diesel::delete(clients::table.filter(clients::id.eq(client_id))).execute(c)?;
                if n == 0 {
                    return Err(diesel::result::Error::NotFound);
                }
                Ok(())
            })
            .map_err(map_err)
        })
    }

    pub fn get_client(&self, client_id: &str) -> StorageResult<Option<Client>> {
        self.with_conn(|c| load(c, client_id))
    }

    /// Every client, ordered by id.
    pub fn list_clients(&self) -> StorageResult<Vec<Client>> {
        self.with_conn(|c| {
            let mut regs: std::collections::HashMap<String, RegistrationRow> =
                client_registration::table
                    .select(RegistrationRow::as_select())
                    .load(c)
                    .map_err(map_err)?
                    .into_iter()
                    .map(|r| (r.id.clone(), r))
                    .collect();
            clients::table
                .order(clients::id.asc())
                .select(ClientRow::as_select())
                .load(c)
                .map_err(map_err)?
                .into_iter()
                .map(|row| {
                    let mut client = Client::try_from(row)?;
                    if let Some(reg) = regs.remove(&client.id) {
                        reg.apply(&mut client)?;
                    }
                    Ok(client)
                })
                .collect()
        })
    }
}
