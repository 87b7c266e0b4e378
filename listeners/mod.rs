//! The registry: one line per listener. A listener module exports `command()` (its clap
//! definition) and `run()` (build it from the parsed options and serve events).

use crate::dispatch::Entry;

pub mod crashmail;
pub mod crashmailbatch;
pub mod crashsms;
pub mod fatalmailbatch;
pub mod httpok;
pub mod memmon;
pub mod oom_score_adj;

#[rustfmt::skip] // one line per listener
pub const LISTENERS: &[Entry] = &[
    Entry { name: "crashmail", command: crashmail::command, run: crashmail::run },
    Entry { name: "crashmailbatch", command: crashmailbatch::command, run: crashmailbatch::run },
    Entry { name: "crashsms", command: crashsms::command, run: crashsms::run },
    Entry { name: "fatalmailbatch", command: fatalmailbatch::command, run: fatalmailbatch::run },
    Entry { name: "httpok", command: httpok::command, run: httpok::run },
    Entry { name: "memmon", command: memmon::command, run: memmon::run },
    Entry { name: "oom_score_adj", command: oom_score_adj::command, run: oom_score_adj::run },
];
