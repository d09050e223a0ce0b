//! A minimal TCP service for tests and benchmarks: listens on 127.0.0.1:PORT (after an optional
//! delay), answers every connection with one line, and prints that it is ready.
//!
//! Usage: keel-test-listener PORT [DELAY_MS]

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: keel-test-listener PORT [DELAY_MS]");
    let delay: u64 = args.next().and_then(|d| d.parse().ok()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(delay));
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("listening on 127.0.0.1:{port}");
    for mut conn in listener.incoming().flatten() {
        let _ = conn.write_all(b"ok\n");
    }
}
