//! Errors as HTTP responses: every error is a JSON body naming the problem, with the SQLSTATE
//! when PostgreSQL raised it, so a client can tell "no such user" from "bad k" from "overloaded".

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated for clients that only keep the body.
    pub status: u16,
    /// The HTTP reason phrase ("Not Found", ...).
    pub error: String,
    /// The SQLSTATE PostgreSQL raised, when the error came from the database.
    pub sqlstate: Option<String>,
    /// What went wrong (PostgreSQL's message for database errors).
    pub message: String,
    /// How to fix it, when reco gave a hint.
    pub hint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub sqlstate: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            sqlstate: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: self.status.as_u16(),
            error: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            sqlstate: self.sqlstate.clone(),
            message: self.message.clone(),
            hint: self.hint.clone(),
        }
    }
}

/// SQLSTATE -> HTTP status. The contract of the API (README "Web dashboard and HTTP API"):
/// class 22 (bad argument values) 400, P0002 (no such user, shoe, experiment) 404, 42501
/// (privilege) 403, 53200 (refresh over its memory limit) 503, 23505 (name taken, a second
/// live experiment) 409, 55000 (wrong experiment state, pg_cron missing) 409. A few more that
/// a request's values cause: 23502/23514 (a NULL or out-of-range value) 400, 23503 (a user or
/// shoe that does not exist, e.g. rating an unknown shoe) 404; 42883/42P01 (a function or view
/// this database's reco does not have yet) 501; 57014 (statement timeout or cancel) and class
/// 08 / 57P (connection lost, server shutting down) 503. Everything else is 500.
pub fn status_for_sqlstate(code: &str) -> StatusCode {
    if code.starts_with("22") {
        return StatusCode::BAD_REQUEST;
    }
    if code.starts_with("08") || code.starts_with("57P") {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match code {
        "P0002" | "23503" => StatusCode::NOT_FOUND,
        "42501" => StatusCode::FORBIDDEN,
        "53200" | "53100" | "53300" | "57014" => StatusCode::SERVICE_UNAVAILABLE,
        "23505" | "55000" | "55P03" | "40001" | "40P01" => StatusCode::CONFLICT,
        "23502" | "23514" => StatusCode::BAD_REQUEST,
        "42883" | "42P01" => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code().to_string();
            let mut err = ApiError {
                status: status_for_sqlstate(&code),
                sqlstate: Some(code.clone()),
                message: db.message().to_string(),
                hint: db.hint().map(str::to_string),
            };
            if err.status == StatusCode::NOT_IMPLEMENTED && err.hint.is_none() {
                err.hint = Some(
                    "This database's reco does not have this function or view yet: update the extension (ALTER EXTENSION reco UPDATE)."
                        .to_string(),
                );
            }
            return err;
        }
        // No SQLSTATE: the connection broke or the server is unreachable.
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}"),
        )
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(pg) => pg.into(),
            other => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {other}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_follows_the_contract() {
        for (code, status) in [
            ("22023", 400),
            ("22004", 400),
            ("22P02", 400),
            ("22007", 400),
            ("P0002", 404),
            ("42501", 403),
            ("53200", 503),
            ("23505", 409),
            ("55000", 409),
            ("42883", 501),
            ("XX000", 500),
            ("42804", 500),
        ] {
            assert_eq!(status_for_sqlstate(code).as_u16(), status, "{code}");
        }
    }
}
