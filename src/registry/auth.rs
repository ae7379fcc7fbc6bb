//! Registry authentication: `WWW-Authenticate` challenges, the Bearer token exchange (one
//! token for several scopes) and its renewal. Credentials themselves live in `credentials`.
//!
//! Tokens live `expires_in` seconds (60 when the answer omits it, per the distribution token
//! spec; 300 on Docker Hub), and a compile can take longer than that. So a token is renewed
//! when it is known to have expired (before a request goes out) and when the registry
//! rejects it (a 401 on a request that carried it); concurrent requests wait for one
//! renewal instead of each fetching a token.

use super::origin::{plain_http_allowed, redact};
use super::retry::{retry_after, retryable_status};
use super::{Client, Credential, RegistryError};
use reqwest::header::AUTHORIZATION;
use reqwest::{StatusCode, Url};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value, which may hold several challenges
/// (`Bearer realm="…",service="…", Basic realm="…"`); quoted values may contain commas.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A token followed by whitespace (or end) starts a new challenge; `k=v` continues one.
        let token_end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if !after.starts_with('=') {
            if !token.is_empty() {
                out.push(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: BTreeMap::new(),
                });
            }
            rest = after.trim_start_matches(',').trim_start();
            continue;
        }
        let mut value_rest = after[1..].trim_start();
        let value;
        if let Some(stripped) = value_rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = stripped.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n)
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            value_rest = &stripped[end.min(stripped.len())..];
        } else {
            let end = value_rest.find(',').unwrap_or(value_rest.len());
            value = value_rest[..end].trim().to_string();
            value_rest = &value_rest[end..];
        }
        if let Some(last) = out.last_mut() {
            last.params.insert(token.to_ascii_lowercase(), value);
        }
        rest = value_rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The token endpoint's answer (`token` per the distribution spec, `access_token` per OAuth2).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    /// Seconds. Any JSON number is accepted (some services send `3600.0`); a negative or
    /// non-numeric one means the default, one far beyond any real lifetime is clamped.
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

impl TokenResponse {
    /// The lifetime in whole seconds, [`DEFAULT_TOKEN_LIFETIME`] when absent or unusable.
    fn lifetime(&self) -> u64 {
        let seconds = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    // `as` saturates: 1e30 becomes u64::MAX, clamped later.
                    .map(|f| f as u64)
            }),
            _ => None,
        };
        seconds.unwrap_or(DEFAULT_TOKEN_LIFETIME)
    }
}

/// The most of a token answer that is read.
const TOKEN_BODY_LIMIT: u64 = 256 << 10;

/// The lifetime assumed when the token answer has no `expires_in` (distribution token spec).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// What the client is currently authorized with.
#[derive(Default)]
pub(crate) struct AuthState {
    pub header: Option<String>,
    /// When the token stops being valid (renewed a little before).
    pub expires: Option<Instant>,
    /// The challenges that led to `header`, kept to renew the token without waiting for
    /// a 401.
    pub challenges: Option<Vec<Challenge>>,
    /// Counts (re)authentications, so a request that got a 401 can tell whether another
    /// one renewed the token meanwhile.
    pub generation: u64,
    pub renewals: u64,
}

/// When a token of `lifetime` seconds, received now, should be renewed: a little early
/// (a tenth of it, at most 5 s) so it does not expire on the way.
fn renew_at(now: Instant, lifetime: u64) -> Option<Instant> {
    // Longer than a day is treated as a day: `Instant + Duration` panics on overflow.
    let lifetime = Duration::from_secs(lifetime.clamp(1, 86_400));
    let margin = (lifetime / 10).min(Duration::from_secs(5));
    now.checked_add(lifetime - margin)
}

impl Client {
    /// The `Authorization` to send to the registry now, and the generation it belongs to.
    /// A token that has expired is renewed first, under the lock, so concurrent requests
    /// share one renewal.
    pub(crate) async fn current_authorization(
        &self,
        base: &Url,
        op: &str,
    ) -> Result<(Option<String>, u64), RegistryError> {
        let mut state = self.auth.lock().await;
        if state.expires.is_some_and(|t| t <= Instant::now()) {
            match state.challenges.clone() {
                Some(challenges) => {
                    self.authenticate(base, &challenges, &mut state, op, Some("expired"))
                        .await?
                }
                None => state.header = None,
            }
        }
        Ok((state.header.clone(), state.generation))
    }

    /// Answers `challenges`: fetches a token (Bearer) or uses the Basic credential.
    /// `renewal` says why a token that was in use is being replaced (counted, and shown
    /// with `-v`).
    pub(crate) async fn authenticate(
        &self,
        base: &Url,
        challenges: &[Challenge],
        state: &mut AuthState,
        op: &str,
        renewal: Option<&str>,
    ) -> Result<(), RegistryError> {
        let unauthorized = |detail: Option<String>| RegistryError::Unauthorized {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            detail,
            had_credentials: self.config.credential.is_some(),
            credential_source: self.config.credential_source.clone(),
        };
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let (token, expires) = self.fetch_token(base, bearer, op).await?;
            state.header = Some(format!("Bearer {token}"));
            state.expires = expires;
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            let header = self
                .config
                .credential
                .as_ref()
                .and_then(Credential::basic_header)
                .ok_or_else(|| {
                    unauthorized(Some("the registry requires a username and password".into()))
                })?;
            if renewal.is_some() && state.header.as_deref() == Some(header.as_str()) {
                // The same username and password again would only be refused again.
                return Err(unauthorized(None));
            }
            state.header = Some(header);
            state.expires = None;
        } else {
            return Err(unauthorized(Some(format!(
                "unsupported authentication scheme(s): {}",
                challenges
                    .iter()
                    .map(|c| c.scheme.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))));
        }
        state.challenges = Some(challenges.to_vec());
        state.generation += 1;
        if let Some(why) = renewal {
            state.renewals += 1;
            self.reporter.event(crate::report::Event::TokenRenewed {
                registry: self.config.registry.clone(),
                reason: why.to_string(),
                count: state.renewals,
            });
        }
        Ok(())
    }

    /// Token exchange (distribution "token authentication"): all configured scopes plus the
    /// challenge's own go into one request, so the token covers push to the target and pull
    /// from the base repository at once. Retried on 5xx/429/resets like any request.
    async fn fetch_token(
        &self,
        base: &Url,
        challenge: &Challenge,
        op: &str,
    ) -> Result<(String, Option<Instant>), RegistryError> {
        let realm = challenge
            .params
            .get("realm")
            .ok_or_else(|| self.protocol(op, "Bearer challenge without realm".into()))?;
        let realm = base.join(realm).map_err(|e| {
            let shown = realm.split('?').next().unwrap_or(realm);
            self.protocol(op, format!("bad token realm `{shown}`: {e}"))
        })?;
        // Credentials go to the realm in the clear otherwise.
        if realm.scheme() != "https" && !plain_http_allowed(&realm, &self.config.insecure_hosts) {
            return Err(RegistryError::InsecureRealm {
                registry: self.config.registry.clone(),
                realm: redact(&realm),
            });
        }
        let mut scopes = self.config.scopes.clone();
        if let Some(s) = challenge.params.get("scope") {
            for scope in s.split(' ') {
                if !scopes.iter().any(|have| have == scope) {
                    scopes.push(scope.to_string());
                }
            }
        }
        let service = challenge.params.get("service").cloned();
        let token_op = format!("{op}: token request to {}", redact(&realm));
        let request = || match &self.config.credential {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", token.clone()),
                    ("client_id", "imgpush".to_string()),
                    ("scope", scopes.join(" ")),
                ];
                if let Some(s) = &service {
                    form.push(("service", s.clone()));
                }
                self.http.post(realm.clone()).form(&form)
            }
            credential => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    for scope in &scopes {
                        q.append_pair("scope", scope);
                    }
                }
                let mut r = self.http.get(url);
                if let Some(h) = credential.as_ref().and_then(Credential::basic_header) {
                    r = r.header(AUTHORIZATION, h);
                }
                r
            }
        };
        let response = self
            .budgeted(async {
                loop {
                    self.reporter.event(crate::report::Event::Trace(format!(
                        "token request to {} for {}",
                        redact(&realm),
                        scopes.join(" ")
                    )));
                    let result = request().send().await.map_err(self.transport(&token_op));
                    if result.is_ok() {
                        self.count_request();
                    }
                    let (why, wait) = match &result {
                        Ok(r) if retryable_status(r.status()) => (
                            format!("token endpoint answered {}", r.status()),
                            retry_after(r.headers()),
                        ),
                        Err(e @ RegistryError::Transport { .. }) => (e.to_string(), None),
                        _ => return result,
                    };
                    if !self.pause(&token_op, &why, wait).await? {
                        return match result {
                            Ok(r) => Err(self.status_error(&token_op, r).await),
                            Err(e) => Err(e),
                        };
                    }
                }
            })
            .await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let (_, detail) =
                super::error::parse_error_body(&super::transport::read_error_body(response).await);
            return Err(RegistryError::Unauthorized {
                op: token_op,
                registry: self.config.registry.clone(),
                detail,
                had_credentials: self.config.credential.is_some(),
                credential_source: self.config.credential_source.clone(),
            });
        }
        if !status.is_success() {
            return Err(self.status_error(&token_op, response).await);
        }
        let body = self
            .read_bounded(&token_op, response, TOKEN_BODY_LIMIT)
            .await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(&token_op, format!("token answer is not JSON: {e}")))?;
        let lifetime = parsed.lifetime();
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.protocol(&token_op, "token answer has no token".into()))?;
        Ok((token, renew_at(Instant::now(), lifetime)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_never_overflow_and_renew_early() {
        let now = Instant::now();
        assert_eq!(
            renew_at(now, 300),
            now.checked_add(Duration::from_secs(295))
        );
        assert_eq!(
            renew_at(now, 2),
            now.checked_add(Duration::from_millis(1800))
        );
        // 0 would renew on every request; u64::MAX would panic in `Instant + Duration`.
        assert_eq!(
            renew_at(now, 0),
            now.checked_add(Duration::from_millis(900))
        );
        assert!(renew_at(now, u64::MAX).is_some());
        let lifetime = |json: &str| {
            serde_json::from_str::<TokenResponse>(json)
                .unwrap()
                .lifetime()
        };
        assert_eq!(
            lifetime(r#"{"token":"t","expires_in":18446744073709551615}"#),
            u64::MAX
        );
        assert_eq!(lifetime(r#"{"token":"t","expires_in":1e30}"#), u64::MAX);
        assert_eq!(lifetime(r#"{"token":"t","expires_in":3600.0}"#), 3600);
        assert_eq!(lifetime(r#"{"token":"t","expires_in":-5}"#), 60);
        assert_eq!(lifetime(r#"{"token":"t","expires_in":"300"}"#), 60);
        assert_eq!(lifetime(r#"{"token":"t"}"#), 60);
    }

    #[test]
    fn several_challenges_with_commas_in_quotes() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push", Basic realm="x y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example.com/token");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].params["realm"], "x y");
        let c = parse_challenges("Basic realm=Registry");
        assert_eq!(c[0].params["realm"], "Registry");
    }
}
