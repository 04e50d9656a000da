//! `brain board`: a live web page for the person who owns the agents, served on 127.0.0.1.
//!
//! One page, its script and its style are embedded in the binary (no build step, no CDN). The
//! page asks `/api/board` for what to show and listens on `/api/events` (server-sent events) for
//! a change; every change it makes is a POST that goes through the same brain-core calls as
//! `brain approve`, `deny`, `answer`, `add` and the MCP server's `update_task`, one transaction
//! (one commit) each. Claims belong to agents: the board makes none. See `guard.rs` for what a
//! request must pass, `live.rs` for how changes are noticed, `view.rs` for what is shown.

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use brain_core::Repo;
use brain_core::queue::Update;
use brain_core::task::newtask::NewTaskInput;
use serde::Deserialize;
use serde_json::{Value, json};

mod guard;
mod live;
mod view;

pub use guard::SESSION_HEADER;

const PAGE: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");

/// The page may run only its own script and style: even a task text that got through
/// unescaped could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The default port.
pub const DEFAULT_PORT: u16 = 7420;

/// How `brain board` was asked to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The brain repo's root.
    pub repo: PathBuf,
    /// The address to listen on: loopback unless given (then an access key is required).
    pub host: Option<String>,
    /// 0: any free port.
    pub port: u16,
    /// Open the page in the default browser.
    pub open: bool,
}

/// What every handler shares.
pub(crate) struct Shared {
    root: PathBuf,
    /// The page's token for changes.
    session: String,
    /// The access key, when listening beyond loopback.
    key: Option<String>,
    /// The `Host` values this server answers to on loopback (beyond it, the key decides).
    hosts: Vec<String>,
    live: tokio::sync::watch::Receiver<u64>,
    /// The last board sent, for the same version and pages: a page load does not list the
    /// folders again when nothing changed (the fingerprint says so) in the last few seconds.
    cache: std::sync::Mutex<Option<Cached>>,
}

struct Cached {
    version: u64,
    pages: view::Pages,
    at: std::time::Instant,
    /// When the board changes by itself (its `changes_at`).
    changes_at: Option<jiff::Timestamp>,
    /// The board as sent: serialized once.
    json: axum::body::Bytes,
}

/// How long a board is served again while no file changed (the page ticks ages and leases
/// itself; a `not_before` that passes ends it sooner, see `changes_at`).
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(60);

impl Shared {
    fn cached(&self, version: u64, pages: view::Pages) -> Option<axum::body::Bytes> {
        let c = self.cache.lock().ok()?;
        c.as_ref()
            .filter(|c| c.version == version && c.pages == pages && c.at.elapsed() < CACHE_FOR)
            .filter(|c| c.changes_at.is_none_or(|t| jiff::Timestamp::now() < t))
            .map(|c| c.json.clone())
    }

    fn keep(&self, version: u64, pages: view::Pages, board: &Value) -> axum::body::Bytes {
        let json = axum::body::Bytes::from(board.to_string());
        let changes_at = board["changes_at"].as_str().and_then(|t| t.parse().ok());
        if let Ok(mut c) = self.cache.lock() {
            *c = Some(Cached {
                version,
                pages,
                at: std::time::Instant::now(),
                changes_at,
                json: json.clone(),
            });
        }
        json
    }

    /// After a change made here: the next board is read from the folders.
    fn forget(&self) {
        if let Ok(mut c) = self.cache.lock() {
            *c = None;
        }
    }
}

/// Serves the board until the process is stopped (Ctrl-C).
pub fn serve(opts: Options) -> anyhow::Result<()> {
    // A repo that cannot be opened is said now, not on the first request.
    Repo::open(&opts.repo)?.ensure_local_dir();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(opts))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn run(opts: Options) -> anyhow::Result<()> {
    let host = opts.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let bind = host.trim_matches(['[', ']']).to_string();
    let listener = tokio::net::TcpListener::bind((bind.as_str(), opts.port))
        .await
        .map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied => {
                    "give another --port (0 picks a free one)"
                }
                _ => "give --host an address of this machine (like 0.0.0.0), or leave it out",
            };
            anyhow::anyhow!("cannot listen on {host}:{}: {e}; {hint}", opts.port)
        })?;
    let port = listener.local_addr()?.port();
    let key = (!is_loopback(&host)).then(guard::token).transpose()?;
    let shown = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let mut hosts = vec![format!("{shown}:{port}")];
    if is_loopback(&host) {
        hosts.extend([
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    let shared = Arc::new(Shared {
        root: opts.repo.clone(),
        session: guard::session(&opts.repo)?,
        key: key.clone(),
        hosts,
        live: live::start(opts.repo.clone()),
        cache: std::sync::Mutex::new(None),
    });
    {
        // The first page load finds the board read already.
        let s = shared.clone();
        tokio::spawn(async move {
            let _ = board(State(s), Query(view::Pages::default())).await;
        });
    }
    let app = Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/api/board", get(board))
        .route("/api/task/{id}", get(task))
        .route("/api/events", get(events))
        .route("/api/approve", post(approve))
        .route("/api/deny", post(deny))
        .route("/api/answer", post(answer))
        .route("/api/requeue", post(requeue))
        .route("/api/add", post(add))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::check,
        ))
        .with_state(shared);
    let url = match &key {
        Some(k) => format!("http://{shown}:{port}/?key={k}"),
        None => format!("http://{shown}:{port}/"),
    };
    println!("brain board: {url}");
    eprintln!(
        "brain board: serving {} (Ctrl-C stops it)",
        brain_core::fsutil::plain_path(&opts.repo).display()
    );
    if opts.open {
        open_browser(&url);
    }
    axum::serve(listener, app).await?;
    Ok(())
}

fn open_browser(url: &str) {
    #[cfg(windows)]
    let r = std::process::Command::new("cmd")
        .args(["/C", "start", "", url])
        .spawn();
    #[cfg(target_os = "macos")]
    let r = std::process::Command::new("open").arg(url).spawn();
    #[cfg(all(unix, not(target_os = "macos")))]
    let r = std::process::Command::new("xdg-open").arg(url).spawn();
    if let Err(e) = r {
        eprintln!("brain board: could not open a browser ({e}); open {url}");
    }
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(s): State<Arc<Shared>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE.replace("{{SESSION}}", &s.session),
    )
        .into_response()
}

fn failed(code: StatusCode, message: impl std::fmt::Display) -> Response {
    (code, Json(json!({"error": message.to_string()}))).into_response()
}

/// The time now (`BRAIN_NOW` pins it, for tests).
fn now() -> brain_core::Result<jiff::Timestamp> {
    brain_core::task::time::now_or_pinned().map_err(brain_core::Error::Invalid)
}

/// Runs `f` on the repo, at the time now, in tokio's blocking pool; a refused change is 409
/// with brain's message.
async fn blocking(
    s: &Shared,
    f: impl FnOnce(&Repo, jiff::Timestamp) -> brain_core::Result<Value> + Send + 'static,
) -> Result<Value, Response> {
    let root = s.root.clone();
    match tokio::task::spawn_blocking(move || Repo::open(&root).and_then(|r| f(&r, now()?))).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(StatusCode::CONFLICT, e)),
        Err(e) => Err(failed(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

/// JSON that is not cached by the browser.
fn fresh(json: axum::body::Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}

/// [`blocking`], answered as JSON.
async fn with_repo(
    s: &Shared,
    f: impl FnOnce(&Repo, jiff::Timestamp) -> brain_core::Result<Value> + Send + 'static,
) -> Response {
    match blocking(s, f).await {
        Ok(v) => fresh(v.to_string().into()),
        Err(r) => r,
    }
}

async fn board(State(s): State<Arc<Shared>>, Query(pages): Query<view::Pages>) -> Response {
    let version = *s.live.borrow();
    // Pinned time (BRAIN_NOW) is for tests, which want every answer fresh.
    let pinned = std::env::var_os("BRAIN_NOW").is_some();
    if let Some(json) = s.cached(version, pages).filter(|_| !pinned) {
        return fresh(json);
    }
    match blocking(&s, move |repo, t| view::board(repo, t, pages, version)).await {
        Ok(v) => fresh(s.keep(version, pages, &v)),
        Err(r) => r,
    }
}

async fn task(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>) -> Response {
    with_repo(&s, move |repo, t| view::task(repo, &id, t)).await
}

async fn events(
    State(s): State<Arc<Shared>>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let rx = s.live.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let v = *rx.borrow_and_update();
        let ev = Event::default()
            .event("change")
            .retry(std::time::Duration::from_millis(1000))
            .data(v.to_string());
        Some((Ok(ev), (rx, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Runs a change (see [`with_repo`]); the board is read afresh afterwards.
async fn changing(
    s: &Shared,
    f: impl FnOnce(&Repo, jiff::Timestamp) -> brain_core::Result<Value> + Send + 'static,
) -> Response {
    let r = with_repo(s, f).await;
    s.forget();
    r
}

/// A change, said back to the page: what happened and what brain noted on the way.
fn changed(what: String, notes: Vec<String>, extra: Value) -> Value {
    json!({"ok": true, "message": what, "notes": notes, "result": extra})
}

/// Runs one transaction of brain-core, with its notes.
fn transact<T>(
    repo: &Repo,
    t: jiff::Timestamp,
    f: impl FnMut(&brain_core::LockedRepo<'_>) -> brain_core::Result<T>,
) -> brain_core::Result<(T, Vec<String>)> {
    let mut notes = Vec::new();
    let v = brain_core::ops::said(repo.transact(t, f), |n| notes.push(n.to_string()))?;
    Ok((v, notes))
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct Deny {
    id: String,
    reason: String,
}

#[derive(Deserialize)]
struct Answer {
    id: String,
    answer: String,
}

async fn approve(State(s): State<Arc<Shared>>, Json(a): Json<Id>) -> Response {
    changing(&s, move |repo, t| {
        let (id, notes) = transact(repo, t, |l| {
            brain_core::human::questions::approve(l, &a.id, t)
        })?;
        Ok(changed(format!("Approved {id}."), notes, json!({"id": id})))
    })
    .await
}

async fn deny(State(s): State<Arc<Shared>>, Json(a): Json<Deny>) -> Response {
    changing(&s, move |repo, t| {
        let id = repo.spelled(&a.id)?;
        let (_, notes) = transact(repo, t, |l| {
            brain_core::human::questions::deny(l, &id, &a.reason, t)
        })?;
        Ok(changed(
            format!("Denied {id}: it is in tasks/failed/."),
            notes,
            json!({"id": id}),
        ))
    })
    .await
}

async fn answer(State(s): State<Arc<Shared>>, Json(a): Json<Answer>) -> Response {
    changing(&s, move |repo, t| {
        let (q, notes) = transact(repo, t, |l| {
            brain_core::human::questions::answer(l, &a.id, &a.answer, t)
        })?;
        Ok(changed(
            format!("Answered {}.", q.id),
            notes,
            json!({"id": q.id}),
        ))
    })
    .await
}

async fn requeue(State(s): State<Arc<Shared>>, Json(a): Json<Id>) -> Response {
    changing(&s, move |repo, t| {
        let u = Update {
            requeue: true,
            by: "the board".into(),
            ..Update::default()
        };
        let (done, notes) = transact(repo, t, |l| l.update(&a.id, &u, t))?;
        Ok(changed(
            format!("Requeued {}: it is back in tasks/pending/.", done.id),
            notes,
            json!({"id": done.id}),
        ))
    })
    .await
}

async fn add(State(s): State<Arc<Shared>>, Json(input): Json<NewTaskInput>) -> Response {
    changing(&s, move |repo, t| {
        let task = input.into_task(&jiff::tz::TimeZone::system())?;
        let mut notes = Vec::new();
        let added = brain_core::ops::said(brain_core::ops::add(repo, &task, t), |n| {
            notes.push(n.to_string())
        })?;
        Ok(changed(
            format!("Added {}.", added.id),
            notes,
            json!({"id": added.id}),
        ))
    })
    .await
}
