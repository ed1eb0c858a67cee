//! What a failed cluster call means, and how it reads.
//!
//! One home for two rules every step of a sync relies on:
//!
//! - **Whose fault** ([`Fault`]): a refusal of the revision's content is
//!   final for that content; anything else is the cluster's problem, retried
//!   with backoff and never recorded as a bad revision.
//! - **One line for a person** ([`server_message`], [`one_line`]): the
//!   server's message once, Go value dumps folded to `{…}`, no `Debug`
//!   output, at most [`MAX_LINE_CHARS`] characters. The full chain goes to
//!   the log instead.

use kube::core::Status;

/// Longest line an error may take in the status, an Event or a report.
pub const MAX_LINE_CHARS: usize = 300;

/// A brace-delimited value longer than this is folded to `{…}`.
const MAX_DUMP_CHARS: usize = 40;

/// 500s the API server answers for content it cannot accept: a patch it
/// cannot type against the schema (`replicas: "two"`, an unknown field on
/// 1.24) and a value too large for etcd. Retrying them never helps.
const CONTENT_500_MARKERS: &[&str] = &[
    "failed to create typed patch object",
    "request is too large",
];

/// Messages of a change to a field that may not change once set.
const IMMUTABLE_MARKERS: &[&str] = &[
    "field is immutable",
    "may not change once set",
    "updates to statefulset spec for fields other than",
];

/// Who has to act on a failed cluster call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The cluster: unreachable, a credential refused (401, 403), a missing
    /// or terminating namespace, a discovery miss, a conflict (409),
    /// throttling (429), an admission webhook that timed out, other 5xx.
    /// Retried with backoff; never a failed revision.
    Cluster,
    /// The revision's content: 400, 413, 415, 422, and the 500s Kubernetes
    /// answers for a patch it cannot type or a value too large for etcd.
    /// Final for that content.
    Content,
}

/// Whose fault a kube error is.
pub fn fault_of(error: &kube::Error) -> Fault {
    match error {
        kube::Error::Api(status) => fault_of_status(status),
        _ => Fault::Cluster,
    }
}

/// Whose fault a failure `Status` is.
pub fn fault_of_status(status: &Status) -> Fault {
    match status.code {
        400 | 413 | 415 | 422 => Fault::Content,
        500 if CONTENT_500_MARKERS
            .iter()
            .any(|m| status.message.contains(m)) =>
        {
            Fault::Content
        }
        _ => Fault::Cluster,
    }
}

/// The path of the field a 422 says may not change (`spec.selector`,
/// `spec.template`, `spec.clusterIPs[0]`), when that is what it says.
pub fn immutable_field(error: &kube::Error) -> Option<String> {
    let kube::Error::Api(status) = error else {
        return None;
    };
    if status.code != 422 {
        return None;
    }
    let immutable = |text: &str| IMMUTABLE_MARKERS.iter().any(|m| text.contains(m));
    let causes = status.details.iter().flat_map(|d| d.causes.iter());
    for cause in causes {
        if immutable(&cause.message) && !cause.field.is_empty() {
            return Some(cause.field.clone());
        }
    }
    // Without causes: `Kind "name" is invalid: <field>: Invalid value: ...`.
    if !immutable(&status.message) {
        return None;
    }
    let after = status.message.split_once(" is invalid: ")?.1;
    after
        .split_once(": ")
        .map(|(field, _)| field.trim_start_matches('[').to_string())
}

/// Whether the API server said the namespace of a write does not exist.
pub fn is_missing_namespace(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 404
            && status.details.as_ref().is_some_and(|d| d.kind == "namespaces"))
}

/// The server's own message for a kube error, on one line, Go dumps folded;
/// for a transport error, its chain without repeats.
pub fn server_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status_message(status),
        other => one_line(other),
    }
}

fn status_message(status: &Status) -> String {
    if status.message.is_empty() {
        format!("{} ({})", status.reason, status.code)
    } else {
        condense(&status.message)
    }
}

/// An error and its causes on one line, each cause once (kube's transport
/// errors repeat their source in their own text), bounded.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        // kube's `Api` error prints its `Status` with `Debug`: take the message instead.
        if let Some(kube::Error::Api(status)) = cause.downcast_ref::<kube::Error>() {
            push_part(&mut text, &status_message(status));
            break;
        }
        push_part(&mut text, &condense(&cause.to_string()));
        next = cause.source();
    }
    bounded(&text, MAX_LINE_CHARS)
}

fn push_part(text: &mut String, part: &str) {
    if part.is_empty() || text.contains(part) {
        return;
    }
    if !text.is_empty() {
        text.push_str(": ");
    }
    text.push_str(part);
}

/// One line: whitespace runs become one space and brace-delimited values
/// longer than [`MAX_DUMP_CHARS`] become `{…}`.
pub fn condense(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LINE_CHARS));
    let chars: Vec<char> = message.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{'
            && let Some(end) = matching_brace(&chars, i)
            && end - i > MAX_DUMP_CHARS
        {
            out.push_str("{…}");
            i = end + 1;
            continue;
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out.trim_end().to_string()
}

fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
