//! This machine's name: the short one (what `hostname` prints) and the fully qualified one
//! (what `hostname -f` prints), for mail senders and Message-IDs.
//!
//! Where a mail must carry a sender we make up (SMTP without `--from`), the address is
//! `supervisor@<fully qualified name>`: a relay qualifies a bare host name with its own
//! domain or refuses it (issue 16). The name comes from the resolver's canonical name for the
//! host name (`/etc/hosts`, then DNS, as `hostname -f` does it). A resolver that does not
//! answer must not hold up a listener's start, so the look-up runs on a thread of its own and
//! is given [`LOOKUP_WAIT`]; the short name is used when it has no better answer in time.

use std::ffi::{CStr, CString};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// How long the canonical-name look-up may take before the short name is used.
const LOOKUP_WAIT: Duration = Duration::from_secs(1);

/// The kernel's host name (`/proc/sys/kernel/hostname`), `localhost` when it cannot be read.
pub fn short() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The fully qualified name, looked up once per process: the host name when it already has a
/// dot; else the resolver's canonical name for it when that has a dot; else the host name with
/// the kernel's NIS domain name (`/proc/sys/kernel/domainname`) when one is set; else the short
/// name (nothing better is known, as with `hostname -f`).
pub fn fqdn() -> &'static str {
    static FQDN: OnceLock<String> = OnceLock::new();
    FQDN.get_or_init(|| {
        let host = short();
        if host.contains('.') {
            return host;
        }
        if let Some(canonical) = canonical_name(&host).filter(|c| c.contains('.')) {
            return canonical;
        }
        let domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap_or_default();
        match domain.trim() {
            "" | "(none)" => host,
            domain => format!("{host}.{domain}"),
        }
    })
}

/// `getaddrinfo(host, AI_CANONNAME)`'s canonical name, waiting at most [`LOOKUP_WAIT`].
fn canonical_name(host: &str) -> Option<String> {
    let host = CString::new(host).ok()?;
    let (tx, rx) = mpsc::channel();
    // A thread that outlives the wait finishes on its own; its answer is dropped.
    std::thread::Builder::new()
        .name("hostname".into())
        .spawn(move || {
            let _ = tx.send(lookup(&host));
        })
        .ok()?;
    rx.recv_timeout(LOOKUP_WAIT).ok().flatten()
}

fn lookup(host: &CStr) -> Option<String> {
    // SAFETY: `hints` is a zeroed addrinfo with flags set, as getaddrinfo(3) allows; `list` is
    // freed with freeaddrinfo exactly once, and `ai_canonname` is read before that.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut list: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut list) != 0 {
            return None;
        }
        let name = if list.is_null() || (*list).ai_canonname.is_null() {
            None
        } else {
            Some(
                CStr::from_ptr((*list).ai_canonname)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        if !list.is_null() {
            libc::freeaddrinfo(list);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_words() {
        for name in [short(), fqdn().to_owned()] {
            assert!(
                !name.is_empty() && !name.contains(char::is_whitespace),
                "{name:?}"
            );
        }
    }

    #[test]
    fn localhost_resolves() {
        let c = CString::new("localhost").unwrap();
        assert!(lookup(&c).is_some());
        assert_eq!(canonical_name("no-such-host.invalid"), None);
    }
}
