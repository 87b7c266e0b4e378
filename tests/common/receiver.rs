//! A real HTTP server for the notification channels' tests: `tests/fixtures/notify/receiver.py`
//! (Python's standard library, from the venv's python) on 127.0.0.1 in a temp dir of its own.
//! It stands for a webhook, Slack, Discord, Teams, Telegram, ntfy or Alertmanager endpoint:
//! every request is recorded ([`Receiver::requests`], [`Receiver::wait_for`]) and answered as
//! the test says ([`Receiver::answer`] for every request from now on, [`Receiver::then`] for
//! the next ones in order): a status, a status with `Retry-After`, or `hang`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fixture_server::FixtureProcess;
use super::poll;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify/receiver.py")
}

/// A running receiver; killed on drop.
pub struct Receiver {
    process: FixtureProcess,
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered: `200`, `429 2`, `hang`.
    pub answered: String,
    /// When it came: nanoseconds since 1970 (the receiver's clock; its directory's name).
    pub at_ns: u128,
}

impl Request {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let mut r = Receiver {
            process: FixtureProcess::new("receiver"),
        };
        r.launch();
        r
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.process.port())
    }

    /// How to answer every request from now on (after those given to [`Receiver::then`]):
    /// `200`, `500`, `429 2` (with `Retry-After: 2`), `hang`.
    pub fn answer(&self, line: &str) {
        self.write("mode", &format!("{line}\n"));
    }

    /// Answer the next requests with these lines, in order, before the [`Receiver::answer`].
    pub fn then(&self, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.write("queue", &text);
    }

    fn write(&self, name: &str, text: &str) {
        let tmp = self.process.dir().join(format!("{name}.tmp"));
        fs::write(&tmp, text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        fs::rename(&tmp, self.process.dir().join(name))
            .unwrap_or_else(|e| panic!("cannot rename {name}: {e}"));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        let Ok(dir) = fs::read_dir(self.process.dir().join("requests")) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        dirs.iter().map(|d| read(d)).collect()
    }

    /// Wait until at least `n` requests have come and return them all; panics with what came
    /// if they do not within `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        poll(timeout, || {
            let got = self.requests();
            (got.len() >= n).then_some(got)
        })
        .unwrap_or_else(|| {
            panic!(
                "{} of {n} requests came to the receiver within {timeout:?}: {:#?}\n---- log ----\n{}",
                self.requests().len(),
                self.requests(),
                self.log()
            )
        })
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Kill it: connections are refused until [`Receiver::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Start it again on the same port; requests received before are kept.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        self.process.start(&fixture(), |_| {});
    }
}

fn read(dir: &Path) -> Request {
    let file = |name: &str| fs::read(dir.join(name)).unwrap_or_default();
    let text = |name: &str| String::from_utf8_lossy(&file(name)).trim_end().to_owned();
    Request {
        method: text("method"),
        target: text("target"),
        headers: text("headers")
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        body: file("body"),
        answered: text("answered"),
        at_ns: dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_default(),
    }
}

/// The receiver itself: it records, it answers as told (checked with a plain TCP client, so
/// that these tests do not depend on the HTTP client they will test).
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn post(port: u16, body: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /hook?x=1 HTTP/1.1\r\nHost: t\r\nX-Token: abc\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    }

    #[test]
    fn records_and_answers_as_told() {
        let r = Receiver::start();
        r.then(&["500", "429 7"]);
        assert!(post(r.port(), "{\"a\":1}").starts_with("HTTP/1.1 500"));
        let reply = post(r.port(), "x");
        assert!(
            reply.starts_with("HTTP/1.1 429") && reply.contains("Retry-After: 7"),
            "{reply}"
        );
        assert!(post(r.port(), "y").starts_with("HTTP/1.1 200"));
        r.answer("503");
        assert!(post(r.port(), "z").starts_with("HTTP/1.1 503"));
        let got = r.wait_for(4, Duration::from_secs(5));
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].target, "/hook?x=1");
        assert_eq!(got[0].header("x-token"), Some("abc"));
        assert_eq!(got[0].text(), "{\"a\":1}");
        let answered: Vec<&str> = got.iter().map(|g| g.answered.as_str()).collect();
        assert_eq!(answered, ["500", "429 7", "200", "503"]);
    }
}
