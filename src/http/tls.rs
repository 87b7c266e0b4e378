//! TLS for `https://` URLs ([`super::Client`]): which certificates are trusted, how a server's
//! certificate is verified, and what a failed verification tells a user.
//!
//! The trust store is built once per client, on its first `https` request or when
//! [`super::Client::trust`] asks for it at start: the system's CA certificates as
//! rustls-native-certs 0.8 finds them, plus those of the caller's CA file
//! ([`super::Options::ca_file`], httpok's `--ca-file`). rustls-native-certs reads the file and
//! directories openssl-probe finds (Debian: `/etc/ssl/certs/ca-certificates.crt`,
//! `/etc/ssl/certs`) unless `SSL_CERT_FILE` or `SSL_CERT_DIR` is set: then it reads only those,
//! as OpenSSL does (`load_native_certs` in its lib.rs: a PEM file; a colon-separated list of
//! directories whose every regular file is read, not recursively, no hash names needed).
//!
//! Verification is rustls' webpki verifier (a chain to a trusted certificate, the dates, the
//! URL's host in subjectAltName, sent as SNI), widened in one place where OpenSSL, and so
//! curl and Python, accept what webpki refuses: a server whose certificate is itself in the
//! trust store but is marked as a CA (`basicConstraints CA:TRUE`, which `openssl req -x509`
//! writes by default: the usual "self-signed certificate"). webpki refuses such a certificate
//! as a server's own (`CaUsedAsEndEntity`) even when it is trusted, so `--ca-file self.pem`
//! would not help. [`Verifier`] accepts it when webpki's only objection is that one (webpki
//! checks the dates before it, so they are good), the certificate is itself one of the trust
//! store's anchors (the same subject and public key: what webpki trusts an anchor by), and it
//! is valid for the host name. The handshake signature is still checked with its key, so the
//! server must hold that trusted key.
//!
//! A failed verification is an [`HttpError::Certificate`], told apart from other TLS errors
//! because a caller acts on it differently: it says nothing about the server's health
//! (httpok does not restart on it, docs/httpok.md). Its text says what to do ([`explain`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use super::HttpError;

/// What to do about a certificate this machine does not trust.
const TRUST_IT: &str = "to trust a self-signed or private-CA certificate, give it (or its CA) \
                        in PEM with --ca-file, or name such a file in SSL_CERT_FILE";

/// What a client trusts, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Usable certificates of the system's store (or of SSL_CERT_FILE / SSL_CERT_DIR).
    pub system: usize,
    /// Certificates of that store that rustls cannot use (skipped).
    pub unusable: usize,
    /// Where they came from: `the system store`, or the variables that replace it.
    pub source: String,
    /// Certificates of the CA file.
    pub ca_file: usize,
    /// What could not be read (a missing SSL_CERT_FILE, a bad file in SSL_CERT_DIR).
    pub problems: Vec<String>,
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trusting {} CA certificates of {}",
            self.system, self.source
        )?;
        if self.unusable > 0 {
            write!(f, " ({} more unusable, skipped)", self.unusable)?;
        }
        if self.ca_file > 0 {
            write!(f, " and {} of the CA file", self.ca_file)?;
        }
        Ok(())
    }
}

/// A client's TLS, built once: the rustls configuration and what it trusts.
#[derive(Debug)]
pub(super) struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    pub trust: Trust,
}

/// Build the TLS configuration: the system's store plus `extra` (the CA file's). Fails only
/// when nothing at all is trusted.
pub(super) fn build(extra: &[CertificateDer<'static>]) -> Result<Tls, String> {
    let native = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (system, unusable) = roots.add_parsable_certificates(native.certs);
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a certificate of the CA file is unusable: {e}"))?;
    }
    let trust = Trust {
        system,
        unusable,
        source: store_source(),
        ca_file: extra.len(),
        problems: native.errors.iter().map(ToString::to_string).collect(),
    };
    if roots.is_empty() {
        return Err(format!(
            "no trusted CA certificate: none usable in {}{} and no CA file given (install the \
             system's CA certificates, Debian's ca-certificates package, or give --ca-file)",
            trust.source,
            trust
                .problems
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(roots);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { webpki, roots }))
        .with_no_client_auth();
    Ok(Tls {
        config: Arc::new(config),
        trust,
    })
}

/// Where rustls-native-certs takes the system's certificates from: the variables it reads
/// instead, when set (the same test as its `CertPaths::from_env`).
fn store_source() -> String {
    let file = std::env::var_os("SSL_CERT_FILE");
    let dir = std::env::var_os("SSL_CERT_DIR").filter(|d| !d.is_empty());
    let vars: Vec<String> = [("SSL_CERT_FILE", file), ("SSL_CERT_DIR", dir)]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name}={}", v.to_string_lossy())))
        .collect();
    if vars.is_empty() {
        "the system store".to_owned()
    } else {
        vars.join(" and ")
    }
}

/// The certificates of a PEM CA file, each checked now, so that a bad file is reported at
/// start and not at the first request.
pub(super) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let fail = |reason: String| HttpError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    let mut probe = rustls::RootCertStore::empty();
    for cert in &certs {
        probe
            .add(cert.clone())
            .map_err(|e| fail(format!("a certificate is unusable: {e}")))?;
    }
    Ok(certs)
}

/// A rustls error met in the handshake as the error a user acts on.
pub(super) fn classify(url: String, e: &rustls::Error) -> HttpError {
    match e {
        rustls::Error::InvalidCertificate(c) => HttpError::Certificate {
            url,
            reason: explain(c),
        },
        other => HttpError::Tls {
            url,
            reason: other.to_string(),
        },
    }
}

/// Why the server's certificate was refused, and what to do about it.
pub(super) fn explain(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => format!(
            "it is not signed by a CA this machine trusts (self-signed, or from a private \
             CA?); {TRUST_IT}"
        ),
        C::Other(e) if is_ca_used_as_end_entity(e) => format!(
            "it is a CA certificate (basicConstraints CA:TRUE, as `openssl req -x509` makes \
             by default) that this machine does not trust; {TRUST_IT}"
        ),
        C::NotValidForName => "it is not valid for the URL's host name: use the name it was \
                               made for in the URL, or fix the server's certificate"
            .to_owned(),
        C::NotValidForNameContext { .. } => {
            format!("{c}: use a name it was made for in the URL, or fix the server's certificate")
        }
        C::Expired => "it has expired, or its dates are invalid: renew the server's \
                       certificate"
            .to_owned(),
        C::ExpiredContext { .. } => {
            format!("{c}: renew the server's certificate (or check this machine's clock)")
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            format!("{c}: check this machine's clock, or the server's certificate")
        }
        other => format!("{other}: check the server's certificate; {TRUST_IT}"),
    }
}

/// webpki's objection to a CA certificate used as a server's own.
fn is_ca_used_as_end_entity(e: &OtherError) -> bool {
    matches!(
        e.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

/// webpki's verifier, plus trust in a CA-marked certificate that is itself trusted (see the
/// module documentation).
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// What `webpki` trusts.
    roots: Arc<rustls::RootCertStore>,
}

impl Verifier {
    /// Whether `cert`, taken as a trust anchor (its subject and public key), is one of ours.
    fn is_anchor(&self, cert: &CertificateDer<'_>) -> bool {
        webpki::anchor_from_trusted_cert(cert).is_ok_and(|a| {
            self.roots.roots.iter().any(|r| {
                r.subject == a.subject && r.subject_public_key_info == a.subject_public_key_info
            })
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(e)))
                if is_ca_used_as_end_entity(&e) && self.is_anchor(end_entity) =>
            {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Also used by the proxy tests of `post.rs`: certificates made with `openssl`, a TLS server.
#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::http::{Client, Options, Request, Url};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::thread;
    use std::time::Duration;

    fn options() -> Options {
        Options {
            timeout: Duration::from_secs(5),
            ..Options::default()
        }
    }

    /// Run `script` with sh in `dir` (the `openssl` command makes the certificates, as the
    /// SMTP tests do).
    fn openssl(dir: &Path, script: &str) {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("set -e\n{script}")])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl failed (is the openssl command installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

    /// A private CA and a certificate for `localhost` it signed: (ca.pem, server.pem,
    /// server.key).
    pub(in crate::http) fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        openssl(
            dir,
            &format!(
                "openssl req -x509 {EC} -keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA' \
                    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
                openssl req {EC} -keyout server.key -out server.csr -subj /CN=localhost
                printf 'basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=serverAuth\\n\
subjectAltName=DNS:localhost\\n' > server.ext
                openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 7 \
                    -out server.pem -days 2 -extfile server.ext"
            ),
        );
        (
            dir.join("ca.pem"),
            dir.join("server.pem"),
            dir.join("server.key"),
        )
    }

    /// A self-signed certificate for `localhost` as a user makes one: `openssl req -x509`,
    /// which marks it as a CA (basicConstraints CA:TRUE). (cert, key).
    fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
        openssl(
            dir,
            &format!(
                "openssl req -x509 {EC} -keyout self.key -out self.pem -days 2 -subj /CN=localhost \
                    -addext subjectAltName=DNS:localhost"
            ),
        );
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", "self.pem"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
            "openssl req -x509 no longer makes a CA certificate: this test needs another one"
        );
        (dir.join("self.pem"), dir.join("self.key"))
    }

    /// A self-signed certificate for `localhost` signed with `-days DAYS` and these extensions
    /// (`x509 -req -signkey`, which takes a negative number of days: an expired certificate).
    fn self_signed_with(dir: &Path, name: &str, days: i32, ext: &str) -> (PathBuf, PathBuf) {
        openssl(
            dir,
            &format!(
                "openssl req -new {EC} -keyout {name}.key -out {name}.csr -subj /CN=localhost
                printf '{ext}\\nsubjectAltName=DNS:localhost\\n' > {name}.ext
                openssl x509 -req -in {name}.csr -signkey {name}.key -days {days} \
                    -out {name}.pem -extfile {name}.ext"
            ),
        );
        (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        )
    }

    /// A rustls server for one connection: answers `ok` and hands back the SNI it got.
    pub(in crate::http) fn tls_server_once(
        cert: &Path,
        key: &Path,
    ) -> (u16, thread::JoinHandle<String>) {
        use rustls::pki_types::PrivateKeyDer;
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let session = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(session, socket);
            let mut head = [0; 1024];
            // A client that rejects our certificate ends the handshake: no request then.
            if tls.read(&mut head).is_ok() {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            tls.conn.server_name().unwrap_or_default().to_owned()
        });
        (port, handle)
    }

    /// GET `https://HOST:PORT/` from a server with this certificate, trusting `ca_file`.
    fn get(host: &str, cert: &Path, key: &Path, ca_file: Option<&Path>) -> Result<u16, HttpError> {
        let (port, _server) = tls_server_once(cert, key);
        let url = Url::parse(&format!("https://{host}:{port}/")).unwrap();
        let client = Client::new(Options {
            ca_file: ca_file.map(Path::to_owned),
            ..options()
        })?;
        client.send(&url, &Request::get("/")).map(|r| r.status)
    }

    /// The text of a certificate error, which must be one.
    fn certificate_error(r: Result<u16, HttpError>) -> String {
        match r {
            Err(e @ HttpError::Certificate { .. }) => {
                assert!(e.is_certificate());
                e.to_string()
            }
            other => panic!("not a certificate error: {other:?}"),
        }
    }

    #[test]
    fn bad_ca_files_are_reported_at_construction() {
        let dir = tempfile::tempdir().unwrap();
        let with = |path: PathBuf| {
            Client::new(Options {
                ca_file: Some(path),
                ..Options::default()
            })
            .unwrap_err()
            .to_string()
        };
        let e = with(dir.path().join("missing.pem"));
        assert!(e.contains("missing.pem: cannot read it"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing\n").unwrap();
        assert!(with(empty).contains("holds no PEM certificate"));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(with(garbage).contains("unusable"));
    }

    #[test]
    fn https_verifies_the_certificate_and_sends_sni() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificates(dir.path());

        // Trusted through the CA file.
        let (port, server) = tls_server_once(&cert, &key);
        let url = Url::parse(&format!("https://localhost:{port}/health")).unwrap();
        let client = Client::new(Options {
            ca_file: Some(ca.clone()),
            ..options()
        })
        .unwrap();
        let r = client.send(&url, &Request::get(url.path())).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        assert_eq!(server.join().unwrap(), "localhost");

        // Not trusted by the system store alone: the error says how to trust it.
        let (port, _server) = tls_server_once(&cert, &key);
        let e = certificate_error(get("localhost", &cert, &key, None).map(|_| port));
        assert!(
            e.contains(
                ": TLS: the server's certificate could not be verified: it is not signed \
                 by a CA this machine trusts"
            ) && e.contains("--ca-file")
                && e.contains("SSL_CERT_FILE"),
            "{e}"
        );

        // Trusted, but not for this name.
        let e = certificate_error(get("127.0.0.1", &cert, &key, Some(&ca)));
        assert!(
            e.contains(
                "certificate not valid for name \"127.0.0.1\"; certificate is only valid \
                 for DnsName(\"localhost\")"
            ) && e.contains("use a name it was made for in the URL"),
            "{e}"
        );
    }

    #[test]
    fn a_self_signed_certificate_is_trusted_through_the_ca_file() {
        // Issue 16: the usual self-signed certificate is marked as a CA, which webpki refuses
        // as a server's own even when trusted.
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path());
        let e = certificate_error(get("localhost", &cert, &key, None));
        assert!(
            e.contains("it is a CA certificate (basicConstraints CA:TRUE")
                && e.contains("--ca-file"),
            "{e}"
        );
        assert_eq!(get("localhost", &cert, &key, Some(&cert)).unwrap(), 200);
        // Trusting it as itself still checks the name.
        let e = certificate_error(get("127.0.0.1", &cert, &key, Some(&cert)));
        assert!(e.contains("not valid for name \"127.0.0.1\""), "{e}");
        // Another one with the same subject, and another key, is not the trusted one.
        let other_dir = tempfile::tempdir().unwrap();
        let (other, other_key) = self_signed(other_dir.path());
        let e = certificate_error(get("localhost", &other, &other_key, Some(&cert)));
        assert!(e.contains("it is a CA certificate"), "{e}");
        // A self-signed server certificate (CA:FALSE) is its own trust anchor for webpki.
        let (plain, plain_key) =
            self_signed_with(dir.path(), "plain", 2, "basicConstraints=critical,CA:FALSE");
        assert!(get("localhost", &plain, &plain_key, None).is_err());
        assert_eq!(
            get("localhost", &plain, &plain_key, Some(&plain)).unwrap(),
            200
        );
    }

    #[test]
    fn a_trusted_self_signed_certificate_is_held_to_its_dates() {
        // -days -1: not valid after the day before it is valid from.
        let dir = tempfile::tempdir().unwrap();
        for (name, ext) in [
            ("ca", "basicConstraints=critical,CA:TRUE"),
            ("server", "basicConstraints=critical,CA:FALSE"),
        ] {
            let (cert, key) = self_signed_with(dir.path(), name, -1, ext);
            let e = certificate_error(get("localhost", &cert, &key, Some(&cert)));
            assert!(
                e.ends_with(
                    "it has expired, or its dates are invalid: renew the server's \
                     certificate"
                ),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn every_refusal_says_what_to_do() {
        use rustls::pki_types::ServerName;
        let expired = explain(&CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(2_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_000_000)),
        });
        assert!(
            expired.starts_with("certificate expired: ")
                && expired
                    .ends_with("renew the server's certificate (or check this machine's clock)"),
            "{expired}"
        );
        let name = explain(&CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("web.example.com").unwrap(),
            presented: vec!["DnsName(\"localhost\")".into()],
        });
        assert!(name.contains("\"web.example.com\""), "{name}");
        assert!(explain(&CertificateError::NotValidYet).contains("clock"));
        assert!(explain(&CertificateError::BadSignature).contains("--ca-file"));
        let e = classify(
            "https://h/".into(),
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(e.is_certificate(), "{e:?}");
        let e = classify(
            "https://h/".into(),
            &rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert!(matches!(e, HttpError::Tls { .. }), "{e:?}");
    }

    #[test]
    fn trust_is_told_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _, _) = certificates(dir.path());
        let client = Client::new(Options {
            ca_file: Some(ca),
            ..options()
        })
        .unwrap();
        let trust = client.trust().unwrap();
        assert_eq!(trust.ca_file, 1);
        let text = trust.to_string();
        assert!(
            text.starts_with("trusting ") && text.ends_with(" and 1 of the CA file"),
            "{text}"
        );
    }

    #[test]
    fn tls_to_a_plain_server_is_a_tls_error() {
        // A server that answers the ClientHello with plain HTTP: the handshake fails, and the
        // error says TLS, not certificate.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut hello = [0; 512];
            let _ = socket.read(&mut hello);
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let url = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
        let e = Client::new(options())
            .unwrap()
            .send(&url, &Request::get("/"))
            .unwrap_err();
        assert!(matches!(e, HttpError::Tls { .. }), "{e:?}");
    }
}
