//! The native [`Egress`]: reqwest, following no redirect, reading at most the allowed bytes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::run::{Egress, EgressError, HttpRequest, HttpResponse};

pub struct ReqwestEgress {
    client: reqwest::Client,
    epoch: Instant,
}

impl ReqwestEgress {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("byok-connection-test/1")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            epoch: Instant::now(),
        })
    }
}

impl Egress for ReqwestEgress {
    async fn send(
        &self,
        request: HttpRequest,
        timeout_ms: u64,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, EgressError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| EgressError::Connection(e.to_string()))?;
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(Duration::from_millis(timeout_ms));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if response
            .content_length()
            .is_some_and(|n| n > max_response_bytes as u64)
        {
            return Err(EgressError::ResponseTooLarge);
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport)?;
            if body.len() + chunk.len() > max_response_bytes {
                return Err(EgressError::ResponseTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn now_millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

fn transport(e: reqwest::Error) -> EgressError {
    if e.is_timeout() {
        EgressError::Timeout
    } else if e.is_connect() {
        EgressError::Connection("could not connect".to_owned())
    } else {
        // reqwest's messages may include the URL, which may carry a credential; keep the kind.
        EgressError::Connection(if e.is_body() || e.is_decode() {
            "the connection broke while reading the answer".to_owned()
        } else {
            "the request failed".to_owned()
        })
    }
}
