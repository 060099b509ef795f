//! `hinomi pattern check` and `hinomi match`: STIX patterns on the command line.
//!
//! stdout carries only results (JSON lines, or one STIX bundle); diagnostics about the
//! input (`FILE:LINE: …`) and progress go to stderr. Exit status: 0 when everything was
//! processed without error, 2 when some pattern, evaluation or input record was an
//! error (the rest is still processed), 1 when the run could not be done at all.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use hinomi_pattern::bulk::{BulkMatcher, BulkOutcome, Candidate, Scratch};
use hinomi_pattern::stream::{StreamHit, StreamOptions, StreamState};
use hinomi_pattern::{Observations, ObservationsBuilder, ParseOptions, Pattern, Timestamp};

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
    /// How long an observation is held for patterns that bind several observations
    /// and have no top-level WITHIN (300s, 5m, 2h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_window)]
    window: Duration,
    /// Most observations held for one such pattern; past it the oldest are dropped
    /// (reported once per pattern).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_per_pattern: usize,
    /// Most observations held overall (one held for two patterns counts twice).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    max_held: usize,
    /// Most memory the records of held observations take, in MiB (estimated, each
    /// record once); past it the oldest are dropped.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    max_held_mib: usize,
    /// Match each observed-data on its own, as one observation set: patterns that bind
    /// several observed-data match only within one observed-data's number_observed,
    /// and no state is held across records.
    #[arg(long)]
    each: bool,
    /// Threads parsing and matching (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Appended to `hinomi match --help`.
pub const MATCH_HELP: &str = "\
Observations are matched as a stream, in input order, memory not growing with the
input. A pattern that binds several observed-data ([a] AND [b], FOLLOWEDBY,
REPEATS) matches across records: the observations that satisfy one of its [...]
are held, and a match is reported when the observation completing it arrives
(with every observation bound in \"observations\"). An observation is held for
its pattern's top-level WITHIN, or --window; out-of-order input older than that
is not matched with newer observations. Past --max-per-pattern or --max-held the
oldest held observations are dropped, with one error per pattern.

Output (--format json), one line each:
  {\"indicator\": ID, \"observation\": ID, \"source\": \"FILE:LINE\",
   \"first_observed\": T, \"last_observed\": T, \"number_observed\": N}
   (a match across records adds \"observations\": [ID, ...], the last being
   \"observation\"; the times and count cover them all)
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

    fn sighting(&mut self, indicator: &str, m: &Matched) {
        let s = self
            .sightings
            .entry(indicator.to_string())
            .or_insert(Sighting {
                refs: Vec::new(),
                count: 0,
                first: m.first,
                last: m.last,
            });
        s.refs.extend(m.refs.iter().cloned());
        s.count += m.count;
        s.first = s.first.min(m.first);
        s.last = s.last.max(m.last);
    }
}

fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// `300`, `300s`, `5m`, `2h`, `7d`.
fn parse_window(s: &str) -> Result<Duration, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d (300s, 5m, 2h, 7d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("the window must be longer than 0".to_string());
    }
    Ok(Duration::from_secs(secs))
}

pub fn run_match(args: MatchArgs) -> Result<ExitCode> {
    let options = if args.strict {
        ParseOptions::default()
    } else {
        ParseOptions::lenient()
    };
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
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
    if stats.stream.evicted > 0 && !args.quiet {
        eprintln!(
            "hinomi match: {} held observations were dropped for lack of room (--max-held {}, --max-held-mib {}, --max-per-pattern {}); matches with them were not looked for",
            stats.stream.evicted, args.max_held, args.max_held_mib, args.max_per_pattern
        );
    }
    Ok(if sink.errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn open(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin())));
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
    stream: hinomi_pattern::stream::StreamStats,
}

/// Lines handed to a worker: the input is read in chunks of about this many bytes.
const CHUNK_BYTES: usize = 256 << 10;

/// A run of input lines, numbered from `first_line`.
struct Chunk {
    seq: u64,
    first_line: usize,
    bytes: Vec<u8>,
}

/// A match, as written: the observations bound (the last is the one that completed
/// it) and their times.
struct Matched {
    refs: Vec<String>,
    first: Timestamp,
    last: Timestamp,
    count: u64,
}

/// An observation that patterns binding several observations may take part in, left
/// by a worker for the thread that holds the stream's state (in input order).
struct Pending {
    /// Where in the chunk's output its results go.
    out_at: usize,
    /// Observations of the chunk before it, not passed to the state, and the latest
    /// `first_observed` among them.
    before: u64,
    newest_before: Timestamp,
    record: Arc<Value>,
    index: usize,
    obs_id: String,
    source: String,
    candidates: Vec<Candidate>,
    /// Made from a flat event, and already in the chunk's synthesized list.
    synthesized: bool,
    listed: bool,
}

/// What a worker made of a chunk.
#[derive(Default)]
struct Done {
    seq: u64,
    /// JSON lines for stdout.
    out: Vec<u8>,
    /// Lines for stderr.
    diagnostics: String,
    errors: u64,
    matches: u64,
    observations: u64,
    /// For `--format stix`: (indicator, match).
    sightings: Vec<(String, Matched)>,
    synthesized: Vec<Value>,
    pending: Vec<Pending>,
    /// Observations after the last pending one, and their latest `first_observed`.
    after: u64,
    newest_after: Option<Timestamp>,
    /// The last line of the chunk.
    last_line: usize,
    /// A line that is not JSON but starts a JSON document: the input is one
    /// pretty-printed document (only looked at in the first chunk).
    whole_document: bool,
}

/// What every worker shares.
struct Work<'m> {
    matcher: &'m BulkMatcher,
    file: &'m str,
    format: Format,
    /// `--each`: no matching across records.
    each: bool,
}

fn match_line(
    work: &Work<'_>,
    value: Value,
    at: usize,
    builder: &mut ObservationsBuilder,
    scratch: &mut Scratch,
    done: &mut Done,
) -> Result<()> {
    let file = work.file;
    let record = match to_observed(value, file, at) {
        Ok(r) => r,
        Err(message) => {
            done.errors += 1;
            writeln!(done.diagnostics, "{file}:{at}: {message}").ok();
            return Ok(());
        }
    };
    let synthesized = record.synthesized;
    let value = Arc::new(record.value);
    let set = match builder.from_value(&value) {
        Ok(s) => s,
        Err(e) => {
            done.errors += 1;
            writeln!(done.diagnostics, "{file}:{at}: {e}").ok();
            return Ok(());
        }
    };
    let mut outcomes = Vec::new();
    let mut listed = false;
    for i in 0..set.len() {
        outcomes.clear();
        if work.each {
            work.matcher
                .match_observation_with(&set, i, scratch, &mut outcomes);
        } else {
            work.matcher
                .match_observation_stream(&set, i, scratch, &mut outcomes);
        }
        let Some(o) = set.get(i) else { continue };
        let obs_id = || {
            o.id()
                .map(str::to_string)
                .unwrap_or_else(|| derived_id("observed-data", file, at, i))
        };
        let mut matched = false;
        // The part of a match line after the indicator, the same for every indicator
        // this observation matches: made once.
        let mut tail: Vec<u8> = Vec::new();
        for BulkOutcome { indicator, result } in outcomes.drain(..) {
            match result {
                Ok(()) if work.format == Format::Json => {
                    matched = true;
                    done.matches += 1;
                    if tail.is_empty() {
                        let m = Matched {
                            refs: vec![obs_id()],
                            first: o.first_observed(),
                            last: o.last_observed(),
                            count: o.number_observed(),
                        };
                        match_tail(&mut tail, &m, file, at)?;
                    }
                    done.out.extend_from_slice(b"{\"indicator\":");
                    serde_json::to_writer(&mut done.out, indicator)?;
                    done.out.extend_from_slice(&tail);
                }
                Ok(()) => {
                    matched = true;
                    done.matches += 1;
                    let m = Matched {
                        refs: vec![obs_id()],
                        first: o.first_observed(),
                        last: o.last_observed(),
                        count: o.number_observed(),
                    };
                    done.sightings.push((indicator.to_string(), m));
                }
                Err(e) => {
                    done.errors += 1;
                    let record = json!({
                        "error": format!("evaluation error: {e}"),
                        "indicator": indicator,
                        "observation": obs_id(),
                        "source": format!("{file}:{at}"),
                    });
                    match work.format {
                        Format::Json => writeln!(done.out, "{record}")?,
                        Format::Stix => writeln!(done.diagnostics, "{record}").ok().unwrap_or(()),
                    }
                }
            }
        }
        if matched && synthesized && work.format == Format::Stix && !listed {
            listed = true;
            done.synthesized.push(stamped(&value, &obs_id()));
        }
        done.observations += 1;
        if scratch.several().is_empty() {
            done.after += 1;
            done.newest_after = Some(
                done.newest_after
                    .map_or(o.first_observed(), |t| t.max(o.first_observed())),
            );
        } else {
            done.pending.push(Pending {
                out_at: done.out.len(),
                before: std::mem::take(&mut done.after),
                newest_before: done.newest_after.take().unwrap_or(o.first_observed()),
                record: value.clone(),
                index: i,
                obs_id: obs_id(),
                source: format!("{file}:{at}"),
                candidates: scratch.several().to_vec(),
                synthesized,
                listed,
            });
        }
    }
    builder.recycle(set);
    Ok(())
}

/// A flat event's observed-data with its id and creation times, for the bundle.
fn stamped(value: &Value, id: &str) -> Value {
    let mut od = value.clone();
    if let Some(m) = od.as_object_mut() {
        m.insert("id".into(), Value::String(id.to_string()));
        let now = now_stix();
        m.insert("created".into(), Value::String(now.clone()));
        m.insert("modified".into(), Value::String(now));
    }
    od
}

fn write_match(
    out: &mut Vec<u8>,
    indicator: &str,
    m: &Matched,
    file: &str,
    at: usize,
) -> Result<()> {
    out.extend_from_slice(b"{\"indicator\":");
    serde_json::to_writer(&mut *out, indicator)?;
    match_tail(out, m, file, at)
}

/// A match line after `{"indicator": ID` (strings escaped by serde_json).
fn match_tail(out: &mut Vec<u8>, m: &Matched, file: &str, at: usize) -> Result<()> {
    let observation = m.refs.last().map(String::as_str).unwrap_or("");
    out.extend_from_slice(b",\"observation\":");
    serde_json::to_writer(&mut *out, observation)?;
    if m.refs.len() > 1 {
        out.extend_from_slice(b",\"observations\":");
        serde_json::to_writer(&mut *out, &m.refs)?;
    }
    out.extend_from_slice(b",\"source\":");
    serde_json::to_writer(&mut *out, &format!("{file}:{at}"))?;
    writeln!(
        out,
        ",\"first_observed\":\"{}\",\"last_observed\":\"{}\",\"number_observed\":{}}}",
        m.first, m.last, m.count
    )?;
    Ok(())
}

/// Parse and match one chunk's lines.
fn work_chunk(
    work: &Work<'_>,
    chunk: Chunk,
    first_chunk: bool,
    builder: &mut ObservationsBuilder,
    scratch: &mut Scratch,
) -> Result<Done> {
    let mut done = Done {
        seq: chunk.seq,
        ..Done::default()
    };
    let mut line_no = chunk.first_line;
    let mut seen_content = !first_chunk;
    for line in chunk.bytes.split(|&b| b == b'\n') {
        let at = line_no;
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => match_line(work, v, at, builder, scratch, &mut done)?,
            Err(_)
                if !seen_content
                    && matches!(line.trim_ascii_start().first(), Some(b'{' | b'[')) =>
            {
                done.whole_document = true;
                return Ok(done);
            }
            Err(e) => {
                done.errors += 1;
                writeln!(done.diagnostics, "{}:{at}: not JSON: {e}", work.file).ok();
            }
        }
        seen_content = true;
    }
    done.last_line = line_no.saturating_sub(1);
    Ok(done)
}

/// Apply the stream's state to a finished chunk, in input order, and write it out.
fn finish_chunk<'m>(
    work: &Work<'m>,
    state: &mut StreamState,
    mut done: Done,
    sink: &mut Sink,
    hits: &mut Vec<StreamHit<'m>>,
) -> Result<()> {
    sink.errors += done.errors;
    sink.matches += done.matches;
    if !done.diagnostics.is_empty() {
        let mut err = io::stderr().lock();
        err.write_all(done.diagnostics.as_bytes())?;
    }
    for (indicator, m) in done.sightings.drain(..) {
        sink.sighting(&indicator, &m);
    }
    sink.synthesized.append(&mut done.synthesized);
    let mut written = 0;
    for p in done.pending.drain(..) {
        sink.out.write_all(&done.out[written..p.out_at])?;
        written = p.out_at;
        state.note(p.before, p.newest_before);
        let set = match Observations::from_value(&p.record) {
            Ok(s) => s,
            Err(_) => continue, // converted once already
        };
        hits.clear();
        state.advance(work.matcher, &p.record, &set, p.index, &p.candidates, hits);
        let Some(o) = set.get(p.index) else { continue };
        let mut listed = p.listed;
        for h in hits.drain(..) {
            match h.result {
                Ok(earlier) => {
                    sink.matches += 1;
                    let mut refs: Vec<String> = earlier
                        .iter()
                        .filter_map(|e| e.id().map(str::to_string))
                        .collect();
                    refs.push(p.obs_id.clone());
                    let m = Matched {
                        refs,
                        first: earlier
                            .iter()
                            .map(|e| e.first_observed())
                            .fold(o.first_observed(), Timestamp::min),
                        last: earlier
                            .iter()
                            .map(|e| e.last_observed())
                            .fold(o.last_observed(), Timestamp::max),
                        count: earlier.iter().map(|e| e.number_observed()).sum::<u64>()
                            + o.number_observed(),
                    };
                    match work.format {
                        Format::Json => {
                            let mut line = Vec::new();
                            let (file, at) = p.source.rsplit_once(':').unwrap_or((&p.source, "0"));
                            write_match(&mut line, h.indicator, &m, file, at.parse().unwrap_or(0))?;
                            sink.out.write_all(&line)?;
                        }
                        Format::Stix => sink.sighting(h.indicator, &m),
                    }
                    if p.synthesized && work.format == Format::Stix && !listed {
                        listed = true;
                        sink.synthesized.push(stamped(&p.record, &p.obs_id));
                    }
                }
                Err(e) => sink.error(json!({
                    "error": format!("evaluation error: {e}"),
                    "indicator": h.indicator,
                    "observation": p.obs_id,
                    "source": p.source,
                }))?,
            }
        }
    }
    sink.out.write_all(&done.out[written..])?;
    if let Some(t) = done.newest_after {
        state.note(done.after, t);
    }
    Ok(())
}

fn match_stream(args: &MatchArgs, matcher: &BulkMatcher, sink: &mut Sink) -> Result<StreamStats> {
    let file = display(&args.observations);
    let mut reader = open(&args.observations)?;
    let mut state = StreamState::new(StreamOptions {
        default_window: args.window,
        max_per_pattern: args.max_per_pattern,
        max_held: args.max_held,
        max_bytes: args.max_held_mib.saturating_mul(1 << 20),
    });
    let work = Work {
        matcher,
        file: &file,
        format: args.format,
        each: args.each,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let mut stats = StreamStats {
        observations: 0,
        progress_shown: false,
        stream: Default::default(),
    };

    // The first chunk decides between JSON lines and one pretty-printed document.
    let mut first = read_chunk(&mut reader, 0, 1).with_context(|| format!("reading {file}"))?;
    let Some(chunk) = first.take() else {
        return Ok(stats);
    };
    let mut builder = ObservationsBuilder::new();
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    let (first_line, next_line) = (
        chunk.first_line,
        chunk.first_line + count_lines(&chunk.bytes),
    );
    let head = chunk.bytes.clone();
    let done = work_chunk(&work, chunk, true, &mut builder, &mut scratch)?;
    if done.whole_document {
        let mut bytes = head;
        reader
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {file}"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{file}:{}:{}: not JSON lines nor one JSON document: {e}",
                first_line - 1 + e.line(),
                e.column()
            )
        })?;
        let at = first_line + count_leading_blank_lines(&bytes);
        let mut done = Done::default();
        match_line(&work, value, at, &mut builder, &mut scratch, &mut done)?;
        stats.observations += done.observations;
        finish_chunk(&work, &mut state, done, sink, &mut hits)?;
        stats.stream = state.stats();
        return Ok(stats);
    }
    stats.observations += done.observations;
    finish_chunk(&work, &mut state, done, sink, &mut hits)?;

    let mut last_report = Instant::now();
    let mut report = |stats: &mut StreamStats, sink: &Sink, line: usize| {
        let now = Instant::now();
        if !args.quiet && now.duration_since(last_report) >= Duration::from_secs(2) {
            last_report = now;
            stats.progress_shown = true;
            let secs = now.duration_since(started).as_secs_f64();
            eprintln!(
                "hinomi match: {file}:{line}: {} observations, {} matches, {} errors ({:.0} observations/s)",
                stats.observations,
                sink.matches,
                sink.errors,
                stats.observations as f64 / secs.max(1e-9)
            );
        }
    };

    if threads == 1 {
        let mut seq = 1;
        let mut line = next_line;
        while let Some(chunk) =
            read_chunk(&mut reader, seq, line).with_context(|| format!("reading {file}"))?
        {
            seq += 1;
            line += count_lines(&chunk.bytes);
            let done = work_chunk(&work, chunk, false, &mut builder, &mut scratch)?;
            stats.observations += done.observations;
            finish_chunk(&work, &mut state, done, sink, &mut hits)?;
            report(&mut stats, sink, line);
        }
        stats.stream = state.stats();
        return Ok(stats);
    }

    // A reader, `threads` workers parsing and matching chunks, and this thread putting
    // their results back in input order through the stream's state.
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<Chunk>(threads * 2);
    // Each worker holds the receiver: when they have all stopped (on an error here the
    // results are no longer taken), the reader's next send fails and it stops too.
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<Result<Done>>(threads * 2);
    std::thread::scope(|scope| -> Result<()> {
        let reading = scope.spawn(move || -> Result<()> {
            let mut seq = 1;
            let mut line = next_line;
            while let Some(chunk) = read_chunk(&mut reader, seq, line)? {
                seq += 1;
                line += count_lines(&chunk.bytes);
                if chunk_tx.send(chunk).is_err() {
                    break;
                }
            }
            Ok(())
        });
        for _ in 0..threads {
            let (rx, tx, work) = (chunk_rx.clone(), done_tx.clone(), &work);
            scope.spawn(move || {
                let mut builder = ObservationsBuilder::new();
                let mut scratch = Scratch::new();
                loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok(chunk)) = next else { break };
                    let done = work_chunk(work, chunk, false, &mut builder, &mut scratch);
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(chunk_rx);
        let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 1;
        for done in done_rx {
            let done = done?;
            waiting.insert(done.seq, done);
            while let Some(done) = waiting.remove(&next) {
                next += 1;
                stats.observations += done.observations;
                let line = done.last_line;
                finish_chunk(&work, &mut state, done, sink, &mut hits)?;
                report(&mut stats, sink, line);
            }
        }
        match reading.join() {
            Ok(r) => r.with_context(|| format!("reading {file}")),
            Err(_) => bail!("the reader thread failed"),
        }
    })?;
    stats.stream = state.stats();
    Ok(stats)
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + usize::from(!bytes.ends_with(b"\n"))
}

fn count_leading_blank_lines(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .take_while(|l| l.iter().all(u8::is_ascii_whitespace))
        .count()
}

/// The next lines, about [`CHUNK_BYTES`] of them and always whole lines; `None` at the
/// end.
fn read_chunk(reader: &mut dyn BufRead, seq: u64, first_line: usize) -> io::Result<Option<Chunk>> {
    let mut bytes = Vec::with_capacity(CHUNK_BYTES + 4096);
    while bytes.len() < CHUNK_BYTES {
        let n = reader.read_until(b'\n', &mut bytes)?;
        if n == 0 {
            break;
        }
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.ends_with(b"\n") {
        bytes.pop();
    }
    Ok(Some(Chunk {
        seq,
        first_line,
        bytes,
    }))
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

/// Give the observed-data of a record that have no id one derived from the file,
/// line and position (so that matches name every observation they bind).
fn name_observations(value: &mut Value, file: &str, line: usize) {
    fn visit(v: &mut Value, file: &str, line: usize, n: &mut usize, top: bool) {
        let Some(m) = v.as_object_mut() else {
            if let (true, Value::Array(items)) = (top, v) {
                for item in items {
                    visit(item, file, line, n, false);
                }
            }
            return;
        };
        match m.get("type").and_then(Value::as_str) {
            Some("observed-data") => {
                if !m.contains_key("id") {
                    m.insert(
                        "id".into(),
                        Value::String(derived_id("observed-data", file, line, *n)),
                    );
                }
                *n += 1;
            }
            Some("bundle") => {
                if let Some(Value::Array(objects)) = m.get_mut("objects") {
                    for o in objects {
                        if o.get("type").and_then(Value::as_str) == Some("observed-data") {
                            visit(o, file, line, n, false);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    visit(value, file, line, &mut 0, true);
}

fn to_observed(mut value: Value, file: &str, line: usize) -> Result<Record, String> {
    name_observations(&mut value, file, line);
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
