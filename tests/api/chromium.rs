//! A real browser: headless Chromium, driven over W3C WebDriver by Debian's `chromedriver`,
//! signs in through the login and consent pages and reaches a loopback redirect URI served by
//! the test itself.
//!
//! The WebDriver client is a minimal one over `reqwest`. Every wait is bounded. Without
//! /usr/bin/chromium or /usr/bin/chromedriver the test fails under `CI=true` and is skipped
//! (loudly) elsewhere.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::authorize::{PASSWORD, fixture};
use crate::helpers::{Backend, form};

tiers!(a_real_browser_signs_in_and_consents);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C web element identifier key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Bound of every wait for the browser (a URL, an element, a title).
const WAIT: Duration = Duration::from_secs(20);
/// Bound of one WebDriver command (starting a browser on a busy 2-core machine included).
const COMMAND: Duration = Duration::from_secs(60);
const CLIENT_NAME: &str = "Browser Test App";

/// Whether the browser is installed. Under `CI=true` a missing browser is a failure.
fn chromium_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true but {missing:?} is missing: install the Debian packages chromium and \
         chromium-driver (scripts/test does)"
    );
    eprintln!("################################################################################");
    eprintln!("## skipping: chromium not installed ({missing:?} missing)");
    eprintln!("## install the Debian packages chromium and chromium-driver to run this test");
    eprintln!("################################################################################");
    false
}

/// A WebDriver error response.
#[derive(Debug)]
struct WdError {
    status: u16,
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error, self.message)
    }
}

/// A `chromedriver` child process with one headless Chromium session. Dropping it shuts
/// chromedriver down (which quits its browsers) and kills it if it does not exit.
struct Chromium {
    child: Child,
    port: u16,
    base: String,
    session: String,
    http: reqwest::Client,
    log: PathBuf,
    // Removed last (fields drop after `Drop::drop`), when the browser is gone.
    profile: tempfile::TempDir,
}

impl Chromium {
    async fn launch() -> Chromium {
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND)
            .build()
            .unwrap();
        // A free port can be taken between probing and chromedriver binding it: retry.
        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {CHROMEDRIVER}: {e}"));
            if wait_ready(&http, port, &mut child).await {
                break (child, port);
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                attempt < 3,
                "chromedriver did not become ready: {}",
                tail(&log)
            );
        };
        let base = format!("http://127.0.0.1:{port}");
        let mut c = Chromium {
            child,
            port,
            base,
            session: String::new(),
            http,
            log,
            profile,
        };
        let user_data = c.profile.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--no-proxy-server",
                    format!("--user-data-dir={}", user_data.display()),
                ],
            },
        }}});
        let v = c
            .cmd(reqwest::Method::POST, "/session", Some(caps))
            .await
            .unwrap_or_else(|e| panic!("new session: {e}\n{}", tail(&c.log)));
        c.session = v["sessionId"].as_str().expect("a sessionId").to_string();
        c.session_cmd(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({"pageLoad": 30_000, "script": 10_000, "implicit": 0})),
        )
        .await
        .unwrap();
        c
    }

    /// Sends a WebDriver command; returns its `value`.
    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}\n{}", tail(&self.log)));
        let status = resp.status().as_u16();
        let mut v: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"));
        let value = v["value"].take();
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(WdError {
                status,
                error: value["error"].as_str().unwrap_or_default().to_string(),
                message: value["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }

    async fn session_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        self.cmd(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.session_cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|e| panic!("navigating to {url}: {e}"));
    }

    async fn current_url(&self) -> String {
        let v = self
            .session_cmd(reqwest::Method::GET, "/url", None)
            .await
            .unwrap();
        v.as_str().unwrap().to_string()
    }

    async fn title(&self) -> String {
        let v = self
            .session_cmd(reqwest::Method::GET, "/title", None)
            .await
            .unwrap();
        v.as_str().unwrap().to_string()
    }

    async fn source(&self) -> String {
        match self
            .session_cmd(reqwest::Method::GET, "/source", None)
            .await
        {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("(no page source: {e})"),
        }
    }

    /// What the browser shows, for failure messages.
    async fn describe(&self) -> String {
        let src = self.source().await;
        let src: String = src.chars().take(3000).collect();
        format!(
            "current URL {}\npage source:\n{src}",
            self.current_url().await
        )
    }

    /// Polls the current URL until `done` holds; returns it.
    async fn wait_for_url(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let url = self.current_url().await;
            if done(&url) {
                return url;
            }
            if start.elapsed() > WAIT {
                panic!("waited {WAIT:?} for {what}; {}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the title until it contains `part`; returns it.
    async fn wait_for_title(&self, part: &str) -> String {
        let start = Instant::now();
        loop {
            let title = self.title().await;
            if title.contains(part) {
                return title;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited {WAIT:?} for a title with {part:?}, have {title:?}; {}",
                    self.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Finds an element by CSS selector, waiting (bounded) for it to appear.
    async fn find(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            let r = self
                .session_cmd(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            match r {
                Ok(v) => return v[ELEMENT].as_str().expect("a web element").to_string(),
                Err(e) if e.error == "no such element" && start.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("finding {css}: {e}; {}", self.describe().await),
            }
        }
    }

    async fn send_keys(&self, element: &str, text: &str) {
        self.session_cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .unwrap();
    }

    async fn click(&self, element: &str) {
        self.session_cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await
        .unwrap();
    }

    async fn text(&self, element: &str) -> String {
        let v = self
            .session_cmd(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await
            .unwrap();
        v.as_str().unwrap().to_string()
    }

    /// Ends the session (closing the browser).
    async fn quit(mut self) {
        self.session_cmd(reqwest::Method::DELETE, "", None)
            .await
            .unwrap();
        self.session.clear();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("chromedriver log:\n{}", tail(&self.log));
        }
        // chromedriver's own endpoint: quits every session's browser, then exits. A plain
        // blocking request, as `drop` cannot await.
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(2),
        ) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let req = format!(
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.port
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls chromedriver's `/status` until it is ready (false if it exits or 20 s pass).
async fn wait_ready(http: &reqwest::Client, port: u16, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let r = http
            .get(format!("http://127.0.0.1:{port}/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if let Ok(r) = r
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The last lines of chromedriver's log, without its per-command navigation chatter.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("aiting for pending navigations"))
        .collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The client's redirect URI: a loopback HTTP listener that answers every request with a small
/// page and records the request targets. Returns its port and the targets.
async fn client_callback() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                let read = tokio::time::timeout(Duration::from_secs(10), async {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    true
                })
                .await;
                if read != Ok(true) {
                    return;
                }
                let head = String::from_utf8_lossy(&head);
                if let Some(target) = head.lines().next().and_then(|l| l.split(' ').nth(1)) {
                    record.lock().unwrap().push(target.to_string());
                }
                let body = "<!DOCTYPE html><html><head><title>client callback</title></head>\
                            <body><p>client callback</p></body></html>";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, seen)
}

async fn a_real_browser_signs_in_and_consents(backend: Backend) {
    if !chromium_installed() {
        return;
    }
    let started = Instant::now();
    let (cb_port, callbacks) = client_callback().await;
    let redirect_uri = format!("http://127.0.0.1:{cb_port}/cb");
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let (client_id, secret) =
        f.d.create_client(&["--name", CLIENT_NAME, "--redirect-uri", &redirect_uri])
            .await;

    let state = uuid::Uuid::new_v4().simple().to_string();
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}\
         &nonce=n-{state}&code_challenge={challenge}&code_challenge_method=S256",
        app.base,
        form(&client_id),
        form(&redirect_uri),
        form("openid profile"),
    );
    // The client was created after the server started: wait until the server has loaded it.
    app.eventually(Duration::from_secs(10), || async {
        let r = app.http.get(&url).send().await.unwrap();
        r.status() == 200
    })
    .await;

    let browser_started = Instant::now();
    let chromium = Chromium::launch().await;
    eprintln!("chromium session up in {:?}", browser_started.elapsed());

    // /authorize answers with the login form.
    chromium.goto(&url).await;
    let authorize_prefix = format!("{}/oauth2/authorize?", app.base);
    chromium
        .wait_for_url("the login form at the authorization endpoint", |u| {
            u.starts_with(&authorize_prefix)
        })
        .await;
    let title = chromium.wait_for_title("Sign in").await;
    assert!(title.contains("Sign in"), "{title}");
    let lead = chromium.find("p.lead strong").await;
    assert_eq!(
        chromium.text(&lead).await,
        CLIENT_NAME,
        "the login page names the client"
    );

    let username = chromium.find("input[name=username]").await;
    chromium.send_keys(&username, "ada").await;
    let password = chromium.find("input[name=password]").await;
    chromium.send_keys(&password, PASSWORD).await;
    let submit = chromium.find("form button[type=submit]").await;
    chromium.click(&submit).await;

    // Signed in: the consent page, which names the client — the answer to the login form
    // itself (no redirect), so the address is the form's.
    chromium.wait_for_title("Allow access?").await;
    let login_url = format!("{}/login", app.base);
    chromium
        .wait_for_url("the consent page", |u| u == login_url)
        .await;
    let lead = chromium.find("p.lead strong").await;
    assert_eq!(
        chromium.text(&lead).await,
        CLIENT_NAME,
        "the consent page names the client"
    );
    let source = chromium.source().await;
    assert!(source.contains(CLIENT_NAME), "{source}");

    let allow = chromium.find("button[name=decision][value=allow]").await;
    chromium.click(&allow).await;

    // Back at the client with code, state and iss.
    let cb_prefix = format!("{redirect_uri}?");
    let back = chromium
        .wait_for_url("the client's redirect URI", |u| u.starts_with(&cb_prefix))
        .await;
    chromium.wait_for_title("client callback").await;
    chromium.quit().await;
    let browser_took = browser_started.elapsed();

    let query: Vec<(String, String)> = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("error"), None, "{back}");
    let code = param("code").unwrap_or_else(|| panic!("no code in {back}"));
    assert!(!code.is_empty(), "{back}");
    assert_eq!(param("state").as_deref(), Some(state.as_str()), "{back}");
    assert_eq!(
        param("iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207: {back}"
    );
    let path_and_query = back
        .strip_prefix(&format!("http://127.0.0.1:{cb_port}"))
        .unwrap();
    assert!(
        callbacks
            .lock()
            .unwrap()
            .iter()
            .any(|t| t == path_and_query),
        "the callback listener saw {:?}, not {path_and_query}",
        callbacks.lock().unwrap()
    );

    // The code is a real one: the client redeems it.
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
        form(&code),
        form(&redirect_uri)
    );
    let r = app.token_raw(Some((&client_id, &secret)), &body).await;
    let status = r.status().as_u16();
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens["id_token"].is_string(), "{tokens}");
    eprintln!(
        "{backend:?}: the browser signed in and consented in {browser_took:?} (test {:?})",
        started.elapsed()
    );
}
