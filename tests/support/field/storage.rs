//! The blob storage host of the front: signed URLs (`/<repo>/<digest>?X-Amz-Signature=…`)
//! served from the registry without auth, optionally reset halfway or with a wrong byte.

use super::http::{Head, copy_exact, respond};
use super::{Kind, Shared, reset_here};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};

/// The blob storage host: `/<repo>/<digest>?X-Amz-Signature=…`, served from the registry
/// without auth, as a signed URL is.
pub(super) fn serve_storage(
    head: Head,
    client: &mut TcpStream,
    shared: &Shared,
) -> std::io::Result<()> {
    let head_only = head.method() == "HEAD";
    let path = head.path().trim_start_matches('/').to_string();
    let signed = head.query().contains("X-Amz-Signature=secret-sig");
    let Some((repo, digest)) = path.rsplit_once('/') else {
        shared.log(Kind::Storage, &head, 404);
        return respond(client, 404, &[], b"no such key", head_only);
    };
    if !signed {
        shared.log(Kind::Storage, &head, 403);
        return respond(client, 403, &[], b"signature missing", head_only);
    }
    let mut up = TcpStream::connect(&shared.upstream)?;
    write!(
        up,
        "{} /v2/{repo}/blobs/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        head.method(),
        shared.upstream
    )?;
    let mut upr = BufReader::new(up);
    let Some(answer) = Head::read(&mut upr)? else {
        shared.log(Kind::Storage, &head, 0);
        return client.shutdown(Shutdown::Both);
    };
    let status = answer.status();
    shared.log(Kind::Storage, &head, status);
    let length = answer.content_length().unwrap_or(0);
    let headers = [
        ("Content-Type", "application/octet-stream".to_string()),
        ("Content-Length", length.to_string()),
        ("ETag", format!("\"{digest}\"")),
    ];
    let mut reply = Head {
        first: format!("HTTP/1.1 {status} Storage"),
        headers: vec![("Connection".into(), "close".into())],
    };
    for (k, v) in headers {
        reply.set(k, &v);
    }
    reply.write_to(client)?;
    if head_only || status != 200 {
        return client.flush();
    }
    let wrong = shared.options.wrong_storage_body.as_deref() == Some(digest);
    if reset_here(shared, length) {
        copy_exact(&mut upr, client, length / 2, None)?;
        client.flush()?;
        return client.shutdown(Shutdown::Both);
    }
    if wrong && length > 0 {
        copy_exact(&mut upr, client, length - 1, None)?;
        let mut last = [0u8; 1];
        upr.read_exact(&mut last)?;
        client.write_all(&[last[0] ^ 0x01])?;
    } else {
        std::io::copy(&mut upr, client)?;
    }
    client.flush()
}
