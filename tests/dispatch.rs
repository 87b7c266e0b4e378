//! Multi-call dispatch: --list, --version, help, links and copies, unknown names, --install.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::common::pipe::{answered, running, show, Running, Sleeper, BIN, READY};

/// Run `program args...` with stdin closed at once; returns how it ended.
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> crate::common::pipe::Finished {
    Running::spawn(program, args).finish()
}

/// A scratch directory on the same file system as the binary, so that hard links work.
fn scratch() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(root).expect("create CARGO_TARGET_TMPDIR");
    tempfile::tempdir_in(root).expect("temp dir")
}

fn real_binary() -> PathBuf {
    fs::canonicalize(BIN).expect("canonical path of the binary")
}

/// `program` behaves as the oom_score_adj listener: READY, an event answered and acted on,
/// log lines under the listener's name, exit 0 at the end of input.
/// `before` are arguments placed ahead of the listener's own.
fn behaves_as_oom_score_adj(program: &Path, before: &[&str]) {
    let sleeper = Sleeper::start();
    let mut args = before.to_vec();
    args.extend_from_slice(&["-p", "cat", "-s", "500"]);
    let mut l = Running::spawn(program, &args);
    l.expect_stdout(READY);
    l.write(&running(1, "cat", "cat", sleeper.pid()));
    l.expect_stdout(&answered(1));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{program:?}: {}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(1)), "{program:?}");
    assert_eq!(sleeper.score(), 500, "{program:?} set the score");
    assert!(
        f.stderr.contains(" INFO oom_score_adj: "),
        "{program:?} logs as oom_score_adj:\n{}",
        f.stderr
    );
}

#[test]
fn list_prints_one_listener_per_line() {
    let f = run(BIN, &["--list"]);
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(
        show(&f.stdout),
        show(
            b"crashmail\ncrashmailbatch\ncrashsms\nessential\nfatalmailbatch\nhttpok\nmemmon\nmetrics\nnotify\noom_score_adj\n"
        )
    );
    assert_eq!(f.stderr, "");
}

#[test]
fn version() {
    let f = run(BIN, &["--version"]);
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(
        String::from_utf8_lossy(&f.stdout),
        format!("superlance {}\n", env!("CARGO_PKG_VERSION"))
    );
    // A listener reports the same version under its own name.
    let f = run(BIN, &["oom_score_adj", "--version"]);
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(
        String::from_utf8_lossy(&f.stdout),
        format!("oom_score_adj {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_listener_is_the_listeners_own_help() {
    let via_help = run(BIN, &["help", "oom_score_adj"]);
    let via_flag = run(BIN, &["oom_score_adj", "--help"]);
    assert_eq!(via_help.code(), 0, "{}", via_help.stderr);
    assert_eq!(via_flag.code(), 0, "{}", via_flag.stderr);
    let help = String::from_utf8_lossy(&via_help.stdout).into_owned();
    let flag = String::from_utf8_lossy(&via_flag.stdout).into_owned();
    assert!(help.contains("--score"), "{help}");
    // The usage line names the command as invoked (`superlance oom_score_adj` or
    // `oom_score_adj`); everything else is the same text.
    let normalise =
        |text: &str| text.replace("Usage: superlance oom_score_adj", "Usage: oom_score_adj");
    assert_eq!(normalise(&help), normalise(&flag));
    assert_eq!(via_help.stderr, "");
    assert_eq!(via_flag.stderr, "");
}

#[test]
fn superlance_help_lists_the_listeners() {
    let f = run(BIN, &["--help"]);
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let text = String::from_utf8_lossy(&f.stdout);
    assert!(text.contains("oom_score_adj"), "{text}");
    assert!(text.contains("--install"), "{text}");
}

#[test]
fn no_arguments_exits_2_with_usage_on_stderr() {
    let f = run(BIN, &[] as &[&str]);
    assert_eq!(f.code(), 2, "{}", f.stderr);
    assert_eq!(show(&f.stdout), "", "usage goes to stderr");
    assert!(f.stderr.contains("Usage: superlance"), "{}", f.stderr);
}

#[test]
fn listener_as_a_subcommand() {
    behaves_as_oom_score_adj(Path::new(BIN), &["oom_score_adj"]);
}

#[test]
fn symlink_named_after_the_listener() {
    let dir = scratch();
    let link = dir.path().join("oom_score_adj");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    behaves_as_oom_score_adj(&link, &[]);
}

#[test]
fn hard_link_named_after_the_listener() {
    let dir = scratch();
    let link = dir.path().join("oom_score_adj");
    fs::hard_link(BIN, &link).expect("hard link");
    behaves_as_oom_score_adj(&link, &[]);
}

#[test]
fn copy_named_after_the_listener() {
    let dir = scratch();
    let copy = dir.path().join("oom_score_adj");
    fs::copy(BIN, &copy).expect("copy");
    behaves_as_oom_score_adj(&copy, &[]);
}

#[test]
fn packagers_prefixed_names() {
    let dir = scratch();
    for name in ["superlance-oom_score_adj", "sv_oom_score_adj"] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(BIN, &link).expect("symlink");
        behaves_as_oom_score_adj(&link, &[]);
    }
}

const UNKNOWN: &str = "nosuch: unknown listener (try 'superlance --list')\n";

#[test]
fn unknown_listener_as_an_argument_exits_127() {
    let f = run(BIN, &["nosuch"]);
    assert_eq!(f.code(), 127);
    assert_eq!(f.stderr, UNKNOWN);
    assert_eq!(show(&f.stdout), "");
}

#[test]
fn unknown_listener_as_a_link_name_exits_127() {
    let dir = scratch();
    let link = dir.path().join("nosuch");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    let f = run(&link, &["-a"]);
    assert_eq!(f.code(), 127);
    assert_eq!(f.stderr, UNKNOWN);
    assert_eq!(show(&f.stdout), "");
}

#[test]
fn bad_option_to_a_listener_exits_2_with_clap_message() {
    let f = run(BIN, &["oom_score_adj", "--bogus"]);
    assert_eq!(f.code(), 2);
    assert_eq!(
        show(&f.stdout),
        "",
        "nothing on stdout, which is the protocol's"
    );
    assert!(
        f.stderr
            .contains("error: unexpected argument '--bogus' found"),
        "{}",
        f.stderr
    );
    assert!(f.stderr.contains("Usage: "), "{}", f.stderr);
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
}

#[test]
fn bad_option_through_a_link_exits_2_too() {
    let dir = scratch();
    let link = dir.path().join("oom_score_adj");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    let f = run(&link, &["-s", "5000"]);
    assert_eq!(f.code(), 2);
    assert_eq!(show(&f.stdout), "");
    assert!(f.stderr.contains("5000"), "{}", f.stderr);
}

// ---------------------------------------------------------------------------------------------
// --install [-s] DIR

fn same_file(a: &Path, b: &Path) -> bool {
    let (a, b) = (
        fs::metadata(a).expect("stat"),
        fs::metadata(b).expect("stat"),
    );
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[test]
fn install_creates_hard_links_and_can_run_again() {
    let dir = scratch();
    let f = run(
        BIN,
        &["--install", dir.path().to_str().expect("utf-8 path")],
    );
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let link = dir.path().join("oom_score_adj");
    let meta = fs::symlink_metadata(&link).expect("link exists");
    assert!(meta.file_type().is_file(), "a hard link, not a symlink");
    assert!(same_file(&link, &real_binary()), "same inode as the binary");
    assert!(
        String::from_utf8_lossy(&f.stdout).contains(&*link.to_string_lossy()),
        "reports what it created: {}",
        show(&f.stdout)
    );
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "crashmail",
            "crashmailbatch",
            "crashsms",
            "essential",
            "fatalmailbatch",
            "httpok",
            "memmon",
            "metrics",
            "notify",
            "oom_score_adj"
        ],
        "one link per listener"
    );

    let again = run(
        BIN,
        &["--install", dir.path().to_str().expect("utf-8 path")],
    );
    assert_eq!(
        again.code(),
        0,
        "running it again succeeds: {}",
        again.stderr
    );
    assert!(same_file(&link, &real_binary()));
    behaves_as_oom_score_adj(&link, &[]);
}

#[test]
fn install_s_creates_symlinks_to_the_real_binary() {
    let dir = scratch();
    let path = dir.path().to_str().expect("utf-8 path");
    let f = run(BIN, &["--install", "-s", path]);
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let link = dir.path().join("oom_score_adj");
    assert!(fs::symlink_metadata(&link)
        .expect("link exists")
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).expect("readlink"), real_binary());

    let again = run(BIN, &["--install", "-s", path]);
    assert_eq!(
        again.code(),
        0,
        "running it again succeeds: {}",
        again.stderr
    );
    assert_eq!(fs::read_link(&link).expect("readlink"), real_binary());
    // `-s` after the directory works too (busybox order and the natural one).
    let again = run(BIN, &["--install", path, "-s"]);
    assert_eq!(again.code(), 0, "{}", again.stderr);
    behaves_as_oom_score_adj(&link, &[]);
}

#[test]
fn install_replaces_its_own_links_when_switching_kind() {
    let dir = scratch();
    let path = dir.path().to_str().expect("utf-8 path");
    let link = dir.path().join("oom_score_adj");
    assert_eq!(run(BIN, &["--install", path]).code(), 0);
    assert_eq!(run(BIN, &["--install", "-s", path]).code(), 0);
    assert_eq!(fs::read_link(&link).expect("now a symlink"), real_binary());
    assert_eq!(run(BIN, &["--install", path]).code(), 0);
    assert!(fs::symlink_metadata(&link)
        .expect("stat")
        .file_type()
        .is_file());
    assert!(same_file(&link, &real_binary()));
}

#[test]
fn install_refuses_to_overwrite_a_foreign_file() {
    for symbolic in [false, true] {
        let dir = scratch();
        let path = dir.path().to_str().expect("utf-8 path");
        let foreign = dir.path().join("oom_score_adj");
        fs::write(&foreign, "#!/bin/sh\necho mine\n").expect("write");
        let args: &[&str] = if symbolic {
            &["--install", "-s", path]
        } else {
            &["--install", path]
        };
        let f = run(BIN, args);
        assert_ne!(f.code(), 0, "must fail");
        assert!(
            f.stderr.contains("oom_score_adj") && f.stderr.contains("not overwriting"),
            "{}",
            f.stderr
        );
        assert_eq!(
            fs::read_to_string(&foreign).expect("still there"),
            "#!/bin/sh\necho mine\n",
            "content untouched"
        );
        assert!(!fs::symlink_metadata(&foreign)
            .expect("stat")
            .file_type()
            .is_symlink());
    }
}

#[test]
fn install_into_a_missing_directory_fails_cleanly() {
    let dir = scratch();
    let missing = dir.path().join("missing");
    let f = run(BIN, &["--install", missing.to_str().expect("utf-8 path")]);
    assert_ne!(f.code(), 0);
    assert!(f.stderr.contains("--install"), "{}", f.stderr);
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
}
