//! [`FaultProxy`]: an HTTP proxy in front of a registry that injects faults (error
//! statuses, resets, delays, truncated or corrupted bodies) into requests matching a [`Rule`].

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What a [`FaultProxy`] rule does to a matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: secs`) instead of forwarding.
    Status(u16, Option<u64>),
    /// Drop the connection without an answer (a reset, as far as the client can tell).
    Drop,
    /// Forward after this many milliseconds.
    Delay(u64),
    /// Forward, but send back only half of the answer's body (headers intact).
    Truncate,
    /// Forward, and flip one bit in the last byte of the answer's body.
    Flip,
}

/// Fail `times` requests whose method is `method` and whose path contains `path`, after
/// letting the first `after` of them through.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: String,
    pub after: usize,
    pub times: usize,
    pub fault: Fault,
}

/// An HTTP proxy between imgpush and a registry that injects faults by rule. Every request
/// gets its own connection (`Connection: close` both ways), so each is seen and decided on.
pub struct FaultProxy {
    pub host: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let rules = Arc::new(Mutex::new(rules));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (upstream, log2) = (upstream.to_string(), log.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let (rules, log, upstream) = (rules.clone(), log2.clone(), upstream.clone());
                std::thread::spawn(move || {
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
                    let (method, path) = (
                        parts.next().unwrap_or("").to_string(),
                        parts.next().unwrap_or("").to_string(),
                    );
                    let fault = {
                        let mut rules = rules.lock().unwrap();
                        match rules
                            .iter_mut()
                            .find(|r| r.times > 0 && r.method == method && path.contains(&r.path))
                        {
                            Some(r) if r.after > 0 => {
                                r.after -= 1;
                                None
                            }
                            Some(r) => {
                                r.times -= 1;
                                Some(r.fault.clone())
                            }
                            None => None,
                        }
                    };
                    log.lock().unwrap().push(format!(
                        "{method} {path} {}",
                        match &fault {
                            Some(f) => format!("{f:?}"),
                            None => "forwarded".into(),
                        }
                    ));
                    let forward = || {
                        let mut up = TcpStream::connect(&upstream).unwrap();
                        up.write_all(&head).unwrap();
                        up.write_all(&body).unwrap();
                        let mut response = Vec::new();
                        let _ = up.read_to_end(&mut response);
                        response
                    };
                    let body_at = |r: &[u8]| {
                        r.windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .map(|i| i + 4)
                            .unwrap_or(r.len())
                    };
                    match fault {
                        Some(Fault::Drop) => {}
                        Some(Fault::Status(code, retry_after)) => {
                            let extra = retry_after
                                .map(|s| format!("Retry-After: {s}\r\n"))
                                .unwrap_or_default();
                            let _ = write!(
                                client,
                                "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
                            );
                        }
                        Some(Fault::Delay(ms)) => {
                            std::thread::sleep(Duration::from_millis(ms));
                            let _ = client.write_all(&forward());
                        }
                        Some(Fault::Truncate) => {
                            let r = forward();
                            let start = body_at(&r);
                            let _ = client.write_all(&r[..start + (r.len() - start) / 2]);
                        }
                        Some(Fault::Flip) => {
                            let mut r = forward();
                            if r.len() > body_at(&r) {
                                let last = r.len() - 1;
                                r[last] ^= 0x01;
                            }
                            let _ = client.write_all(&r);
                        }
                        None => {
                            let _ = client.write_all(&forward());
                        }
                    }
                });
            }
        });
        FaultProxy { host, log }
    }
}
