//! httpok and an `https` server whose certificate cannot be verified (issue 16).
//!
//! superlance never verified certificates (B11), so a health URL with a self-signed or
//! private-CA certificate worked there. Here it is verified; when that fails (not trusted,
//! another name, expired), httpok has learnt nothing about the program's health, so by default
//! it restarts nothing: it reports the failure once (one ERROR log line, one mail with what to
//! do), checks again at every TICK without reporting again, and reports when the certificate
//! is verified again. `--restart-on-tls-error` makes a certificate failure a failed check
//! like any other (superlance's subject and action log, a restart, a mail at every TICK).
//!
//! The episode is the one thing a check remembers for the next: [`Memory`].

use super::check::{Policy, Report};

/// What one check leaves to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// The server's certificate could not be verified at the last check that got that far,
    /// and that was reported.
    certificate_failing: bool,
}

impl Policy {
    /// The server's certificate could not be verified (`error`) and restarts on it were not
    /// asked for: the report, on the first check of an episode only.
    pub(super) fn untrusted(&self, memory: &mut Memory, said: &str, error: &str) -> Option<Report> {
        let url = &self.url;
        if std::mem::replace(&mut memory.certificate_failing, true) {
            log::debug!(
                "{url}: the server's certificate still cannot be verified (reported when it \
                 began); nothing restarted"
            );
            return None;
        }
        log::error!(
            "{error}; so the program's health is unknown and nothing is restarted \
             (--restart-on-tls-error would restart); reported once, checked again at every TICK"
        );
        Some(Report {
            subject: self.subject(&format!("{url}: certificate not verified")),
            lines: vec![
                said.to_owned(),
                "The server's certificate could not be verified, so httpok cannot tell whether \
                 the program is healthy: nothing was restarted (with --restart-on-tls-error, \
                 httpok restarts on this as on any failed check)."
                    .to_owned(),
                "To trust a self-signed or private-CA certificate, give httpok --ca-file with \
                 the certificate (or its CA) in PEM, or set SSL_CERT_FILE (or SSL_CERT_DIR) in \
                 the environment= of its [eventlistener:x] section (either replaces the \
                 system's CA store). A certificate for another name, or an expired one, must \
                 be fixed on the server."
                    .to_owned(),
                "This is reported once: httpok checks again at every TICK, and reports when \
                 the certificate is verified again."
                    .to_owned(),
            ],
            extra: Vec::new(),
        })
    }

    /// A response came, so the server's certificate (if any) was verified: ends an episode.
    /// Whether one ended.
    pub(super) fn verified(&self, memory: &mut Memory) -> bool {
        let ended = std::mem::take(&mut memory.certificate_failing);
        if ended {
            log::info!(
                "{}: the server's certificate is verified again; failed checks are acted on \
                 again",
                self.url
            );
        }
        ended
    }

    /// The report that an episode ended with a healthy answer (`said`).
    pub(super) fn verified_again(&self, said: &str) -> Report {
        Report {
            subject: self.subject(&format!("{}: certificate verified again", self.url)),
            lines: vec![
                said.to_owned(),
                "The server's certificate is verified again: httpok checks the URL at every \
                 TICK, and acts on a failed check as configured."
                    .to_owned(),
            ],
            extra: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ProcessState::Running;
    use crate::http::HttpError;
    use crate::listeners::httpok::fakes::{
        answer, policy, FakeCores, FakeSupervisor, FakeWeb, URL,
    };

    fn untrusted() -> Result<crate::http::Response, HttpError> {
        Err(HttpError::Certificate {
            url: URL.into(),
            reason: "it is not signed by a CA this machine trusts".into(),
        })
    }

    #[test]
    fn a_certificate_failure_restarts_nothing_and_is_reported_once() {
        let p = policy(&["web"], false);
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let mut memory = Memory::default();
        let mut web = FakeWeb::new(vec![untrusted(), untrusted(), untrusted()]);
        let mut tick = || {
            p.tick(
                &mut memory,
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
        };

        let r = tick().expect("the first failure is reported");
        assert_eq!(
            r.subject,
            "httpok: http://127.0.0.1:8080/health?full=1: certificate not verified"
        );
        assert_eq!(
            r.lines[0],
            "error contacting http://127.0.0.1:8080/health?full=1:\n\n \
             http://127.0.0.1:8080/health?full=1: TLS: the server's certificate could not be \
             verified: it is not signed by a CA this machine trusts"
        );
        assert!(
            r.lines[1].contains("nothing was restarted"),
            "{:?}",
            r.lines
        );
        assert!(
            r.lines[2].contains("--ca-file") && r.lines[2].contains("SSL_CERT_FILE"),
            "{:?}",
            r.lines
        );
        assert_eq!(tick(), None, "reported once per episode");
        assert_eq!(tick(), None);
        assert!(
            sv.calls.is_empty(),
            "supervisord not even asked: {:?}",
            sv.calls
        );
        assert!(memory.certificate_failing);
    }

    #[test]
    fn verified_again_is_reported_and_a_new_failure_is_a_new_episode() {
        let mut p = policy(&["web"], false);
        p.name = Some("shop".into());
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let mut memory = Memory::default();
        let mut web = FakeWeb::new(vec![
            untrusted(),
            answer(200, "OK", ""),
            answer(200, "OK", ""),
            untrusted(),
            untrusted(),
        ]);
        let mut subjects = Vec::new();
        for _ in 0..5 {
            subjects.push(
                p.tick(
                    &mut memory,
                    &mut sv,
                    &mut web,
                    &mut FakeCores::default(),
                    &mut None,
                )
                .map(|r| r.subject),
            );
        }
        let url = "http://127.0.0.1:8080/health?full=1";
        assert_eq!(
            subjects,
            [
                Some(format!("httpok [shop]: {url}: certificate not verified")),
                Some(format!("httpok [shop]: {url}: certificate verified again")),
                None,
                Some(format!("httpok [shop]: {url}: certificate not verified")),
                None,
            ]
        );
        assert!(sv.calls.is_empty(), "{:?}", sv.calls);
    }

    #[test]
    fn a_bad_status_after_an_episode_is_superlance_s_report() {
        // The certificate is verified again, but the status is bad: the ordinary failure.
        let p = policy(&["web"], false);
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let mut memory = Memory::default();
        let mut web = FakeWeb::new(vec![untrusted(), answer(500, "Oops", "")]);
        p.tick(
            &mut memory,
            &mut sv,
            &mut web,
            &mut FakeCores::default(),
            &mut None,
        );
        let r = p
            .tick(
                &mut memory,
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            r.subject,
            "httpok: http://127.0.0.1:8080/health?full=1: bad status returned"
        );
        assert_eq!(r.lines.last().unwrap(), "web restarted");
        assert_eq!(memory, Memory::default());
    }

    #[test]
    fn errors_without_an_answer_leave_the_episode_as_it_is() {
        // A timeout says nothing about the certificate: no "verified again".
        let p = policy(&[], false);
        let mut sv = FakeSupervisor::default();
        let mut memory = Memory::default();
        let timeout = Err(HttpError::Timeout {
            url: URL.into(),
            timeout: std::time::Duration::from_secs(10),
        });
        let mut web = FakeWeb::new(vec![untrusted(), timeout, untrusted()]);
        let mut tick = || {
            p.tick(
                &mut memory,
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .map(|r| r.subject)
        };
        assert!(tick().unwrap().ends_with("certificate not verified"));
        assert!(tick().unwrap().ends_with("bad status returned"));
        assert_eq!(tick(), None, "still the same episode");
    }

    #[test]
    fn restart_on_tls_error_makes_it_an_ordinary_failure() {
        let mut p = policy(&["web"], false);
        p.restart_on_tls_error = true;
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let mut memory = Memory::default();
        let mut web = FakeWeb::new(vec![untrusted(), untrusted()]);
        for _ in 0..2 {
            let r = p
                .tick(
                    &mut memory,
                    &mut sv,
                    &mut web,
                    &mut FakeCores::default(),
                    &mut None,
                )
                .expect("every failure is reported, as superlance did");
            assert_eq!(
                r.subject,
                "httpok: http://127.0.0.1:8080/health?full=1: bad status returned"
            );
            assert!(r.lines[0].contains("certificate could not be verified"));
            assert_eq!(r.lines.last().unwrap(), "web restarted");
        }
        assert_eq!(
            sv.calls,
            [
                "list",
                "stop web",
                "start web",
                "list",
                "stop web",
                "start web"
            ]
        );
    }
}
