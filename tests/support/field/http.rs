//! HTTP/1.1 plumbing of the field front: heads, bodies (Content-Length or chunked,
//! streamed, optionally throttled), canned answers, query strings.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A request or response head: the first line and the header fields in order.
pub(super) struct Head {
    pub(super) first: String,
    pub(super) headers: Vec<(String, String)>,
}

impl Head {
    pub(super) fn read(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
        let mut first = String::new();
        if r.read_line(&mut first)? == 0 {
            return Ok(None);
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Ok(Some(Head {
            first: first.trim_end().to_string(),
            headers,
        }))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub(super) fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    pub(super) fn method(&self) -> &str {
        self.first.split(' ').next().unwrap_or("")
    }

    pub(super) fn target(&self) -> &str {
        self.first.split(' ').nth(1).unwrap_or("")
    }

    pub(super) fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("")
    }

    pub(super) fn query(&self) -> &str {
        self.target().split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    pub(super) fn status(&self) -> u16 {
        self.first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub(super) fn content_length(&self) -> Option<u64> {
        self.get("content-length").and_then(|v| v.parse().ok())
    }

    pub(super) fn chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    pub(super) fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut out = format!("{}\r\n", self.first);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        w.write_all(out.as_bytes())
    }
}

/// Copies `n` bytes, at most `rate` bytes per second if given.
pub(super) fn copy_exact(
    r: &mut impl Read,
    w: &mut impl Write,
    n: u64,
    rate: Option<u64>,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut done = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while done < n {
        let want = (n - done).min(buf.len() as u64) as usize;
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        w.write_all(&buf[..got])?;
        done += got as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(done as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    Ok(())
}

/// Relays a request body (Content-Length or chunked, framing kept) from `r` to `w`.
pub(super) fn relay_body(
    r: &mut impl BufRead,
    head: &Head,
    w: &mut impl Write,
    rate: Option<u64>,
) -> std::io::Result<()> {
    if head.chunked() {
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            w.write_all(line.as_bytes())?;
            let size_hex = line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 {
                        return Ok(());
                    }
                    w.write_all(t.as_bytes())?;
                    if t == "\r\n" || t == "\n" {
                        return Ok(());
                    }
                }
            }
            copy_exact(r, w, size + 2, rate)?;
        }
    }
    match head.content_length() {
        Some(n) => copy_exact(r, w, n, rate),
        None => Ok(()),
    }
}

pub(super) fn respond(
    client: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = Head {
        first: format!("HTTP/1.1 {status} Field"),
        headers: vec![
            ("Content-Length".into(), body.len().to_string()),
            ("Connection".into(), "close".into()),
        ],
    };
    for (k, v) in headers {
        head.set(k, v);
    }
    head.write_to(client)?;
    if !head_only {
        client.write_all(body)?;
    }
    client.flush()
}

pub(super) fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]})
        .to_string()
        .into_bytes()
}
/// `/v2/<repo>/(blobs|manifests|tags)/…` → the repository.
pub(super) fn repository_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i])
}

pub(super) fn query_param(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
