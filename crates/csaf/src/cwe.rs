//! The CWE catalog (id → name) used by test 6.1.11.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The name of a CWE id such as `CWE-79`, if the catalog knows it.
pub fn name(id: &str) -> Option<&'static str> {
    static CATALOG: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    CATALOG
        .get_or_init(|| {
            include_str!("../data/cwe.tsv")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('\t'))
                .collect()
        })
        .get(id)
        .copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn knows_xss() {
        assert_eq!(
            super::name("CWE-79"),
            Some("Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')")
        );
        assert_eq!(super::name("CWE-0"), None);
    }
}
