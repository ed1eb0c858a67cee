//! Label selectors (equality- and set-based) and field selectors
//! (`metadata.name`, `metadata.namespace`) as list and watch accept them.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_values(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn parse_requirement(part: &str) -> Option<Requirement> {
    if let Some((key, value)) = part.split_once("!=") {
        return Some(Requirement::NotEquals(
            key.trim().into(),
            value.trim().into(),
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Some(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    if let Some((key, values)) = part.split_once(" notin ") {
        return Some(Requirement::NotIn(key.trim().into(), parse_values(values)?));
    }
    if let Some((key, values)) = part.split_once(" in ") {
        return Some(Requirement::In(key.trim().into(), parse_values(values)?));
    }
    if let Some(key) = part.strip_prefix('!') {
        return Some(Requirement::DoesNotExist(key.trim().into()));
    }
    (!part.contains(char::is_whitespace)).then(|| Requirement::Exists(part.into()))
}

impl Selector {
    /// Parses `a=b,c!=d,e in (f,g),!h`; `None` when malformed.
    pub fn parse(text: &str) -> Option<Self> {
        split_top_level(text)
            .into_iter()
            .map(parse_requirement)
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// Whether `lookup` (label or field values by key) satisfies every requirement.
    pub fn matches<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => lookup(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => lookup(key) != Some(value.as_str()),
            Requirement::In(key, values) => {
                lookup(key).is_some_and(|v| values.iter().any(|w| w == v))
            }
            Requirement::NotIn(key, values) => {
                lookup(key).is_none_or(|v| values.iter().all(|w| w != v))
            }
            Requirement::Exists(key) => lookup(key).is_some(),
            Requirement::DoesNotExist(key) => lookup(key).is_none(),
        })
    }
}

/// The label and field selectors of one list or watch.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    /// `labelSelector`.
    pub labels: Selector,
    /// `fieldSelector`.
    pub fields: Selector,
}

impl ObjectFilter {
    /// Whether `object` passes both selectors.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label_ok = self
            .labels
            .matches(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str));
        label_ok
            && self.fields.matches(|key| match key {
                "metadata.name" => object.pointer("/metadata/name").and_then(Value::as_str),
                "metadata.namespace" => Some(
                    object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                ),
                // Other fields by their dotted path (`involvedObject.name`,
                // `type`, `reason` of Events; `spec.nodeName`, `status.phase`).
                other => object
                    .pointer(&format!("/{}", other.replace('.', "/")))
                    .and_then(Value::as_str),
            })
    }
}
