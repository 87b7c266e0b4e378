//! Which requests go through an HTTP proxy, and which proxy: `--proxy URL` (the channels'
//! option), or the environment as curl reads it (`https_proxy`/`HTTPS_PROXY`,
//! `http_proxy`/`HTTP_PROXY`, `no_proxy`/`NO_PROXY`, the lower-case name first; an empty value
//! is unset).
//!
//! Rules ([`Proxies::for_url`]):
//! - A Unix socket (supervisord's) never goes through a proxy.
//! - `--proxy` takes every `http` and `https` request, loopback included (it was asked for),
//!   and the environment's proxy variables are then not read (curl's `-x`).
//! - Else `https` URLs take `HTTPS_PROXY` and `http` URLs `HTTP_PROXY`. `localhost`,
//!   `*.localhost` and loopback addresses (127.0.0.0/8, ::1) never take the environment's
//!   proxy (as Go's net/http: a proxy for the world is not one for this machine).
//! - `NO_PROXY` applies to both, as in curl: a comma-separated list of host names (matching
//!   the name and every name under it: `example.com` and `.example.com` both match
//!   `example.com` and `www.example.com`, not `notexample.com`; a leading `*.` is read as `.`),
//!   IP addresses and CIDR networks (`10.0.0.0/8`, `fd00::/8`; an IP matches only an IP URL,
//!   as curl does not resolve names for this), each with an optional `:port` (`[::1]:8080` for
//!   IPv6) that limits it to that port; `*` anywhere turns every proxy off. Case-insensitive,
//!   spaces around entries ignored, trailing dots ignored. An entry that is none of these is
//!   ignored.
//!
//! A proxy URL is `http://[user:password@]host[:port]`; without a scheme, `http://` is assumed
//! and without a port, 1080 (both as curl). The user and password are percent-decoded and sent
//! as `Proxy-Authorization: Basic`; they are never shown: a [`Proxy`] displays and
//! debug-prints as `http://host:port`. `https://` (TLS to the proxy) and SOCKS proxies are not
//! supported and say so.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;

use super::{Address, HttpError, Url};

/// curl's default proxy port.
const DEFAULT_PORT: u16 = 1080;

/// One HTTP proxy. Its credentials are never displayed.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `Basic <base64>`, from the URL's user information.
    authorization: Option<String>,
}

impl Proxy {
    /// Parse a proxy URL; see the module documentation. Errors never show the user
    /// information, the path or the query.
    pub fn parse(text: &str) -> Result<Proxy, HttpError> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let shown = super::url::origin_of(&with_scheme);
        let bad = |reason: &str| HttpError::BadUrl {
            url: shown.clone(),
            reason: format!("as a proxy: {reason}"),
        };
        let (scheme, rest) = with_scheme.split_once("://").unwrap_or_default();
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad(&format!(
                "the scheme must be http (a {:?} proxy is not supported)",
                scheme.to_ascii_lowercase()
            )));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !matches!(tail, "" | "/") {
            return Err(bad("a proxy URL has no path"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let has_port = match hostport.rsplit_once(':') {
            Some((h, _)) => !h.starts_with('[') || h.ends_with(']'),
            None => false,
        };
        let with_port = if has_port {
            format!("http://{hostport}/")
        } else {
            format!("http://{hostport}:{DEFAULT_PORT}/")
        };
        let url = Url::parse_secret(&with_port).map_err(|e| match e {
            HttpError::BadUrl { reason, .. } => bad(&reason),
            other => other,
        })?;
        let Address::Http { host, port } = url.address() else {
            return Err(bad("not an http URL"));
        };
        let authorization = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let pair = [
                percent_decode(user),
                b":".to_vec(),
                percent_decode(password),
            ]
            .concat();
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Proxy {
            host: host.clone(),
            port: *port,
            authorization,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Proxy-Authorization` value, if the URL had credentials.
    pub(super) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self}")?;
        if self.authorization.is_some() {
            f.write_str(", with credentials")?;
        }
        f.write_str(")")
    }
}

/// `%XX` decoded; anything else as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Which proxy each request takes: see the module documentation. The default is none, for
/// every URL (the XML-RPC client's and httpok's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    /// From the environment, not `--proxy`: loopback is exempt.
    from_env: bool,
    no_proxy: NoProxy,
}

impl Proxies {
    /// No proxy for any URL.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// `--proxy` if given (`explicit`), else the environment's variables.
    pub fn from_env(explicit: Option<&str>) -> Result<Proxies, HttpError> {
        Proxies::from_vars(explicit, |name| std::env::var(name).ok())
    }

    /// [`Proxies::from_env`] with the environment read through `var` (tests give their own:
    /// they run in parallel and must not set the process's).
    pub fn from_vars(
        explicit: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Proxies, HttpError> {
        let var = |lower: &str, upper: &str| -> Option<(String, String)> {
            [lower, upper].into_iter().find_map(|name| {
                var(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name.to_owned(), v))
            })
        };
        let no_proxy = var("no_proxy", "NO_PROXY")
            .map(|(_, v)| NoProxy::parse(&v))
            .unwrap_or_default();
        if let Some(text) = explicit.filter(|t| !t.trim().is_empty()) {
            let proxy = Proxy::parse(text)?;
            return Ok(Proxies {
                http: Some(proxy.clone()),
                https: Some(proxy),
                from_env: false,
                no_proxy,
            });
        }
        let named = |found: Option<(String, String)>| -> Result<Option<Proxy>, HttpError> {
            found
                .map(|(name, value)| {
                    Proxy::parse(&value).map_err(|e| match e {
                        HttpError::BadUrl { url, reason } => HttpError::BadUrl {
                            url,
                            reason: format!("{reason} (from the environment variable {name})"),
                        },
                        other => other,
                    })
                })
                .transpose()
        };
        Ok(Proxies {
            http: named(var("http_proxy", "HTTP_PROXY"))?,
            https: named(var("https_proxy", "HTTPS_PROXY"))?,
            from_env: true,
            no_proxy,
        })
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn for_url(&self, url: &Url) -> Option<&Proxy> {
        let (proxy, host, port) = match url.address() {
            Address::Unix(_) => return None,
            Address::Http { host, port } => (self.http.as_ref()?, host, *port),
            Address::Https { host, port } => (self.https.as_ref()?, host, *port),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.from_env && is_loopback(&host) {
            return None;
        }
        if self.no_proxy.matches(&host, port) {
            return None;
        }
        Some(proxy)
    }

    /// Whether any URL would take a proxy.
    pub fn is_none(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }
}

impl fmt::Display for Proxies {
    /// For a start-up log line: `https through http://proxy:3128, http directly`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |p: &Option<Proxy>| match p {
            Some(p) => format!("through {p}"),
            None => "directly".to_owned(),
        };
        write!(f, "https {}, http {}", one(&self.https), one(&self.http))?;
        if self.no_proxy.all {
            f.write_str(" (but NO_PROXY=*: every request directly)")?;
        } else if !self.no_proxy.entries.is_empty() {
            write!(
                f,
                " (except {} NO_PROXY entries)",
                self.no_proxy.entries.len()
            )?;
        }
        Ok(())
    }
}

/// `localhost`, a name under `.localhost` (RFC 6761), or a loopback address.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The hosts `NO_PROXY` exempts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NoProxy {
    /// `*`: no proxy at all.
    all: bool,
    entries: Vec<(Pattern, Option<u16>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A host name, lower-case, without leading or trailing dots.
    Name(String),
    /// An address and the number of leading bits that must match.
    Net(IpAddr, u8),
}

impl NoProxy {
    fn parse(text: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
            } else if let Some(parsed) = NoProxy::entry(entry) {
                no_proxy.entries.push(parsed);
            }
        }
        no_proxy
    }

    /// One entry: `name[:port]`, `.name`, `*.name`, `ip[/bits]`, `[ipv6][:port]`, `ipv6[/bits]`.
    fn entry(entry: &str) -> Option<(Pattern, Option<u16>)> {
        let entry = entry.to_ascii_lowercase();
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
        // A bare IPv6 address or network (several colons, no brackets): no port.
        let (host, port) = if let Some(v6) = entry.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            match after {
                "" => (host.to_owned(), None),
                p => (host.to_owned(), Some(port(p.strip_prefix(':')?)?)),
            }
        } else if entry.matches(':').count() > 1 {
            (entry.clone(), None)
        } else {
            match entry.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(port(p)?)),
                None => (entry.clone(), None),
            }
        };
        let (address, bits) = match host.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (host.as_str(), None),
        };
        if let Ok(ip) = address.parse::<IpAddr>() {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            return (bits <= max).then_some((Pattern::Net(ip, bits), port));
        }
        if bits.is_some() {
            return None;
        }
        let name = host.strip_prefix('*').unwrap_or(&host);
        let name = name.trim_matches('.');
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '*') {
            return None;
        }
        Some((Pattern::Name(name.to_owned()), port))
    }

    /// `host`: lower-case, without a trailing dot, an IPv6 address without brackets.
    fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|(pattern, p)| {
            p.is_none_or(|p| p == port)
                && match (pattern, ip) {
                    (Pattern::Name(name), None) => {
                        host == name
                            || host
                                .strip_suffix(name.as_str())
                                .is_some_and(|rest| rest.ends_with('.'))
                    }
                    (Pattern::Net(net, bits), Some(ip)) => in_network(ip, *net, *bits),
                    _ => false,
                }
        })
    }
}

/// Whether the first `bits` bits of `ip` and `net` agree (an IPv4 address never matches an
/// IPv6 network, nor the reverse).
fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (
            u128::from(u32::from(a)) << 96,
            u128::from(u32::from(b)) << 96,
            32,
        ),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let bits = u32::from(bits.min(width));
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn proxied(proxies: &Proxies, text: &str) -> Option<String> {
        proxies.for_url(&url(text)).map(ToString::to_string)
    }

    #[test]
    fn proxy_urls_parse_and_hide_credentials() {
        let p = Proxy::parse("http://us%40er:p%3Ass@proxy.example:3128").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.example", 3128));
        assert_eq!(p.to_string(), "http://proxy.example:3128");
        assert_eq!(
            format!("{p:?}"),
            "Proxy(http://proxy.example:3128, with credentials)"
        );
        // base64("us@er:p:ss")
        assert_eq!(p.authorization(), Some("Basic dXNAZXI6cDpzcw=="));
        let p = Proxy::parse("proxy.example").unwrap();
        assert_eq!(p.to_string(), "http://proxy.example:1080");
        assert_eq!(p.authorization(), None);
        let p = Proxy::parse("HTTP://[::1]:8080/").unwrap();
        assert_eq!(p.to_string(), "http://[::1]:8080");
        let p = Proxy::parse("http://user@[::1]").unwrap();
        assert_eq!(p.to_string(), "http://[::1]:1080");
        assert_eq!(p.authorization(), Some("Basic dXNlcjo="));
        for bad in [
            "https://user:SECRET@proxy.example:443",
            "socks5://user:SECRET@proxy.example",
            "http://user:SECRET@proxy.example:99999",
            "http://user:SECRET@proxy.example:3128/SECRET",
            "http://user:SECRET@:3128",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("as a proxy") && !text.contains("SECRET") && !text.contains("user"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_environment_as_curl_reads_it() {
        let p = Proxies::from_vars(
            None,
            vars(&[
                ("https_proxy", "http://lower:1"),
                ("HTTPS_PROXY", "http://upper:2"),
                ("HTTP_PROXY", "http://plain:3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            proxied(&p, "https://hooks.slack.com/x").as_deref(),
            Some("http://lower:1")
        );
        assert_eq!(
            proxied(&p, "http://example.com/").as_deref(),
            Some("http://plain:3")
        );
        assert_eq!(proxied(&p, "unix:///run/supervisor.sock"), None);
        // The environment's proxy is not for this machine.
        for local in [
            "http://127.0.0.1:9001/",
            "http://127.1.2.3/",
            "http://[::1]:80/",
            "https://localhost:8443/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert_eq!(proxied(&p, local), None, "{local}");
        }
        // Empty is unset; nothing set is no proxy.
        let p = Proxies::from_vars(None, vars(&[("https_proxy", " "), ("HTTPS_PROXY", "up:2")]))
            .unwrap();
        assert_eq!(
            proxied(&p, "https://a.example/").as_deref(),
            Some("http://up:2")
        );
        assert_eq!(proxied(&p, "http://a.example/"), None);
        let p = Proxies::from_vars(None, vars(&[])).unwrap();
        assert!(p.is_none() && Proxies::none().is_none());
        // A bad variable is an error that names it, not its secret.
        let e = Proxies::from_vars(
            None,
            vars(&[("HTTPS_PROXY", "socks5://u:SECRET@proxy.example")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("HTTPS_PROXY") && !e.contains("SECRET"), "{e}");
    }

    #[test]
    fn an_explicit_proxy_takes_everything_but_no_proxy() {
        let p = Proxies::from_vars(
            Some("http://u:pw@proxy.example:3128"),
            vars(&[
                ("HTTPS_PROXY", "http://ignored:1"),
                ("NO_PROXY", "internal.example"),
            ]),
        )
        .unwrap();
        for proxied_url in [
            "https://hooks.slack.com/",
            "http://example.com/",
            "http://127.0.0.1:8080/",
            "https://localhost/",
        ] {
            assert_eq!(
                proxied(&p, proxied_url).as_deref(),
                Some("http://proxy.example:3128"),
                "{proxied_url}"
            );
        }
        assert_eq!(proxied(&p, "https://www.internal.example/"), None);
        assert_eq!(proxied(&p, "unix:///run/supervisor.sock"), None);
        assert_eq!(
            p.to_string(),
            "https through http://proxy.example:3128, http through http://proxy.example:3128 \
             (except 1 NO_PROXY entries)"
        );
    }

    #[test]
    fn no_proxy_matching() {
        let n = NoProxy::parse(
            " example.com, .dot.example ,*.star.example, Upper.Example., 10.0.0.0/8, \
             192.168.1.7, fd00::/8, [2001:db8::1]:8443, ported.example:8080, bad/entry, ,",
        );
        let m = |host: &str, port: u16| n.matches(host, port);
        assert!(m("example.com", 443) && m("www.example.com", 80) && m("a.b.example.com", 1));
        assert!(!m("notexample.com", 443) && !m("example.com.evil", 443));
        assert!(m("dot.example", 443) && m("x.dot.example", 443));
        assert!(m("star.example", 443) && m("x.star.example", 443));
        assert!(m("upper.example", 443) && m("x.upper.example", 443));
        assert!(m("10.1.2.3", 443) && !m("11.0.0.1", 443));
        assert!(m("192.168.1.7", 1) && !m("192.168.1.8", 1));
        assert!(m("fd12::1", 443) && !m("fe80::1", 443));
        assert!(m("2001:db8::1", 8443) && !m("2001:db8::1", 443));
        assert!(m("ported.example", 8080) && !m("ported.example", 443));
        assert!(m("x.ported.example", 8080));
        // An IP entry is not a name suffix, and a name does not match an IP URL.
        assert!(!m("1.10.0.0.1", 443));
        assert!(!NoProxy::parse("example.com").matches("93.184.216.34", 443));
        assert!(NoProxy::parse("a.example,*").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
        assert_eq!(NoProxy::parse("bad/entry, :80, [::1, x:0").entries, vec![]);
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8", 53));
        assert!(NoProxy::parse("::/0").matches("2001:db8::5", 53));
    }

    #[test]
    fn no_proxy_from_the_environment() {
        let p = Proxies::from_vars(
            None,
            vars(&[
                ("HTTPS_PROXY", "proxy.example:3128"),
                ("no_proxy", "corp.example"),
                ("NO_PROXY", "ignored.example"),
            ]),
        )
        .unwrap();
        assert_eq!(proxied(&p, "https://x.corp.example/"), None);
        assert_eq!(
            proxied(&p, "https://ignored.example/").as_deref(),
            Some("http://proxy.example:3128")
        );
        let p = Proxies::from_vars(
            None,
            vars(&[("HTTPS_PROXY", "proxy.example:3128"), ("NO_PROXY", "*")]),
        )
        .unwrap();
        assert_eq!(proxied(&p, "https://hooks.slack.com/"), None);
    }

    proptest::proptest! {
        /// Whatever the environment holds, reading it and choosing a proxy never panics, and
        /// a proxy URL's user information never shows in an error.
        #[test]
        fn any_text_is_read_without_panic(
            text in "[a-zA-Z0-9:/@%.,*\\[\\] _-]{0,60}",
            host in "[a-z0-9.:-]{1,20}",
            port in 1u16..,
        ) {
            let no_proxy = NoProxy::parse(&text);
            let _ = no_proxy.matches(&host, port);
            if let Err(e) = Proxy::parse(&format!("http://user:SECRET@{text}")) {
                proptest::prop_assert!(!e.to_string().contains("SECRET"), "{}", e);
            }
            let _ = Proxies::from_vars(None, |_| Some(text.clone()));
        }
    }
}
