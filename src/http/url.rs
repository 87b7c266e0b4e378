//! URLs the client takes: `http://host[:port][/path]`, `https://...` and
//! `unix:///path/to.sock`, parsed into where to connect ([`Address`]) and what to ask for (the
//! request target), with the `Host` header they imply.
//!
//! A URL may be a secret: a Slack, Discord or Teams webhook URL holds its token in the path
//! or the query, a Telegram Bot API URL the bot's token. [`Url::parse_secret`] makes a URL that
//! shows only its origin (`https://hooks.slack.com`, scheme, host and port) wherever it is
//! displayed or debug-printed, so every error message of the client names no more than that.

use std::fmt;
use std::path::PathBuf;

use super::HttpError;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Plain TCP. `host` is a name or an IP address (IPv6 without brackets).
    Http { host: String, port: u16 },
    /// TLS over TCP.
    Https { host: String, port: u16 },
    /// A Unix stream socket.
    Unix(PathBuf),
}

/// A parsed `http://host[:port][/path]`, `https://...` or `unix:///path/to.sock` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    address: Address,
    /// The request target for this URL: path and query, `/` if none (always `/` for unix).
    path: String,
    text: String,
    /// Shown as its origin only: see the module documentation.
    secret: bool,
}

impl Url {
    /// Parse `text`. Schemes: `http`, `https`, `unix` (case-insensitive). A fragment is
    /// dropped; user information (`user:pass@`) is refused, credentials are passed apart.
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        Url::parse_as(text, false)
    }

    /// Parse a URL that holds a secret (a webhook's token): it displays as its origin only
    /// ([`Url::origin`]), and so does the error if it cannot be parsed.
    pub fn parse_secret(text: &str) -> Result<Url, HttpError> {
        Url::parse_as(text, true)
    }

    fn parse_as(text: &str, secret: bool) -> Result<Url, HttpError> {
        let bad = |reason: &str| HttpError::BadUrl {
            url: if secret {
                origin_of(text)
            } else {
                text.to_owned()
            },
            reason: reason.to_owned(),
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains white space or control characters"));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(bad(
                "expected http://host:port, https://host:port or unix:///path",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "unix" {
            if rest.is_empty() {
                return Err(bad(
                    "unix:// needs a socket path, as in unix:///run/supervisor.sock",
                ));
            }
            return Ok(Url {
                address: Address::Unix(PathBuf::from(rest)),
                path: "/".to_owned(),
                text: text.to_owned(),
                secret,
            });
        }
        let tls = match scheme.as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http, https or unix")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err(bad("an IPv6 address needs its closing ]"));
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let port = match port {
            None | Some("") => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        let host = host.to_owned();
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Url {
            address: if tls {
                Address::Https { host, port }
            } else {
                Address::Http { host, port }
            },
            path,
            text: text.to_owned(),
            secret,
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The request target the URL names (`/` when it names none).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL as given. For a secret URL, never to be logged: display the URL instead.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the URL was parsed as a secret ([`Url::parse_secret`]).
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// `scheme://host[:port]` (the port when it is not the scheme's default), or the whole
    /// `unix://` URL: what a message may say about a secret URL.
    pub fn origin(&self) -> String {
        match &self.address {
            Address::Unix(_) => self.text.clone(),
            Address::Http { .. } => format!("http://{}", self.host_header()),
            Address::Https { .. } => format!("https://{}", self.host_header()),
        }
    }

    /// The `Host` header: `localhost` for a Unix socket (as supervisor's own client sends),
    /// else the host, bracketed if IPv6, with the port unless it is the scheme's default.
    pub(super) fn host_header(&self) -> String {
        let (host, port, default) = match &self.address {
            Address::Unix(_) => return "localhost".to_owned(),
            Address::Http { host, port } => (host, *port, 80),
            Address::Https { host, port } => (host, *port, 443),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        if port == default {
            host
        } else {
            format!("{host}:{port}")
        }
    }
}

impl fmt::Display for Url {
    /// The URL as given, or only its origin if it is secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str(&self.origin())
        } else {
            f.write_str(&self.text)
        }
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Url");
        d.field("address", &self.address);
        if self.secret {
            d.field("secret", &true).finish_non_exhaustive()
        } else {
            d.field("path", &self.path)
                .field("text", &self.text)
                .finish()
        }
    }
}

/// The origin of a URL's text, however malformed, for a message about a secret URL that could
/// not be parsed: the scheme and the authority without user information, lower-cased, never
/// the path, query or fragment.
pub fn origin_of(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return "(a URL without a scheme, not shown)".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    format!("{}://{}", clean(scheme), clean(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_urls_show_their_origin_only() {
        let token = "https://hooks.slack.com/services/T0000/B0000/XXXXSECRET?sig=SECRET";
        let u = Url::parse_secret(token).unwrap();
        assert_eq!(u.to_string(), "https://hooks.slack.com");
        assert!(!format!("{u:?}").contains("SECRET"), "{u:?}");
        assert_eq!(u.path(), "/services/T0000/B0000/XXXXSECRET?sig=SECRET");
        assert_eq!(u.as_str(), token);
        let u = Url::parse_secret("http://[::1]:8080/botSECRET/sendMessage").unwrap();
        assert_eq!(u.to_string(), "http://[::1]:8080");
        let u = Url::parse_secret("HTTPS://api.telegram.org:443/botSECRET").unwrap();
        assert_eq!(u.to_string(), "https://api.telegram.org");
        // Not secret: as given.
        let u = Url::parse("http://127.0.0.1:9/x?y").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:9/x?y");
        for (bad, shown) in [
            ("https://user:SECRET@h.example/x", "https://h.example"),
            ("https://h.example:99999/SECRET", "https://h.example:99999"),
            ("ftp://h.example/SECRET", "ftp://h.example"),
            ("https://h.example/SECRET with space", "https://h.example"),
            ("no scheme SECRET", "(a URL without a scheme, not shown)"),
        ] {
            let e = Url::parse_secret(bad).unwrap_err();
            let text = e.to_string();
            assert!(!text.contains("SECRET"), "{text}");
            assert!(!format!("{e:?}").contains("SECRET"), "{e:?}");
            assert!(text.contains(shown), "{text}");
        }
    }

    #[test]
    fn urls_parse() {
        let u = Url::parse("http://localhost:9001").unwrap();
        assert_eq!(
            u.address(),
            &Address::Http {
                host: "localhost".into(),
                port: 9001
            }
        );
        assert_eq!(
            (u.path(), u.host_header().as_str()),
            ("/", "localhost:9001")
        );
        let u = Url::parse("HTTPS://example.com/health?x=1#frag").unwrap();
        assert_eq!(
            u.address(),
            &Address::Https {
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            (u.path(), u.host_header().as_str()),
            ("/health?x=1", "example.com")
        );
        let u = Url::parse("http://[::1]:8080?q").unwrap();
        assert_eq!(
            u.address(),
            &Address::Http {
                host: "::1".into(),
                port: 8080
            }
        );
        assert_eq!((u.path(), u.host_header().as_str()), ("/?q", "[::1]:8080"));
        let u = Url::parse("unix:///run/supervisor.sock").unwrap();
        assert_eq!(u.address(), &Address::Unix("/run/supervisor.sock".into()));
        assert_eq!((u.path(), u.host_header().as_str()), ("/", "localhost"));
        assert_eq!(u.to_string(), "unix:///run/supervisor.sock");
        for bad in [
            "localhost:9001",
            "ftp://host/",
            "http://",
            "http://:80/",
            "http://host:0/",
            "http://host:99999/",
            "http://host:x/",
            "http://user:pw@host/",
            "http://[::1/",
            "http://host/a b",
            "unix://",
        ] {
            match Url::parse(bad) {
                Err(HttpError::BadUrl { url, .. }) => assert_eq!(url, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
