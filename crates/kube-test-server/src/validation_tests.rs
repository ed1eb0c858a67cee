//! The int-or-string checks, as apimachinery words them.

use crate::validation::{percent_refusal, port_name_refusal};

#[test]
fn port_names_follow_iana_svc_name() {
    let cases = [
        ("http", None),
        ("web-8080", None),
        ("8080", Some("must contain at least one letter (a-z)")),
        (
            "HTTP",
            Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ),
        (
            "0.0.0.0:8091",
            Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ),
        (
            "a-very-long-port-name",
            Some("must be no more than 15 characters"),
        ),
        ("web--admin", Some("must not contain consecutive hyphens")),
        ("-web", Some("must not begin or end with a hyphen")),
        ("", Some("must contain at least one letter (a-z)")),
    ];
    for (name, want) in cases {
        assert_eq!(port_name_refusal(name), want, "{name:?}");
    }
}

#[test]
fn percentages_need_digits_and_a_percent_sign() {
    for (text, ok) in [
        ("25%", true),
        ("0%", true),
        ("1", false),
        ("%", false),
        ("2.5%", false),
        ("25 %", false),
    ] {
        assert_eq!(percent_refusal(text).is_none(), ok, "{text:?}");
    }
}
