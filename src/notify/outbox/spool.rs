//! The spool directory (`--spool DIR`): each mail is on disk before supervisord hears OK, and
//! stays there until it is delivered, so that a crash, SIGKILL or reboot loses nothing.
//!
//! Layout:
//! - `DIR/<stamp>.mail`: a mail waiting for delivery. `<stamp>` is 20 digits, the time the mail
//!   was accepted in microseconds since 1970, made strictly increasing within a run and across
//!   runs (a new run starts above the highest stamp it finds), so the names sort in the order
//!   the mails were accepted: that is the delivery order at the next start.
//! - `DIR/.tmp-<stamp>.mail`: being written. A mail is written to a temporary name, fsynced,
//!   renamed into place and the directory fsynced, so a `.mail` file is always complete; a
//!   temporary file left by a crash is deleted at start (its mail was never acknowledged).
//! - `DIR/failed/<stamp>.mail`: refused for good by the mail server, kept for an operator to
//!   read; never retried.
//! - `DIR/held/<window>-<hex key>.held`: flood control's journal, one line per mail held back
//!   in a window. At start, each journal left by an earlier run becomes one digest. Lines are
//!   appended without fsync: they survive a crash or kill -9 of the listener (the kernel has
//!   them), not a power cut in the seconds before writeback. An fsync per suppressed crash
//!   would cap a crash loop at the disk's speed, which is the flood this throttles. Only what
//!   the digest lists is noted line by line (at most 20 per window, `digest::PER_PROGRAM`);
//!   the rest is a count, `DIR/held/<window>-<hex key>.count`, one fixed-length record
//!   (count, first and last time) overwritten in place, so a storm does not grow the journal.
//! - `DIR/batch.lines`: a batch mailer's lines not yet mailed (crashmailbatch and friends
//!   collect lines for `--interval` minutes), one per line, appended without fsync as the held
//!   journals are. Emptied once the batch's mail is in the spool; at start, what is left there
//!   goes into the first batch.
//! - `DIR/batch.counts`: the same batch's lines beyond `--max-lines`, counted per program, one
//!   record each overwritten in place (`counts.rs`); emptied with `batch.lines`.
//! - `DIR/.lock`: flock(2)ed while a listener uses the directory. Two listeners on one spool
//!   would deliver each other's mails twice, so the second one does not start.
//!
//! A `.mail` file is a short text header, a blank line and the message exactly as it is sent
//! (the name stays `.mail` for every channel: the format is the same):
//!
//! ```text
//! superlance-spool 1
//! from supervisor@host1
//! to ops@example.com
//! summary web_01 crashed at 2026-11-24 18:30:05,123
//!
//! From: supervisor@host1
//! ...
//! ```
//!
//! `from` and `to` are the mail envelope (`from` empty and no `to` for other channels); a
//! channel whose requests carry per-notification headers (a title, a priority) adds one
//! `header Name: value` line each. A file written before there were channels (mail only) is
//! read as it always was.
//!
//! This module spools one channel. The notifier gives each channel a directory of its own
//! (`DIR` for mail, `DIR/<channel>/` for the others).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::counts::{Counted, CountsFile};
use super::digest::Span;
use super::flood::HeldMail;
use crate::notify::channel::Rendered;

const MAGIC: &str = "superlance-spool 1";
const SUFFIX: &str = ".mail";
const TMP_PREFIX: &str = ".tmp-";
const FAILED: &str = "failed";
const HELD: &str = "held";
const HELD_SUFFIX: &str = ".held";
const HELD_COUNT_SUFFIX: &str = ".count";
const LOCK: &str = ".lock";
const BATCH: &str = "batch.lines";
const COUNTS: &str = "batch.counts";

/// Strictly increasing stamps: microseconds since 1970, or one more than the last.
#[derive(Debug, Default)]
pub(super) struct Stamps(AtomicU64);

impl Stamps {
    pub fn next(&self, wall: SystemTime) -> u64 {
        let now = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let prev = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last.saturating_add(1)))
            })
            .unwrap_or_else(|last| last);
        now.max(prev.saturating_add(1))
    }

    /// Never hand out `stamp` or anything below it.
    pub fn raise(&self, stamp: u64) {
        self.0.fetch_max(stamp, Ordering::SeqCst);
    }
}

/// Why a spooled mail could not be read back.
#[derive(Debug)]
pub(super) enum ReadError {
    Io(io::Error),
    /// Not in our format (written by hand, truncated by a full disk...).
    Corrupt(String),
}

pub(super) struct Spool {
    dir: PathBuf,
    /// Its files carry a mail envelope: one without a recipient is not one of ours.
    envelope: bool,
    /// Held open for the flock; closing it (at drop, or when the process dies) unlocks.
    _lock: Option<File>,
    /// `batch.counts`, kept open while a batch has counts.
    counts: Mutex<CountsFile>,
}

impl Spool {
    /// Open `dir`, creating it, and lock it. A directory that cannot be created is not fatal
    /// (each mail then stays in memory and each failed write is logged; the options check the
    /// directory at start anyway). One that another running listener holds is refused with
    /// the message: the caller goes on without a spool rather than share it, since two
    /// listeners on one spool would each send the other's mails at start.
    pub fn open(dir: &Path) -> Result<Spool, String> {
        let name = dir.display();
        let created = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join(HELD))
            .and_then(|()| {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .recursive(true)
                    .create(dir.join(FAILED))
            });
        let lock = match created {
            Err(e) => {
                log::error!(
                    "--spool {name}: cannot create the directory: {e}; mails are kept in memory \
                     only (and lost if the listener is killed) until it can be written"
                );
                None
            }
            Ok(()) => match take_lock(&dir.join(LOCK)) {
                Ok(file) => Some(file),
                Err(LockError::Held(holder)) => {
                    return Err(format!(
                        "--spool {name} is in use by another running listener{holder}: \
                         give each listener a spool directory of its own"
                    ))
                }
                // A filesystem without flock (some network filesystems): go on, unguarded.
                Err(LockError::Io(e)) => {
                    log::warn!(
                        "--spool {name}: cannot lock {LOCK}: {e}; going on without the lock"
                    );
                    None
                }
            },
        };
        Ok(Spool {
            dir: dir.to_owned(),
            envelope: true,
            _lock: lock,
            counts: Mutex::new(CountsFile::open(dir.join(COUNTS)).0),
        })
    }

    /// For a channel without a mail envelope (no `to` lines in its files).
    pub fn without_envelope(mut self) -> Spool {
        self.envelope = false;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, stamp: u64) -> PathBuf {
        self.dir.join(format!("{stamp:020}{SUFFIX}"))
    }

    /// Write `mail` as `<stamp>.mail`, durably: temporary file, fsync, rename, fsync the
    /// directory.
    pub fn write(&self, stamp: u64, mail: &Rendered) -> io::Result<()> {
        let tmp = self.dir.join(format!("{TMP_PREFIX}{stamp:020}{SUFFIX}"));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&encode(mail))?;
            file.sync_all()?;
            fs::rename(&tmp, self.path(stamp))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // The rename is durable once the directory is synced. A filesystem that cannot sync a
        // directory has the file anyway; nothing more to do.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub fn read(&self, stamp: u64) -> Result<Rendered, ReadError> {
        let bytes = fs::read(self.path(stamp)).map_err(ReadError::Io)?;
        decode(&bytes, self.envelope).map_err(ReadError::Corrupt)
    }

    /// Delivered: forget it.
    pub fn remove(&self, stamp: u64) -> io::Result<()> {
        fs::remove_file(self.path(stamp))
    }

    /// Refused for good: move it to `failed/` for an operator to read. Returns the new path.
    pub fn fail(&self, stamp: u64) -> io::Result<PathBuf> {
        let failed = self.dir.join(FAILED);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&failed)?;
        let to = failed.join(format!("{stamp:020}{SUFFIX}"));
        fs::rename(self.path(stamp), &to)?;
        Ok(to)
    }

    /// The mails left by an earlier run, oldest first. Half-written temporary files are
    /// deleted: their mails were never acknowledged, so supervisord re-sends their events.
    pub fn leftovers(&self) -> Vec<u64> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut stamps = Vec::new();
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) {
                log::info!(
                    "spool: deleting {name}, half-written when the listener stopped (its event was never acknowledged)"
                );
                let _ = fs::remove_file(entry.path());
            } else if let Some(stamp) = parse_stamp(&name, SUFFIX) {
                stamps.push(stamp);
            }
        }
        stamps.sort_unstable();
        stamps
    }

    fn held_path(&self, window: u64, key: &str) -> PathBuf {
        self.dir
            .join(HELD)
            .join(format!("{window:020}-{}{HELD_SUFFIX}", hex(key)))
    }

    /// Note `mail`, held back by flood control in `window` of `key` (one write, no fsync).
    pub fn append_held(&self, window: u64, key: &str, mail: &HeldMail) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.held_path(window, key))?;
        file.write_all(held_line(mail).as_bytes())
    }

    fn held_count_path(&self, window: u64, key: &str) -> PathBuf {
        self.dir
            .join(HELD)
            .join(format!("{window:020}-{}{HELD_COUNT_SUFFIX}", hex(key)))
    }

    /// Note the count of what `window` of `key` held back beyond what its digest lists: one
    /// record of fixed length at the start of the file, overwritten (one write, no fsync).
    pub fn note_held_count(&self, window: u64, key: &str, span: Span) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.held_count_path(window, key))?;
        file.write_all_at(held_count_record(span).as_bytes(), 0)
    }

    /// The window's digest is safe (spooled or handed to the queue): forget its journal.
    pub fn remove_held(&self, window: u64, key: &str) {
        for path in [
            self.held_path(window, key),
            self.held_count_path(window, key),
        ] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => log::warn!(
                    "spool: cannot delete {}: {e}; its digest may be sent again at the next start",
                    path.display()
                ),
                _ => {}
            }
        }
    }

    /// Note one line of the batch being collected (one write, no fsync).
    pub fn append_batch(&self, line: &str) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.dir.join(BATCH))?;
        let mut text = line.replace('\n', " ");
        text.push('\n');
        file.write_all(text.as_bytes())
    }

    /// Note a program's count of lines beyond `--max-lines` (one write, no fsync).
    pub fn note_count(&self, c: &Counted) -> io::Result<()> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(c)
    }

    /// The counts of a batch an earlier run collected and did not mail.
    pub fn counts_left(&self) -> Vec<Counted> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        CountsFile::open(counts.path().to_owned()).1
    }

    /// The batch is in the spool as a mail (or given up): forget its lines and counts.
    pub fn clear_batch(&self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.clear();
        for name in [BATCH, COUNTS] {
            match fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => log::warn!(
                    "spool: cannot delete {}: {e}; its lines may be mailed again at the next start",
                    self.dir.join(name).display()
                ),
                _ => {}
            }
        }
    }

    /// The noted lines become `lines`: a batch was handed over while later lines (of batches
    /// still waiting for their crash context, `--tail`) were already noted. Written aside,
    /// then renamed over the notes, so that a crash leaves either the old notes or the new.
    pub fn replace_batch(&self, lines: &[String]) -> io::Result<()> {
        if lines.is_empty() {
            self.clear_batch();
            return Ok(());
        }
        let text: String = lines
            .iter()
            .map(|l| format!("{}\n", l.replace('\n', " ")))
            .collect();
        let temp = self.dir.join(format!("{TMP_PREFIX}{BATCH}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        fs::rename(&temp, self.dir.join(BATCH))
    }

    /// The lines of a batch an earlier run collected and did not mail, in order.
    pub fn batch_left(&self) -> Vec<String> {
        match fs::read(self.dir.join(BATCH)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Flood-control journals left by an earlier run: (window, key, held mails listed, held
    /// mails counted), oldest first.
    pub fn held_left(&self) -> Vec<HeldLeft> {
        let Ok(dir) = fs::read_dir(self.dir.join(HELD)) else {
            return Vec::new();
        };
        let mut found: std::collections::BTreeMap<(u64, String), (Vec<HeldMail>, Option<Span>)> =
            Default::default();
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let (stem, counted) = match name.strip_suffix(HELD_SUFFIX) {
                Some(stem) => (stem, false),
                None => match name.strip_suffix(HELD_COUNT_SUFFIX) {
                    Some(stem) => (stem, true),
                    None => continue,
                },
            };
            let Some((window, key)) = stem
                .split_once('-')
                .and_then(|(w, k)| Some((w.parse::<u64>().ok()?, unhex(k)?)))
            else {
                continue;
            };
            let text = match fs::read_to_string(entry.path()) {
                Ok(text) => text,
                Err(e) => {
                    log::warn!("spool: cannot read {}: {e}", entry.path().display());
                    continue;
                }
            };
            let slot = found.entry((window, key)).or_default();
            if counted {
                slot.1 = parse_held_count(&text);
            } else {
                // A last line without its newline was being written when we died: skip it.
                let complete = text.rfind('\n').map_or("", |i| &text[..i]);
                slot.0 = complete.lines().filter_map(parse_held_line).collect();
            }
        }
        found
            .into_iter()
            .map(|((window, key), (mails, counted))| (window, key, mails, counted))
            .collect()
    }
}

/// A flood-control journal left by an earlier run: window, key, the mails its digest lists,
/// the count of the rest.
pub(super) type HeldLeft = (u64, String, Vec<HeldMail>, Option<Span>);

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `<count> <first ms> <last ms>`, 20 digits each: always the same length.
fn held_count_record(span: Span) -> String {
    format!(
        "{:020} {:020} {:020}\n",
        span.count,
        millis(span.first),
        millis(span.last)
    )
}

fn parse_held_count(text: &str) -> Option<Span> {
    let mut fields = text.strip_suffix('\n')?.split(' ');
    let mut next = || fields.next()?.parse::<u64>().ok();
    let (count, first, last) = (next()?, next()?, next()?);
    Some(Span {
        count,
        first: UNIX_EPOCH + Duration::from_millis(first),
        last: UNIX_EPOCH + Duration::from_millis(last),
    })
}

enum LockError {
    /// Another process holds it; the text names its pid when known.
    Held(String),
    Io(io::Error),
}

fn take_lock(path: &Path) -> Result<File, LockError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(LockError::Io)?;
    // SAFETY: flock on a file descriptor we own, valid for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let holder = fs::read_to_string(path)
                .ok()
                .map(|pid| pid.trim().to_owned())
                .filter(|pid| !pid.is_empty())
                .map_or_else(String::new, |pid| format!(" (pid {pid})"));
            return Err(LockError::Held(holder));
        }
        return Err(LockError::Io(e));
    }
    // Only for the message another listener would print.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

fn parse_stamp(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// A header value on one line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn encode(mail: &Rendered) -> Vec<u8> {
    let mut head = format!("{MAGIC}\nfrom {}\n", one_line(&mail.from));
    for to in &mail.to {
        head.push_str(&format!("to {}\n", one_line(to)));
    }
    for (name, value) in &mail.headers {
        head.push_str(&format!("header {}: {}\n", one_line(name), one_line(value)));
    }
    head.push_str(&format!("summary {}\n\n", one_line(&mail.summary)));
    let mut out = head.into_bytes();
    out.extend_from_slice(&mail.message);
    out
}

/// A spool file; `envelope`: it must name a recipient (mail).
fn decode(bytes: &[u8], envelope: bool) -> Result<Rendered, String> {
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no blank line after the header")?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| "the header is not UTF-8")?;
    let mut lines = head.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("it does not start with {MAGIC:?}"));
    }
    let (mut from, mut to, mut headers, mut summary) =
        (None, Vec::new(), Vec::new(), String::new());
    for line in lines {
        match line.split_once(' ') {
            Some(("from", v)) => from = Some(v.to_owned()),
            Some(("to", v)) => to.push(v.to_owned()),
            Some(("header", v)) => match v.split_once(": ") {
                Some((name, value)) => headers.push((name.to_owned(), value.to_owned())),
                None => return Err(format!("malformed header line {line:?}")),
            },
            Some(("summary", v)) => summary = v.to_owned(),
            _ => return Err(format!("unknown header line {line:?}")),
        }
    }
    // Every file has the line, empty for a channel without an envelope sender.
    let from = from.ok_or("no sender")?;
    if envelope && to.is_empty() {
        return Err("no recipient".to_owned());
    }
    Ok(Rendered {
        from,
        to,
        headers,
        message: bytes[split + 2..].to_vec(),
        summary,
    })
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if text.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// One journal line: tab-separated, escaped fields: millis, from, subject, first line, to...
/// An absent value is empty; a present one starts with `=`. The sender and the recipients
/// belong to the channel now (a digest goes where the channel sends): `from` is written
/// empty and no `to`, and both are ignored when read (journals of earlier runs have them).
fn held_line(mail: &HeldMail) -> String {
    let millis = mail
        .when
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map_or(String::new(), |v| format!("={}", escape(v)))
    };
    format!(
        "{millis}\t\t{}\t{}\n",
        opt(&mail.subject),
        escape(&mail.first_line)
    )
}

fn parse_held_line(line: &str) -> Option<HeldMail> {
    let mut fields = line.split('\t');
    let millis: u64 = fields.next()?.parse().ok()?;
    let opt = |v: &str| v.strip_prefix('=').map(unescape);
    let _from = fields.next()?;
    let subject = opt(fields.next()?);
    let first_line = unescape(fields.next()?);
    Some(HeldMail {
        when: UNIX_EPOCH + Duration::from_millis(millis),
        subject,
        first_line,
    })
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            from: "supervisor@host1".into(),
            to: vec!["ops@example.com".into(), "pager@example.com".into()],
            headers: Vec::new(),
            message: b"From: supervisor@host1\r\n\r\nbody\r\n\r\nmore\r\n".to_vec(),
            summary: "web crashed\nat noon".into(),
        }
    }

    #[test]
    fn mail_files_round_trip() {
        let r = rendered();
        let back = decode(&encode(&r), true).unwrap();
        assert_eq!(back.from, r.from);
        assert_eq!(back.to, r.to);
        assert_eq!(back.message, r.message);
        assert_eq!(back.summary, "web crashed at noon");
        assert!(decode(b"hello\n\nworld", true).is_err());
        assert!(decode(b"superlance-spool 1\nfrom a@b\n\nx", true).is_err());
        // Another channel's file: no envelope, its own headers.
        let hook = Rendered {
            from: String::new(),
            to: Vec::new(),
            headers: vec![("Title".into(), "web crashed".into())],
            message: b"{\"x\":1}\n\n".to_vec(),
            summary: "web crashed".into(),
        };
        assert_eq!(decode(&encode(&hook), false).unwrap(), hook);
        assert!(decode(&encode(&hook), true).is_err());
    }

    #[test]
    fn held_lines_round_trip() {
        let h = HeldMail {
            when: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            subject: Some("back\\slash\tand\nnewline".into()),
            first_line: String::new(),
        };
        let line = held_line(&h);
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            parse_held_line(line.trim_end_matches('\n')),
            Some(h.clone())
        );
        // A line of an earlier version, with a sender and recipients: still read.
        let old = "1700000000123\t=a@b.c\t=back\\\\slash\\tand\\nnewline\t\tops@example.com";
        assert_eq!(parse_held_line(old), Some(h));
        assert_eq!(unhex(&hex("web:web_01/x")).as_deref(), Some("web:web_01/x"));
    }

    #[test]
    fn stamps_increase() {
        let s = Stamps::default();
        let t = UNIX_EPOCH + Duration::from_secs(10);
        let a = s.next(t);
        let b = s.next(t);
        assert_eq!(a, 10_000_000);
        assert_eq!(b, a + 1);
        s.raise(99_000_000);
        assert_eq!(s.next(t), 99_000_001);
    }

    #[test]
    fn files_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(Spool::open(dir.path()).is_err(), "a second user is refused");
        spool.write(7, &rendered()).unwrap();
        fs::write(dir.path().join(".tmp-00000000000000000009.mail"), "half").unwrap();
        fs::write(dir.path().join("README"), "not a mail").unwrap();
        assert_eq!(spool.leftovers(), [7]);
        assert!(!dir.path().join(".tmp-00000000000000000009.mail").exists());
        assert_eq!(spool.read(7).unwrap().to, rendered().to);
        let failed = spool.fail(7).unwrap();
        assert!(failed.starts_with(dir.path().join("failed")));
        assert!(spool.leftovers().is_empty());
        drop(spool);
        assert!(Spool::open(dir.path()).is_ok(), "unlocked at drop");
    }
}
