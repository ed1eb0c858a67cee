//! A fleet-sized deploy repository: `apps` kustomize apps (`app0`, `app1`,
//! …), each with an `images:` entry for `ghcr.io/acme/<app>` at 1.0.0, a
//! policy that refuses downgrades, and optional history; plus the git
//! look-ups the batch test and the receive benchmark watch it with.

use std::path::{Path, PathBuf};

/// The policy every app falls under: no mutable `latest`, no downgrade.
pub const POLICY: &str =
    "apps: [\"*\"]\nenvironments: [\"*\"]\nimage:\n  mutable_tags: [latest]\nno_downgrade: true\n";

/// The name of app number `i`.
pub fn app(i: usize) -> String {
    format!("app{i}")
}

fn kustomization(app: &str, tag: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: ghcr.io/acme/{app}\n    newTag: {tag}\n"
    )
}

fn deployment(app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {app}\n          image: ghcr.io/acme/{app}\n"
    )
}

/// A bare repo `root/deploy.git` with `apps` apps at 1.0.0 (environment
/// `dev`) and `history` further commits by people (same tree).
pub fn deploy_repo(root: &Path, apps: usize, history: usize) -> PathBuf {
    let bare = root.join("deploy.git");
    let mut yaml = String::from("apps:\n");
    let mut files: Vec<(String, String)> = vec![("policies/default.yaml".into(), POLICY.into())];
    for i in 0..apps {
        let name = app(i);
        yaml.push_str(&format!(
            "  {name}:\n    image: ghcr.io/acme/{name}\n    environments:\n      - {{ name: dev, path: apps/{name} }}\n"
        ));
        files.push((
            format!("apps/{name}/kustomization.yaml"),
            kustomization(&name, "1.0.0"),
        ));
        files.push((format!("apps/{name}/deployment.yaml"), deployment(&name)));
    }
    files.push(("slipway.yaml".into(), yaml));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    slipway::bootstrap::create_bare_repo(&bare, "main", &borrowed).expect("seed repo");
    let repo = git2::Repository::open_bare(&bare).expect("open bare");
    let sig = git2::Signature::now("Seed", "seed@example.com").expect("signature");
    let mut parent = repo.refname_to_id("refs/heads/main").expect("main");
    let tree = repo
        .find_commit(parent)
        .and_then(|c| c.tree())
        .expect("tree");
    for n in 0..history {
        let parent_commit = repo.find_commit(parent).expect("parent");
        parent = repo
            .commit(
                None,
                &sig,
                &sig,
                &format!("chore: history {n}"),
                &tree,
                &[&parent_commit],
            )
            .expect("history commit");
    }
    repo.reference("refs/heads/main", parent, true, "history")
        .expect("main");
    bare
}

/// The tip of `main`.
pub fn head(bare: &Path) -> git2::Oid {
    let repo = git2::Repository::open_bare(bare).expect("open bare");
    repo.refname_to_id("refs/heads/main").expect("main")
}

/// The messages of the commits on `main` after `since`, newest first.
pub fn messages_since(bare: &Path, since: git2::Oid) -> Vec<String> {
    let repo = git2::Repository::open_bare(bare).expect("open bare");
    let mut walk = repo.revwalk().expect("walk");
    walk.push_ref("refs/heads/main").expect("push");
    walk.hide(since).expect("hide");
    walk.map(|oid| {
        let commit = repo.find_commit(oid.expect("oid")).expect("commit");
        commit.message().unwrap_or_default().to_string()
    })
    .collect()
}

/// How many commits `main` has after `since`.
pub fn commits_since(bare: &Path, since: git2::Oid) -> usize {
    messages_since(bare, since).len()
}

/// The `newTag` of every app at the tip of main.
pub fn tags_at_tip(bare: &Path, apps: usize) -> Vec<String> {
    let repo = git2::Repository::open_bare(bare).expect("open bare");
    let tree = repo
        .find_reference("refs/heads/main")
        .and_then(|r| r.peel_to_tree())
        .expect("tree");
    (0..apps)
        .map(|i| {
            let path = format!("apps/{}/kustomization.yaml", app(i));
            let entry = tree.get_path(Path::new(&path)).expect("file");
            let blob = repo.find_blob(entry.id()).expect("blob");
            let text = String::from_utf8_lossy(blob.content());
            text.lines()
                .find_map(|l| l.trim().strip_prefix("newTag: "))
                .unwrap_or_default()
                .trim_matches('\'')
                .to_string()
        })
        .collect()
}

/// A burst: two versions per app, `(delivery id, app, tag)`, every app's
/// 1.1.0 listed before its 1.2.0.
pub fn burst_events(apps: usize) -> Vec<(String, String, String)> {
    (0..2 * apps)
        .map(|n| {
            let (round, i) = (n / apps, n % apps);
            (format!("burst-{n}"), app(i), format!("1.{}.0", round + 1))
        })
        .collect()
}

/// The generic webhook body announcing `ghcr.io/acme/<app>:<tag>`.
pub fn artifact_body(app: &str, tag: &str) -> String {
    format!(r#"{{"type":"artifact.published","image":"ghcr.io/acme/{app}","tag":"{tag}"}}"#)
}
