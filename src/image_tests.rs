use super::*;

/// (row, text, registry, repository, tag, digest)
type ParseRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
);
/// (row, repository, tag, digest, error)
type PartsRow<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<ImageRefError>,
);

const D: &str = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498";

#[test]
fn references_parse_into_name_tag_and_digest() {
    let tagged_digest = format!("ghcr.io/acme/web:1.1.0@{D}");
    let digest_only = format!("ghcr.io/acme/web@{D}");
    let port_digest = format!("localhost:5000/web@{D}");
    // (row, text, registry, repository, tag, digest)
    let cases: [ParseRow; 15] = [
        (
            "docker hub short",
            "nginx",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "docker hub tag",
            "nginx:1.27",
            "docker.io",
            "library/nginx",
            Some("1.27"),
            None,
        ),
        (
            "docker hub user",
            "acme/web:2",
            "docker.io",
            "acme/web",
            Some("2"),
            None,
        ),
        (
            "docker hub full",
            "docker.io/library/nginx:1",
            "docker.io",
            "library/nginx",
            Some("1"),
            None,
        ),
        (
            "docker hub legacy",
            "index.docker.io/acme/web:2",
            "docker.io",
            "acme/web",
            Some("2"),
            None,
        ),
        (
            "registry",
            "ghcr.io/acme/web:1.2.3",
            "ghcr.io",
            "acme/web",
            Some("1.2.3"),
            None,
        ),
        (
            "port",
            "registry.example.com:5000/acme/web:1.1.0",
            "registry.example.com:5000",
            "acme/web",
            Some("1.1.0"),
            None,
        ),
        (
            "port, no tag",
            "registry.example.com:5000/acme/web",
            "registry.example.com:5000",
            "acme/web",
            None,
            None,
        ),
        (
            "localhost port",
            "localhost:5000/web",
            "localhost:5000",
            "web",
            None,
            None,
        ),
        (
            "localhost",
            "localhost/web:1",
            "localhost",
            "web",
            Some("1"),
            None,
        ),
        (
            "ipv4 host",
            "10.1.2.3:8443/acme/web:3",
            "10.1.2.3:8443",
            "acme/web",
            Some("3"),
            None,
        ),
        (
            "uppercase host",
            "GHCR.io/acme/web:1",
            "ghcr.io",
            "acme/web",
            Some("1"),
            None,
        ),
        (
            "tag and digest",
            &tagged_digest,
            "ghcr.io",
            "acme/web",
            Some("1.1.0"),
            Some(D),
        ),
        (
            "digest only",
            &digest_only,
            "ghcr.io",
            "acme/web",
            None,
            Some(D),
        ),
        (
            "port and digest",
            &port_digest,
            "localhost:5000",
            "web",
            None,
            Some(D),
        ),
    ];
    for (row, text, registry, repository, tag, digest) in cases {
        let image = ImageRef::parse(text).unwrap_or_else(|e| panic!("{row}: {e}"));
        let name = image.name();
        assert_eq!(
            (name.registry(), name.repository()),
            (registry, repository),
            "{row}"
        );
        assert_eq!(image.tag.as_deref(), tag, "{row}");
        assert_eq!(image.digest.as_deref(), digest, "{row}");
        assert_eq!(image.to_string(), text, "{row}: prints as given");
    }
}

#[test]
fn bad_references_are_refused_naming_the_part() {
    let short = "ghcr.io/acme/web@sha256:ab".to_string();
    let upper_digest = format!("ghcr.io/acme/web@sha256:{}", "AB".repeat(32));
    let long_tag = format!("ghcr.io/acme/web:{}", "1".repeat(129));
    let cases: [(&str, &str, ReferencePart); 15] = [
        ("uppercase path", "ghcr.io/Acme/web:1", ReferencePart::Name),
        ("uppercase short", "Nginx:1", ReferencePart::Name),
        (
            "uppercase first component",
            "Acme/web:1",
            ReferencePart::Name,
        ),
        ("empty", "", ReferencePart::Name),
        ("empty tag", "ghcr.io/acme/web:", ReferencePart::Tag),
        (
            "newline in tag",
            "ghcr.io/acme/web:1.5.0\nkind: ClusterRole",
            ReferencePart::Tag,
        ),
        ("shell in tag", "ghcr.io/acme/web:$(id)", ReferencePart::Tag),
        (
            "path in tag",
            "ghcr.io/acme/web:../../x",
            ReferencePart::Name,
        ),
        ("space in tag", "ghcr.io/acme/web:1.6 0", ReferencePart::Tag),
        (
            "tag starts with dot",
            "ghcr.io/acme/web:.1",
            ReferencePart::Tag,
        ),
        ("tag too long", &long_tag, ReferencePart::Tag),
        ("short digest", &short, ReferencePart::Digest),
        ("uppercase digest", &upper_digest, ReferencePart::Digest),
        ("path trick", "ghcr.io/acme/../web:1", ReferencePart::Name),
        ("double slash", "ghcr.io//web:1", ReferencePart::Name),
    ];
    for (row, text, part) in cases {
        let error = ImageRef::parse(text).map(|i| i.to_string()).expect_err(row);
        assert_eq!(error.part(), part, "{row}: {error}");
    }
}

#[test]
fn parts_from_a_sender_are_checked_one_by_one() {
    let cases: [PartsRow; 7] = [
        ("tag", "ghcr.io/acme/web", Some("1.5.0"), None, None),
        ("port", "localhost:5000/web", Some("1"), Some(D), None),
        (
            "empty tag",
            "ghcr.io/acme/web",
            Some(""),
            None,
            Some(ImageRefError::Empty(ReferencePart::Tag)),
        ),
        (
            "empty digest",
            "ghcr.io/acme/web",
            None,
            Some(""),
            Some(ImageRefError::Empty(ReferencePart::Digest)),
        ),
        (
            "tag in repository",
            "ghcr.io/acme/web:1",
            Some("2"),
            None,
            Some(ImageRefError::NotAName),
        ),
        (
            "slash in tag",
            "ghcr.io/acme/web",
            Some("../../x"),
            None,
            Some(ImageRefError::ForbiddenCharacter(ReferencePart::Tag)),
        ),
        (
            "yaml in tag",
            "ghcr.io/acme/web",
            Some("1\nkind: Secret"),
            None,
            Some(ImageRefError::ForbiddenCharacter(ReferencePart::Tag)),
        ),
    ];
    for (row, repository, tag, digest, want) in cases {
        assert_eq!(
            ImageRef::from_parts(repository, tag, digest).err(),
            want,
            "{row}"
        );
    }
}

#[test]
fn names_are_repositories_without_tag_or_digest() {
    let cases: [(&str, &str, Result<&str, ImageRefError>); 8] = [
        ("port", "localhost:5000/web", Ok("localhost:5000/web")),
        (
            "registry port path",
            "registry.example.com:5000/acme/web",
            Ok("registry.example.com:5000/acme/web"),
        ),
        (
            "harbor port",
            "harbor.example.com:8443/acme/web",
            Ok("harbor.example.com:8443/acme/web"),
        ),
        ("docker hub", "nginx", Ok("docker.io/library/nginx")),
        ("tag", "ghcr.io/acme/web:1", Err(ImageRefError::NotAName)),
        (
            "digest",
            "ghcr.io/acme/web@sha256:00",
            Err(ImageRefError::NotAName),
        ),
        (
            "uppercase",
            "ghcr.io/Acme/web",
            Err(ImageRefError::Uppercase),
        ),
        (
            "space",
            "ghcr.io/acme web",
            Err(ImageRefError::ForbiddenCharacter(ReferencePart::Name)),
        ),
    ];
    for (row, text, want) in cases {
        let got = ImageName::parse(text).map(|n| n.to_string());
        assert_eq!(got, want.map(String::from), "{row}");
    }
}

#[test]
fn spellings_of_one_repository_are_the_same() {
    let cases = [
        ("short and full", "nginx", "docker.io/library/nginx", true),
        ("legacy host", "index.docker.io/acme/web", "acme/web", true),
        (
            "ports differ",
            "localhost:5000/web",
            "localhost:5001/web",
            false,
        ),
        (
            "hosts differ",
            "ghcr.io/acme/web",
            "quay.io/acme/web",
            false,
        ),
        ("invalid never matches", "not valid", "not valid", false),
    ];
    for (row, a, b, same) in cases {
        assert_eq!(same_repository(a, b), same, "{row}");
    }
}

#[test]
fn deployable_references_need_a_tag_or_a_digest() {
    assert_eq!(
        ImageRef::parse_pinned("ghcr.io/acme/web").err(),
        Some(ImageRefError::Unpinned)
    );
    assert!(ImageRef::parse_pinned(&format!("ghcr.io/acme/web@{D}")).is_ok());
}
