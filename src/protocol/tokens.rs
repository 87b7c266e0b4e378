//! Splitting a header line or a payload's token line into `key:value` tokens, and finding
//! the header's newline: one pass over the bytes, eight at a time where it pays. This runs
//! for every event (docs/performance.md, "The runtime's events path, cut"), so it is kept
//! apart from the framing rules in its own file, with its own property tests.

/// One token of a header line or of a payload's token line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The whole token.
    pub text: &'a str,
    /// Its key and value, split at the first `:`; `None` if it has no `:` or an empty key.
    pub pair: Option<(&'a str, &'a str)>,
}

/// The tokens of a line, separated by ASCII whitespace, up to the line's first newline. One
/// pass over the bytes: this runs for every header and payload, and `split_ascii_whitespace`
/// with a `split_once(':')` per token cost about three times as much (docs/performance.md).
pub(crate) struct Tokens<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(line: &'a str) -> Tokens<'a> {
        Tokens { line, pos: 0 }
    }

    /// What follows the line's first newline, once the tokens are used up (`""` if the line
    /// has no newline).
    pub(crate) fn rest(&self) -> &'a str {
        self.line.get(self.pos + 1..).unwrap_or("")
    }
}

/// ASCII whitespace (as `u8::is_ascii_whitespace`), most bytes ruled out by one comparison.
fn is_space(b: u8) -> bool {
    b <= b' ' && b.is_ascii_whitespace()
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The index of the first byte at or after `i` that is a control byte or a space (`<= b' '`),
/// or `stop`; `bytes.len()` if there is none. Eight bytes at a time: every byte of every
/// header and payload line goes through here.
fn find_special(bytes: &[u8], mut i: usize, stop: u8) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // The high bit of each byte below 0x21, and of each byte equal to `stop` (the
        // classic "has a byte less than n" and "has a zero byte" tests). A byte can be
        // flagged wrongly only above a byte flagged rightly, so the lowest flag is exact.
        let low = w.wrapping_sub(ONES * 0x21) & !w & HIGHS;
        let x = w ^ (ONES * u64::from(stop));
        let hit = x.wrapping_sub(ONES) & !x & HIGHS;
        let flags = low | hit;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b <= b' ' || b == stop {
            break;
        }
        i += 1;
    }
    i
}

/// Where a token lies in its line: `start..end`, and its first `:` (`usize::MAX`: none).
/// Indices, not strings: most tokens are only compared (header tokens other than `eventname`
/// and `len`, payload keys a type does not use), so no `&str` is made for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    start: usize,
    colon: usize,
    end: usize,
}

impl Span {
    /// The key, before the first `:`; `None` without a `:` or with an empty key.
    pub(crate) fn key<'a>(&self, line: &'a str) -> Option<&'a [u8]> {
        if self.colon == usize::MAX || self.colon == self.start {
            return None;
        }
        line.as_bytes().get(self.start..self.colon)
    }

    /// Where the value lies in the line: after the first `:` (empty without one).
    pub(crate) fn value_range(&self) -> std::ops::Range<usize> {
        self.colon.saturating_add(1).min(self.end)..self.end
    }

    /// The value, after the first `:` (`""` without one).
    pub(crate) fn value<'a>(&self, line: &'a str) -> &'a str {
        // ':' and whitespace are ASCII, so these indices are char boundaries.
        line.get(self.value_range()).unwrap_or_default()
    }

    /// The whole token.
    pub(crate) fn text<'a>(&self, line: &'a str) -> &'a str {
        line.get(self.start..self.end).unwrap_or_default()
    }
}

impl Tokens<'_> {
    /// The next token's place, or `None` at the end of the line or at its first newline.
    #[inline]
    pub(crate) fn next_span(&mut self) -> Option<Span> {
        let bytes = self.line.as_bytes();
        let mut i = self.pos;
        while let Some(&b) = bytes.get(i) {
            if b == b'\n' || !is_space(b) {
                break;
            }
            i += 1;
        }
        self.pos = i;
        match bytes.get(i) {
            None | Some(b'\n') => return None,
            Some(_) => {}
        }
        let start = i;
        let mut colon = usize::MAX; // none yet
        loop {
            i = find_special(bytes, i, b':');
            match bytes.get(i) {
                None => break,
                Some(b':') => {
                    colon = colon.min(i);
                    i += 1;
                }
                Some(&b) if is_space(b) => break,
                Some(_) => i += 1, // a control byte that is not whitespace: part of the token
            }
        }
        self.pos = i;
        Some(Span {
            start,
            colon,
            end: i,
        })
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let span = self.next_span()?;
        let line = self.line;
        let pair = span.key(line).map(|_| {
            let key = line.get(span.start..span.colon).unwrap_or_default();
            (key, span.value(line))
        });
        Some(Token {
            text: span.text(line),
            pair,
        })
    }
}

/// The index of the first `\n` in `bytes`, looked for eight bytes at a time: the header line
/// (about 110 bytes) is searched for every event.
pub(super) fn find_newline(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'\n'));
        // Some byte of x is zero, i.e. some byte of the chunk is '\n' (exact: the classic
        // "has a zero byte" test).
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter().position(|&b| b == b'\n').map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tokens_are_split_ascii_whitespace_then_split_once(
            line in "([a-z:_ \t\r\n\x0b\x0c\x01\u{e9}]|[a-z]{8,20}){0,40}"
        ) {
            // The one-pass tokenizer against the obvious definition, up to the first '\n'.
            let (first, rest) = line.split_once('\n').unwrap_or((&line, ""));
            let want: Vec<(&str, Option<(&str, &str)>)> = first
                .split_ascii_whitespace()
                .map(|t| (t, t.split_once(':').filter(|(k, _)| !k.is_empty())))
                .collect();
            let mut tokens = Tokens::new(&line);
            let got: Vec<(&str, Option<(&str, &str)>)> =
                tokens.by_ref().map(|t| (t.text, t.pair)).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(tokens.rest(), rest);
        }

        #[test]
        fn find_newline_finds_the_first(
            bytes in prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..64)
        ) {
            prop_assert_eq!(find_newline(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }
    }
}
