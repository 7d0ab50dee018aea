//! Reading requests: a size- and time-bounded form body.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::web::{BytesMut, Payload};
use futures_util::StreamExt;

use crate::protocol::OAuthError;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks the content type is `application/x-www-form-urlencoded` and reads at most `limit`
/// bytes of body. Anything else is `invalid_request`.
pub async fn form_body(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<BytesMut, OAuthError> {
    let ctype = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(OAuthError::invalid_request("the request body is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body took too long"))?
}
