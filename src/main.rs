//! The `slipway` command line: parse, load config, start a role.
#![forbid(unsafe_code)]

fn main() {
    println!("slipway");
}
