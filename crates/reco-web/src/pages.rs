//! The dashboard: server-rendered HTML (maud) that works without JavaScript; forms are plain
//! GET forms, admin actions plain POST forms carrying the token. Every number shown comes from
//! the same SQL statements as the JSON API.

use crate::charts::{self, LineChart, Series};
use crate::db::{self, opt};
use crate::error::ApiError;
use crate::{token_matches, AppState};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

const CSS: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#1f3b57;padding:.6em 1.2em}nav a{color:#fff;margin-right:1.4em;text-decoration:none;font-weight:600}
main{padding:1em 1.6em;max-width:1200px}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;margin:.4em 0}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666}.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.8em}
.verdict-better{color:#17803d;font-weight:bold}.verdict-worse{color:#b42318;font-weight:bold}
form.inline{display:inline}td.date{white-space:nowrap}input,button{font-size:1em;padding:.2em .4em}
";

fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · reco" }
                style { (PreEscaped(CSS)) }
            }
            body {
                nav {
                    a href="/" { "reco" }
                    a href="/users" { "Users" }
                    a href="/services" { "Services" }
                    a href="/experiments" { "Experiments" }
                    a href="/models" { "Models" }
                    a href="/docs/" { "API docs" }
                }
                main { (content) }
            }
        }
    }
}

fn error_page(e: ApiError) -> Response {
    let status = e.status;
    let body = layout(
        "Error",
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            div.error {
                p { (e.message) }
                @if let Some(h) = &e.hint { p { "Hint: " (h) } }
                @if let Some(c) = &e.sqlstate { p.note { "SQLSTATE " (c) } }
            }
        },
    );
    (status, Html(body.into_string())).into_response()
}

fn page(title: &str, content: Markup) -> Response {
    Html(layout(title, content).into_string()).into_response()
}

/// A JSON value as text: strings without quotes, null as empty.
fn t(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map(|x| format!("{x:.digits$}"))
        .unwrap_or_default()
}

/// A count as an integer, a share (below 1) with 3 decimals: drift totals are either.
fn amount(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() < 1.0 => format!("{x:.3}"),
        Some(x) => format!("{x:.0}"),
        None => String::new(),
    }
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_default()
}

/// A timestamp as "YYYY-MM-DD HH:MM" (PostgreSQL's JSON text is ISO 8601).
fn ts(v: &Value) -> String {
    let s = t(v);
    s.get(..16).map(|p| p.replace('T', " ")).unwrap_or(s)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/users", get(users))
        .route("/users/{user_id}", get(user))
        .route("/shoes/{shoe_id}", get(shoe))
        .route("/services", get(services))
        .route("/experiments", get(experiments))
        .route("/experiments/{name}", get(experiment))
        .route("/models", get(models))
        .route("/models/refresh", post(refresh))
        .route("/models/rollback", post(rollback))
        .route("/models/{model_id}/activate", post(activate))
}

async fn home(State(st): State<AppState>) -> Response {
    let health = db::json(&st.pool, crate::sql::HEALTH, &[])
        .await
        .unwrap_or(Value::Null);
    page(
        "Dashboard",
        html! {
            h1 { "reco dashboard" }
            p { "What reco would show a customer and why, look-alike shoes, due care reminders and replacements, A/B tests and model versions. Every page is a thin view of reco's SQL functions." }
            (user_form(""))
            ul {
                li { a href="/users" { "Users" } ": pick a customer, see their profile, history, recommendations with reasons and due services" }
                li { a href="/services" { "Services" } ": care reminders and replacement suggestions due on a day" }
                li { a href="/experiments" { "Experiments" } ": arms, metrics with confidence intervals, verdict, cumulative conversion chart" }
                li { a href="/models" { "Models" } ": versions, offline quality per version" }
                li { a href="/docs/" { "HTTP API docs" } " (OpenAPI: " a href="/openapi.json" { "/openapi.json" } ")" }
            }
            @if !health.is_null() {
                p.note { "reco " (t(&health["extension_version"])) ", active model " (t(&health["active_model_id"])) " built " (ts(&health["active_model_created_at"])) }
            }
        },
    )
}

fn user_form(q: &str) -> Markup {
    html! {
        form id="user-search" action="/users" method="get" {
            label for="q" { "User id or primary usage: " }
            input id="q" name="q" type="search" value=(q) placeholder="e.g. 7 or hiking";
            " " button type="submit" { "Find" }
        }
    }
}

#[derive(Deserialize)]
struct UsersQ {
    q: Option<String>,
}

async fn users(State(st): State<AppState>, Query(q): Query<UsersQ>) -> Response {
    let search = opt(&q.q);
    let list = match db::json(&st.pool, crate::sql::USERS, &[&search, &None::<&str>]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    page(
        "Users",
        html! {
            h1 { "Users" }
            (user_form(search.unwrap_or("")))
            @if arr(&list).is_empty() { p { "No user matches." } }
            @else {
                table id="users" {
                    tr { th { "user" } th { "age" } th { "gender" } th { "primary usage" } th { "interactions" } }
                    @for u in arr(&list) {
                        tr {
                            td { a href={"/users/" (t(&u["user_id"]))} { "User " (t(&u["user_id"])) } }
                            td.num { (t(&u["age"])) } td { (t(&u["gender"])) } td { (t(&u["primary_usage"])) }
                            td.num { (t(&u["interactions"])) }
                        }
                    }
                }
                p.note { "At most 50 shown; search by id or usage to narrow." }
            }
        },
    )
}

#[derive(Deserialize)]
struct DateQ {
    date: Option<String>,
}

fn shoe_link(id: &Value, name: &Value) -> Markup {
    let label = if name.is_null() {
        format!("shoe {}", t(id))
    } else {
        t(name)
    };
    html! { a href={"/shoes/" (t(id))} { (label) } }
}

async fn user(
    State(st): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<DateQ>,
) -> Response {
    let date = opt(&q.date);
    let details = match db::json(
        &st.pool,
        crate::sql::USER_PROFILE,
        &[&user_id, &None::<&str>],
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let recs = match crate::api::recommend(&st, &user_id, &Default::default()).await {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => return error_page(e),
    };
    let due = match db::json(
        &st.pool,
        crate::sql::SERVICES,
        &[&date, &Some(user_id.as_str()), &None::<&str>],
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let p = &details["profile"];
    page(
        &format!("User {user_id}"),
        html! {
            h1 { "User " (t(&p["user_id"])) }
            (user_form(""))
            h2 { "Profile" }
            table id="profile" {
                tr { th { "age" } td { (t(&p["age"])) } }
                tr { th { "gender" } td { (t(&p["gender"])) } }
                tr { th { "primary usage" } td { (t(&p["primary_usage"])) } }
                tr { th { "customer since" } td.date { (ts(&p["created_at"])) } }
                tr { th { "views / wishlist adds / purchases" } td { (t(&p["views"])) " / " (t(&p["wishlist_adds"])) " / " (t(&p["purchases"])) } }
                tr { th { "last seen" } td.date { (ts(&p["last_seen"])) } }
            }
            h2 { "Recommendations" }
            table id="recommendations" {
                tr { th { "#" } th { "shoe" } th { "brand" } th { "type" } th { "price" } th { "score" } th { "why" } }
                @for r in arr(&recs) {
                    tr.rec {
                        td.num { (t(&r["rank"])) }
                        td { (shoe_link(&r["shoe_id"], &r["name"])) }
                        td { (t(&r["brand"])) } td { (t(&r["type"])) } td.num { (num(&r["price"], 2)) }
                        td.num { (num(&r["score"], 3)) }
                        td.reason { (t(&r["reason"])) }
                    }
                }
            }
            h2 { "Due services" }
            form action={"/users/" (user_id)} method="get" {
                label for="date" { "as of " } input id="date" name="date" type="date" value=(t(&due["as_of"]));
                " " button type="submit" { "Show" }
            }
            @if arr(&due["services"]).is_empty() { p { "Nothing due on " (t(&due["as_of"])) "." } }
            @else { (services_table(&due["services"], false)) }
            h2 { "Recent history" }
            table id="history" {
                tr { th { "when (UTC)" } th { "action" } th { "shoe" } th { "brand" } th { "type" } }
                @for h in arr(&details["history"]) {
                    tr { td.date { (ts(&h["occurred_at"])) } td { (t(&h["action"])) } td { (shoe_link(&h["shoe_id"], &h["name"])) } td { (t(&h["brand"])) } td { (t(&h["type"])) } }
                }
            }
        },
    )
}

fn services_table(rows: &Value, with_user: bool) -> Markup {
    html! {
        table id="services" {
            tr {
                @if with_user { th { "user" } }
                th { "service" } th { "shoe" } th { "bought" } th { "due" } th { "message" } th { "suggestions" }
            }
            @for s in arr(rows) {
                tr {
                    @if with_user { td { a href={"/users/" (t(&s["user_id"]))} { (t(&s["user_id"])) } } }
                    td { (t(&s["service"])) } td { (shoe_link(&s["shoe_id"], &s["shoe_name"])) }
                    td.date { (t(&s["purchased_on"])) } td.date { (t(&s["due_on"])) } td { (t(&s["message"])) }
                    td { @for id in arr(&s["suggestions"]) { a href={"/shoes/" (t(id))} { (t(id)) } " " } }
                }
            }
        }
    }
}

async fn shoe(State(st): State<AppState>, Path(shoe_id): Path<String>) -> Response {
    let s = match db::json(&st.pool, crate::sql::SHOE, &[&shoe_id]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let similar = match db::json(&st.pool, crate::sql::SIMILAR, &[&shoe_id, &None::<&str>]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    page(
        &t(&s["name"]),
        html! {
            h1 { (t(&s["name"])) }
            table id="shoe" {
                tr { th { "id" } td { (t(&s["shoe_id"])) } }
                tr { th { "brand" } td { (t(&s["brand"])) } }
                tr { th { "type" } td { (t(&s["type"])) } }
                tr { th { "material / colour" } td { (t(&s["material"])) " / " (t(&s["color"])) } }
                tr { th { "price" } td { (num(&s["price"], 2)) } }
                tr { th { "lifespan" } td { (t(&s["lifespan_days"])) " days" } }
                tr { th { "active" } td { @if s["active"].as_bool() == Some(true) { "yes" } @else { "no (never recommended)" } } }
                tr { th { "description" } td { (t(&s["description"])) } }
                tr { th { "care" } td { (t(&s["care_instructions"])) } }
            }
            h2 { "Similar shoes" }
            table id="similar" {
                tr { th { "#" } th { "shoe" } th { "brand" } th { "type" } th { "price" } th { "score" } th { "content" } th { "CF" } }
                @for r in arr(&similar) {
                    tr.similar {
                        td.num { (t(&r["rank"])) } td { (shoe_link(&r["shoe_id"], &r["name"])) }
                        td { (t(&r["brand"])) } td { (t(&r["type"])) } td.num { (num(&r["price"], 2)) }
                        td.num { (num(&r["score"], 3)) } td.num { (num(&r["content_score"], 3)) } td.num { (num(&r["cf_score"], 3)) }
                    }
                }
            }
        },
    )
}

async fn services(State(st): State<AppState>, Query(q): Query<DateQ>) -> Response {
    let date = opt(&q.date);
    let due = match db::json(
        &st.pool,
        crate::sql::SERVICES,
        &[&date, &None::<&str>, &Some("500")],
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let shown = arr(&due["services"]).len();
    page(
        "Services",
        html! {
            h1 { "Services due on " (t(&due["as_of"])) }
            form action="/services" method="get" {
                label for="date" { "Day: " } input id="date" name="date" type="date" value=(t(&due["as_of"]));
                " " button type="submit" { "Show" }
            }
            p { (t(&due["total"])) " due" @if shown as i64 != due["total"].as_i64().unwrap_or(0) { " (the first " (shown) " shown)" } "." }
            (services_table(&due["services"], true))
        },
    )
}

async fn experiments(State(st): State<AppState>) -> Response {
    let list = match db::json(&st.pool, crate::sql::EXPERIMENTS, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    page(
        "Experiments",
        html! {
            h1 { "Experiments" }
            @if arr(&list).is_empty() { p { "No experiment yet (POST /api/experiments, or reco.create_experiment())." } }
            @else {
                table id="experiments" {
                    tr { th { "name" } th { "placement" } th { "status" } th { "arms" } th { "created" } th { "started" } th { "stopped" } }
                    @for e in arr(&list) {
                        tr {
                            td { a href={"/experiments/" (t(&e["name"]))} { (t(&e["name"])) } }
                            td { (t(&e["placement"])) } td { (t(&e["status"])) }
                            td { @for a in arr(&e["arms"]) { (t(&a["name"])) " (" (t(&a["strategy"])) ", " (t(&a["weight"])) ") " } }
                            td.date { (ts(&e["created_at"])) } td.date { (ts(&e["started_at"])) } td.date { (ts(&e["stopped_at"])) }
                        }
                    }
                }
            }
        },
    )
}

fn ci(r: &Value, metric: &str, f: fn(&Value) -> String) -> Markup {
    let lift = &r[format!("{metric}_lift")];
    if lift.is_null() {
        return html! {};
    }
    html! { (f(lift)) " [" (f(&r[format!("{metric}_ci_low")])) ", " (f(&r[format!("{metric}_ci_high")])) "]" }
}

fn money(v: &Value) -> String {
    num(v, 2)
}

/// Percentage points for differences of rates.
fn pp(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:+.1} pp", x * 100.0))
        .unwrap_or_default()
}

async fn experiment(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let list = match db::json(&st.pool, crate::sql::EXPERIMENTS, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let results = match db::json(&st.pool, crate::sql::EXPERIMENT_RESULTS, &[&name]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let timeline = match db::json(&st.pool, crate::sql::EXPERIMENT_TIMELINE, &[&name]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let exp = arr(&list)
        .iter()
        .find(|e| e["name"].as_str() == Some(name.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    // Chart: one series per arm, x = day index, labelled with the date.
    let mut days: Vec<String> = Vec::new();
    let mut by_arm: BTreeMap<usize, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    let mut arm_order: Vec<String> = Vec::new();
    for p in arr(&timeline) {
        let day = t(&p["day"]);
        if days.last() != Some(&day) {
            days.push(day);
        }
        let arm = t(&p["arm"]);
        let idx = match arm_order.iter().position(|a| *a == arm) {
            Some(i) => i,
            None => {
                arm_order.push(arm.clone());
                arm_order.len() - 1
            }
        };
        if let Some(rate) = p["conversion_rate"].as_f64() {
            by_arm
                .entry(idx)
                .or_insert_with(|| (arm.clone(), Vec::new()))
                .1
                .push(((days.len() - 1) as f64, rate));
        }
    }
    let chart = LineChart {
        id: "timeline-chart",
        title: "Cumulative user conversion per arm",
        x_title: "Day of the experiment (UTC, month-day)",
        y_title: "Exposed users who bought (%)",
        series: by_arm
            .into_values()
            .map(|(name, points)| Series { name, points })
            .collect(),
        x_ticks: days
            .iter()
            .enumerate()
            .map(|(i, d)| (i as f64, d.get(5..).unwrap_or(d).to_string()))
            .collect(),
        y_format: charts::percent,
    }
    .render();
    let first = arr(&results).first().cloned().unwrap_or(Value::Null);
    page(
        &format!("Experiment {name}"),
        html! {
            h1 { "Experiment " (name) }
            @if !exp.is_null() {
                p { "Placement " b { (t(&exp["placement"])) } ", status " b { (t(&exp["status"])) }
                    ", planned for a relative lift of " (pct(&exp["minimum_detectable_effect"])) " in user conversion"
                    @if !exp["started_at"].is_null() { ", started " (ts(&exp["started_at"])) }
                    @if !exp["stopped_at"].is_null() { ", stopped " (ts(&exp["stopped_at"])) } "." }
                h2 { "Arms" }
                table id="arms" {
                    tr { th { "arm" } th { "strategy" } th { "model" } th { "weight" } }
                    @for a in arr(&exp["arms"]) { tr { td { (t(&a["name"])) } td { (t(&a["strategy"])) } td { (t(&a["model_id"])) } td.num { (t(&a["weight"])) } } }
                }
            }
            h2 { "Results" }
            p.note { "Against the first arm (the control); intervals at 95% (1 - alpha). Users needed per arm for the planned effect: " (t(&first["required_users_per_arm"])) "; sample ratio mismatch p = " (num(&first["srm_p_value"], 3)) "." }
            table id="results" {
                tr { th { "arm" } th { "users" } th { "impressions" } th { "CTR" } th { "conversion" } th { "conversion lift [95% CI]" } th { "p" }
                     th { "revenue / user" } th { "revenue / user lift [95% CI]" } th { "verdict" } }
                @for r in arr(&results) {
                    tr {
                        td { (t(&r["arm"])) } td.num { (t(&r["users"])) } td.num { (t(&r["impressions"])) }
                        td.num { (num(&r["ctr"], 3)) } td.num { (pct(&r["conversion_rate"])) }
                        td.num { (ci(r, "conversion", pp)) } td.num { (num(&r["conversion_p_value"], 4)) }
                        td.num { (money(&r["revenue_per_user"])) } td.num { (ci(r, "revenue_per_user", money)) }
                        td class={"verdict verdict-" (t(&r["verdict"]))} { (t(&r["verdict"])) }
                    }
                }
            }
            h2 { "Over time" }
            figure { (PreEscaped(chart)) figcaption.note { "Each point: of the users first exposed to the arm up to that day, the share who bought through the experiment by then (reco.experiment_timeline())." } }
        },
    )
}

async fn models(State(st): State<AppState>) -> Response {
    let versions = match db::json(&st.pool, crate::sql::MODELS, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let quality = match db::json(&st.pool, crate::sql::MODEL_QUALITY, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let log = match db::json(&st.pool, crate::sql::ACTIVATIONS, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let drift = match db::json(&st.pool, crate::sql::DRIFT, &[]).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    // One line per way of measuring: refresh()'s held-out nDCG@10 of the hybrid, and each
    // method of the stored reco.evaluate() runs.
    let mut by_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut ids: Vec<i64> = Vec::new();
    for q in arr(&quality) {
        if let (Some(id), Some(v)) = (q["model_id"].as_i64(), q["ndcg_at_k"].as_f64()) {
            let name = if q["source"] == "refresh" {
                "refresh (held-out)".to_string()
            } else {
                format!("evaluate: {}", t(&q["method"]))
            };
            by_series.entry(name).or_default().push((id as f64, v));
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.sort();
    let chart = LineChart {
        id: "quality-chart",
        title: "Offline quality per model version",
        x_title: "Model version (model_id)",
        y_title: "nDCG@10 on held-out interactions (0-1)",
        series: by_series
            .into_iter()
            .map(|(name, points)| Series { name, points })
            .collect(),
        x_ticks: ids.iter().map(|&i| (i as f64, format!("v{i}"))).collect(),
        y_format: charts::plain3,
    }
    .render();
    let latest_drift = arr(&drift)
        .first()
        .map(|d| d["model_id"].clone())
        .unwrap_or(Value::Null);
    page(
        "Models",
        html! {
            h1 { "Model versions" }
            table id="models" {
                tr { th { "version" } th { "built (UTC)" } th { "status" } th { "pinned" } th { "users" } th { "shoes" } th { "interactions" }
                     th { "factors" } th { "energy" } th { "read / SVD / write s" } th { "admin" } }
                @for m in arr(&versions) {
                    tr {
                        td.num { (t(&m["model_id"])) } td.date { (ts(&m["created_at"])) } td { (t(&m["status"])) }
                        td { @if m["pinned"].as_bool() == Some(true) { "yes" } }
                        td.num { (t(&m["users"])) } td.num { (t(&m["shoes"])) } td.num { (t(&m["interactions"])) }
                        td.num { (t(&m["factors"])) } td.num { (num(&m["energy"], 3)) }
                        td.num { (num(&m["seconds"]["read"], 2)) " / " (num(&m["seconds"]["svd"], 2)) " / " (num(&m["seconds"]["write"], 2)) }
                        td { @if m["status"].as_str() != Some("active") {
                            form.inline method="post" action={"/models/" (t(&m["model_id"])) "/activate"} {
                                input name="token" type="password" placeholder="admin token" required;
                                " " input name="reason" type="text" placeholder="reason";
                                " " button type="submit" { "Activate" }
                            }
                        } }
                    }
                }
            }
            h2 { "Admin" }
            form method="post" action="/models/refresh" {
                input name="token" type="password" placeholder="admin token" required;
                " " button type="submit" { "Refresh now (build a new version)" }
            }
            form method="post" action="/models/rollback" {
                input name="token" type="password" placeholder="admin token" required;
                " " input name="reason" type="text" placeholder="reason";
                " " button type="submit" { "Roll back to the previous version" }
            }
            p.note { "The token is the RECO_WEB_TOKEN reco-web was started with." }
            h2 { "Quality history" }
            @if arr(&quality).is_empty() { p { "No quality measured yet: refresh() measures each version it builds; " code { "SELECT * FROM reco.evaluate()" } " adds a point per method." } }
            figure { (PreEscaped(chart)) figcaption.note { "refresh()'s held-out measure of each version it built (reco.model_quality) and the latest reco.evaluate() of each version and method (reco.evaluations)." } }
            h2 { "Drift" }
            @if arr(&drift).is_empty() { p { "No drift measured yet (refresh() measures it against the version active before it)." } }
            @else {
                p { "Measured by the refresh that built version " (t(&latest_drift)) ", against the data the version before it was trained on." }
                table id="drift" {
                    tr { th { "feature" } th { "PSI" } th { "JS divergence" } th { "band" } th { "baseline" } th { "since" } }
                    @for d in arr(&drift).iter().filter(|d| d["model_id"] == latest_drift) {
                        tr { td { (t(&d["feature"])) } td.num { (num(&d["psi"], 3)) } td.num { (num(&d["js_divergence"], 3)) }
                             td { (t(&d["band"])) } td.num { (amount(&d["baseline_total"])) } td.num { (amount(&d["current_total"])) } }
                    }
                }
            }
            h2 { "Activation log" }
            @if arr(&log).is_empty() { p { "No activation logged yet." } }
            @else {
                table id="activations" {
                    tr { th { "when (UTC)" } th { "from" } th { "to" } th { "decision" } th { "how" } th { "by" } th { "reason" } }
                    @for a in arr(&log) {
                        tr { td.date { (ts(&a["at"])) } td.num { (t(&a["from_model_id"])) } td.num { (t(&a["to_model_id"])) }
                             td { (t(&a["decision"])) } td { (t(&a["how"])) } td { (t(&a["by_role"])) } td { (t(&a["reason"])) } }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct AdminForm {
    token: String,
    reason: Option<String>,
}

fn check_admin(st: &AppState, f: &AdminForm) -> Result<(), ApiError> {
    match st.token.as_deref() {
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin actions are disabled: reco-web was started without RECO_WEB_TOKEN",
        )),
        Some(exp) if token_matches(exp, f.token.trim()) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong admin token")),
    }
}

async fn admin(
    st: AppState,
    f: AdminForm,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Response {
    if let Err(e) = check_admin(&st, &f) {
        return error_page(e);
    }
    match db::json(&st.pool, sql, params).await {
        Ok(_) => Redirect::to("/models").into_response(),
        Err(e) => error_page(e),
    }
}

async fn refresh(State(st): State<AppState>, Form(f): Form<AdminForm>) -> Response {
    admin(st, f, crate::sql::REFRESH, &[&serde_json::json!({})]).await
}

async fn rollback(State(st): State<AppState>, Form(f): Form<AdminForm>) -> Response {
    let reason = f.reason.clone().filter(|r| !r.trim().is_empty());
    admin(st, f, crate::sql::ROLLBACK, &[&reason]).await
}

async fn activate(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
    Form(f): Form<AdminForm>,
) -> Response {
    let reason = f.reason.clone().filter(|r| !r.trim().is_empty());
    admin(st, f, crate::sql::ACTIVATE, &[&model_id, &reason]).await
}
