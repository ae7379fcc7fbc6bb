//! The HTTP side of the client: scheme selection, the `/v2/` ping, attaching authorization
//! (only where it belongs), retries, bounded reads, and turning answers into typed errors.

use super::auth::{AuthState, Challenge, parse_challenges};
use super::credentials::{Credential, CredentialSource};
use super::error::parse_error_body;
use super::origin::{DowngradeRefused, downgrade_allowed, find_downgrade, redact, same_origin};
use super::retry::{retry_after, retryable_status};
use super::{RegistryError, is_loopback};
use crate::report::{Event, Reporter};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;

/// How to talk to one registry.
#[derive(Clone)]
pub struct ClientSettings {
    /// The registry as written in references (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Allow plain HTTP and unverified TLS (`--insecure-registry`). Loopback hosts may
    /// always fall back to plain HTTP.
    pub insecure: bool,
    /// Every `--insecure-registry` host of the run (`host` or `host:port`): a redirect, an
    /// upload `Location` or a token realm may leave https for plain http only to these
    /// (or to loopback).
    pub insecure_hosts: Vec<String>,
    pub credential: Option<Credential>,
    /// Where `credential` came from, named when the registry rejects it.
    pub credential_source: Option<CredentialSource>,
    /// Token scopes requested together, e.g. `repository:app/hello:pull,push` and
    /// `repository:base/busybox:pull`, so one token serves pushes and cross-repo mounts.
    pub scopes: Vec<String>,
    /// Upload in chunks of this size instead of one monolithic PUT.
    pub chunk_size: Option<u64>,
    /// How often an operation is retried after a connection error, a timeout, 429 or
    /// 500/502/503/504 (so at most `retries + 1` attempts), nested loops included.
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

impl std::fmt::Debug for ClientSettings {
    /// The credential's own `Debug` hides its secret; certificates are only counted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("registry", &self.registry)
            .field("insecure", &self.insecure)
            .field("insecure_hosts", &self.insecure_hosts)
            .field("credential", &self.credential)
            .field("credential_source", &self.credential_source)
            .field("scopes", &self.scopes)
            .field("chunk_size", &self.chunk_size)
            .field("retries", &self.retries)
            .field("read_timeout", &self.read_timeout)
            .field("extra_roots", &self.extra_roots.len())
            .field("cache", &self.cache)
            .finish()
    }
}

/// Default for [`ClientSettings::retries`].
pub const DEFAULT_RETRIES: u32 = 4;

/// Default for [`ClientSettings::read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The most of an error body that is read (to show its message).
const ERROR_BODY_LIMIT: usize = 64 << 10;

pub struct Client {
    pub(crate) config: ClientSettings,
    pub(crate) http: reqwest::Client,
    base: tokio::sync::OnceCell<Url>,
    pub(crate) auth: tokio::sync::Mutex<AuthState>,
    pub(crate) reporter: Arc<dyn Reporter>,
    /// The chunk size uploads use once this registry refused a whole body (413); 0 until
    /// then.
    pub(crate) chunk_limit: std::sync::atomic::AtomicU64,
    /// HTTP requests answered (pings, token requests, retries included; not those that
    /// got no answer, such as a TLS attempt at a plain-HTTP loopback registry); shared by
    /// every client of a [`super::Pool`], for the run's summary.
    requests: Arc<std::sync::atomic::AtomicU64>,
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
    pub fn new(config: ClientSettings, reporter: Arc<dyn Reporter>) -> Client {
        let insecure_hosts = config.insecure_hosts.clone();
        // Redirects (blob GETs answered 307 to a storage host): reqwest drops
        // `Authorization` when the host or port changes; we also refuse https → http.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("more than 10 redirects");
            }
            let from = attempt.previous().last().cloned();
            match from {
                Some(from) if !downgrade_allowed(&from, attempt.url(), &insecure_hosts) => {
                    let to = redact(attempt.url());
                    attempt.error(DowngradeRefused(to))
                }
                _ => attempt.follow(),
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("imgpush/", env!("CARGO_PKG_VERSION")))
            .use_rustls_tls()
            .danger_accept_invalid_certs(config.insecure)
            .redirect(redirects)
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
            chunk_limit: std::sync::atomic::AtomicU64::new(0),
            requests: Arc::default(),
        }
    }

    /// Counts this client's requests in `counter` (shared with other clients) from now on.
    pub fn count_requests_in(mut self, counter: Arc<std::sync::atomic::AtomicU64>) -> Client {
        self.requests = counter;
        self
    }

    /// HTTP requests answered so far (by every client sharing the counter).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Called when a request got its answer (the status line and headers).
    pub(crate) fn count_request(&self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn registry(&self) -> &str {
        &self.config.registry
    }

    /// The local cache this client keeps documents in, if any (publishing keeps its own
    /// memos there too).
    pub fn cache(&self) -> Option<&crate::cache::Cache> {
        self.config.cache.as_ref()
    }

    /// The scheme+host URL, found by pinging `/v2/` once: HTTPS first, plain HTTP only for
    /// loopback hosts and `--insecure-registry` hosts.
    pub async fn base_url(&self) -> Result<&Url, RegistryError> {
        self.base
            .get_or_try_init(|| self.budgeted(self.ping()))
            .await
    }

    async fn ping(&self) -> Result<Url, RegistryError> {
        let host = api_host(&self.config.registry);
        let https = Url::parse(&format!("https://{host}/"))
            .map_err(|e| self.protocol("ping", e.to_string()))?;
        let http = Url::parse(&format!("http://{host}/"))
            .map_err(|e| self.protocol("ping", e.to_string()))?;
        let allow_http = self.config.insecure || is_loopback(host);
        let op = format!("ping {https}v2/");
        let (base, response) = loop {
            let (base, result) = match self.ping_at(&https).await {
                // A registry that speaks TLS but whose certificate we reject must not be
                // retried as plain HTTP: that would only hide the real problem.
                Err(err) if allow_http && !err.is_certificate_rejection() => {
                    self.reporter.event(Event::Trace(format!(
                        "HTTPS to {host} failed ({err}); trying plain HTTP"
                    )));
                    match self.ping_at(&http).await {
                        Ok(r)
                            if r.status().is_success()
                                || r.status() == StatusCode::UNAUTHORIZED =>
                        {
                            (http.clone(), Ok(r))
                        }
                        Ok(r) if retryable_status(r.status()) => (http.clone(), Ok(r)),
                        Err(e) if is_reset(&e) => (http.clone(), Err(e)),
                        // Not a registry over plain HTTP either (e.g. a TLS port): report
                        // HTTPS, and what plain HTTP got.
                        Ok(r) => {
                            let got = format!("{http}v2/ answered {}", r.status());
                            return Err(with_plain_http(err, got));
                        }
                        Err(e) => {
                            let cause = match &e {
                                RegistryError::Unreachable { source, .. } => error_chain(source),
                                other => error_chain(other),
                            };
                            let got = format!("{http}v2/: {cause}");
                            (https.clone(), Err(with_plain_http(err, got)))
                        }
                    }
                }
                other => (https.clone(), other),
            };
            // The ping is retried like any request: a registry restarting behind a load
            // balancer answers 502/503 or resets for a moment, and one still starting
            // refuses connections. A rejected certificate is not retried.
            let (why, wait) = match &result {
                Ok(r) if retryable_status(r.status()) => (
                    format!("registry answered {}", r.status()),
                    retry_after(r.headers()),
                ),
                Err(e) if is_connection_error(e) => (error_chain(e), None),
                _ => break (base, result?),
            };
            if !self.pause(&op, &why, wait).await? {
                return match result {
                    Ok(r) => Err(self.status_error(&op, r).await),
                    Err(e) => Err(e),
                };
            }
        };
        if response.status() == StatusCode::UNAUTHORIZED {
            // Authenticate up front so that concurrent requests start with a valid token.
            let challenges = challenges(response.headers());
            let mut state = self.auth.lock().await;
            self.authenticate(&base, &challenges, &mut state, "ping", None)
                .await?;
            // A Basic credential is sent as it is, never exchanged for a token: check it at
            // this first contact, so that a wrong password is named now (with where it came
            // from), not at the first write. (A Bearer token request checked it already.)
            if let Some(header) = state.header.clone().filter(|h| h.starts_with("Basic ")) {
                let op = format!("checking the credentials for {}", self.config.registry);
                let url = base.join("/v2/").expect("valid URL");
                self.reporter
                    .event(Event::Trace(format!("GET {url} (with credentials)")));
                let checked = self
                    .http
                    .get(url)
                    .header(AUTHORIZATION, header)
                    .send()
                    .await
                    .map_err(self.transport(&op))?;
                self.count_request();
                if checked.status() == StatusCode::UNAUTHORIZED {
                    drop(state);
                    return Err(self.unauthorized(&op, checked).await);
                }
            }
        } else if !response.status().is_success() {
            return Err(self.status_error(&op, response).await);
        }
        Ok(base)
    }

    async fn ping_at(&self, base: &Url) -> Result<Response, RegistryError> {
        let url = base.join("/v2/").expect("valid URL");
        self.reporter.event(Event::Trace(format!("GET {url}")));
        let response = self.http.get(url.clone()).send().await.map_err(|source| {
            RegistryError::Unreachable {
                registry: self.config.registry.clone(),
                url: url.to_string(),
                source: source.without_url(),
                plain_http: None,
            }
        })?;
        self.count_request();
        self.reporter
            .event(Event::Trace(format!("GET {url} → {}", response.status())));
        Ok(response)
    }

    /// `/v2/…` URL for a path like `app/hello/blobs/sha256:…`.
    pub(crate) async fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let base = self.base_url().await?;
        base.join(&format!("/v2/{path}"))
            .map_err(|e| self.protocol(path, e.to_string()))
    }

    /// Resolves an upload `Location` (absolute or relative) against the registry URL. One
    /// on another host is fine (it gets no credentials); one that leaves https for plain
    /// http is refused unless that host is loopback or `--insecure-registry` is given.
    pub(crate) async fn location_url(
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
        let url = base.join(location).map_err(|e| {
            let shown = location.split('?').next().unwrap_or(location);
            self.protocol(op, format!("bad Location `{shown}`: {e}"))
        })?;
        if !downgrade_allowed(base, &url, &self.config.insecure_hosts) {
            return Err(RegistryError::Downgrade {
                op: op.to_string(),
                registry: self.config.registry.clone(),
                url: redact(&url),
            });
        }
        Ok(url)
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
        self.budgeted(async {
            loop {
                let result = self.send_once(op, method.clone(), url.clone(), build).await;
                let (why, wait) = match &result {
                    Ok(r) if retryable_status(r.status()) => (
                        format!("registry answered {}", r.status()),
                        retry_after(r.headers()),
                    ),
                    Err(RegistryError::Transport { source, .. }) => {
                        (format!("connection failed: {source}"), None)
                    }
                    _ => return result,
                };
                if !self.pause(op, &why, wait).await? {
                    return match result {
                        Ok(r) => Err(self.status_error(op, r).await),
                        Err(e) => Err(e),
                    };
                }
            }
        })
        .await
    }

    /// Runs `fetch` again when reading an answer's body broke off (a truncated or reset
    /// transfer); failures before the answer arrived are retried inside `send` already.
    pub(crate) async fn retry_body<T, F, Fut>(&self, op: &str, fetch: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        self.budgeted(async {
            loop {
                match fetch().await {
                    Err(e @ RegistryError::Body { .. }) => {
                        if !self.pause(op, &e.to_string(), None).await? {
                            return Err(e);
                        }
                    }
                    other => return other,
                }
            }
        })
        .await
    }

    pub(crate) fn body_error(&self, op: &str) -> impl Fn(reqwest::Error) -> RegistryError + '_ {
        let op = op.to_string();
        move |source| RegistryError::Body {
            op: op.clone(),
            registry: self.config.registry.clone(),
            source: source.without_url(),
        }
    }

    /// Sends a request, with the registry's authorization when it goes to the registry's
    /// own origin. A token known to have expired is renewed first; a 401 renews it (once
    /// per request, shared with concurrent requests that hit the same expiry) and sends
    /// the request again. No other retries: for requests that must not be repeated as they
    /// are (the steps of an upload session).
    pub(crate) async fn send_once(
        &self,
        op: &str,
        method: Method,
        url: Url,
        build: &(dyn Fn(RequestBuilder) -> Result<RequestBuilder, RegistryError> + Sync),
    ) -> Result<Response, RegistryError> {
        let base = self.base_url().await?.clone();
        let ours = same_origin(&url, &base);
        let mut renewed = false;
        for _ in 0..3 {
            let (header, generation) = if ours {
                self.current_authorization(&base, op).await?
            } else {
                (None, 0)
            };
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(h) = &header {
                request = request.header(AUTHORIZATION, h);
            }
            let request = build(request)?;
            self.reporter
                .event(Event::Trace(format!("{method} {}", redact(&url))));
            let response = request.send().await.map_err(self.transport(op))?;
            self.count_request();
            self.reporter.event(Event::Trace(format!(
                "{method} {} → {}",
                redact(&url),
                response.status()
            )));
            // Decided on where the answer came from: a storage host after a redirect
            // answering 401 is not asking for our token.
            if response.status() != StatusCode::UNAUTHORIZED || !same_origin(response.url(), &base)
            {
                return Ok(response);
            }
            let challenges = challenges(response.headers());
            let mut state = self.auth.lock().await;
            if state.generation != generation {
                continue; // another request renewed the token meanwhile: use it
            }
            let challenges = match (challenges.is_empty(), &state.challenges) {
                (false, _) => challenges,
                (true, Some(known)) if header.is_some() => known.clone(),
                _ => Vec::new(),
            };
            if renewed || challenges.is_empty() {
                drop(state);
                return Err(self.unauthorized(op, response).await);
            }
            let why = header.is_some().then_some("rejected by the registry");
            self.authenticate(&base, &challenges, &mut state, op, why)
                .await?;
            renewed = true;
        }
        Err(self.protocol(
            op,
            "the registry kept answering 401 while the token was renewed concurrently".into(),
        ))
    }

    async fn unauthorized(&self, op: &str, response: Response) -> RegistryError {
        let (_, detail) = parse_error_body(&read_error_body(response).await);
        RegistryError::Unauthorized {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            detail,
            had_credentials: self.config.credential.is_some(),
            credential_source: self.config.credential_source.clone(),
        }
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
        let wait = retry_after(response.headers());
        let body = read_error_body(response).await;
        let (code, message) = parse_error_body(&body);
        RegistryError::Status {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            status,
            code,
            message,
            retry_after: wait,
        }
    }

    pub(crate) fn transport(&self, op: &str) -> impl Fn(reqwest::Error) -> RegistryError + '_ {
        let op = op.to_string();
        move |source| {
            if let Some(refused) = find_downgrade(&source) {
                return RegistryError::Downgrade {
                    op: op.clone(),
                    registry: self.config.registry.clone(),
                    url: refused,
                };
            }
            RegistryError::Transport {
                op: op.clone(),
                registry: self.config.registry.clone(),
                source: source.without_url(),
            }
        }
    }

    /// Reads a whole answer of at most `limit` bytes (a manifest, a token); a longer one is
    /// an error, so a hostile or broken registry cannot make us buffer without bound.
    pub(crate) async fn read_bounded(
        &self,
        op: &str,
        response: Response,
        limit: u64,
    ) -> Result<Bytes, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            op: op.to_string(),
            registry: self.config.registry.clone(),
            limit,
        };
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut out = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.body_error(op))?;
            if (out.len() as u64).saturating_add(chunk.len() as u64) > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

/// Was this a connection reset or timeout after connecting (worth retrying), rather than
/// a refused connection (nothing listens: fail at once)?
fn is_reset(e: &RegistryError) -> bool {
    match e {
        RegistryError::Unreachable { source, .. } | RegistryError::Transport { source, .. } => {
            !source.is_connect() || source.is_timeout()
        }
        _ => false,
    }
}

/// A connection that failed or broke off (refused, reset, timed out), but not a rejected
/// certificate: worth retrying on the first contact.
fn is_connection_error(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Unreachable { .. } | RegistryError::Transport { .. }
    ) && !e.is_certificate_rejection()
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    text
}

/// The HTTPS ping's error, noting what the plain-HTTP attempt got.
fn with_plain_http(err: RegistryError, got: String) -> RegistryError {
    match err {
        RegistryError::Unreachable {
            registry,
            url,
            source,
            ..
        } => RegistryError::Unreachable {
            registry,
            url,
            source,
            plain_http: Some(got),
        },
        other => other,
    }
}

/// The first [`ERROR_BODY_LIMIT`] bytes of an error answer; a broken body reads as empty.
pub(crate) async fn read_error_body(response: Response) -> Bytes {
    let mut out = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = ERROR_BODY_LIMIT - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    out.freeze()
}

pub(crate) fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}
