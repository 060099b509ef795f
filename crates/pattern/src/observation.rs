//! Observed-data as the evaluator sees it: a time interval, a count, and the SCOs.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ObservationError;
use crate::fxhash::FxMap;
use crate::timestamp::Timestamp;

/// One observed-data object, ready for matching.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) first: Timestamp,
    pub(crate) last: Timestamp,
    pub(crate) count: u64,
    /// The SCOs observed: `object_refs` resolved in the bundle, and inline `objects`.
    pub(crate) roots: Vec<&'a Value>,
    /// `type` of each root (`""` when missing), read once here for the evaluator, with
    /// its [`type_code`] (so the bulk matcher finds its indexes without reading the
    /// string again).
    pub(crate) root_types: Vec<(&'a str, u8)>,
    /// The deprecated inline `objects` dictionary, whose keys `_ref`s name.
    pub(crate) inline: Option<&'a Map<String, Value>>,
    /// Index of the id → object map of the bundle this came from.
    pub(crate) scope: usize,
}

impl<'a> Observation<'a> {
    /// The observed-data id, when it has one.
    pub fn id(&self) -> Option<&'a str> {
        self.id
    }

    /// `first_observed`.
    pub fn first_observed(&self) -> Timestamp {
        self.first
    }

    /// `last_observed`.
    pub fn last_observed(&self) -> Timestamp {
        self.last
    }

    /// `number_observed` (1 when absent).
    pub fn number_observed(&self) -> u64 {
        self.count
    }

    /// The SCOs this observation is about.
    pub fn objects(&self) -> &[&'a Value] {
        &self.roots
    }
}

/// Lists of SCOs to reuse, from the observations given back to an
/// [`ObservationsBuilder`].
#[derive(Default)]
struct Pool<'a> {
    roots: Vec<Vec<&'a Value>>,
    types: Vec<Vec<(&'a str, u8)>>,
}

/// `v`, emptied, as a vector of another type of the same size and alignment (in
/// practice the same type with other lifetimes): the standard library collects an
/// emptied `vec::IntoIter` mapped to such a type in place, so the memory is kept.
pub(crate) fn recast<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("empty")).collect()
}

/// Reusable memory for converting a stream of observed-data: [`Observations`] built by
/// [`ObservationsBuilder::from_value`] and given back with
/// [`ObservationsBuilder::recycle`] reuse their vectors, so that converting one
/// observed-data allocates nothing once the builder has warmed up (the result is the
/// same as [`Observations::from_value`]).
///
/// ```
/// # use hinomi_pattern::ObservationsBuilder;
/// # let feed: Vec<serde_json::Value> = vec![];
/// let mut builder = ObservationsBuilder::new();
/// for value in &feed {
///     let set = builder.from_value(value)?;
///     // … match `set` …
///     builder.recycle(set);
/// }
/// # Ok::<(), hinomi_pattern::ObservationError>(())
/// ```
#[derive(Default)]
pub struct ObservationsBuilder {
    items: Vec<Observation<'static>>,
    scopes: Vec<Scope<'static>>,
    roots: Vec<Vec<&'static Value>>,
    types: Vec<Vec<(&'static str, u8)>>,
}

impl std::fmt::Debug for ObservationsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservationsBuilder")
            .field("spare_lists", &self.roots.len())
            .finish()
    }
}

impl ObservationsBuilder {
    /// A builder with no memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`Observations::from_value`], reusing the memory of recycled sets.
    pub fn from_value<'a>(
        &mut self,
        value: &'a Value,
    ) -> Result<Observations<'a>, ObservationError> {
        let values = match value {
            Value::Array(items) => items.as_slice(),
            v => std::slice::from_ref(v),
        };
        self.from_json(values)
    }

    /// [`Observations::from_json`], reusing the memory of recycled sets.
    pub fn from_json<'a>(
        &mut self,
        values: &'a [Value],
    ) -> Result<Observations<'a>, ObservationError> {
        let mut set = Observations {
            items: recast(std::mem::take(&mut self.items)),
            scopes: recast(std::mem::take(&mut self.scopes)),
        };
        let mut pool = Pool {
            roots: std::mem::take(&mut self.roots)
                .into_iter()
                .map(recast)
                .collect(),
            types: std::mem::take(&mut self.types)
                .into_iter()
                .map(recast)
                .collect(),
        };
        let result = set.fill(values, &mut pool);
        self.roots = pool.roots.into_iter().map(recast).collect();
        self.types = pool.types.into_iter().map(recast).collect();
        match result {
            Ok(()) => Ok(set),
            Err(e) => {
                self.recycle(set);
                Err(e)
            }
        }
    }

    /// Take back the memory of a set (built here or anywhere else).
    pub fn recycle(&mut self, mut set: Observations<'_>) {
        for o in set.items.drain(..) {
            self.roots.push(recast(o.roots));
            self.types.push(recast(o.root_types));
        }
        self.items = recast(set.items);
        self.scopes = recast(set.scopes);
    }
}

/// The SCO types of STIX 2.1 (from the STIX model crate), numbered from 1 by
/// [`type_code`].
pub(crate) use hinomi_stix::SCO_TYPES;

/// `1 + ` the position of `t` in [`SCO_TYPES`], or 0 for any other type.
pub(crate) fn type_code(t: &str) -> u8 {
    match t {
        "artifact" => 1,
        "autonomous-system" => 2,
        "directory" => 3,
        "domain-name" => 4,
        "email-addr" => 5,
        "email-message" => 6,
        "file" => 7,
        "ipv4-addr" => 8,
        "ipv6-addr" => 9,
        "mac-addr" => 10,
        "mutex" => 11,
        "network-traffic" => 12,
        "process" => 13,
        "software" => 14,
        "url" => 15,
        "user-account" => 16,
        "windows-registry-key" => 17,
        "x509-certificate" => 18,
        _ => 0,
    }
}

/// A set of observations, in input order; matches name them by index.
#[derive(Debug, Clone, Default)]
pub struct Observations<'a> {
    pub(crate) items: Vec<Observation<'a>>,
    pub(crate) scopes: Vec<Scope<'a>>,
}

/// Objects by id, where `object_refs` and `_ref`s are resolved.
#[derive(Debug, Clone)]
pub(crate) enum Scope<'a> {
    /// A few objects (a lone observed-data, a small bundle): searched in place, so
    /// converting one observation builds no map and hashes no id.
    Slice(&'a [Value]),
    /// More objects: an id index.
    Map(Arc<FxMap<&'a str, &'a Value>>),
}

/// The properties of a top-level object that [`Observations`] reads, found in one pass
/// over them.
#[derive(Clone, Copy, Default)]
struct Fields<'a> {
    ty: Option<&'a Value>,
    first: Option<&'a Value>,
    last: Option<&'a Value>,
    count: Option<&'a Value>,
    objects: Option<&'a Value>,
    refs: Option<&'a Value>,
    id: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn of(v: &'a Value) -> Fields<'a> {
        let mut f = Fields::default();
        if let Value::Object(m) = v {
            for (k, v) in m {
                let slot = match k.as_str() {
                    "type" => &mut f.ty,
                    "first_observed" => &mut f.first,
                    "last_observed" => &mut f.last,
                    "number_observed" => &mut f.count,
                    "objects" => &mut f.objects,
                    "object_refs" => &mut f.refs,
                    "id" => &mut f.id,
                    _ => continue,
                };
                *slot = Some(v);
            }
        }
        f
    }
}

/// Up to this many objects a scope is searched in place rather than indexed.
const SMALL_SCOPE: usize = 16;

impl<'a> Scope<'a> {
    fn of(objects: &'a [Value]) -> Scope<'a> {
        if objects.len() <= SMALL_SCOPE {
            Scope::Slice(objects)
        } else {
            Scope::Map(Arc::new(index_by_id(objects)))
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&'a Value> {
        match self {
            // The last object with the id wins, as in the map (built in order).
            Scope::Slice(objects) => objects.iter().rev().find(|o| {
                o.as_object()
                    .and_then(|m| crate::eval::property(m, "id"))
                    .and_then(Value::as_str)
                    .is_some_and(|x| x == id)
            }),
            Scope::Map(m) => m.get(id).copied(),
        }
    }
}

fn invalid(location: String, message: impl Into<String>) -> ObservationError {
    ObservationError::Invalid {
        location,
        message: message.into(),
    }
}

fn index_by_id(objects: &[Value]) -> FxMap<&str, &Value> {
    objects
        .iter()
        .filter_map(|o| Some((o.get("id")?.as_str()?, o)))
        .collect()
}

impl<'a> Observations<'a> {
    /// Collect observed-data from a list of bundles and/or observed-data objects.
    ///
    /// Top-level objects that are neither form one more scope in which
    /// `object_refs` of top-level observed-data are resolved.
    pub fn from_json(values: &'a [Value]) -> Result<Self, ObservationError> {
        let mut set = Observations::default();
        set.fill(values, &mut Pool::default())?;
        Ok(set)
    }

    /// Collect into an empty `self`, taking the lists of SCOs from `pool`.
    fn fill(&mut self, values: &'a [Value], pool: &mut Pool<'a>) -> Result<(), ObservationError> {
        let set = self;
        set.scopes.push(Scope::of(values));
        for (i, v) in values.iter().enumerate() {
            // One pass over the properties finds the type and an observed-data's fields.
            let fields = Fields::of(v);
            match fields.ty.and_then(Value::as_str) {
                Some("bundle") => {
                    let Some(objects) = fields.objects.and_then(Value::as_array) else {
                        continue;
                    };
                    set.scopes.push(Scope::of(objects));
                    let scope = set.scopes.len() - 1;
                    for (j, o) in objects.iter().enumerate() {
                        if o.get("type").and_then(Value::as_str) == Some("observed-data") {
                            let at = || format!("[{i}].objects[{j}]");
                            set.push(&Fields::of(o), scope, pool, &at)?;
                        }
                    }
                }
                Some("observed-data") => set.push(&fields, 0, pool, &|| format!("[{i}]"))?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Like [`Observations::from_json`] for one value: a bundle, one observed-data,
    /// or an array of them.
    pub fn from_value(value: &'a Value) -> Result<Self, ObservationError> {
        match value {
            Value::Array(items) => Self::from_json(items),
            v => Self::from_json(std::slice::from_ref(v)),
        }
    }

    fn push(
        &mut self,
        fields: &Fields<'a>,
        scope: usize,
        pool: &mut Pool<'a>,
        location: &dyn Fn() -> String,
    ) -> Result<(), ObservationError> {
        let Fields {
            first: first_raw,
            last: last_raw,
            count: count_raw,
            objects,
            refs,
            id,
            ..
        } = *fields;
        let ts = |field: &str, raw: Option<&Value>| -> Result<Timestamp, ObservationError> {
            let raw = raw.and_then(Value::as_str).ok_or_else(|| {
                invalid(format!("{}.{field}", location()), "missing or not a string")
            })?;
            Timestamp::parse(raw).ok_or_else(|| {
                invalid(
                    format!("{}.{field}", location()),
                    format!("{raw:?} is not an RFC 3339 timestamp"),
                )
            })
        };
        let first = ts("first_observed", first_raw)?;
        // Often the same text: parsed once.
        let last = match (first_raw, last_raw) {
            (Some(Value::String(a)), Some(Value::String(b))) if a == b => first,
            _ => ts("last_observed", last_raw)?,
        };
        if last < first {
            return Err(invalid(
                format!("{}.last_observed", location()),
                "before first_observed",
            ));
        }
        let count = match count_raw {
            None => 1,
            Some(n) => n.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                invalid(
                    format!("{}.number_observed", location()),
                    "not a positive integer",
                )
            })?,
        };
        let inline = objects.and_then(Value::as_object);
        let mut roots = pool.roots.pop().unwrap_or_default();
        roots.clear();
        if let Some(m) = inline {
            roots.extend(m.values());
        }
        if let Some(refs) = refs.and_then(Value::as_array) {
            for r in refs.iter().filter_map(Value::as_str) {
                if let Some(o) = self.scopes[scope].get(r) {
                    roots.push(o);
                }
            }
        }
        let mut root_types = pool.types.pop().unwrap_or_default();
        root_types.clear();
        root_types.extend(roots.iter().map(|r| {
            let t = r
                .as_object()
                .and_then(|m| crate::eval::property(m, "type"))
                .and_then(Value::as_str)
                .unwrap_or("");
            (t, type_code(t))
        }));
        self.items.push(Observation {
            id: id.and_then(Value::as_str),
            first,
            last,
            count,
            roots,
            root_types,
            inline,
            scope,
        });
        Ok(())
    }

    /// Build from already-checked observations sharing one scope of objects by id.
    pub fn from_parts(
        items: Vec<Observation<'a>>,
        objects_by_id: HashMap<&'a str, &'a Value>,
    ) -> Self {
        let items = items
            .into_iter()
            .map(|o| Observation { scope: 0, ..o })
            .collect();
        Observations {
            items,
            scopes: vec![Scope::Map(Arc::new(objects_by_id.into_iter().collect()))],
        }
    }

    /// Number of observations.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The observation at `index`.
    pub fn get(&self, index: usize) -> Option<&Observation<'a>> {
        self.items.get(index)
    }

    /// All observations in input order.
    pub fn iter(&self) -> impl Iterator<Item = &Observation<'a>> {
        self.items.iter()
    }

    /// A set holding only observation `index` (same scope), for per-observation matching.
    pub fn single(&self, index: usize) -> Observations<'a> {
        match self.items.get(index) {
            Some(o) => Observations {
                items: vec![Observation {
                    scope: 0,
                    ..o.clone()
                }],
                scopes: vec![self.scopes[o.scope].clone()],
            },
            None => Observations::default(),
        }
    }

    /// A set of observations taken from other sets, in the order given: observation
    /// `index` of each `(set, index)` (skipped when out of range), each keeping the
    /// scope its `_ref`s resolve in.
    pub fn gather(parts: &[(&Observations<'a>, usize)]) -> Observations<'a> {
        let mut out = Observations::default();
        for (set, index) in parts {
            let Some(o) = set.items.get(*index) else {
                continue;
            };
            out.scopes.push(set.scopes[o.scope].clone());
            out.items.push(Observation {
                scope: out.scopes.len() - 1,
                ..o.clone()
            });
        }
        out
    }

    /// Observation `index` as a value of its own: an array of an observed-data with
    /// its times, count, id and inline `objects`, then the objects its `object_refs`
    /// name and those that any `_ref` or `_refs` reached from them (or from its inline
    /// objects) names in its scope. It matches as the observation does, and can be
    /// kept (to correlate with later input) without the rest of the input it came
    /// from. `None` when `index` is out of range or more than `max_objects` objects of
    /// the scope would be carried.
    pub fn detached(&self, index: usize, max_objects: usize) -> Option<Value> {
        let o = self.items.get(index)?;
        let inline = o.inline.map_or(0, Map::len);
        let mut od = Map::new();
        od.insert("type".into(), "observed-data".into());
        if let Some(id) = o.id {
            od.insert("id".into(), id.into());
        }
        od.insert("first_observed".into(), o.first.to_string().into());
        od.insert("last_observed".into(), o.last.to_string().into());
        od.insert("number_observed".into(), o.count.into());
        if let Some(m) = o.inline {
            od.insert("objects".into(), Value::Object(m.clone()));
        }
        let mut out = vec![Value::Null];
        let mut taken: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut refs = Vec::new();
        let mut queue: Vec<&'a Value> = Vec::new();
        for r in o.roots.iter().skip(inline) {
            if let Some(id) = r.get("id").and_then(Value::as_str) {
                refs.push(Value::from(id));
                if taken.insert(id) {
                    queue.push(r);
                }
            }
        }
        if !refs.is_empty() {
            od.insert("object_refs".into(), Value::Array(refs));
        }
        // A `_ref` names an inline object first (kept inline), else one of the scope.
        let scope = self.scopes.get(o.scope);
        let mut follow = |v: &'a Value, queue: &mut Vec<&'a Value>| {
            let mut named = Vec::new();
            ref_values(v, false, &mut named);
            for id in named {
                if o.inline.is_some_and(|m| m.contains_key(id)) {
                    continue;
                }
                if let Some(t) = scope.and_then(|s| s.get(id)) {
                    if taken.insert(id) {
                        queue.push(t);
                    }
                }
            }
        };
        for v in o.roots.iter().take(inline) {
            follow(v, &mut queue);
        }
        while let Some(v) = queue.pop() {
            if out.len() > max_objects {
                return None;
            }
            out.push(v.clone());
            follow(v, &mut queue);
        }
        out[0] = Value::Object(od);
        Some(Value::Array(out))
    }

    /// Follow a `_ref` value from an object of observation `obs`.
    pub(crate) fn resolve(&self, obs: &Observation<'a>, id: &str) -> Option<&'a Value> {
        if let Some(v) = obs.inline.and_then(|m| m.get(id)) {
            return Some(v);
        }
        self.scopes.get(obs.scope).and_then(|s| s.get(id))
    }
}

/// The strings under `_ref` and `_refs` members anywhere in `v` (`named`: `v` is
/// itself the value of such a member).
fn ref_values<'v>(v: &'v Value, named: bool, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) if named => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| ref_values(x, named, out)),
        Value::Object(m) => {
            for (k, x) in m {
                ref_values(x, k.ends_with("_ref") || k.ends_with("_refs"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_codes_number_the_sco_types() {
        for (i, t) in SCO_TYPES.iter().enumerate() {
            assert_eq!(usize::from(type_code(t)), i + 1, "{t}");
        }
        for t in ["", "x-custom", "indicator", "File", "domain-name "] {
            assert_eq!(type_code(t), 0, "{t}");
        }
    }

    #[test]
    fn recast_keeps_the_memory() {
        let v: Vec<&'static str> = Vec::with_capacity(10);
        let at = v.as_ptr() as usize;
        let s = String::from("x");
        let mut u: Vec<&str> = recast(v);
        assert_eq!(u.as_ptr() as usize, at);
        assert!(u.capacity() >= 10);
        u.push(&s);
        let w: Vec<&'static str> = recast(u);
        assert!(w.is_empty() && w.capacity() >= 10);
    }

    #[test]
    fn a_detached_observation_matches_alone_and_carries_only_what_it_reaches() {
        let input = json!([
            {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "10.0.0.7"},
            {"type": "domain-name", "id": "domain-name--1", "value": "c2.example",
             "resolves_to_refs": ["ipv4-addr--1"]},
            {"type": "network-traffic", "id": "network-traffic--1", "dst_ref": "domain-name--1",
             "protocols": ["tcp"]},
            {"type": "file", "id": "file--unrelated", "name": "big.bin"},
            {"type": "observed-data", "id": "observed-data--a", "first_observed": "2024-01-01T00:00:00.25Z",
             "last_observed": "2024-01-01T00:01:00Z", "number_observed": 3,
             "object_refs": ["network-traffic--1"]},
            {"type": "observed-data", "id": "observed-data--b", "first_observed": "2024-01-01T00:00:00Z",
             "last_observed": "2024-01-01T00:00:00Z",
             "objects": {"0": {"type": "ipv4-addr", "value": "10.0.0.9"},
                         "1": {"type": "network-traffic", "src_ref": "0", "dst_ref": "ipv4-addr--1",
                               "protocols": ["udp"]}}}
        ]);
        let set = Observations::from_value(&input).unwrap();
        let a = set.detached(0, 100).unwrap();
        let items = a.as_array().unwrap();
        let ids: Vec<_> = items.iter().filter_map(|o| o["id"].as_str()).collect();
        assert_eq!(items.len(), 4, "{a}");
        for id in [
            "observed-data--a",
            "network-traffic--1",
            "domain-name--1",
            "ipv4-addr--1",
        ] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        assert_eq!(items[0]["first_observed"], "2024-01-01T00:00:00.25Z");
        assert_eq!(items[0]["number_observed"], 3);
        let alone = Observations::from_value(&a).unwrap();
        let o = alone.get(0).unwrap();
        assert_eq!((o.id(), o.number_observed()), (Some("observed-data--a"), 3));
        assert_eq!(o.first_observed(), set.get(0).unwrap().first_observed());
        let p = crate::Pattern::parse(
            "[network-traffic:dst_ref.resolves_to_refs[*].value = '10.0.0.7']",
        )
        .unwrap();
        assert!(p.evaluate(&alone).unwrap().is_some());

        // Inline objects stay inline; the scope object an inline `_ref` names is carried.
        let b = set.detached(1, 100).unwrap();
        assert_eq!(b.as_array().unwrap().len(), 2, "{b}");
        let alone = Observations::from_value(&b).unwrap();
        let p = crate::Pattern::parse(
            "[network-traffic:src_ref.value = '10.0.0.9' AND network-traffic:dst_ref.value = '10.0.0.7']",
        )
        .unwrap();
        assert!(p.evaluate(&set.single(1)).unwrap().is_some());
        assert!(p.evaluate(&alone).unwrap().is_some());
        assert!(set.detached(2, 100).is_none());
        assert!(
            set.detached(0, 2).is_none(),
            "three objects carried: over 2"
        );
        assert!(set.detached(0, 3).is_some());
    }

    #[test]
    fn builder_reuses_its_lists_and_resolves_like_from_value() {
        let od = |i: u64| {
            json!({"type": "observed-data", "id": format!("observed-data--{i}"),
                "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:01Z",
                "objects": {"0": {"type": "ipv4-addr", "value": "10.0.0.1"},
                            "1": {"type": "network-traffic", "dst_ref": "0"},
                            "2": {"type": "x-custom"}}})
        };
        // A bundle of more than SMALL_SCOPE objects (an id index) and of a few (searched
        // in place), with `object_refs`, duplicate ids (the last wins) and a missing ref.
        let bundle = |n: usize| {
            let mut objects: Vec<Value> = (0..n)
                .map(|i| json!({"type": "domain-name", "id": format!("domain-name--{i}"), "value": format!("d{i}")}))
                .collect();
            objects.push(json!({"type": "domain-name", "id": "domain-name--0", "value": "last"}));
            objects.push(json!({"type": "observed-data", "id": "observed-data--b",
                "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z",
                "object_refs": ["domain-name--0", "domain-name--1", "domain-name--nope"]}));
            json!({"type": "bundle", "id": "bundle--1", "objects": objects})
        };
        let mut b = ObservationsBuilder::new();
        let values = [od(1), bundle(3), bundle(40), json!([od(2), od(3)])];
        for _ in 0..3 {
            for v in &values {
                let fresh = Observations::from_value(v).unwrap();
                let set = b.from_value(v).unwrap();
                assert_eq!(fresh.len(), set.len());
                for (x, y) in fresh.iter().zip(set.iter()) {
                    assert_eq!(x.id(), y.id());
                    assert_eq!(x.root_types, y.root_types);
                    assert_eq!(x.objects().len(), y.objects().len());
                    for (p, q) in x.objects().iter().zip(y.objects()) {
                        assert!(std::ptr::eq(*p, *q));
                    }
                }
                if let Some(o) = set.iter().find(|o| o.id() == Some("observed-data--b")) {
                    assert_eq!(o.objects().len(), 2);
                    assert_eq!(o.objects()[0]["value"], "last");
                }
                b.recycle(set);
            }
        }
        // A recycled set's lists are the next set's.
        let set = b.from_value(&values[0]).unwrap();
        let (roots, types) = (
            set.items[0].roots.as_ptr(),
            set.items[0].root_types.as_ptr(),
        );
        b.recycle(set);
        let set = b.from_value(&values[0]).unwrap();
        assert_eq!(set.items[0].roots.as_ptr(), roots);
        assert_eq!(set.items[0].root_types.as_ptr(), types);
        b.recycle(set);
        let e = b.from_value(&json!({"type": "observed-data"})).unwrap_err();
        assert!(e.to_string().contains("first_observed"), "{e}");
    }
}
