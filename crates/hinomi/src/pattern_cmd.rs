//! `hinomi pattern check` and `hinomi match`: STIX patterns on the command line.
//!
//! stdout carries only results (JSON lines, or one STIX bundle); diagnostics about the
//! input (`FILE:LINE: …`) and progress go to stderr. Exit status: 0 when everything was
//! processed without error, 2 when some pattern, evaluation or input record was an
//! error (the rest is still processed), 1 when the run could not be done at all.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use hinomi_pattern::bulk::{BulkMatcher, BulkOutcome, Scratch};
use hinomi_pattern::{Observations, ParseOptions, Pattern, Timestamp};

#[derive(Subcommand)]
pub enum PatternCommand {
    /// Check STIX patterns read from stdin, one per line.
    ///
    /// Writes one JSON line per input line: {"valid": true} or
    /// {"valid": false, "error": "byte 13: expected …"} (byte offset into the pattern).
    /// Exit status 0 when every pattern is valid, 2 when any is not.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// Apply only the grammar and the semantic checks, not the OASIS validator's policy
    /// (duplicate qualifiers, hash formats): what stix2-matcher accepts.
    #[arg(long)]
    lenient: bool,
}

/// Output format of `hinomi match`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line per match or error.
    Json,
    /// One STIX 2.1 bundle of sightings (and the observed-data made from flat events);
    /// errors go to stderr as JSON lines.
    Stix,
}

#[derive(Args)]
pub struct MatchArgs {
    /// Indicators: a STIX bundle (or a JSON array), or JSON lines of indicator objects.
    #[arg(long, value_name = "FILE")]
    indicators: PathBuf,
    /// Observations: JSON lines of STIX bundles, observed-data, or flat events (Zeek,
    /// Suricata); or one pretty-printed bundle. `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    observations: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Also apply the OASIS validator's policy checks to indicator patterns (by default
    /// only grammar and semantic checks, as stix2-matcher).
    #[arg(long)]
    strict: bool,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Appended to `hinomi match --help`.
pub const MATCH_HELP: &str = "\
Each observed-data is matched on its own (streaming: memory does not grow with the
observation file). Patterns that need several observed-data (`[a] AND [b]`,
FOLLOWEDBY, REPEATS across records) match only within one observed-data's
number_observed.

Output (--format json), one line each:
  {\"indicator\": ID, \"observation\": ID, \"source\": \"FILE:LINE\",
   \"first_observed\": T, \"last_observed\": T, \"number_observed\": N}
  {\"error\": MESSAGE, \"indicator\": ID, \"source\": \"FILE:LINE\"}   pattern does not compile
  {\"error\": MESSAGE, \"indicator\": ID, \"observation\": ID, \"source\": …}   evaluation error
Indicators with a pattern_type other than stix are skipped (noted on stderr).

Flat events (a JSON object without a STIX \"type\") become one observed-data with:
  time        ts (Zeek: epoch seconds or RFC 3339) | timestamp (Suricata) | @timestamp
  ipv4-addr / ipv6-addr:value     id.orig_h | src_ip ; id.resp_h | dest_ip
  network-traffic:src_ref / dst_ref   those addresses
  network-traffic:src_port / dst_port id.orig_p | src_port ; id.resp_p | dest_port
  network-traffic:protocols[0]    proto (lower case), then Zeek service / Suricata app_proto
  domain-name:value   query (Zeek dns), host (Zeek http), server_name (Zeek ssl),
                      dns.rrname, dns.queries[*].rrname, http.hostname, tls.sni (Suricata)
  url:value           'http://' host uri (Zeek http); 'http://' http.hostname http.url
  network-traffic:extensions.'http-request-ext'.request_method / request_value /
                      request_header.'User-Agent'   method, uri, user_agent (and Suricata http.*)
  file:hashes.MD5 / 'SHA-1' / 'SHA-256'   md5, sha1, sha256 (Zeek files; Suricata fileinfo.*)
  file:name           filename | fileinfo.filename ;  file:mime_type  mime_type
A dotted field name is looked up as a key first (Zeek's \"id.orig_h\"), then as nested
objects (Suricata's \"dns\": {\"rrname\": …}). The observed-data id is derived from the
file name and line number (stable across runs).";

// ---------------------------------------------------------------------------
// pattern check

pub fn pattern(cmd: PatternCommand) -> Result<ExitCode> {
    match cmd {
        PatternCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let options = if args.lenient {
        ParseOptions::lenient()
    } else {
        ParseOptions::default()
    };
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut any_invalid = false;
    for (n, line) in stdin.split(b'\n').enumerate() {
        let line = line.context("reading stdin")?;
        let text =
            String::from_utf8(line).with_context(|| format!("stdin:{}: not UTF-8", n + 1))?;
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let result = match Pattern::parse_with(text, &options) {
            Ok(_) => json!({"valid": true}),
            Err(e) => {
                any_invalid = true;
                json!({"valid": false, "error": e.to_string()})
            }
        };
        writeln!(out, "{result}")?;
    }
    out.flush()?;
    Ok(if any_invalid {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------------------
// match

struct Sink {
    out: BufWriter<io::StdoutLock<'static>>,
    format: Format,
    errors: u64,
    matches: u64,
    sightings: HashMap<String, Sighting>,
    /// Observed-data made from flat events that matched, for the STIX bundle.
    synthesized: Vec<Value>,
}

struct Sighting {
    refs: Vec<String>,
    count: u64,
    first: Timestamp,
    last: Timestamp,
}

impl Sink {
    fn error(&mut self, record: Value) -> Result<()> {
        self.errors += 1;
        match self.format {
            Format::Json => writeln!(self.out, "{record}")?,
            Format::Stix => eprintln!("{record}"),
        }
        Ok(())
    }
}

fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

pub fn run_match(args: MatchArgs) -> Result<ExitCode> {
    let options = if args.strict {
        ParseOptions::default()
    } else {
        ParseOptions::lenient()
    };
    let mut sink = Sink {
        out: BufWriter::new(io::stdout().lock()),
        format: args.format,
        errors: 0,
        matches: 0,
        sightings: HashMap::new(),
        synthesized: Vec::new(),
    };
    let started = Instant::now();
    let matcher = load_indicators(&args.indicators, &options, &mut sink)?;
    if !args.quiet && started.elapsed() > Duration::from_secs(1) {
        eprintln!(
            "hinomi match: {} indicators compiled in {:.1}s",
            matcher.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let stats = match_stream(&args, &matcher, &mut sink)?;
    if args.format == Format::Stix {
        write_bundle(&mut sink)?;
    }
    sink.out.flush()?;
    if !args.quiet && stats.progress_shown {
        eprintln!(
            "hinomi match: done: {} observations, {} matches, {} errors in {:.1}s",
            stats.observations,
            sink.matches,
            sink.errors,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if sink.errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

fn input_error(sink: &mut Sink, file: &str, line: usize, message: impl std::fmt::Display) {
    sink.errors += 1;
    eprintln!("{file}:{line}: {message}");
}

/// Indicator objects with the line each came from.
fn indicator_records(path: &Path, sink: &mut Sink) -> Result<Vec<(usize, Value)>> {
    let file = display(path);
    let mut text = String::new();
    open(path)?
        .read_to_string(&mut text)
        .with_context(|| format!("reading {file}"))?;
    let first = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
    let Some((first_no, first_line)) = first else {
        return Ok(Vec::new());
    };
    let whole: Option<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            if serde_json::from_str::<Value>(first_line).is_err() {
                bail!(
                    "{file}:{}:{}: not a JSON document or JSON lines: {e}",
                    e.line(),
                    e.column()
                );
            }
            None
        }
    };
    let records = match whole {
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("bundle") => {
            match o.get("objects") {
                Some(Value::Array(items)) => items.iter().cloned().map(|v| (0, v)).collect(),
                _ => bail!("{file}: bundle without an objects array"),
            }
        }
        Some(Value::Array(items)) => items.into_iter().map(|v| (0, v)).collect(),
        Some(v) => vec![(first_no + 1, v)],
        None => {
            let mut out = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(v) => out.push((n + 1, v)),
                    Err(e) => input_error(sink, &file, n + 1, format!("not JSON: {e}")),
                }
            }
            out
        }
    };
    Ok(records)
}

fn load_indicators(path: &Path, options: &ParseOptions, sink: &mut Sink) -> Result<BulkMatcher> {
    let file = display(path);
    let in_lines = |line: usize| line > 0;
    let mut matcher = BulkMatcher::new();
    for (i, (line, v)) in indicator_records(path, sink)?.into_iter().enumerate() {
        let place = if in_lines(line) {
            format!("{file}:{line}")
        } else {
            format!("{file}: objects[{i}]")
        };
        let ty = v.get("type").and_then(Value::as_str);
        if ty != Some("indicator") {
            if in_lines(line) {
                input_error(
                    sink,
                    &file,
                    line,
                    format!("not an indicator (type {})", ty.unwrap_or("missing")),
                );
            }
            continue; // other objects of a bundle
        }
        let Some(id) = v.get("id").and_then(Value::as_str) else {
            sink.errors += 1;
            eprintln!("{place}: indicator without an id");
            continue;
        };
        match v.get("pattern_type").and_then(Value::as_str) {
            None | Some("stix") => {}
            Some(other) => {
                eprintln!("{place}: {id}: pattern_type {other:?} is not stix; skipped");
                continue;
            }
        }
        let Some(text) = v.get("pattern").and_then(Value::as_str) else {
            sink.error(
                json!({"error": "indicator without a pattern", "indicator": id, "source": place}),
            )?;
            continue;
        };
        match Pattern::parse_with(text, options) {
            Ok(p) => matcher.insert(id, p),
            Err(e) => sink.error(json!({
                "error": format!("pattern does not compile: {e}"),
                "indicator": id,
                "source": place,
            }))?,
        }
    }
    Ok(matcher)
}

struct StreamStats {
    observations: u64,
    progress_shown: bool,
}

fn match_stream(args: &MatchArgs, matcher: &BulkMatcher, sink: &mut Sink) -> Result<StreamStats> {
    let file = display(&args.observations);
    let mut reader = open(&args.observations)?;
    let mut stats = StreamStats {
        observations: 0,
        progress_shown: false,
    };
    let started = Instant::now();
    let mut last_report = started;
    let mut scratch = Scratch::new();
    let mut outcomes = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut first = true;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {file}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Value>(&buf);
        let (value, at) = match parsed {
            Ok(v) => (v, line_no),
            Err(e) if first && matches!(buf.trim_ascii_start().first(), Some(b'{' | b'[')) => {
                // One pretty-printed document.
                let start = line_no;
                reader
                    .read_to_end(&mut buf)
                    .with_context(|| format!("reading {file}"))?;
                match serde_json::from_slice::<Value>(&buf) {
                    Ok(v) => (v, start),
                    Err(e2) => {
                        let _ = e;
                        bail!(
                            "{file}:{}:{}: not JSON lines nor one JSON document: {e2}",
                            start - 1 + e2.line(),
                            e2.column()
                        );
                    }
                }
            }
            Err(e) => {
                input_error(sink, &file, line_no, format!("not JSON: {e}"));
                first = false;
                continue;
            }
        };
        first = false;
        let record = match to_observed(value, &file, at) {
            Ok(r) => r,
            Err(message) => {
                input_error(sink, &file, at, message);
                continue;
            }
        };
        let set = match Observations::from_value(&record.value) {
            Ok(s) => s,
            Err(e) => {
                input_error(sink, &file, at, e);
                continue;
            }
        };
        let source = format!("{file}:{at}");
        for i in 0..set.len() {
            outcomes.clear();
            matcher.match_observation_with(&set, i, &mut scratch, &mut outcomes);
            let Some(o) = set.get(i) else { continue };
            let obs_id = o
                .id()
                .map(str::to_string)
                .unwrap_or_else(|| derived_id("observed-data", &file, at, i));
            let mut matched = false;
            for BulkOutcome { indicator, result } in outcomes.drain(..) {
                match result {
                    Ok(()) => {
                        matched = true;
                        sink.matches += 1;
                        match sink.format {
                            Format::Json => writeln!(
                                sink.out,
                                "{}",
                                json!({
                                    "indicator": indicator,
                                    "observation": obs_id,
                                    "source": source,
                                    "first_observed": o.first_observed().to_string(),
                                    "last_observed": o.last_observed().to_string(),
                                    "number_observed": o.number_observed(),
                                })
                            )?,
                            Format::Stix => {
                                let s = sink.sightings.entry(indicator.to_string()).or_insert(
                                    Sighting {
                                        refs: Vec::new(),
                                        count: 0,
                                        first: o.first_observed(),
                                        last: o.last_observed(),
                                    },
                                );
                                s.refs.push(obs_id.clone());
                                s.count += o.number_observed();
                                s.first = s.first.min(o.first_observed());
                                s.last = s.last.max(o.last_observed());
                            }
                        }
                    }
                    Err(e) => sink.error(json!({
                        "error": format!("evaluation error: {e}"),
                        "indicator": indicator,
                        "observation": obs_id,
                        "source": source,
                    }))?,
                }
            }
            if matched && record.synthesized && sink.format == Format::Stix {
                let mut od = record.value.clone();
                if let Some(m) = od.as_object_mut() {
                    m.insert("id".into(), Value::String(obs_id.clone()));
                    let now = now_stix();
                    m.insert("created".into(), Value::String(now.clone()));
                    m.insert("modified".into(), Value::String(now));
                }
                sink.synthesized.push(od);
            }
            stats.observations += 1;
        }
        if !args.quiet && line_no.is_multiple_of(256) {
            let now = Instant::now();
            if now.duration_since(last_report) >= Duration::from_secs(2) {
                last_report = now;
                stats.progress_shown = true;
                let secs = now.duration_since(started).as_secs_f64();
                eprintln!(
                    "hinomi match: {file}:{line_no}: {} observations, {} matches, {} errors ({:.0} observations/s)",
                    stats.observations,
                    sink.matches,
                    sink.errors,
                    stats.observations as f64 / secs.max(1e-9)
                );
            }
        }
    }
    Ok(stats)
}

fn write_bundle(sink: &mut Sink) -> Result<()> {
    let now = now_stix();
    let mut objects: Vec<Value> = std::mem::take(&mut sink.synthesized);
    let mut sightings: Vec<(String, Sighting)> = sink.sightings.drain().collect();
    sightings.sort_by(|a, b| a.0.cmp(&b.0));
    for (indicator, s) in sightings {
        objects.push(json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": format!("sighting--{}", uuid::Uuid::new_v4()),
            "created": now,
            "modified": now,
            "sighting_of_ref": indicator,
            "observed_data_refs": s.refs,
            "count": s.count.min(999_999_999),
            "first_seen": s.first.to_string(),
            "last_seen": s.last.to_string(),
        }));
    }
    let bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    });
    writeln!(sink.out, "{bundle}")?;
    Ok(())
}

fn now_stix() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let base = Timestamp::from_unix(d.as_secs() as i64, 0).to_string();
    format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis())
}

/// A stable STIX id for a record without one: FNV-1a over file, line and position,
/// shaped as a version-8 UUID.
fn derived_id(kind: &str, file: &str, line: usize, index: usize) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in file
        .bytes()
        .chain(line.to_le_bytes())
        .chain(index.to_le_bytes())
    {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let mut bytes = h.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!("{kind}--{}", uuid::Uuid::from_bytes(bytes))
}

// ---------------------------------------------------------------------------
// Input records → observed-data

struct Record {
    /// A bundle, an observed-data or an array of them.
    value: Value,
    /// Made from a flat event (so the bundle output includes it).
    synthesized: bool,
}

fn to_observed(value: Value, file: &str, line: usize) -> Result<Record, String> {
    match &value {
        Value::Array(_) => Ok(Record {
            value,
            synthesized: false,
        }),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("bundle" | "observed-data") => Ok(Record {
                value,
                synthesized: false,
            }),
            Some(t)
                if o.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.contains("--")) =>
            {
                Err(format!(
                    "a STIX {t} object; expected a bundle, observed-data or a flat event"
                ))
            }
            _ => event_to_observed(o).map(|mut od| {
                od.insert(
                    "id".into(),
                    Value::String(derived_id("observed-data", file, line, 0)),
                );
                Record {
                    value: Value::Object(od),
                    synthesized: true,
                }
            }),
        },
        _ => Err("expected a JSON object or array".to_string()),
    }
}

/// A field by dotted name: as one key first (Zeek), then through nested objects.
fn field<'v>(event: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    if let Some(v) = event.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = event.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn text_field<'v>(event: &'v Map<String, Value>, names: &[&str]) -> Option<&'v str> {
    names
        .iter()
        .find_map(|n| field(event, n).and_then(Value::as_str))
        .filter(|s| !s.is_empty() && *s != "-")
}

fn port_field(event: &Map<String, Value>, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| field(event, n).and_then(Value::as_u64))
}

fn event_time(event: &Map<String, Value>) -> Result<Timestamp, String> {
    for name in ["ts", "timestamp", "@timestamp"] {
        match event.get(name) {
            Some(Value::Number(n)) => {
                let secs = n.as_f64().ok_or("ts is not a number")?;
                let whole = secs.floor();
                let nanos = ((secs - whole) * 1e9).round() as u32;
                return Ok(Timestamp::from_unix(whole as i64, nanos));
            }
            Some(Value::String(s)) => {
                return parse_any_time(s).ok_or_else(|| format!("{name}: {s:?} is not a timestamp"))
            }
            _ => {}
        }
    }
    Err("no time field (ts, timestamp or @timestamp)".to_string())
}

/// RFC 3339 with any offset (`+0000`, `+09:00`, `Z`), or with a space for `T`.
fn parse_any_time(s: &str) -> Option<Timestamp> {
    if let Some(t) = Timestamp::parse(s) {
        return Some(t);
    }
    let mut s = s.to_string();
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        s.replace_range(10..11, "T");
    }
    if s.len() < 19 {
        return None;
    }
    let tail_at = s[19..]
        .find(['Z', 'z', '+', '-'])
        .map(|i| i + 19)
        .unwrap_or(s.len());
    let (base, offset) = s.split_at(tail_at);
    let t = Timestamp::parse(&format!("{base}Z"))?;
    let off = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some(Timestamp::from_unix(
        t.unix_seconds() - off,
        t.subsec_nanos(),
    ))
}

fn address(value: &str) -> Value {
    let kind = if value.contains(':') {
        "ipv6-addr"
    } else {
        "ipv4-addr"
    };
    json!({"type": kind, "value": value})
}

/// The documented mapping of a flat event (see [`MATCH_HELP`]).
fn event_to_observed(e: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let time = event_time(e)?.to_string();
    let mut objects = Map::new();
    let add = |objects: &mut Map<String, Value>, v: Value| -> String {
        let key = objects.len().to_string();
        objects.insert(key.clone(), v);
        key
    };
    let src = text_field(e, &["id.orig_h", "src_ip"]).map(|a| add(&mut objects, address(a)));
    let dst = text_field(e, &["id.resp_h", "dest_ip"]).map(|a| add(&mut objects, address(a)));
    let mut traffic = Map::new();
    if let Some(s) = src {
        traffic.insert("src_ref".into(), Value::String(s));
    }
    if let Some(d) = dst {
        traffic.insert("dst_ref".into(), Value::String(d));
    }
    if let Some(p) = port_field(e, &["id.orig_p", "src_port"]) {
        traffic.insert("src_port".into(), json!(p));
    }
    if let Some(p) = port_field(e, &["id.resp_p", "dest_port"]) {
        traffic.insert("dst_port".into(), json!(p));
    }
    let mut protocols = Vec::new();
    for name in ["proto", "service", "app_proto"] {
        if let Some(p) = text_field(e, &[name]) {
            let p = p.to_ascii_lowercase();
            if !protocols.contains(&p) {
                protocols.push(p);
            }
        }
    }
    if !protocols.is_empty() {
        traffic.insert("protocols".into(), json!(protocols));
    }
    let method = text_field(e, &["method", "http.http_method"]);
    let uri = text_field(e, &["uri", "http.url"]);
    let agent = text_field(e, &["user_agent", "http.http_user_agent"]);
    if method.is_some() || uri.is_some() || agent.is_some() {
        let mut http = Map::new();
        if let Some(m) = method {
            http.insert("request_method".into(), json!(m));
        }
        if let Some(u) = uri {
            http.insert("request_value".into(), json!(u));
        }
        if let Some(a) = agent {
            http.insert("request_header".into(), json!({"User-Agent": a}));
        }
        traffic.insert("extensions".into(), json!({"http-request-ext": http}));
    }
    if !traffic.is_empty() {
        traffic.insert("type".into(), json!("network-traffic"));
        add(&mut objects, Value::Object(traffic));
    }

    let mut domains: Vec<&str> = Vec::new();
    for name in [
        "query",
        "host",
        "server_name",
        "dns.rrname",
        "http.hostname",
        "tls.sni",
    ] {
        if let Some(d) = text_field(e, &[name]) {
            domains.push(d);
        }
    }
    if let Some(Value::Array(qs)) = field(e, "dns.queries") {
        domains.extend(qs.iter().filter_map(|q| q.get("rrname")?.as_str()));
    }
    domains.sort_unstable();
    domains.dedup();
    for d in domains {
        add(&mut objects, json!({"type": "domain-name", "value": d}));
    }
    let host = text_field(e, &["host", "http.hostname"]);
    if let (Some(h), Some(u)) = (host, uri) {
        let url = if u.contains("://") {
            u.to_string()
        } else {
            format!("http://{h}{u}")
        };
        add(&mut objects, json!({"type": "url", "value": url}));
    }

    let mut hashes = Map::new();
    for (name, key) in [("md5", "MD5"), ("sha1", "SHA-1"), ("sha256", "SHA-256")] {
        if let Some(h) = text_field(e, &[name, &format!("fileinfo.{name}")]) {
            hashes.insert(key.into(), json!(h));
        }
    }
    let filename = text_field(e, &["filename", "fileinfo.filename"]);
    let mime = text_field(e, &["mime_type"]);
    if !hashes.is_empty() || filename.is_some() {
        let mut file = Map::new();
        file.insert("type".into(), json!("file"));
        if !hashes.is_empty() {
            file.insert("hashes".into(), Value::Object(hashes));
        }
        if let Some(n) = filename {
            file.insert("name".into(), json!(n));
        }
        if let Some(m) = mime {
            file.insert("mime_type".into(), json!(m));
        }
        add(&mut objects, Value::Object(file));
    }
    if objects.is_empty() {
        return Err("flat event with no field the mapping knows (see --help)".to_string());
    }
    let mut od = Map::new();
    od.insert("type".into(), json!("observed-data"));
    od.insert("spec_version".into(), json!("2.1"));
    od.insert("first_observed".into(), json!(time));
    od.insert("last_observed".into(), json!(time));
    od.insert("number_observed".into(), json!(1));
    od.insert("objects".into(), Value::Object(objects));
    Ok(od)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets() {
        let t = |s| parse_any_time(s).map(|t| t.to_string());
        assert_eq!(
            t("2024-01-01T09:00:00.5+0900").as_deref(),
            Some("2024-01-01T00:00:00.5Z")
        );
        assert_eq!(
            t("2024-01-01 00:00:00-01:30").as_deref(),
            Some("2024-01-01T01:30:00Z")
        );
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn derived_ids_are_stable_uuids() {
        let a = derived_id("observed-data", "x.jsonl", 3, 0);
        assert_eq!(a, derived_id("observed-data", "x.jsonl", 3, 0));
        assert_ne!(a, derived_id("observed-data", "x.jsonl", 4, 0));
        let u = uuid::Uuid::parse_str(a.trim_start_matches("observed-data--")).unwrap();
        assert_eq!(u.get_version_num(), 8);
    }
}
