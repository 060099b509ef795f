//! The OASIS STIX 2.1 examples in ../shared are read in place and must all validate;
//! breaking any required property of any of them must be caught and named.

use std::path::PathBuf;

use serde_json::Value;

use hinomi_stix::check_object;

fn examples() -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stix/examples");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                let objs = match v.get("objects") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => vec![v],
                };
                for o in objs {
                    out.push((p.display().to_string(), o));
                }
            }
        }
    }
    out
}

#[test]
fn oasis_examples_validate() {
    let all = examples();
    assert!(all.len() > 250, "found {} example objects", all.len());
    for (file, o) in &all {
        if let Err(e) = check_object(o.clone()) {
            panic!("{file}: {}: {e}", o["id"]);
        }
    }
}

#[test]
fn removing_a_required_property_is_named() {
    let required = [
        ("indicator", "pattern"),
        ("relationship", "source_ref"),
        ("report", "object_refs"),
        ("malware", "is_family"),
        ("identity", "name"),
        ("campaign", "name"),
        ("attack-pattern", "name"),
        ("ipv4-addr", "value"),
    ];
    let all = examples();
    for (t, prop) in required {
        let (_, o) = all
            .iter()
            .find(|(_, o)| o["type"] == t)
            .unwrap_or_else(|| panic!("an example {t}"));
        let mut broken = o.clone();
        broken.as_object_mut().unwrap().remove(prop);
        let e = check_object(broken).unwrap_err();
        assert_eq!(e.path, prop, "{t}: {e}");
        assert!(e.message.contains("required"), "{t}: {e}");
    }
}
