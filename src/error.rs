//! Errors that end the program, and their exit statuses. Only `dispatch::main` exits.

use std::process::ExitCode;

use crate::protocol::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event stream cannot be trusted: exit non-zero so that supervisord restarts us.
    #[error("protocol error: {0}")]
    Protocol(#[from] FrameError),
    #[error("cannot write to supervisord (stdout): {0}")]
    Output(std::io::Error),
    /// A bad option value found after parsing (clap reports its own errors).
    #[error("{0}")]
    Usage(String),
    /// The environment does not allow the listener to start.
    #[error("{0}")]
    Setup(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::from(2),
            Error::Protocol(_) | Error::Output(_) | Error::Setup(_) => ExitCode::from(1),
        }
    }
}
