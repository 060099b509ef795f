//! The hub's layering, checked on its source: every route of every front end reaches a
//! service; no service imports a front end, the HTTP support module or axum; no front
//! end imports another; the service modules import each other without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without `//` comments (so prose cannot satisfy or fail a check).
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Handlers named in the method routers of a front-end file (`get(x)`, `.post(m::y)`…).
fn handlers(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in ["get(", "post(", "put(", "delete(", "patch("] {
        let mut rest = code;
        while let Some(i) = rest.find(m) {
            let before = rest[..i].chars().last();
            rest = &rest[i + m.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // part of a longer name
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // A constant (`header::HOST`) is an argument, never a handler.
            let constant = name
                .rsplit("::")
                .next()
                .is_some_and(|last| last.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            if !name.is_empty() && !constant && rest[name.len()..].starts_with(')') {
                out.push(name.trim_start_matches("axum::routing::").to_string());
            }
        }
    }
    out
}

/// The body of `fn name` in `code`, up to the closing brace at column 0.
fn body_of<'a>(code: &'a str, name: &str) -> Option<&'a str> {
    let start = code
        .find(&format!("async fn {name}("))
        .or_else(|| code.find(&format!("fn {name}(")))?;
    let rest = &code[start..];
    let end = rest.find("\n}").map_or(rest.len(), |e| e + 2);
    Some(&rest[..end])
}

/// The service modules a front-end file imports by name (`use crate::service::{a, b}`,
/// `use crate::service::a::{self, X}`, `use crate::service::a;`).
fn service_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code
        .lines()
        .filter(|l| l.trim_start().starts_with("use crate::service"))
    {
        let rest = line
            .trim()
            .trim_start_matches("use crate::service")
            .trim_end_matches(';');
        let rest = rest.trim_start_matches("::");
        if let Some(inner) = rest.strip_prefix('{') {
            out.extend(
                inner
                    .trim_end_matches('}')
                    .split(',')
                    .map(|x| x.trim().split("::").next().unwrap().to_string()),
            );
        } else {
            // `use crate::service::a::X;` and `use crate::service::a;`
            out.push(rest.split("::").next().unwrap_or_default().to_string());
        }
    }
    out.retain(|m| !m.is_empty() && m != "self" && m.chars().next().unwrap().is_lowercase());
    out
}

/// Whether `name`'s body (or a function of the same file it calls, three deep) calls a
/// service: through `AppState::call`, a `service::` path or an imported service module.
fn reaches_service(code: &str, name: &str, modules: &[String], depth: u8) -> bool {
    let Some(body) = body_of(code, name) else {
        return false;
    };
    let body = &body[body.find('{').unwrap_or(0)..];
    if body.contains(".call(")
        || body.contains("service::")
        || modules.iter().any(|m| body.contains(&format!("{m}::")))
    {
        return true;
    }
    depth > 0
        && local_calls(code, body)
            .iter()
            .any(|f| f != name && reaches_service(code, f, modules, depth - 1))
}

/// Functions defined in `code` that `body` calls.
fn local_calls(code: &str, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('(') {
        let name: String = rest[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        rest = &rest[i + 1..];
        if !name.is_empty() && code.contains(&format!("fn {name}(")) {
            out.push(name);
        }
    }
    out
}

/// Routes whose answer is a fixed document of the binary, not data: exempt.
const STATIC: [&str; 2] = ["openapi", "stylesheet"];

#[test]
fn every_route_reaches_a_service() {
    let front = src().join("front");
    let mut files = Vec::new();
    rust_files(&front, &mut files);
    let mut checked = 0;
    let mut missing = Vec::new();
    for f in &files {
        let c = code(f);
        if !c.contains(".route(") && !c.contains("MethodRouter") {
            continue;
        }
        for h in handlers(&c) {
            let (file, name) = match h.rsplit_once("::") {
                Some((module, name)) => (
                    f.parent().unwrap().join(format!("{module}.rs")),
                    name.to_string(),
                ),
                None => (f.clone(), h.clone()),
            };
            if STATIC.contains(&name.as_str()) {
                continue;
            }
            // A handler may call helpers of its front end's own module (`super::x`).
            let mut src = code(&file);
            let parent = file.parent().unwrap();
            if parent.file_name().is_some_and(|n| n != "front") && !file.ends_with("mod.rs") {
                src.push_str(&code(&parent.join("mod.rs")));
            }
            assert!(
                body_of(&src, &name).is_some(),
                "handler {name} not found in {}",
                file.display()
            );
            checked += 1;
            let body = body_of(&src, &name).unwrap();
            if !reaches_service(&src, &name, &service_modules(&src), 3) || body.contains(".store.")
            {
                missing.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(
        checked > 60,
        "only {checked} handlers found: the parser is broken"
    );
    assert!(
        missing.is_empty(),
        "handlers that do not go through a service (or reach the store themselves): {missing:#?}"
    );
}

/// `crate::a::b` and `super::x` references of a file, as module paths.
fn references(c: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["crate::", "super::"] {
        let mut rest = c;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.insert(format!("{prefix}{path}"));
        }
    }
    out
}

#[test]
fn layers_import_downward_only() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let c = code(f);
        let refs = references(&c);
        if rel.starts_with("service/") {
            for r in &refs {
                assert!(
                    !r.starts_with("crate::front") && !r.starts_with("crate::http"),
                    "{rel} imports {r}: services never see a front end or HTTP"
                );
            }
            assert!(!c.contains("axum"), "{rel} uses axum");
            let me = rel
                .trim_start_matches("service/")
                .trim_end_matches(".rs")
                .to_string();
            let deps = graph.entry(me.clone()).or_default();
            for r in &refs {
                let target = r
                    .strip_prefix("super::")
                    .or_else(|| r.strip_prefix("crate::service::"))
                    .and_then(|t| t.split("::").next())
                    .unwrap_or("");
                if !target.is_empty()
                    && target != me
                    && std::path::Path::new(&src().join("service").join(format!("{target}.rs")))
                        .exists()
                {
                    deps.insert(target.to_string());
                }
            }
        }
        if rel.starts_with("http/") {
            for r in &refs {
                assert!(
                    !r.starts_with("crate::front"),
                    "{rel} imports {r}: the HTTP support serves the front ends, never the reverse"
                );
            }
        }
        if let Some(front) = rel.strip_prefix("front/") {
            let mine = front.split('/').next().unwrap().trim_end_matches(".rs");
            for r in &refs {
                if let Some(other) = r.strip_prefix("crate::front::") {
                    let other = other.split("::").next().unwrap();
                    assert_eq!(other, mine, "{rel} imports the front end {other}");
                }
            }
        }
    }
    // No circle among the services: depth-first search with colors.
    fn visit<'a>(
        n: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => panic!("import circle: {} -> {n}", stack.join(" -> ")),
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, state, stack);
        }
        stack.pop();
        state.insert(n, 2);
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state, &mut Vec::new());
    }
    assert!(graph.len() > 10, "{graph:?}");
}
