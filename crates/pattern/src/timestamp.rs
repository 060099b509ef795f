//! RFC 3339 timestamps in the strict STIX pattern form `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.

use std::fmt;

/// An instant with nanosecond precision, as seconds since the Unix epoch plus nanoseconds.
///
/// Ordering is chronological. Fractions finer than a nanosecond are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a timestamp did not parse (the text is known to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimestampError {
    /// The text does not have the `YYYY-MM-DDTHH:MM:SS[.f]Z` shape.
    Shape,
    /// The shape is right but a field is out of range (month 13, 25 o'clock, ...).
    Range(&'static str),
    /// Day does not exist in that month (30 February, 31 April, 29 February 2023).
    NoSuchDay { year: i64, month: u32, day: u32 },
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::Shape => f.write_str("not of the form YYYY-MM-DDTHH:MM:SS[.fraction]Z"),
            TimestampError::Range(field) => write!(f, "{field} out of range"),
            TimestampError::NoSuchDay { year, month, day } => {
                write!(f, "day {day} does not exist in {year:04}-{month:02}")
            }
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// Build from seconds since the Unix epoch and nanoseconds (`nanos` is clamped below 1e9).
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs,
            nanos: nanos.min(999_999_999),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Parse the strict STIX form: upper-case `T` and `Z`, seconds required,
    /// any number of fraction digits; the date must exist.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_detailed(s).ok()
    }

    pub(crate) fn parse_detailed(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError::Shape);
        }
        let digits = |r: std::ops::Range<usize>| -> Result<u32, TimestampError> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return Err(TimestampError::Shape);
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Ok(v)
        };
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(TimestampError::Shape);
        }
        let year = i64::from(digits(0..4)?);
        let month = digits(5..7)?;
        let day = digits(8..10)?;
        let hour = digits(11..13)?;
        let minute = digits(14..16)?;
        let second = digits(17..19)?;
        let rest = &b[19..];
        let nanos = match rest {
            [b'Z'] => 0,
            [b'.', frac @ .., b'Z'] if !frac.is_empty() => {
                let mut n = 0u32;
                for (i, &c) in frac.iter().enumerate() {
                    if !c.is_ascii_digit() {
                        return Err(TimestampError::Shape);
                    }
                    if i < 9 {
                        n = n * 10 + u32::from(c - b'0');
                    }
                }
                for _ in frac.len()..9 {
                    n *= 10;
                }
                n
            }
            _ => return Err(TimestampError::Shape),
        };
        if !(1..=12).contains(&month) {
            return Err(TimestampError::Range("month"));
        }
        if day == 0 || day > 31 {
            return Err(TimestampError::Range("day"));
        }
        if hour > 23 {
            return Err(TimestampError::Range("hour"));
        }
        if minute > 59 {
            return Err(TimestampError::Range("minute"));
        }
        if second > 60 {
            return Err(TimestampError::Range("second"));
        }
        if day > days_in_month(year, month) {
            return Err(TimestampError::NoSuchDay { year, month, day });
        }
        let days = days_from_civil(year, month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Ok(Timestamp { secs, nanos })
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with `Z`; the fraction is printed only when non-zero, without trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T12:00:00.5Z",
            "1965-07-19T22:41:38Z",
            "2010-05-21T13:21:43.123456789Z",
            "0001-01-01T00:00:00Z",
        ] {
            let t = Timestamp::parse(s).unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01Z")
                .unwrap()
                .unix_seconds(),
            1
        );
        assert!(
            Timestamp::parse("1999-12-31T23:59:59Z") < Timestamp::parse("2000-01-01T00:00:00Z")
        );
    }

    #[test]
    fn rejects_bad_forms() {
        for s in [
            "2024-02-30T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-13-01T12:00:00Z",
            "2024-01-15T12:30:45",
            "2024-01-15t12:30:45Z",
            "2024-01-15T12:30:45z",
            "2024-01-15T12:30Z",
            "2024-01-15T12:30:61Z",
            "2024-01-15T12:30:45.Z",
        ] {
            assert!(Timestamp::parse(s).is_none(), "{s}");
        }
    }
}
