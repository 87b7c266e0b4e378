//! `--telegram CHAT_ID`: the Bot API's sendMessage (the renderer:
//! `crate::notify::channels::telegram`). The bot token is in the URL's path: the channel keeps
//! the URL, never spools or logs it (the origin of `--telegram-api` only).

use std::sync::Arc;

use super::http::HttpChannel;
use crate::http::Client;

use crate::notify::channels::telegram::{render, Config};

/// The channel `name` sending to `chat_id` with the bot `token`, through the Bot API at `api`.
pub fn channel(
    name: String,
    api: String,
    token: String,
    chat_id: String,
    client: Arc<Client>,
) -> Result<HttpChannel, String> {
    let cfg = Config {
        api,
        token,
        chat_id,
    };
    HttpChannel::new(name, client, Vec::new(), Box::new(move |n| render(n, &cfg)))
}
