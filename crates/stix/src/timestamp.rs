//! STIX timestamps: RFC 3339 in UTC (`Z`), kept as microseconds since the Unix epoch.
//!
//! STIX 2.1 §3.2 requires the `Z` designator and allows any number of fractional
//! digits; hinomi keeps microsecond precision, which is what TAXII servers compare.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Why a string is not a STIX timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 UTC timestamp ({0})")]
pub struct TimestampError(&'static str);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_micros() as i64)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`. Digits after the sixth fractional
    /// digit are accepted and truncated.
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError("too short"));
        }
        let num = |from: usize, len: usize| -> Result<i64, TimestampError> {
            let mut v = 0i64;
            for &c in &b[from..from + len] {
                if !c.is_ascii_digit() {
                    return Err(TimestampError("expected a digit"));
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Ok(v)
        };
        let year = num(0, 4)?;
        if b[4] != b'-' || b[7] != b'-' {
            return Err(TimestampError("expected '-' between date fields"));
        }
        let month = num(5, 2)?;
        let day = num(8, 2)?;
        if b[10] != b'T' && b[10] != b't' {
            return Err(TimestampError("expected 'T' between date and time"));
        }
        let hour = num(11, 2)?;
        if b[13] != b':' || b[16] != b':' {
            return Err(TimestampError("expected ':' between time fields"));
        }
        let minute = num(14, 2)?;
        let second = num(17, 2)?;
        if !(1..=12).contains(&month) {
            return Err(TimestampError("month out of range"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(TimestampError("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(TimestampError("time out of range"));
        }
        let mut i = 19;
        let mut micros = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 6 {
                    micros = micros * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(TimestampError("empty fraction"));
            }
            for _ in digits..6 {
                micros *= 10;
            }
        }
        if i + 1 != b.len() || (b[i] != b'Z' && b[i] != b'z') {
            return Err(TimestampError("must end with 'Z' (UTC)"));
        }
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59);
        Ok(Timestamp(secs * 1_000_000 + micros))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    /// Formats with exactly six fractional digits, e.g. `2026-11-25T22:24:45.000000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in [
            "1970-01-01T00:00:00.000000Z",
            "2016-04-06T20:03:48.000000Z",
            "2000-02-29T23:59:59.999999Z",
            "1969-12-31T23:59:59.500000Z",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn fraction_precision() {
        let a = Timestamp::parse("2016-04-06T20:03:48Z").unwrap();
        let b = Timestamp::parse("2016-04-06T20:03:48.000Z").unwrap();
        let c = Timestamp::parse("2016-04-06T20:03:48.1234567Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(c.0 - a.0, 123_456);
    }

    #[test]
    fn rejects() {
        for s in [
            "2016-04-06T20:03:48",
            "2016-04-06T20:03:48+00:00",
            "2016-02-30T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-04-06 20:03:48Z",
            "2016-04-06T20:03:48.Z",
            "garbage",
            "",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
    }
}
