//! `--slack URL`: a Slack incoming webhook (the renderer: `crate::notify::channels::slack`).
//! The URL is the credential: the channel keeps it, logs its origin only.

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::slack::{render, Config};

/// The channel `name` posting to the incoming webhook `url`.
pub fn channel(name: String, url: String, client: Arc<Client>) -> Result<HttpChannel, String> {
    let cfg = Config { url };
    HttpChannel::new(name, client, Vec::new(), Box::new(move |n| render(n, &cfg)))
}
