//! IPv4/IPv6 networks for `ISSUBSET` / `ISSUPERSET`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network. A bare address is a /32 (or /128) network.
///
/// Host bits are accepted on input (`192.168.0.1/24`, as the OASIS tools do) and
/// masked away, so `192.168.0.1/24` and `192.168.0.0/24` are the same network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    v6: bool,
    /// Network address, masked, right-aligned (IPv4 uses the low 32 bits).
    bits: u128,
    prefix: u8,
}

impl Cidr {
    /// Parse `address` or `address/prefix`; `None` when either part is malformed
    /// or the prefix is longer than the address.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        if let Some(v4) = fast_v4(addr) {
            let prefix = prefix.unwrap_or(32);
            if prefix > 32 {
                return None;
            }
            return Some(Cidr::new(false, u128::from(v4), prefix));
        }
        if let Ok(v4) = addr.parse::<Ipv4Addr>() {
            let prefix = prefix.unwrap_or(32);
            if prefix > 32 {
                return None;
            }
            return Some(Cidr::new(false, u128::from(u32::from(v4)), prefix));
        }
        if let Ok(v6) = addr.parse::<Ipv6Addr>() {
            let prefix = prefix.unwrap_or(128);
            if prefix > 128 {
                return None;
            }
            return Some(Cidr::new(true, u128::from(v6), prefix));
        }
        None
    }

    pub(crate) fn new(v6: bool, bits: u128, prefix: u8) -> Cidr {
        let width = if v6 { 128 } else { 32 };
        Cidr {
            v6,
            bits: bits & mask(width, prefix),
            prefix,
        }
    }

    /// Whether this is an IPv6 network.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub(crate) fn bits(&self) -> u128 {
        self.bits
    }

    /// The same network truncated to a shorter prefix.
    pub(crate) fn truncate(&self, prefix: u8) -> Cidr {
        Cidr::new(self.v6, self.bits, prefix.min(self.prefix))
    }

    /// `self ⊆ other`: same family, `other` no longer, and `self` inside it.
    pub fn is_subset_of(&self, other: &Cidr) -> bool {
        self.v6 == other.v6
            && other.prefix <= self.prefix
            && self.truncate(other.prefix).bits == other.bits
    }
}

impl Cidr {
    /// `Cidr::parse(s)` is some network inside `self`: what `ISSUBSET` tests of a
    /// value. A bare dotted-quad (the common value) is read without the general
    /// parser: it is what `parse` makes of it, a /32.
    #[inline]
    pub(crate) fn contains_text(&self, s: &str) -> bool {
        if !self.v6 {
            if let Some(a) = fast_v4(s) {
                return Cidr::new(false, u128::from(a), self.prefix).bits == self.bits;
            }
        }
        Cidr::parse(s).is_some_and(|x| x.is_subset_of(self))
    }
}

/// Dotted-quad IPv4 as `Ipv4Addr::from_str` reads it (four parts of 1–3 digits, no
/// leading zero, each ≤ 255), without its general parser; `None` for anything else.
fn fast_v4(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let (mut addr, mut part, mut digits, mut dots) = (0u32, 0u32, 0u8, 0u8);
    let mut lead_zero = false;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                if digits == 3 || (digits == 1 && lead_zero) {
                    return None;
                }
                lead_zero = digits == 0 && c == b'0';
                part = part * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' => {
                if digits == 0 || part > 255 || dots == 3 {
                    return None;
                }
                addr = addr << 8 | part;
                (part, digits, dots) = (0, 0, dots + 1);
            }
            _ => return None,
        }
    }
    if dots != 3 || digits == 0 || part > 255 {
        return None;
    }
    Some(addr << 8 | part)
}

fn mask(width: u8, prefix: u8) -> u128 {
    let full: u128 = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    full ^ full.checked_shr(u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", Ipv6Addr::from(self.bits), self.prefix)
        } else {
            write!(f, "{}/{}", Ipv4Addr::from(self.bits as u32), self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let c = Cidr::parse("11.22.41.123/20").unwrap();
        assert_eq!(c.to_string(), "11.22.32.0/20");
        assert_eq!(Cidr::parse("1.2.3.4").unwrap().to_string(), "1.2.3.4/32");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Cidr::parse("2001:0db8:dead:beef:0000:0000:0000:0001/64")
                .unwrap()
                .to_string(),
            "2001:db8:dead:beef::/64"
        );
        assert_eq!(Cidr::parse("::1").unwrap().prefix(), 128);
        for bad in [
            "1.2.3.4/33",
            "1.2.3/8",
            "300.1.1.1",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "::/129",
            "x",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fast_v4_agrees_with_std() {
        let mut n = 0u64;
        for s in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.0004",
            "10.0.0.00",
            "192.168.001.1",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.-4",
            "999.1.1.1",
        ] {
            assert_eq!(fast_v4(s), s.parse::<Ipv4Addr>().ok().map(u32::from), "{s}");
        }
        // Random strings of digits and dots.
        for _ in 0..200_000 {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 7 + (n >> 60) as usize;
            let s: String = (0..len)
                .map(|i| b"0123456789.0.125"[((n >> (i * 4 % 56)) & 15) as usize] as char)
                .collect();
            assert_eq!(
                fast_v4(&s),
                s.parse::<Ipv4Addr>().ok().map(u32::from),
                "{s}"
            );
        }
    }

    #[test]
    fn subset() {
        let net = Cidr::parse("11.22.33.44/20").unwrap();
        assert!(Cidr::parse("11.22.41.123").unwrap().is_subset_of(&net));
        assert!(!Cidr::parse("11.22.123.41").unwrap().is_subset_of(&net));
        assert!(!Cidr::parse("11.22.33.44/13").unwrap().is_subset_of(&net));
        assert!(!Cidr::parse("::1")
            .unwrap()
            .is_subset_of(&Cidr::parse("0.0.0.0/0").unwrap()));
    }

    #[test]
    fn contains_text_is_parse_then_subset() {
        let nets = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.128.0.0/9",
            "10.1.2.3/32",
            "10.1.2.0/24",
            "::/0",
            "2001:db8::/32",
        ];
        let values = [
            "10.1.2.3",
            "10.1.2.4",
            "10.200.1.1",
            "11.0.0.0",
            "0.0.0.0",
            "255.255.255.255",
            "10.1.2.0/24",
            "10.1.2.0/23",
            "10.1.2.3/32",
            "010.1.2.3",
            "10.1.2.256",
            "10.1.2",
            "10.1.2.3 ",
            "::ffff:10.1.2.3",
            "2001:db8::1",
            "2001:db8::/48",
            "",
            "x",
        ];
        for n in nets {
            let net = Cidr::parse(n).unwrap();
            for v in values {
                assert_eq!(
                    net.contains_text(v),
                    Cidr::parse(v).is_some_and(|x| x.is_subset_of(&net)),
                    "{v} in {n}"
                );
            }
        }
    }
}
