use serde_json::json;

use crate::selectors::*;

#[test]
fn label_selectors_match_like_the_api_server() {
    let object = json!({"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "front"}}});
    let rows: &[(&str, &str, bool)] = &[
        ("equality", "app=web", true),
        ("double equals", "app==web", true),
        ("equality mismatch", "app=db", false),
        ("inequality", "tier!=back", true),
        ("inequality on missing key holds", "zone!=a", true),
        ("conjunction", "app=web,tier=front", true),
        ("conjunction with a miss", "app=web,tier=back", false),
        ("set in", "tier in (front, back)", true),
        ("set notin", "tier notin (front)", false),
        ("exists", "app", true),
        ("does not exist", "!zone", true),
        ("does not exist on present key", "!app", false),
        ("empty selector selects all", "", true),
    ];
    for (case, text, expected) in rows {
        let filter = ObjectFilter {
            labels: Selector::parse(text).unwrap_or_default(),
            ..ObjectFilter::default()
        };
        assert_eq!(filter.matches(&object), *expected, "{case}");
    }
}

#[test]
fn field_selectors_match_name_and_namespace() {
    let object = json!({"metadata": {"name": "web", "namespace": "shop"}});
    let rows: &[(&str, &str, bool)] = &[
        ("name", "metadata.name=web", true),
        ("other name", "metadata.name=db", false),
        ("namespace", "metadata.namespace=shop", true),
        ("not name", "metadata.name!=web", false),
    ];
    for (case, text, expected) in rows {
        let filter = ObjectFilter {
            fields: Selector::parse(text).unwrap_or_default(),
            ..ObjectFilter::default()
        };
        assert_eq!(filter.matches(&object), *expected, "{case}");
    }
}

#[test]
fn malformed_selectors_are_rejected() {
    assert_eq!(Selector::parse("tier in front"), None);
}
