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

/// Characters of one logical line with their original positions.
type Chars = Vec<(char, u32, u32)>;

/// Iterator over the logical lines of a text, each as its tokens.
/// Lines without tokens (blank, comment only) are skipped.
pub(crate) struct LineReader<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
}

impl<'a> LineReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineReader {
            lines: text.split('\n').enumerate(),
        }
    }
}

impl Iterator for LineReader<'_> {
    type Item = Result<Vec<Tok>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf: Chars = Vec::new();
        let mut any = false;
        for (i, phys) in self.lines.by_ref() {
            any = true;
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let start = buf.len();
            let mut quote: Option<char> = None;
            for (j, ch) in phys.chars().enumerate() {
                let col = u32::try_from(j + 1).unwrap_or(u32::MAX);
                match quote {
                    Some(q) if ch == q => quote = None,
                    Some(_) => {}
                    None if ch == '#' => break,
                    None if ch == '\'' || ch == '"' => quote = Some(ch),
                    None => {}
                }
                buf.push((ch, line, col));
            }
            while buf.len() > start && is_blank(buf[buf.len() - 1].0) {
                buf.pop();
            }
            if buf.len() > start && buf[buf.len() - 1].0 == '\\' {
                buf.pop();
                continue;
            }
            match tokenize(&buf) {
                Ok(t) if t.is_empty() => {
                    buf.clear();
                    continue;
                }
                r => return Some(r),
            }
        }
        // End of text; a dangling continuation still yields its tokens.
        if any && !buf.is_empty() {
            return match tokenize(&buf) {
                Ok(t) if t.is_empty() => None,
                r => Some(r),
            };
        }
        None
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

fn tokenize(chars: &[(char, u32, u32)]) -> Result<Vec<Tok>, ParseError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_blank(chars[i].0) {
            i += 1;
            continue;
        }
        let (_, line, col) = chars[i];
        let mut text = String::new();
        while i < chars.len() && !is_blank(chars[i].0) {
            let c = chars[i].0;
            if c == '\'' || c == '"' {
                let (_, ql, qc) = chars[i];
                let close = chars[i + 1..].iter().position(|&(d, _, _)| d == c);
                match close {
                    Some(n) => {
                        text.extend(chars[i + 1..i + 1 + n].iter().map(|&(d, _, _)| d));
                        i += n + 2;
                    }
                    None => {
                        return Err(ParseError {
                            line: ql,
                            col: qc,
                            msg: "unterminated quote".into(),
                            token: chars[i..].iter().map(|&(d, _, _)| d).collect(),
                        })
                    }
                }
            } else {
                text.push(c);
                i += 1;
            }
        }
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
    fn dangling_continuation_at_end() {
        assert_eq!(lines("monitor \\"), vec![vec![t("monitor", 1, 1)]]);
        assert!(lines("\\").is_empty());
        assert!(lines("").is_empty());
    }
}
