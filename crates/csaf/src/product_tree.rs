//! Flattening the product tree: every product id with the facts the branches
//! above it (vendor, product name, version) and its identification helper
//! (purl, CPE) give, so that matching an advisory against an inventory needs
//! no tree walking.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One product of an advisory, flattened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Product {
    pub product_id: String,
    /// The full product name.
    pub name: String,
    pub vendor: Option<String>,
    pub product_family: Option<String>,
    /// The `product_name` branch.
    pub product: Option<String>,
    /// The `product_version` branch.
    pub version: Option<String>,
    /// The `product_version_range` branch (often a `vers:` range).
    pub product_version_range: Option<String>,
    pub purl: Option<String>,
    pub cpe: Option<String>,
    /// For a product defined by a relationship: `(category, product_reference,
    /// relates_to_product_reference)`; its other facts are those of
    /// `product_reference`.
    pub relationship: Option<(String, String, String)>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn apply_full_name(p: &mut Product, f: &Value) {
    if let Some(n) = s(f, "name") {
        p.name = n;
    }
    if let Some(h) = f.get("product_identification_helper") {
        if let Some(purl) = s(h, "purl") {
            p.purl = Some(purl);
        }
        if let Some(cpe) = s(h, "cpe") {
            p.cpe = Some(cpe);
        }
    }
}

fn walk(branches: &[Value], ctx: &Product, out: &mut BTreeMap<String, Product>) {
    for b in branches {
        let mut here = ctx.clone();
        let name = s(b, "name");
        match b.get("category").and_then(Value::as_str) {
            Some("vendor") => here.vendor = name,
            Some("product_family") => here.product_family = name,
            Some("product_name") => here.product = name,
            Some("product_version") => here.version = name,
            Some("product_version_range") => here.product_version_range = name,
            _ => {}
        }
        if let Some(f) = b.get("product") {
            if let Some(id) = s(f, "product_id") {
                let mut p = here.clone();
                p.product_id = id.clone();
                apply_full_name(&mut p, f);
                out.entry(id).or_insert(p);
            }
        }
        walk(arr(b, "branches"), &here, out);
    }
}

/// Every product id defined in `doc`'s product tree, flattened. The first
/// definition of an id wins (a second one fails test 6.1.2 anyway).
pub fn flatten(doc: &Value) -> BTreeMap<String, Product> {
    let mut out = BTreeMap::new();
    let Some(tree) = doc.get("product_tree") else {
        return out;
    };
    walk(arr(tree, "branches"), &Product::default(), &mut out);
    for f in arr(tree, "full_product_names") {
        if let Some(id) = s(f, "product_id") {
            let mut p = Product {
                product_id: id.clone(),
                ..Product::default()
            };
            apply_full_name(&mut p, f);
            out.entry(id).or_insert(p);
        }
    }
    // Relationships may build on each other; resolve in passes.
    let rels = arr(tree, "relationships");
    for _ in 0..=rels.len() {
        let mut progressed = false;
        for r in rels {
            let Some(f) = r.get("full_product_name") else {
                continue;
            };
            let Some(id) = s(f, "product_id") else {
                continue;
            };
            if out.contains_key(&id) {
                continue;
            }
            let reference = s(r, "product_reference").unwrap_or_default();
            let Some(base) = out.get(&reference) else {
                continue;
            };
            let mut p = Product {
                product_id: id.clone(),
                purl: None,
                cpe: None,
                ..base.clone()
            };
            apply_full_name(&mut p, f);
            p.relationship = Some((
                s(r, "category").unwrap_or_default(),
                reference,
                s(r, "relates_to_product_reference").unwrap_or_default(),
            ));
            out.insert(id, p);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn branches_full_names_and_relationships() {
        let doc = json!({"product_tree": {
            "branches": [{"category": "vendor", "name": "Acme", "branches": [
                {"category": "product_name", "name": "Widget", "branches": [
                    {"category": "product_version", "name": "1.2", "product": {
                        "product_id": "W-1.2", "name": "Acme Widget 1.2",
                        "product_identification_helper": {"purl": "pkg:generic/acme/widget@1.2"}}},
                    {"category": "product_version_range", "name": "vers:generic/<1.2", "product": {
                        "product_id": "W-old", "name": "Acme Widget < 1.2"}}]}]}],
            "full_product_names": [{"product_id": "OS", "name": "Some OS",
                "product_identification_helper": {"cpe": "cpe:2.3:o:some:os:*:*:*:*:*:*:*:*"}}],
            "relationships": [{"category": "installed_on", "product_reference": "W-1.2",
                "relates_to_product_reference": "OS",
                "full_product_name": {"product_id": "W-on-OS", "name": "Widget 1.2 on Some OS"}}]
        }});
        let p = super::flatten(&doc);
        assert_eq!(p.len(), 4);
        let w = &p["W-1.2"];
        assert_eq!(
            (
                w.vendor.as_deref(),
                w.product.as_deref(),
                w.version.as_deref()
            ),
            (Some("Acme"), Some("Widget"), Some("1.2"))
        );
        assert_eq!(w.purl.as_deref(), Some("pkg:generic/acme/widget@1.2"));
        assert_eq!(
            p["W-old"].product_version_range.as_deref(),
            Some("vers:generic/<1.2")
        );
        assert_eq!(
            p["OS"].cpe.as_deref(),
            Some("cpe:2.3:o:some:os:*:*:*:*:*:*:*:*")
        );
        let r = &p["W-on-OS"];
        assert_eq!(r.version.as_deref(), Some("1.2"));
        assert_eq!(r.relationship.as_ref().unwrap().0, "installed_on");
        assert_eq!(r.name, "Widget 1.2 on Some OS");
    }
}
