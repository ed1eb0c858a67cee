//! The sync role: render, diff, server-side apply, verify, roll back.

pub mod render;
pub mod settings;
pub mod tree;
