//! Splitting configuration text into logical lines and tokens, keeping the
//! physical line and column of every token.
//!
//! Rules (DPDK ipsec-secgw's, plus shell-style quotes for `ip xfrm`):
//! - `#` outside quotes starts a comment that runs to the end of the physical line;
//! - a physical line whose last non-blank character (after the comment is cut)
//!   is `\` continues on the next line; the two are joined with nothing in
//!   between, as secgw does, so a token may be split across lines
//!   (`dst 0000:0000:\` + `0000:5555/96`);
//! - tokens are separated by blanks; `'...'` and `"..."` quote blanks and are
//!   removed from the token;
//! - columns count characters from 1; `\r` is a blank.

use super::ParseError;

/// One token and where its first character is in the original text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub text: String,
    pub line: u32,
    pub col: u32,
}

/// Where a piece of a logical line came from: the piece starting at byte
/// `at` of the joined text is the start (column 1) of physical line `line`.
struct Seg {
    at: usize,
    line: u32,
}

/// Iterator over the logical lines of a text, each as its tokens.
/// Lines without tokens (blank, comment only) are skipped.
pub(crate) struct LineReader<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    /// The continued line being built; kept to reuse its allocation.
    joined: String,
    segs: Vec<Seg>,
}

impl<'a> LineReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineReader {
            lines: text.split('\n').enumerate(),
            joined: String::new(),
            segs: Vec::new(),
        }
    }
}

/// The part of a physical line before its comment.
fn cut_comment(phys: &str) -> &str {
    let mut quote: Option<u8> = None;
    for (i, &ch) in phys.as_bytes().iter().enumerate() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            // ASCII bytes never occur inside a multi-byte UTF-8 character,
            // so `i` is a character boundary.
            None if ch == b'#' => return &phys[..i],
            None if ch == b'\'' || ch == b'"' => quote = Some(ch),
            None => {}
        }
    }
    phys
}

impl Iterator for LineReader<'_> {
    type Item = Result<Vec<Tok>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let LineReader {
            lines,
            joined,
            segs,
        } = self;
        joined.clear();
        segs.clear();
        for (i, phys) in lines.by_ref() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = cut_comment(phys).trim_end_matches(is_blank);
            let (body, cont) = match t.strip_suffix('\\') {
                Some(b) => (b, true),
                None => (t, false),
            };
            if !cont && segs.is_empty() {
                // The common case: one physical line, tokenized in place.
                match tokenize(body, &[Seg { at: 0, line }]) {
                    Ok(v) if v.is_empty() => continue,
                    r => return Some(r),
                }
            }
            segs.push(Seg {
                at: joined.len(),
                line,
            });
            joined.push_str(body);
            if cont {
                continue;
            }
            match tokenize(joined, segs) {
                Ok(v) if v.is_empty() => {
                    joined.clear();
                    segs.clear();
                }
                r => return Some(r),
            }
        }
        // End of text; a dangling continuation still yields its tokens.
        if segs.is_empty() {
            return None;
        }
        match tokenize(joined, segs) {
            Ok(v) if v.is_empty() => None,
            r => Some(r),
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

fn is_blank_b(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

/// Maps byte indices of a logical line (asked in increasing order) to
/// original line and column, counting characters, not bytes.
struct Pos<'a> {
    b: &'a [u8],
    segs: &'a [Seg],
    seg: usize,
    /// Bytes before `at` are counted.
    at: usize,
    /// Characters of the current segment before `at`.
    col: u32,
    ascii: bool,
}

impl Pos<'_> {
    fn enter(&mut self) {
        while self.seg + 1 < self.segs.len() && self.at >= self.segs[self.seg + 1].at {
            self.seg += 1;
            self.col = 0;
        }
    }

    fn of(&mut self, i: usize) -> (u32, u32) {
        if self.ascii {
            // One byte per character: the column is the offset in the segment.
            self.at = i;
            self.enter();
            let col = i - self.segs[self.seg].at + 1;
            return (
                self.segs[self.seg].line,
                u32::try_from(col).unwrap_or(u32::MAX),
            );
        }
        while self.at < i {
            self.enter();
            // Count the first byte of each UTF-8 character.
            if self.b[self.at] & 0xC0 != 0x80 {
                self.col = self.col.saturating_add(1);
            }
            self.at += 1;
        }
        self.enter();
        (self.segs[self.seg].line, self.col.saturating_add(1))
    }
}

fn tokenize(s: &str, segs: &[Seg]) -> Result<Vec<Tok>, ParseError> {
    let b = s.as_bytes();
    let mut pos = Pos {
        b,
        segs,
        seg: 0,
        at: 0,
        col: 0,
        ascii: s.is_ascii(),
    };
    let mut out = Vec::with_capacity(32);
    let mut i = 0;
    while i < b.len() {
        if is_blank_b(b[i]) {
            i += 1;
            continue;
        }
        // Find the end of the token; quotes may hide blanks.
        let start = i;
        let mut quoted = false;
        while i < b.len() && !is_blank_b(b[i]) {
            let c = b[i];
            if c == b'\'' || c == b'"' {
                quoted = true;
                match b[i + 1..].iter().position(|&d| d == c) {
                    Some(n) => i += n + 2,
                    None => {
                        let (line, col) = pos.of(i);
                        return Err(ParseError {
                            line,
                            col,
                            msg: "unterminated quote".into(),
                            token: s[i..].to_string(),
                        });
                    }
                }
            } else {
                i += 1;
            }
        }
        let (line, col) = pos.of(start);
        let raw = &s[start..i];
        let text = if quoted {
            let mut t = String::with_capacity(raw.len());
            let mut q: Option<char> = None;
            for ch in raw.chars() {
                match q {
                    Some(x) if ch == x => q = None,
                    None if ch == '\'' || ch == '"' => q = Some(ch),
                    _ => t.push(ch),
                }
            }
            t
        } else {
            raw.to_string()
        };
        out.push(Tok { text, line, col });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<Vec<(String, u32, u32)>> {
        LineReader::new(s)
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|t| (t.text, t.line, t.col))
                    .collect()
            })
            .collect()
    }

    fn t(s: &str, l: u32, c: u32) -> (String, u32, u32) {
        (s.to_string(), l, c)
    }

    #[test]
    fn comments_blank_lines_and_positions() {
        let got = lines("# header\n\n  rt ipv4 dst 10.0.0.0/8 # trailing\nmonitor\n");
        assert_eq!(
            got,
            vec![
                vec![
                    t("rt", 3, 3),
                    t("ipv4", 3, 6),
                    t("dst", 3, 11),
                    t("10.0.0.0/8", 3, 15)
                ],
                vec![t("monitor", 4, 1)],
            ]
        );
    }

    #[test]
    fn continuation_keeps_original_columns_and_joins_tokens() {
        let got = lines("sp ipv6 in \\\n  dst 0000:5555:\\\n0000::/96 pri 1\n");
        assert_eq!(
            got,
            vec![vec![
                t("sp", 1, 1),
                t("ipv6", 1, 4),
                t("in", 1, 9),
                t("dst", 2, 3),
                t("0000:5555:0000::/96", 2, 7),
                t("pri", 3, 11),
                t("1", 3, 15),
            ]]
        );
    }

    #[test]
    fn continuation_after_comment_is_a_comment() {
        // The `\` sits inside the comment: no continuation.
        let got = lines("stats # see \\\nmonitor");
        assert_eq!(got, vec![vec![t("stats", 1, 1)], vec![t("monitor", 2, 1)]]);
    }

    #[test]
    fn quotes_and_crlf() {
        let got = lines("aead 'rfc4106(gcm(aes))' \"a # b\"\r\n");
        assert_eq!(
            got,
            vec![vec![
                t("aead", 1, 1),
                t("rfc4106(gcm(aes))", 1, 6),
                t("a # b", 1, 26)
            ]]
        );
        let e = LineReader::new("x 'abc").next().unwrap().unwrap_err();
        assert_eq!((e.line, e.col, e.token.as_str()), (1, 3, "'abc"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let got = lines("é ab\\\nç  cd 'ü v'");
        assert_eq!(
            got,
            vec![vec![
                t("é", 1, 1),
                t("abç", 1, 3),
                t("cd", 2, 4),
                t("ü v", 2, 7)
            ]]
        );
    }

    #[test]
    fn dangling_continuation_at_end() {
        assert_eq!(lines("monitor \\"), vec![vec![t("monitor", 1, 1)]]);
        assert!(lines("\\").is_empty());
        assert!(lines("").is_empty());
    }
}
