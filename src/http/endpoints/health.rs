//! `/healthz`: the process is up. `/readyz`: the database and, when configured, Redis answer.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::flows::Core;
use crate::session::SessionStore;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"status": "ok"}))
}

pub async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let db = tokio::time::timeout(CHECK_TIMEOUT, core.store.run_read(|s| s.ping())).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let mut body = json!({"database": if db_ok { "ok" } else { "unavailable" }});
    let mut ready = db_ok;
    if let SessionStore::Redis(_) = core.sessions {
        let r = tokio::time::timeout(CHECK_TIMEOUT, core.sessions.ping()).await;
        let redis_ok = matches!(r, Ok(Ok(())));
        body["redis"] = json!(if redis_ok { "ok" } else { "unavailable" });
        ready &= redis_ok;
    }
    body["status"] = json!(if ready { "ready" } else { "unavailable" });
    let mut resp = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    resp.insert_header(("Cache-Control", "no-store")).json(body)
}
