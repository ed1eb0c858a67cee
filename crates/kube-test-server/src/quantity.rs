//! Resource quantities in the form the API server stores them: the
//! canonical form of `k8s.io/apimachinery/pkg/api/resource.Quantity`
//! (`"0.5"` is `500m`, `0.5Gi` is `512Mi`, `1000m` is `1`, `2000` is `2k`).
//! A binary-SI value that is not a whole number of bytes, or is under 1024,
//! is written in decimal SI; decimal values below a nano are rounded up.

use serde_json::Value;

const DECIMAL_SUFFIXES: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];
const BINARY_SUFFIXES: &[&str] = &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// `mantissa × 10^exponent` and the format the suffix chose.
fn parse(text: &str) -> Option<(i128, i32, Format)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut exponent = -i32::try_from(fraction.len()).ok()?;
    let format = if let Some(&(_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        exponent += e;
        Format::DecimalSi
    } else if let Some(n) = BINARY_SUFFIXES.iter().position(|s| *s == suffix) {
        mantissa = mantissa.checked_mul(1024_i128.checked_pow(u32::try_from(n).ok()?)?)?;
        Format::BinarySi
    } else {
        let power = suffix.strip_prefix(['e', 'E'])?;
        exponent += power.parse::<i32>().ok()?;
        Format::DecimalExponent
    };
    Some((
        if negative { -mantissa } else { mantissa },
        exponent,
        format,
    ))
}

/// The canonical text of a quantity; `None` when it does not parse.
pub fn canonical(text: &str) -> Option<String> {
    let (mut mantissa, mut exponent, mut format) = parse(text)?;
    if mantissa == 0 {
        return Some("0".into());
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    if format == Format::BinarySi {
        let whole = exponent >= 0;
        let value = mantissa.checked_mul(10_i128.checked_pow(exponent.max(0).unsigned_abs())?)?;
        if !whole || value.abs() < 1024 {
            format = Format::DecimalSi;
        } else {
            let (mut value, mut n) = (value, 0);
            while value % 1024 == 0 && n + 1 < BINARY_SUFFIXES.len() {
                value /= 1024;
                n += 1;
            }
            return Some(format!("{value}{}", BINARY_SUFFIXES[n]));
        }
    }
    if exponent < -9 {
        let divisor = 10_i128.checked_pow((-9 - exponent).unsigned_abs())?;
        mantissa = (mantissa + divisor - mantissa.signum()) / divisor;
        exponent = -9;
    }
    let mut scale = exponent.div_euclid(3) * 3;
    if format == Format::DecimalSi {
        scale = scale.min(18);
    }
    mantissa = mantissa.checked_mul(10_i128.checked_pow((exponent - scale).unsigned_abs())?)?;
    let suffix = match format {
        Format::DecimalExponent if scale == 0 => String::new(),
        Format::DecimalExponent => format!("e{scale}"),
        _ => DECIMAL_SUFFIXES
            .iter()
            .find(|(_, e)| *e == scale)
            .map(|(s, _)| (*s).to_string())?,
    };
    Some(format!("{mantissa}{suffix}"))
}

/// Canonicalises every quantity under a `resources` map's `requests` and
/// `limits` (containers, PersistentVolumeClaims), wherever it appears.
pub fn normalise_resources(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "resources" {
                    for list in ["requests", "limits"] {
                        if let Some(Value::Object(amounts)) = child.get_mut(list) {
                            amounts.values_mut().for_each(normalise_one);
                        }
                    }
                }
                normalise_resources(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_resources),
        _ => {}
    }
}

fn normalise_one(amount: &mut Value) {
    let text = match amount {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return,
    };
    if let Some(canonical) = canonical(&text) {
        *amount = Value::String(canonical);
    }
}
