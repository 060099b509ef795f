//! RFC 3339 date-times, as far as CSAF needs them: validity and ordering.

/// An instant: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    pub seconds: i64,
    pub nanos: u32,
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Parse an RFC 3339 `date-time` (`2024-01-31T12:00:00.5+09:00`).
pub fn parse(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let month_days = [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut frac: u32 = 0;
        for (i, &c) in rest[1..=n].iter().enumerate() {
            if i < 9 {
                frac = frac * 10 + u32::from(c - b'0');
            }
        }
        for _ in n..9 {
            frac *= 10;
        }
        nanos = frac;
        rest = &rest[n + 1..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])?;
            let om = digits(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(Instant { seconds, nanos })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_and_orders_across_offsets() {
        let a = parse("2024-01-01T09:00:00+09:00").unwrap();
        let b = parse("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse("1970-01-01T00:00:00.5Z").unwrap().nanos, 500_000_000);
        assert!(parse("2024-02-30T00:00:00Z").is_none());
        assert!(parse("2024-01-01 00:00:00Z").is_none());
        assert!(parse("2024-01-01T00:00:00").is_none());
        assert!(parse("2023-03-01T00:00:00Z").unwrap() > parse("2023-02-28T23:59:59Z").unwrap());
    }
}
