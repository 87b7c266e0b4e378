//! `DIR/batch.counts`: for the batch being collected, the programs whose lines went over
//! `--max-lines` and how many more they had (issue 15). `batch.lines` keeps the listed lines;
//! this keeps the rest as a count, so that a crash storm does not append a million lines to
//! the spool, and a listener killed with -9 still mails every crash after its restart.
//!
//! One record per program, a line of fixed length for that program:
//! `<count, 20 digits> <first, ms since 1970, 20 digits> <last, same> <program, escaped>`.
//! The first count of a program appends its record; every later one overwrites it in place
//! (one `pwrite`, no fsync, as `batch.lines` is appended), so the file never grows past one
//! record per program, and nothing the listener acknowledged is lost to a kill -9: the kernel
//! has the write as soon as it returns. Why not a file rewritten once a second: the counts of
//! the last second would be lost to a kill, and those crashes were acknowledged.
//!
//! A record never straddles a page (a blank line pads to the next one): Linux copies a write
//! into the page cache page by page and a fatal signal may stop it between two pages, which
//! could leave a count half old, half new. Within one page, a write is whole or not at all.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PAGE: u64 = 4096;

/// A program's lines counted beyond `--max-lines` in the batch being collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// `group:name`.
    pub program: String,
    pub count: u64,
    pub first: SystemTime,
    pub last: SystemTime,
}

/// The open counts file, and where each program's record is.
pub(super) struct CountsFile {
    path: PathBuf,
    file: Option<File>,
    /// Offset and length of each program's record.
    slots: HashMap<String, (u64, usize)>,
    end: u64,
}

impl CountsFile {
    /// The file at `path`, with the records an earlier run left there.
    pub fn open(path: PathBuf) -> (CountsFile, Vec<Counted>) {
        let mut counts = CountsFile {
            path,
            file: None,
            slots: HashMap::new(),
            end: 0,
        };
        let left = match fs::read(&counts.path) {
            Ok(bytes) => {
                counts.end = bytes.len() as u64;
                let mut found = Vec::new();
                let mut offset = 0u64;
                for line in bytes.split_inclusive(|b| *b == b'\n') {
                    // A record without its newline was being appended when we died: its
                    // count (1) is lost with it.
                    if line.ends_with(b"\n") {
                        if let Some(c) = parse(line) {
                            counts.slots.insert(c.program.clone(), (offset, line.len()));
                            found.push(c);
                        }
                    }
                    offset += line.len() as u64;
                }
                found
            }
            Err(_) => Vec::new(),
        };
        (counts, left)
    }

    /// Note `c`'s count (one write, no fsync).
    pub fn note(&mut self, c: &Counted) -> io::Result<()> {
        let record = record(c);
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&self.path)?,
            );
        }
        let Some(file) = &self.file else {
            return Ok(());
        };
        if let Some(&(offset, len)) = self.slots.get(&c.program) {
            if len == record.len() {
                return file.write_all_at(record.as_bytes(), offset);
            }
        }
        let len = record.len() as u64;
        let mut offset = self.end;
        let room = PAGE - offset % PAGE;
        if len <= PAGE && len > room {
            // A blank line up to the next page (room >= 1: a newline fits).
            let mut pad = vec![b' '; (room - 1) as usize];
            pad.push(b'\n');
            file.write_all_at(&pad, offset)?;
            offset += room;
        }
        file.write_all_at(record.as_bytes(), offset)?;
        self.end = offset + len;
        self.slots.insert(c.program.clone(), (offset, record.len()));
        Ok(())
    }

    /// The batch is in safe hands: forget every count (the caller deletes the file).
    pub fn clear(&mut self) {
        self.file = None;
        self.slots.clear();
        self.end = 0;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn record(c: &Counted) -> String {
    format!(
        "{:020} {:020} {:020} {}\n",
        c.count,
        millis(c.first),
        millis(c.last),
        escape(&c.program)
    )
}

fn parse(line: &[u8]) -> Option<Counted> {
    let line = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
    let mut fields = line.splitn(4, ' ');
    let count: u64 = fields.next()?.parse().ok()?;
    let first: u64 = fields.next()?.parse().ok()?;
    let last: u64 = fields.next()?.parse().ok()?;
    let program = unescape(fields.next()?);
    (count > 0 && !program.is_empty()).then(|| Counted {
        program,
        count,
        first: UNIX_EPOCH + Duration::from_millis(first),
        last: UNIX_EPOCH + Duration::from_millis(last),
    })
}

/// A program name on one line (supervisord's names have no newline; be safe anyway).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, false) => out.push(c),
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(program: &str, count: u64) -> Counted {
        Counted {
            program: program.into(),
            count,
            first: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            last: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + count),
        }
    }

    #[test]
    fn one_record_per_program_overwritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.counts");
        let (mut f, left) = CountsFile::open(path.clone());
        assert!(left.is_empty());
        for n in 1..=10_000 {
            f.note(&counted("web:a", n)).unwrap();
            f.note(&counted("web:b\\x\ny", n * 2)).unwrap();
        }
        let size = fs::metadata(&path).unwrap().len();
        assert!(size < 200, "the file does not grow with the counts: {size}");
        // What a restart (after kill -9: nothing flushed) finds.
        let (mut again, left) = CountsFile::open(path.clone());
        assert_eq!(
            left,
            [counted("web:a", 10_000), counted("web:b\\x\ny", 20_000)]
        );
        // ... and goes on counting in the same records.
        again.note(&counted("web:a", 10_001)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), size);
        let (_, left) = CountsFile::open(path);
        assert_eq!(left[0].count, 10_001);
    }

    #[test]
    fn records_never_straddle_a_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.counts");
        let (mut f, _) = CountsFile::open(path.clone());
        let programs: Vec<String> = (0..200).map(|i| format!("group_{i}:program_{i}")).collect();
        for p in &programs {
            f.note(&counted(p, 3)).unwrap();
        }
        for (p, &(offset, len)) in &f.slots {
            assert_eq!(
                offset / PAGE,
                (offset + len as u64 - 1) / PAGE,
                "{p} at {offset}+{len}"
            );
        }
        let (_, left) = CountsFile::open(path);
        assert_eq!(left.len(), 200, "padding lines are skipped");
        // A half-appended last record (killed mid-write) is skipped, the rest read.
        let torn = dir.path().join("torn");
        let mut bytes = record(&counted("a:a", 5)).into_bytes();
        bytes.extend_from_slice(b"00000000000000000001 000");
        fs::write(&torn, bytes).unwrap();
        assert_eq!(CountsFile::open(torn).1, [counted("a:a", 5)]);
    }
}
