//! The login page's use-case: show the form, check a password with throttling, sign the person
//! in (a new session: the id rotates), and continue the interaction.

use std::net::IpAddr;
use std::time::Duration;

use super::Core;
use super::authorize::{self, Outcome, Step, expired_page, failure_page};
use super::browser::{self, unavailable};
use crate::protocol::OAuthError;
use crate::protocol::interaction::throttle_delay_ms;
use crate::protocol::user::normalize_username;
use crate::session::{Batch, Kind};

/// Failures are counted over this window.
const THROTTLE_WINDOW: Duration = Duration::from_secs(900);

/// What the login page shows.
#[derive(Debug)]
pub struct LoginForm {
    pub interaction: String,
    pub csrf: String,
    pub client_name: String,
    pub username: String,
    pub failed: bool,
}

pub enum LoginPage {
    Form(LoginForm),
    Other(Outcome),
}

/// `GET /login?ir=…`
pub async fn show(core: &Core, ir: &str, cookie: Option<&str>) -> LoginPage {
    let (session, interaction) = match browser::load_with_interaction(core, cookie, ir).await {
        Ok((Some(s), Some(i))) => (s, i),
        Ok(_) => return LoginPage::Other(expired_page()),
        Err(e) => return LoginPage::Other(failure_page(e)),
    };
    LoginPage::Form(LoginForm {
        interaction: ir.to_string(),
        csrf: session.data.csrf.clone(),
        client_name: client_name(core, interaction.request.target.client_id()),
        username: interaction.request.login_hint.clone().unwrap_or_default(),
        failed: false,
    })
}

pub fn client_name(core: &Core, client_id: &str) -> String {
    core.directory
        .client(client_id)
        .map(|c| c.metadata.name.clone())
        .unwrap_or_else(|| client_id.to_string())
}

/// The submitted login form.
pub struct LoginSubmission {
    pub interaction: String,
    pub csrf: Option<String>,
    pub username: String,
    pub password: String,
    pub client_ip: IpAddr,
}

pub enum LoginResult {
    /// Wrong credentials: show the form again with the one generic message.
    Retry(LoginForm),
    Done(Step),
}

/// `POST /login`
pub async fn submit(core: &Core, form: LoginSubmission, cookie: Option<&str>) -> LoginResult {
    match try_submit(core, form, cookie).await {
        Ok(r) => r,
        Err(e) => LoginResult::Done(Step {
            outcome: failure_page(e),
            set_session: None,
        }),
    }
}

async fn try_submit(
    core: &Core,
    form: LoginSubmission,
    cookie: Option<&str>,
) -> Result<LoginResult, OAuthError> {
    let username = normalize_username(&form.username).unwrap_or_default();
    let acct_key = format!("acct:{username}");
    let ip_key = format!("ip:{}", form.client_ip);
    // The session, the interaction, the failure counts and the user in one go (one trip on the
    // embedded default). The user is read only for a plausible submission; nothing is decided
    // on it before the session and its CSRF token are checked.
    let lookup = (!username.is_empty() && form.password.len() <= 1024).then(|| username.clone());
    let (session, interaction, reads) = browser::load_with_interaction_and(
        core,
        cookie,
        &form.interaction,
        (Kind::Throttle, &[&acct_key, &ip_key]),
        move |s| match lookup {
            Some(u) => s.get_user_by_username(&u),
            None => Ok(None),
        },
    )
    .await?;
    let Some(session) = session else {
        return Ok(LoginResult::Done(Step::page(400, session_expired())));
    };
    if !browser::csrf_ok(&session, form.csrf.as_deref()) {
        return Ok(LoginResult::Done(Step::page(403, session_expired())));
    }
    let (Some(mut interaction), Some((failures, user))) = (interaction, reads) else {
        return Ok(LoginResult::Done(Step {
            outcome: expired_page(),
            set_session: None,
        }));
    };
    let delay = throttle_delay_ms(failures);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    // Unknown users are checked against a dummy hash, so every failure takes as long.
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_ok = core.passwords.verify(form.password, hash).await;
    let user = match user {
        Some(u) if password_ok && !u.disabled => u,
        _ => {
            core.sessions
                .incr(Kind::Throttle, &acct_key, THROTTLE_WINDOW)
                .await
                .map_err(unavailable)?;
            core.sessions
                .incr(Kind::Throttle, &ip_key, THROTTLE_WINDOW)
                .await
                .map_err(unavailable)?;
            tracing::info!(target: "tessera::security", event = "login_failed", "login failed");
            return Ok(LoginResult::Retry(LoginForm {
                interaction: form.interaction,
                csrf: session.data.csrf.clone(),
                client_name: client_name(core, interaction.request.target.client_id()),
                username: form.username.chars().take(64).collect(),
                failed: true,
            }));
        }
    };
    // Rotate: the signed-in session is a new one and the old id stops working; the account's
    // failure count is cleared with the switch, which goes to the session store with the
    // interaction's next step.
    let now = core.clock.now();
    let also = Batch::new().reset(Kind::Throttle, &acct_key);
    let (fresh, switch) = browser::sign_in(core, &session, &user.id, now, also)?;
    let record = super::sessions::registry_record(core, &fresh);
    interaction.browser = fresh.key.clone();
    interaction.logged_in = true;
    tracing::info!(target: "tessera::security", event = "login", sub = %user.id, "user signed in");
    let outcome = authorize::advance(
        core,
        interaction,
        &fresh,
        Some(&form.interaction),
        record.map_or(authorize::Record::Nothing, authorize::Record::SignIn),
        switch,
    )
    .await;
    Ok(LoginResult::Done(Step {
        outcome,
        set_session: Some(fresh.cookie),
    }))
}

pub fn session_expired() -> &'static str {
    "Your sign-in form has expired or was not sent from this site. Please go back to the application and sign in again."
}
