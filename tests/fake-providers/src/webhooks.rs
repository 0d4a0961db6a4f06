//! A webhook receiver on loopback, standing in for the platform's endpoint: it records every
//! delivery (headers and exact body bytes) and answers 500 to the first `fail_first` deliveries
//! of each event (by `webhook-id`), then 204, so tests can check signatures, retries and the
//! id they keep.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Router};

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub answered: u16,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    fail_first: usize,
    seen: Vec<Delivery>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    Extension(state): Extension<Arc<Mutex<State>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Ok(mut s) = state.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    let id = headers.get("webhook-id").map(|v| v.as_bytes().to_vec());
    let earlier = s
        .seen
        .iter()
        .filter(|d| d.header("webhook-id").map(|v| v.as_bytes().to_vec()) == id)
        .count();
    let answered = if earlier < s.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    s.seen.push(Delivery {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: body.to_vec(),
        answered: answered.as_u16(),
    });
    answered
}

impl WebhookReceiver {
    /// Serves `POST /hooks` on 127.0.0.1 (any port), failing the first `fail_first` deliveries
    /// of each event.
    pub async fn start(fail_first: usize) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            fail_first,
            seen: Vec::new(),
        }));
        let app = Router::new()
            .route("/hooks", post(receive))
            .layer(Extension(state.clone()));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// From now on, fail the first `n` deliveries of each event (0: accept every one: the
    /// receiver is mended).
    pub fn fail_first(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.fail_first = n;
        }
    }

    /// The URL to set as `WEBHOOK_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
