//! A "field front": an HTTP front between imgpush and a real no-auth [`super::Registry`]
//! that behaves like the registries users push to (Docker Hub, GHCR, ECR, …): Bearer
//! tokens from a realm on another host that expire (or are revoked) while a build runs,
//! scope checks, `307` blob redirects to a storage host, absolute upload `Location`s on
//! another host, resets mid-blob, throttled uploads, 5xx on the ping and the token
//! endpoint, `429` with `Retry-After`, and answers a client must not accept
//! (`limits`): a realm on plain http elsewhere, oversized manifests and token answers, a
//! blob longer than its descriptor, a 413 to a monolithic PUT. Every listener logs what
//! it saw, in particular whether an `Authorization` header arrived.
//!
//! One request per connection (`Connection: close` both ways); bodies are streamed
//! through, never held whole. The client's `Host` is forwarded unchanged so that
//! distribution's `Location`s point back at whichever listener the client talked to.

pub mod checks;
mod http;
pub mod https_fake;
mod limits;
mod storage;
mod tokens;

use http::{Head, copy_exact, error_body, relay_body, repository_of, respond};
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Blob answers smaller than this are never reset by [`FieldOptions::reset_blob_gets`]:
/// configs are tiny, layers are not, and a reset mid-layer is the case that matters.
pub const RESET_MIN_SIZE: u64 = 16 * 1024;

/// What the token endpoint does to the first requests ([`FieldOptions::token_failures`]).
#[derive(Clone, Copy, Debug)]
pub enum TokenFailure {
    Status(u16),
    /// Close the connection without an answer.
    Reset,
}

#[derive(Clone, Debug)]
pub struct TokenOptions {
    /// How long the front accepts a token.
    pub lifetime: Duration,
    /// What the token answer claims in `expires_in` (absent: the client must assume 60 s).
    pub expires_in: Option<u64>,
    pub failures: usize,
    pub failure: TokenFailure,
    /// Invalidate every live token once this many registry requests have been served.
    pub revoke_after: Option<usize>,
    /// Tokens only for these Basic credentials (401 from the realm otherwise).
    pub login: Option<(String, String)>,
    /// The realm the challenge advertises instead of the token listener's.
    pub realm: Option<String>,
    /// Answer token requests with a body of [`limits::TOKEN_OVERSIZE`] bytes.
    pub oversized: Option<Framing>,
}

/// How an oversized answer says (or does not say) how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    /// `Transfer-Encoding: chunked`: the client only finds out by reading.
    Chunked,
}

/// `429 TOOMANYREQUESTS` with `Retry-After` for the first `times` requests whose method is
/// `method` (`"*"`: any) and whose path contains `path`.
#[derive(Clone, Debug)]
pub struct TooMany {
    pub method: String,
    pub path: String,
    pub times: usize,
    pub retry_after: u64,
}

/// The behaviours of a front; build with the methods, then [`FieldOptions::start`].
#[derive(Clone, Debug, Default)]
pub struct FieldOptions {
    pub tokens: Option<TokenOptions>,
    pub redirect_blobs: bool,
    /// The storage listener serves this blob (`sha256:…`) with its last byte flipped.
    pub wrong_storage_body: Option<String>,
    pub absolute_upload_locations: bool,
    /// The upload listener drops the first N requests without an answer.
    pub upload_resets: usize,
    pub reset_blob_gets: usize,
    /// Request bodies (uploads) at most this many bytes per second, per connection.
    pub throttle: Option<u64>,
    pub ping_failures: usize,
    pub too_many: Option<TooMany>,
    /// Manifest GETs answered with [`limits::MANIFEST_OVERSIZE`] bytes.
    pub oversized_manifests: Option<Framing>,
    /// This blob (`sha256:…`) is served with this many bytes more than it has.
    pub padded_blob: Option<(String, u64)>,
    /// Upload PUTs whose body is over this many bytes are answered 413, as a proxy's
    /// body limit does (the client falls back to PATCH chunks).
    pub refuse_monolithic: Option<u64>,
}

impl FieldOptions {
    pub fn new() -> FieldOptions {
        FieldOptions::default()
    }

    /// Token auth by the front: tokens live `lifetime` and the answer claims as much.
    pub fn token_auth(mut self, lifetime: Duration) -> Self {
        self.tokens = Some(TokenOptions {
            lifetime,
            expires_in: Some(lifetime.as_secs()),
            failures: 0,
            failure: TokenFailure::Status(503),
            revoke_after: None,
            login: None,
            realm: None,
            oversized: None,
        });
        self
    }

    fn token_options(&mut self) -> &mut TokenOptions {
        self.tokens
            .as_mut()
            .expect("call token_auth before the token options")
    }

    /// What `expires_in` claims (`None`: the field is left out).
    pub fn claim_expires_in(mut self, secs: Option<u64>) -> Self {
        self.token_options().expires_in = secs;
        self
    }

    pub fn token_failures(mut self, n: usize, how: TokenFailure) -> Self {
        let t = self.token_options();
        t.failures = n;
        t.failure = how;
        self
    }

    pub fn revoke_after(mut self, requests: usize) -> Self {
        self.token_options().revoke_after = Some(requests);
        self
    }

    pub fn require_login(mut self, user: &str, password: &str) -> Self {
        self.token_options().login = Some((user.into(), password.into()));
        self
    }

    /// The challenge names `realm` (e.g. plain http on a non-loopback host).
    pub fn advertise_realm(mut self, realm: &str) -> Self {
        self.token_options().realm = Some(realm.into());
        self
    }

    pub fn oversized_tokens(mut self, framing: Framing) -> Self {
        self.token_options().oversized = Some(framing);
        self
    }

    pub fn oversized_manifests(mut self, framing: Framing) -> Self {
        self.oversized_manifests = Some(framing);
        self
    }

    pub fn padded_blob(mut self, digest: &str, extra: u64) -> Self {
        self.padded_blob = Some((digest.to_string(), extra));
        self
    }

    pub fn refuse_monolithic(mut self, over: u64) -> Self {
        self.refuse_monolithic = Some(over);
        self
    }

    pub fn redirect_blobs(mut self) -> Self {
        self.redirect_blobs = true;
        self
    }

    pub fn wrong_storage_body(mut self, digest: &str) -> Self {
        self.wrong_storage_body = Some(digest.to_string());
        self
    }

    pub fn absolute_upload_locations(mut self) -> Self {
        self.absolute_upload_locations = true;
        self
    }

    pub fn upload_resets(mut self, n: usize) -> Self {
        self.upload_resets = n;
        self
    }

    pub fn reset_blob_gets(mut self, n: usize) -> Self {
        self.reset_blob_gets = n;
        self
    }

    pub fn throttle(mut self, bytes_per_second: u64) -> Self {
        self.throttle = Some(bytes_per_second);
        self
    }

    pub fn ping_failures(mut self, n: usize) -> Self {
        self.ping_failures = n;
        self
    }

    pub fn too_many_requests(
        mut self,
        method: &str,
        path: &str,
        times: usize,
        retry_after: u64,
    ) -> Self {
        self.too_many = Some(TooMany {
            method: method.into(),
            path: path.into(),
            times,
            retry_after,
        });
        self
    }

    pub fn start(self, upstream: &str) -> FieldFront {
        FieldFront::start(upstream, self)
    }
}

/// One request as a listener saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Since the front started.
    pub at: Duration,
    pub method: String,
    /// Without the query.
    pub path: String,
    pub status: u16,
    pub authorization: bool,
}

/// One request to the token endpoint.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub at: Duration,
    pub scopes: Vec<String>,
    /// Basic credentials came with it.
    pub basic: bool,
    pub status: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Front,
    Token,
    Storage,
    Upload,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, tokens::Token>,
    served: usize,
    revoked: bool,
    front: Vec<Seen>,
    storage: Vec<Seen>,
    upload: Vec<Seen>,
    token_log: Vec<TokenRequest>,
    token_failures: usize,
    upload_resets: usize,
    blob_resets: usize,
    ping_failures: usize,
    too_many: usize,
}

struct Shared {
    options: FieldOptions,
    upstream: String,
    started: Instant,
    hosts: [String; 4],
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn host(&self, kind: Kind) -> &str {
        &self.hosts[kind as usize]
    }

    fn log(&self, kind: Kind, head: &Head, status: u16) {
        let seen = Seen {
            at: self.started.elapsed(),
            method: head.method().to_string(),
            path: head.path().to_string(),
            status,
            authorization: head.get("authorization").is_some(),
        };
        let mut s = self.state.lock().unwrap();
        match kind {
            Kind::Front => s.front.push(seen),
            Kind::Storage => s.storage.push(seen),
            Kind::Upload => s.upload.push(seen),
            Kind::Token => {}
        }
    }

    /// Takes one of `budget` (a counter of faults already injected) if any is left.
    fn take(&self, used: impl FnOnce(&mut State) -> &mut usize, budget: usize) -> bool {
        let mut s = self.state.lock().unwrap();
        let n = used(&mut s);
        if *n < budget {
            *n += 1;
            true
        } else {
            false
        }
    }
}

/// The running front: `host` is what imgpush talks to; the other listeners are the token
/// realm, the blob storage host and the upload host. Listeners close on drop.
pub struct FieldFront {
    pub host: String,
    pub token_host: String,
    pub storage_host: String,
    pub upload_host: String,
    shared: Arc<Shared>,
}

impl FieldFront {
    pub const SERVICE: &'static str = "field-front";

    pub fn start(upstream: &str, options: FieldOptions) -> FieldFront {
        let listeners: Vec<TcpListener> = (0..4)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let hosts: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect();
        let shared = Arc::new(Shared {
            options,
            upstream: upstream.to_string(),
            started: Instant::now(),
            hosts: hosts.clone().try_into().unwrap(),
            state: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let kinds = [Kind::Front, Kind::Token, Kind::Storage, Kind::Upload];
        for (listener, kind) in listeners.into_iter().zip(kinds) {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
                        let _ = serve(kind, client, &shared);
                    });
                }
            });
        }
        FieldFront {
            host: hosts[0].clone(),
            token_host: hosts[1].clone(),
            storage_host: hosts[2].clone(),
            upload_host: hosts[3].clone(),
            shared,
        }
    }

    /// Requests to the registry host (including those the front answered itself).
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().front.clone()
    }

    pub fn storage_requests(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().storage.clone()
    }

    pub fn upload_requests(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().upload.clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.state.lock().unwrap().token_log.clone()
    }

    /// Registry requests answered 401 by the front.
    pub fn rejected(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 401).count()
    }

    /// Blob answers cut off halfway so far.
    pub fn blob_resets(&self) -> usize {
        self.shared.state.lock().unwrap().blob_resets
    }

    /// Whether `revoke_after` has fired.
    pub fn revoked(&self) -> bool {
        self.shared.state.lock().unwrap().revoked
    }
}

impl Drop for FieldFront {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake each accept loop so it sees the flag and drops its listener.
        for host in &self.shared.hosts {
            let _ = TcpStream::connect(host);
        }
    }
}

fn serve(kind: Kind, client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    // A TLS ClientHello (the client tries HTTPS first on loopback): not HTTP, not logged,
    // the connection closed, as a plain-HTTP registry's access log would not show it.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        return client.shutdown(Shutdown::Both);
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = Head::read(&mut reader)? else {
        return Ok(());
    };
    let mut client = client;
    match kind {
        Kind::Front => serve_front(head, &mut reader, &mut client, shared),
        Kind::Token => tokens::serve_token(head, &mut reader, &mut client, shared),
        Kind::Storage => storage::serve_storage(head, &mut client, shared),
        Kind::Upload => {
            if shared.take(|s| &mut s.upload_resets, shared.options.upload_resets) {
                shared.log(kind, &head, 0);
                return client.shutdown(Shutdown::Both);
            }
            forward(kind, head, &mut reader, &mut client, shared, false)
        }
    }
}

fn serve_front(
    head: Head,
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    shared: &Shared,
) -> std::io::Result<()> {
    let options = &shared.options;
    let head_only = head.method() == "HEAD";
    {
        let mut s = shared.state.lock().unwrap();
        let revoke_at = options.tokens.as_ref().and_then(|t| t.revoke_after);
        if revoke_at.is_some_and(|n| s.served >= n) && !s.revoked {
            s.revoked = true;
            s.tokens.clear();
        }
        s.served += 1;
    }
    if head.path() == "/v2/" && shared.take(|s| &mut s.ping_failures, options.ping_failures) {
        shared.log(Kind::Front, &head, 503);
        let body = error_body("UNAVAILABLE", "service unavailable");
        return respond(client, 503, &[], &body, head_only);
    }
    if let Some(rule) = &options.too_many
        && (rule.method == "*" || rule.method == head.method())
        && head.path().contains(&rule.path)
        && shared.take(|s| &mut s.too_many, rule.times)
    {
        shared.log(Kind::Front, &head, 429);
        let body = error_body("TOOMANYREQUESTS", "You have reached your pull rate limit.");
        let headers = [
            ("Retry-After", rule.retry_after.to_string()),
            ("Content-Type", "application/json".into()),
        ];
        respond(client, 429, &headers, &body, head_only)?;
        return drain(reader, &head);
    }
    if options.tokens.is_some()
        && let Err(challenge) = tokens::check_token(&head, shared)
    {
        shared.log(Kind::Front, &head, 401);
        let body = error_body("UNAUTHORIZED", "authentication required");
        let headers = [
            ("WWW-Authenticate", challenge),
            ("Content-Type", "application/json".into()),
            ("Docker-Distribution-Api-Version", "registry/2.0".into()),
        ];
        respond(client, 401, &headers, &body, head_only)?;
        return drain(reader, &head);
    }
    if let Some(answered) = limits::answer_front(&head, reader, client, shared) {
        return answered;
    }
    let blob = matches!(head.method(), "GET" | "HEAD")
        && repository_of(head.path()).is_some()
        && head.path().contains("/blobs/sha256:");
    if blob && options.redirect_blobs && upstream_has(shared, head.path()) {
        let repo = repository_of(head.path()).unwrap_or("");
        let digest = head.path().rsplit('/').next().unwrap_or("");
        let location = format!(
            "http://{}/{repo}/{digest}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=secret-sig",
            shared.host(Kind::Storage)
        );
        shared.log(Kind::Front, &head, 307);
        return respond(client, 307, &[("Location", location)], b"", head_only);
    }
    let reset = blob && head.method() == "GET";
    forward(Kind::Front, head, reader, client, shared, reset)
}

/// Reads and drops a request body the front answered without forwarding.
fn drain(reader: &mut BufReader<TcpStream>, head: &Head) -> std::io::Result<()> {
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)));
    let _ = relay_body(reader, head, &mut std::io::sink(), None);
    Ok(())
}

fn upstream_has(shared: &Shared, path: &str) -> bool {
    let Ok(mut up) = TcpStream::connect(&shared.upstream) else {
        return false;
    };
    let _ = write!(
        up,
        "HEAD {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        shared.upstream
    );
    let mut r = BufReader::new(up);
    matches!(Head::read(&mut r), Ok(Some(h)) if h.status() == 200)
}

/// Forwards a request to the registry and its answer back. `reset`: a blob answer that
/// may be cut off halfway ([`FieldOptions::reset_blob_gets`]).
fn forward(
    kind: Kind,
    mut head: Head,
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    shared: &Shared,
    reset: bool,
) -> std::io::Result<()> {
    let options = &shared.options;
    let mut up = TcpStream::connect(&shared.upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let logged = Head {
        first: head.first.clone(),
        headers: head.headers.clone(),
    };
    // The registry behind has no auth; the front (or nobody, on the upload host) checked it.
    head.remove("authorization");
    // The body follows at once; an upstream `100 Continue` would only be a second head.
    head.remove("expect");
    head.set("Connection", "close");
    {
        let mut w = std::io::BufWriter::new(&mut up);
        head.write_to(&mut w)?;
        relay_body(reader, &head, &mut w, options.throttle)?;
        w.flush()?;
    }
    let mut upr = BufReader::new(up);
    let Some(mut answer) = Head::read(&mut upr)? else {
        shared.log(kind, &logged, 0);
        return client.shutdown(Shutdown::Both);
    };
    let status = answer.status();
    shared.log(kind, &logged, status);
    if options.absolute_upload_locations
        && status == 202
        && logged.path().contains("/blobs/uploads/")
        && let Some(location) = answer.get("location").map(str::to_string)
    {
        // Same path and query (`_state` included) on the upload host.
        let path_and_query = match location.find("://") {
            Some(i) => {
                let rest = &location[i + 3..];
                rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
            }
            None => location.as_str(),
        };
        let moved = format!("http://{}{path_and_query}", shared.host(Kind::Upload));
        answer.set("Location", &moved);
    }
    answer.set("Connection", "close");
    if status == 200
        && logged.method() == "GET"
        && let Some((digest, extra)) = &options.padded_blob
        && logged.path().ends_with(&format!("/blobs/{digest}"))
    {
        return limits::padded(answer, &mut upr, client, *extra);
    }
    answer.write_to(client)?;
    let length = answer.content_length().unwrap_or(0);
    if reset && status == 200 && reset_here(shared, length) {
        copy_exact(&mut upr, client, length / 2, None)?;
        client.flush()?;
        return client.shutdown(Shutdown::Both);
    }
    std::io::copy(&mut upr, client)?;
    client.flush()
}

fn reset_here(shared: &Shared, length: u64) -> bool {
    length >= RESET_MIN_SIZE && shared.take(|s| &mut s.blob_resets, shared.options.reset_blob_gets)
}
