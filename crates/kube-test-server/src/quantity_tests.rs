//! The canonical form of quantities, as the real API server stores them.

use crate::quantity::canonical;

#[test]
fn quantities_are_stored_in_their_canonical_form() {
    let rows = [
        ("0.5", "500m"),
        ("0.5Gi", "512Mi"),
        ("1000m", "1"),
        ("1.5", "1500m"),
        ("2000", "2k"),
        ("1Gi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1024", "1024"),
        ("512Ki", "512Ki"),
        ("0.5Ki", "512"),
        ("100Mi", "100Mi"),
        ("128974848", "128974848"),
        ("1e3", "1e3"),
        ("0", "0"),
        ("0.0000000001", "1n"),
        ("-0.5", "-500m"),
        ("250m", "250m"),
    ];
    for (input, want) in rows {
        assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
    }
}

#[test]
fn text_that_is_no_quantity_is_left_alone() {
    for input in ["", "abc", "1.2.3", "5Xi", "."] {
        assert_eq!(canonical(input), None, "{input}");
    }
}
