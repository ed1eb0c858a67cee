//! Small helpers for the metadata the server fills in.

use sha2::{Digest, Sha256};

/// The alphabet Kubernetes uses for generated name suffixes and hashes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Length of generated name suffixes (`web-7c9f8`).
pub const SUFFIX_LEN: usize = 5;

/// Length of pod template hashes.
pub const TEMPLATE_HASH_LEN: usize = 10;

/// The current time as the API server writes it.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // A failing OS random source leaves zeros; names then collide and the
    // store reports AlreadyExists instead of panicking.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

/// A random UUID (version 4).
pub fn new_uid() -> String {
    let mut bytes: [u8; 16] = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random suffix for generated names.
pub fn random_suffix() -> String {
    random_bytes::<SUFFIX_LEN>()
        .iter()
        .map(|b| SAFE_ALPHABET[usize::from(*b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// A stable short hash of `text` in the safe alphabet (pod-template-hash).
pub fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(TEMPLATE_HASH_LEN)
        .map(|b| SAFE_ALPHABET[usize::from(*b) % SAFE_ALPHABET.len()] as char)
        .collect()
}
