//! The database side: a pool of connections as the dashboard's least-privilege role, and one
//! way to query: every statement returns a single jsonb value built by PostgreSQL (`to_jsonb`,
//! `jsonb_agg`), so the HTTP layer passes reco's rows through without a Rust struct per result
//! and the JSON keys are the SQL functions' column names.

use crate::error::ApiError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

/// Connection settings from a URL or keyword string (`--database-url`), else from the libpq
/// variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (tokio-postgres does not read
/// them itself). PGHOST may be a socket directory. No TLS: connect over loopback or a socket.
pub fn pg_config(url: Option<&str>) -> Result<tokio_postgres::Config, String> {
    let mut cfg = match url {
        Some(u) => u
            .parse::<tokio_postgres::Config>()
            .map_err(|e| format!("bad --database-url: {e}"))?,
        None => {
            let mut c = tokio_postgres::Config::new();
            let host =
                std::env::var("PGHOST").unwrap_or_else(|_| "/var/run/postgresql".to_string());
            for h in host.split(',') {
                c.host(h);
            }
            if let Ok(p) = std::env::var("PGPORT") {
                c.port(
                    p.parse()
                        .map_err(|_| format!("PGPORT is not a port: {p}"))?,
                );
            }
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            c.user(&user);
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                c.password(pw);
            }
            c.dbname(std::env::var("PGDATABASE").unwrap_or(user));
            c
        }
    };
    if cfg.get_application_name().is_none() {
        cfg.application_name("reco-web");
    }
    Ok(cfg)
}

pub fn pool(cfg: tokio_postgres::Config, size: usize) -> Result<Pool, String> {
    // Fast recycling: a connection that broke fails its next query with 503 and is dropped;
    // checking each one before use would add a round trip to every request.
    let mgr = Manager::from_config(
        cfg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(size)
        .build()
        .map_err(|e| e.to_string())
}

/// Runs a statement that returns one row with one jsonb column and returns that value.
/// Statements are prepared once per connection (the set is small and fixed).
pub async fn json(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Value, ApiError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(sql).await?;
    let row = client.query_one(&stmt, params).await?;
    Ok(row.try_get::<_, Option<Value>>(0)?.unwrap_or(Value::Null))
}

/// Runs a statement and returns its rows (for the endpoint whose JSON reco-web builds itself).
pub async fn rows(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, ApiError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.query(&stmt, params).await?)
}

/// Empty query parameters (`brand=` from a form) mean "not given".
pub fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|v| !v.is_empty())
}
