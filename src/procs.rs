//! The machine's processes as /proc shows them, behind the [`Procfs`] trait so that listeners'
//! decisions are tested without real processes.
//!
//! The process tree comes from one scan of `/proc/*/stat` (field 4 is the parent pid):
//! `/proc/<pid>/task/<tid>/children` would be cheaper but needs CONFIG_PROC_CHILDREN, which
//! many kernels (this project's CI among them) lack. Threads are not listed in /proc, only
//! thread-group leaders, which is what oom_score_adj and memory accounting work on.
//!
//! Memory is the resident set size as `VmRSS` of `/proc/<pid>/status` (KiB), what `ps` and
//! `top` show and what superlance's memmon read by running `ps` once per process (issue 16;
//! superlance #133: busybox `ps` lacks the flags it used). memmon `-c` adds it up over the
//! descendants the tree scan finds.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Parent links of every process at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcessTree {
    parent: HashMap<u32, u32>,
}

impl ProcessTree {
    /// From (pid, parent pid) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> ProcessTree {
        ProcessTree {
            parent: pairs.into_iter().collect(),
        }
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
    /// One scan of every process: who is whose parent.
    fn tree(&self) -> io::Result<ProcessTree>;
    /// The resident memory of `pid` in bytes (VmRSS). `NotFound` if the process is gone.
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

/// `VmRSS` of /proc/<pid>/status in bytes (the file says KiB); `None` when the line is missing
/// (a kernel thread, a zombie) or unreadable.
pub fn parse_status_vm_rss(status: &[u8]) -> Option<u64> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"VmRSS:"))?;
    let text = std::str::from_utf8(line).ok()?.trim();
    let kib: u64 = text.strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The resident memory of `pid` and all its descendants in `tree` (memmon `-c`); `None` if
/// `pid` itself is gone. Shared pages are counted once per process, as `ps` does; a
/// descendant that exits meanwhile counts nothing.
pub fn rss_with_descendants<P: Procfs + ?Sized>(
    procs: &P,
    tree: &ProcessTree,
    pid: u32,
) -> Option<u64> {
    let own = procs.rss(pid).ok()?;
    Some(
        tree.descendants(pid)
            .into_iter()
            .filter_map(|p| procs.rss(p).ok())
            .fold(own, u64::saturating_add),
    )
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
        let mut pairs = Vec::new();
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
            if let Some(ppid) = parse_stat_ppid(stat) {
                pairs.push((pid, ppid));
            }
        }
        Ok(ProcessTree::from_pairs(pairs))
    }

    fn rss(&self, pid: u32) -> io::Result<u64> {
        // /proc/<pid>/status is 1-2 KiB (names, masks, a line per capability set).
        let mut buf = [0u8; 8192];
        let status = read_small(&self.path(pid, "status"), &mut buf)?;
        parse_status_vm_rss(status)
            .ok_or_else(|| invalid(format!("no VmRSS in /proc/{pid}/status")))
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
    fn vm_rss_is_read_from_status() {
        let status = b"Name:\tcat\nVmPeak:\t   9000 kB\nVmRSS:\t    912 kB\nThreads:\t1\n";
        assert_eq!(parse_status_vm_rss(status), Some(912 * 1024));
        assert_eq!(parse_status_vm_rss(b"Name:\tkthreadd\nThreads:\t1\n"), None);
        assert_eq!(parse_status_vm_rss(b"VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn rss_with_descendants_sums_the_tree() {
        struct Table;
        impl Procfs for Table {
            fn parent(&self, _: u32) -> io::Result<u32> {
                Ok(1)
            }
            fn tree(&self) -> io::Result<ProcessTree> {
                Ok(ProcessTree::from_pairs([
                    (10, 1),
                    (11, 10),
                    (12, 11),
                    (13, 10),
                    (20, 1),
                ]))
            }
            fn rss(&self, pid: u32) -> io::Result<u64> {
                match pid {
                    10 => Ok(100),
                    11 => Ok(20),
                    12 => Ok(3),
                    20 => Ok(7),
                    _ => Err(io::ErrorKind::NotFound.into()), // 13 exited meanwhile
                }
            }
            fn oom_score_adj(&self, _: u32) -> io::Result<i32> {
                Ok(0)
            }
            fn set_oom_score_adj(&self, _: u32, _: i32) -> io::Result<()> {
                Ok(())
            }
        }
        let t = Table.tree().unwrap();
        assert_eq!(rss_with_descendants(&Table, &t, 10), Some(123));
        assert_eq!(rss_with_descendants(&Table, &t, 12), Some(3));
        assert_eq!(rss_with_descendants(&Table, &t, 99), None);
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
        // This test process has touched megabytes; RSS is VmRSS of /proc/self/status.
        let rss = p.rss(me).unwrap();
        assert!(rss > 1 << 20, "{rss}");
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap();
        let diff = (vm_kib * 1024).abs_diff(rss);
        assert!(diff < 16 << 20, "VmRSS {vm_kib} KiB vs {rss} B");
        let v = p.oom_score_adj(me).unwrap();
        assert!((-1000..=1000).contains(&v));
        assert_eq!(
            p.parent(u32::MAX).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
