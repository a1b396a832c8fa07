//! `reco-web --listen 127.0.0.1:PORT [--database-url URL]`: see README "Web dashboard and HTTP API".

use reco_web::shoe_cache::{ShoeCache, DEFAULT_SHOE_CACHE_SECONDS};
use reco_web::{db, router, AppState, Limits, Metrics, DEFAULT_READ_BURST, DEFAULT_READ_RATE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: reco-web [--listen ADDR:PORT] [--database-url URL] [--pool-size N]
                [--read-rate N] [--read-burst N] [--shoe-cache-seconds N] [--endpoints]

  --listen ADDR:PORT   where to listen (default 127.0.0.1:8080)
  --database-url URL   postgresql://user@host:port/db or 'host=... user=...'; default: the
                       libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
  --pool-size N        database connections (default 8)
  --read-rate N        sustained GET /api requests per second per client IP (default 50; 0 = off)
  --read-burst N       burst allowed above that rate (default 100)
  --shoe-cache-seconds N
                       how long the recommendations endpoint keeps a shoe's name, brand, type
                       and price before asking the database again (default 10; 0 = every call)
  --endpoints          print the endpoint table (from the OpenAPI spec) as Markdown and exit

Environment: RECO_WEB_TOKEN, the bearer token of the write endpoints and the dashboard's admin
actions; without it every write is refused with 503.";

struct Args {
    listen: SocketAddr,
    url: Option<String>,
    pool: usize,
    rate: u64,
    burst: u32,
    shoe_cache_seconds: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:8080".parse().unwrap(),
        url: None,
        pool: 8,
        rate: DEFAULT_READ_RATE,
        burst: DEFAULT_READ_BURST,
        shoe_cache_seconds: DEFAULT_SHOE_CACHE_SECONDS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = val()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--database-url" => a.url = Some(val()?),
            "--pool-size" => a.pool = val()?.parse().map_err(|e| format!("--pool-size: {e}"))?,
            "--read-rate" => a.rate = val()?.parse().map_err(|e| format!("--read-rate: {e}"))?,
            "--read-burst" => a.burst = val()?.parse().map_err(|e| format!("--read-burst: {e}"))?,
            "--shoe-cache-seconds" => {
                a.shoe_cache_seconds = val()?
                    .parse()
                    .map_err(|e| format!("--shoe-cache-seconds: {e}"))?
            }
            "--endpoints" => {
                print!("{}", reco_web::api::endpoints_markdown());
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.pool == 0 {
        return Err("--pool-size must be at least 1".into());
    }
    Ok(a)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    eprintln!("reco-web: shutting down");
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let args = parse().unwrap_or_else(|e| {
        eprintln!("reco-web: {e}\n{USAGE}");
        std::process::exit(2);
    });
    let cfg = db::pg_config(args.url.as_deref()).unwrap_or_else(|e| {
        eprintln!("reco-web: {e}");
        std::process::exit(2);
    });
    let pool = db::pool(cfg, args.pool).unwrap_or_else(|e| {
        eprintln!("reco-web: {e}");
        std::process::exit(2);
    });
    // Fail at once, with PostgreSQL's message, when the database is unreachable or the role
    // lacks the dashboard functions, rather than on the first request.
    match tokio::time::timeout(
        Duration::from_secs(5),
        db::json(&pool, reco_web::sql::HEALTH, &[]),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            eprintln!(
                "reco-web: the database check failed: {}{}",
                e.message,
                e.hint.map(|h| format!(" (hint: {h})")).unwrap_or_default()
            );
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("reco-web: no answer from the database within 5 s");
            std::process::exit(1);
        }
    }
    let token = std::env::var("RECO_WEB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(Arc::<str>::from);
    if token.is_none() {
        eprintln!("reco-web: RECO_WEB_TOKEN is not set: write endpoints and admin actions are disabled (503)");
    }
    let state = AppState {
        pool,
        token,
        metrics: Arc::new(Metrics::default()),
        started,
        shoes: Arc::new(ShoeCache::new(Duration::from_secs(args.shoe_cache_seconds))),
    };
    let app = router(
        state,
        &Limits {
            read_rate: args.rate,
            read_burst: args.burst,
        },
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("reco-web: cannot listen on {}: {e}", args.listen);
            std::process::exit(1);
        });
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    eprintln!(
        "reco-web: listening on http://{addr}/ (ready in {} ms)",
        started.elapsed().as_millis()
    );
    // The peer address feeds the per-client rate limit.
    if let Err(e) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    {
        eprintln!("reco-web: {e}");
        std::process::exit(1);
    }
}
