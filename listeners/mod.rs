//! The registry: one line per listener. A listener module exports `command()` (its clap
//! definition) and `run()` (build it from the parsed options and serve events).

use crate::dispatch::Entry;

pub mod oom_score_adj;

pub const LISTENERS: &[Entry] = &[Entry {
    name: "oom_score_adj",
    command: oom_score_adj::command,
    run: oom_score_adj::run,
}];
