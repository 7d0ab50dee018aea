//! The consent page's use-case: show what the client asks for, remember an approval in SQL
//! (in the storage call that decides the next step), and continue the interaction; a denial
//! goes back as `access_denied`.

use super::Core;
use super::authorize::{self, Outcome, Step, expired_page, failure_page, redirect_error};
use super::browser;
use crate::protocol::OAuthError;
use crate::protocol::authorize::AuthorizationRequest;
use crate::session::Kind;

/// What the consent page shows.
#[derive(Debug)]
pub struct ConsentForm {
    pub interaction: String,
    pub csrf: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The client's registered `logo_uri`, `policy_uri` and `tos_uri` — https only.
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// A registered https URL, or nothing (checked again here: only https reaches a page).
fn https_only(u: &Option<String>) -> Option<String> {
    u.as_ref()
        .filter(|u| {
            u.starts_with("https://")
                && crate::protocol::client::validate_https_url("url", u).is_ok()
        })
        .cloned()
}

pub enum ConsentPage {
    Form(ConsentForm),
    Other(Outcome),
}

/// `GET /consent?ir=…`: only for a signed-in session that owns the interaction.
pub async fn show(core: &Core, ir: &str, cookie: Option<&str>) -> ConsentPage {
    let (session, interaction) = match browser::load_with_interaction(core, cookie, ir).await {
        Ok((Some(s), i)) if s.data.user_id.is_some() => (s, i),
        Ok(_) => return ConsentPage::Other(expired_page()),
        Err(e) => return ConsentPage::Other(failure_page(e)),
    };
    match interaction {
        Some(i) => ConsentPage::Form(form(core, ir, &session.data.csrf, &i.request)),
        None => ConsentPage::Other(expired_page()),
    }
}

/// The consent page of interaction `ir` for a session whose CSRF token is `csrf`.
pub fn form(core: &Core, ir: &str, csrf: &str, request: &AuthorizationRequest) -> ConsentForm {
    let client_id = request.target.client_id();
    let client = core.directory.client(client_id);
    let partner = client.as_ref().map(|c| &c.metadata.partner);
    ConsentForm {
        interaction: ir.to_string(),
        csrf: csrf.to_string(),
        client_name: client
            .as_ref()
            .map_or_else(|| client_id.to_string(), |c| c.metadata.name.clone()),
        scopes: request.scopes().iter().map(str::to_string).collect(),
        logo_uri: partner.and_then(|p| https_only(&p.logo_uri)),
        policy_uri: partner.and_then(|p| https_only(&p.policy_uri)),
        tos_uri: partner.and_then(|p| https_only(&p.tos_uri)),
    }
}

/// `POST /consent` with `decision` = `allow` or `deny`.
pub async fn submit(
    core: &Core,
    ir: &str,
    csrf: Option<&str>,
    decision: Option<&str>,
    cookie: Option<&str>,
) -> Step {
    match try_submit(core, ir, csrf, decision, cookie).await {
        Ok(step) => step,
        Err(e) => Step {
            outcome: failure_page(e),
            set_session: None,
        },
    }
}

async fn try_submit(
    core: &Core,
    ir: &str,
    csrf: Option<&str>,
    decision: Option<&str>,
    cookie: Option<&str>,
) -> Result<Step, OAuthError> {
    let (session, interaction) = browser::load_with_interaction(core, cookie, ir).await?;
    let Some(session) = session.filter(|s| s.data.user_id.is_some()) else {
        return Ok(Step::page(400, super::login::session_expired()));
    };
    if !browser::csrf_ok(&session, csrf) {
        return Ok(Step::page(403, super::login::session_expired()));
    }
    let Some(mut interaction) = interaction else {
        return Ok(Step {
            outcome: expired_page(),
            set_session: None,
        });
    };
    let target = interaction.request.target.clone();
    match decision {
        Some("allow") => {}
        Some("deny") => {
            // The interaction ends here.
            core.sessions
                .take(Kind::AuthRequest, ir)
                .await
                .map_err(browser::unavailable)?;
            let e = OAuthError::AccessDenied("the user denied the request".into());
            return Ok(Step {
                outcome: redirect_error(core, target, e),
                set_session: None,
            });
        }
        _ => {
            return Ok(Step::page(
                400,
                "The form was incomplete. Please choose Allow or Deny.",
            ));
        }
    }
    // The approval is saved in the same storage call that decides the next step.
    interaction.consented = true;
    let outcome = authorize::advance(
        core,
        interaction,
        &session,
        Some(ir),
        authorize::Record::Approval,
        crate::session::Batch::new(),
    )
    .await;
    Ok(Step {
        outcome,
        set_session: None,
    })
}
