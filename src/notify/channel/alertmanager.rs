//! `--alertmanager URL`: alerts to a Prometheus Alertmanager's API v2 (`/api/v2/alerts`;
//! the labels and the resolve: `crate::notify::channels::alertmanager`).

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::alertmanager::{render, Config};

/// The channel `name` posting alerts to the Alertmanager at `url` (its base URL).
pub fn channel(name: String, url: String, client: Arc<Client>) -> Result<HttpChannel, String> {
    let cfg = Config {
        url,
        firing_for: None,
    };
    HttpChannel::new(name, client, Vec::new(), Box::new(move |n| render(n, &cfg)))
}
