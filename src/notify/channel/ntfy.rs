//! `--ntfy URL`: publish to an ntfy topic (the renderer, its title, priority and tags
//! headers: `crate::notify::channels::ntfy`). The access token (`--ntfy-token-file`) is a
//! secret header, added at delivery and never spooled; the topic URL is a secret too.

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::ntfy::{render, Config};

/// The channel `name` publishing to the topic `url`, with an access token if given.
pub fn channel(
    name: String,
    url: String,
    token: Option<String>,
    client: Arc<Client>,
) -> Result<HttpChannel, String> {
    let cfg = Config {
        url,
        // Added by the channel at delivery (below), so that the spool never holds it.
        token: None,
        priority: None,
    };
    let secret = token
        .map(|t| vec![("Authorization".to_owned(), format!("Bearer {t}"))])
        .unwrap_or_default();
    HttpChannel::new(name, client, secret, Box::new(move |n| render(n, &cfg)))
}
