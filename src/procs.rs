//! The machine's processes as /proc shows them, behind the [`Procfs`] trait so that listeners'
//! decisions are tested without real processes.
//!
//! The process tree comes from one scan of `/proc/*/stat` (field 4 is the parent pid):
//! `/proc/<pid>/task/<tid>/children` would be cheaper but needs CONFIG_PROC_CHILDREN, which
//! many kernels (this project's CI among them) lack. Threads are not listed in /proc, only
//! thread-group leaders, which is what oom_score_adj and memory accounting work on.
//!
//! Memory is the resident set size, field 24 of the same `stat` line (pages; what `ps -o rss`
//! prints, in KiB, and what superlance's memmon read by running `ps` once per process): so
//! the one scan that gives the tree gives every process's RSS too, and memmon `-c` sums a
//! whole tree without another read (superlance #133: busybox `ps` lacks the flags it used).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Parent links (and resident memory) of every process at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcessTree {
    parent: HashMap<u32, u32>,
    /// Resident set size in bytes, for the processes whose RSS was read.
    rss: HashMap<u32, u64>,
}

impl ProcessTree {
    /// From (pid, parent pid) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> ProcessTree {
        ProcessTree {
            parent: pairs.into_iter().collect(),
            rss: HashMap::new(),
        }
    }

    /// From (pid, parent pid, RSS in bytes).
    pub fn from_stats(stats: impl IntoIterator<Item = (u32, u32, u64)>) -> ProcessTree {
        let mut tree = ProcessTree::default();
        for (pid, ppid, rss) in stats {
            tree.parent.insert(pid, ppid);
            tree.rss.insert(pid, rss);
        }
        tree
    }

    /// The resident memory of `pid` in bytes; `None` if it was not seen.
    pub fn rss(&self, pid: u32) -> Option<u64> {
        self.rss.get(&pid).copied()
    }

    /// The resident memory of `pid` and all its descendants (memmon `-c`); `None` if `pid` was
    /// not seen. Shared pages are counted once per process, as `ps` does.
    pub fn tree_rss(&self, pid: u32) -> Option<u64> {
        let own = self.rss(pid)?;
        Some(
            self.descendants(pid)
                .into_iter()
                .filter_map(|p| self.rss(p))
                .fold(own, u64::saturating_add),
        )
    }

    pub fn parent_of(&self, pid: u32) -> Option<u32> {
        self.parent.get(&pid).copied()
    }

    /// Every descendant of `pid` (children, grandchildren, ...), parents before children.
    pub fn descendants(&self, pid: u32) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&child, &parent) in &self.parent {
            children.entry(parent).or_default().push(child);
        }
        let mut out = Vec::new();
        let mut next = vec![pid];
        while let Some(p) = next.pop() {
            if let Some(kids) = children.get(&p) {
                for &k in kids {
                    // A pid cannot be its own ancestor, but a racy scan could show a loop.
                    if k != pid && !out.contains(&k) {
                        out.push(k);
                        next.push(k);
                    }
                }
            }
        }
        out
    }
}

/// What listeners need of /proc.
pub trait Procfs {
    /// The parent pid of `pid`. `NotFound` if the process is gone.
    fn parent(&self, pid: u32) -> io::Result<u32>;
    /// One scan of every process: parents and resident memory.
    fn tree(&self) -> io::Result<ProcessTree>;
    /// The resident memory of `pid` in bytes. `NotFound` if the process is gone.
    fn rss(&self, pid: u32) -> io::Result<u64>;
    fn oom_score_adj(&self, pid: u32) -> io::Result<i32>;
    fn set_oom_score_adj(&self, pid: u32, score: i32) -> io::Result<()>;
}

/// The real /proc (or another mount of procfs).
#[derive(Debug, Clone)]
pub struct Proc {
    root: PathBuf,
}

impl Default for Proc {
    fn default() -> Self {
        Proc {
            root: PathBuf::from("/proc"),
        }
    }
}

impl Proc {
    fn path(&self, pid: u32, file: &str) -> PathBuf {
        self.root.join(pid.to_string()).join(file)
    }
}

/// The parent pid from the text of /proc/<pid>/stat. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so parse after the last ')'.
pub fn parse_stat_ppid(stat: &[u8]) -> Option<u32> {
    // The name is arbitrary bytes; what follows it is ASCII.
    let rest = std::str::from_utf8(&stat[stat.iter().rposition(|&b| b == b')')? + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// The parent pid and the resident set size (in pages) from /proc/<pid>/stat: fields 4 and
/// 24, counted after the command name as [`parse_stat_ppid`] does.
pub fn parse_stat_ppid_rss(stat: &[u8]) -> Option<(u32, u64)> {
    let rest = std::str::from_utf8(&stat[stat.iter().rposition(|&b| b == b')')? + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let ppid = fields.nth(1)?.parse().ok()?;
    // Fields 5..=23 lie between; `nth(19)` after field 4 is field 24.
    let rss = fields.nth(19)?.parse().ok()?;
    Some((ppid, rss))
}

/// Bytes per page (for RSS, which /proc counts in pages).
fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant; no memory of ours is touched.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// Read a small /proc file into `buf` with one open and (usually) one read: no `statx`, no
/// growing heap buffer, which `fs::read_to_string` costs on every call. /proc/<pid>/stat is a
/// few hundred bytes (the command name is at most 64); a longer file is an error.
fn read_small<'b>(path: &std::path::Path, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
    let mut file = fs::File::open(path)?;
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
        if len == buf.len() {
            return Err(invalid(format!(
                "{} is longer than {} bytes",
                path.display(),
                buf.len()
            )));
        }
    }
    Ok(&buf[..len])
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Procfs for Proc {
    fn parent(&self, pid: u32) -> io::Result<u32> {
        let mut buf = [0u8; 1024];
        let stat = read_small(&self.path(pid, "stat"), &mut buf)?;
        parse_stat_ppid(stat).ok_or_else(|| invalid(format!("unreadable /proc/{pid}/stat")))
    }

    fn tree(&self) -> io::Result<ProcessTree> {
        let page = page_size();
        let mut stats = Vec::new();
        let mut buf = [0u8; 1024];
        for entry in fs::read_dir(&self.root)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may exit between the listing and the read: skip it.
            let Ok(stat) = read_small(&self.path(pid, "stat"), &mut buf) else {
                continue;
            };
            if let Some((ppid, pages)) = parse_stat_ppid_rss(stat) {
                stats.push((pid, ppid, pages.saturating_mul(page)));
            }
        }
        Ok(ProcessTree::from_stats(stats))
    }

    fn rss(&self, pid: u32) -> io::Result<u64> {
        let mut buf = [0u8; 1024];
        let stat = read_small(&self.path(pid, "stat"), &mut buf)?;
        parse_stat_ppid_rss(stat)
            .map(|(_, pages)| pages.saturating_mul(page_size()))
            .ok_or_else(|| invalid(format!("unreadable /proc/{pid}/stat")))
    }

    fn oom_score_adj(&self, pid: u32) -> io::Result<i32> {
        let mut buf = [0u8; 32];
        let raw = read_small(&self.path(pid, "oom_score_adj"), &mut buf)?;
        let text = String::from_utf8_lossy(raw);
        text.trim()
            .parse()
            .map_err(|_| invalid(format!("unexpected /proc/{pid}/oom_score_adj: {text:?}")))
    }

    fn set_oom_score_adj(&self, pid: u32, score: i32) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(self.path(pid, "oom_score_adj"))?;
        f.write_all(format!("{score}\n").as_bytes())
    }
}

/// The capability number of CAP_SYS_RESOURCE (linux/capability.h).
pub const CAP_SYS_RESOURCE: u32 = 24;

/// Whether this process has capability `bit` in its effective set (`CapEff` of
/// /proc/self/status); `None` if that cannot be read.
pub fn has_capability(bit: u32) -> Option<bool> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1u64 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        assert_eq!(
            parse_stat_ppid(b"1234 (my (odd) prog) S 77 1234 1234 0 -1"),
            Some(77)
        );
        assert_eq!(parse_stat_ppid(b"1 (init) S 0 1 1"), Some(0));
        assert_eq!(parse_stat_ppid(b"garbage"), None);
    }

    #[test]
    fn stat_rss_is_field_24() {
        // A real line (cat): ppid 1000, rss 228 pages.
        let line = b"4242 (c a)t) R 1000 4242 1000 34816 4242 4194304 94 0 0 0 0 0 0 0 20 0 1 0 \
                     123456 5718016 228 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(parse_stat_ppid_rss(line), Some((1000, 228)));
        assert_eq!(parse_stat_ppid_rss(b"1 (init) S 0 1 1"), None);
    }

    #[test]
    fn tree_rss_sums_descendants() {
        let t = ProcessTree::from_stats([(10, 1, 100), (11, 10, 20), (12, 11, 3), (20, 1, 7)]);
        assert_eq!(t.rss(10), Some(100));
        assert_eq!(t.tree_rss(10), Some(123));
        assert_eq!(t.tree_rss(12), Some(3));
        assert_eq!(t.tree_rss(99), None);
    }

    #[test]
    fn stat_with_a_non_utf8_name() {
        assert_eq!(parse_stat_ppid(b"42 (x\xff) R 7 42 42"), Some(7));
    }

    #[test]
    fn descendants_walks_the_whole_tree() {
        let t = ProcessTree::from_pairs([(10, 1), (11, 10), (12, 10), (13, 11), (20, 1), (21, 20)]);
        let mut d = t.descendants(10);
        d.sort();
        assert_eq!(d, vec![11, 12, 13]);
        assert!(t.descendants(13).is_empty());
        assert_eq!(t.parent_of(13), Some(11));
    }

    #[test]
    fn real_proc_knows_this_process() {
        let p = Proc::default();
        let me = std::process::id();
        assert_eq!(p.parent(me).unwrap(), std::os::unix::process::parent_id());
        let tree = p.tree().unwrap();
        assert!(tree.parent_of(me).is_some());
        // This test process has touched megabytes; RSS agrees with VmRSS of /proc/self/status.
        let rss = p.rss(me).unwrap();
        assert!(rss > 1 << 20, "{rss}");
        assert!(tree.rss(me).is_some_and(|r| r > 1 << 20));
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap();
        let diff = (vm_kib * 1024).abs_diff(rss);
        assert!(diff < 16 << 20, "VmRSS {vm_kib} KiB vs stat {rss} B");
        let v = p.oom_score_adj(me).unwrap();
        assert!((-1000..=1000).contains(&v));
        assert_eq!(
            p.parent(u32::MAX).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
