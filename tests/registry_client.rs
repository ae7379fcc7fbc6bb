//! The registry client against the real distribution registry (and, for the Bearer token
//! exchange, a small scripted server): chunked uploads, mount fallbacks, integrity checks.

mod support;

use bytes::Bytes;
use futures_util::StreamExt;
use imgpush::oci::Digest;
use imgpush::registry::{
    Client, ClientSettings, Credential, MountResult, RegistryError, UploadSource,
};
use imgpush::report::{NoopReporter, ProgressId, RecordingReporter};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use support::*;

fn client(host: &str, chunk_size: Option<u64>) -> Client {
    client_with_retries(host, chunk_size, 0)
}

fn client_with_retries(host: &str, chunk_size: Option<u64>, retries: u32) -> Client {
    Client::new(
        ClientSettings {
            cache: None,
            registry: host.to_string(),
            insecure: false,
            insecure_hosts: vec![],
            credential: None,
            credential_source: None,
            scopes: vec![],
            chunk_size,
            retries,
            read_timeout: imgpush::registry::DEFAULT_READ_TIMEOUT,
            extra_roots: vec![],
        },
        Arc::new(NoopReporter),
    )
}

/// A deterministic payload of `len` bytes written to a file: (dir guard, path, bytes, digest).
fn payload_file(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>, Digest) {
    let data = payload(len);
    let digest = Digest::of(&data);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, &data).unwrap();
    (dir, file, data, digest)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn download(c: &Client, repo: &str, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
    let mut stream = c.get_blob(repo, digest, None).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn storage_blob(registry: &Registry, digest: &Digest) -> std::path::PathBuf {
    registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&digest.hex()[..2])
        .join(digest.hex())
        .join("data")
}

#[tokio::test]
async fn chunked_upload_follows_each_new_location_and_downloads_verify() {
    let registry = Registry::start();
    let (_dir, file, data, digest) = payload_file(1_000_003);

    let c = client(&registry.host, Some(256 * 1024));
    c.upload_blob(
        "test/chunked",
        &digest,
        data.len() as u64,
        UploadSource::File(&file),
        None,
        ProgressId(0),
    )
    .await
    .unwrap();
    assert_eq!(
        c.blob_exists("test/chunked", &digest).await.unwrap(),
        Some(data.len() as u64)
    );
    assert_eq!(download(&c, "test/chunked", &digest).await.unwrap(), data);
    let patches = registry
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH /v2/test/chunked/blobs/uploads/"))
        .count();
    assert_eq!(patches, 4, "1 MB in 256 KiB chunks");

    // Tampering in the registry's storage is caught on download, naming the digest.
    std::fs::write(storage_blob(&registry, &digest), b"not the content").unwrap();
    let err = download(&c, "test/chunked", &digest).await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(digest.as_str()), "{err}");
}

#[tokio::test]
async fn an_interrupted_chunked_upload_resumes_where_the_registry_stopped() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        &registry.host,
        vec![Rule {
            method: "PATCH",
            path: "/blobs/uploads/".into(),
            after: 2,
            times: 1,
            fault: Fault::Drop,
        }],
    );
    let (_dir, file, data, digest) = payload_file(300_000);
    let c = client_with_retries(&proxy.host, Some(64 * 1024), 3);
    c.upload_blob(
        "test/resume",
        &digest,
        data.len() as u64,
        UploadSource::File(&file),
        None,
        ProgressId(0),
    )
    .await
    .unwrap();
    assert_eq!(
        download(&client(&registry.host, None), "test/resume", &digest)
            .await
            .unwrap(),
        data
    );
    let log = proxy.log.lock().unwrap().clone();
    let count = |m: &str| {
        log.iter()
            .filter(|l| l.starts_with(m) && l.contains("/blobs/uploads/"))
            .count()
    };
    assert_eq!(
        count("POST"),
        1,
        "resumed in the same session, not restarted: {log:#?}"
    );
    assert_eq!(count("GET"), 1, "one upload-status query: {log:#?}");
    assert_eq!(count("PATCH"), 6, "5 chunks + the dropped one: {log:#?}");
}

#[tokio::test]
async fn mount_from_a_repo_without_the_blob_continues_as_an_upload() {
    let registry = Registry::start();
    let c = client(&registry.host, None);
    let data = Bytes::from(payload(4096));
    let digest = Digest::of(&data);
    c.upload_blob(
        "test/src",
        &digest,
        data.len() as u64,
        UploadSource::Bytes(data.clone()),
        None,
        ProgressId(0),
    )
    .await
    .unwrap();
    // From a repository that has it: 201, mounted, no bytes moved.
    assert!(matches!(
        c.mount_blob("test/dst", &digest, "test/src").await.unwrap(),
        MountResult::Mounted
    ));
    assert!(c.blob_exists("test/dst", &digest).await.unwrap().is_some());

    // From one that doesn't: 202 with a session to upload into.
    let other = Bytes::from(payload(5000));
    let other_digest = Digest::of(&other);
    match c
        .mount_blob("test/dst2", &other_digest, "test/empty")
        .await
        .unwrap()
    {
        MountResult::Upload(session) => c
            .upload_blob(
                "test/dst2",
                &other_digest,
                other.len() as u64,
                UploadSource::Bytes(other.clone()),
                Some(session),
                ProgressId(0),
            )
            .await
            .unwrap(),
        MountResult::Mounted => panic!("nothing to mount from test/empty"),
    }
    assert_eq!(
        download(&c, "test/dst2", &other_digest).await.unwrap(),
        other.to_vec()
    );

    // A wrong digest on upload is refused by the registry, and the error says so.
    let err = c
        .upload_blob(
            "test/dst3",
            &Digest::of(b"something else"),
            data.len() as u64,
            UploadSource::Bytes(data),
            None,
            ProgressId(0),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("DIGEST_INVALID"), "{err}");
}

#[test]
fn tampered_base_config_stops_the_build_before_anything_is_pushed() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let index: serde_json::Value =
        serde_json::from_slice(&skopeo_raw(&format!("docker://{base}"), None)).unwrap();
    let amd = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&skopeo_raw(
        &format!("docker://{}/base/busybox@{amd}", registry.host),
        None,
    ))
    .unwrap();
    let config: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let path = storage_blob(&registry, &config);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b" ");
    std::fs::write(&path, bytes).unwrap();

    let before = registry.requests().len();
    // --no-cache: the verified copy in the tests' shared cache would (rightly) be used
    // instead of the tampered one; this checks the download path.
    let out = Imgpush::new().run(&[
        "build",
        "--no-cache",
        "--repo",
        &format!("{}/app/tampered", registry.host),
        "--base",
        &base,
        "--artifact",
        &format!("linux/amd64={}", hello().amd64.display()),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("does not match its digest") && err.contains(config.as_str()),
        "{err}"
    );
    let writes: Vec<String> = registry.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

/// A scripted registry that demands a Bearer token from its own token endpoint, recording
/// what the client sent.
struct TokenServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    fn start() -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        auth = line["authorization:".len()..].trim().to_string();
                    }
                }
                let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(format!(
                    "{} {target} auth={auth}",
                    request_line.split(' ').next().unwrap_or("")
                ));
                let response = if target.starts_with("/token") {
                    let body = r#"{"token":"tok-123","expires_in":300}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else if auth == "Bearer tok-123" {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        TokenServer { port, seen }
    }
}

#[tokio::test]
async fn bearer_token_covers_every_scope_in_one_request() {
    let server = TokenServer::start();
    let reporter = Arc::new(RecordingReporter::default());
    let c = Client::new(
        ClientSettings {
            cache: None,
            registry: format!("127.0.0.1:{}", server.port),
            insecure: false,
            insecure_hosts: vec![],
            credential: Some(Credential::Basic {
                username: "u".into(),
                password: "p-secret".into(),
            }),
            credential_source: None,
            scopes: vec![
                "repository:app/hello:pull,push".into(),
                "repository:base/busybox:pull".into(),
            ],
            chunk_size: None,
            retries: 0,
            read_timeout: imgpush::registry::DEFAULT_READ_TIMEOUT,
            extra_roots: vec![],
        },
        reporter.clone(),
    );
    let digest = Digest::of(b"x");
    assert_eq!(c.blob_exists("app/hello", &digest).await.unwrap(), None);
    assert_eq!(c.blob_exists("app/hello", &digest).await.unwrap(), None);
    let seen = server.seen.lock().unwrap().clone();
    let token_requests: Vec<&String> = seen.iter().filter(|s| s.contains("/token")).collect();
    assert_eq!(token_requests.len(), 1, "the token is reused: {seen:?}");
    let t = token_requests[0];
    assert!(t.contains("service=fake"), "{t}");
    assert!(
        t.contains("scope=repository%3Aapp%2Fhello%3Apull%2Cpush")
            && t.contains("scope=repository%3Abase%2Fbusybox%3Apull"),
        "{t}"
    );
    assert!(
        t.contains("auth=Basic dTpwLXNlY3JldA=="),
        "Basic credentials go to the token endpoint: {t}"
    );
    let heads: Vec<&String> = seen.iter().filter(|s| s.starts_with("HEAD")).collect();
    assert!(
        heads.iter().all(|h| h.ends_with("auth=Bearer tok-123")),
        "{seen:?}"
    );
    let traces = reporter.traces().join("\n");
    assert!(
        !traces.contains("p-secret")
            && !traces.contains("tok-123")
            && !traces.contains("dTpwLXNlY3JldA"),
        "{traces}"
    );
}
