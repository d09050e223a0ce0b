//! A third party's TCP check on the SDK's bounded exchange (`fixtures/redis-ping`: `PING` →
//! `+PONG`), run by the real `keel plugins call` against real TCP servers started here: the
//! answer, a wrong answer, a refused port (which std's `connect_timeout` on wasip2 reports as
//! a success), a server that never answers, and the grant matched by the name written.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use keel_e2e::{Run, free_port, keel, repo_root};

fn redis_ping() -> String {
    repo_root()
        .join("plugins/dist/fixtures/redis-ping.wasm")
        .display()
        .to_string()
}

/// `keel plugins call redis-ping.wasm check` for `host:port`, with these grants.
fn check(host: &str, port: u16, grants: &[String], timeout_ms: u32) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let settings = format!(r#"{{"host":"{host}","port":{port}}}"#);
    let timeout = timeout_ms.to_string();
    let mut cmd = keel();
    cmd.args([
        "plugins",
        "call",
        &redis_ping(),
        "check",
        "--settings",
        &settings,
    ])
    .args(["--timeout-ms", &timeout]);
    for grant in grants {
        cmd.args(["--grant", grant]);
    }
    cmd.current_dir(dir.path()).output().unwrap().into()
}

/// A server on 127.0.0.1 that reads one line per connection and answers `reply` (nothing when
/// `None`, holding the connection open until the client goes), `connections` times.
fn serve(reply: Option<&'static str>, connections: usize) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut heard = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            heard.push(line);
            let mut stream = stream;
            match reply {
                Some(reply) => {
                    let _ = stream.write_all(reply.as_bytes());
                }
                // Wait for the client to give up and close.
                None => {
                    let _ = reader.read_line(&mut String::new());
                }
            }
        }
        heard
    });
    (port, handle)
}

#[test]
fn a_ping_is_answered_and_a_wrong_answer_is_unhealthy() {
    let (port, server) = serve(Some("+PONG\r\n"), 1);
    let grant = format!("network=127.0.0.1:{port}");
    let r = check("127.0.0.1", port, &[grant], 5000);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "healthy: redis at 127.0.0.1:{port} answered +PONG"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(server.join().unwrap(), ["PING\r\n"]);

    let (port, server) = serve(Some("-NOAUTH Authentication required.\r\n"), 1);
    let grant = format!("network=127.0.0.1:{port}");
    let r = check("127.0.0.1", port, &[grant], 5000);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(r#"answered "-NOAUTH Authentication required.", expected +PONG"#),
        "{}",
        r.stdout
    );
    server.join().unwrap();
}

#[test]
fn a_refused_port_and_a_silent_server_are_unhealthy_with_the_reason() {
    // Nothing listens: refused, not a success (std's connect_timeout would say Ok here).
    let port = free_port();
    let grant = format!("network=127.0.0.1:{port}");
    let r = check("127.0.0.1", port, &[grant], 5000);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "unhealthy: redis at 127.0.0.1:{port}: connection refused"
        )),
        "{}",
        r.stdout
    );

    // A server that accepts and never answers: the exchange ends at its deadline, inside the
    // call's own time limit, and says so.
    let (port, server) = serve(None, 1);
    let grant = format!("network=127.0.0.1:{port}");
    let r = check("127.0.0.1", port, &[grant], 700);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("timed out after 700 ms waiting for a reply"),
        "{}",
        r.stdout
    );
    assert_eq!(server.join().unwrap(), ["PING\r\n"]);
}

#[test]
fn the_grant_matches_the_name_written() {
    let (port, server) = serve(Some("+PONG\r\n"), 1);
    // The settings say `localhost`; a grant of the same address under another name does not
    // cover it, and the call does not run.
    let by_address = format!("network=127.0.0.1:{port}");
    let r = check("localhost", port, std::slice::from_ref(&by_address), 5000);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("network `localhost:{port}`")),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The name as written is granted: it connects (localhost resolves to 127.0.0.1 here).
    let by_name = format!("network=localhost:{port}");
    let r = check("localhost", port, &[by_name], 5000);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("answered +PONG"), "{}", r.stdout);
    server.join().unwrap();
}
