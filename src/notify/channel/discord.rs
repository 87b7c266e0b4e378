//! `--discord URL`: a Discord webhook (the renderer, with its 2000-character limit:
//! `crate::notify::channels::discord`). The URL holds the token: the channel keeps it, logs
//! its origin only.

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::discord::{render, Config};

/// The channel `name` posting to the Discord webhook `url`.
pub fn channel(name: String, url: String, client: Arc<Client>) -> Result<HttpChannel, String> {
    let cfg = Config { url };
    HttpChannel::new(name, client, Vec::new(), Box::new(move |n| render(n, &cfg)))
}
