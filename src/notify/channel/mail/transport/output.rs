//! A command's output or a server's reply as one bounded log line, for both transports.

/// The longest excerpt of a command's output or a server's reply put into one log line.
const EXCERPT_CHARS: usize = 600;

/// stderr and stdout as one log-friendly line: `stderr: ... | stdout: ...`, empty parts left
/// out, a lone stderr without its label.
pub(crate) fn describe_output(stdout: &[u8], stderr: &[u8]) -> String {
    let out = excerpt(stdout);
    let err = excerpt(stderr);
    match (err.is_empty(), out.is_empty()) {
        (true, true) => String::new(),
        (false, true) => err,
        (true, false) => format!("stdout: {out}"),
        (false, false) => format!("{err} | stdout: {out}"),
    }
}

/// Bytes as one line of text: lossy UTF-8, lines joined by " / ", cut at [`EXCERPT_CHARS`].
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let joined = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"a\n\nb  \r\nc"), "a / b / c");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), EXCERPT_CHARS + 3);
    }
}
