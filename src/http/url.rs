//! URLs the client takes: `http://host[:port][/path]`, `https://...` and
//! `unix:///path/to.sock`, parsed into where to connect ([`Address`]) and what to ask for (the
//! request target), with the `Host` header they imply.

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    address: Address,
    /// The request target for this URL: path and query, `/` if none (always `/` for unix).
    path: String,
    text: String,
}

impl Url {
    /// Parse `text`. Schemes: `http`, `https`, `unix` (case-insensitive). A fragment is
    /// dropped; user information (`user:pass@`) is refused, credentials are passed apart.
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        let bad = |reason: &str| HttpError::BadUrl {
            url: text.to_owned(),
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
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The request target the URL names (`/` when it names none).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
