//! Reading the project's Markdown docs as CommonMark (pulldown-cmark), for
//! the tests that hold the docs to what the binary does: code blocks, inline
//! code, and tables with the heading they stand under.
#![allow(dead_code)]

use std::path::Path;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

pub mod observed;

/// One Markdown file of the docs.
pub struct Doc {
    /// Path relative to the repository root (`docs/operations.md`).
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Every doc a user reads: the README, `docs/*.md` and the policy guide.
pub fn docs() -> Vec<Doc> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec!["README.md".to_string(), "policies/README.md".to_string()];
    let mut in_docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    in_docs.sort();
    paths.extend(in_docs);
    paths
        .into_iter()
        .map(|path| Doc {
            text: std::fs::read_to_string(root.join(&path))
                .unwrap_or_else(|e| panic!("read {path}: {e}")),
            path,
        })
        .collect()
}

/// One doc by path.
pub fn doc(path: &str) -> Doc {
    docs()
        .into_iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("no doc {path}"))
}

/// A fenced or indented code block.
#[derive(Debug, Clone)]
pub struct CodeBlock {
    /// `file:line` of its opening fence.
    pub at: String,
    /// The info string's first word (`yaml`, `sh`, ...), empty when none.
    pub lang: String,
    /// The text inside, with the list indentation removed.
    pub text: String,
    /// The heading it stands under.
    pub section: String,
}

/// A piece of inline code.
#[derive(Debug, Clone)]
pub struct CodeSpan {
    /// `file:line`.
    pub at: String,
    /// Its text (a line break inside is a space).
    pub text: String,
}

/// One cell of a table: its text and the inline code in it.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// All text, code included.
    pub text: String,
    /// Each piece of inline code, in order.
    pub code: Vec<String>,
}

/// A table, with the heading it stands under.
#[derive(Debug, Clone)]
pub struct Table {
    /// `file:line` of its header row.
    pub at: String,
    /// The heading it stands under (`receive`, `Logs`).
    pub section: String,
    /// Header cells.
    pub header: Vec<String>,
    /// Body rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The column named `name`, or a failure naming the table.
    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{}: no column {name:?} in {:?}", self.at, self.header))
    }
}

/// What one pass over a doc finds.
#[derive(Debug, Default)]
pub struct Parsed {
    pub blocks: Vec<CodeBlock>,
    pub spans: Vec<CodeSpan>,
    pub tables: Vec<Table>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// Parse a doc once into its code blocks, inline code and tables.
pub fn parse(doc: &Doc) -> Parsed {
    let mut parsed = Parsed::default();
    let mut section = String::new();
    let mut heading: Option<String> = None;
    let mut block: Option<CodeBlock> = None;
    let mut table: Option<Table> = None;
    let mut row: Vec<Cell> = Vec::new();
    let mut cell: Option<Cell> = None;
    let at = |offset: usize| format!("{}:{}", doc.path, line_of(&doc.text, offset));
    for (event, range) in Parser::new_ext(&doc.text, Options::ENABLE_TABLES).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => section = heading.take().unwrap_or_default(),
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                block = Some(CodeBlock {
                    at: at(range.start),
                    lang,
                    text: String::new(),
                    section: section.clone(),
                });
            }
            Event::End(TagEnd::CodeBlock) => parsed.blocks.extend(block.take()),
            Event::Start(Tag::Table(_)) => {
                table = Some(Table {
                    at: at(range.start),
                    section: section.clone(),
                    header: Vec::new(),
                    rows: Vec::new(),
                })
            }
            Event::End(TagEnd::Table) => parsed.tables.extend(table.take()),
            Event::Start(Tag::TableCell) => cell = Some(Cell::default()),
            Event::End(TagEnd::TableCell) => row.extend(cell.take()),
            Event::End(TagEnd::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.header = row.drain(..).map(|c| c.text).collect();
                }
            }
            Event::End(TagEnd::TableRow) => {
                if let Some(t) = table.as_mut() {
                    t.rows.push(std::mem::take(&mut row));
                }
            }
            Event::Text(text) => {
                if let Some(b) = block.as_mut() {
                    b.text.push_str(&text);
                }
                if let Some(c) = cell.as_mut() {
                    c.text.push_str(&text);
                }
                if let Some(h) = heading.as_mut() {
                    h.push_str(&text);
                }
            }
            Event::Code(code) => {
                parsed.spans.push(CodeSpan {
                    at: at(range.start),
                    text: code.to_string(),
                });
                if let Some(c) = cell.as_mut() {
                    c.text.push_str(&code);
                    c.code.push(code.to_string());
                }
                if let Some(h) = heading.as_mut() {
                    h.push_str(&code);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(c) = cell.as_mut() {
                    c.text.push(' ');
                }
            }
            _ => {}
        }
    }
    parsed
}
