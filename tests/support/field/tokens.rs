//! The front's token auth: the realm (another listener) issues opaque tokens with a
//! real expiry, remembered with their grants; registry requests are checked against them.

use super::http::{Head, error_body, query_param, relay_body, repository_of, respond};
use super::{FieldFront, Kind, Shared, TokenFailure, TokenRequest};
use std::io::{BufReader, Read};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

pub(super) struct Token {
    /// `(repository, action)` pairs granted.
    grants: Vec<(String, String)>,
    expires: Instant,
}

/// Checks the request's token against what it needs; `Err` holds the challenge to send.
pub(super) fn check_token(head: &Head, shared: &Shared) -> Result<(), String> {
    let path = head.path();
    let write = !matches!(head.method(), "GET" | "HEAD");
    let mut needed: Vec<(String, &str)> = Vec::new();
    if let Some(repo) = repository_of(path) {
        needed.push((repo.to_string(), if write { "push" } else { "pull" }));
        if write && path.ends_with("/blobs/uploads/") {
            for from in query_param(head.query(), "from") {
                needed.push((from, "pull"));
            }
        }
    }
    let scope = needed
        .iter()
        .map(|(repo, action)| match *action {
            "push" => format!("repository:{repo}:pull,push"),
            _ => format!("repository:{repo}:pull"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let realm = match shared.options.tokens.as_ref().and_then(|t| t.realm.clone()) {
        Some(realm) => realm,
        None => format!("http://{}/token", shared.host(Kind::Token)),
    };
    let challenge = |error: Option<&str>| {
        let mut c = format!(
            "Bearer realm=\"{realm}\",service=\"{}\"",
            FieldFront::SERVICE
        );
        if !scope.is_empty() {
            c.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(e) = error {
            c.push_str(&format!(",error=\"{e}\""));
        }
        c
    };
    let Some(token) = head
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(challenge(None));
    };
    let state = shared.state.lock().unwrap();
    let Some(t) = state.tokens.get(token.trim()) else {
        return Err(challenge(Some("invalid_token")));
    };
    if t.expires <= Instant::now() {
        return Err(challenge(Some("invalid_token")));
    }
    let granted = |repo: &str, action: &str| t.grants.iter().any(|(r, a)| r == repo && a == action);
    if needed.iter().all(|(r, a)| granted(r, a)) {
        Ok(())
    } else {
        Err(challenge(Some("insufficient_scope")))
    }
}

/// The token realm: `GET /token?service=…&scope=…` (or the OAuth2 POST form); grants
/// every scope asked for, with or without credentials.
pub(super) fn serve_token(
    head: Head,
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    shared: &Shared,
) -> std::io::Result<()> {
    let Some(options) = shared.options.tokens.clone() else {
        return respond(client, 404, &[], b"", false);
    };
    let mut query = head.query().to_string();
    if head.method() == "POST" {
        let mut body = Vec::new();
        relay_body(reader, &head, &mut body, None)?;
        query = String::from_utf8_lossy(&body).into_owned();
    }
    let scopes: Vec<String> = query_param(&query, "scope")
        .iter()
        .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let basic = head
        .get("authorization")
        .is_some_and(|v| v.starts_with("Basic "));
    let fail = shared.take(|s| &mut s.token_failures, options.failures);
    let status = match (fail, options.failure) {
        (true, TokenFailure::Status(code)) => code,
        (true, TokenFailure::Reset) => 0,
        (false, _) if !logged_in(&head, options.login.as_ref()) => 401,
        (false, _) => 200,
    };
    shared.state.lock().unwrap().token_log.push(TokenRequest {
        at: shared.started.elapsed(),
        scopes: scopes.clone(),
        basic,
        status,
    });
    if status == 0 {
        return client.shutdown(Shutdown::Both);
    }
    if status == 401 {
        let body = error_body("UNAUTHORIZED", "incorrect username or password");
        return respond(client, 401, &[], &body, false);
    }
    if status != 200 {
        let body = error_body("UNAVAILABLE", "token service unavailable");
        return respond(client, status, &[], &body, false);
    }
    if let Some(framing) = options.oversized {
        let prefix = br#"{"token":""#;
        return super::limits::oversized(client, framing, prefix, super::limits::TOKEN_OVERSIZE);
    }
    let token = random_token();
    let grants = scopes
        .iter()
        .filter_map(|s| s.strip_prefix("repository:")?.rsplit_once(':'))
        .flat_map(|(repo, actions)| {
            actions
                .split(',')
                .map(|a| (repo.to_string(), a.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    shared.state.lock().unwrap().tokens.insert(
        token.clone(),
        Token {
            grants,
            expires: Instant::now() + options.lifetime,
        },
    );
    let mut answer = serde_json::json!({"token": token, "access_token": token});
    if let Some(e) = options.expires_in {
        answer["expires_in"] = e.into();
    }
    let headers = [("Content-Type", "application/json".to_string())];
    respond(client, 200, &headers, answer.to_string().as_bytes(), false)
}

pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    format!("ftok{}", hex::encode(bytes))
}

/// Whether the request carries the Basic credentials `login` asks for (any, or none, when
/// `login` is `None`).
fn logged_in(head: &Head, login: Option<&(String, String)>) -> bool {
    use base64::Engine as _;
    let Some((user, password)) = login else {
        return true;
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    head.get("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| v.trim() == expected)
}
