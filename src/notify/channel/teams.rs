//! `--teams URL`: a Microsoft Teams Workflows webhook, an Adaptive Card (the renderer:
//! `crate::notify::channels::teams`). The URL holds its signature: kept, never logged.

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::teams::{render, Config};

/// The channel `name` posting to the Workflows webhook `url`.
pub fn channel(name: String, url: String, client: Arc<Client>) -> Result<HttpChannel, String> {
    let cfg = Config { url };
    HttpChannel::new(name, client, Vec::new(), Box::new(move |n| render(n, &cfg)))
}
