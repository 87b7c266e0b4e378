//! Delivering one rendered notification by HTTP POST, for the channels of issue 12 (webhook,
//! Slack, Discord, Teams, Telegram, ntfy, Alertmanager): [`deliver`] sends a [`Post`] with a
//! [`Client`] (its timeout, CA file, proxies and `User-Agent: superlance/<version>`) and says
//! whether trying again may help ([`PostError`]).
//!
//! What a response means (issue 12):
//!
//! | answer | result |
//! |---|---|
//! | 2xx | delivered |
//! | 429, 503 | transient; `Retry-After` (seconds or an HTTP date) carried as [`PostError::retry_after`] |
//! | 408 Request Timeout | transient (the server gave up waiting for us: a network matter, as curl's `--retry` takes it) |
//! | 407 from a plain-http proxy | transient (the proxy's configuration, not the notification, is wrong) |
//! | other 4xx | permanent, with the status line and a short excerpt of the body |
//! | 3xx | permanent: redirects are not followed; the message names where to (its origin) |
//! | 5xx, 1xx and anything else | transient |
//! | connection refused or failed, DNS, timeout, TLS and certificate failures, a malformed answer, a proxy that refuses the tunnel | transient |
//! | a URL or header that cannot be sent (bad URL, not http(s), a header the client writes, a line break) | permanent ([`check`] finds these at start-up) |
//!
//! Secrets: a webhook URL holds its token (Slack, Discord, Teams; Telegram's bot token is in
//! the path), a header may hold one (`Authorization`). Every message here names the URL's
//! scheme, host and port only ([`Url::parse_secret`]), never a header's value, and the body
//! excerpt has every such secret blanked out, in case a server echoes the request back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Address, Client, HttpError, Request, Response, Url};

/// One POST, as a channel renders it (borrowed from `crate::notify::HttpPost`, which this
/// module does not name so that the arrows run one way: notify uses http).
#[derive(Clone, Copy)]
pub struct Post<'a> {
    /// `http://` or `https://`; a secret (only its origin is ever shown).
    pub url: &'a str,
    /// Besides `Content-Type` and `Content-Length`, which the client writes. Values may be
    /// secrets: never shown.
    pub headers: &'a [(String, String)],
    pub content_type: &'a str,
    pub body: &'a [u8],
}

impl std::fmt::Debug for Post<'_> {
    /// Without the URL's path and query or the headers' values: they hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Post")
            .field("url", &super::url::origin_of(self.url))
            .field("headers", &names)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a POST was not delivered, and whether trying again may help. The message names the
/// URL's origin only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The server or the network failed, or asked us to come back later.
    #[error("{message}")]
    Transient {
        message: String,
        /// How long the server asked us to wait (`Retry-After` of a 429 or 503), if it did.
        /// Not capped here: the caller bounds it by its own longest backoff.
        retry_after: Option<Duration>,
    },
    /// The server refuses this request (a 4xx), or it cannot be sent at all: retrying would
    /// fail the same way.
    #[error("{message}")]
    Permanent { message: String },
}

impl PostError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, PostError::Permanent { .. })
    }

    /// The wait a server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PostError::Transient { retry_after, .. } => *retry_after,
            PostError::Permanent { .. } => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            PostError::Transient { message, .. } | PostError::Permanent { message } => message,
        }
    }

    fn transient(message: String) -> PostError {
        PostError::Transient {
            message,
            retry_after: None,
        }
    }
}

/// Header fields the client writes itself; a channel's headers may not repeat them.
const WRITTEN_BY_THE_CLIENT: [&str; 7] = [
    "Host",
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "User-Agent",
    "Proxy-Authorization",
];

/// Whether `post` can be sent at all: its URL parses as `http` or `https`, its headers are
/// well-formed and none is one the client writes. Channels call it at start-up so that a bad
/// option is reported then; [`deliver`] calls it too. Gives the parsed (secret) URL.
pub fn check(post: &Post<'_>) -> Result<Url, PostError> {
    let permanent = |message: String| PostError::Permanent { message };
    let url = Url::parse_secret(post.url).map_err(|e| permanent(e.to_string()))?;
    if let Address::Unix(_) = url.address() {
        return Err(permanent(format!(
            "{url}: a notification URL must be http:// or https://"
        )));
    }
    let unsafe_text = |s: &str| s.contains(['\r', '\n', '\0']);
    if unsafe_text(post.content_type) || post.content_type.is_empty() {
        return Err(permanent(format!(
            "{url}: the content type is empty or contains a line break"
        )));
    }
    for (name, value) in post.headers {
        let bad_name = name.is_empty()
            || name.contains(|c: char| !c.is_ascii_graphic() || c == ':')
            || name.len() > 100;
        if bad_name {
            return Err(permanent(format!(
                "{url}: {:?} is not a valid header name",
                name.chars().take(100).collect::<String>()
            )));
        }
        if WRITTEN_BY_THE_CLIENT
            .iter()
            .any(|w| w.eq_ignore_ascii_case(name))
        {
            return Err(permanent(format!(
                "{url}: the header {name} is written by superlance itself and cannot be given"
            )));
        }
        if unsafe_text(value) {
            return Err(permanent(format!(
                "{url}: the value of the header {name} contains a line break or NUL"
            )));
        }
    }
    Ok(url)
}

/// POST `post` and classify the answer (see the module documentation). Blocks for at most the
/// client's timeout (plus name resolution).
pub fn deliver(client: &Client, post: &Post<'_>) -> Result<(), PostError> {
    let url = check(post)?;
    let mut request = Request::post(url.path(), post.content_type, post.body);
    for (name, value) in post.headers {
        request = request.header(name, value);
    }
    let proxy = client.options().proxy.for_url(&url);
    let label = match proxy {
        Some(p) => format!("{url} (through the proxy {p})"),
        None => url.to_string(),
    };
    let secrets = secrets(&url, post);
    // The client's messages name only the origin, but may quote what a server sent, and a
    // server that is not HTTP (an echo service on the wrong port) may send our request back.
    let response = client.send(&url, &request).map_err(|e| {
        let message = blank(&e.to_string(), &secrets);
        match e {
            HttpError::BadUrl { .. } | HttpError::BadRequest { .. } | HttpError::CaFile { .. } => {
                PostError::Permanent { message }
            }
            _ => PostError::transient(message),
        }
    })?;
    // A plain-http request through a proxy may be answered by the proxy itself; an https
    // one is answered by the server, through the tunnel.
    let proxied = proxy.is_some() && matches!(url.address(), Address::Http { .. });
    classify(&label, &response, proxied, &secrets, SystemTime::now())
}

/// The verdict on a response; see the module documentation. `proxied`: the request went
/// through a plain-http proxy, which may have answered itself. `now`: to turn a `Retry-After`
/// date into a wait.
fn classify(
    label: &str,
    response: &Response,
    proxied: bool,
    secrets: &[String],
    now: SystemTime,
) -> Result<(), PostError> {
    let status = response.status;
    let reason = printable(&blank(&response.reason, secrets), 80);
    let line = format!("HTTP {status} {reason}");
    let line = line.trim_end();
    let excerpt = excerpt(&response.body, secrets);
    let said = if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    };
    match status {
        200..=299 => Ok(()),
        429 | 503 => {
            let retry_after = response
                .header("retry-after")
                .and_then(|v| retry_after(v, now));
            let wait = retry_after
                .map(|d| format!(", retry after {} s", d.as_secs()))
                .unwrap_or_default();
            Err(PostError::Transient {
                message: format!("{label}: {line}{wait}{said}"),
                retry_after,
            })
        }
        407 if proxied => Err(PostError::transient(format!(
            "{label}: {line}{said} (the proxy wants credentials: give them in the proxy URL, \
             http://user:password@host:port)"
        ))),
        408 => Err(PostError::transient(format!("{label}: {line}{said}"))),
        300..=399 => {
            let to = response
                .header("location")
                .map(|l| match Url::parse_secret(l) {
                    Ok(u) => format!(" to {u}"),
                    Err(_) => " elsewhere".to_owned(),
                })
                .unwrap_or_default();
            Err(PostError::Permanent {
                message: format!(
                    "{label}: {line}: the server redirects{to}, and redirects are not followed: \
                     give the URL it redirects to"
                ),
            })
        }
        400..=499 => Err(PostError::Permanent {
            message: format!(
                "{label}: {line}{said} (the server refuses this notification: check the URL, \
                 token and headers; not retried)"
            ),
        }),
        _ => Err(PostError::transient(format!("{label}: {line}{said}"))),
    }
}

/// What must never appear in a message: the URL, its path segments and query parts, and the
/// headers' values (the longer ones: a short value such as `1` would blank out everything).
fn secrets(url: &Url, post: &Post<'_>) -> Vec<String> {
    const SHORTEST: usize = 6;
    let mut secrets = vec![url.as_str().to_owned(), url.path().to_owned()];
    secrets.extend(
        url.path()
            .split(['/', '?', '&', '=', '#'])
            .filter(|s| s.len() >= SHORTEST)
            .map(str::to_owned),
    );
    for (_, value) in post.headers {
        secrets.push(value.clone());
        secrets.extend(
            value
                .split_whitespace()
                .filter(|s| s.len() >= SHORTEST)
                .map(str::to_owned),
        );
    }
    secrets.retain(|s| s.len() >= SHORTEST && s != "/");
    // Longest first, so that a whole URL goes before the parts it contains.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// At most 200 characters of a response body, on one line, secrets blanked out.
fn excerpt(body: &[u8], secrets: &[String]) -> String {
    printable(&blank(&String::from_utf8_lossy(body), secrets), 200)
}

/// `text` with every secret replaced by `[secret]`.
fn blank(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[secret]");
        }
    }
    text
}

/// `text` on one line (runs of white space and control characters as one space), at most
/// `max` characters, `...` marking a cut.
fn printable(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}...")
    } else {
        line
    }
}

/// The wait a `Retry-After` value asks for (RFC 9110 §10.2.3): a number of seconds, or an
/// HTTP date (a date in the past is no wait). `None` if it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = http_date(value)?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    Some(Duration::from_secs(
        u64::try_from(at.saturating_sub(now)).unwrap_or(0),
    ))
}

/// Seconds since the epoch of an HTTP date in any of its three formats (RFC 9110 §5.6.7):
/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850),
/// `Sun Nov  6 08:49:37 1994` (asctime). The weekday is not checked.
fn http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = |m: &str| {
        MONTHS
            .iter()
            .position(|n| n.eq_ignore_ascii_case(m))
            .map(|i| i as i64 + 1)
    };
    let number = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        [weekday, d, m, y, t, zone]
            if weekday.ends_with(',') && zone.eq_ignore_ascii_case("GMT") =>
        {
            (number(d)?, month(m)?, number(y)?, *t)
        }
        [weekday, dmy, t, zone] if weekday.ends_with(',') && zone.eq_ignore_ascii_case("GMT") => {
            let mut parts = dmy.split('-');
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            let year = match (number(y)?, y.len()) {
                (y, 2) if y < 70 => 2000 + y,
                (y, 2) => 1900 + y,
                (y, _) => y,
            };
            (number(d)?, month(m)?, year, *t)
        }
        [_, m, d, t, y] => (number(d)?, month(m)?, number(y)?, *t),
        _ => return None,
    };
    let mut hms = time.split(':').map(number);
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let valid = hms.next().is_none()
        && (1970..=9999).contains(&year)
        && (1..=31).contains(&day)
        && h < 24
        && m < 60
        && s <= 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{read_test_request, Options, Proxies};
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::thread;
    use std::time::Instant;

    /// The token a webhook URL holds; no message may show it.
    const TOKEN: &str = "T0KEN-S3CRET-xyz";

    fn client(timeout_ms: u64) -> Client {
        Client::new(Options {
            timeout: Duration::from_millis(timeout_ms),
            ..Options::default()
        })
        .unwrap()
    }

    /// A one-connection server on 127.0.0.1 answering `reply`; hands back the request.
    fn serve_once(reply: Vec<u8>) -> (u16, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let request = read_test_request(&socket);
            (&socket).write_all(&reply).unwrap();
            request
        });
        (port, handle)
    }

    fn headers() -> Vec<(String, String)> {
        vec![("Authorization".into(), format!("Bearer {TOKEN}"))]
    }

    /// POST a small JSON body to a secret URL on `port`.
    fn post_to(client: &Client, scheme_host: &str) -> Result<(), PostError> {
        let url = format!("{scheme_host}/services/{TOKEN}/hook?sig={TOKEN}");
        let headers = headers();
        deliver(
            client,
            &Post {
                url: &url,
                headers: &headers,
                content_type: "application/json",
                body: br#"{"text":"web_01 exited"}"#,
            },
        )
    }

    /// The answer of a server that says `reply`, which must be an error free of secrets.
    fn error_for(reply: &str) -> PostError {
        let (port, _server) = serve_once(reply.as_bytes().to_vec());
        let e = post_to(&client(5000), &format!("http://127.0.0.1:{port}")).unwrap_err();
        assert_no_secret(&e);
        e
    }

    fn assert_no_secret(e: &PostError) {
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(TOKEN) && !text.contains("/services") && !text.contains("Bearer"),
            "{text}"
        );
    }

    #[test]
    fn a_2xx_is_delivered_with_the_headers_and_body() {
        let (port, server) =
            serve_once(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec());
        post_to(&client(5000), &format!("http://127.0.0.1:{port}")).unwrap();
        let sent = String::from_utf8(server.join().unwrap()).unwrap();
        assert_eq!(
            sent,
            format!(
                "POST /services/{TOKEN}/hook?sig={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 User-Agent: superlance/{}\r\nContent-Type: application/json\r\n\
                 Authorization: Bearer {TOKEN}\r\nContent-Length: 24\r\nConnection: close\r\n\
                 \r\n{{\"text\":\"web_01 exited\"}}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let e = error_for(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 13\r\n\r\nslow down pls",
        );
        assert!(!e.is_permanent());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(
            e.message().starts_with("http://127.0.0.1:")
                && e.message()
                    .ends_with(": HTTP 429 Too Many Requests, retry after 7 s: slow down pls"),
            "{e}"
        );

        let date = imf_fixdate(SystemTime::now() + Duration::from_secs(60));
        let e = error_for(&format!(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {date}\r\nContent-Length: 0\r\n\r\n"
        ));
        let wait = e.retry_after().unwrap();
        assert!(
            wait >= Duration::from_secs(58) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );

        // 503 without Retry-After, or with one that is neither: transient, no wait.
        let e = error_for("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((e.is_permanent(), e.retry_after()), (false, None));
        assert!(
            e.message().ends_with(": HTTP 503 Service Unavailable"),
            "{e}"
        );
        let e = error_for("HTTP/1.1 429 Slow\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((e.is_permanent(), e.retry_after()), (false, None));
    }

    #[test]
    fn other_4xx_are_permanent_and_name_the_status_and_body_without_secrets() {
        // The server echoes the request's token back: blanked out.
        let body = format!("no such hook /services/{TOKEN}/hook (Bearer {TOKEN})\n\tsee docs");
        let e = error_for(&format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert!(e.is_permanent() && e.retry_after().is_none());
        // (Path segments of 6 characters and more are blanked, "services" too.)
        assert!(
            e.message().contains(
                ": HTTP 404 Not Found: no such hook /[secret]/[secret]/hook ([secret]) see docs \
                 (the server refuses this notification"
            ),
            "{e}"
        );
        let long = "x".repeat(500);
        let e = error_for(&format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 500\r\n\r\n{long}"
        ));
        assert!(e.is_permanent());
        assert!(
            e.message()
                .contains(&format!(": HTTP 400 Bad Request: {}...", "x".repeat(200))),
            "{e}"
        );
        // Redirects are not followed, and their target shows as its origin.
        let e = error_for(&format!(
            "HTTP/1.1 301 Moved\r\nLocation: https://new.example/{TOKEN}\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(e.is_permanent());
        assert!(
            e.message().contains("redirects to https://new.example,"),
            "{e}"
        );
    }

    #[test]
    fn a_server_that_echoes_the_request_is_not_quoted_with_its_secrets() {
        // Not HTTP: a line service on the wrong port that says back what it got.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let request = read_test_request(&socket);
            (&socket).write_all(&request).unwrap();
        });
        let e = post_to(&client(5000), &format!("http://127.0.0.1:{port}")).unwrap_err();
        assert_no_secret(&e);
        assert!(!e.is_permanent());
        assert!(
            e.message().contains(
                "malformed HTTP response: not an HTTP/1.x status line: \"POST [secret] HTTP/1.1\""
            ),
            "{e}"
        );
        let headers = headers();
        let url = format!("https://h.example/services/{TOKEN}");
        let post = Post {
            url: &url,
            headers: &headers,
            content_type: "text/plain",
            body: b"",
        };
        let debug = format!("{post:?}");
        assert!(
            !debug.contains(TOKEN) && debug.contains("https://h.example"),
            "{debug}"
        );
    }

    #[test]
    fn server_errors_and_408_are_transient() {
        for reply in [
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n",
        ] {
            let e = error_for(reply);
            assert!(!e.is_permanent() && e.retry_after().is_none(), "{e:?}");
        }
        let e = error_for("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops");
        assert!(
            e.message()
                .ends_with(": HTTP 500 Internal Server Error: oops"),
            "{e}"
        );
    }

    #[test]
    fn a_hung_server_times_out_and_a_refused_port_is_transient() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let e = post_to(&client(300), &format!("http://127.0.0.1:{port}")).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_no_secret(&e);
        assert!(!e.is_permanent(), "{e:?}");
        assert!(
            e.message()
                .starts_with(&format!("http://127.0.0.1:{port}: no answer within 0.3 s")),
            "{e}"
        );
        drop(listener);

        let e = post_to(&client(5000), &format!("http://127.0.0.1:{port}")).unwrap_err();
        assert_no_secret(&e);
        assert!(!e.is_permanent(), "{e:?}");
        assert!(e.message().contains("connection refused"), "{e}");
    }

    #[test]
    fn what_cannot_be_sent_is_permanent_and_says_no_secret() {
        let client = client(5000);
        let attempt = |url: &str, headers: &[(String, String)]| {
            let e = deliver(
                &client,
                &Post {
                    url,
                    headers,
                    content_type: "text/plain",
                    body: b"x",
                },
            )
            .unwrap_err();
            assert!(e.is_permanent(), "{e:?}");
            assert_no_secret(&e);
            e.to_string()
        };
        let secret_url = format!("https://hooks.example/services/{TOKEN}");
        assert!(
            attempt(&format!("ftp://hooks.example/{TOKEN}"), &[]).contains("ftp://hooks.example")
        );
        assert!(
            attempt(&format!("https://u:{TOKEN}@h.example/{TOKEN}"), &[])
                .contains("https://h.example")
        );
        assert!(attempt("unix:///run/supervisor.sock", &[]).contains("must be http"));
        let e = attempt(&secret_url, &[("Content-Length".into(), "9".into())]);
        assert!(e.contains("Content-Length is written by superlance"), "{e}");
        let e = attempt(
            &secret_url,
            &[("X-Token".into(), format!("{TOKEN}\r\nEvil: 1"))],
        );
        assert!(e.contains("X-Token contains a line break"), "{e}");
        let e = attempt(&secret_url, &[("Bad Name".into(), "1".into())]);
        assert!(e.contains("not a valid header name"), "{e}");
        // check() at start-up says the same.
        let headers = headers();
        let url = check(&Post {
            url: &secret_url,
            headers: &headers,
            content_type: "application/json",
            body: b"",
        })
        .unwrap();
        assert_eq!(url.to_string(), "https://hooks.example");
    }

    #[test]
    fn retry_after_values() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let at = |v: &str| retry_after(v, now);
        assert_eq!(at("120"), Some(Duration::from_secs(120)));
        assert_eq!(at(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            at("Sun, 06 Nov 1994 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            at("Sunday, 06-Nov-94 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            at("Sun Nov  6 08:50:37 1994"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(at("Sun, 06 Nov 1994 08:49:00 GMT"), Some(Duration::ZERO));
        assert_eq!(
            at("Mon, 07 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(86_400))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "99999999999999999999999",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 99999 08:49:37 GMT",
            "tomorrow",
        ] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
    }

    /// `t` as an IMF-fixdate (the weekday is not read, so not written right).
    fn imf_fixdate(t: SystemTime) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = crate::time::civil_from_days(days);
        format!(
            "Xxx, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
            MONTHS[(month - 1) as usize],
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )
    }

    /// A CONNECT proxy for one tunnel: reads the CONNECT head, and either answers `refuse` or
    /// connects to the asked port on 127.0.0.1 and pipes bytes both ways. Hands back the head.
    fn connect_proxy(refuse: Option<&'static str>) -> (u16, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                assert!(reader.read_line(&mut head).unwrap() > 0, "{head}");
            }
            if let Some(answer) = refuse {
                (&client).write_all(answer.as_bytes()).unwrap();
                return head;
            }
            let target = head.split(' ').nth(1).unwrap();
            let target_port: u16 = target.rsplit(':').next().unwrap().parse().unwrap();
            let server = TcpStream::connect(("127.0.0.1", target_port)).unwrap();
            (&client)
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            assert!(
                reader.buffer().is_empty(),
                "bytes before the tunnel was open"
            );
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up = thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut &s2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let _ = std::io::copy(&mut &server, &mut &c2);
            let _ = c2.shutdown(Shutdown::Write);
            let _ = up.join();
            head
        });
        (port, handle)
    }

    fn proxied_client(proxy: &str, ca_file: Option<std::path::PathBuf>) -> Client {
        Client::new(Options {
            timeout: Duration::from_secs(5),
            ca_file,
            // The test's own environment: nothing (tests must not read or set the process's).
            proxy: Proxies::from_vars(Some(proxy), |_| None).unwrap(),
            ..Options::default()
        })
        .unwrap()
    }

    #[test]
    fn https_through_a_connect_proxy_is_verified_tls_to_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = super::super::tls::tests::certificates(dir.path());
        let (server_port, server) = super::super::tls::tests::tls_server_once(&cert, &key);
        let (proxy_port, proxy) = connect_proxy(None);
        let client = proxied_client(
            &format!("http://us%65r:pw@127.0.0.1:{proxy_port}"),
            Some(ca),
        );
        post_to(&client, &format!("https://localhost:{server_port}")).unwrap();
        // SNI is the server's name: TLS went end to end through the tunnel.
        assert_eq!(server.join().unwrap(), "localhost");
        let head = proxy.join().unwrap();
        assert_eq!(
            head,
            format!(
                "CONNECT localhost:{server_port} HTTP/1.1\r\nHost: localhost:{server_port}\r\n\
                 User-Agent: superlance/{}\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );

        // Not trusted (no CA file): a certificate error, transient, naming origin and proxy.
        let (server_port, _server) = super::super::tls::tests::tls_server_once(&cert, &key);
        let (proxy_port, _proxy) = connect_proxy(None);
        let client = proxied_client(&format!("127.0.0.1:{proxy_port}"), None);
        let e = post_to(&client, &format!("https://localhost:{server_port}")).unwrap_err();
        assert_no_secret(&e);
        assert!(!e.is_permanent());
        assert!(
            e.message().starts_with(&format!(
                "https://localhost:{server_port} (through the proxy http://127.0.0.1:{proxy_port}): \
                 TLS: the server's certificate could not be verified"
            )),
            "{e}"
        );
    }

    #[test]
    fn a_proxy_that_refuses_the_tunnel_or_is_not_there() {
        let (proxy_port, _proxy) = connect_proxy(Some(
            "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        ));
        let client = proxied_client(&format!("http://user:{TOKEN}@127.0.0.1:{proxy_port}"), None);
        let e = post_to(&client, "https://hooks.example:8443").unwrap_err();
        assert_no_secret(&e);
        assert!(!e.is_permanent());
        assert_eq!(
            e.message(),
            format!(
                "https://hooks.example:8443 (through the proxy http://127.0.0.1:{proxy_port}): the \
                 proxy refused to connect to the server: 407 Proxy Authentication Required (the \
                 proxy wants credentials: give them in the proxy URL, http://user:password@host:port)"
            )
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = proxied_client(&format!("http://user:{TOKEN}@127.0.0.1:{port}"), None);
        let e = post_to(&client, "https://hooks.example").unwrap_err();
        assert_no_secret(&e);
        assert!(!e.is_permanent());
        assert!(
            e.message().starts_with(&format!(
                "https://hooks.example (through the proxy http://127.0.0.1:{port}): connection refused"
            )),
            "{e}"
        );
    }

    #[test]
    fn plain_http_through_a_proxy_sends_the_absolute_url() {
        let (proxy_port, proxy) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
        let client = proxied_client(&format!("http://u:p@127.0.0.1:{proxy_port}"), None);
        post_to(&client, "http://hooks.example:8080").unwrap();
        let sent = String::from_utf8(proxy.join().unwrap()).unwrap();
        assert!(
            sent.starts_with(&format!(
                "POST http://hooks.example:8080/services/{TOKEN}/hook?sig={TOKEN} HTTP/1.1\r\n\
                 Host: hooks.example:8080\r\nUser-Agent: superlance/{}\r\n\
                 Proxy-Authorization: Basic dTpw\r\nContent-Type: application/json\r\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{sent}"
        );
        // The proxy's own 407 is its configuration's fault: transient.
        let (proxy_port, _proxy) = serve_once(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n".to_vec(),
        );
        let client = proxied_client(&format!("127.0.0.1:{proxy_port}"), None);
        let e = post_to(&client, "http://hooks.example").unwrap_err();
        assert!(
            !e.is_permanent() && e.message().contains("the proxy wants credentials"),
            "{e}"
        );
    }

    #[test]
    fn the_connect_answer_is_read_no_further_than_its_header() {
        let mut bytes: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nTLS bytes";
        let head = super::super::connect::read_head(&mut bytes, 1024).unwrap();
        assert_eq!(head, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(bytes, b"TLS bytes");
    }

    proptest::proptest! {
        /// Any Retry-After value or URL text: no panic, and a secret URL's error never shows
        /// its path.
        #[test]
        fn any_text_is_read_without_panic(
            value in "\\PC{0,40}",
            authority in "[a-zA-Z0-9:@.\\[\\]%-]{0,30}",
        ) {
            let _ = retry_after(&value, SystemTime::now());
            let _ = http_date(&value);
            if let Err(e) = Url::parse_secret(&format!("https://{authority}/SECRET?{value}")) {
                proptest::prop_assert!(!e.to_string().contains("SECRET"), "{}", e);
            }
        }
    }
}
