//! The deploy repository writer: format-preserving image edits, idempotent
//! commits with trailers, fast-forward pushes, pull/merge request promotion.

pub mod check;
pub mod edit;
pub mod image;
pub mod settings;
