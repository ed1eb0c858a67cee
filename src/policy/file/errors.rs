//! Parser errors turned into one-line messages that keep the position.

use super::MAX_QUOTED_LINE;
use crate::policy::PolicyError;

pub(super) fn parse_error(file: &str, text: &str, error: &serde_saphyr::Error) -> PolicyError {
    let (line, column) = error
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut options = serde_saphyr::RenderOptions::default();
    options.snippets = serde_saphyr::SnippetMode::Off;
    let plain = error.render_with_options(options);
    // Type errors do not name their key; the offending line does.
    let source_line = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .and_then(|l| text.lines().nth(l))
        .map(|l| l.trim().chars().take(MAX_QUOTED_LINE).collect::<String>())
        .filter(|l| !l.is_empty());
    let message = match source_line {
        Some(l) => format!("{} (at `{}`)", one_line(&plain), l),
        None => one_line(&plain),
    };
    PolicyError::Parse {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// Messages go into deny reasons and log lines: one line, no source snippet,
/// no position (the error carries it).
fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = match first.split_once(": ") {
        Some((position, rest)) if position.starts_with("line ") => rest,
        _ => first,
    };
    match message.rsplit_once(" at line ") {
        Some((text, position)) if position.contains(", column ") => text.to_string(),
        _ => message.to_string(),
    }
}

/// A regex syntax error's last line says what is wrong; the others draw the pattern.
pub(super) fn regex_message(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}
