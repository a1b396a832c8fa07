//! The dashboard in headless Chromium (Debian's chromium, driven through chromedriver's W3C
//! WebDriver protocol, which is plain HTTP + JSON): pick a user, see ten recommendations with
//! reasons, follow a shoe to its look-alikes, find the experiment's chart. Saves screenshots
//! into RECO_WEB_SCREENSHOTS (the README's come from here). Needs RECO_WEB_URL and
//! RECO_WEBDRIVER_URL (scripts/web/test.sh starts both); skipped without them.

mod common;
use common::{base64_decode, env_url, request};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    wd: String,
    session: String,
}

impl Browser {
    fn start(wd: &str) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": std::env::var("RECO_WEB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            // As root Chromium needs --no-sandbox; the background-networking flags keep it
            // from calling Google's services, which the closed network refuses.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1500",
                     format!("--user-data-dir={}", std::env::var("RECO_WEB_CHROME_PROFILE").unwrap_or_else(|_| "/tmp/reco-web-chrome".into()))]
        }}}});
        let r = request(
            "POST",
            &format!("{wd}/session"),
            &[],
            Some(&caps.to_string()),
        );
        assert_eq!(r.status, 200, "new session: {}", r.body);
        let session = r.json()["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            wd: wd.to_string(),
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.wd, self.session, path);
        let b = body.map(|b| b.to_string());
        let r = request(
            method,
            &url,
            &[],
            b.as_deref()
                .or(if method == "POST" { Some("{}") } else { None }),
        );
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
        r.json()["value"].clone()
    }

    /// Waits until the current URL satisfies `ok` (a click starts a navigation that chromedriver
    /// does not always wait for).
    fn wait_url(&self, ok: impl Fn(&str) -> bool) -> String {
        let t0 = std::time::Instant::now();
        loop {
            let u = self.url();
            if ok(&u) {
                return u;
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "still on {u}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_string()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[ELEMENT].as_str().unwrap().to_string())
        .collect()
    }

    fn find(&self, css: &str) -> String {
        let all = self.find_all(css);
        assert!(!all.is_empty(), "no element {css} on {}", self.url());
        all[0].clone()
    }

    fn text(&self, el: &str) -> String {
        self.cmd("GET", &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn attr(&self, el: &str, name: &str) -> String {
        self.cmd("GET", &format!("/element/{el}/attribute/{name}"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn click(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    fn type_text(&self, el: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        );
    }

    fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("RECO_WEB_SCREENSHOTS") else {
            return;
        };
        let png = base64_decode(self.cmd("GET", "/screenshot", None).as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            "DELETE",
            &format!("{}/session/{}", self.wd, self.session),
            &[],
            None,
        );
    }
}

#[test]
fn dashboard_in_headless_chromium() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let Some(wd) = env_url("RECO_WEBDRIVER_URL") else {
        return;
    };
    let b = Browser::start(&wd);

    // Pick a user: search by id, follow the result.
    b.goto(&format!("{base}/users"));
    let q = b.find("#user-search input[name=q]");
    b.type_text(&q, "7");
    b.click(&b.find("#user-search button[type=submit]"));
    b.wait_url(|u| u.contains("/users?q=7"));
    b.click(&b.find("#users a[href='/users/7']"));
    b.wait_url(|u| u.ends_with("/users/7"));

    // Ten recommendations, each with a reason.
    let rows = b.find_all("#recommendations tr.rec");
    assert_eq!(rows.len(), 10, "recommendation rows");
    let reasons = b.find_all("#recommendations tr.rec td.reason");
    assert_eq!(reasons.len(), 10);
    for r in &reasons {
        assert!(
            !b.text(r).trim().is_empty(),
            "a recommendation without a reason"
        );
    }
    assert!(!b.find_all("#profile").is_empty() && !b.find_all("#history tr").is_empty());
    b.screenshot("user");

    // Follow the first recommended shoe to its look-alikes.
    let link = b.find("#recommendations tr.rec a");
    let href = b.attr(&link, "href");
    let name = b.text(&link);
    b.click(&link);
    b.wait_url(|u| u.ends_with(&href));
    assert_eq!(b.text(&b.find("h1")), name);
    let similar = b.find_all("#similar tr.similar");
    assert_eq!(similar.len(), 10, "similar rows");
    b.screenshot("shoe");

    // The experiments page, its experiment and the chart.
    b.goto(&format!("{base}/experiments"));
    let exp = std::env::var("RECO_WEB_EXPERIMENT").unwrap_or_else(|_| "web-test".into());
    b.screenshot("experiments");
    b.click(&b.find(&format!("#experiments a[href='/experiments/{exp}']")));
    b.wait_url(|u| u.ends_with(&format!("/experiments/{exp}")));
    let chart = b.find("svg#timeline-chart");
    assert!(
        b.text(&b.find("svg#timeline-chart title"))
            .contains("Cumulative")
            || !b.attr(&chart, "id").is_empty()
    );
    assert_eq!(
        b.find_all("svg#timeline-chart g.series").len(),
        2,
        "one line per arm"
    );
    assert_eq!(
        b.find_all("svg#timeline-chart g.legend").len(),
        2,
        "a legend entry per arm"
    );
    assert!(
        !b.find_all("svg#timeline-chart text.x-title").is_empty()
            && !b.find_all("svg#timeline-chart text.y-title").is_empty()
    );
    assert_eq!(b.find_all("#results tr").len(), 3, "header + two arms");
    b.screenshot("experiment");

    b.goto(&format!("{base}/models"));
    assert!(!b.find_all("svg#quality-chart").is_empty());
    b.screenshot("models");
    b.goto(&format!("{base}/services?date=2025-01-15"));
    assert!(b.find_all("#services tr").len() > 1);
    b.screenshot("services");
}
