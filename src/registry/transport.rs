//! The HTTP side of the client: scheme selection, the `/v2/` ping, attaching and renewing
//! authorization, and turning answers into typed errors.

use super::auth::{Challenge, TokenResponse, parse_challenges};
use super::credentials::Credential;
use super::error::parse_error_body;
use super::{RegistryError, is_loopback};
use crate::report::Reporter;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to talk to one registry.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The registry as written in references (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Allow plain HTTP and unverified TLS (`--insecure-registry`). Loopback hosts may
    /// always fall back to plain HTTP.
    pub insecure: bool,
    pub credential: Option<Credential>,
    /// Token scopes requested together, e.g. `repository:app/hello:pull,push` and
    /// `repository:base/busybox:pull`, so one token serves pushes and cross-repo mounts.
    pub scopes: Vec<String>,
    /// Upload in chunks of this size instead of one monolithic PUT.
    pub chunk_size: Option<u64>,
    /// How often a request is retried after a connection error, a timeout, 429 or
    /// 500/502/503/504 (so at most `retries + 1` attempts).
    pub retries: u32,
    /// Give up on an answer that sends nothing for this long (then retry); resets with every
    /// byte, so large transfers are not capped.
    pub read_timeout: Duration,
    /// CA certificates trusted for this registry on top of the system roots
    /// (`--ca-cert`, `certs.d/HOST/*.crt`); see [`super::load_ca_certs`].
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Keep fetched manifests and configs by digest, and the digest each tag had, so a
    /// repeated fetch of an unchanged tag costs one HEAD request.
    pub cache: Option<crate::cache::Cache>,
}

/// Default for [`ClientConfig::retries`].
pub const DEFAULT_RETRIES: u32 = 4;

/// Default for [`ClientConfig::read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Is an answer worth retrying? Throttling, and the server errors proxies and overloaded
/// registries give on bad days.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

#[derive(Default)]
struct AuthState {
    header: Option<String>,
    expires: Option<Instant>,
}

pub struct Client {
    pub(crate) config: ClientConfig,
    http: reqwest::Client,
    base: tokio::sync::OnceCell<Url>,
    auth: tokio::sync::Mutex<AuthState>,
    pub(crate) reporter: Arc<dyn Reporter>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("registry", &self.config.registry)
            .finish()
    }
}

fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

impl Client {
    pub fn new(config: ClientConfig, reporter: Arc<dyn Reporter>) -> Client {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("imgpush/", env!("CARGO_PKG_VERSION")))
            .use_rustls_tls()
            .danger_accept_invalid_certs(config.insecure)
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(config.read_timeout);
        for cert in &config.extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        let http = builder
            .build()
            .expect("the HTTP client configuration is valid (certificates were parsed already)");
        Client {
            config,
            http,
            base: tokio::sync::OnceCell::new(),
            auth: tokio::sync::Mutex::new(AuthState::default()),
            reporter,
        }
    }

    pub fn registry(&self) -> &str {
        &self.config.registry
    }

    /// The configured retry budget, for callers that retry whole operations.
    pub fn config_retries(&self) -> u32 {
        self.config.retries
    }

    /// The scheme+host URL, found by pinging `/v2/` once: HTTPS first, plain HTTP only for
    /// loopback hosts and `--insecure-registry` hosts.
    pub async fn base_url(&self) -> Result<&Url, RegistryError> {
        self.base.get_or_try_init(|| self.ping()).await
    }

    async fn ping(&self) -> Result<Url, RegistryError> {
        let host = api_host(&self.config.registry);
        let https = Url::parse(&format!("https://{host}/"))
            .map_err(|e| self.protocol("ping", e.to_string()))?;
        let allow_http = self.config.insecure || is_loopback(host);
        let first = self.ping_at(&https).await;
        let (base, response) = match first {
            Ok(r) => (https, r),
            // A registry that speaks TLS but whose certificate we reject must not be
            // retried as plain HTTP: that would only hide the real problem.
            Err(err) if allow_http && !err.is_certificate_rejection() => {
                let http = Url::parse(&format!("http://{host}/")).expect("valid URL");
                self.reporter.trace(&format!(
                    "HTTPS to {host} failed ({err}); trying plain HTTP"
                ));
                match self.ping_at(&http).await {
                    Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                        (http, r)
                    }
                    // Not a registry over plain HTTP either (e.g. a TLS port): report HTTPS.
                    _ => return Err(err),
                }
            }
            Err(err) => return Err(err),
        };
        if response.status() == StatusCode::UNAUTHORIZED {
            // Authenticate up front so that concurrent requests start with a valid token.
            let challenges = challenges(response.headers());
            let mut state = self.auth.lock().await;
            self.authenticate(&base, &challenges, &mut state, "ping")
                .await?;
        } else if !response.status().is_success() {
            return Err(self.status_error("ping /v2/", response).await);
        }
        Ok(base)
    }

    async fn ping_at(&self, base: &Url) -> Result<Response, RegistryError> {
        let url = base.join("/v2/").expect("valid URL");
        self.reporter.trace(&format!("GET {url}"));
        let response = self.http.get(url.clone()).send().await.map_err(|source| {
            RegistryError::Unreachable {
                registry: self.config.registry.clone(),
                url: url.to_string(),
                source,
            }
        })?;
        self.reporter
            .trace(&format!("GET {url} → {}", response.status()));
        Ok(response)
    }

    /// `/v2/…` URL for a path like `app/hello/blobs/sha256:…`.
    pub(crate) async fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let base = self.base_url().await?;
        base.join(&format!("/v2/{path}"))
            .map_err(|e| self.protocol(path, e.to_string()))
    }

    /// Resolves an upload `Location` (absolute or relative) against the registry URL.
    pub(crate) async fn resolve_location(
        &self,
        op: &str,
        response: &Response,
    ) -> Result<Url, RegistryError> {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol(op, "no Location header in the answer".into()))?;
        let base = self.base_url().await?;
        base.join(location)
            .map_err(|e| self.protocol(op, format!("bad Location `{location}`: {e}")))
    }

    /// [`Client::send_once`] with bounded retries: connection errors, timeouts, 429 (honouring
    /// `Retry-After`) and 5xx answers are retried with exponential backoff and jitter.
    /// `build` runs per attempt, so bodies are rebuilt (a file is reopened), never replayed.
    pub(crate) async fn send(
        &self,
        op: &str,
        method: Method,
        url: Url,
        build: &(dyn Fn(RequestBuilder) -> Result<RequestBuilder, RegistryError> + Sync),
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            let result = self.send_once(op, method.clone(), url.clone(), build).await;
            let (why, retry_after) = match &result {
                Ok(r) if retryable_status(r.status()) => {
                    (format!("registry answered {}", r.status()), retry_after(r))
                }
                Err(RegistryError::Transport { source, .. }) => {
                    (format!("connection failed: {source}"), None)
                }
                _ => return result,
            };
            if attempt >= self.config.retries {
                return match result {
                    Ok(r) => Err(self.status_error(op, r).await),
                    Err(e) => Err(e),
                };
            }
            attempt += 1;
            self.pause_before_retry(op, attempt, &why, retry_after)
                .await;
        }
    }

    /// Runs `fetch` again when reading an answer's body broke off (a truncated or reset
    /// transfer); failures before the answer arrived are retried inside `send` already.
    pub(crate) async fn retry_body<T, F, Fut>(&self, op: &str, fetch: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let mut attempt = 0;
        loop {
            match fetch().await {
                Err(e @ RegistryError::Body { .. }) if attempt < self.config.retries => {
                    attempt += 1;
                    self.pause_before_retry(op, attempt, &e.to_string(), None)
                        .await;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn body_error(&self, op: &str) -> impl Fn(reqwest::Error) -> RegistryError + '_ {
        let op = op.to_string();
        move |source| RegistryError::Body {
            op: op.clone(),
            registry: self.config.registry.clone(),
            source,
        }
    }

    /// Waits before retry `attempt` (1-based): `Retry-After` when the registry gave one
    /// (capped at 60 s), else 250 ms · 2^(attempt-1) (capped at 8 s) with ±50 % jitter.
    pub async fn pause_before_retry(
        &self,
        op: &str,
        attempt: u32,
        why: &str,
        retry_after: Option<Duration>,
    ) {
        let delay = retry_after
            .map(|d| d.min(Duration::from_secs(60)))
            .unwrap_or_else(|| {
                let base = Duration::from_millis(250) * 2u32.pow((attempt - 1).min(5));
                base.min(Duration::from_secs(8))
                    .mul_f64(0.5 + fastrand::f64())
            });
        self.reporter.detail(&format!(
            "{op}: {why}; retry {attempt} of {} in {:.1}s",
            self.config.retries,
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }

    /// Sends a request with the current authorization; on a 401 authenticates once from
    /// the challenge and sends it again. No other retries: for requests that must not be
    /// repeated as they are (the steps of an upload session).
    pub(crate) async fn send_once(
        &self,
        op: &str,
        method: Method,
        url: Url,
        build: &(dyn Fn(RequestBuilder) -> Result<RequestBuilder, RegistryError> + Sync),
    ) -> Result<Response, RegistryError> {
        let base = self.base_url().await?.clone();
        for attempt in 0..2 {
            let sent_header = {
                let state = self.auth.lock().await;
                match state.expires {
                    Some(t) if t <= Instant::now() => None,
                    _ => state.header.clone(),
                }
            };
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(h) = &sent_header {
                request = request.header(AUTHORIZATION, h);
            }
            let request = build(request)?;
            self.reporter.trace(&format!("{method} {}", redact(&url)));
            let response = request.send().await.map_err(self.transport(op))?;
            self.reporter.trace(&format!(
                "{method} {} → {}",
                redact(&url),
                response.status()
            ));
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let challenges = challenges(response.headers());
            let mut state = self.auth.lock().await;
            let refreshed_meanwhile = state.header != sent_header && state.header.is_some();
            if attempt == 1 || (challenges.is_empty() && !refreshed_meanwhile) {
                let (_, detail) = parse_error_body(&response.bytes().await.unwrap_or_default());
                return Err(RegistryError::Unauthorized {
                    op: op.to_string(),
                    registry: self.config.registry.clone(),
                    detail,
                    had_credentials: self.config.credential.is_some(),
                });
            }
            if !refreshed_meanwhile {
                self.authenticate(&base, &challenges, &mut state, op)
                    .await?;
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn authenticate(
        &self,
        base: &Url,
        challenges: &[Challenge],
        state: &mut AuthState,
        op: &str,
    ) -> Result<(), RegistryError> {
        let unauthorized = |detail: Option<String>| RegistryError::Unauthorized {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            detail,
            had_credentials: self.config.credential.is_some(),
        };
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let (token, expires) = self.fetch_token(base, bearer, op).await?;
            state.header = Some(format!("Bearer {token}"));
            state.expires = expires;
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let header = self
                .config
                .credential
                .as_ref()
                .and_then(Credential::basic_header)
                .ok_or_else(|| {
                    unauthorized(Some("the registry requires a username and password".into()))
                })?;
            state.header = Some(header);
            state.expires = None;
            return Ok(());
        }
        Err(unauthorized(Some(format!(
            "unsupported authentication scheme(s): {}",
            challenges
                .iter()
                .map(|c| c.scheme.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))))
    }

    /// Token exchange (distribution "token authentication"): all configured scopes plus the
    /// challenge's own go into one request, so the token covers push to the target and pull
    /// from the base repository at once.
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
        let realm = base
            .join(realm)
            .map_err(|e| self.protocol(op, format!("bad token realm `{realm}`: {e}")))?;
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
        let request = match &self.config.credential {
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
        self.reporter.trace(&format!(
            "token request to {} for {}",
            redact(&realm),
            scopes.join(" ")
        ));
        let response = request.send().await.map_err(self.transport(&token_op))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let (_, detail) = parse_error_body(&response.bytes().await.unwrap_or_default());
            return Err(RegistryError::Unauthorized {
                op: token_op,
                registry: self.config.registry.clone(),
                detail,
                had_credentials: self.config.credential.is_some(),
            });
        }
        if !status.is_success() {
            return Err(self.status_error(&token_op, response).await);
        }
        let body = response.bytes().await.map_err(self.transport(&token_op))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(&token_op, format!("token answer is not JSON: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.protocol(&token_op, "token answer has no token".into()))?;
        // Renew a little early; the spec's default lifetime is 60 s.
        let lifetime = parsed.expires_in.unwrap_or(60).max(10);
        Ok((
            token,
            Some(Instant::now() + Duration::from_secs(lifetime - 5)),
        ))
    }

    pub(crate) fn protocol(&self, op: &str, message: String) -> RegistryError {
        RegistryError::Protocol {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            message,
        }
    }

    pub(crate) async fn status_error(&self, op: &str, response: Response) -> RegistryError {
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        let (code, message) = parse_error_body(&body);
        RegistryError::Status {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            status,
            code,
            message,
        }
    }

    pub(crate) fn transport(&self, op: &str) -> impl Fn(reqwest::Error) -> RegistryError + '_ {
        let op = op.to_string();
        move |source| RegistryError::Transport {
            op: op.clone(),
            registry: self.config.registry.clone(),
            source,
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and ignored).
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

/// A URL for logs: no user info and no query (upload `_state` tokens stay out of logs).
pub(crate) fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}
