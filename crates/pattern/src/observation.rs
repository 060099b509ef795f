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
    /// `type` of each root (`""` when missing), read once here for the evaluator.
    pub(crate) root_types: Vec<&'a str>,
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

/// A set of observations, in input order; matches name them by index.
#[derive(Debug, Clone, Default)]
pub struct Observations<'a> {
    pub(crate) items: Vec<Observation<'a>>,
    pub(crate) scopes: Vec<Arc<FxMap<&'a str, &'a Value>>>,
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
        let mut set = Observations {
            items: Vec::new(),
            scopes: vec![Arc::new(index_by_id(values))],
        };
        for (i, v) in values.iter().enumerate() {
            match v.get("type").and_then(Value::as_str) {
                Some("bundle") => {
                    let Some(objects) = v.get("objects").and_then(Value::as_array) else {
                        continue;
                    };
                    set.scopes.push(Arc::new(index_by_id(objects)));
                    let scope = set.scopes.len() - 1;
                    for (j, o) in objects.iter().enumerate() {
                        if o.get("type").and_then(Value::as_str) == Some("observed-data") {
                            set.push(o, scope, &|| format!("[{i}].objects[{j}]"))?;
                        }
                    }
                }
                Some("observed-data") => set.push(v, 0, &|| format!("[{i}]"))?,
                _ => {}
            }
        }
        Ok(set)
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
        od: &'a Value,
        scope: usize,
        location: &dyn Fn() -> String,
    ) -> Result<(), ObservationError> {
        // One pass over the observed-data's properties instead of a lookup per field.
        let (mut first_raw, mut last_raw, mut count_raw, mut objects, mut refs, mut id) =
            (None, None, None, None, None, None);
        if let Value::Object(m) = od {
            for (k, v) in m {
                match k.as_str() {
                    "first_observed" => first_raw = Some(v),
                    "last_observed" => last_raw = Some(v),
                    "number_observed" => count_raw = Some(v),
                    "objects" => objects = Some(v),
                    "object_refs" => refs = Some(v),
                    "id" => id = Some(v),
                    _ => {}
                }
            }
        }
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
        let last = ts("last_observed", last_raw)?;
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
        let mut roots: Vec<&'a Value> = inline.map(|m| m.values().collect()).unwrap_or_default();
        if let Some(refs) = refs.and_then(Value::as_array) {
            for r in refs.iter().filter_map(Value::as_str) {
                if let Some(o) = self.scopes[scope].get(r) {
                    roots.push(o);
                }
            }
        }
        let root_types = roots
            .iter()
            .map(|r| {
                r.as_object()
                    .and_then(|m| crate::eval::property(m, "type"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            })
            .collect();
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
            scopes: vec![Arc::new(objects_by_id.into_iter().collect())],
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
                scopes: vec![Arc::clone(&self.scopes[o.scope])],
            },
            None => Observations::default(),
        }
    }

    /// Follow a `_ref` value from an object of observation `obs`.
    pub(crate) fn resolve(&self, obs: &Observation<'a>, id: &str) -> Option<&'a Value> {
        if let Some(v) = obs.inline.and_then(|m| m.get(id)) {
            return Some(v);
        }
        self.scopes.get(obs.scope).and_then(|s| s.get(id).copied())
    }
}
