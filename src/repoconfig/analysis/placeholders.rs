//! The placeholders of an analysis' query: `{{revision}}`, `{{app}}` and
//! `{{environment}}` (inner spaces allowed), refused when unknown at load
//! and substituted before each run.

/// Placeholders a query may use, substituted before each run with the
/// revision being analysed, the app's name and the environment's name.
pub const PLACEHOLDERS: &[&str] = &["revision", "app", "environment"];

/// The values substituted for a query's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct QueryContext<'a> {
    /// `{{revision}}`: the revision being analysed (the canary's
    /// `slipway.dev/revision` label value).
    pub revision: &'a str,
    /// `{{app}}`: the app's name in `slipway.yaml`.
    pub app: &'a str,
    /// `{{environment}}`: the environment's name.
    pub environment: &'a str,
}

impl QueryContext<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        match name {
            "revision" => Some(self.revision),
            "app" => Some(self.app),
            "environment" => Some(self.environment),
            _ => None,
        }
    }
}

/// A piece of a query: text as written, or a placeholder's trimmed name
/// with the whole `{{ name }}` it was written as.
enum Piece<'q> {
    Text(&'q str),
    Placeholder { name: &'q str, written: &'q str },
}

/// The pieces of `query`; an error for an unclosed `{{`.
fn pieces(query: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "an unclosed {{ placeholder".to_string())?;
        out.push(Piece::Text(&rest[..start]));
        out.push(Piece::Placeholder {
            name: after[..end].trim(),
            written: &rest[start..start + end + 4],
        });
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The names of the placeholders in `query`, in order; an error names the
/// first one that is not in [`PLACEHOLDERS`], or an unclosed `{{`.
pub fn placeholders(query: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    for piece in pieces(query)? {
        if let Piece::Placeholder { name, .. } = piece {
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{{{name}}}}} (known: {{{{revision}}}}, {{{{app}}}}, {{{{environment}}}})"
                ));
            }
            names.push(name);
        }
    }
    Ok(names)
}

/// `query` with its placeholders replaced by the values of `context`;
/// anything else (an unknown or unclosed placeholder, which the loader
/// refuses) is left as written.
pub fn render_query(query: &str, context: &QueryContext<'_>) -> String {
    let Ok(pieces) = pieces(query) else {
        return query.to_string();
    };
    pieces
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => text,
            Piece::Placeholder { name, written } => context.value(name).unwrap_or(written),
        })
        .collect()
}

/// Whether `query` parses as PromQL once its placeholders hold sample
/// values (they stand for label values and names); the parser's message on
/// one line when not.
pub(super) fn check_promql(query: &str) -> Result<(), String> {
    let sample = QueryContext {
        revision: "x",
        app: "x",
        environment: "x",
    };
    promql_parser::parser::parse(&render_query(query, &sample))
        .map(drop)
        .map_err(|e| {
            let words: Vec<&str> = e.split_whitespace().collect();
            format!("not PromQL: {}", words.join(" "))
        })
}
