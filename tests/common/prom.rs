//! Reading Prometheus expositions in tests: the sum of a metric's samples, and `promtool check
//! metrics` (Debian's prometheus package; without it, see `common::missing_package`).

use std::io::Write;
use std::process::{Command, Stdio};

/// The sum of the samples of `name` whose labels include every `k="v"` in `labels`.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<u64>().ok())?
        })
        .sum()
}

/// `promtool`, if installed (Debian's `prometheus` package); else a SKIPPED line.
pub fn promtool() -> Option<&'static str> {
    let ok = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        super::missing_package("promtool", "prometheus");
    }
    ok.then_some("promtool")
}

/// `promtool check metrics` on `text`, asserting that it passes without a word.
pub fn check_metrics(text: &str) {
    let Some(promtool) = promtool() else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}\non:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
