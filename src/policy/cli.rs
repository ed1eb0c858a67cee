//! Command line: check, explain, test.
