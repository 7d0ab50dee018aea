//! Reading requests: a size- and time-bounded form body.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;

use crate::protocol::OAuthError;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks the content type is `application/x-www-form-urlencoded` and reads at most `limit`
/// bytes of body. Anything else is `invalid_request`. A body that arrived in one piece (the
/// usual case) is handed on as it is, without a copy.
pub async fn form_body(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, OAuthError> {
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
        let unreadable = |_| OAuthError::invalid_request("the request body could not be read");
        let too_large = || OAuthError::invalid_request("the request body is too large");
        let Some(first) = payload.next().await.transpose().map_err(unreadable)? else {
            return Ok(Bytes::new());
        };
        if first.len() > limit {
            return Err(too_large());
        }
        let Some(second) = payload.next().await.transpose().map_err(unreadable)? else {
            return Ok(first);
        };
        let mut body = BytesMut::with_capacity(first.len() + second.len());
        for chunk in [first, second] {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(unreadable)?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body took too long"))?
}
