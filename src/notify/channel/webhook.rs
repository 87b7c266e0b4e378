//! `--webhook URL`: superlance's versioned JSON schema (the renderer:
//! `crate::notify::channels::webhook`), with the `--webhook-header`s (tokens) added at
//! delivery only, never spooled.

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::webhook::{render, Config, Header};

/// The channel `name` posting to `url` with `headers` on every request.
pub fn channel(
    name: String,
    url: String,
    headers: Vec<Header>,
    client: Arc<Client>,
) -> Result<HttpChannel, String> {
    let cfg = Config {
        url,
        headers: Vec::new(),
    };
    let secret = headers.into_iter().map(|h| (h.name, h.value)).collect();
    HttpChannel::new(name, client, secret, Box::new(move |n| render(n, &cfg)))
}
