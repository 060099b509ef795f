//! CSAF document versions: integer versioning or semantic versioning 2.0.0.

use std::cmp::Ordering;

use regex::Regex;
use std::sync::OnceLock;

/// A parsed `/document/tracking/version` or revision-history `number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocVersion {
    Integer(u64),
    Semver {
        major: u64,
        minor: u64,
        patch: u64,
        pre: Option<String>,
        build: Option<String>,
    },
}

fn semver_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
        )
        .expect("semver regex")
    })
}

impl DocVersion {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        if s == "0"
            || (!s.starts_with('0') && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        {
            return s.parse().ok().map(Self::Integer);
        }
        let c = semver_re().captures(s)?;
        Some(Self::Semver {
            major: c[1].parse().ok()?,
            minor: c[2].parse().ok()?,
            patch: c[3].parse().ok()?,
            pre: c.get(4).map(|m| m.as_str().to_string()),
            build: c.get(5).map(|m| m.as_str().to_string()),
        })
    }

    pub(crate) fn major(&self) -> u64 {
        match self {
            Self::Integer(n) => *n,
            Self::Semver { major, .. } => *major,
        }
    }

    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, Self::Integer(_))
    }

    pub(crate) fn pre_release(&self) -> Option<&str> {
        match self {
            Self::Semver { pre, .. } => pre.as_deref(),
            Self::Integer(_) => None,
        }
    }

    /// Without build metadata and, if `drop_pre`, without pre-release.
    pub(crate) fn normalized(&self, drop_pre: bool) -> Self {
        match self.clone() {
            Self::Semver {
                major,
                minor,
                patch,
                pre,
                ..
            } => Self::Semver {
                major,
                minor,
                patch,
                pre: if drop_pre { None } else { pre },
                build: None,
            },
            v => v,
        }
    }

    fn triple(&self) -> (u64, u64, u64) {
        match self {
            Self::Integer(n) => (*n, 0, 0),
            Self::Semver {
                major,
                minor,
                patch,
                ..
            } => (*major, *minor, *patch),
        }
    }

    /// Precedence per SemVer 2.0.0 §11 (build metadata ignored); an integer
    /// version `n` ranks like `n.0.0`.
    pub(crate) fn precedence(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple()).then_with(|| {
            match (self.pre_release(), other.pre_release()) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            }
        })
    }
}

/// Semantic-versioning pre-release precedence (dot-separated; numeric fields compare
/// as numbers and sort before alphanumeric ones). Also used by `vers`.
pub(crate) fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut ia = a.split('.');
    let mut ib = b.split('.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DocVersion;
    use std::cmp::Ordering;

    #[test]
    fn parses_and_orders() {
        assert_eq!(DocVersion::parse("12"), Some(DocVersion::Integer(12)));
        assert!(DocVersion::parse("01").is_none());
        let v = |s| DocVersion::parse(s).unwrap();
        assert_eq!(v("1.0.0-alpha").precedence(&v("1.0.0")), Ordering::Less);
        assert_eq!(
            v("1.0.0-alpha.1").precedence(&v("1.0.0-alpha.beta")),
            Ordering::Less
        );
        assert_eq!(v("1.0.0+b1").precedence(&v("1.0.0")), Ordering::Equal);
        assert_eq!(v("2").precedence(&v("1.9.9")), Ordering::Greater);
    }
}
