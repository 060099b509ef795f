//! Recursive-descent parser with a nesting limit, plus the semantic checks.

use unicode_normalization::UnicodeNormalization;

use crate::ast::{
    CompareOp, Comparison, ComparisonExpr, Glob, Like, Literal, LiteralRegex, Matches, ObjectPath,
    ObservationExpr, PathStep, Qualifier, Test,
};
use crate::error::{ErrorKind, PatternError};
use crate::lexer::{describe, Kw, Lexer, Tok, KEYWORDS};
use crate::net::Cidr;

/// How strictly to parse.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Maximum nesting of brackets, parentheses and qualifier chains.
    pub max_depth: usize,
    /// Also apply the OASIS validator's policy checks that the grammar itself does not
    /// make: no duplicate qualifier type directly on one `[…]`, and hash values that
    /// fit the named algorithm (`file:hashes.MD5 = 'f00'` is rejected).
    pub strict: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_depth: 64,
            strict: true,
        }
    }
}

impl ParseOptions {
    /// The grammar and semantic checks only, as the OASIS matcher applies them.
    pub fn lenient() -> Self {
        ParseOptions {
            strict: false,
            ..ParseOptions::default()
        }
    }
}

pub(crate) fn is_reserved_word(s: &str) -> bool {
    s == "true" || s == "false" || KEYWORDS.iter().any(|(k, _)| *k == s)
}

const REGEX_SIZE_LIMIT: usize = 1 << 21;

pub(crate) struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    tok: Tok,
    start: usize,
    end: usize,
    depth: usize,
    opts: &'a ParseOptions,
}

type PResult<T> = Result<T, PatternError>;

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, opts: &'a ParseOptions) -> PResult<Self> {
        let mut lexer = Lexer::new(src);
        let (tok, start, end) = lexer.next_token()?;
        Ok(Parser {
            src,
            lexer,
            tok,
            start,
            end,
            depth: 0,
            opts,
        })
    }

    fn bump(&mut self) -> PResult<Tok> {
        let (tok, start, end) = self.lexer.next_token()?;
        self.start = start;
        self.end = end;
        Ok(std::mem::replace(&mut self.tok, tok))
    }

    fn unexpected<T>(&self, expected: &str) -> PResult<T> {
        Err(PatternError::new(
            self.start,
            ErrorKind::Unexpected {
                expected: expected.to_string(),
                found: describe(self.src, self.start, self.end),
            },
        ))
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> PResult<()> {
        if self.tok == tok {
            self.bump()?;
            Ok(())
        } else {
            self.unexpected(expected)
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(PatternError::new(
                self.start,
                ErrorKind::TooDeep(self.opts.max_depth),
            ));
        }
        Ok(())
    }

    pub(crate) fn pattern(&mut self) -> PResult<ObservationExpr> {
        let e = self.followed_by()?;
        if self.tok != Tok::Eof {
            return self.unexpected("end of input, AND, OR, FOLLOWEDBY, WITHIN, REPEATS or START");
        }
        Ok(e)
    }

    /// `item (KW item)*`: one item as is, several joined by `join`.
    fn joined<E>(
        &mut self,
        kw: Kw,
        item: fn(&mut Self) -> PResult<E>,
        join: fn(Vec<E>) -> E,
    ) -> PResult<E> {
        let mut items = vec![item(self)?];
        while self.tok == Tok::Kw(kw) {
            self.bump()?;
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn followed_by(&mut self) -> PResult<ObservationExpr> {
        self.joined(Kw::FollowedBy, Self::obs_or, ObservationExpr::FollowedBy)
    }

    fn obs_or(&mut self) -> PResult<ObservationExpr> {
        self.joined(Kw::Or, Self::obs_and, ObservationExpr::Or)
    }

    fn obs_and(&mut self) -> PResult<ObservationExpr> {
        self.joined(Kw::And, Self::obs_qualified, ObservationExpr::And)
    }

    fn obs_qualified(&mut self) -> PResult<ObservationExpr> {
        let mut expr = self.obs_atom()?;
        let simple = matches!(expr, ObservationExpr::Observation(_));
        let mut seen: Vec<&'static str> = Vec::new();
        let saved = self.depth;
        while let Tok::Kw(kw @ (Kw::Within | Kw::Repeats | Kw::Start)) = self.tok {
            let at = self.start;
            self.enter()?;
            let (name, q) = match kw {
                Kw::Within => ("WITHIN", self.within()?),
                Kw::Repeats => ("REPEATS", self.repeats()?),
                _ => ("START/STOP", self.start_stop()?),
            };
            if self.opts.strict && simple {
                if seen.contains(&name) {
                    return Err(PatternError::new(at, ErrorKind::DuplicateQualifier(name)));
                }
                seen.push(name);
            }
            expr = ObservationExpr::Qualified(Box::new(expr), q);
        }
        self.depth = saved;
        Ok(expr)
    }

    fn within(&mut self) -> PResult<Qualifier> {
        self.bump()?;
        let at = self.start;
        let secs = match self.tok {
            Tok::Int { value, neg: false } => value as f64,
            Tok::Float { value, neg: false } => value,
            _ => return self.unexpected("a positive integer or decimal number of seconds"),
        };
        if secs <= 0.0 || !secs.is_finite() {
            return Err(PatternError::new(at, ErrorKind::WithinNotPositive));
        }
        self.bump()?;
        self.expect(Tok::Kw(Kw::Seconds), "`SECONDS`")?;
        Ok(Qualifier::Within(secs))
    }

    fn repeats(&mut self) -> PResult<Qualifier> {
        self.bump()?;
        let at = self.start;
        let n = match self.tok {
            Tok::Int { value, neg: false } => value,
            _ => return self.unexpected("a positive integer"),
        };
        if n == 0 {
            return Err(PatternError::new(at, ErrorKind::RepeatsZero));
        }
        self.bump()?;
        self.expect(Tok::Kw(Kw::Times), "`TIMES`")?;
        Ok(Qualifier::Repeats(n as u64))
    }

    fn start_stop(&mut self) -> PResult<Qualifier> {
        let at = self.start;
        self.bump()?;
        let Tok::Ts(start) = self.tok else {
            return self.unexpected("a timestamp literal t'YYYY-MM-DDTHH:MM:SSZ'");
        };
        self.bump()?;
        self.expect(Tok::Kw(Kw::Stop), "`STOP`")?;
        let Tok::Ts(stop) = self.tok else {
            return self.unexpected("a timestamp literal t'YYYY-MM-DDTHH:MM:SSZ'");
        };
        self.bump()?;
        if start > stop {
            return Err(PatternError::new(
                at,
                ErrorKind::StartAfterStop {
                    start: start.to_string(),
                    stop: stop.to_string(),
                },
            ));
        }
        Ok(Qualifier::StartStop(start, stop))
    }

    fn obs_atom(&mut self) -> PResult<ObservationExpr> {
        match self.tok {
            Tok::LBrack => {
                self.enter()?;
                self.bump()?;
                let c = self.cmp_or()?;
                self.expect(Tok::RBrack, "`]`, AND or OR")?;
                self.depth -= 1;
                Ok(ObservationExpr::Observation(c))
            }
            Tok::LParen => {
                self.enter()?;
                self.bump()?;
                let e = self.followed_by()?;
                self.expect(Tok::RParen, "`)`, AND, OR, FOLLOWEDBY or a qualifier")?;
                self.depth -= 1;
                Ok(ObservationExpr::Group(Box::new(e)))
            }
            _ => self.unexpected("`[` or `(`"),
        }
    }

    fn cmp_or(&mut self) -> PResult<ComparisonExpr> {
        self.joined(Kw::Or, Self::cmp_and, ComparisonExpr::Or)
    }

    fn cmp_and(&mut self) -> PResult<ComparisonExpr> {
        self.joined(Kw::And, Self::prop_test, ComparisonExpr::And)
    }

    fn prop_test(&mut self) -> PResult<ComparisonExpr> {
        match self.tok {
            Tok::LParen => {
                self.enter()?;
                self.bump()?;
                let c = self.cmp_or()?;
                self.expect(Tok::RParen, "`)`, AND or OR")?;
                self.depth -= 1;
                return Ok(ComparisonExpr::Group(Box::new(c)));
            }
            Tok::Kw(Kw::Not) | Tok::Kw(Kw::Exists) => {
                let negated = self.tok == Tok::Kw(Kw::Not);
                if negated {
                    self.bump()?;
                }
                self.expect(Tok::Kw(Kw::Exists), "`EXISTS`")?;
                let path = self.path()?;
                return Ok(ComparisonExpr::Test(Comparison {
                    path,
                    negated,
                    test: Test::Exists,
                }));
            }
            _ => {}
        }
        let path = self.path()?;
        let negated = self.tok == Tok::Kw(Kw::Not);
        if negated {
            self.bump()?;
        }
        let test = match self.tok.clone() {
            Tok::Op(op) => {
                self.bump()?;
                let at = self.start;
                if matches!(self.tok, Tok::Bool(_)) && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    return self.unexpected("an orderable literal (not a boolean)");
                }
                let lit = self.literal()?;
                if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    self.check_hash(&path, &lit, at)?;
                }
                Test::Compare(op, lit)
            }
            Tok::Kw(Kw::In) => {
                self.bump()?;
                Test::In(self.set(&path)?)
            }
            Tok::Kw(Kw::Like) => {
                self.bump()?;
                let (s, at) = self.string()?;
                Test::Like(compile_like(s, at)?)
            }
            Tok::Kw(Kw::Matches) => {
                self.bump()?;
                let (s, at) = self.string()?;
                Test::Matches(compile_matches(s, at)?)
            }
            Tok::Kw(kw @ (Kw::IsSubset | Kw::IsSuperset)) => {
                self.bump()?;
                let (s, at) = self.string()?;
                let cidr = Cidr::parse(&s)
                    .ok_or_else(|| PatternError::new(at, ErrorKind::InvalidCidr(s.clone())))?;
                if kw == Kw::IsSubset {
                    Test::IsSubset(cidr)
                } else {
                    Test::IsSuperset(cidr)
                }
            }
            _ => return self.unexpected("a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET)"),
        };
        Ok(ComparisonExpr::Test(Comparison {
            path,
            negated,
            test,
        }))
    }

    fn string(&mut self) -> PResult<(String, usize)> {
        let at = self.start;
        match self.tok.clone() {
            Tok::Str(s) => {
                self.bump()?;
                Ok((s, at + 1))
            }
            _ => self.unexpected("a string literal"),
        }
    }

    fn literal(&mut self) -> PResult<Literal> {
        let lit = match self.tok.clone() {
            Tok::Int { value, .. } => Literal::Int(value),
            Tok::Float { value, .. } => Literal::Float(value),
            Tok::Str(s) => Literal::Str(s),
            Tok::Bool(b) => Literal::Bool(b),
            Tok::Hex(h) => Literal::Hex(h),
            Tok::Bin(b) => Literal::Binary(b),
            Tok::Ts(t) => Literal::Timestamp(t),
            _ => return self.unexpected("a literal"),
        };
        self.bump()?;
        Ok(lit)
    }

    fn set(&mut self, path: &ObjectPath) -> PResult<Vec<Literal>> {
        self.expect(Tok::LParen, "`(`")?;
        let mut items = Vec::new();
        if self.tok == Tok::RParen {
            self.bump()?;
            return Ok(items);
        }
        loop {
            let at = self.start;
            let lit = self.literal()?;
            if let Some(first) = items.first() {
                let (a, b) = (Literal::kind(first), lit.kind());
                if a != b {
                    return Err(PatternError::new(
                        at,
                        ErrorKind::MixedSet { first: a, other: b },
                    ));
                }
            }
            self.check_hash(path, &lit, at)?;
            items.push(lit);
            match self.tok {
                Tok::Comma => {
                    self.bump()?;
                }
                Tok::RParen => {
                    self.bump()?;
                    return Ok(items);
                }
                _ => return self.unexpected("`,` or `)`"),
            }
        }
    }

    fn path(&mut self) -> PResult<ObjectPath> {
        let object_type = match self.tok {
            Tok::Ident { .. } => self.src[self.start..self.end].to_string(),
            _ => return self.unexpected("an object path (type:property)"),
        };
        self.bump()?;
        self.expect(Tok::Colon, "`:`")?;
        let mut steps = vec![PathStep::Key(self.key()?)];
        loop {
            match self.tok {
                Tok::Dot => {
                    self.bump()?;
                    steps.push(PathStep::Key(self.key()?));
                }
                Tok::LBrack => {
                    self.bump()?;
                    let step = match self.tok {
                        Tok::Int { value, .. } => PathStep::Index(value),
                        Tok::Star => PathStep::Any,
                        _ => return self.unexpected("a list index or `*`"),
                    };
                    self.bump()?;
                    self.expect(Tok::RBrack, "`]`")?;
                    steps.push(step);
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn key(&mut self) -> PResult<String> {
        let key = match &self.tok {
            Tok::Ident { hyphen: false } => self.src[self.start..self.end].to_string(),
            Tok::Str(s) => s.clone(),
            _ => {
                return self.unexpected(
                    "a property name (letters, digits, `_`; quote others: 'has-hyphen')",
                )
            }
        };
        self.bump()?;
        Ok(key)
    }

    fn check_hash(&self, path: &ObjectPath, lit: &Literal, at: usize) -> PResult<()> {
        if !self.opts.strict {
            return Ok(());
        }
        let Literal::Str(value) = lit else {
            return Ok(());
        };
        if !path
            .steps
            .iter()
            .any(|s| matches!(s, PathStep::Key(k) if k == "hashes"))
        {
            return Ok(());
        }
        let Some(PathStep::Key(algorithm)) = path.steps.last() else {
            return Ok(());
        };
        if hash_is_valid(algorithm, value) == Some(false) {
            return Err(PatternError::new(
                at,
                ErrorKind::InvalidHash {
                    algorithm: algorithm.clone(),
                    value: value.clone(),
                },
            ));
        }
        Ok(())
    }
}

/// Whether `value` can be a digest of `algorithm`; `None` for unknown algorithms.
fn hash_is_valid(algorithm: &str, value: &str) -> Option<bool> {
    let name: String = algorithm
        .to_ascii_uppercase()
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let hex_len = |lens: &[usize]| {
        lens.contains(&value.len()) && value.bytes().all(|c| c.is_ascii_hexdigit())
    };
    Some(match name.as_str() {
        "MD5" => hex_len(&[32]),
        "MD6" => hex_len(&[32, 40, 56, 64, 96, 128]),
        "RIPEMD160" | "SHA1" => hex_len(&[40]),
        "SHA224" | "SHA3224" => hex_len(&[56]),
        "SHA256" | "SHA3256" => hex_len(&[64]),
        "SHA384" | "SHA3384" => hex_len(&[96]),
        "SHA512" | "SHA3512" | "WHIRLPOOL" => hex_len(&[128]),
        "SSDEEP" => {
            (1..=128).contains(&value.len())
                && value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/+:.".contains(&c))
        }
        _ => return None,
    })
}

/// PCRE constructs the `regex` crate lacks, found by a scan that honours escapes.
fn unsupported_construct(re: &str) -> Option<&'static str> {
    let b = re.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'1'..=b'9') if !in_class => return Some("backreference \\N"),
                    Some(b'g') if !in_class => return Some("backreference \\g"),
                    Some(b'k') if !in_class => return Some("named backreference \\k"),
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class && b.get(i + 1) == Some(&b'?') => {
                let rest = &re[i + 2..];
                if rest.starts_with('=') {
                    return Some("lookahead (?=");
                }
                if rest.starts_with('!') {
                    return Some("negative lookahead (?!");
                }
                if rest.starts_with("<=") {
                    return Some("lookbehind (?<=");
                }
                if rest.starts_with("<!") {
                    return Some("negative lookbehind (?<!");
                }
                if rest.starts_with('>') {
                    return Some("atomic group (?>");
                }
                if rest.starts_with('(') {
                    return Some("conditional (?(");
                }
                if rest.starts_with("P=") {
                    return Some("named backreference (?P=");
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn flatten_regex_error(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| s.lines().map(str::trim).collect::<Vec<_>>().join(" "))
}

/// Python's `\Z` is the regex crate's `\z`.
fn translate_python(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The same regex for byte strings: each character below 256 stands for that byte
/// (latin-1, as the OASIS matcher does); `None` when a character is above 255 or the
/// regex needs Unicode.
fn bytes_regex(re: &str, prefix: &str) -> Option<regex::bytes::Regex> {
    let mut out = String::from(prefix);
    let mut escaped = false;
    for c in re.chars() {
        let code = c as u32;
        if code >= 256 {
            return None;
        }
        if c.is_ascii() {
            out.push(c);
            escaped = !escaped && c == '\\';
        } else {
            if escaped {
                out.pop();
            }
            out.push_str(&format!("\\x{code:02X}"));
            escaped = false;
        }
    }
    regex::bytes::RegexBuilder::new(&out)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .ok()
}

fn compile_matches(source: String, at: usize) -> PResult<Matches> {
    if let Some(construct) = unsupported_construct(&source) {
        return Err(PatternError::new(
            at,
            ErrorKind::UnsupportedRegex {
                pattern: source,
                construct,
            },
        ));
    }
    let translated = translate_python(&source);
    let normalized: String = translated.nfc().collect();
    let text = regex::RegexBuilder::new(&normalized)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            PatternError::new(
                at,
                ErrorKind::InvalidRegex {
                    pattern: source.clone(),
                    reason: flatten_regex_error(&e),
                },
            )
        })?;
    let bytes = bytes_regex(&translated, "");
    Ok(Matches {
        source,
        literal: LiteralRegex::new(&normalized),
        text,
        bytes,
    })
}

pub(crate) fn like_to_regex(like: &str) -> String {
    let mut re = String::from("(?s)^");
    for c in like.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    re
}

fn compile_like(source: String, at: usize) -> PResult<Like> {
    let normalized: String = source.nfc().collect();
    let text = regex::RegexBuilder::new(&like_to_regex(&normalized))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            PatternError::new(
                at,
                ErrorKind::InvalidRegex {
                    pattern: source.clone(),
                    reason: flatten_regex_error(&e),
                },
            )
        })?;
    let bytes = bytes_regex(&like_to_regex(&source), "");
    let glob = Glob::new(&normalized);
    Ok(Like {
        source,
        text,
        bytes,
        glob,
    })
}
