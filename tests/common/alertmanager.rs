//! A real Prometheus Alertmanager for the notification tests: Debian's
//! `prometheus-alertmanager` package (tests/setup.sh installs it where the machine allows),
//! run on 127.0.0.1 with a temp dir for its data, clustering off, and a route to a receiver
//! that sends nothing. [`Alertmanager::start`] returns `None`, having printed why, where the
//! package is not installed: the tests that need it skip with that message.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{free_port, poll, tempdir};

/// The Debian package's binary name, then upstream's.
const BINARIES: [&str; 2] = ["prometheus-alertmanager", "alertmanager"];

pub struct Alertmanager {
    _dir: TempDir,
    port: u16,
    child: Child,
}

fn find() -> Option<String> {
    BINARIES.iter().find_map(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| (*b).to_owned())
    })
}

impl Alertmanager {
    /// Start one, or `None` where it is not installed ([`super::missing_package`]: a skip
    /// that names the package, or a failure where the package is required).
    pub fn start() -> Option<Alertmanager> {
        let Some(binary) = find() else {
            super::missing_package("Alertmanager", "prometheus-alertmanager");
            return None;
        };
        let dir = tempdir();
        let config = dir.path().join("alertmanager.yml");
        fs::write(
            &config,
            "route:\n  receiver: nobody\n  group_wait: 0s\nreceivers:\n  - name: nobody\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let port = free_port();
        let log = fs::File::create(dir.path().join("alertmanager.log"))
            .unwrap_or_else(|e| panic!("cannot create the log: {e}"));
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let am = Alertmanager {
            _dir: dir,
            port,
            child,
        };
        let ready = poll(Duration::from_secs(30), || {
            am.get("/-/ready").filter(|(status, _)| *status == 200)
        });
        assert!(
            ready.is_some(),
            "{binary} not ready within 30 s:\n{}",
            am.log()
        );
        Some(am)
    }

    /// `http://127.0.0.1:<port>`, what `--alertmanager` takes.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The alerts it lists (`GET /api/v2/alerts`: those that have not ended; a resolved one,
    /// its `endsAt` past, is left out), as the JSON text the API returns.
    pub fn alerts_json(&self) -> String {
        match self.get("/api/v2/alerts") {
            Some((200, body)) => body,
            other => panic!("GET /api/v2/alerts: {other:?}\n{}", self.log()),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self._dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// A GET with a plain TCP client (the tests must not depend on the client they test):
    /// the status and the body.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).ok()?;
        let text = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Some((status, body))
    }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- alertmanager (port {}) ----\n{}",
                self.port,
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness: it starts, answers, and holds an alert posted to it (with a plain TCP
    /// client; the channel is tested in tests/notify.rs).
    #[test]
    fn alertmanager_takes_an_alert() {
        use std::io::{Read, Write};
        let Some(am) = Alertmanager::start() else {
            return;
        };
        let body = r#"[{"labels":{"alertname":"HarnessCheck","instance":"host1"},"annotations":{"summary":"x"}}]"#;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", am.port)).unwrap();
        write!(
            s,
            "POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        let alerts = am.alerts_json();
        assert!(
            alerts.contains("\"alertname\":\"HarnessCheck\""),
            "{alerts}"
        );
    }
}
