//! [`ReferrersFront`]: an HTTP front before a real [`super::Registry`] that gives it the
//! OCI 1.1 referrers API distribution 2.8 lacks: a manifest PUT with a `subject` is
//! forwarded, recorded, and answered with `OCI-Subject`; `GET /v2/<name>/referrers/<digest>`
//! lists what was recorded (with the `artifactType` filter and `OCI-Filters-Applied`, in
//! pages of [`ReferrersFront::PAGE`] linked by `Link: <…>; rel="next"`). Everything else is
//! forwarded as it is. One request per connection; every request is logged.

use imgpush::oci::Digest;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

type Recorded = Arc<Mutex<HashMap<(String, String), Vec<Value>>>>;

pub struct ReferrersFront {
    pub host: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ReferrersFront {
    /// Referrers per page of an answer, so that a list of two already takes two pages.
    pub const PAGE: usize = 1;

    pub fn start(upstream: &str) -> ReferrersFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded: Recorded = Arc::default();
        let (upstream, log2) = (upstream.to_string(), log.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let (log, recorded, upstream) = (log2.clone(), recorded.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &log, &recorded));
            }
        });
        ReferrersFront { host, log }
    }

    /// `METHOD path?query` of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(mut client: TcpStream, upstream: &str, log: &Mutex<Vec<String>>, recorded: &Recorded) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if request_line.is_empty() {
            request_line = line.trim_end().to_string();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock().unwrap().push(format!("{method} {target}"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    if method == "GET"
        && let Some((name, digest)) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split_once("/referrers/"))
    {
        let _ = client.write_all(&list(recorded, name, digest, query));
        return;
    }

    let mut up = TcpStream::connect(upstream).unwrap();
    up.write_all(&head).unwrap();
    up.write_all(&body).unwrap();
    let mut response = Vec::new();
    let _ = up.read_to_end(&mut response);

    let subject = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|_| method == "PUT" && path.contains("/manifests/"))
        .and_then(|m| Some((m.pointer("/subject/digest")?.as_str()?.to_string(), m)));
    if let Some((subject, manifest)) = subject
        && response.starts_with(b"HTTP/1.1 201")
    {
        let name = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split_once("/manifests/"))
            .map(|(n, _)| n.to_string())
            .unwrap();
        let mut entry = json!({
            "mediaType": manifest["mediaType"],
            "digest": Digest::of(&body).to_string(),
            "size": body.len(),
            "artifactType": manifest.get("artifactType").unwrap_or(&manifest["config"]["mediaType"]),
        });
        if let Some(a) = manifest.get("annotations") {
            entry["annotations"] = a.clone();
        }
        let mut recorded = recorded.lock().unwrap();
        let list = recorded.entry((name, subject.clone())).or_default();
        if !list.iter().any(|e| e["digest"] == entry["digest"]) {
            list.push(entry);
        }
        let at = response.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let header = format!("OCI-Subject: {subject}\r\n");
        response.splice(at..at, header.bytes());
    }
    let _ = client.write_all(&response);
}

/// One page of the referrers of `digest` in `name`.
fn list(recorded: &Recorded, name: &str, digest: &str, query: &str) -> Vec<u8> {
    let params: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let all = recorded
        .lock()
        .unwrap()
        .get(&(name.to_string(), digest.to_string()))
        .cloned()
        .unwrap_or_default();
    let filter = params.get("artifactType");
    let matching: Vec<Value> = all
        .into_iter()
        .filter(|e| filter.is_none_or(|t| e["artifactType"] == t.as_str()))
        .collect();
    let start = params
        .get("last")
        .and_then(|last| matching.iter().position(|e| e["digest"] == last.as_str()))
        .map_or(0, |i| i + 1);
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(ReferrersFront::PAGE)
        .cloned()
        .collect();
    let mut headers = String::from("Content-Type: application/vnd.oci.image.index.v1+json\r\n");
    if filter.is_some() {
        headers.push_str("OCI-Filters-Applied: artifactType\r\n");
    }
    if start + page.len() < matching.len() {
        let last = page.last().unwrap()["digest"].as_str().unwrap().to_string();
        let mut next = format!("/v2/{name}/referrers/{digest}?n=1&last={last}");
        if let Some(t) = filter {
            next.push_str(&format!(
                "&artifactType={}",
                t.replace('/', "%2F").replace('+', "%2B")
            ));
        }
        headers.push_str(&format!("Link: <{next}>; rel=\"next\"\r\n"));
    }
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": page,
    }))
    .unwrap();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}
