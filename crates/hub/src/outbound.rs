//! Where the hub may send requests: webhooks that members register and peer hubs that
//! the coordinator registers are URLs chosen by someone else, so every outbound
//! connection goes through one policy.
//!
//! - Addresses that reach the hub's own network are refused: loopback, private,
//!   carrier-grade NAT, link-local (and with it the cloud metadata address
//!   169.254.169.254), unique-local, multicast, documentation and reserved ranges, and
//!   IPv4 carried in IPv6 (mapped, NAT64) by the IPv4 rules. Networks in
//!   [`OutboundPolicy::allow`] are let through (labs, tests, an internal receiver).
//! - The check runs on the addresses a connection actually uses: the resolver of the
//!   HTTP agent ([`PolicyResolver`]) resolves the name once per connection and hands only
//!   allowed addresses to the connect, so a name that changes its answer between a check
//!   and the connect (DNS rebinding) cannot slip through.
//! - Redirects are never followed (agents are built with `redirects(0)`); a 3xx answer is
//!   a failed delivery.
//! - Plain `http://` carries payloads up to [`OutboundPolicy::plain_http_up_to`]
//!   (default TLP:GREEN); anything more restricted needs `https://`.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hinomi_stix::Tlp;

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Whether `ip` is inside this network (IPv4 never matches an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

impl FromStr for Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Net, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Net { addr, prefix })
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What the hub may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Networks allowed although they are refused by default.
    pub allow: Vec<Net>,
    /// The most restricted TLP sent over plain `http://`.
    pub plain_http_up_to: Tlp,
}

impl Default for OutboundPolicy {
    fn default() -> OutboundPolicy {
        OutboundPolicy {
            allow: Vec::new(),
            plain_http_up_to: Tlp::Green,
        }
    }
}

/// Why an address is refused by default, or None if it is a public address.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local or cloud metadata (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return special_v4(v4);
    }
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        0x0000..=0x00ff => "reserved (::/8)",
        _ => return None,
    })
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible or
/// NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
    let compatible = s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified();
    (mapped || nat64 || compatible).then_some(tail)
}

impl OutboundPolicy {
    /// A policy that also lets loopback through (tests, a hub and its receivers on one
    /// machine) and plain http for every TLP.
    pub fn lab() -> OutboundPolicy {
        OutboundPolicy {
            allow: vec![
                "127.0.0.0/8".parse().expect("constant"),
                "::1/128".parse().expect("constant"),
            ],
            plain_http_up_to: Tlp::Red,
        }
    }

    /// Ok if the hub may connect to `ip`; otherwise why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        match special_use(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|n| n.contains(ip)) => Ok(()),
            Some(why) => Err(format!(
                "the destination {ip} is {why}, which the outbound policy refuses \
                 (an operator may allow it under [outbound] allow)"
            )),
        }
    }

    /// Checks a URL before it is stored or used: scheme, a literal IP host against the
    /// address rules (names are checked when they are resolved), and plain http against
    /// the most restricted TLP it would carry.
    pub fn check_url(&self, url: &str, carries_up_to: Tlp) -> Result<(), String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("must start with https:// (or http://)")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            other => return Err(format!("the scheme '{other}' is not http or https")),
        };
        if !https && carries_up_to > self.plain_http_up_to {
            return Err(format!(
                "plain http may carry up to {}, and this destination receives up to {}; \
                 use https (an operator may raise [outbound] plain_http_up_to)",
                self.plain_http_up_to, carries_up_to
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(ip)?;
        }
        if host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost")
        {
            self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        }
        Ok(())
    }

    /// An HTTP agent whose every connection obeys this policy and that never follows
    /// redirects.
    pub fn agent(&self, connect: Duration) -> ureq::AgentBuilder {
        ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .redirects(0)
            .resolver(PolicyResolver(Arc::new(self.clone())))
    }
}

/// Resolves names for an HTTP agent and keeps only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct PolicyResolver(pub Arc<OutboundPolicy>);

impl ureq::Resolver for PolicyResolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let all: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        let mut refused = None;
        let allowed: Vec<SocketAddr> = all
            .into_iter()
            .filter(|a| match self.0.check_ip(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    refused.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (true, Some(e)) => Err(io::Error::new(io::ErrorKind::PermissionDenied, e)),
            _ => Ok(allowed),
        }
    }
}

/// A 3xx answer: redirects are not followed, so the request did not reach its target.
pub fn redirect_error(status: u16, location: Option<&str>) -> String {
    format!(
        "HTTP {status} redirect to {}: redirects are not followed; register the final URL",
        location.unwrap_or("(no location)")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_refused_and_public_ones_pass() {
        let p = OutboundPolicy::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "ff02::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(p.check_ip(ip).is_err(), "{bad} must be refused");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(p.check_ip(ip).is_ok(), "{good} must pass");
        }
    }

    #[test]
    fn allow_list_lets_networks_through() {
        let mut p = OutboundPolicy::default();
        p.allow.push("10.20.0.0/16".parse().unwrap());
        assert!(p.check_ip("10.20.3.4".parse().unwrap()).is_ok());
        assert!(p.check_ip("10.21.3.4".parse().unwrap()).is_err());
        assert!("10.0.0.0/33".parse::<Net>().is_err());
        assert!("example".parse::<Net>().is_err());
    }

    #[test]
    fn urls_are_checked_for_scheme_literal_hosts_and_tlp() {
        let p = OutboundPolicy::default();
        assert!(p.check_url("https://hooks.example/x", Tlp::Red).is_ok());
        assert!(p.check_url("http://hooks.example/x", Tlp::Green).is_ok());
        let e = p
            .check_url("http://hooks.example/x", Tlp::Amber)
            .unwrap_err();
        assert!(e.contains("use https"), "{e}");
        assert!(p.check_url("https://127.0.0.1:9/x", Tlp::Clear).is_err());
        assert!(p.check_url("https://[::1]:9/x", Tlp::Clear).is_err());
        assert!(p.check_url("https://localhost/x", Tlp::Clear).is_err());
        assert!(p.check_url("ftp://hooks.example/x", Tlp::Clear).is_err());
        assert!(OutboundPolicy::lab()
            .check_url("http://127.0.0.1:9/x", Tlp::Red)
            .is_ok());
    }

    #[test]
    fn the_resolver_hands_out_only_allowed_addresses() {
        let r = PolicyResolver(Arc::new(OutboundPolicy::default()));
        let e = ureq::Resolver::resolve(&r, "127.0.0.1:80").unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let lab = PolicyResolver(Arc::new(OutboundPolicy::lab()));
        assert_eq!(
            ureq::Resolver::resolve(&lab, "127.0.0.1:80").unwrap().len(),
            1
        );
    }
}
