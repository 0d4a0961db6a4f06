//! HTTP plumbing: problem+json errors, JSON bodies with a size cap, security headers.

use byok_core::api::{Problem, ProblemKind, PROBLEM_CONTENT_TYPE};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Headers, Request, Response};

/// Any failure of a route: a problem document to send.
#[derive(Debug)]
pub struct ApiError(pub Problem);

pub type ApiResult = Result<Response, ApiError>;

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p)
    }
}

/// Core errors that become problems (422 with the field and rule, or 404).
macro_rules! from_core {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                ApiError(Problem::from(e))
            }
        }
    )*};
}
from_core!(
    byok_core::catalog::ValidationErrors,
    byok_core::credential::CredentialError,
    byok_core::mask::FormValueError,
    byok_core::resolve::NotFound
);

impl From<worker::KvError> for ApiError {
    fn from(e: worker::KvError) -> Self {
        ApiError::from(worker::Error::from(e))
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        // Storage and runtime errors never carry secrets, but they are not for users either.
        worker::console_error!("internal error: {e}");
        ApiError(Problem::new(
            ProblemKind::Internal,
            "The service failed to complete the request; nothing was changed. Try again.",
        ))
    }
}

pub fn problem(kind: ProblemKind, detail: impl Into<String>) -> ApiError {
    ApiError(Problem::new(kind, detail))
}

fn security_headers(h: &Headers) -> worker::Result<()> {
    h.set("x-content-type-options", "nosniff")?;
    h.set("referrer-policy", "no-referrer")?;
    Ok(())
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> worker::Result<Response> {
    let text = serde_json::to_string(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let resp = Response::ok(text)?.with_status(status);
    resp.headers().set("content-type", "application/json")?;
    resp.headers().set("cache-control", "no-store")?;
    security_headers(resp.headers())?;
    Ok(resp)
}

/// A problem+json response.
pub fn problem_response(p: &Problem) -> worker::Result<Response> {
    let text = serde_json::to_string(p).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let resp = Response::ok(text)?.with_status(p.status);
    resp.headers().set("content-type", PROBLEM_CONTENT_TYPE)?;
    resp.headers().set("cache-control", "no-store")?;
    if let Some(seconds) = p.retry_after_s {
        resp.headers().set("retry-after", &seconds.to_string())?;
    }
    security_headers(resp.headers())?;
    Ok(resp)
}

pub fn empty(status: u16) -> worker::Result<Response> {
    let resp = Response::empty()?.with_status(status);
    security_headers(resp.headers())?;
    Ok(resp)
}

/// Reads a request body of at most `max` bytes.
pub async fn read_body(req: &mut Request, max: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared {
        if len > max {
            return Err(problem(
                ProblemKind::PayloadTooLarge,
                format!("The body is {len} bytes; the limit is {max}."),
            ));
        }
    }
    // Without a Content-Length (chunked), read the stream and stop at the cap rather than
    // buffering whatever arrives.
    let too_large = || {
        problem(
            ProblemKind::PayloadTooLarge,
            format!("The body is larger than {max} bytes."),
        )
    };
    let mut body = Vec::new();
    if req.inner().body().is_none() {
        return Ok(body);
    }
    if declared.is_some() {
        // A declared length within the cap (checked above; workerd holds the body to it): one
        // read of the whole body rather than a round trip to JavaScript per chunk.
        return Ok(req.bytes().await?);
    }
    let mut stream = req.stream()?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body of at most `max` bytes into `T`. Parse errors name the position and the
/// problem but never quote a value from the body (it may hold a key).
pub async fn read_json<T: DeserializeOwned>(req: &mut Request, max: usize) -> Result<T, ApiError> {
    let ct = req.headers().get("content-type")?.unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(problem(
            ProblemKind::UnsupportedMediaType,
            "Send the body as application/json.",
        ));
    }
    let body = read_body(req, max).await?;
    byok_core::json_error::parse_object(&body).map_err(|d| problem(ProblemKind::MalformedBody, d))
}
