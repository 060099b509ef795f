//! Parser: canonical output, error positions and messages, limits, robustness.

use hinomi_pattern::{ErrorKind, ParseOptions, Pattern};

/// `input` parses and prints as `canonical`; the canonical text parses to the same tree.
fn check(input: &str, canonical: &str) {
    let p = Pattern::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(p.to_string(), canonical, "{input}");
    assert_eq!(Pattern::parse(canonical).unwrap(), p, "{canonical}");
}

/// `input` fails at byte `offset` with a message containing `message`.
fn check_err(input: &str, offset: usize, message: &str) {
    let e = Pattern::parse(input).expect_err(input);
    let text = e.to_string();
    assert!(
        text.contains(message),
        "{input}: {text:?} lacks {message:?}"
    );
    assert_eq!(e.offset, offset, "{input}: {text}");
    assert!(!text.ends_with('.'), "{text}");
}

#[test]
fn canonical_forms() {
    for (input, canonical) in [
        ("[file:size = 1280]", "[file:size = 1280]"),
        ("[file:size==1280]", "[file:size = 1280]"),
        ("[file:size <> 1]", "[file:size != 1]"),
        ("[ file : size >= +5 ]", "[file:size >= 5]"),
        ("[x:f = -.5]", "[x:f = -0.5]"),
        ("[x:f < 7.0]", "[x:f < 7.0]"),
        ("[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
         "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"),
        ("[x:'has-hyphen'.a[0].b[*].c[-1] = 'it''s']", ""),
        ("[x:a = 'it\\'s \\\\ ok']", "[x:a = 'it\\'s \\\\ ok']"),
        ("[x:a = h'FFd8']", "[x:a = h'ffd8']"),
        ("[x:a = b'AQIDBA==']", "[x:a = b'AQIDBA==']"),
        ("[x:a = t'2018-03-22T12:11:14.100Z']", "[x:a = t'2018-03-22T12:11:14.1Z']"),
        ("[x:a IN ()]", "[x:a IN ()]"),
        ("[x:a NOT IN(1,2.5, -3)]", "[x:a NOT IN (1, 2.5, -3)]"),
        ("[x:a = true AND NOT EXISTS x:b OR EXISTS x:c]", "[x:a = true AND NOT EXISTS x:b OR EXISTS x:c]"),
        ("[(x:a = 1 OR x:b = 2) AND x:c LIKE 'a%_']", "[(x:a = 1 OR x:b = 2) AND x:c LIKE 'a%_']"),
        ("[x:ip ISSUBSET '10.1.2.3/8']", "[x:ip ISSUBSET '10.0.0.0/8']"),
        ("[x:ip NOT ISSUPERSET '2001:db8::1']", "[x:ip NOT ISSUPERSET '2001:db8::1/128']"),
        ("[x:a MATCHES '^a\\\\.b$']", "[x:a MATCHES '^a\\\\.b$']"),
        ("[a:b=1] AND [c:d=2] OR [e:f=3] FOLLOWEDBY [g:h=4]", "[a:b = 1] AND [c:d = 2] OR [e:f = 3] FOLLOWEDBY [g:h = 4]"),
        ("([a:b=1] OR [c:d=2]) WITHIN .5 SECONDS REPEATS 2 TIMES", "([a:b = 1] OR [c:d = 2]) WITHIN 0.5 SECONDS REPEATS 2 TIMES"),
        ("[a:b=1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z'", "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z'"),
        ("/* c */ [a:b=1] // trailing", "[a:b = 1]"),
        ("[a:b\u{3000}=\u{00a0}1]", "[a:b = 1]"),
        ("[x:'AND' = 1]", "[x:'AND' = 1]"),
    ] {
        if canonical.is_empty() {
            assert!(Pattern::parse(input).is_err(), "{input}");
        } else {
            check(input, canonical);
        }
    }
}

#[test]
fn errors_name_position_and_expectation() {
    for (input, offset, message) in [
        ("file:size = 1280", 0, "expected `[` or `(`, found `file`"),
        ("[file:size = ]", 13, "expected a literal, found `]`"),
        (
            "[file:hashes.MD5 = cead3f77f6cda6ec00f57d76c9a6879f]",
            19,
            "expected a literal",
        ),
        ("[file.size = 1280]", 5, "expected `:`, found `.`"),
        (
            "[file:name MATCHES /.*\\.dll/]",
            19,
            "expected a token, found `/`",
        ),
        (
            "[a:b = 1] WITHIN ]",
            17,
            "expected a positive integer or decimal number of seconds, found `]`",
        ),
        (
            "[a:b = 1] WITHIN 5 HOURS",
            19,
            "expected `SECONDS`, found `HOURS`",
        ),
        ("[a:b = 1] WITHIN -5 SECONDS", 17, "found `-5`"),
        ("[a:b ISSUBSET ]", 14, "expected a string literal"),
        ("[a:b =? 'x']", 6, "found `?`"),
        ("[a:b = 1] within 2 seconds", 10, "expected end of input"),
        (
            "[some-type:needs-quotes = 1]",
            11,
            "expected a property name",
        ),
        ("[a:b = 'x]", 7, "unterminated string literal"),
        (
            "[a:b = 'C:\\Windows']",
            10,
            "invalid escape sequence \"\\\\W\"",
        ),
        ("[a:b = 012]", 7, "leading zeros"),
        ("[a:b = 99999999999999999999]", 7, "out of range"),
        (
            "[a:b = t'2024-02-30T12:00:00Z']",
            7,
            "day 30 does not exist in 2024-02",
        ),
        ("[a:b = t'2024-13-01T12:00:00Z']", 7, "month out of range"),
        (
            "[a:b = t'2024-01-15T12:30:45']",
            7,
            "invalid timestamp literal",
        ),
        ("[a:b = h'abc']", 7, "invalid hex literal"),
        ("[a:b = b'====']", 7, "invalid binary literal"),
        (
            "[a:b ISSUBSET '10.0.0.0/33']",
            15,
            "\"10.0.0.0/33\" is not an IPv4 or IPv6 address or CIDR network",
        ),
        ("[a:b ISSUPERSET 'example.com']", 17, "not an IPv4 or IPv6"),
        (
            "[a:b MATCHES '(unclosed']",
            14,
            "invalid regular expression",
        ),
        (
            "[a:b MATCHES 'a(?=b)']",
            14,
            "unsupported regular expression construct lookahead",
        ),
        ("[a:b MATCHES '(a)\\\\1']", 14, "backreference"),
        (
            "[a:b = 1] REPEATS 0 TIMES",
            18,
            "REPEATS count must be at least 1",
        ),
        (
            "[a:b = 1] WITHIN 0 SECONDS",
            17,
            "WITHIN duration must be greater than zero",
        ),
        (
            "[a:b = 1] START t'2016-06-01T02:00:00Z' STOP t'2016-06-01T01:00:00Z'",
            10,
            "START 2016-06-01T02:00:00Z is after STOP 2016-06-01T01:00:00Z",
        ),
        (
            "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS",
            27,
            "duplicate WITHIN qualifier",
        ),
        (
            "[a:b IN (1, 'x')]",
            12,
            "IN set mixes number and string literals",
        ),
        (
            "[a:b IN (1, true)]",
            12,
            "IN set mixes number and boolean literals",
        ),
        (
            "[file:hashes.'SHA-256' = 'f00']",
            25,
            "\"f00\" is not a valid SHA-256 hash",
        ),
        (
            "[file:hashes.MD5 IN ('f00')]",
            21,
            "is not a valid MD5 hash",
        ),
        (
            "[a:b > true]",
            7,
            "expected an orderable literal (not a boolean)",
        ),
        ("[a:b = null]", 7, "expected a literal, found `null`"),
        ("[a:b = 1", 8, "found end of input"),
        ("", 0, "expected `[` or `(`, found end of input"),
        (
            "[a:b = 1] START t'1994-11-29T13:37:58Z'",
            39,
            "expected `STOP`",
        ),
    ] {
        check_err(input, offset, message);
    }
}

#[test]
fn lenient_mode_skips_only_the_validator_policy() {
    let lenient = ParseOptions::lenient();
    for input in [
        "[a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES",
        "[file:hashes.MD5 = 'f00']",
    ] {
        assert!(Pattern::parse(input).is_err(), "{input}");
        assert!(Pattern::parse_with(input, &lenient).is_ok(), "{input}");
    }
    // Parenthesised, the OASIS validator does not check duplicates either.
    assert!(Pattern::parse("([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS").is_ok());
    // Semantic errors stay errors.
    assert!(Pattern::parse_with("[a:b ISSUBSET 'x']", &lenient).is_err());
}

#[test]
fn nesting_is_limited_not_overflowing() {
    let deep = format!("{}[a:b = 1]{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        Pattern::parse(&deep).unwrap_err().kind,
        ErrorKind::TooDeep(64)
    );
    let deep_cmp = format!("[{}a:b = 1{}]", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        Pattern::parse(&deep_cmp).unwrap_err().kind,
        ErrorKind::TooDeep(64)
    );
    let quals = format!("([a:b = 1]){}", " WITHIN 1 SECONDS".repeat(1000));
    assert_eq!(
        Pattern::parse(&quals).unwrap_err().kind,
        ErrorKind::TooDeep(64)
    );
    // Exactly at the limit is fine.
    let ok = format!("{}[a:b = 1]{}", "(".repeat(63), ")".repeat(63));
    Pattern::parse(&ok).unwrap();
    // Long flat chains are not nesting.
    let chain = vec!["[a:b = 1]"; 50_000].join(" AND ");
    Pattern::parse(&chain).unwrap();
    let cmp_chain = format!("[{}]", vec!["a:b = 1"; 50_000].join(" OR "));
    Pattern::parse(&cmp_chain).unwrap();
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "[a:b = 1]",
    "[a:b = 1]",
    " AND ",
    " OR ",
    " WITHIN 5 SECONDS",
    " REPEATS 2 TIMES",
    "[",
    "]",
    "(",
    ")",
    "a:b",
    "x-y:'q'",
    ".",
    "[*]",
    "[0]",
    "[-1]",
    "=",
    "!=",
    "<",
    ">=",
    "IN",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "EXISTS",
    "NOT",
    "AND",
    "OR",
    "FOLLOWEDBY",
    "WITHIN",
    "REPEATS",
    "START",
    "STOP",
    "SECONDS",
    "TIMES",
    "1",
    "-2",
    ".5",
    "'s'",
    "'\\'",
    "'\\\\'",
    "h'0a'",
    "b'AA=='",
    "t'2020-01-01T00:00:00Z'",
    "true",
    ",",
    "'10.0.0.0/8'",
    "'a(b'",
    "'é'",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "\u{3000}",
    "'",
    "0",
    "99999999999999999999999",
    "t'",
    "h'",
    "b'",
];

fn gen_literal(rng: &mut Lcg) -> String {
    const LITS: &[&str] = &[
        "1",
        "-2",
        "0.5",
        "-.25",
        "'s'",
        "'it\\'s'",
        "'\\\\'",
        "h'0aFF'",
        "b'AQIDBA=='",
        "t'2020-01-01T00:00:00.5Z'",
        "'é ḍ̇'",
        "''",
    ];
    LITS[rng.below(LITS.len())].to_string()
}

fn gen_path(rng: &mut Lcg) -> String {
    const PATHS: &[&str] = &[
        "a:b",
        "x-y:'q r'",
        "file:hashes.'SHA-256'",
        "n:c[*].d_ref.e",
        "n:l[0]",
        "n:l[-1]",
        "o:'AND'",
    ];
    PATHS[rng.below(PATHS.len())].to_string()
}

fn gen_test(rng: &mut Lcg, depth: u32) -> String {
    let neg = if rng.below(4) == 0 { "NOT " } else { "" };
    match rng.below(if depth > 2 { 8 } else { 10 }) {
        0 => format!("{neg}EXISTS {}", gen_path(rng)),
        1 => format!(
            "{} {neg}IN ({}, {})",
            gen_path(rng),
            gen_literal(rng),
            gen_literal(rng)
        ),
        2 => format!("{} {neg}LIKE 'a%b_'", gen_path(rng)),
        3 => format!("{} {neg}MATCHES '^a\\\\.[0-9]+$'", gen_path(rng)),
        4 => format!("{} {neg}ISSUBSET '10.0.0.0/8'", gen_path(rng)),
        5 => format!("{} {neg}ISSUPERSET '::1'", gen_path(rng)),
        6 | 7 => {
            let ops = ["=", "!=", "<", "<=", ">", ">="];
            format!(
                "{} {neg}{} {}",
                gen_path(rng),
                ops[rng.below(6)],
                gen_literal(rng)
            )
        }
        8 => format!(
            "({} AND {})",
            gen_test(rng, depth + 1),
            gen_test(rng, depth + 1)
        ),
        _ => format!(
            "({} OR {})",
            gen_test(rng, depth + 1),
            gen_test(rng, depth + 1)
        ),
    }
}

fn gen_obs(rng: &mut Lcg, depth: u32) -> String {
    let base = match rng.below(if depth > 2 { 1 } else { 5 }) {
        0 => format!("[{}]", gen_test(rng, 0)),
        1 => format!(
            "({} AND {})",
            gen_obs(rng, depth + 1),
            gen_obs(rng, depth + 1)
        ),
        2 => format!(
            "({} OR {})",
            gen_obs(rng, depth + 1),
            gen_obs(rng, depth + 1)
        ),
        3 => format!(
            "{} FOLLOWEDBY {}",
            gen_obs(rng, depth + 1),
            gen_obs(rng, depth + 1)
        ),
        _ => format!("({})", gen_obs(rng, depth + 1)),
    };
    match rng.below(6) {
        0 => format!("{base} WITHIN {}.5 SECONDS", rng.below(100)),
        1 => format!("{base} REPEATS {} TIMES", 1 + rng.below(9)),
        2 => format!("{base} START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00.001Z'"),
        _ => base,
    }
}

#[test]
fn generated_patterns_round_trip() {
    let mut rng = Lcg(42);
    let mut valid = 0;
    for _ in 0..5_000 {
        let s = gen_obs(&mut rng, 0);
        match Pattern::parse_with(&s, &ParseOptions::lenient()) {
            Ok(p) => {
                valid += 1;
                let printed = p.to_string();
                let again = Pattern::parse_with(&printed, &ParseOptions::lenient())
                    .unwrap_or_else(|e| panic!("{s} -> {printed}: {e}"));
                assert_eq!(p, again, "{s}");
            }
            Err(e) => {
                // Only the deliberate semantic checks may reject generated text.
                assert!(matches!(e.kind, ErrorKind::MixedSet { .. }), "{s}: {e}");
            }
        }
    }
    assert!(valid > 3_000, "{valid}");
}

#[test]
fn arbitrary_input_never_panics_and_valid_output_round_trips() {
    let mut rng = Lcg(0x5eed);
    let mut parsed = 0;
    for _ in 0..30_000 {
        let n = 1 + rng.below(14);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(PIECES[rng.below(PIECES.len())]);
            if rng.below(2) == 0 {
                s.push(' ');
            }
        }
        if let Ok(p) = Pattern::parse(&s) {
            parsed += 1;
            let again =
                Pattern::parse(&p.to_string()).unwrap_or_else(|e| panic!("{s:?} -> {p}: {e}"));
            assert_eq!(p, again, "{s:?}");
        }
    }
    // Raw bytes, including invalid UTF-8 turned into replacement characters.
    for _ in 0..20_000 {
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let _ = Pattern::parse(&String::from_utf8_lossy(&bytes));
    }
    assert!(parsed > 0, "the generator never produced a valid pattern");
}

#[test]
fn ast_exposes_structure() {
    use hinomi_pattern::ast::{
        CompareOp, ComparisonExpr, Literal, ObservationExpr, PathStep, Test,
    };
    let p = Pattern::parse("[file:extensions.'x-ext' != 'x' ] REPEATS 2 TIMES").unwrap();
    let ObservationExpr::Qualified(inner, _) = p.root() else {
        panic!("{p:?}")
    };
    let ObservationExpr::Observation(ComparisonExpr::Test(c)) = inner.as_ref() else {
        panic!("{p:?}")
    };
    assert_eq!(c.path.object_type, "file");
    assert_eq!(
        c.path.steps,
        vec![
            PathStep::Key("extensions".into()),
            PathStep::Key("x-ext".into())
        ]
    );
    assert_eq!(
        c.test,
        Test::Compare(CompareOp::Ne, Literal::Str("x".into()))
    );
}

/// Grammar-aware mutation fuzzing of the parser (the crate's fuzz target; no nightly
/// `cargo fuzz` needed). Seeds are generated valid patterns; each case applies 1–4
/// mutations (delete / duplicate / swap a byte range, insert a grammar piece, wrap in up
/// to 200 levels of `(`, `[`, `NOT (`, splice two patterns, flip a byte) and parses the
/// result strictly and leniently: no panic, no stack overflow, and whatever parses must
/// print to text that parses back to an equal tree. Evaluation of what parses is run
/// against a small observed-data too (no panic; errors are fine).
///
/// Cases: `PATTERN_FUZZ_CASES` (default 100,000 in release, 20,000 in debug builds);
/// seed: `PATTERN_FUZZ_SEED`.
#[test]
fn fuzz_mutated_patterns() {
    let cases: usize = std::env::var("PATTERN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            20_000
        } else {
            100_000
        });
    let seed: u64 = std::env::var("PATTERN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xf022);
    let data = serde_json::json!([{
        "type": "observed-data", "first_observed": "2016-06-01T01:40:00Z",
        "last_observed": "2016-06-01T01:40:00Z", "number_observed": 3,
        "objects": {"0": {"type": "a", "b": 1, "l": ["10.1.2.3", "é"], "c": [{"d_ref": "1"}]},
                    "1": {"type": "x-y", "q r": "a.5", "e": "s"}}
    }]);
    let obs = hinomi_pattern::Observations::from_value(&data).unwrap();
    let mut rng = Lcg(seed);
    let mut corpus: Vec<String> = (0..64).map(|_| gen_obs(&mut rng, 0)).collect();
    let (mut parsed, mut deep) = (0usize, 0usize);
    for case in 0..cases {
        let mut s = corpus[rng.below(corpus.len())].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            let len = s.len().max(1);
            let a = rng.below(len);
            let b = (a + rng.below(16)).min(s.len());
            match rng.below(8) {
                0 => {
                    s.drain(a.min(s.len())..b);
                }
                1 => {
                    let piece = s[a.min(s.len())..b].to_vec();
                    let at = rng.below(s.len() + 1);
                    s.splice(at..at, piece);
                }
                2 | 3 => {
                    let at = rng.below(s.len() + 1);
                    let piece = PIECES[rng.below(PIECES.len())].as_bytes().to_vec();
                    s.splice(at..at, piece);
                }
                4 => {
                    let n = 1 + rng.below(200);
                    let (open, close) = match rng.below(3) {
                        0 => ("(", ")"),
                        1 => ("[", "]"),
                        _ => ("NOT (", ")"),
                    };
                    let mut w = open.repeat(n).into_bytes();
                    w.extend_from_slice(&s);
                    if rng.below(4) != 0 {
                        w.extend_from_slice(close.repeat(n).as_bytes());
                    }
                    s = w;
                    deep += 1;
                }
                5 => {
                    let other = &corpus[rng.below(corpus.len())];
                    let cut = rng.below(other.len() + 1);
                    let at = rng.below(s.len() + 1);
                    s.truncate(at);
                    s.extend_from_slice(&other.as_bytes()[cut..]);
                }
                6 if !s.is_empty() => {
                    let i = rng.below(s.len());
                    s[i] ^= 1 << rng.below(8);
                }
                _ => {
                    if b > a + 1 && b < s.len() {
                        s.swap(a, b);
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&s).into_owned();
        for opts in [ParseOptions::default(), ParseOptions::lenient()] {
            if let Ok(p) = Pattern::parse_with(&text, &opts) {
                parsed += 1;
                let printed = p.to_string();
                let again = Pattern::parse_with(&printed, &ParseOptions::lenient())
                    .unwrap_or_else(|e| panic!("case {case}: {text:?} -> {printed}: {e}"));
                assert_eq!(p, again, "case {case}: {text:?}");
                let _ = p.evaluate(&obs);
                // Valid mutants become seeds: the search walks away from the generator.
                if corpus.len() < 4096 && text.len() < 2000 {
                    corpus.push(text.clone());
                }
            }
        }
    }
    assert!(
        parsed > cases / 50,
        "only {parsed} of {cases} mutants parsed"
    );
    assert!(deep > 0);
}
