//! The Prometheus exposition, written by hand: the text format 0.0.4 and OpenMetrics 1.0, and
//! node_exporter textfiles written atomically. Shared by the metrics listener
//! (listeners/metrics/) and the delivery figures of the notifying listeners
//! (`notify::figures`, `--metrics-textfile`), so that label values are escaped in one place.
//!
//! The two formats differ only in the counter family names (`_total` on the samples only in
//! OpenMetrics), `# EOF`, and the content type. Label values are escaped as both say:
//! backslash, double quote and newline; everything else, non-ASCII included, is written as
//! UTF-8. Why not the `prometheus-client` crate: docs/dependencies.md.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Which exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it names it (as Prometheus
    /// 2.5 and later do by default), else the classic text format.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// Append `value` to `out` as a label value: `\`, `"` and newline escaped.
pub fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The writer of one exposition: family headers, then samples, then [`Out::finish`].
pub struct Out<'a> {
    pub text: &'a mut String,
    pub format: Format,
}

impl Out<'_> {
    /// `# HELP` and `# TYPE` of a family. `name` is the sample name (counters end in
    /// `_total`); OpenMetrics names the family without it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let family = match (self.format, kind) {
            (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.text, "# HELP {family} {help}");
        let _ = writeln!(self.text, "# TYPE {family} {kind}");
    }

    /// One sample: `name{k="v",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(k);
                self.text.push_str("=\"");
                escape_label(self.text, v);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// The end of the exposition: `# EOF` in OpenMetrics.
    pub fn finish(self) {
        if self.format == Format::OpenMetrics {
            self.text.push_str("# EOF\n");
        }
    }
}

/// Write `text` to `path` for node_exporter's textfile collector, atomically: a temp file
/// beside it (`PATH.<pid>.tmp`: not `*.prom`, so the collector never reads it half written;
/// the same directory, so that the rename stays on one file system), synced, renamed over
/// `path`, and the directory synced, so that a crash leaves the old file or the new one.
pub fn write_textfile(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The rename is done; a directory that cannot be synced (some file systems refuse) only
    // weakens what a power cut leaves, so it is not an error.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_utf8_kept() {
        let mut v = String::new();
        escape_label(&mut v, "a\\b\"c\nd grüppe ü");
        assert_eq!(v, "a\\\\b\\\"c\\nd grüppe ü");
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn families_and_samples_in_both_formats() {
        for (format, family, end) in [
            (Format::Text, "# TYPE x_total counter\n", ""),
            (Format::OpenMetrics, "# TYPE x counter\n", "# EOF\n"),
        ] {
            let mut text = String::new();
            let mut o = Out {
                text: &mut text,
                format,
            };
            o.family("x_total", Kind::Counter, "Xs.");
            o.sample("x_total", &[("a", "1"), ("b", "q\"")], 3);
            o.family("y", Kind::Gauge, "Y.");
            o.sample("y", &[], 1.5);
            o.finish();
            assert!(text.contains(family), "{text}");
            assert!(
                text.contains("\nx_total{a=\"1\",b=\"q\\\"\"} 3\n"),
                "{text}"
            );
            assert!(text.ends_with(&format!("y 1.5\n{end}")), "{text}");
        }
    }

    #[test]
    fn textfile_is_replaced_whole_and_no_temp_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.prom");
        write_textfile(&path, "a 1\n").unwrap();
        write_textfile(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_textfile(&dir.path().join("no/such/dir/x.prom"), "a 1\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
