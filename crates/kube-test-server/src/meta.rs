//! The metadata the server fills in: times, uids, generated names, hashes,
//! and what a write carries over from the stored object.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::resources::ResourceType;

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

/// Fills in what the server sets on a new object.
pub fn prepare_new(resource: &ResourceType, object: &mut Value, now: &str) {
    let metadata = &mut object["metadata"];
    metadata["uid"] = Value::String(new_uid());
    metadata["creationTimestamp"] = Value::String(now.to_string());
    if resource.has_generation {
        metadata["generation"] = json!(1);
    }
    if resource.kind == "Namespace" {
        let name = metadata["name"].clone();
        metadata["labels"]["kubernetes.io/metadata.name"] = name;
        object["spec"]["finalizers"] = json!(["kubernetes"]);
        object["status"] = json!({"phase": "Active"});
    }
}

/// The part whose change bumps `metadata.generation`.
pub fn generation_part(object: &Value) -> Value {
    let mut part = object.clone();
    if let Value::Object(map) = &mut part {
        for field in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(field);
        }
    }
    part
}

/// Carries server-set metadata over from `old` and bumps the generation
/// when anything but metadata and status changed.
pub fn carry_metadata(resource: &ResourceType, old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "generation",
        "resourceVersion",
        "deletionTimestamp",
    ] {
        match old["metadata"].get(field) {
            Some(value) => new["metadata"][field] = value.clone(),
            None => {
                if let Some(Value::Object(metadata)) = new.get_mut("metadata") {
                    metadata.remove(field);
                }
            }
        }
    }
    if resource.has_generation && generation_part(old) != generation_part(new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
}
