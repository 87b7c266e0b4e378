//! One GET of httpok's URL and its verdict: healthy, a bad status, a bad body, or a server
//! certificate that could not be verified (issue 16). The web server comes in as the [`Web`]
//! trait, so that the tests below script it; [`HttpWeb`] is the real one.
//!
//! A refused connection is retried every [`RETRY_INTERVAL`] while the next attempt would
//! still start within `-t` (superlance: errno 111 only, which is Linux's ECONNREFUSED: B13;
//! here the portable [`HttpError::is_unreachable`]). Any other error is superlance's "bad
//! status", except a certificate failure ([`HttpError::is_certificate`]): superlance never
//! verified certificates (B11), and an unverifiable certificate says nothing about the
//! program's health, so it gets a verdict of its own (what becomes of it: `certificate`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::check::Policy;
use crate::http::{self, Address, HttpError, Request, Response, Url};

/// superlance's `retry_time`: the pause before trying a refused connection again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// "GET this URL within this time": the status, reason and body, or why there are none.
pub trait Web {
    fn get(&mut self, url: &Url, timeout: Duration) -> Result<Response, HttpError>;
}

/// What the GET says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    BadStatus,
    BadBody,
    /// The server's certificate could not be verified: the error's text.
    Untrusted(String),
}

/// The outcome of one GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub verdict: Verdict,
    /// The action log's first entry: superlance's `status contacting ...` or
    /// `error contacting ...`.
    pub said: String,
    /// Whether a response came (so an `https` server's certificate was verified).
    pub answered: bool,
}

impl Policy {
    /// GET the URL (retrying a refused connection within the budget) and judge the answer.
    pub fn probe(&self, web: &mut impl Web) -> Probe {
        let url = &self.url;
        let started = Instant::now();
        let result = loop {
            match web.get(url, self.timeout) {
                Err(e)
                    if e.is_unreachable()
                        && started.elapsed() + self.retry_interval < self.timeout =>
                {
                    log::info!(
                        "{e}; trying again in {} s",
                        self.retry_interval.as_secs_f64()
                    );
                    std::thread::sleep(self.retry_interval);
                }
                other => break other,
            }
        };
        match result {
            Err(e) => Probe {
                verdict: if e.is_certificate() {
                    Verdict::Untrusted(e.to_string())
                } else {
                    Verdict::BadStatus
                },
                said: format!("error contacting {url}:\n\n {e}"),
                answered: false,
            },
            Ok(r) => {
                let verdict = if !self.codes.contains(&r.status) {
                    Verdict::BadStatus
                } else if self
                    .body
                    .as_deref()
                    .is_some_and(|b| !contains(&r.body, b.as_bytes()))
                {
                    Verdict::BadBody
                } else {
                    Verdict::Healthy
                };
                Probe {
                    verdict,
                    said: format!("status contacting {url}: {} {}", r.status, r.reason),
                    answered: true,
                }
            }
        }
    }
}

/// The real web: one GET with `User-Agent: httpok`, verified TLS with SNI ([`http::Client`]).
#[derive(Debug)]
pub struct HttpWeb {
    ca_file: Option<PathBuf>,
    /// A client for the timeout last asked for (the TLS trust store is loaded once per client).
    client: (Duration, http::Client),
}

impl HttpWeb {
    /// A client for `timeout` that also trusts `ca_file`, read and checked now.
    pub fn new(ca_file: Option<PathBuf>, timeout: Duration) -> Result<HttpWeb, HttpError> {
        let client = HttpWeb::client(&ca_file, timeout)?;
        Ok(HttpWeb {
            ca_file,
            client: (timeout, client),
        })
    }

    fn client(ca_file: &Option<PathBuf>, timeout: Duration) -> Result<http::Client, HttpError> {
        http::Client::new(http::Options {
            connect_timeout: timeout,
            timeout,
            user_agent: "httpok".to_owned(),
            ca_file: ca_file.clone(),
            ..http::Options::default()
        })
    }

    /// For an `https` URL, load the trust store now and log what it holds, so that a wrong
    /// `SSL_CERT_FILE` shows at start; `--ca-file` is of no use for `http`.
    pub fn log_trust(&self, url: &Url, ca_file: bool) {
        if !matches!(url.address(), Address::Https { .. }) {
            if ca_file {
                log::warn!("--ca-file has no use with an http:// URL");
            }
            return;
        }
        match self.client.1.trust() {
            Ok(trust) => {
                log::info!("{url}: {trust}");
                for problem in &trust.problems {
                    log::warn!("{url}: CA certificates: {problem}");
                }
            }
            Err(e) => log::error!("{url}: cannot verify any server certificate: {e}"),
        }
    }
}

impl Web for HttpWeb {
    fn get(&mut self, url: &Url, timeout: Duration) -> Result<Response, HttpError> {
        if self.client.0 != timeout {
            self.client = (timeout, HttpWeb::client(&self.ca_file, timeout)?);
        }
        self.client.1.send(url, &Request::get(url.path()))
    }
}

/// Whether `needle` occurs in `haystack` (bytes: a body need not be UTF-8; B10).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listeners::httpok::fakes::{answer, policy, refused, FakeWeb, URL};

    fn verdict(p: &Policy, a: Result<Response, HttpError>) -> Verdict {
        p.probe(&mut FakeWeb::new(vec![a])).verdict
    }

    #[test]
    fn codes_are_a_set_and_the_body_is_compared_as_bytes() {
        // superlance B10: `str in bytes` raised TypeError on Python 3 whenever the status was
        // fine.
        let mut p = policy(&["web"], false);
        p.codes = vec![200, 204];
        p.body = Some("h\u{e9}llo".into());
        assert_eq!(
            verdict(&p, answer(204, "No Content", "h\u{e9}llo there")),
            Verdict::Healthy
        );
        let mut not_utf8 = b"\xff\xfe h\xc3\xa9llo".to_vec();
        not_utf8.push(0xff);
        let r = Ok(Response {
            status: 200,
            reason: "OK".into(),
            headers: Vec::new(),
            body: not_utf8,
        });
        assert_eq!(verdict(&p, r), Verdict::Healthy);
        assert_eq!(verdict(&p, answer(200, "OK", "hello")), Verdict::BadBody);
        // A redirect is a status like any other: not followed, not in -c.
        assert_eq!(
            verdict(&p, answer(302, "Found", "h\u{e9}llo")),
            Verdict::BadStatus
        );
        let probe = p.probe(&mut FakeWeb::new(vec![answer(500, "Oops", "")]));
        assert_eq!(
            (probe.said.as_str(), probe.answered),
            (
                "status contacting http://127.0.0.1:8080/health?full=1: 500 Oops",
                true
            )
        );
    }

    #[test]
    fn refused_connections_are_retried_within_the_budget() {
        // superlance B13: only errno 111. -t 10 with a 10 s interval: one attempt; a budget
        // that leaves room for two more pauses: three.
        let mut p = policy(&[], false);
        let mut web = FakeWeb::new(vec![refused(), answer(200, "OK", "")]);
        let probe = p.probe(&mut web);
        assert_eq!(web.gets.len(), 1);
        assert_eq!((probe.verdict, probe.answered), (Verdict::BadStatus, false));
        assert!(probe.said.contains("connection refused"), "{}", probe.said);

        p.retry_interval = Duration::from_millis(30);
        p.timeout = Duration::from_millis(100);
        let mut web = FakeWeb::new(vec![refused(), refused(), answer(200, "OK", "")]);
        let started = Instant::now();
        assert_eq!(p.probe(&mut web).verdict, Verdict::Healthy);
        assert_eq!(web.gets.len(), 3);
        assert!(started.elapsed() >= Duration::from_millis(60));

        // Other errors are not retried.
        let mut web = FakeWeb::new(vec![
            Err(HttpError::Tls {
                url: URL.into(),
                reason: "received fatal alert: HandshakeFailure".into(),
            }),
            answer(200, "OK", ""),
        ]);
        assert_eq!(p.probe(&mut web).verdict, Verdict::BadStatus);
        assert_eq!(web.gets.len(), 1);

        // Refused until the budget is spent.
        let mut web = FakeWeb::new((0..10).map(|_| refused()).collect());
        assert_eq!(p.probe(&mut web).verdict, Verdict::BadStatus);
        assert!((2..=4).contains(&web.gets.len()), "{}", web.gets.len());
    }

    #[test]
    fn a_certificate_failure_is_a_verdict_of_its_own() {
        // Issue 16: not a bad status, and not retried.
        let p = policy(&[], false);
        let e = HttpError::Certificate {
            url: URL.into(),
            reason: "it is not signed by a CA this machine trusts".into(),
        };
        let text = e.to_string();
        let mut web = FakeWeb::new(vec![Err(e), answer(200, "OK", "")]);
        let probe = p.probe(&mut web);
        assert_eq!(web.gets.len(), 1);
        assert_eq!(probe.verdict, Verdict::Untrusted(text.clone()));
        assert_eq!(probe.said, format!("error contacting {URL}:\n\n {text}"));
        assert!(!probe.answered);
    }
}
