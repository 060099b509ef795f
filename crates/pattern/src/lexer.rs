//! Tokens of the STIX pattern grammar (`STIXPattern.g4`), produced on demand.

use crate::ast::CompareOp;
use crate::error::{ErrorKind, PatternError};
use crate::timestamp::{Timestamp, TimestampError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

pub(crate) const KEYWORDS: &[(&str, Kw)] = &[
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("NOT", Kw::Not),
    ("FOLLOWEDBY", Kw::FollowedBy),
    ("LIKE", Kw::Like),
    ("MATCHES", Kw::Matches),
    ("ISSUPERSET", Kw::IsSuperset),
    ("ISSUBSET", Kw::IsSubset),
    ("EXISTS", Kw::Exists),
    ("LAST", Kw::Last),
    ("IN", Kw::In),
    ("START", Kw::Start),
    ("STOP", Kw::Stop),
    ("SECONDS", Kw::Seconds),
    ("WITHIN", Kw::Within),
    ("REPEATS", Kw::Repeats),
    ("TIMES", Kw::Times),
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Colon,
    Dot,
    Comma,
    Star,
    Op(CompareOp),
    Kw(Kw),
    Ident { hyphen: bool },
    Str(String),
    Int { value: i64, neg: bool },
    Float { value: f64, neg: bool },
    Ts(Timestamp),
    Hex(Vec<u8>),
    Bin(Vec<u8>),
    Bool(bool),
    Eof,
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ws(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{0085}'
            | '\u{00a0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn err<T>(offset: usize, kind: ErrorKind) -> Result<T, PatternError> {
    Err(PatternError::new(offset, kind))
}

fn literal_err<T>(
    offset: usize,
    what: &'static str,
    reason: impl Into<String>,
) -> Result<T, PatternError> {
    err(
        offset,
        ErrorKind::InvalidLiteral {
            what,
            reason: reason.into(),
        },
    )
}

/// Describe the text at `offset` for an error message.
pub(crate) fn describe(src: &str, start: usize, end: usize) -> String {
    if start >= src.len() {
        return "end of input".to_string();
    }
    let end = end.max(start + 1).min(src.len());
    let mut text: String = src.get(start..end).unwrap_or("").chars().take(40).collect();
    if text.is_empty() {
        text = src[start..]
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default();
    }
    format!("`{text}`")
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_trivia(&mut self) {
        loop {
            let rest = self.rest();
            if let Some(c) = rest.chars().next().filter(|c| is_ws(*c)) {
                self.pos += c.len_utf8();
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(i) => self.pos += i + 4,
                    None => return, // lexed as an invalid `/` below
                }
            } else if rest.starts_with("//") {
                let n = rest.find(['\r', '\n']).unwrap_or(rest.len());
                self.pos += n;
            } else {
                return;
            }
        }
    }

    /// The next token and its byte span.
    pub(crate) fn next_token(&mut self) -> Result<(Tok, usize, usize), PatternError> {
        self.skip_trivia();
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok((Tok::Eof, start, start));
        };
        let rest = self.rest();
        let two = |s: &str| rest.starts_with(s);
        let (tok, len) = match c {
            '[' => (Tok::LBrack, 1),
            ']' => (Tok::RBrack, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ':' => (Tok::Colon, 1),
            ',' => (Tok::Comma, 1),
            '*' => (Tok::Star, 1),
            '=' if two("==") => (Tok::Op(CompareOp::Eq), 2),
            '=' => (Tok::Op(CompareOp::Eq), 1),
            '!' if two("!=") => (Tok::Op(CompareOp::Ne), 2),
            '<' if two("<>") => (Tok::Op(CompareOp::Ne), 2),
            '<' if two("<=") => (Tok::Op(CompareOp::Le), 2),
            '<' => (Tok::Op(CompareOp::Lt), 1),
            '>' if two(">=") => (Tok::Op(CompareOp::Ge), 2),
            '>' => (Tok::Op(CompareOp::Gt), 1),
            '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => (Tok::Dot, 1),
            '\'' => {
                let (s, len) = self.string_at(start)?;
                (Tok::Str(s), len)
            }
            '.' | '+' | '-' | '0'..='9' => return self.number(start),
            c if c.is_ascii_alphabetic() || c == '_' => return self.word(start),
            _ => {
                return err(
                    start,
                    ErrorKind::Unexpected {
                        expected: "a token".into(),
                        found: describe(self.src, start, start + c.len_utf8()),
                    },
                )
            }
        };
        self.pos += len;
        Ok((tok, start, self.pos))
    }

    /// A `'…'` string starting at `start`; returns the unescaped text and its length.
    fn string_at(&self, start: usize) -> Result<(String, usize), PatternError> {
        let body = &self.src[start + 1..];
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => return Ok((out, i + 2)),
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => out.push(e),
                    Some((_, e)) => {
                        return err(start + 1 + i, ErrorKind::InvalidEscape(format!("\\{e}")))
                    }
                    None => return err(start, ErrorKind::UnterminatedString),
                },
                c => out.push(c),
            }
        }
        err(start, ErrorKind::UnterminatedString)
    }

    fn number(&mut self, start: usize) -> Result<(Tok, usize, usize), PatternError> {
        let b = self.src.as_bytes();
        let mut i = start;
        let neg = b[i] == b'-';
        if b[i] == b'+' || b[i] == b'-' {
            i += 1;
        }
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = i - int_start;
        let is_float = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
        if is_float {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let text = &self.src[start..i];
            let value: f64 = text
                .parse()
                .or_else(|_| literal_err(start, "float", format!("{text:?} is not a number")))?;
            self.pos = i;
            return Ok((Tok::Float { value, neg }, start, i));
        }
        if int_digits == 0 {
            return err(
                start,
                ErrorKind::Unexpected {
                    expected: "a number".into(),
                    found: describe(self.src, start, start + 1),
                },
            );
        }
        if int_digits > 1 && b[int_start] == b'0' {
            return literal_err(start, "integer", "leading zeros are not allowed");
        }
        let text = &self.src[start..i];
        let value: i64 = text
            .parse()
            .or_else(|_| literal_err(start, "integer", format!("{text} is out of range")))?;
        self.pos = i;
        Ok((Tok::Int { value, neg }, start, i))
    }

    fn word(&mut self, start: usize) -> Result<(Tok, usize, usize), PatternError> {
        let b = self.src.as_bytes();
        let mut i = start;
        let mut hyphen = false;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
            hyphen |= b[i] == b'-';
            i += 1;
        }
        let word = &self.src[start..i];
        if i < b.len() && b[i] == b'\'' && matches!(word, "t" | "h" | "b") {
            return self.prefixed_literal(start, word);
        }
        self.pos = i;
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            _ => match KEYWORDS.iter().find(|(k, _)| *k == word) {
                Some((_, kw)) => Tok::Kw(*kw),
                None => Tok::Ident { hyphen },
            },
        };
        Ok((tok, start, i))
    }

    /// `t'…'`, `h'…'` or `b'…'` starting at `start`.
    fn prefixed_literal(
        &mut self,
        start: usize,
        prefix: &str,
    ) -> Result<(Tok, usize, usize), PatternError> {
        let body_start = start + 2;
        let what = match prefix {
            "t" => "timestamp",
            "h" => "hex",
            _ => "binary",
        };
        let Some(len) = self.src[body_start..].find('\'') else {
            return literal_err(start, what, "missing closing quote");
        };
        let body = &self.src[body_start..body_start + len];
        let end = body_start + len + 1;
        let tok = match prefix {
            "t" => match Timestamp::parse_detailed(body) {
                Ok(t) => Tok::Ts(t),
                Err(e @ TimestampError::NoSuchDay { .. }) => {
                    return literal_err(start, what, format!("{body:?}: {e}"))
                }
                Err(e) => return literal_err(start, what, format!("{body:?}: {e}")),
            },
            "h" => Tok::Hex(decode_hex(body).ok_or_else(|| {
                PatternError::new(
                    start,
                    ErrorKind::InvalidLiteral {
                        what,
                        reason: format!("{body:?} is not an even number of hex digits"),
                    },
                )
            })?),
            _ => Tok::Bin(decode_base64(body).ok_or_else(|| {
                PatternError::new(
                    start,
                    ErrorKind::InvalidLiteral {
                        what,
                        reason: format!("{body:?} is not padded base64"),
                    },
                )
            })?),
        };
        self.pos = end;
        Ok((tok, start, end))
    }
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let b = s.as_bytes();
    (0..b.len())
        .step_by(2)
        .map(|i| {
            let hi = (b[i] as char).to_digit(16)?;
            let lo = (b[i + 1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Strict padded base64 as the grammar has it: non-empty, groups of four, `=` only at the end.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (gi, group) in b.chunks(4).enumerate() {
        let last = gi == b.len() / 4 - 1;
        let pad = group.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &group[..4 - pad] {
            n = n << 6 | b64_value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Lenient base64 for property values (`*_bin`): padding optional.
pub(crate) fn decode_base64_lenient(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    let mut padded = trimmed.to_string();
    while padded.len() % 4 != 0 {
        padded.push('=');
    }
    if padded.is_empty() {
        return Some(Vec::new());
    }
    decode_base64(&padded)
}
