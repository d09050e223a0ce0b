//! Headless Chromium for the status page's test: launched with a profile of its own, driven
//! through the DevTools protocol (chromiumoxide), and a few ways to ask the page things.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;

/// How long anything the tests wait for may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// Chromium, or `None` (the test skips) where it is not installed and not required.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("KEEL_REQUIRE_CHROMIUM").is_none(),
            "chromium is required here"
        );
        eprintln!("chromium is not installed: skipped");
    }
    found
}

/// A headless Chromium of the test's own, with its own profile; ended when dropped.
pub struct Chrome {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// `args`: Chromium's own options (without their leading dashes), beside the usual ones.
    pub async fn launch(executable: &Path, args: &[String]) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let config = BrowserConfig::builder()
            .chrome_executable(executable)
            .no_sandbox()
            .new_headless_mode()
            .user_data_dir(profile.path())
            .viewport(Viewport {
                width: 1100,
                height: 900,
                device_scale_factor: Some(1.0),
                emulating_mobile: false,
                is_landscape: true,
                has_touch: false,
            })
            .launch_timeout(WAIT)
            .request_timeout(WAIT)
            // Certificates are checked: the TLS test's is trusted by its key's hash alone.
            .respect_https_errors()
            .args(args.iter().map(String::as_str))
            .build()
            .unwrap();
        let (browser, mut events) = Browser::launch(config).await.expect("launching chromium");
        // The protocol's messages must be read for any command to be answered.
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Self {
            browser,
            handler,
            _profile: profile,
        }
    }

    pub async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page(url).await.expect("opening the page");
        page.wait_for_navigation().await.unwrap();
        step("page opened");
        page
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

/// Runs `js` in the page (awaiting a promise) and returns its value, or the error (a page
/// between two documents has nothing to run it in).
pub async fn try_eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> Result<T, String> {
    let params = EvaluateParams::builder()
        .expression(js)
        .await_promise(true)
        .return_by_value(true)
        .build()
        .unwrap();
    let result = page.evaluate(params).await.map_err(|e| e.to_string())?;
    result.into_value().map_err(|e| e.to_string())
}

pub async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    try_eval(page, js)
        .await
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
}

/// Notes how far a test got, and when: shown with a failure's output.
pub fn step(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:>6.1}s] {what}", start.elapsed().as_secs_f64());
}

/// Waits until `js` is true in the page (through navigations).
pub async fn wait_js(page: &Page, what: &str, js: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if try_eval::<bool>(page, &format!("!!({js})")).await == Ok(true) {
            step(what);
            return;
        }
        if Instant::now() > deadline {
            let body: Result<String, _> = try_eval(page, "document.body.innerText").await;
            panic!("waiting for {what} ({js}); the page says:\n{body:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element `selector` finds.
pub async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap();
}
