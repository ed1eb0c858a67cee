//! Scope: what each app may touch, checked before anything is applied.
//!
//! `slipway.yaml` lists the kinds an app may apply ([`App::allows_kind`]) and
//! the namespace of each environment. A namespaced object without a namespace
//! is put into the environment's; one naming another namespace is refused, as
//! is any kind the app was not granted. Whether a kind is namespaced is what
//! the cluster's discovery says ([`KindScopes`]). Refusals are per object:
//! the rest of the app still syncs.

use serde_json::Value;

use super::cluster::ClusterTarget;
use super::render::RenderedObject;
use super::render::objects::{KindScopes, kind_of};
use crate::repoconfig::{App, Environment};

/// Namespace for namespaced objects when neither the object nor the
/// environment names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why an object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The app may not apply this kind.
    #[error("{file}: {kind} {name}: kind not allowed for this app")]
    KindNotAllowed {
        /// File that declared it.
        file: String,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// The object names a namespace other than the environment's.
    #[error("{file}: {kind} {name}: namespace {namespace} is outside {allowed}")]
    OtherNamespace {
        /// File that declared it.
        file: String,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The namespace it names.
        namespace: String,
        /// The environment's namespace.
        allowed: String,
    },
    /// A Namespace object other than the environment's own.
    #[error("{file}: Namespace {name}: only the environment's namespace {allowed} may be declared")]
    OtherNamespaceObject {
        /// File that declared it.
        file: String,
        /// The namespace it declares.
        name: String,
        /// The environment's namespace (or none).
        allowed: String,
    },
}

/// Objects split into the ones in scope (namespace filled in) and refusals.
#[derive(Debug, Default)]
pub struct Scoped {
    /// Objects that may be applied.
    pub accepted: Vec<RenderedObject>,
    /// Objects refused, with why.
    pub refused: Vec<Refusal>,
}

/// Check every object against the app's kinds and the environment's
/// namespace, with the scopes of the kinds the app may apply from
/// `cluster`'s discovery (cached; none without a cluster).
pub async fn check_in(
    cluster: &ClusterTarget,
    app: &App,
    env: &Environment,
    objects: Vec<RenderedObject>,
) -> Scoped {
    let allowed = objects
        .iter()
        .filter(|o| app.allows_kind(kind_of(&o.manifest)));
    let scopes = cluster.kind_scopes(allowed.map(|o| &o.manifest)).await;
    check(app, env, objects, &scopes)
}

/// Check every object against the app's kinds and the environment's
/// namespace, with `scopes` telling which kinds have no namespace.
pub fn check(
    app: &App,
    env: &Environment,
    objects: Vec<RenderedObject>,
    scopes: &KindScopes,
) -> Scoped {
    let mut scoped = Scoped::default();
    for mut object in objects {
        match check_one(app, env, &mut object.manifest, &object.source, scopes) {
            Ok(()) => scoped.accepted.push(object),
            Err(refusal) => scoped.refused.push(refusal),
        }
    }
    scoped
}

fn check_one(
    app: &App,
    env: &Environment,
    manifest: &mut Value,
    source: &str,
    scopes: &KindScopes,
) -> Result<(), Refusal> {
    let kind = kind_of(manifest).to_string();
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !app.allows_kind(&kind) {
        return Err(Refusal::KindNotAllowed {
            file: source.into(),
            kind,
            name,
        });
    }
    if kind == "Namespace" {
        return match &env.namespace {
            Some(ns) if *ns == name => Ok(()),
            other => Err(Refusal::OtherNamespaceObject {
                file: source.into(),
                name,
                allowed: other.clone().unwrap_or_else(|| "(none)".into()),
            }),
        };
    }
    let api_version = manifest
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if scopes.is_cluster_scoped(api_version, &kind) {
        // Granted explicitly in `kinds`; cluster-scoped objects have no namespace.
        if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
        return Ok(());
    }
    let declared = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from);
    let namespace = match (&env.namespace, declared) {
        (Some(allowed), Some(ns)) if *allowed != ns => {
            return Err(Refusal::OtherNamespace {
                file: source.into(),
                kind,
                name,
                namespace: ns,
                allowed: allowed.clone(),
            });
        }
        (Some(allowed), _) => allowed.clone(),
        (None, Some(ns)) => ns,
        (None, None) => DEFAULT_NAMESPACE.to_string(),
    };
    if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(kinds: Option<&[&str]>) -> App {
        App {
            image: "ghcr.io/acme/web".into(),
            source: None,
            environments: Vec::new(),
            kinds: kinds.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn env(namespace: Option<&str>) -> Environment {
        Environment {
            name: "dev".into(),
            path: "envs/dev".into(),
            mode: crate::repoconfig::WriteMode::Commit,
            namespace: namespace.map(String::from),
            rollout_timeout_seconds: 60,
            create_namespace: true,
            recreate_on_immutable: false,
            helm: None,
            helm_values: None,
            strategy: Default::default(),
        }
    }

    fn object(kind: &str, namespace: Option<&str>) -> RenderedObject {
        let api_version = match kind {
            "ClusterRole" | "ClusterRoleBinding" => "rbac.authorization.k8s.io/v1",
            _ => "v1",
        };
        let mut manifest =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}});
        if let Some(ns) = namespace {
            manifest["metadata"]["namespace"] = json!(ns);
        }
        RenderedObject {
            source: "f.yaml".into(),
            manifest,
        }
    }

    /// name, kinds, env namespace, kind, object namespace, namespace kept or refusal text.
    type Case<'a> = (
        &'a str,
        Option<&'a [&'a str]>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Result<Option<&'a str>, &'a str>,
    );

    #[test]
    fn objects_are_accepted_placed_or_refused() {
        let with_ns: &[&str] = &["ConfigMap", "Namespace", "ClusterRole"];
        let cases: &[Case] = &[
            (
                "namespace filled in",
                None,
                Some("team"),
                "ConfigMap",
                None,
                Ok(Some("team")),
            ),
            (
                "same namespace kept",
                None,
                Some("team"),
                "ConfigMap",
                Some("team"),
                Ok(Some("team")),
            ),
            (
                "other namespace refused",
                None,
                Some("team"),
                "ConfigMap",
                Some("other"),
                Err("outside team"),
            ),
            (
                "kind not allowed",
                None,
                Some("team"),
                "ClusterRoleBinding",
                None,
                Err("kind not allowed"),
            ),
            (
                "no env namespace keeps the object's",
                None,
                None,
                "ConfigMap",
                Some("x"),
                Ok(Some("x")),
            ),
            (
                "no namespace anywhere is default",
                None,
                None,
                "ConfigMap",
                None,
                Ok(Some("default")),
            ),
            (
                "granted cluster kind has no namespace",
                Some(with_ns),
                Some("team"),
                "ClusterRole",
                Some("team"),
                Ok(None),
            ),
            (
                "a kind discovery serves cluster-wide has no namespace",
                Some(&["BackupPolicy"]),
                Some("team"),
                "BackupPolicy",
                None,
                Ok(None),
            ),
            (
                "other Namespace object refused",
                Some(with_ns),
                Some("team"),
                "Namespace",
                None,
                Err("only the environment's namespace"),
            ),
        ];
        // The helper puts a custom kind in the core group.
        let mut scopes = KindScopes::default();
        scopes.discovered("v1", "BackupPolicy", true);
        for (name, kinds, env_ns, kind, obj_ns, want) in cases {
            let objects = vec![object(kind, *obj_ns)];
            let scoped = check(&app(*kinds), &env(*env_ns), objects, &scopes);
            match want {
                Ok(ns) => {
                    assert_eq!(scoped.accepted.len(), 1, "{name}: {:?}", scoped.refused);
                    let got = scoped.accepted[0]
                        .manifest
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str);
                    assert_eq!(got, *ns, "{name}");
                }
                Err(needle) => {
                    assert!(scoped.accepted.is_empty(), "{name}");
                    assert!(
                        scoped.refused[0].to_string().contains(needle),
                        "{name}: {}",
                        scoped.refused[0]
                    );
                }
            }
        }
    }

    #[test]
    fn a_refused_object_does_not_stop_the_others() {
        let scoped = check(
            &app(None),
            &env(Some("team")),
            vec![
                object("ConfigMap", None),
                object("ClusterRoleBinding", None),
                object("Secret", Some("other")),
            ],
            &KindScopes::default(),
        );
        assert_eq!(scoped.accepted.len(), 1);
        assert_eq!(scoped.refused.len(), 2);
    }
}
