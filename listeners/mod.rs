//! The registry: one line per listener. A listener module exports `command()` (its clap
//! definition), `SUPERLANCE_LONGS` (the long options superlance's tool knew, whose
//! abbreviations are still accepted: src/legacy_argv.rs) and `run()` (build it from the parsed
//! options and serve events).

use crate::entry::Entry;

pub mod crashmail;
pub mod crashmailbatch;
pub mod crashsms;
pub mod essential;
pub mod fatalmailbatch;
pub mod httpok;
pub mod memmon;
pub mod metrics;
pub mod notify;
pub mod oom_score_adj;

#[rustfmt::skip] // one line per listener
pub const LISTENERS: &[Entry] = &[
    Entry { name: "crashmail", command: crashmail::command, superlance_longs: crashmail::SUPERLANCE_LONGS, run: crashmail::run },
    Entry { name: "crashmailbatch", command: crashmailbatch::command, superlance_longs: crashmailbatch::SUPERLANCE_LONGS, run: crashmailbatch::run },
    Entry { name: "crashsms", command: crashsms::command, superlance_longs: crashsms::SUPERLANCE_LONGS, run: crashsms::run },
    Entry { name: "essential", command: essential::command, superlance_longs: essential::SUPERLANCE_LONGS, run: essential::run },
    Entry { name: "fatalmailbatch", command: fatalmailbatch::command, superlance_longs: fatalmailbatch::SUPERLANCE_LONGS, run: fatalmailbatch::run },
    Entry { name: "httpok", command: httpok::command, superlance_longs: httpok::SUPERLANCE_LONGS, run: httpok::run },
    Entry { name: "memmon", command: memmon::command, superlance_longs: memmon::SUPERLANCE_LONGS, run: memmon::run },
    Entry { name: "metrics", command: metrics::command, superlance_longs: metrics::SUPERLANCE_LONGS, run: metrics::run },
    Entry { name: "notify", command: notify::command, superlance_longs: notify::SUPERLANCE_LONGS, run: notify::run },
    Entry { name: "oom_score_adj", command: oom_score_adj::command, superlance_longs: oom_score_adj::SUPERLANCE_LONGS, run: oom_score_adj::run },
];
