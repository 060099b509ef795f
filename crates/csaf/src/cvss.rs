//! CVSS v2.0, v3.0 and v3.1: vector parsing, the JSON property ↔ vector metric
//! table (test 6.1.10) and the score formulas of the FIRST specifications
//! (test 6.1.9, which also needs temporal and environmental scores). CVSS v4.0
//! base scores come from RustSec's `cvss` crate (which carries FIRST's
//! MacroVector tables); the same crate cross-checks our v3 base scores in the
//! tests.

/// A base score computed from a vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseScore {
    /// `"2.0"`, `"3.0"` or `"3.1"`.
    pub version: &'static str,
    pub base_score: f64,
    /// `NONE`/`LOW`/`MEDIUM`/`HIGH`/`CRITICAL` (v2: the NVD bands
    /// `LOW`/`MEDIUM`/`HIGH`).
    pub severity: &'static str,
}

/// Why a vector has no computed score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CvssError {
    /// Not a vector of any supported version, or a metric or value is
    /// unknown, duplicated or missing.
    #[error("{vector}: {message}")]
    Invalid { vector: String, message: String },
    /// A valid CVSS 4.0 vector that the scoring library could not score.
    #[error("CVSS 4.0 vector is valid but could not be scored")]
    V4NotComputed,
}

fn invalid(vector: &str, message: impl Into<String>) -> CvssError {
    CvssError::Invalid {
        vector: vector.into(),
        message: message.into(),
    }
}

fn check_metrics(
    vector: &str,
    metrics: &Metrics<'_>,
    table: PropTable,
    base: &[&str],
) -> Result<(), CvssError> {
    for (k, v) in metrics {
        let Some((_, _, codes)) = table.iter().find(|(_, m, _)| m == k) else {
            return Err(invalid(vector, format!("unknown metric {k}")));
        };
        if !codes.iter().any(|(c, _)| c == v) {
            return Err(invalid(vector, format!("{k}:{v} is not a valid value")));
        }
    }
    for b in base {
        if !metrics.iter().any(|(k, _)| k == b) {
            return Err(invalid(vector, format!("base metric {b} is missing")));
        }
    }
    Ok(())
}

/// The base score of a CVSS v2, v3.0, v3.1 or v4.0 vector (`CVSS:3.1/AV:N/…`,
/// a bare or parenthesized v2 vector): v2 and v3 by the FIRST formulas, v4.0
/// through RustSec's `cvss` crate.
pub fn base_score(vector: &str) -> Result<BaseScore, CvssError> {
    let (version, metrics) = parse_vector(vector)
        .ok_or_else(|| invalid(vector, "not a CVSS vector (metric:value/…, no duplicates)"))?;
    match version {
        Some(v @ ("3.0" | "3.1")) => {
            check_metrics(
                vector,
                &metrics,
                V3_PROPS,
                &["AV", "AC", "PR", "UI", "S", "C", "I", "A"],
            )?;
            let minor = if v == "3.0" { 0 } else { 1 };
            let s = score_v3(&metrics, minor).ok_or_else(|| invalid(vector, "cannot be scored"))?;
            Ok(BaseScore {
                version: if minor == 0 { "3.0" } else { "3.1" },
                base_score: s.base,
                severity: severity(s.base),
            })
        }
        Some("4.0") => {
            validate_v4(vector)?;
            let v: cvss::v4::Vector = vector.parse().map_err(|_| CvssError::V4NotComputed)?;
            let base = v.score().value();
            Ok(BaseScore {
                version: "4.0",
                base_score: base,
                severity: severity(base),
            })
        }
        Some(other) => Err(invalid(
            vector,
            format!("CVSS version {other} is not supported"),
        )),
        None => {
            check_metrics(
                vector,
                &metrics,
                V2_PROPS,
                &["AV", "AC", "Au", "C", "I", "A"],
            )?;
            let s = score_v2(&metrics).ok_or_else(|| invalid(vector, "cannot be scored"))?;
            let sev = if s.base < 4.0 {
                "LOW"
            } else if s.base < 7.0 {
                "MEDIUM"
            } else {
                "HIGH"
            };
            Ok(BaseScore {
                version: "2.0",
                base_score: s.base,
                severity: sev,
            })
        }
    }
}

const V4_METRICS: &[(&str, &[&str])] = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// Validate a CVSS v4.0 vector: prefix, known metrics and values in the
/// specification's order, no duplicates, all eleven base metrics.
pub fn validate_v4(vector: &str) -> Result<(), CvssError> {
    let rest = vector
        .strip_prefix("CVSS:4.0/")
        .ok_or_else(|| invalid(vector, "a CVSS 4.0 vector starts with CVSS:4.0/"))?;
    let mut next = 0;
    for part in rest.split('/') {
        let (k, v) = part
            .split_once(':')
            .ok_or_else(|| invalid(vector, format!("{part} is not metric:value")))?;
        let Some(pos) = V4_METRICS[next..].iter().position(|(m, _)| *m == k) else {
            return Err(if V4_METRICS.iter().any(|(m, _)| *m == k) {
                invalid(vector, format!("metric {k} is duplicated or out of order"))
            } else {
                invalid(vector, format!("unknown metric {k}"))
            });
        };
        let idx = next + pos;
        if idx >= 11 && next < 11 {
            return Err(invalid(
                vector,
                format!("base metric {} is missing", V4_METRICS[next].0),
            ));
        }
        if pos > 0 && idx < 11 {
            return Err(invalid(
                vector,
                format!("base metric {} is missing", V4_METRICS[next].0),
            ));
        }
        if !V4_METRICS[idx].1.contains(&v) {
            return Err(invalid(vector, format!("{k}:{v} is not a valid value")));
        }
        next = idx + 1;
    }
    if next < 11 {
        return Err(invalid(
            vector,
            format!("base metric {} is missing", V4_METRICS[next].0),
        ));
    }
    Ok(())
}

/// A CSAF `cvss_v2`/`cvss_v3`/`cvss_v4` object as a matching score: computed
/// from `vectorString` where we can, else the document's `baseScore`.
pub(crate) fn from_csaf(obj: &serde_json::Value) -> Option<crate::matching::Cvss> {
    let vector = obj
        .get("vectorString")
        .and_then(serde_json::Value::as_str)?;
    let doc_score = obj.get("baseScore").and_then(serde_json::Value::as_f64);
    let doc_sev = obj.get("baseSeverity").and_then(serde_json::Value::as_str);
    let doc_version = obj.get("version").and_then(serde_json::Value::as_str);
    let (version, base, sev) = match base_score(vector) {
        Ok(b) => (b.version.to_string(), b.base_score, b.severity.to_string()),
        Err(_) => {
            let base = doc_score?;
            let sev = doc_sev.map_or_else(|| severity(base).to_string(), String::from);
            (doc_version.unwrap_or("4.0").to_string(), base, sev)
        }
    };
    Some(crate::matching::Cvss {
        version,
        base_score: base,
        severity: sev,
        vector: vector.to_string(),
    })
}

/// A parsed vector: metric abbreviation → value code, in vector order.
pub(crate) type Metrics<'a> = Vec<(&'a str, &'a str)>;

/// `(JSON property, vector metric, [(code, JSON value)])`.
pub(crate) type PropTable = &'static [(
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
)];

const NLH: &[(&str, &str)] = &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")];
const XNLH: &[(&str, &str)] = &[
    ("X", "NOT_DEFINED"),
    ("N", "NONE"),
    ("L", "LOW"),
    ("H", "HIGH"),
];
const XLMH: &[(&str, &str)] = &[
    ("X", "NOT_DEFINED"),
    ("L", "LOW"),
    ("M", "MEDIUM"),
    ("H", "HIGH"),
];
const AV3: &[(&str, &str)] = &[
    ("X", "NOT_DEFINED"),
    ("N", "NETWORK"),
    ("A", "ADJACENT_NETWORK"),
    ("L", "LOCAL"),
    ("P", "PHYSICAL"),
];
const AC3: &[(&str, &str)] = &[("X", "NOT_DEFINED"), ("L", "LOW"), ("H", "HIGH")];
const UI3: &[(&str, &str)] = &[("X", "NOT_DEFINED"), ("N", "NONE"), ("R", "REQUIRED")];
const S3: &[(&str, &str)] = &[("X", "NOT_DEFINED"), ("U", "UNCHANGED"), ("C", "CHANGED")];

/// CVSS v3.x JSON properties and the vector metric each mirrors.
pub(crate) const V3_PROPS: PropTable = &[
    ("attackVector", "AV", AV3),
    ("attackComplexity", "AC", AC3),
    ("privilegesRequired", "PR", XNLH),
    ("userInteraction", "UI", UI3),
    ("scope", "S", S3),
    ("confidentialityImpact", "C", NLH),
    ("integrityImpact", "I", NLH),
    ("availabilityImpact", "A", NLH),
    (
        "exploitCodeMaturity",
        "E",
        &[
            ("X", "NOT_DEFINED"),
            ("U", "UNPROVEN"),
            ("P", "PROOF_OF_CONCEPT"),
            ("F", "FUNCTIONAL"),
            ("H", "HIGH"),
        ],
    ),
    (
        "remediationLevel",
        "RL",
        &[
            ("X", "NOT_DEFINED"),
            ("O", "OFFICIAL_FIX"),
            ("T", "TEMPORARY_FIX"),
            ("W", "WORKAROUND"),
            ("U", "UNAVAILABLE"),
        ],
    ),
    (
        "reportConfidence",
        "RC",
        &[
            ("X", "NOT_DEFINED"),
            ("U", "UNKNOWN"),
            ("R", "REASONABLE"),
            ("C", "CONFIRMED"),
        ],
    ),
    ("confidentialityRequirement", "CR", XLMH),
    ("integrityRequirement", "IR", XLMH),
    ("availabilityRequirement", "AR", XLMH),
    ("modifiedAttackVector", "MAV", AV3),
    ("modifiedAttackComplexity", "MAC", AC3),
    ("modifiedPrivilegesRequired", "MPR", XNLH),
    ("modifiedUserInteraction", "MUI", UI3),
    ("modifiedScope", "MS", S3),
    ("modifiedConfidentialityImpact", "MC", XNLH),
    ("modifiedIntegrityImpact", "MI", XNLH),
    ("modifiedAvailabilityImpact", "MA", XNLH),
];

const ND: (&str, &str) = ("ND", "NOT_DEFINED");
const LMH2: &[(&str, &str)] = &[("L", "LOW"), ("M", "MEDIUM"), ("H", "HIGH"), ND];
const NPC2: &[(&str, &str)] = &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")];

/// CVSS v2 JSON properties and the vector metric each mirrors.
pub(crate) const V2_PROPS: PropTable = &[
    (
        "accessVector",
        "AV",
        &[("L", "LOCAL"), ("A", "ADJACENT_NETWORK"), ("N", "NETWORK")],
    ),
    (
        "accessComplexity",
        "AC",
        &[("H", "HIGH"), ("M", "MEDIUM"), ("L", "LOW")],
    ),
    (
        "authentication",
        "Au",
        &[("M", "MULTIPLE"), ("S", "SINGLE"), ("N", "NONE")],
    ),
    ("confidentialityImpact", "C", NPC2),
    ("integrityImpact", "I", NPC2),
    ("availabilityImpact", "A", NPC2),
    (
        "exploitability",
        "E",
        &[
            ("U", "UNPROVEN"),
            ("POC", "PROOF_OF_CONCEPT"),
            ("F", "FUNCTIONAL"),
            ("H", "HIGH"),
            ND,
        ],
    ),
    (
        "remediationLevel",
        "RL",
        &[
            ("OF", "OFFICIAL_FIX"),
            ("TF", "TEMPORARY_FIX"),
            ("W", "WORKAROUND"),
            ("U", "UNAVAILABLE"),
            ND,
        ],
    ),
    (
        "reportConfidence",
        "RC",
        &[
            ("UC", "UNCONFIRMED"),
            ("UR", "UNCORROBORATED"),
            ("C", "CONFIRMED"),
            ND,
        ],
    ),
    (
        "collateralDamagePotential",
        "CDP",
        &[
            ("N", "NONE"),
            ("L", "LOW"),
            ("LM", "LOW_MEDIUM"),
            ("MH", "MEDIUM_HIGH"),
            ("H", "HIGH"),
            ND,
        ],
    ),
    (
        "targetDistribution",
        "TD",
        &[
            ("N", "NONE"),
            ("L", "LOW"),
            ("M", "MEDIUM"),
            ("H", "HIGH"),
            ND,
        ],
    ),
    ("confidentialityRequirement", "CR", LMH2),
    ("integrityRequirement", "IR", LMH2),
    ("availabilityRequirement", "AR", LMH2),
];

/// Split `CVSS:3.1/AV:N/...` (or a v2 vector, optionally in parentheses) into
/// its version prefix and metrics. Duplicate metrics are refused.
pub(crate) fn parse_vector(vector: &str) -> Option<(Option<&str>, Metrics<'_>)> {
    let v = vector.trim_start_matches('(').trim_end_matches(')');
    let mut parts = v.split('/');
    let mut version = None;
    let mut metrics: Metrics<'_> = Vec::new();
    if let Some(first) = v.strip_prefix("CVSS:") {
        version = first.split('/').next();
        parts.next();
    }
    for p in parts {
        let (k, val) = p.split_once(':')?;
        if metrics.iter().any(|(m, _)| *m == k) {
            return None;
        }
        metrics.push((k, val));
    }
    Some((version, metrics))
}

fn get<'a>(m: &Metrics<'a>, k: &str) -> Option<&'a str> {
    m.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
}

/// The value of metric `k`, with `X`/`ND`/absent meaning "not defined".
fn defined<'a>(m: &Metrics<'a>, k: &str) -> Option<&'a str> {
    get(m, k).filter(|v| *v != "X" && *v != "ND")
}

/// The severity band of a v3 score.
pub(crate) fn severity(score: f64) -> &'static str {
    if score == 0.0 {
        "NONE"
    } else if score < 4.0 {
        "LOW"
    } else if score < 7.0 {
        "MEDIUM"
    } else if score < 9.0 {
        "HIGH"
    } else {
        "CRITICAL"
    }
}

/// Scores computed from a vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scores {
    pub base: f64,
    pub temporal: f64,
    pub environmental: f64,
}

fn roundup_30(x: f64) -> f64 {
    (x * 10.0).ceil() / 10.0
}

fn roundup_31(x: f64) -> f64 {
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) as f64 + 1.0) / 10.0
    }
}

/// CVSS v3.0 or v3.1 scores of a vector (`minor` is 0 or 1).
pub(crate) fn score_v3(metrics: &Metrics<'_>, minor: u8) -> Option<Scores> {
    let roundup = if minor == 0 { roundup_30 } else { roundup_31 };
    let av = |c: &str| match c {
        "N" => Some(0.85_f64),
        "A" => Some(0.62),
        "L" => Some(0.55),
        "P" => Some(0.2),
        _ => None,
    };
    let ac = |c: &str| match c {
        "L" => Some(0.77_f64),
        "H" => Some(0.44),
        _ => None,
    };
    let pr = |c: &str, changed: bool| match c {
        "N" => Some(0.85_f64),
        "L" => Some(if changed { 0.68 } else { 0.62 }),
        "H" => Some(if changed { 0.5 } else { 0.27 }),
        _ => None,
    };
    let ui = |c: &str| match c {
        "N" => Some(0.85_f64),
        "R" => Some(0.62),
        _ => None,
    };
    let cia = |c: &str| match c {
        "H" => Some(0.56_f64),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let req = |c: Option<&str>| match c {
        None => Some(1.0_f64),
        Some("H") => Some(1.5),
        Some("M") => Some(1.0),
        Some("L") => Some(0.5),
        _ => None,
    };
    let b = |k: &str| get(metrics, k);
    let scope_changed = match b("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let (c, i, a) = (cia(b("C")?)?, cia(b("I")?)?, cia(b("A")?)?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability =
        8.22 * av(b("AV")?)? * ac(b("AC")?)? * pr(b("PR")?, scope_changed)? * ui(b("UI")?)?;
    let base = if impact <= 0.0 {
        0.0
    } else if scope_changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    };
    let e = match defined(metrics, "E") {
        None | Some("H") => 1.0,
        Some("F") => 0.97,
        Some("P") => 0.94,
        Some("U") => 0.91,
        _ => return None,
    };
    let rl = match defined(metrics, "RL") {
        None | Some("U") => 1.0,
        Some("W") => 0.97,
        Some("T") => 0.96,
        Some("O") => 0.95,
        _ => return None,
    };
    let rc = match defined(metrics, "RC") {
        None | Some("C") => 1.0,
        Some("R") => 0.96,
        Some("U") => 0.92,
        _ => return None,
    };
    let temporal = roundup(base * e * rl * rc);

    // Environmental: modified metrics fall back to the base metrics.
    let m = |k: &str, base_key: &str| defined(metrics, k).or_else(|| get(metrics, base_key));
    let m_changed = match m("MS", "S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let (cr, ir, ar) = (
        req(defined(metrics, "CR"))?,
        req(defined(metrics, "IR"))?,
        req(defined(metrics, "AR"))?,
    );
    let (mc, mi, ma) = (
        cia(m("MC", "C")?)?,
        cia(m("MI", "I")?)?,
        cia(m("MA", "A")?)?,
    );
    let miss = (1.0 - (1.0 - cr * mc) * (1.0 - ir * mi) * (1.0 - ar * ma)).min(0.915);
    let m_impact = if m_changed {
        if minor == 0 {
            7.52 * (miss - 0.029) - 3.25 * (miss - 0.02).powi(15)
        } else {
            7.52 * (miss - 0.029) - 3.25 * (miss * 0.9731 - 0.02).powi(13)
        }
    } else {
        6.42 * miss
    };
    let m_exploitability = 8.22
        * av(m("MAV", "AV")?)?
        * ac(m("MAC", "AC")?)?
        * pr(m("MPR", "PR")?, m_changed)?
        * ui(m("MUI", "UI")?)?;
    let environmental = if m_impact <= 0.0 {
        0.0
    } else if m_changed {
        roundup(roundup((1.08 * (m_impact + m_exploitability)).min(10.0)) * e * rl * rc)
    } else {
        roundup(roundup((m_impact + m_exploitability).min(10.0)) * e * rl * rc)
    };
    Some(Scores {
        base,
        temporal,
        environmental,
    })
}

fn round1(x: f64) -> f64 {
    // Round half up at one decimal; the epsilon absorbs binary noise such as
    // 4.35 being stored as 4.3499999.
    ((x * 10.0) + 1e-9).round() / 10.0
}

/// CVSS v2 scores of a vector.
pub(crate) fn score_v2(metrics: &Metrics<'_>) -> Option<Scores> {
    let b = |k: &str| get(metrics, k);
    let av = match b("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match b("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match b("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |c: &str| match c {
        "N" => Some(0.0),
        "P" => Some(0.275),
        "C" => Some(0.660),
        _ => None,
    };
    let (c, i, a) = (cia(b("C")?)?, cia(b("I")?)?, cia(b("A")?)?);
    let exploitability = 20.0 * av * ac * au;
    let base_of = |impact: f64| {
        let f = if impact == 0.0 { 0.0 } else { 1.176 };
        round1(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f)
    };
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let base = base_of(impact);
    let e = match defined(metrics, "E") {
        None | Some("H") => 1.0,
        Some("U") => 0.85,
        Some("POC") => 0.9,
        Some("F") => 0.95,
        _ => return None,
    };
    let rl = match defined(metrics, "RL") {
        None | Some("U") => 1.0,
        Some("OF") => 0.87,
        Some("TF") => 0.90,
        Some("W") => 0.95,
        _ => return None,
    };
    let rc = match defined(metrics, "RC") {
        None | Some("C") => 1.0,
        Some("UC") => 0.90,
        Some("UR") => 0.95,
        _ => return None,
    };
    let temporal = round1(base * e * rl * rc);
    let req = |k: &str| match defined(metrics, k) {
        None | Some("M") => Some(1.0),
        Some("L") => Some(0.5),
        Some("H") => Some(1.51),
        _ => None,
    };
    let (cr, ir, ar) = (req("CR")?, req("IR")?, req("AR")?);
    let adjusted_impact =
        (10.41 * (1.0 - (1.0 - c * cr) * (1.0 - i * ir) * (1.0 - a * ar))).min(10.0);
    let adjusted_temporal = round1(base_of(adjusted_impact) * e * rl * rc);
    let cdp = match defined(metrics, "CDP") {
        None | Some("N") => 0.0,
        Some("L") => 0.1,
        Some("LM") => 0.3,
        Some("MH") => 0.4,
        Some("H") => 0.5,
        _ => return None,
    };
    let td = match defined(metrics, "TD") {
        None | Some("H") => 1.0,
        Some("N") => 0.0,
        Some("L") => 0.25,
        Some("M") => 0.75,
        _ => return None,
    };
    let environmental = round1((adjusted_temporal + (10.0 - adjusted_temporal) * cdp) * td);
    Some(Scores {
        base,
        temporal,
        environmental,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(vector: &str) -> Scores {
        let (version, m) = parse_vector(vector).unwrap();
        score_v3(&m, if version == Some("3.0") { 0 } else { 1 }).unwrap()
    }

    #[test]
    fn v31_reference_scores() {
        assert_eq!(v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").base, 9.8);
        assert_eq!(v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N").base, 6.1);
        assert_eq!(v3("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N").base, 5.5);
        let s = v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C");
        assert_eq!(s.temporal, 8.8);
        // Expected values from the FIRST calculator (as shipped in
        // @secvisogram/csaf-validator-lib).
        let env = "AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H/E:U/RL:O/RC:R/CR:H/IR:H/AR:H/MAV:L/MAC:H/MPR:H/MUI:R/MS:C/MC:H/MI:H/MA:H";
        let s = v3(&format!("CVSS:3.1/{env}"));
        assert_eq!((s.base, s.temporal, s.environmental), (9.0, 7.5, 6.1));
        let s = v3(&format!("CVSS:3.0/{env}"));
        assert_eq!((s.base, s.temporal, s.environmental), (9.0, 7.5, 6.0));
        let s =
            v3("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N/E:F/RL:W/RC:U/CR:L/MAV:A/MS:U/MC:H");
        assert_eq!((s.base, s.temporal, s.environmental), (6.4, 5.6, 4.3));
        assert_eq!(v3("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N").base, 0.0);
    }

    #[test]
    fn public_base_score_and_v4_validation() {
        let b = base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(
            (b.version, b.base_score, b.severity),
            ("3.1", 9.8, "CRITICAL")
        );
        let b = base_score("(AV:N/AC:L/Au:N/C:C/I:C/A:C)").unwrap();
        assert_eq!((b.version, b.base_score, b.severity), ("2.0", 10.0, "HIGH"));
        assert!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H").is_err());
        assert!(base_score("CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
        assert!(base_score("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let b = base_score(v4).unwrap();
        assert_eq!(
            (b.version, b.base_score, b.severity),
            ("4.0", 9.3, "CRITICAL")
        );
        let b =
            base_score("CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N").unwrap();
        assert!(b.base_score < 4.0, "{b:?}");
        assert!(validate_v4(&format!("{v4}/E:A/MSI:S/U:Amber")).is_ok());
        for bad in [
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
            "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:Q",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/XX:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/E:A",
        ] {
            assert!(validate_v4(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v2_reference_scores() {
        let (_, m) = parse_vector("AV:N/AC:L/Au:N/C:C/I:C/A:C").unwrap();
        assert_eq!(score_v2(&m).unwrap().base, 10.0);
        let (_, m) = parse_vector("AV:N/AC:M/Au:N/C:P/I:P/A:P/E:POC/RL:OF/RC:C").unwrap();
        let s = score_v2(&m).unwrap();
        assert_eq!((s.base, s.temporal), (6.8, 5.3));
        let (_, m) = parse_vector("AV:L/AC:H/Au:N/C:C/I:C/A:C/CDP:H/TD:H/CR:H/IR:H/AR:H").unwrap();
        let s = score_v2(&m).unwrap();
        assert_eq!((s.base, s.environmental), (6.2, 8.1));
        let (_, m) =
            parse_vector("AV:N/AC:L/Au:S/C:P/I:N/A:N/E:F/RL:TF/RC:UR/CDP:LM/TD:M/CR:L/IR:ND/AR:H")
                .unwrap();
        let s = score_v2(&m).unwrap();
        assert_eq!((s.base, s.temporal, s.environmental), (4.0, 3.2, 3.5));
    }
}
