//! One request and its bytes up to the body: the request line and the header fields the
//! client writes (`Host`, `User-Agent`, `Authorization`, `Content-Length`, `Connection`)
//! around the caller's own, with line breaks refused wherever a configured value could put
//! them.

use base64::Engine as _;

use super::{Address, HttpError, Proxy, Url};

/// One request. Build with [`Request::get`] or [`Request::post`], then add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target: path and query (`/RPC2`, `/health?full=1`).
    pub path: &'a str,
    /// Extra header fields. `Host`, `User-Agent`, `Connection`, `Content-Length` and
    /// `Authorization` (from [`Request::basic_auth`]) are written by the client.
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
    pub basic_auth: Option<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            headers: Vec::new(),
            body: &[],
            basic_auth: None,
        }
    }

    pub fn post(path: &'a str, content_type: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method: "POST",
            path,
            headers: vec![("Content-Type", content_type)],
            body,
            basic_auth: None,
        }
    }

    pub fn header(mut self, name: &'a str, value: &'a str) -> Request<'a> {
        self.headers.push((name, value));
        self
    }

    pub fn basic_auth(mut self, user: &'a str, password: &'a str) -> Request<'a> {
        self.basic_auth = Some((user, password));
        self
    }

    /// The request's bytes up to the body. Refuses CR, LF and NUL in any part of it: they
    /// would let a configured value inject header lines. Through a `proxy` (plain `http` only:
    /// `https` goes through a CONNECT tunnel and is sent as to the server) the request target
    /// is the absolute URL, with the proxy's credentials (RFC 9112 §3.2.2).
    pub(super) fn head(
        &self,
        url: &Url,
        user_agent: &str,
        proxy: Option<&Proxy>,
    ) -> Result<Vec<u8>, HttpError> {
        let mut fields = vec![
            ("Host".to_owned(), url.host_header()),
            ("User-Agent".to_owned(), user_agent.to_owned()),
        ];
        let proxy = proxy.filter(|_| matches!(url.address(), Address::Http { .. }));
        if let Some(credentials) = proxy.and_then(Proxy::authorization) {
            fields.push(("Proxy-Authorization".to_owned(), credentials.to_owned()));
        }
        if let Some((user, password)) = self.basic_auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            fields.push(("Authorization".to_owned(), format!("Basic {token}")));
        }
        for (name, value) in &self.headers {
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            fields.push(("Content-Length".to_owned(), self.body.len().to_string()));
        }
        fields.push(("Connection".to_owned(), "close".to_owned()));

        let bad = |what: &str| HttpError::BadRequest {
            url: url.to_string(),
            reason: format!("{what} contains a line break or NUL"),
        };
        let unsafe_text = |s: &str| s.contains(['\r', '\n', '\0']);
        if self.method.is_empty() || self.method.contains(|c: char| !c.is_ascii_alphabetic()) {
            return Err(HttpError::BadRequest {
                url: url.to_string(),
                reason: format!("bad method {:?}", self.method),
            });
        }
        if unsafe_text(self.path) || self.path.contains(' ') || !self.path.starts_with('/') {
            return Err(HttpError::BadRequest {
                url: url.to_string(),
                // A secret URL's path holds its secret.
                reason: if url.is_secret() {
                    "bad request target (not shown: the URL is secret)".to_owned()
                } else {
                    format!("bad request target {:?}", self.path)
                },
            });
        }
        let target = match proxy {
            Some(_) => format!("http://{}{}", url.host_header(), self.path),
            None => self.path.to_owned(),
        };
        let mut head = format!("{} {target} HTTP/1.1\r\n", self.method);
        for (name, value) in fields {
            let bad_name = name.is_empty() || name.contains(|c: char| !c.is_ascii_graphic());
            if bad_name || name.contains(':') || unsafe_text(&value) {
                return Err(bad(&format!("header {name:?}")));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        Ok(head.into_bytes())
    }
}
