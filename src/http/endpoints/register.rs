//! `POST /oauth2/register` (RFC 7591 §3) and `GET` / `PUT` / `DELETE
//! /oauth2/register/{client_id}` (RFC 7592 §2).

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{BytesMut, Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::flows::Core;
use crate::flows::registration::{self, RegError};
use crate::protocol::OAuthError;
use crate::protocol::registration::{MAX_BODY, RegistrationError};

fn bearer(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer")
                && !token.trim().is_empty()
                && token.trim().len() <= 512 =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(OAuthError::invalid_token("use a Bearer token")),
    }
}

/// An `application/json` body of at most [`MAX_BODY`] bytes, read within 10 s.
async fn json_body(req: &HttpRequest, mut payload: Payload) -> Result<BytesMut, RegError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(RegistrationError::Metadata(
            "the request body must be application/json".into(),
        )
        .into());
    }
    let too_large = || {
        RegError::Metadata(RegistrationError::Metadata(
            "the request body is too large".into(),
        ))
    };
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                RegError::OAuth(OAuthError::invalid_request(
                    "the request body could not be read",
                ))
            })?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| {
            RegError::OAuth(OAuthError::invalid_request(
                "the request body took too long",
            ))
        })?
}

fn respond(result: Result<(actix_web::http::StatusCode, Option<Value>), RegError>) -> HttpResponse {
    match result {
        Ok((status, Some(body))) => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body),
        Ok((status, None)) => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(RegError::OAuth(e)) => e.error_response(),
        Err(RegError::Metadata(e)) => HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(json!({"error": e.code(), "error_description": e.description()})),
    }
}

pub async fn register(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let result = async {
        let token = bearer(&req)?;
        if token.is_none() && !core.settings.registration.open {
            return Err(OAuthError::InvalidToken(None).into());
        }
        let body = json_body(&req, payload).await?;
        let v = registration::register(&core, token.as_deref(), &body).await?;
        Ok((actix_web::http::StatusCode::CREATED, Some(v)))
    }
    .await;
    respond(result)
}

pub async fn read(req: HttpRequest, id: Path<String>, core: Data<Core>) -> HttpResponse {
    let result = async {
        let token = bearer(&req)?;
        let v = registration::read(&core, &id, token.as_deref()).await?;
        Ok((actix_web::http::StatusCode::OK, Some(v)))
    }
    .await;
    respond(result)
}

pub async fn update(
    req: HttpRequest,
    id: Path<String>,
    payload: Payload,
    core: Data<Core>,
) -> HttpResponse {
    let result = async {
        let token = bearer(&req)?;
        // Authenticate before reading the body.
        if token.is_none() {
            return Err(OAuthError::InvalidToken(None).into());
        }
        let body = json_body(&req, payload).await?;
        let v = registration::update(&core, &id, token.as_deref(), &body).await?;
        Ok((actix_web::http::StatusCode::OK, Some(v)))
    }
    .await;
    respond(result)
}

pub async fn delete(req: HttpRequest, id: Path<String>, core: Data<Core>) -> HttpResponse {
    let result = async {
        let token = bearer(&req)?;
        registration::delete(&core, &id, token.as_deref()).await?;
        Ok((actix_web::http::StatusCode::NO_CONTENT, None))
    }
    .await;
    respond(result)
}
