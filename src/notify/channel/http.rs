//! The HTTP channels' one implementation (issue 12): webhook, Slack, Discord, Teams, Telegram,
//! ntfy and Alertmanager are each an [`HttpChannel`] built by a thin constructor in their own
//! file (`channel/<name>.rs`), over their pure renderer in `crate::notify::channels`.
//!
//! What the channel owns, and what the outbox spools, are kept apart on purpose:
//! - The URL (Slack's, Discord's and Teams' webhook URLs are their credential; Telegram's bot
//!   token is in its path) and the static secret headers (`--webhook-header`, ntfy's
//!   `Authorization`) live in the channel only. They are added at delivery, so they are never
//!   written to the spool: a spool file holds the body and the per-notification headers (a
//!   title, a priority) and nothing that would leak a token to whoever reads `DIR/`. A spooled
//!   notification goes to the URL the listener has at its next start.
//! - `describe()` and every message name the URL's origin only ([`origin_of`]); the HTTP
//!   layer blanks the URL's path and the headers' values out of what a server answers.
//!
//! Delivery is [`crate::http::deliver`]: one POST within the client's timeout, its
//! [`PostError`] mapped onto [`DeliveryError`] (a `Retry-After` becomes
//! [`DeliveryError::Later`]).

use std::sync::Arc;
use std::time::SystemTime;

use super::{Channel, DeliveryError, RenderError, Rendered};
use crate::http::url::origin_of;
use crate::http::{Client, Post, PostError};
use crate::notify::notification::{HttpPost, Kind, Notification};

/// A channel's renderer: one of `crate::notify::channels::<service>::render`, with its config.
pub type Render = Box<dyn Fn(&Notification) -> HttpPost + Send + Sync>;

/// One HTTP endpoint, rendered for by `render`.
pub struct HttpChannel {
    name: String,
    /// The whole URL: a secret.
    url: String,
    content_type: String,
    /// Added at delivery only, never spooled: `--webhook-header`, ntfy's token.
    secret_headers: Vec<(String, String)>,
    client: Arc<Client>,
    render: Render,
    /// `slack https://hooks.slack.com`.
    description: String,
}

impl HttpChannel {
    /// A channel named `name` (`slack`, `webhook-2`: the spool's subdirectory) posting what
    /// `render` makes of a notification. The URL and the content type are the renderer's: they
    /// depend on its config only, never on the notification, so they are taken once, here.
    /// `secret_headers` are added to every request at delivery. Checked now ([`crate::http::post::check`]),
    /// so that a URL or header that can never be sent is reported at start.
    pub fn new(
        name: String,
        client: Arc<Client>,
        secret_headers: Vec<(String, String)>,
        render: Render,
    ) -> Result<HttpChannel, String> {
        let sample = render(&Notification::new(
            Kind::Event,
            "superlance",
            "localhost",
            SystemTime::UNIX_EPOCH,
        ));
        let mut headers = sample.headers.clone();
        headers.extend(secret_headers.iter().cloned());
        crate::http::post::check(&Post {
            url: &sample.url,
            headers: &headers,
            content_type: &sample.content_type,
            body: &[],
        })
        .map_err(|e| format!("--{}: {}", base_name(&name), e.message()))?;
        Ok(HttpChannel {
            description: format!("{} {}", base_name(&name), origin_of(&sample.url)),
            name,
            url: sample.url,
            content_type: sample.content_type,
            secret_headers,
            client,
            render,
        })
    }
}

/// `webhook` of `webhook-2`: the option that made the channel.
fn base_name(name: &str) -> &str {
    name.split_once('-').map_or(name, |(base, _)| base)
}

/// A failed POST as the outbox takes it: a `Retry-After` becomes a wait.
pub fn delivery_error(e: PostError) -> DeliveryError {
    match e {
        PostError::Transient {
            message,
            retry_after: Some(after),
        } => DeliveryError::Later { message, after },
        PostError::Transient { message, .. } => DeliveryError::Transient(message),
        PostError::Permanent { message } => DeliveryError::Permanent(message),
    }
}

impl Channel for HttpChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        let post = (self.render)(n);
        Ok(Rendered {
            from: String::new(),
            to: Vec::new(),
            headers: post.headers,
            message: post.body,
            summary: n.summary(),
        })
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        let mut headers = r.headers.clone();
        headers.extend(self.secret_headers.iter().cloned());
        let post = Post {
            url: &self.url,
            headers: &headers,
            content_type: &self.content_type,
            body: &r.message,
        };
        crate::http::deliver(&self.client, &post).map_err(delivery_error)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Options;
    use crate::notify::channels::webhook;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A one-connection receiver answering `answer`; gives back what it was sent.
    fn receiver(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/s3cr3t-path", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            (&s).write_all(answer.as_bytes()).unwrap();
            head + &String::from_utf8_lossy(&body)
        });
        (url, h)
    }

    fn channel(url: &str) -> HttpChannel {
        let cfg = webhook::Config {
            url: url.to_owned(),
            headers: vec![],
        };
        let client = Client::new(Options {
            timeout: Duration::from_secs(5),
            ..Options::default()
        })
        .unwrap();
        HttpChannel::new(
            "webhook-2".into(),
            Arc::new(client),
            vec![("Authorization".into(), "Bearer t0k3n-value".into())],
            Box::new(move |n| webhook::render(n, &cfg)),
        )
        .unwrap()
    }

    #[test]
    fn secret_headers_are_sent_but_never_rendered_and_the_url_never_described() {
        let (url, got) = receiver("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let c = channel(&url);
        assert_eq!(c.name(), "webhook-2");
        let d = c.describe();
        assert!(
            d.starts_with("webhook http://127.0.0.1:") && !d.contains("s3cr3t"),
            "{d}"
        );
        let r = c
            .render(&Notification::for_test(Some("web crashed"), "text", None))
            .unwrap();
        assert!(r.headers.is_empty(), "nothing secret in what is spooled");
        assert_eq!(r.summary, "web crashed");
        c.deliver(&r).unwrap();
        let req = got.join().unwrap();
        assert!(
            req.starts_with("POST /hook/s3cr3t-path HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.contains("Authorization: Bearer t0k3n-value\r\n"),
            "{req}"
        );
        assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
        assert!(req.contains("\"subject\":\"web crashed\""), "{req}");
    }

    #[test]
    fn failures_are_classified_and_retry_after_kept() {
        let (url, _got) = receiver(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
        );
        let c = channel(&url);
        let r = c.render(&Notification::for_test(None, "x", None)).unwrap();
        match c.deliver(&r) {
            Err(DeliveryError::Later { message, after }) => {
                assert_eq!(after, Duration::from_secs(7));
                assert!(
                    !message.contains("s3cr3t") && !message.contains("t0k3n"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let (url, _got) = receiver("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            channel(&url).deliver(&r),
            Err(DeliveryError::Permanent(_))
        ));
        let (url, _got) = receiver("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            channel(&url).deliver(&r),
            Err(DeliveryError::Transient(_))
        ));
    }

    #[test]
    fn a_url_that_can_never_be_sent_is_refused_at_start_without_its_path() {
        let cfg = webhook::Config {
            url: "ftp://example.com/s3cr3t".into(),
            headers: vec![],
        };
        let Err(e) = HttpChannel::new(
            "webhook".into(),
            Arc::new(Client::new(Options::default()).unwrap()),
            vec![],
            Box::new(move |n| webhook::render(n, &cfg)),
        ) else {
            panic!("accepted");
        };
        assert!(e.starts_with("--webhook: ") && !e.contains("s3cr3t"), "{e}");
    }
}
