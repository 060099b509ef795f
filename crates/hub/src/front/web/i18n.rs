//! The UI's strings in English and Japanese: one catalog per language
//! (`locales/en.txt`, `locales/ja.txt`, `key = text` lines, compiled into the binary).
//! A test fails when a key is in one catalog and not the other, or when a template or
//! handler names a key neither has.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};

/// A language of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The other language (for the switch in the header).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ja,
            Lang::Ja => Lang::En,
        }
    }

    /// The preferred of English and Japanese in an Accept-Language header (RFC 9110
    /// weights); English when it names neither.
    pub fn from_accept(headers: &HeaderMap) -> Lang {
        let Some(v) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        let mut best = (Lang::En, -1.0f32);
        for item in v.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0f32);
            let lang = match tag.split('-').next() {
                Some("ja") => Lang::Ja,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    /// The text of `key`, or `fallback` when the catalog has none (for names that come
    /// from stored data, such as a case's timeline events).
    pub fn t_or<'a>(self, key: &str, fallback: &'a str) -> &'a str {
        let c = catalogs();
        let m = match self {
            Lang::En => &c.0,
            Lang::Ja => &c.1,
        };
        m.get(key).copied().unwrap_or(fallback)
    }

    /// The text of `key`; the key itself if the catalog lacks it (a test prevents that).
    pub fn t(self, key: &str) -> &'static str {
        let c = catalogs();
        let m = match self {
            Lang::En => &c.0,
            Lang::Ja => &c.1,
        };
        m.get(key).copied().unwrap_or_else(|| leak_key(key))
    }
}

fn leak_key(key: &str) -> &'static str {
    // Only reachable for a key missing from the catalogs, which the tests forbid; keep
    // the page readable rather than panic.
    static MISSING: OnceLock<std::sync::Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut m = MISSING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(v) = m.get(key) {
        return v;
    }
    if m.len() > 1000 || key.len() > 100 {
        return "?";
    }
    let v: &'static str = Box::leak(key.to_string().into_boxed_str());
    m.insert(key.to_string(), v);
    v
}

pub const EN: &str = include_str!("../../../locales/en.txt");
pub const JA: &str = include_str!("../../../locales/ja.txt");

/// `key = text` lines; `#` starts a comment line.
pub fn parse(src: &'static str) -> HashMap<&'static str, &'static str> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

type Catalogs = (
    HashMap<&'static str, &'static str>,
    HashMap<&'static str, &'static str>,
);

fn catalogs() -> &'static Catalogs {
    static C: OnceLock<Catalogs> = OnceLock::new();
    C.get_or_init(|| (parse(EN), parse(JA)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let (en, ja) = (parse(EN), parse(JA));
        let mut only_en: Vec<_> = en.keys().filter(|k| !ja.contains_key(*k)).collect();
        let mut only_ja: Vec<_> = ja.keys().filter(|k| !en.contains_key(*k)).collect();
        only_en.sort();
        only_ja.sort();
        assert!(
            only_en.is_empty() && only_ja.is_empty(),
            "keys only in en.txt: {only_en:?}; only in ja.txt: {only_ja:?}"
        );
        for (k, v) in en.iter().chain(ja.iter()) {
            assert!(!v.is_empty(), "{k} has an empty text");
        }
    }

    #[test]
    fn every_line_is_a_key_and_a_text() {
        for (name, src) in [("en.txt", EN), ("ja.txt", JA)] {
            for (i, l) in src.lines().enumerate() {
                let l = l.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                assert!(l.contains(" = "), "{name}:{}: not 'key = text': {l}", i + 1);
            }
        }
    }

    /// Every key a template or handler names (`t("…")`) is in the catalogs.
    #[test]
    fn every_key_used_is_in_the_catalogs() {
        let en = parse(EN);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src/front/web"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                files.push(e.unwrap().path());
            }
        }
        let mut missing = Vec::new();
        let mut used = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("t(\"") {
                rest = &rest[i + 3..];
                let key: String = rest.chars().take_while(|c| *c != '"').collect();
                if key.contains('.') && !key.contains(' ') {
                    used += 1;
                    if !en.contains_key(key.as_str()) {
                        missing.push(format!("{}: {key}", f.display()));
                    }
                }
            }
        }
        assert!(used > 50, "only {used} keys found: the scan is broken");
        assert!(missing.is_empty(), "keys not in the catalogs: {missing:#?}");
    }

    #[test]
    fn accept_language_picks_by_weight() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
            m
        };
        assert_eq!(Lang::from_accept(&h("ja-JP,ja;q=0.9,en;q=0.8")), Lang::Ja);
        assert_eq!(Lang::from_accept(&h("en-US,ja;q=0.5")), Lang::En);
        assert_eq!(Lang::from_accept(&h("fr-FR")), Lang::En);
        assert_eq!(Lang::from_accept(&HeaderMap::new()), Lang::En);
    }
}
