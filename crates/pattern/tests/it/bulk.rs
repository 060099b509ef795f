//! The bulk matcher returns exactly what evaluating every pattern returns.

use hinomi_pattern::bulk::BulkMatcher;
use hinomi_pattern::{Observations, ParseOptions, Pattern};
use serde_json::{json, Value};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const DOMAINS: &[&str] = &["example.com", "evil.test", "a.evil.test", "good.org", "x.y"];
const IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.1.7",
    "192.168.1.1",
    "203.0.113.9",
    "2001:db8::1",
    "2001:db9::1",
];
const NETS: &[&str] = &[
    "10.0.0.0/8",
    "10.0.0.0/24",
    "192.168.0.0/16",
    "203.0.113.9",
    "2001:db8::/32",
    "0.0.0.0/0",
];
const PORTS: [u16; 3] = [80, 443, 8080];
const NAMES: &[&str] = &["a.exe", "b.dll", "report.pdf", "A.EXE", "x"];

fn gen_comparison(rng: &mut Lcg) -> String {
    match rng.below(14) {
        0 => format!("domain-name:value = '{}'", rng.pick(DOMAINS)),
        1 => format!(
            "domain-name:value IN ('{}', '{}')",
            rng.pick(DOMAINS),
            rng.pick(DOMAINS)
        ),
        2 => format!("domain-name:value LIKE '%{}'", &rng.pick(DOMAINS)[1..]),
        3 => format!(
            "domain-name:value MATCHES '{}'",
            rng.pick(&["^a\\\\.", "evil", "\\\\.org$", "^$"])
        ),
        4 => format!("ipv4-addr:value ISSUBSET '{}'", rng.pick(NETS)),
        5 => format!("ipv6-addr:value ISSUBSET '{}'", rng.pick(NETS)),
        6 => format!("ipv4-addr:value = '{}'", rng.pick(IPS)),
        7 => format!(
            "network-traffic:dst_ref.value ISSUBSET '{}'",
            rng.pick(NETS)
        ),
        8 => format!(
            "network-traffic:dst_port {} {}",
            rng.pick(&["=", "!=", "<", ">="]),
            rng.pick(&["80", "443", "443.0", "8080"])
        ),
        9 => format!("file:name {}= '{}'", rng.pick(&["", "!"]), rng.pick(NAMES)),
        10 => format!("file:size IN ({}, {})", rng.below(5), rng.below(5)),
        11 => format!("{}EXISTS file:hashes.MD5", rng.pick(&["", "NOT "])),
        12 => format!("file:name NOT LIKE '{}%'", rng.pick(&["a", "b", "r"])),
        _ => format!("url:value = 'http://{}/'", rng.pick(DOMAINS)),
    }
}

fn gen_observation_expr(rng: &mut Lcg) -> String {
    let mut cmp = gen_comparison(rng);
    if rng.below(3) == 0 {
        cmp = format!("{cmp} {} {}", rng.pick(&["AND", "OR"]), gen_comparison(rng));
    }
    let base = format!("[{cmp}]");
    match rng.below(8) {
        0 => format!("{base} AND [{}]", gen_comparison(rng)),
        1 => format!("{base} FOLLOWEDBY [{}]", gen_comparison(rng)),
        2 => format!("{base} REPEATS 2 TIMES"),
        3 => format!("({base} OR [{}]) WITHIN 30 SECONDS", gen_comparison(rng)),
        _ => base,
    }
}

fn gen_object(rng: &mut Lcg, key: usize) -> (Value, Option<Value>) {
    match rng.below(6) {
        0 => (
            json!({"type": "domain-name", "value": rng.pick(DOMAINS)}),
            None,
        ),
        1 => (
            json!({"type": "ipv4-addr", "value": rng.pick(&IPS[..4])}),
            None,
        ),
        2 => (
            json!({"type": "ipv6-addr", "value": rng.pick(&IPS[4..])}),
            None,
        ),
        3 => {
            let mut f = json!({"type": "file", "name": rng.pick(NAMES), "size": rng.below(5)});
            if rng.below(2) == 0 {
                f["hashes"] = json!({"MD5": "79054025255fb1a26e4bc422aef54eb4"});
            }
            (f, None)
        }
        4 => (
            json!({"type": "network-traffic", "dst_ref": format!("{key}r"), "dst_port": PORTS[rng.below(3)]}),
            Some(json!({"type": "ipv4-addr", "value": rng.pick(&IPS[..4])})),
        ),
        _ => (
            json!({"type": "url", "value": format!("http://{}/", rng.pick(DOMAINS))}),
            None,
        ),
    }
}

fn gen_observations(rng: &mut Lcg, n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut objects = serde_json::Map::new();
            for k in 0..1 + rng.below(3) {
                let (o, referenced) = gen_object(rng, k);
                if let Some(r) = referenced {
                    objects.insert(format!("{k}r"), r);
                }
                objects.insert(k.to_string(), o);
            }
            let t = format!("2024-01-01T00:{:02}:{:02}Z", i / 60, i % 60);
            json!({"type": "observed-data", "first_observed": t, "last_observed": t,
                   "number_observed": 1 + rng.below(2), "objects": objects})
        })
        .collect();
    Value::Array(items)
}

#[test]
fn bulk_equals_naive_on_random_indicators_with_add_and_remove() {
    let mut rng = Lcg(7);
    let mut matcher = BulkMatcher::new();
    let mut ids = Vec::new();
    for i in 0..400 {
        let text = gen_observation_expr(&mut rng);
        let p = Pattern::parse_with(&text, &ParseOptions::lenient())
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let id = format!("indicator--{i}");
        matcher.insert(id.clone(), p);
        ids.push(id);
    }
    let data = gen_observations(&mut rng, 60);
    let obs = Observations::from_value(&data).unwrap();

    let check = |matcher: &BulkMatcher| {
        let mut total = 0;
        let mut pruned = 0;
        for i in 0..obs.len() {
            let fast = matcher.match_observation(&obs, i);
            assert_eq!(
                fast,
                matcher.match_observation_naive(&obs, i),
                "observation {i}"
            );
            total += fast.len();
            pruned += matcher.len() - matcher.count_candidates(&obs, i);
        }
        let all = matcher.match_all(&obs);
        assert_eq!(all, matcher.match_all_naive(&obs));
        (total, pruned, all.len())
    };
    let (hits, pruned, all) = check(&matcher);
    // The workload is meaningful: things match, and the indexes skip most indicators.
    assert!(hits > 50, "{hits}");
    assert!(all > 100, "{all}");
    assert!(pruned > obs.len() * matcher.len() / 2, "{pruned}");

    for id in ids.iter().step_by(2) {
        assert!(matcher.remove(id));
    }
    assert!(!matcher.remove(&ids[0]));
    assert_eq!(matcher.len(), 200);
    let (hits_after, _, _) = check(&matcher);
    assert!(hits_after < hits);
    assert!(matcher
        .match_all(&obs)
        .iter()
        .all(|h| !ids.iter().step_by(2).any(|r| *r == h.indicator)));

    // Replacing an indicator re-indexes it.
    matcher.insert(
        ids[1].clone(),
        Pattern::parse("[domain-name:value = 'example.com']").unwrap(),
    );
    check(&matcher);
}

#[test]
fn hit_names_indicator_and_observation() {
    let mut m = BulkMatcher::new();
    m.insert(
        "i1",
        Pattern::parse("[ipv4-addr:value ISSUBSET '10.0.0.0/8']").unwrap(),
    );
    m.insert(
        "i2",
        Pattern::parse("[ipv4-addr:value = '10.1.2.3']").unwrap(),
    );
    m.insert(
        "i3",
        Pattern::parse("[domain-name:value MATCHES 'evil']").unwrap(),
    );
    let data = json!([
        {"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z",
         "objects": {"0": {"type": "domain-name", "value": "good.org"}}},
        {"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z",
         "objects": {"0": {"type": "ipv4-addr", "value": "10.1.2.3"}}}
    ]);
    let obs = Observations::from_value(&data).unwrap();
    assert!(m.match_observation(&obs, 0).is_empty());
    assert_eq!(m.count_candidates(&obs, 0), 0);
    let hits = m.match_observation(&obs, 1);
    let names: Vec<_> = hits
        .iter()
        .map(|h| (h.indicator.as_str(), h.observations.clone()))
        .collect();
    assert_eq!(names, vec![("i1", vec![1]), ("i2", vec![1])]);
}

#[test]
fn evaluation_errors_are_found_through_the_indexes() {
    use hinomi_pattern::bulk::Scratch;
    let mut m = BulkMatcher::new();
    let p = |t: &str| Pattern::parse(t).unwrap();
    m.insert("ts", p("[file:created = t'2024-01-01T00:00:00Z']"));
    m.insert(
        "ts-first",
        p("[file:created > t'2024-01-01T00:00:00Z' AND file:name = 'other']"),
    );
    m.insert(
        "name-first",
        p("[file:name = 'other' AND file:created > t'2024-01-01T00:00:00Z']"),
    );
    m.insert("plain", p("[file:name = 'a.exe']"));
    let data = vec![
        json!({"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
        "last_observed": "2024-01-01T00:00:00Z", "number_observed": 1,
        "objects": {"0": {"type": "file", "name": "a.exe", "created": "yesterday"}}}),
    ];
    let set = Observations::from_json(&data).unwrap();
    let mut out = Vec::new();
    m.match_observation_with(&set, 0, &mut Scratch::new(), &mut out);
    let mut got: Vec<(&str, bool)> = out
        .iter()
        .map(|o| (o.indicator, o.result.is_ok()))
        .collect();
    got.sort();
    // `name-first` stops at its first conjunct, so it is neither a match nor an error.
    assert_eq!(got, [("plain", true), ("ts", false), ("ts-first", false)]);
}

/// The interval index of `ISSUBSET` and the literal-prefix index of `LIKE`/`MATCHES`
/// agree with evaluation at the edges: first/last address of a network and one past
/// it, nested networks, /0, /32, /128, IPv6, network-valued properties, regexes whose
/// prefix is not safe to index (alternation, quantifiers, classes, flags).
#[test]
fn interval_and_prefix_indexes_equal_evaluation_at_the_edges() {
    let nets = [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.0.0.0/24",
        "10.0.0.128/25",
        "10.0.0.255/32",
        "10.0.1.0/24",
        "10.255.255.255/32",
        "255.255.255.255/32",
        "255.0.0.0/8",
        "192.168.0.1/24",
        "::/0",
        "2001:db8::/32",
        "2001:db8::/128",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        "ffff::/16",
        "::ffff:10.0.0.0/104",
    ];
    let values = [
        "0.0.0.0",
        "9.255.255.255",
        "10.0.0.0",
        "10.0.0.127",
        "10.0.0.128",
        "10.0.0.255",
        "10.0.1.0",
        "10.0.1.255",
        "10.0.2.0",
        "10.255.255.255",
        "11.0.0.0",
        "255.255.255.255",
        "192.168.0.0",
        "192.168.0.255",
        "10.0.0.0/24",
        "10.0.0.0/23",
        "10.0.0.128/25",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "::",
        "2001:db8::",
        "2001:db8::1",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db9::",
        "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "ffff::1",
        "2001:db8::/48",
        "2001:db8::/31",
        "::ffff:10.1.2.3",
        "not an address",
        "10.0.0.0/33",
    ];
    let texts = [
        "host1.example.com",
        "host12.example.com",
        "host1",
        "h",
        "",
        "HOST1.example.com",
        "f12.exe",
        "f12.exe.txt",
        "f1.exe",
        "f.exe",
        "fé.exe",
        "fe\u{301}.exe",
        "ab",
        "abbbc",
        "ac",
        "xcd",
        "a.b",
        "a\nb",
        "%a",
        "100%",
    ];
    let text_tests = [
        "LIKE 'host1%'",
        "LIKE 'host1%.com'",
        "LIKE 'f12%.exe'",
        "LIKE 'f%.exe'",
        "LIKE '%.exe'",
        "LIKE '%.e%e'",
        "LIKE 'f_.exe'",
        "LIKE 'fé%'",
        "LIKE 'host1'",
        "LIKE ''",
        "LIKE '%'",
        "LIKE 'a%b'",
        "MATCHES '^host1[0-9]?\\\\.'",
        "MATCHES '^host1\\\\.'",
        "MATCHES '^HOST'",
        "MATCHES '(?i)^host'",
        "MATCHES '^ab*c'",
        "MATCHES '^ab+c'",
        "MATCHES '^ab?c'",
        "MATCHES '^ab{2}'",
        "MATCHES '^ab|cd'",
        "MATCHES '^a.b'",
        "MATCHES '^a\\\\.b'",
        "MATCHES '^\\\\d'",
        "MATCHES '^f\\\\d+\\\\.exe$'",
        "MATCHES '^fé'",
        "MATCHES '^%a'",
        "MATCHES '^$'",
        "MATCHES 'host'",
    ];
    let mut matcher = BulkMatcher::new();
    let mut ids = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        for t in ["ipv4-addr", "ipv6-addr"] {
            let id = format!("net-{t}-{i}");
            matcher.insert(
                id.clone(),
                Pattern::parse(&format!("[{t}:value ISSUBSET '{n}']")).unwrap(),
            );
            ids.push(id);
        }
    }
    for (i, t) in text_tests.iter().enumerate() {
        let id = format!("text-{i}");
        matcher.insert(
            id.clone(),
            Pattern::parse(&format!("[domain-name:value {t}]")).unwrap(),
        );
        ids.push(id);
    }
    let mut items = Vec::new();
    for v in values {
        for t in ["ipv4-addr", "ipv6-addr"] {
            items.push(json!({"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
                "last_observed": "2024-01-01T00:00:00Z", "objects": {"0": {"type": t, "value": v}}}));
        }
    }
    for v in texts {
        items.push(json!({"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
            "last_observed": "2024-01-01T00:00:00Z", "objects": {"0": {"type": "domain-name", "value": v}}}));
    }
    let data = Value::Array(items);
    let obs = Observations::from_value(&data).unwrap();
    let check = |matcher: &BulkMatcher| {
        let mut hits = 0;
        for i in 0..obs.len() {
            let fast = matcher.match_observation(&obs, i);
            assert_eq!(
                fast,
                matcher.match_observation_naive(&obs, i),
                "observation {i}: {}",
                data[i]
            );
            hits += fast.len();
        }
        hits
    };
    let before = check(&matcher);
    assert!(before > 150, "{before}");
    // Remove every third, then put some back: the lazily rebuilt indexes follow.
    for id in ids.iter().step_by(3) {
        assert!(matcher.remove(id));
    }
    let after = check(&matcher);
    assert!(after < before);
    for (i, id) in ids.iter().enumerate().step_by(6) {
        let p = if id.starts_with("net") {
            format!("[ipv4-addr:value ISSUBSET '{}']", nets[i % nets.len()])
        } else {
            format!("[domain-name:value {}]", text_tests[i % text_tests.len()])
        };
        matcher.insert(id.clone(), Pattern::parse(&p).unwrap());
    }
    check(&matcher);
}

/// Indicators found only by presence share the evaluation of their first conjunct
/// (the guard): results still equal evaluating each one, before and after removals.
#[test]
fn shared_guards_equal_evaluation() {
    let patterns = [
        "[domain-name:value NOT MATCHES '\\\\.com$' AND domain-name:value != 'x.org']",
        "[domain-name:value NOT MATCHES '\\\\.com$' AND domain-name:value != 'y.org']",
        "[domain-name:value NOT MATCHES '\\\\.com$']",
        "[(domain-name:value != 'a.com') AND domain-name:value NOT LIKE '%.net']",
        "[domain-name:value != 'a.com' OR ipv4-addr:value != '10.0.0.1']",
        "[network-traffic:dst_port NOT IN (80, 443) AND network-traffic:dst_port != 22]",
        "[network-traffic:dst_port NOT IN (80, 443) AND network-traffic:dst_port != 8080]",
        "[network-traffic:dst_port NOT IN (80, 443)] OR [domain-name:value != 'q']",
        "[network-traffic:dst_ref.value != '10.0.0.1' AND network-traffic:dst_port > 1]",
        "[NOT EXISTS domain-name:resolves_to_refs AND domain-name:value != 'a.com']",
        "[file:size != 3 AND file:created < t'2020-01-01T00:00:00Z']",
    ];
    let mut matcher = BulkMatcher::new();
    for (i, p) in patterns.iter().enumerate() {
        matcher.insert(format!("p{i}"), Pattern::parse(p).unwrap());
    }
    let mut items = Vec::new();
    for (d, port, ip) in [
        ("a.com", 80, "10.0.0.1"),
        ("x.org", 22, "10.0.0.2"),
        ("y.org", 8080, "10.0.0.1"),
        ("b.net", 443, "10.0.0.3"),
        ("q", 1, "10.0.0.1"),
    ] {
        items.push(
            json!({"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
            "last_observed": "2024-01-01T00:00:00Z", "objects": {
                "0": {"type": "domain-name", "value": d},
                "1": {"type": "ipv4-addr", "value": ip},
                "2": {"type": "network-traffic", "dst_ref": "1", "dst_port": port},
                "3": {"type": "file", "size": port, "created": d}}}),
        );
    }
    let data = Value::Array(items);
    let obs = Observations::from_value(&data).unwrap();
    let check = |m: &BulkMatcher| {
        let mut hits = 0;
        for i in 0..obs.len() {
            let fast = m.match_observation(&obs, i);
            assert_eq!(fast, m.match_observation_naive(&obs, i), "observation {i}");
            hits += fast.len();
        }
        assert_eq!(m.match_all(&obs), m.match_all_naive(&obs));
        hits
    };
    assert!(check(&matcher) > 10);
    for i in [0, 5] {
        assert!(matcher.remove(&format!("p{i}")));
    }
    check(&matcher);
    matcher.insert("p0", Pattern::parse(patterns[1]).unwrap());
    check(&matcher);
}

/// Range plans (`[p > n AND rest]` decided from the index: the comparison on the value
/// that hit, the shared rest on the same SCO) equal evaluation: every operator, integer
/// and float literals and values, integers beyond f64 precision, `[*]`, values that are
/// not numbers, the range and the rest held by different SCOs of one observation, rests
/// of another type, and removals of patterns sharing a rest.
#[test]
fn range_plans_equal_evaluation() {
    let ops = ["<", "<=", ">", ">="];
    let thresholds = ["3", "3.0", "2.5", "-1", "9007199254740993", "100"];
    let rests = [
        "",
        " AND file:name LIKE '%.exe'",
        " AND (file:name = 'a.exe' OR file:name = 'b.dll')",
        " AND file:name LIKE '%.exe' AND file:size != 4",
        " AND domain-name:value = 'x'",
        " AND file:hashes.MD5 LIKE 'aa'",
    ];
    let mut patterns = Vec::new();
    for op in ops {
        for t in thresholds {
            for rest in rests {
                patterns.push(format!("[file:size {op} {t}{rest}]"));
                patterns.push(format!("[file:sizes[*] {op} {t}{rest}]"));
            }
            patterns.push(format!("[file:name LIKE '%.exe' AND (file:size {op} {t})]"));
            patterns.push(format!("[file:size {op} {t} AND file:size {op} 4]"));
        }
    }
    let mut matcher = BulkMatcher::new();
    for (i, p) in patterns.iter().enumerate() {
        matcher.insert(format!("p{i}"), Pattern::parse(p).unwrap());
    }
    // Plans make these exact: only the range index decides. Not planned: the two rests
    // whose equality is the more selective anchor.
    assert_eq!(
        matcher.stats().exact,
        ops.len() * thresholds.len() * 10,
        "of {}",
        patterns.len()
    );
    let files = [
        json!({"type": "file", "name": "a.exe", "size": 3}),
        json!({"type": "file", "name": "b.dll", "size": 4, "hashes": {"MD5": "aa"}}),
        json!({"type": "file", "name": "c.exe", "size": 2.5}),
        json!({"type": "file", "name": "d.exe", "size": -1}),
        json!({"type": "file", "name": "e.exe", "size": 9007199254740992u64}),
        json!({"type": "file", "name": "f.exe", "size": 18446744073709551615u64}),
        json!({"type": "file", "name": "g.exe", "size": "5"}),
        json!({"type": "file", "name": "h.exe", "sizes": [1, 3.5, 200]}),
        json!({"type": "file", "name": "i.txt", "size": 150}),
        json!({"type": "file", "name": "j.exe"}),
        json!({"type": "domain-name", "value": "x", "size": 7}),
    ];
    let mut items = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for g in [None, Some(&files[(i * 7 + 3) % files.len()])] {
            let mut objects = serde_json::Map::new();
            objects.insert("0".into(), f.clone());
            if let Some(g) = g {
                objects.insert("1".into(), g.clone());
            }
            items.push(
                json!({"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
                "last_observed": "2024-01-01T00:00:00Z", "objects": objects}),
            );
        }
    }
    let data = Value::Array(items);
    let obs = Observations::from_value(&data).unwrap();
    let check = |m: &BulkMatcher| {
        let mut hits = 0;
        for i in 0..obs.len() {
            let fast = m.match_observation(&obs, i);
            assert_eq!(fast, m.match_observation_naive(&obs, i), "observation {i}");
            hits += fast.len();
        }
        assert_eq!(m.match_all(&obs), m.match_all_naive(&obs));
        hits
    };
    let before = check(&matcher);
    assert!(before > 100, "{before}");
    for i in (0..patterns.len()).step_by(3) {
        assert!(matcher.remove(&format!("p{i}")));
    }
    assert!(check(&matcher) < before);
    for i in (0..patterns.len()).step_by(3) {
        matcher.insert(format!("p{i}"), Pattern::parse(&patterns[i]).unwrap());
    }
    assert_eq!(check(&matcher), before);
}
