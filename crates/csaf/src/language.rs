//! BCP 47 language tags checked against the IANA subtag registry (test 6.1.12).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

struct Registry {
    /// type → lowercase subtags (ranges kept as `a..b`).
    subtags: HashMap<&'static str, HashSet<String>>,
    ranges: HashMap<&'static str, Vec<(String, String)>>,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut subtags: HashMap<&'static str, HashSet<String>> = HashMap::new();
        let mut ranges: HashMap<&'static str, Vec<(String, String)>> = HashMap::new();
        for line in include_str!("../data/language-subtags.txt").lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((ty, list)) = line.split_once(": ") else {
                continue;
            };
            for entry in list.split_whitespace() {
                let tag = entry
                    .split_once('@')
                    .map_or(entry, |(t, _)| t)
                    .to_ascii_lowercase();
                if let Some((a, b)) = tag.split_once("..") {
                    ranges
                        .entry(ty)
                        .or_default()
                        .push((a.to_string(), b.to_string()));
                } else {
                    subtags.entry(ty).or_default().insert(tag);
                }
            }
        }
        Registry { subtags, ranges }
    })
}

fn known(ty: &str, subtag: &str) -> bool {
    let r = registry();
    let s = subtag.to_ascii_lowercase();
    r.subtags.get(ty).is_some_and(|set| set.contains(&s))
        || r.ranges.get(ty).is_some_and(|rs| {
            rs.iter()
                .any(|(a, b)| a.len() == s.len() && *a <= s && s <= *b)
        })
}

/// Check a language tag: its language, extlang, script, region and variant
/// subtags must be registered. Extensions and private use are not checked.
pub fn check(tag: &str) -> Result<(), String> {
    let lower = tag.to_ascii_lowercase();
    if ["i-default", "i-mingo"].contains(&lower.as_str()) || lower.starts_with("x-") {
        return Ok(());
    }
    let parts: Vec<&str> = tag.split('-').collect();
    let mut i = 0;
    let language = parts[0];
    if !(language.len() >= 2
        && language.len() <= 8
        && language.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(format!("{language} is not a language subtag"));
    }
    if !known("language", language) {
        return Err(format!("unknown language {language}"));
    }
    i += 1;
    if let Some(p) = parts
        .get(i)
        .filter(|p| p.len() == 3 && p.chars().all(|c| c.is_ascii_alphabetic()))
    {
        if !known("extlang", p) {
            return Err(format!("unknown extended language {p}"));
        }
        i += 1;
    }
    if let Some(p) = parts
        .get(i)
        .filter(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_alphabetic()))
    {
        if !known("script", p) {
            return Err(format!("unknown script {p}"));
        }
        i += 1;
    }
    if let Some(p) = parts.get(i).filter(|p| {
        (p.len() == 2 && p.chars().all(|c| c.is_ascii_alphabetic()))
            || (p.len() == 3 && p.chars().all(|c| c.is_ascii_digit()))
    }) {
        if !known("region", p) {
            return Err(format!("unknown region {p}"));
        }
        i += 1;
    }
    for p in &parts[i..] {
        if p.len() == 1 {
            break; // extension or private use
        }
        if !known("variant", p) {
            return Err(format!("unknown variant {p}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn registered_tags() {
        for ok in [
            "en",
            "en-US",
            "de-DE",
            "ja",
            "zh-Hant-TW",
            "sgn-ase",
            "qaa",
            "es-419",
            "de-CH-1901",
            "en-x-hinomi",
            "i-default",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in ["EZ", "en-UK", "xx", "en-Abcd"] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
