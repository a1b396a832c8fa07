//! The JSON API over real HTTP against a reco-web that scripts/web/test.sh started on a
//! throwaway cluster with the small shop (RECO_WEB_URL, RECO_WEB_TOKEN), and a second instance
//! with a tight rate limit, no token and a role that may only serve (RECO_WEB_LIMITED_URL).
//! Without those variables every test is skipped with a message.

mod common;
use common::{env_url, get, request};
use serde_json::Value;

fn token() -> String {
    std::env::var("RECO_WEB_TOKEN").expect("RECO_WEB_TOKEN is set with RECO_WEB_URL")
}

fn post(url: &str, body: &str) -> common::Resp {
    let auth = format!("Bearer {}", token());
    request("POST", url, &[("Authorization", &auth)], Some(body))
}

fn assert_error(r: &common::Resp, status: u16, sqlstate: Option<&str>) -> Value {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "JSON error body"
    );
    let v = r.json();
    assert_eq!(v["status"], status);
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {v}"
    );
    assert!(v["error"].is_string());
    if let Some(code) = sqlstate {
        assert_eq!(v["sqlstate"], code, "{v}");
    }
    v
}

#[test]
fn recommendations_are_ten_with_reasons() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let r = get(&format!("{base}/api/recommendations/7"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let items = v.as_array().expect("array");
    assert_eq!(items.len(), 10);
    for (i, it) in items.iter().enumerate() {
        assert_eq!(it["rank"], (i + 1) as i64);
        assert!(it["shoe_id"].is_i64());
        assert!(it["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(it["score"].is_f64());
        assert!(it["cf_score"].is_number() && it["content_score"].is_number());
        assert!(it["reason"].as_str().is_some_and(|n| !n.is_empty()));
    }
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
}

#[test]
fn recommended_shoes_carry_their_catalogue_fields() {
    // The names, brands, types and prices come from reco-web's shoe cache (filled through
    // reco.shoe_summaries()); they must be the shoe's own, as GET /api/shoes/{id} shows them,
    // on the first call (cache filled) and on the second (served from it).
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    for _ in 0..2 {
        let v = get(&format!("{base}/api/recommendations/11?k=5")).json();
        let items = v.as_array().expect("array");
        assert_eq!(items.len(), 5);
        for it in items {
            let shoe = get(&format!("{base}/api/shoes/{}", it["shoe_id"])).json();
            for field in ["name", "brand", "type"] {
                assert_eq!(it[field], shoe[field], "{field} of {it}");
            }
            let (a, b) = (it["price"].as_f64(), shoe["price"].as_f64());
            assert!(a.is_some() && a == b, "price of {it}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn recommendation_filters() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let v = get(&format!(
        "{base}/api/recommendations/7?k=3&type=running&max_price=200"
    ))
    .json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["type"] == "running"), "{v}");
    assert!(
        items.iter().all(|i| i["price"].as_f64().unwrap() <= 200.0),
        "{v}"
    );
    // Empty parameters, as a form sends them, mean "not given".
    let v = get(&format!(
        "{base}/api/recommendations/7?k=&brand=&type=&max_price="
    ))
    .json();
    assert_eq!(v.as_array().unwrap().len(), 10);
}

#[test]
fn bad_values_are_400_with_sqlstate() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    assert_error(
        &get(&format!("{base}/api/recommendations/7?k=0")),
        400,
        Some("22023"),
    );
    assert_error(
        &get(&format!("{base}/api/recommendations/7?k=abc")),
        400,
        Some("22P02"),
    );
    assert_error(
        &get(&format!("{base}/api/recommendations/seven")),
        400,
        Some("22P02"),
    );
    assert_error(
        &get(&format!("{base}/api/services?date=2025-13-45")),
        400,
        None,
    );
    assert_error(
        &get(&format!("{base}/api/similar/42?k=100000")),
        400,
        Some("22023"),
    );
}

#[test]
fn unknown_things_are_404() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let v = assert_error(
        &get(&format!("{base}/api/recommendations/987654321")),
        404,
        Some("P0002"),
    );
    assert!(v["message"].as_str().unwrap().contains("987654321"), "{v}");
    assert_error(
        &get(&format!("{base}/api/similar/987654321")),
        404,
        Some("P0002"),
    );
    assert_error(
        &get(&format!("{base}/api/users/987654321")),
        404,
        Some("P0002"),
    );
    assert_error(
        &get(&format!("{base}/api/shoes/987654321")),
        404,
        Some("P0002"),
    );
    assert_error(
        &get(&format!(
            "{base}/api/experiments/no-such-experiment/results"
        )),
        404,
        Some("P0002"),
    );
    assert_error(&get(&format!("{base}/api/no-such-endpoint")), 404, None);
}

#[test]
fn similar_services_users_shoes() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let v = get(&format!("{base}/api/similar/42?k=5")).json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items
        .iter()
        .all(|i| i["shoe_id"] != 42 && i["name"].is_string() && i["score"].is_number()));

    let v = get(&format!("{base}/api/services?date=2025-01-15")).json();
    assert_eq!(v["as_of"], "2025-01-15");
    let total = v["total"].as_i64().unwrap();
    let rows = v["services"].as_array().unwrap();
    assert!(
        total > 0 && rows.len() as i64 == total.min(1000),
        "{total} {}",
        rows.len()
    );
    let s = &rows[0];
    for k in [
        "user_id",
        "shoe_id",
        "shoe_name",
        "purchased_on",
        "service",
        "due_on",
        "message",
        "suggestions",
    ] {
        assert!(!s[k].is_null(), "{k} in {s}");
    }
    let v = get(&format!("{base}/api/services?date=2025-01-15&limit=3")).json();
    assert_eq!(v["services"].as_array().unwrap().len(), 3);
    assert_eq!(v["total"].as_i64().unwrap(), total);

    let v = get(&format!("{base}/api/users/7?history=5")).json();
    assert_eq!(v["profile"]["user_id"], 7);
    assert!(v["profile"]["purchases"].is_i64());
    assert_eq!(v["history"].as_array().unwrap().len(), 5);
    let v = get(&format!("{base}/api/users?q=hiking&limit=5")).json();
    let us = v.as_array().unwrap();
    assert_eq!(us.len(), 5);
    assert!(us.iter().all(|u| u["primary_usage"] == "hiking"));
    let v = get(&format!("{base}/api/shoes/42")).json();
    assert_eq!(v["shoe_id"], 42);
    assert!(v["name"].is_string() && v["lifespan_days"].is_i64());
}

#[test]
fn writes_need_the_token() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let r = request(
        "POST",
        &format!("{base}/api/serve"),
        &[],
        Some(r#"{"user_id": 7}"#),
    );
    assert_error(&r, 401, None);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request(
        "POST",
        &format!("{base}/api/serve"),
        &[("Authorization", "Bearer wrong-token")],
        Some(r#"{"user_id": 7}"#),
    );
    assert_error(&r, 401, None);
    let r = request("POST", &format!("{base}/api/models/refresh"), &[], None);
    assert_error(&r, 401, None);
    let r = request(
        "POST",
        &format!("{base}/api/experiments"),
        &[("Authorization", "Basic eDp5")],
        Some("{}"),
    );
    assert_error(&r, 401, None);
}

#[test]
fn serve_log_and_rate() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    // A placement without an experiment: recommend()'s list, arm "default".
    let r = post(
        &format!("{base}/api/serve"),
        r#"{"user_id": 11, "k": 5, "placement": "api-test-serve"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let req = v["request_id"].as_i64().expect("request id");
    assert_eq!(v["arm"], "default");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["position"], 1);
    let shoe = items[0]["shoe_id"].as_i64().unwrap();
    let other = items[1]["shoe_id"].as_i64().unwrap();

    let r = post(
        &format!("{base}/api/events"),
        &format!(r#"{{"request_id": {req}, "shoe_id": {shoe}, "kind": "click"}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["event_id"].is_i64());
    // A repeat is not stored: event_id null.
    let r = post(
        &format!("{base}/api/events"),
        &format!(r#"{{"request_id": {req}, "shoe_id": {shoe}, "kind": "click"}}"#),
    );
    assert_eq!(r.status, 201);
    assert!(r.json()["event_id"].is_null());
    // A shoe the request did not show: 22023.
    let r = post(
        &format!("{base}/api/events"),
        &format!(r#"{{"request_id": {req}, "shoe_id": 987654321, "kind": "click"}}"#),
    );
    assert_error(&r, 400, Some("22023"));
    let r = post(
        &format!("{base}/api/events"),
        r#"{"request_id": 987654321, "shoe_id": 1, "kind": "click"}"#,
    );
    assert_error(&r, 404, Some("P0002"));
    let r = post(
        &format!("{base}/api/events"),
        &format!(r#"{{"request_id": {req}, "shoe_id": {shoe}, "kind": "teleport"}}"#),
    );
    assert_eq!(r.status / 100, 4, "{}", r.body);

    let r = post(
        &format!("{base}/api/ratings"),
        &format!(r#"{{"user_id": 11, "shoe_id": {other}, "rating": -1, "request_id": {req}}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["ok"], true);
    // The thumbs down takes the shoe out of the user's list at once.
    let v = get(&format!("{base}/api/recommendations/11?k=20")).json();
    assert!(
        v.as_array().unwrap().iter().all(|i| i["shoe_id"] != other),
        "{other} still recommended"
    );
    let r = post(
        &format!("{base}/api/ratings"),
        r#"{"user_id": 11, "shoe_id": 1, "rating": 5}"#,
    );
    assert_error(&r, 400, Some("22023"));
    // Malformed JSON and non-object bodies: 400 with a JSON body too.
    assert_error(&post(&format!("{base}/api/serve"), "{not json"), 400, None);
    assert_error(&post(&format!("{base}/api/serve"), "[1, 2]"), 400, None);
    assert_error(
        &post(&format!("{base}/api/serve"), r#"{"user_id": "x"}"#),
        400,
        Some("22P02"),
    );
}

#[test]
fn experiment_lifecycle() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("api-test-{stamp}");
    let body = format!(
        r#"{{"name": "{name}", "placement": "api-test-{stamp}", "minimum_detectable_effect": 0.2,
            "arms": [{{"name": "control", "strategy": "popularity", "weight": 50}},
                     {{"name": "treatment", "strategy": "hybrid", "weight": 50}}]}}"#
    );
    let r = post(&format!("{base}/api/experiments"), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert!(v["experiment_id"].is_i64());
    assert_eq!(v["status"], "draft");
    assert_error(
        &post(&format!("{base}/api/experiments"), &body),
        409,
        Some("23505"),
    );
    let bad = format!(
        r#"{{"name": "{name}-bad", "arms": [{{"name": "only", "strategy": "hybrid", "weight": 1}}]}}"#
    );
    assert_error(
        &post(&format!("{base}/api/experiments"), &bad),
        400,
        Some("22023"),
    );

    let r = post(&format!("{base}/api/experiments/{name}/start"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "running");
    assert_error(
        &post(&format!("{base}/api/experiments/{name}/start"), ""),
        409,
        Some("55000"),
    );
    // Serve a few users through it, then the results have both arms.
    for u in 1..=20 {
        let r = post(
            &format!("{base}/api/serve"),
            &format!(r#"{{"user_id": {u}, "k": 3, "placement": "api-test-{stamp}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let arm = r.json()["arm"].as_str().unwrap().to_string();
        assert!(arm == "control" || arm == "treatment", "{arm}");
    }
    let v = get(&format!("{base}/api/experiments/{name}/results")).json();
    let arms = v.as_array().unwrap();
    assert_eq!(arms.len(), 2);
    assert_eq!(arms[0]["arm"], "control");
    assert_eq!(arms[0]["verdict"], "control");
    assert_eq!(
        arms.iter()
            .map(|a| a["users"].as_i64().unwrap())
            .sum::<i64>(),
        20
    );
    for k in [
        "conversion_ci_low",
        "conversion_ci_high",
        "required_users_per_arm",
        "srm_p_value",
        "ctr",
    ] {
        assert!(arms[1].get(k).is_some(), "{k}");
    }
    let r = post(&format!("{base}/api/experiments/{name}/pause"), "");
    assert_eq!(r.json()["status"], "paused");
    let r = post(&format!("{base}/api/experiments/{name}/stop"), "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "stopped");
    assert_error(
        &post(&format!("{base}/api/experiments/{name}/start"), ""),
        409,
        Some("55000"),
    );
    assert_error(
        &post(&format!("{base}/api/experiments/no-such-one/stop"), ""),
        404,
        Some("P0002"),
    );
    let list = get(&format!("{base}/api/experiments")).json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == name.as_str() && e["status"] == "stopped"));
}

#[test]
fn experiment_timeline_of_the_script_experiment() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let name = std::env::var("RECO_WEB_EXPERIMENT").unwrap_or_else(|_| "web-test".into());
    let v = get(&format!("{base}/api/experiments/{name}/timeline")).json();
    let pts = v.as_array().unwrap();
    assert!(pts.len() >= 4, "{v}");
    for p in pts {
        assert!(
            p["day"].is_string()
                && p["arm"].is_string()
                && p["users"].is_i64()
                && p["converters"].is_i64()
        );
    }
    let res = get(&format!("{base}/api/experiments/{name}/results")).json();
    // The last day's cumulative users equal experiment_results()'s users per arm.
    for arm in res.as_array().unwrap() {
        let last = pts.iter().rev().find(|p| p["arm"] == arm["arm"]).unwrap();
        assert_eq!(last["users"], arm["users"], "{}", arm["arm"]);
    }
}

#[test]
fn models_health_metrics() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let v = get(&format!("{base}/api/models")).json();
    let ms = v.as_array().unwrap();
    assert!(
        ms.iter().filter(|m| m["status"] == "active").count() == 1,
        "{v}"
    );
    assert!(ms
        .iter()
        .all(|m| m["model_id"].is_i64() && m["factors"].is_i64()));
    let q = get(&format!("{base}/api/models/quality")).json();
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "evaluate"
                && e["method"] == "hybrid"
                && e["ndcg_at_k"].is_f64()),
        "{q}"
    );
    assert!(get(&format!("{base}/api/models/history")).json().is_array());
    assert!(get(&format!("{base}/api/models/drift")).json().is_array());
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|e| e["method"] == "hybrid" && e["ndcg_at_k"].is_f64()),
        "{q}"
    );

    let r = get(&format!("{base}/api/health"));
    assert_eq!(r.status, 200);
    let h = r.json();
    assert_eq!(h["status"], "ok");
    assert!(h["database"]["active_model_id"].is_i64(), "{h}");
    assert!(h["database"]["extension_version"].is_string());
    assert!(
        h["database"]["health"].is_object(),
        "reco.health's row: {h}"
    );

    let m = get(&format!("{base}/api/metrics/serving")).json();
    assert!(m["http"]["requests"].as_i64().unwrap() > 0);
    assert!(
        m["database"].is_array() || m["database_note"].is_string(),
        "{m}"
    );
}

#[test]
fn refresh_activate_rollback() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let active =
        || get(&format!("{base}/api/health")).json()["database"]["active_model_id"].clone();
    let before = active().as_i64().expect("an active model");
    // A candidate: built and measured, not served.
    let r = post(
        &format!("{base}/api/models/refresh"),
        r#"{"activate": false}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let id = v["model_id"].as_i64().unwrap();
    assert!(id > before);
    assert_eq!(v["status"], "candidate", "{v}");
    assert_eq!(active(), before);
    let models = get(&format!("{base}/api/models")).json();
    assert!(models
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["model_id"] == id && m["status"] == "candidate"));
    // Serve it, by hand, with a reason; then roll back to the one before.
    let r = post(
        &format!("{base}/api/models/{id}/activate"),
        r#"{"reason": "api test"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["previous_model_id"], before);
    assert_eq!(active(), id);
    assert_error(
        &post(&format!("{base}/api/models/{id}/activate"), ""),
        409,
        Some("55000"),
    );
    assert_error(
        &post(&format!("{base}/api/models/987654321/activate"), ""),
        404,
        Some("P0002"),
    );
    assert_error(
        &post(&format!("{base}/api/models/x/activate"), ""),
        400,
        Some("22P02"),
    );
    assert_error(
        &post(&format!("{base}/api/models/refresh"), "[1]"),
        400,
        None,
    );
    let log = get(&format!("{base}/api/models/history")).json();
    let last = &log.as_array().unwrap()[0];
    assert_eq!(last["to_model_id"], id);
    assert_eq!(last["reason"], "api test");
    assert_eq!(last["by_role"], "reco_web");
    let r = post(
        &format!("{base}/api/models/rollback"),
        r#"{"reason": "api test rollback"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["model_id"], before);
    assert_eq!(active(), before);
    let log = get(&format!("{base}/api/models/history")).json();
    assert_eq!(log[0]["to_model_id"], before);
    assert_eq!(log[0]["reason"], "api test rollback");
    // refresh() measured the candidate's held-out quality.
    let q = get(&format!("{base}/api/models/quality")).json();
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|e| e["model_id"] == id && e["source"] == "refresh"),
        "{q}"
    );
}

#[test]
fn openapi_and_docs() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let r = get(&format!("{base}/openapi.json"));
    assert_eq!(r.status, 200);
    let spec = r.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with('3'));
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/api/recommendations/{user_id}",
        "/api/similar/{shoe_id}",
        "/api/services",
        "/api/serve",
        "/api/experiments/{name}/results",
        "/api/models/{model_id}/activate",
        "/api/health",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    let params = spec["paths"]["/api/recommendations/{user_id}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in ["user_id", "k", "brand", "type", "max_price"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let docs = get(&format!("{base}/docs/"));
    assert_eq!(docs.status, 200);
    assert!(docs.body.contains("swagger-ui"));
    // The page's assets are served by reco-web itself (vendored), not from the internet.
    assert!(
        !docs.body.contains("src=\"http"),
        "external script in the docs page"
    );
    assert_eq!(
        get(&format!("{base}/docs/swagger-ui-bundle.js")).status,
        200
    );
    assert_eq!(get(&format!("{base}/docs/swagger-ui.css")).status, 200);
}

#[test]
fn least_privilege_no_token_and_rate_limit() {
    let Some(base) = env_url("RECO_WEB_LIMITED_URL") else {
        return;
    };
    // This instance connects as a role with reco.grant_app() only: the experiments list is the
    // dashboard's, so PostgreSQL refuses it (42501) and the API says 403.
    assert_error(&get(&format!("{base}/api/experiments")), 403, Some("42501"));
    // No RECO_WEB_TOKEN: writes are disabled (503), whatever the request carries.
    let r = request(
        "POST",
        &format!("{base}/api/serve"),
        &[("Authorization", "Bearer anything")],
        Some(r#"{"user_id": 7}"#),
    );
    assert_error(&r, 503, None);
    // Reads: a burst of 5, then 429 with Retry-After and a JSON body.
    let mut limited = None;
    for _ in 0..30 {
        let r = get(&format!("{base}/api/recommendations/7?k=1"));
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = limited.expect("no 429 within 30 requests at a burst of 5");
    assert_error(&r, 429, None);
    assert!(r.header("retry-after").is_some());
    // Health is not rate limited.
    assert_eq!(get(&format!("{base}/api/health")).status, 200);
}

/// The dashboard is plain server-rendered HTML: no script anywhere, and every page has its
/// content in the HTML itself (what a browser without JavaScript shows).
#[test]
fn pages_render_without_javascript() {
    let Some(base) = env_url("RECO_WEB_URL") else {
        return;
    };
    let exp = std::env::var("RECO_WEB_EXPERIMENT").unwrap_or_else(|_| "web-test".into());
    for (path, needles) in [
        ("/", vec!["user-search"]),
        ("/users?q=hiking", vec!["id=\"users\"", "href=\"/users/"]),
        (
            "/users/7",
            vec![
                "id=\"profile\"",
                "id=\"recommendations\"",
                "id=\"history\"",
                "Due services",
            ],
        ),
        ("/shoes/42", vec!["id=\"shoe\"", "id=\"similar\""]),
        (
            "/services?date=2025-01-15",
            vec!["id=\"services\"", "2025-01-15"],
        ),
        ("/experiments", vec!["id=\"experiments\""]),
        (
            &format!("/experiments/{exp}") as &str,
            vec![
                "id=\"results\"",
                "<svg id=\"timeline-chart\"",
                "class=\"legend\"",
            ],
        ),
        (
            "/models",
            vec![
                "id=\"models\"",
                "<svg id=\"quality-chart\"",
                "action=\"/models/rollback\"",
            ],
        ),
    ] {
        let r = get(&format!("{base}{path}"));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "{path}"
        );
        assert!(!r.body.contains("<script"), "{path} has a script");
        for n in needles {
            assert!(r.body.contains(n), "{path} lacks {n}");
        }
    }
    let user = get(&format!("{base}/users/7")).body;
    assert_eq!(user.matches("<tr class=\"rec\">").count(), 10);
    assert_eq!(
        get(&format!("{base}/shoes/42"))
            .body
            .matches("<tr class=\"similar\">")
            .count(),
        10
    );
    // Errors are pages too, with the status and PostgreSQL's message.
    let r = get(&format!("{base}/users/987654321"));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("does not exist") && r.body.contains("P0002"));
    // Admin forms: a wrong token is refused before anything runs.
    let r = request(
        "POST",
        &format!("{base}/models/refresh"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("token=wrong"),
    );
    assert_eq!(r.status, 401, "{}", r.body);
}
