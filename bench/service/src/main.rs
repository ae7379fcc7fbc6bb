//! Answers `GET /greet/<name>` with JSON naming the platform it runs on; other paths 404.

use clap::Parser;
use regex::Regex;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
}

#[derive(Serialize)]
struct Greeting<'a> {
    hello: &'a str,
    arch: &'static str,
}

fn answer(route: &Regex, request: &str) -> (u16, String) {
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    match route.captures(path) {
        Some(c) => {
            let body = Greeting {
                hello: c.get(1).map_or("", |m| m.as_str()),
                arch: std::env::consts::ARCH,
            };
            (200, serde_json::to_string(&body).expect("serializes"))
        }
        None => (404, "{\"error\":\"not found\"}".to_string()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let route = Regex::new(r"^/greet/([A-Za-z0-9_-]{1,64})$").expect("valid regex");
    let listener = TcpListener::bind(&args.listen).await?;
    loop {
        let (mut socket, _) = listener.accept().await?;
        let route = route.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let (status, body) = answer(&route, &String::from_utf8_lossy(&buf[..n]));
            let reply = format!(
                "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        });
    }
}
