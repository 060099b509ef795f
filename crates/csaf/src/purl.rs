//! Package URLs (purl spec): parsing and validity, as test 6.1.13 needs them.

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub ty: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: Vec<(String, String)>,
    pub subpath: Option<String>,
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated percent-encoding")?;
            out.push(
                u8::from_str_radix(hex, 16).map_err(|_| format!("bad percent-encoding %{hex}"))?,
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding is not UTF-8".to_string())
}

impl Purl {
    /// Parse `pkg:type/namespace/name@version?qualifiers#subpath`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("pkg:")
            .ok_or("a purl starts with the scheme pkg:")?;
        let (rest, subpath) = match rest.split_once('#') {
            Some((r, sp)) => {
                let segs: Vec<String> = sp
                    .split('/')
                    .filter(|x| !x.is_empty() && *x != "." && *x != "..")
                    .map(decode)
                    .collect::<Result<_, _>>()?;
                (r, (!segs.is_empty()).then(|| segs.join("/")))
            }
            None => (rest, None),
        };
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => {
                let mut quals: Vec<(String, String)> = Vec::new();
                for pair in q.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or(format!("qualifier {pair} has no value"))?;
                    let k = k.to_ascii_lowercase();
                    if k.is_empty()
                        || k.starts_with(|c: char| c.is_ascii_digit())
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
                    {
                        return Err(format!("invalid qualifier key {k}"));
                    }
                    if quals.iter().any(|(q, _)| *q == k) {
                        return Err(format!("duplicate qualifier {k}"));
                    }
                    let v = decode(v)?;
                    if !v.is_empty() {
                        quals.push((k, v));
                    }
                }
                (r, quals)
            }
            None => (rest, Vec::new()),
        };
        let rest = rest.trim_start_matches('/').trim_end_matches('/');
        let (ty, path) = rest.split_once('/').ok_or("a purl has a type and a name")?;
        if ty.is_empty()
            || ty.starts_with(|c: char| c.is_ascii_digit())
            || !ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c))
        {
            return Err(format!("invalid type {ty}"));
        }
        let (path, version) = match path.rsplit_once('@') {
            Some((p, v)) => (p, Some(decode(v)?).filter(|v| !v.is_empty())),
            None => (path, None),
        };
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => {
                let segs: Vec<String> = ns
                    .split('/')
                    .filter(|x| !x.is_empty())
                    .map(decode)
                    .collect::<Result<_, _>>()?;
                ((!segs.is_empty()).then(|| segs.join("/")), n)
            }
            None => (None, path),
        };
        let name = decode(name)?;
        if name.is_empty() {
            return Err("a purl has a name".into());
        }
        Ok(Self {
            ty: ty.to_ascii_lowercase(),
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Purl;

    #[test]
    fn parses_common_purls() {
        let p = Purl::parse("pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?packaging=sources")
            .unwrap();
        assert_eq!(p.namespace.as_deref(), Some("org.apache.xmlgraphics"));
        assert_eq!(p.name, "batik-anim");
        assert_eq!(p.version.as_deref(), Some("1.9.1"));
        assert_eq!(p.qualifiers, vec![("packaging".into(), "sources".into())]);
        let p = Purl::parse("pkg:npm/%40angular/animation@12.3.1").unwrap();
        assert_eq!(p.namespace.as_deref(), Some("@angular"));
        assert!(Purl::parse("pkg:maven/@1.3.4").is_err());
        assert!(Purl::parse("pkg:9x/name").is_err());
        assert!(Purl::parse("npm/name").is_err());
    }
}
