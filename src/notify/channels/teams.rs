//! `--teams URL`: a Microsoft Teams Workflows (Power Automate) webhook, the "Post to a channel
//! when a webhook request is received" template that replaces the retired Office 365
//! connectors. It takes a message with one Adaptive Card attachment (Microsoft Learn, "Create
//! Incoming Webhooks", Send Adaptive Cards using an Incoming Webhook,
//! <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>):
//!
//! ```text
//! {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//!  "content":{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json",
//!  "version":"1.4","body":[TextBlocks...]}}]}
//! ```
//!
//! The body is one TextBlock per line (adaptivecards.io, Schema Explorer, TextBlock,
//! <https://adaptivecards.io/explorer/TextBlock.html>): the title in bold, each line of the
//! text, then each extra line (crash context) in the monospace font (`fontType`, card 1.2);
//! `wrap` so that long lines are not clipped. One block per line so that every line shows as a
//! line whatever a client's Markdown makes of a single `\n` (Microsoft Learn, "Format cards in
//! Teams", documents `\n` as a line break in lists only), and so that the extra lines can be
//! monospace. Empty lines are left out. TextBlock text is a Markdown subset; it has no
//! documented escape, so a `**` in a program's output may show as bold.
//!
//! The same page limits a message to 28 KB. The whole request body is kept under
//! [`MAX_BODY`] bytes: when the lines do not fit, the first and the last of them are kept with
//! a block reading [`CUT_MARKER`] between them (a single line over a quarter of the room is cut
//! in its middle first).

use std::fmt;

use serde_json::{json, Value};

use super::{body_text, clean, fit, json_post, title, truncate_line, utf8, CUT_MARKER};
use crate::notify::{HttpPost, Notification};

/// The request body's limit in bytes: under Teams' 28 KB, with room to spare.
pub const MAX_BODY: usize = 26_000;

/// The Workflows webhook's URL (a secret: its query holds the signature).
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("teams::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .finish()
    }
}

/// Generous JSON cost of a TextBlock beyond its text (`{"type":"TextBlock","text":...,`
/// `"wrap":true,"spacing":"None","fontType":"Monospace"}` and a comma).
const BLOCK_OVERHEAD: usize = 100;

/// One line of the card; `monospace` for the extra lines (crash context).
struct Line {
    text: String,
    monospace: bool,
}

/// The card for a title and the lines under it.
fn card(title: &str, lines: &[Line]) -> Value {
    let mut blocks = vec![json!({
        "type": "TextBlock",
        "text": title,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    for line in lines {
        let mut block =
            json!({ "type": "TextBlock", "text": line.text, "wrap": true, "spacing": "None" });
        if line.monospace {
            block["fontType"] = json!("Monospace");
        }
        blocks.push(block);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": blocks,
            },
        }],
    })
}

/// A line's cost in the request body: its text as a JSON string, and the block around it.
fn cost(line: &Line) -> usize {
    serde_json::to_string(&line.text).map_or(usize::MAX / 4, |s| s.len()) + BLOCK_OVERHEAD
}

/// The first and the last lines that fit in `budget`, with the marker between them when lines
/// were left out.
fn keep_ends(mut lines: Vec<Line>, budget: usize) -> Vec<Line> {
    let total: usize = lines.iter().map(cost).sum();
    if total <= budget {
        return lines;
    }
    let marker = Line {
        text: CUT_MARKER.trim().to_owned(),
        monospace: false,
    };
    let room = budget.saturating_sub(cost(&marker));
    let mut head = 0;
    let mut used = 0;
    while head < lines.len() && used + cost(&lines[head]) <= room / 2 {
        used += cost(&lines[head]);
        head += 1;
    }
    let mut tail = lines.len();
    while tail > head && used + cost(&lines[tail - 1]) <= room {
        used += cost(&lines[tail - 1]);
        tail -= 1;
    }
    let rest = lines.split_off(tail);
    lines.truncate(head);
    lines.push(marker);
    lines.extend(rest);
    lines
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    let title = truncate_line(&title(n), 1000);
    let empty = serde_json::to_vec(&card(&title, &[])).map_or(MAX_BODY, |b| b.len());
    let budget = MAX_BODY.saturating_sub(empty);
    // A line longer than a quarter of the budget is cut itself (its JSON may be twice its
    // bytes: quotes and backslashes are escaped).
    let line = |text: &str, monospace: bool| Line {
        text: fit(text, budget / 4, utf8),
        monospace,
    };
    let text = clean(body_text(n));
    let mut lines: Vec<Line> = text.lines().map(|l| line(l, false)).collect();
    for extra in &n.extra {
        lines.extend(clean(extra).lines().map(|l| line(l, true)));
    }
    lines.retain(|l| !l.text.trim().is_empty());
    let lines = keep_ends(lines, budget);
    json_post(&cfg.url, Vec::new(), &card(&title, &lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};

    fn cfg() -> Config {
        Config {
            url: "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRETSIG".into(),
        }
    }

    #[test]
    fn a_crash_is_an_adaptive_card() {
        let post = render(&crash(), &cfg());
        assert_eq!(post.url, cfg().url);
        let v = parse(&post);
        assert_eq!(v["type"], "message");
        let att = &v["attachments"][0];
        assert_eq!(v["attachments"].as_array().unwrap().len(), 1);
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(card["version"], "1.4");
        let body = card["body"].as_array().unwrap();
        let texts: Vec<&str> = body.iter().map(|b| b["text"].as_str().unwrap()).collect();
        assert_eq!(
            texts,
            [
                "[host1] crashmail alert from supervisord on host1",
                "Process web:web_01 (pid 4242) died unexpectedly",
                "exit status 1",
                "stderr: boom",
            ]
        );
        assert!(body
            .iter()
            .all(|b| b["type"] == "TextBlock" && b["wrap"] == true));
        assert_eq!(body[0]["weight"], "Bolder");
        assert_eq!(body[1].get("fontType"), None);
        assert_eq!(body[2]["fontType"], "Monospace");
        assert_eq!(body[3]["fontType"], "Monospace");
    }

    #[test]
    fn the_body_stays_under_the_limit() {
        let mut n = crash();
        // Many short lines cost more in JSON than in text.
        n.extra = (0..5000).map(|i| format!("line {i} \"é\"")).collect();
        let post = render(&n, &cfg());
        assert!(post.body.len() <= MAX_BODY, "{}", post.body.len());
        let v = parse(&post);
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        assert_eq!(
            body[0]["text"],
            "[host1] crashmail alert from supervisord on host1"
        );
        assert_eq!(body.last().unwrap()["text"], "line 4999 \"é\"");
        let marker = CUT_MARKER.trim();
        assert!(body.iter().any(|b| b["text"] == marker));
        // One huge line too.
        n.extra = vec!["😀".repeat(30_000)];
        let post = render(&n, &cfg());
        assert!(post.body.len() <= MAX_BODY, "{}", post.body.len());
    }

    #[test]
    fn control_characters_and_quotes() {
        let mut n = crash();
        n.text = "a \"b\" \\ c\r\n\u{1b}[1m\n\nd".into();
        n.extra.clear();
        let v = parse(&render(&n, &cfg()));
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        let texts: Vec<&str> = body.iter().map(|b| b["text"].as_str().unwrap()).collect();
        assert_eq!(
            texts,
            [
                "[host1] crashmail alert from supervisord on host1",
                "a \"b\" \\ c",
                "\u{fffd}[1m",
                "d"
            ]
        );
    }

    #[test]
    fn debug_hides_the_signature() {
        let d = format!("{:?}", cfg());
        assert!(!d.contains("SECRETSIG") && !d.contains("workflows"), "{d}");
    }
}
