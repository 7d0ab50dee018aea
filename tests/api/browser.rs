//! A scripted browser: an HTTP client that keeps Tessera's session cookie by hand (so tests can
//! also drop or tamper with it), never follows redirects, and reads hidden form fields.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

pub struct Browser {
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    fn remember(&mut self, resp: &Response) {
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("tessera_session=") {
                self.cookie = Some(rest.split(';').next().unwrap().to_string());
            }
        }
    }

    pub async fn get(&mut self, url: &str) -> Response {
        let mut req = self.http.get(url);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, format!("tessera_session={c}"));
        }
        let resp = req.send().await.unwrap();
        self.remember(&resp);
        resp
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Response {
        self.post_with(url, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, format!("tessera_session={c}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.remember(&resp);
        resp
    }
}

pub fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} response", resp.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + needle.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&#43;", "+").replace("&amp;", "&")
}

/// The query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn assert_status(resp: &Response, s: u16, what: &str) {
    assert_eq!(resp.status(), StatusCode::from_u16(s).unwrap(), "{what}");
}
