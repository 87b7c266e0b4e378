//! superlance: Supervisor event listeners in one multi-call binary.
//!
//! `src/` is the shared runtime, one noun per file; `listeners/` holds one module per
//! listener and the registry table. See docs/adding-a-listener.md for how the pieces meet and
//! `runtime` for the theory of operation of the event loop.
#![deny(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod background;
pub mod batch;
pub mod command;
pub mod crash_context;
pub mod dispatch;
pub mod entry;
pub mod entrypoint;
pub mod error;
pub mod event;
pub mod exposition;
pub mod generate;
pub mod hostname;
pub mod http;
pub mod legacy_argv;
pub mod logging;
pub mod notify;
pub mod procs;
pub mod protocol;
pub mod registry;
pub mod rpc;
pub mod runtime;
pub mod select;
pub mod template;
pub mod time;

// The listeners live in their own top-level folder (one file per listener, as the design card
// asks) but compile into this crate, so that they can use everything in src/.
#[path = "../listeners/mod.rs"]
pub mod listeners;

pub use error::Error;
