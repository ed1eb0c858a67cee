//! A smart-HTTP git server on 127.0.0.1 for tests: git's own
//! `git-http-backend` run as CGI behind axum, requiring basic auth, with
//! switches to refuse pushes, cut connections or reject credentials.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use base64::Engine;
use tokio::io::AsyncWriteExt;

/// git's CGI program.
pub const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// Test switches; flip them while the server runs.
#[derive(Default)]
pub struct Switches {
    /// Answer 403 to every push.
    pub refuse_pushes: AtomicBool,
    /// Close the connection without an answer, for every request.
    pub cut_connection: AtomicBool,
    /// Close the connection without an answer, for pushes only (fetches work).
    pub cut_pushes: AtomicBool,
    /// Answer 401 whatever credentials are sent.
    pub reject_credentials: AtomicBool,
    /// Requests that carried valid credentials.
    pub authorised_requests: AtomicUsize,
    /// Requests answered 401.
    pub unauthorised_requests: AtomicUsize,
}

struct ServerState {
    root: PathBuf,
    username: String,
    password: String,
    /// A second user that may fetch but never push.
    reader: Option<(String, String)>,
    switches: Arc<Switches>,
}

/// A running server.
pub struct GitHttpServer {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// Its switches.
    pub switches: Arc<Switches>,
    task: tokio::task::JoinHandle<()>,
}

impl GitHttpServer {
    /// Serve the bare repositories under `root`, requiring `username`/`password`.
    pub async fn start(root: &Path, username: &str, password: &str) -> GitHttpServer {
        Self::serve(root, username, password, None).await
    }

    /// Like [`GitHttpServer::start`], plus a read-only user whose pushes get 403.
    pub async fn start_with_reader(
        root: &Path,
        (username, password): (&str, &str),
        (reader, reader_password): (&str, &str),
    ) -> GitHttpServer {
        let reader = Some((reader.to_string(), reader_password.to_string()));
        Self::serve(root, username, password, reader).await
    }

    async fn serve(
        root: &Path,
        username: &str,
        password: &str,
        reader: Option<(String, String)>,
    ) -> GitHttpServer {
        let switches = Arc::new(Switches::default());
        let state = Arc::new(ServerState {
            root: root.to_path_buf(),
            username: username.into(),
            password: password.into(),
            reader,
            switches: switches.clone(),
        });
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHttpServer {
            addr,
            switches,
            task,
        }
    }

    /// URL of the repository `name` (e.g. `deploy.git`).
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn authorised(state: &ServerState, headers: &HeaderMap) -> Option<String> {
    if state.switches.reject_credentials.load(Ordering::SeqCst) {
        return None;
    }
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    let is_reader = state
        .reader
        .as_ref()
        .is_some_and(|(u, p)| user == u && pass == p);
    (is_reader || (user == state.username && pass == state.password)).then(|| user.to_string())
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Some(user) = authorised(&state, &parts.headers) else {
        state
            .switches
            .unauthorised_requests
            .fetch_add(1, Ordering::SeqCst);
        let mut response = status(StatusCode::UNAUTHORIZED);
        response.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"git\"".parse().expect("header"),
        );
        return response;
    };
    state
        .switches
        .authorised_requests
        .fetch_add(1, Ordering::SeqCst);
    let is_push = parts.uri.path().ends_with("/git-receive-pack")
        || parts
            .uri
            .query()
            .unwrap_or_default()
            .contains("service=git-receive-pack");
    let read_only = state.reader.as_ref().is_some_and(|(u, _)| *u == user);
    if is_push && (read_only || state.switches.refuse_pushes.load(Ordering::SeqCst)) {
        return status(StatusCode::FORBIDDEN);
    }
    let cut_push = is_push && state.switches.cut_pushes.load(Ordering::SeqCst);
    if cut_push || state.switches.cut_connection.load(Ordering::SeqCst) {
        // A body that fails makes the server drop the connection mid-answer.
        let failing = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("connection cut by the test"))
        });
        return Response::new(Body::from_stream(failing));
    }
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(body) => body,
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    run_cgi(
        &state.root,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &user,
        body,
    )
    .await
}

async fn run_cgi(
    root: &Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    user: &str,
    body: Bytes,
) -> Response<Body> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut command = tokio::process::Command::new(HTTP_BACKEND);
    command
        .env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let Ok(mut child) = command.spawn() else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let Ok(output) = child.wait_with_output().await else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    cgi_response(&output.stdout)
}

/// Split a CGI answer into headers (with `Status:`) and body.
fn cgi_response(out: &[u8]) -> Response<Body> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let split = split.or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut response = Response::new(Body::from(out[end + gap..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            *response.status_mut() =
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
