//! What every request passes before it reaches the queue: the `Host` header must name this
//! server (a page on another site that rebinds its DNS name to 127.0.0.1 is refused); with
//! `--host`, the access key (in the printed URL once, then in a cookie); and every change
//! carries the page's session token and no foreign `Origin` (no cross-site request forgery).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Shared;

/// The cookie that holds the access key once the printed URL was opened.
const KEY_COOKIE: &str = "brain_board_key";
/// The header that carries the page's session token on every change.
pub const SESSION_HEADER: &str = "x-brain-session";

/// A random token: 128 bits from the OS, as 32 hex digits.
pub fn token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no random numbers from the OS: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The page's session token: kept in `.brain/board-session` (this machine's, never committed),
/// so that a page left open across a restart of the board can still make changes.
pub fn session(root: &std::path::Path) -> anyhow::Result<String> {
    let path = root
        .join(brain_core::store::LOCAL_DIR)
        .join("board-session");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim();
        if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(t.to_string());
        }
    }
    let t = token()?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Best effort: a read-only repo still serves, with a token for this run only.
    let _ = brain_core::fsutil::write_atomic(&path, t.as_bytes());
    Ok(t)
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn refuse(code: StatusCode, why: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("brain board: {why}\n"),
    )
        .into_response()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_key(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| v)
}

pub async fn check(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    // On loopback the address is known, and a page of another site whose name was rebound to
    // 127.0.0.1 names its own. Beyond loopback (a phone reaches the machine by an address brain
    // cannot know) the access key is what keeps other sites out: they never have it.
    if s.key.is_none() && !s.hosts.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this server answers only to the address it printed (the Host header names another)",
        );
    }
    if let Some(key) = &s.key {
        if cookie(req.headers(), KEY_COOKIE).is_some_and(|c| same(c, key)) {
            // Known browser.
        } else if query_key(&req).is_some_and(|q| same(q, key)) && req.method() == Method::GET {
            // The printed URL: remember the key in a cookie and drop it from the address bar.
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, "/")
                .header(
                    header::SET_COOKIE,
                    format!("{KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict"),
                )
                .body(axum::body::Body::empty())
                .unwrap_or_else(|_| refuse(StatusCode::INTERNAL_SERVER_ERROR, "redirect"));
        } else {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "open the address `brain board` printed: it carries the access key",
            );
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let h = req.headers();
        let token = h.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
        if !token.is_some_and(|t| same(t, &s.session)) {
            return refuse(
                StatusCode::FORBIDDEN,
                "a change needs the page's session token (reload the page: the server may have restarted)",
            );
        }
        // Same origin: the page that sends it was served by this address.
        let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if let Some(o) = origin
            && !o.eq_ignore_ascii_case(&format!("http://{host}"))
        {
            return refuse(StatusCode::FORBIDDEN, "a change from another site");
        }
        let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        if site.is_some_and(|v| v != "same-origin" && v != "none") {
            return refuse(StatusCode::FORBIDDEN, "a change from another site");
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(crate::guard::same("abc", "abc"));
        assert!(!crate::guard::same("abc", "abd"));
        assert!(!crate::guard::same("abc", "ab"));
        let t = crate::guard::token().unwrap();
        assert_eq!(t.len(), 32);
        assert_ne!(t, crate::guard::token().unwrap());
    }
}
