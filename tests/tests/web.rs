//! The status page (`keel daemon --web`) in a real browser: headless Chromium, driven through
//! its DevTools protocol, against a real daemon running real services. On loopback: the page
//! lists every service, shows a service killed from outside going down and coming back without
//! a reload, follows a log, stops services with its buttons (offering force when dependents
//! run) and fits a 360 px screen. Off loopback: TLS, a login with the API token, and nothing
//! changed without the session and its CSRF token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "web/browser.rs"]
mod browser;

use browser::{Chrome, WAIT, chromium, click, eval, step, wait_js};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::page::ScreenshotParams;
use keel_e2e::{Platform, free_port, repo_root, tcp_listener_service as listener};

const TOKEN: &str = "a-token-for-the-web-test-0123456789";

/// A service that prints 300 numbered lines, then the contents of `say` (to stdout, and with
/// `-err` to stderr) each time the file appears, then removes it: the test decides when a line
/// is printed.
fn echo(say: &Path) -> String {
    let script = format!(
        "import os,sys,time\n\
         p={say:?}\n\
         for i in range(300): print('early line %d' % i)\n\
         print('echo ready', flush=True)\n\
         while True:\n\
         \x20   if os.path.exists(p):\n\
         \x20       m=open(p).read().strip(); os.remove(p)\n\
         \x20       print(m, flush=True); print(m+'-err', file=sys.stderr, flush=True)\n\
         \x20   time.sleep(0.1)\n"
    );
    format!(
        r#"
[services.echo]
category = "tools"
[services.echo.deployment]
mode = "binary"
[services.echo.deployment.binary]
binary_path = "/usr/bin/python3"
args = ["-c", {script:?}]
"#
    )
}

/// A cell's text of a service's row.
fn cell(service: &str, class: &str) -> String {
    format!("document.querySelector('tr[data-service=\"{service}\"] td.{class}').textContent")
}

/// The foreground daemon, stopped with SIGTERM (it stops its services first) when dropped.
struct Daemon(Child);

fn daemon(p: &Platform, args: &[&str], token: Option<&str>) -> Daemon {
    let mut cmd = p.cmd();
    cmd.arg("daemon").args(args);
    if let Some(t) = token {
        cmd.env("KEEL_API_TOKEN", t);
    }
    Daemon(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
fn wait_port(port: u16, p: &Platform) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the status page did not listen on {port}; daemon log:\n{}",
            p.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn healthy(s: &serde_json::Value) -> bool {
    s["status"] == "running" && s["health"]["state"] == "healthy"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_loopback_the_page_follows_the_platform_live_and_its_buttons_stop_services() {
    let Some(chromium) = chromium() else { return };
    let (db_port, api_port, web_port) = (free_port(), free_port(), free_port());
    let say = tempfile::tempdir().unwrap();
    let say_file = say.path().join("say.txt");
    let config = [
        listener("db", db_port, 1.0, "category = \"data\""),
        listener(
            "api",
            api_port,
            0.0,
            "category = \"core\"\ndependencies = [\"db\"]",
        ),
        echo(&say_file),
    ]
    .concat();
    let p = Platform::new(&config);
    let web = format!("127.0.0.1:{web_port}");
    let _daemon = daemon(&p, &["--web", &web], None);
    wait_port(web_port, &p);
    for s in ["db", "api"] {
        p.wait_for(s, WAIT, healthy);
    }

    step("services up");
    let chrome = Chrome::launch(&chromium, &[]).await;
    step("chromium launched");
    let page = chrome.open(&format!("http://{web}/")).await;
    // Every service is listed, by category, with its status in words; the graph has a box each.
    wait_js(
        &page,
        "every service running",
        "['db','api','echo'].every(s => document.querySelector(`tr[data-service=\"${s}\"]`)?.dataset.status === 'running')",
    )
    .await;
    let listed: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('tr.service')].map(r => r.dataset.service)",
    )
    .await;
    assert_eq!(listed, ["db", "api", "echo"]);
    let categories: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('tr.category')].map(r => r.textContent)",
    )
    .await;
    assert_eq!(categories, ["data", "core", "tools"]);
    wait_js(
        &page,
        "db healthy",
        &format!("{}.includes('healthy')", cell("db", "health")),
    )
    .await;
    let nodes: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('#graph g.node')].map(g => g.dataset.service)",
    )
    .await;
    assert_eq!(
        nodes,
        ["db", "echo", "api"],
        "start levels: db and echo first"
    );
    let desc: String = eval(&page, "document.querySelector('#graph desc').textContent").await;
    assert!(desc.contains("api depends on db."), "{desc}");
    assert_eq!(cell_text(&page, "api", "mode").await, "binary");

    // A line printed after the page loaded shows in the log pane, from both streams.
    click(&page, "tr[data-service=\"echo\"] button[data-act=\"log\"]").await;
    wait_js(
        &page,
        "echo's first lines",
        "document.getElementById('log').textContent.includes('echo ready')",
    )
    .await;
    std::fs::write(&say_file, "said-after-the-page-loaded\n").unwrap();
    wait_js(
        &page,
        "the new line, on stdout and stderr",
        "document.getElementById('log').textContent.includes('[stdout] said-after-the-page-loaded') && \
         document.querySelector('#log .stderr')?.textContent.includes('[stderr] said-after-the-page-loaded-err')",
    )
    .await;
    let title: String = eval(&page, "document.getElementById('log-title').textContent").await;
    assert_eq!(title, "Log: echo");

    // Killed from outside: the row goes down, then comes back, and the page never reloads
    // (a reload would lose the mark set on its window).
    eval::<bool>(
        &page,
        "window.keelMark = true; window.seen = []; \
         new MutationObserver(() => { const r = document.querySelector('tr[data-service=\"db\"]'); \
           seen.push(r.dataset.status + ' ' + r.querySelector('td.health .text').textContent); }) \
           .observe(document.querySelector('tr[data-service=\"db\"]'), {attributes: true, subtree: true, childList: true}); true",
    )
    .await;
    let pid = p.status("db")["pid"].as_i64().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    wait_js(
        &page,
        "db seen down",
        "seen.some(s => s !== 'running healthy')",
    )
    .await;
    wait_js(
        &page,
        "db running and healthy again",
        &format!(
            "document.querySelector('tr[data-service=\"db\"]').dataset.status === 'running' && {}.startsWith('healthy')",
            cell("db", "health")
        ),
    )
    .await;
    assert_eq!(cell_text(&page, "db", "restarts").await, "1");
    assert!(
        eval::<bool>(&page, "window.keelMark === true").await,
        "the page reloaded"
    );
    let graph_state: String = eval(
        &page,
        "document.querySelector('#graph g.node[data-service=\"db\"] text.state').textContent",
    )
    .await;
    assert_eq!(graph_state, "running · healthy");

    // The picture for the README: everything up, echo's log open.
    wait_js(
        &page,
        "api healthy",
        &format!("{}.startsWith('healthy')", cell("api", "health")),
    )
    .await;
    // Into the target directory on every run (a test must not change the checkout); into
    // docs/ for the README with KEEL_UPDATE_SCREENSHOT=1.
    let shot = if std::env::var_os("KEEL_UPDATE_SCREENSHOT").is_some() {
        repo_root().join("docs/web-status.png")
    } else {
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-status.png")
    };
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &shot)
        .await
        .unwrap();

    // At 360 px wide, nothing runs off the side and every button is on screen.
    page.execute(SetDeviceMetricsOverrideParams::new(360, 740, 1.0, true))
        .await
        .unwrap();
    wait_js(
        &page,
        "the narrow layout",
        "document.documentElement.clientWidth === 360",
    )
    .await;
    let fits: bool = eval(
        &page,
        "document.documentElement.scrollWidth <= 360 && \
         [...document.querySelectorAll('tr.service button')].every(b => { const r = b.getBoundingClientRect(); return r.left >= 0 && r.right <= 360; })",
    )
    .await;
    assert!(fits, "the page is wider than 360 px");
    page.execute(SetDeviceMetricsOverrideParams::new(1100, 900, 1.0, false))
        .await
        .unwrap();

    // The pane began with the log's last 200 lines; earlier ones come in front, once each.
    let log = "document.getElementById('log').textContent";
    assert!(!eval::<bool>(&page, &format!("{log}.includes('early line 0\\n')")).await);
    click(&page, "#log-earlier").await;
    wait_js(
        &page,
        "the earlier lines",
        &format!("{log}.includes('early line 0\\n')"),
    )
    .await;
    let once: bool = eval(
        &page,
        &format!("{log}.split('early line 150\\n').length === 2 && {log}.split('echo ready').length === 2"),
    )
    .await;
    assert!(once, "lines shown twice or lost");

    // Stop db: refused, api depends on it and runs; the page says so and offers force.
    click(&page, "tr[data-service=\"db\"] button[data-act=\"stop\"]").await;
    wait_js(
        &page,
        "the force question",
        "document.getElementById('confirm').open",
    )
    .await;
    let asked: String = eval(&page, "document.getElementById('confirm-text').textContent").await;
    assert!(
        asked.contains("db was not stopped: api depends on it and runs"),
        "{asked}"
    );
    click(&page, "#confirm-cancel").await;
    wait_js(
        &page,
        "left running",
        "document.getElementById('message').textContent === 'db left running'",
    )
    .await;
    assert_eq!(p.status("db")["status"], "running");
    click(&page, "tr[data-service=\"db\"] button[data-act=\"stop\"]").await;
    wait_js(
        &page,
        "the force question again",
        "document.getElementById('confirm').open",
    )
    .await;
    click(&page, "#confirm-force").await;
    wait_js(
        &page,
        "db stopped",
        "document.querySelector('tr[data-service=\"db\"]').dataset.status === 'stopped'",
    )
    .await;
    assert_eq!(p.status("db")["status"], "stopped");
    assert_eq!(p.status("api")["status"], "running");

    // From the keyboard: the start button, focused, and Enter.
    let start = page
        .find_element("tr[data-service=\"db\"] button[data-act=\"start\"]")
        .await
        .unwrap();
    start
        .focus()
        .await
        .unwrap()
        .press_key("Enter")
        .await
        .unwrap();
    wait_js(
        &page,
        "db started",
        &format!("{}.startsWith('healthy')", cell("db", "health")),
    )
    .await;
    assert!(healthy(&p.status("db")));

    // api has no dependents: its stop button stops it at once.
    click(&page, "tr[data-service=\"api\"] button[data-act=\"stop\"]").await;
    wait_js(
        &page,
        "api stopped",
        "document.querySelector('tr[data-service=\"api\"]').dataset.status === 'stopped'",
    )
    .await;
    assert_eq!(p.status("api")["status"], "stopped");
    assert_eq!(
        eval::<String>(&page, "document.getElementById('message').textContent").await,
        "api stopped"
    );
}

async fn cell_text(page: &Page, service: &str, class: &str) -> String {
    eval(page, &cell(service, class)).await
}

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files in `dir`, and the
/// Chromium option that trusts it (and only it) by the hash of its public key.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
    use base64::Engine;
    use rcgen::PublicKeyData;
    use sha2::Digest;
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    let spki = sha2::Sha256::digest(cert.signing_key.subject_public_key_info());
    let trust = format!(
        // Chromium's option, without its dashes (the launcher adds them).
        "ignore-certificate-errors-spki-list={}",
        base64::engine::general_purpose::STANDARD.encode(spki)
    );
    (c, k, trust)
}

/// `fetch` from the page: the answer's status.
async fn post_status(page: &Page, path: &str, csrf: bool) -> i64 {
    let header = if csrf {
        ", 'X-Keel-Csrf': document.querySelector('meta[name=\"keel-csrf\"]').content"
    } else {
        ""
    };
    eval(
        page,
        &format!(
            "fetch('{path}', {{method: 'POST', credentials: 'same-origin', \
             headers: {{'Content-Type': 'application/json'{header}}}, body: '{{}}'}}).then(r => r.status)"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn off_loopback_the_page_needs_tls_and_the_token_and_refuses_changes_without_them() {
    let Some(chromium) = chromium() else { return };
    let (db_port, web_port) = (free_port(), free_port());
    let p = Platform::new(&listener("db", db_port, 0.0, ""));
    let (cert, key, trust) = certificate(p.dir.path());
    let all = format!("0.0.0.0:{web_port}");

    // Off loopback, plain HTTP or no token is refused before anything starts.
    let r = p.keel(&["daemon", "--web", &all]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("needs --web-tls-cert and --web-tls-key"),
        "{}",
        r.stderr
    );
    let tls = [
        "--web",
        &all,
        "--web-tls-cert",
        cert.to_str().unwrap(),
        "--web-tls-key",
        key.to_str().unwrap(),
    ];
    let r = p.keel(&[&["daemon"][..], &tls].concat());
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("needs the API token"), "{}", r.stderr);

    let _daemon = daemon(&p, &tls, Some(TOKEN));
    wait_port(web_port, &p);
    p.wait_for("db", WAIT, healthy);
    let chrome = Chrome::launch(&chromium, &[trust]).await;
    let url = format!("https://127.0.0.1:{web_port}/");
    let page = chrome.open(&url).await;

    // Not signed in: the page sends the browser to the login, and a stop is refused.
    wait_js(
        &page,
        "the login form",
        "location.pathname === '/login' && document.getElementById('token')",
    )
    .await;
    assert_eq!(
        post_status(&page, "/api/v1/services/db/stop", false).await,
        401
    );
    assert_eq!(p.status("db")["status"], "running");

    // A wrong token: the form again, with the reason.
    page.find_element("#token")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str("not-the-token")
        .await
        .unwrap();
    click(&page, "button[type=submit]").await;
    wait_js(
        &page,
        "the refusal",
        "document.getElementById('login-error')?.textContent === 'Wrong token: try again.'",
    )
    .await;
    assert!(page.get_cookies().await.unwrap().is_empty());

    // The token: a session cookie the page's script cannot read, and the page.
    page.find_element("#token")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(TOKEN)
        .await
        .unwrap();
    click(&page, "button[type=submit]").await;
    wait_js(
        &page,
        "the page",
        "document.querySelector('tr[data-service=\"db\"]')?.dataset.status === 'running'",
    )
    .await;
    let cookies = page.get_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name == format!("keel_session_{web_port}"))
        .expect("the session cookie");
    assert!(session.http_only && session.secure, "{session:?}");
    assert_eq!(eval::<String>(&page, "document.cookie").await, "");

    // Signed in but without the CSRF token: still refused.
    assert_eq!(
        post_status(&page, "/api/v1/services/db/stop", false).await,
        403
    );
    assert_eq!(p.status("db")["status"], "running");

    // The page's own button carries it: db stops.
    click(&page, "tr[data-service=\"db\"] button[data-act=\"stop\"]").await;
    wait_js(
        &page,
        "db stopped",
        "document.querySelector('tr[data-service=\"db\"]').dataset.status === 'stopped'",
    )
    .await;
    assert_eq!(p.status("db")["status"], "stopped");

    // Logging out ends the session: the login form again, and the API refuses.
    click(&page, "#logout").await;
    wait_js(
        &page,
        "the login form after logging out",
        "location.pathname === '/login' && document.getElementById('token')",
    )
    .await;
    let r: i64 = eval(&page, "fetch('/api/v1/services/list').then(r => r.status)").await;
    assert_eq!(r, 401);
}
