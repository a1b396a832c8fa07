//! Startup under a second and a clean exit on SIGTERM, with the binary cargo built, against the
//! test script's cluster (RECO_WEB_PG: a connection string for the reco_web role).

mod common;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn starts_in_under_a_second_and_stops_on_sigterm() {
    let Ok(pg) = std::env::var("RECO_WEB_PG") else {
        eprintln!("SKIPPED: RECO_WEB_PG is not set (scripts/web/test.sh sets it)");
        return;
    };
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reco-web"))
        .args(["--listen", "127.0.0.1:0", "--database-url", &pg])
        .env("RECO_WEB_TOKEN", "lifecycle-test")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn reco-web");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("reco-web exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_string();
        }
    };
    let r = common::get(&format!("{url}/api/health"));
    let ready = t0.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        ready < Duration::from_secs(1),
        "first answer after {ready:?}"
    );
    eprintln!(
        "reco-web answered /api/health {} ms after the spawn",
        ready.as_millis()
    );

    let t1 = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
