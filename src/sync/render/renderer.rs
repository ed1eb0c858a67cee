//! The renderer sync holds: the tools found at start, their limits, and
//! the outputs already rendered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::recipe::{self, Recipe};
use super::run::{self, RunError};
use super::tools::{Limits, RenderSettings, RenderTools, Tool, ToolVersions};
use super::workdir::Workdir;
use super::{RenderError, RenderedObject, render_plain};
use crate::repoconfig::Environment;
use crate::sync::tree::ManifestTree;

/// Most tool renders remembered; the oldest is forgotten first.
pub const MAX_CACHED_RENDERS: usize = 128;

/// What a tool's message says when it tried to reach the network.
const NETWORK_SIGNS: &[&str] = &["proxyconnect", "no 'git' program", "127.0.0.1:9"];

/// Renders environments with the tools found at start. Cheap to clone;
/// clones share the cache.
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RenderSettings,
    tools: tokio::sync::OnceCell<RenderTools>,
    limits: Limits,
    cache: Mutex<Cache>,
}

type Outcome = Result<Vec<RenderedObject>, RenderError>;

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Outcome>,
    order: VecDeque<String>,
}

/// The first half of a render, done where the revision's tree can be read
/// (blocking): what to run, and the revision written out for it.
pub struct Prepared(Step);

enum Step {
    Done(Outcome),
    Run {
        recipe: Recipe,
        tool: Tool,
        workdir: Workdir,
        key: Option<String>,
    },
}

impl Renderer {
    /// A renderer that finds its tools as `settings` says, on first use.
    pub fn new(settings: &RenderSettings) -> Self {
        Self::build(settings.clone(), tokio::sync::OnceCell::new())
    }

    /// A renderer with exactly these tools.
    pub fn with_tools(tools: RenderTools, settings: &RenderSettings) -> Self {
        Self::build(
            settings.clone(),
            tokio::sync::OnceCell::new_with(Some(tools)),
        )
    }

    fn build(settings: RenderSettings, tools: tokio::sync::OnceCell<RenderTools>) -> Self {
        Renderer {
            inner: Arc::new(Inner {
                limits: Limits::from_settings(&settings),
                settings,
                tools,
                cache: Mutex::new(Cache::default()),
            }),
        }
    }

    /// The tools, found (and their versions logged) on the first call.
    pub async fn tools(&self) -> &RenderTools {
        self.inner
            .tools
            .get_or_init(|| async {
                let tools = RenderTools::discover(&self.inner.settings).await;
                let versions = tools.versions();
                let shown =
                    |v: &Option<String>| v.clone().unwrap_or_else(|| "not installed".into());
                tracing::info!(
                    kustomize = %shown(&versions.kustomize),
                    helm = %shown(&versions.helm),
                    "render tools"
                );
                for (tool, found) in [("kustomize", &tools.kustomize), ("helm", &tools.helm)] {
                    if found.is_none() {
                        tracing::warn!(
                            tool,
                            "render tool not installed: environments that need it are refused (install it, or name it in sync.render)"
                        );
                    }
                }
                tools
            })
            .await
    }

    /// The versions of the tools, once they have been looked for.
    pub fn versions(&self) -> Option<ToolVersions> {
        self.inner.tools.get().map(RenderTools::versions)
    }

    fn found(&self) -> &RenderTools {
        static NONE: RenderTools = RenderTools {
            kustomize: None,
            helm: None,
        };
        self.inner.tools.get().unwrap_or(&NONE)
    }

    /// Decide how `env` renders and, for a tool, write the revision out.
    /// Plain YAML and remembered outputs are done here already. Blocking;
    /// await [`Self::tools`] once before, or every tool counts as missing.
    pub fn prepare(&self, tree: &dyn ManifestTree, app_name: &str, env: &Environment) -> Prepared {
        Prepared(
            self.step(tree, app_name, env)
                .unwrap_or_else(|e| Step::Done(Err(e))),
        )
    }

    fn step(
        &self,
        tree: &dyn ManifestTree,
        app_name: &str,
        env: &Environment,
    ) -> Result<Step, RenderError> {
        let recipe = recipe::recipe(tree, app_name, env)?;
        let tool = match &recipe {
            Recipe::Plain { path } => return Ok(Step::Done(render_plain(tree, path))),
            Recipe::Kustomize { .. } => self.found().kustomize.clone(),
            Recipe::Helm(_) => self.found().helm.clone(),
        };
        let tool = tool.ok_or_else(|| RenderError::ToolMissing {
            tool: recipe.tool().unwrap_or_default(),
            path: env.path.clone(),
        })?;
        let key = inputs_id(tree, &recipe)
            .map(|id| format!("{id}\n{recipe:?}\n{:?}", self.found().versions()));
        if let Some(done) = key.as_ref().and_then(|k| self.remembered(k)) {
            return Ok(Step::Done(done));
        }
        Ok(Step::Run {
            workdir: Workdir::write(tree, &recipe.inputs())?,
            recipe,
            tool,
            key,
        })
    }

    /// The second half: run the tool, bounded and offline, and parse its
    /// output. A tool's failure is a [`RenderError::Tool`] with its message.
    pub async fn finish(&self, prepared: Prepared) -> Outcome {
        let (recipe, tool, workdir, key) = match prepared.0 {
            Step::Done(done) => return done,
            Step::Run {
                recipe,
                tool,
                workdir,
                key,
            } => (recipe, tool, workdir, key),
        };
        let helm = self.found().helm.as_ref().map(|h| h.program.as_path());
        let mut args: Vec<String> = tool.prefix.clone();
        args.extend(recipe.args(&workdir.repo(), helm));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env = run::offline_env(&workdir.home());
        let ran = run::run(
            &tool.program,
            &args,
            &workdir.repo(),
            &env,
            self.inner.limits,
        )
        .await;
        // Deleting the revision's files is blocking work.
        tokio::task::spawn_blocking(move || drop(workdir));
        // A tool that could not start may be back on the next pass, and a
        // render that ran out of time may have met a busy machine.
        let remember = !matches!(ran, Err(RunError::Spawn { .. } | RunError::TimedOut(_)));
        let outcome = match ran {
            Ok(output) => recipe.parse(&output),
            Err(e) => Err(RenderError::Tool {
                tool: recipe.tool().unwrap_or_default(),
                path: recipe.source().to_string(),
                message: tool_message(&e),
            }),
        };
        if let Some(key) = key
            && remember
            && outcome
                .as_ref()
                .err()
                .is_none_or(RenderError::is_deterministic)
        {
            self.remember(key, outcome.clone());
        }
        outcome
    }

    /// Render `env` from `tree`: [`Self::prepare`] then [`Self::finish`].
    pub async fn render(
        &self,
        tree: &dyn ManifestTree,
        app_name: &str,
        env: &Environment,
    ) -> Outcome {
        self.tools().await;
        let prepared = self.prepare(tree, app_name, env);
        self.finish(prepared).await
    }

    fn remembered(&self, key: &str) -> Option<Outcome> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.entries.get(key).cloned()
    }

    fn remember(&self, key: String, outcome: Outcome) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.entries.insert(key.clone(), outcome).is_none() {
            cache.order.push_back(key);
        }
        while cache.order.len() > MAX_CACHED_RENDERS {
            if let Some(old) = cache.order.pop_front() {
                cache.entries.remove(&old);
            }
        }
    }
}

/// An id of everything a render reads ([`Recipe::inputs`]).
fn inputs_id(tree: &dyn ManifestTree, recipe: &Recipe) -> Option<String> {
    let ids: Option<Vec<String>> = recipe.inputs().iter().map(|p| tree.id_at(p)).collect();
    ids.map(|ids| ids.join("+"))
}

/// A person's one line for a failed run: the tool's own message, which
/// limit was passed, or that render is offline.
fn tool_message(e: &RunError) -> String {
    match e {
        RunError::TimedOut(limit) => format!(
            "took longer than {} s and was stopped (sync.render.timeout_seconds)",
            limit.as_secs_f64()
        ),
        RunError::TooLarge(limit) => {
            format!("output larger than {limit} bytes (sync.render.max_output_bytes)")
        }
        RunError::Failed { message } if NETWORK_SIGNS.iter().any(|s| message.contains(s)) => {
            format!(
                "render is offline, remote resources, bases and charts are not fetched (vendor them into the deploy repo): {message}"
            )
        }
        other => other.to_string(),
    }
}
