//! Answers beyond what a client may read or expects: manifests over 4 MiB, token answers
//! over 256 KiB (with or without a length), a blob longer than its descriptor, and a 413
//! to a monolithic upload PUT.

use super::http::{Head, error_body, respond};
use super::{Framing, Kind, Shared, drain};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};

/// A manifest answer 64 KiB over the 4 MiB a client reads of one.
pub const MANIFEST_OVERSIZE: u64 = (4 << 20) + (64 << 10);

/// A token answer 44 KiB over the 256 KiB a client reads of one.
pub const TOKEN_OVERSIZE: u64 = 300 << 10;

/// The front's own answers to registry requests that these options take over; `None`:
/// not one of them.
pub(super) fn answer_front(
    head: &Head,
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    shared: &Shared,
) -> Option<std::io::Result<()>> {
    let options = &shared.options;
    if let Some(framing) = options.oversized_manifests
        && head.method() == "GET"
        && head.path().contains("/manifests/")
    {
        shared.log(Kind::Front, head, 200);
        let prefix = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","annotations":{"pad":""#;
        return Some(oversized(client, framing, prefix, MANIFEST_OVERSIZE));
    }
    if let Some(over) = options.refuse_monolithic
        && head.method() == "PUT"
        && head.path().contains("/blobs/uploads/")
        && (head.chunked() || head.content_length().is_some_and(|n| n > over))
    {
        shared.log(Kind::Front, head, 413);
        let body = error_body("SIZE_INVALID", "request entity too large");
        return Some(respond(client, 413, &[], &body, false).and_then(|()| drain(reader, head)));
    }
    None
}

/// A 200 of `total` bytes: `prefix`, then `a`s. The client is expected to stop reading
/// (and close) early; a write that fails then is not an error of the front.
pub(super) fn oversized(
    client: &mut TcpStream,
    framing: Framing,
    prefix: &[u8],
    total: u64,
) -> std::io::Result<()> {
    let mut head = Head {
        first: "HTTP/1.1 200 Field".into(),
        headers: vec![
            ("Connection".into(), "close".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
    };
    match framing {
        Framing::ContentLength => head.set("Content-Length", &total.to_string()),
        Framing::Chunked => head.set("Transfer-Encoding", "chunked"),
    }
    head.write_to(client)?;
    let filler = vec![b'a'; 64 << 10];
    let mut left = total;
    let mut first = true;
    let sent = (|| -> std::io::Result<()> {
        while left > 0 {
            let part: &[u8] = if first {
                prefix
            } else {
                &filler[..left.min(filler.len() as u64) as usize]
            };
            first = false;
            if framing == Framing::Chunked {
                write!(client, "{:x}\r\n", part.len())?;
            }
            client.write_all(part)?;
            if framing == Framing::Chunked {
                client.write_all(b"\r\n")?;
            }
            left -= part.len() as u64;
        }
        if framing == Framing::Chunked {
            client.write_all(b"0\r\n\r\n")?;
        }
        client.flush()
    })();
    if sent.is_err() {
        let _ = client.shutdown(Shutdown::Both);
    }
    Ok(())
}

/// Relays a blob answer with `extra` bytes appended (and a `Content-Length` to match):
/// more than its descriptor says.
pub(super) fn padded(
    mut answer: Head,
    upstream: &mut impl Read,
    client: &mut TcpStream,
    extra: u64,
) -> std::io::Result<()> {
    let length = answer.content_length().unwrap_or(0);
    answer.set("Content-Length", &(length + extra).to_string());
    answer.write_to(client)?;
    std::io::copy(&mut upstream.take(length), client)?;
    let _ = client.write_all(&vec![b' '; extra as usize]);
    client.flush()
}
