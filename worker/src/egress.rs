//! The Worker's `Egress` for plugin runs: `fetch`, never following redirects, with a timeout
//! and a cap on the response body.

use std::time::Duration;

use crate::util::Counted;
use byok_plugin_host::{Egress, EgressError, HttpRequest, HttpResponse};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

pub struct FetchEgress;

fn method(m: &str) -> Method {
    match m {
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => Method::Get,
    }
}

impl Egress for FetchEgress {
    async fn send(
        &self,
        request: HttpRequest,
        timeout_ms: u64,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, EgressError> {
        let failed = |why: &str| EgressError::Connection(why.to_owned());
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value)
                .map_err(|_| failed("a header was refused"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(method(request.method))
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual);
        if let Some(body) = &request.body {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let req = Request::new_with_init(&request.url, &init)
            .map_err(|_| failed("the request could not be built"))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(req)
                .send_with_signal(&signal)
                .await
                .counted()
                .map_err(|_| failed("could not connect"))?;
            let status = resp.status_code();
            let headers: Vec<(String, String)> = resp.headers().entries().collect();
            let mut body = Vec::new();
            if let Ok(mut stream) = resp.stream() {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk
                        .map_err(|_| failed("the connection broke while reading the answer"))?;
                    if body.len() + chunk.len() > max_response_bytes {
                        return Err(EgressError::ResponseTooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        let timer = Delay::from(Duration::from_millis(timeout_ms));
        futures_util::pin_mut!(exchange);
        match crate::util::timed("fetch", select(exchange, timer)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => {
                controller.abort();
                Err(EgressError::Timeout)
            }
        }
    }

    fn now_millis(&self) -> u64 {
        crate::util::now_millis()
    }
}

/// One request of a run, as an admin's "Try it" shows it: the URL with every credential value
/// scrubbed, and what came back (a status or why not). Never a header value or a body.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// [`FetchEgress`], writing down each exchange (scrubbed of the run's credential values).
pub struct RecordingEgress {
    scrub: byok_plugin_host::scrub::Scrubber,
    pub log: std::cell::RefCell<Vec<Exchange>>,
}

impl RecordingEgress {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            scrub: byok_plugin_host::scrub::Scrubber::new(values),
            log: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl Egress for RecordingEgress {
    async fn send(
        &self,
        request: HttpRequest,
        timeout_ms: u64,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, EgressError> {
        let started = crate::util::now_millis();
        let method = request.method.to_owned();
        let url = self.scrub.apply(&request.url);
        let answer = FetchEgress
            .send(request, timeout_ms, max_response_bytes)
            .await;
        self.log.borrow_mut().push(Exchange {
            method,
            url,
            status: answer.as_ref().ok().map(|r| r.status),
            error: answer.as_ref().err().map(|e| match e {
                EgressError::Timeout => "no answer in time".to_owned(),
                EgressError::Connection(why) => self.scrub.apply(why),
                EgressError::ResponseTooLarge => "the answer was too large".to_owned(),
            }),
            duration_ms: crate::util::now_millis().saturating_sub(started),
        });
        answer
    }

    fn now_millis(&self) -> u64 {
        crate::util::now_millis()
    }
}
