//! The client against a stand-in transport that records each call and answers as the
//! service documents. The real service is exercised by `tests/e2e/tests/ai_function.rs`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use byok_client::{max_age, Cache, Client, Error, ExposeSecret, RawResponse, Source, Transport};

const KEY: &str = "sk-ant-FAKE-valid-rust-client-000000000000";

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<(String, String, String)>>,
    answers: RefCell<VecDeque<RawResponse>>,
    repeat: Option<RawResponse>,
}

impl Transport for &Recorder {
    async fn post(&self, path: &str, token: &str, body: String) -> Result<RawResponse, String> {
        self.calls
            .borrow_mut()
            .push((path.to_owned(), token.to_owned(), body));
        self.answers
            .borrow_mut()
            .pop_front()
            .or_else(|| self.repeat.clone())
            .ok_or_else(|| "no answer".to_owned())
    }
}

fn resolved(max_age: Option<&str>) -> RawResponse {
    RawResponse {
        status: 200,
        cache_control: max_age.map(str::to_owned),
        retry_after: None,
        body: format!(
            r#"{{"provider":"anthropic","api_key":"{KEY}","fields":{{"account_sid":"AC1"}},"source":"tenant","status":"connected"}}"#
        )
        .into_bytes(),
    }
}

fn problem(status: u16, slug: &str) -> RawResponse {
    RawResponse {
        status,
        body: format!(
            r#"{{"type":"/problems/{slug}","title":"t","status":{status},"detail":"words"}}"#
        )
        .into_bytes(),
        ..Default::default()
    }
}

static NOW: AtomicU64 = AtomicU64::new(1_000_000);
fn clock() -> u64 {
    NOW.load(Ordering::SeqCst)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn resolves_with_the_token_and_hides_the_key() {
    let rec = Recorder {
        repeat: Some(resolved(Some("private, max-age=30"))),
        ..Default::default()
    };
    let c = Client::new(&rec, "svc-token").with_cache(Cache::new(10));
    let cfg = rt()
        .block_on(c.get_ai_config("acme", "anthropic"))
        .expect("config");
    assert_eq!(cfg.api_key.expose_secret(), KEY);
    assert_eq!(cfg.source, Source::Tenant);
    assert_eq!(cfg.status.as_deref(), Some("connected"));
    assert_eq!(cfg.fields["account_sid"].expose_secret(), "AC1");
    let printed = format!("{cfg:?}");
    assert!(
        !printed.contains(KEY) && !printed.contains("AC1"),
        "{printed}"
    );
    let calls = rec.calls.borrow();
    assert_eq!(calls[0].0, "/v1/resolve");
    assert_eq!(calls[0].1, "svc-token");
    assert_eq!(calls[0].2, r#"{"provider":"anthropic","tenant":"acme"}"#);
}

#[test]
fn a_cache_hit_makes_no_request_until_max_age() {
    let rec = Recorder {
        repeat: Some(resolved(Some("private, max-age=30"))),
        ..Default::default()
    };
    let c = Client::new(&rec, "t")
        .with_cache(Cache::new(10))
        .with_clock(clock);
    let rt = rt();
    for _ in 0..20 {
        rt.block_on(c.get_ai_config("acme", "anthropic"))
            .expect("ok");
    }
    assert_eq!(rec.calls.borrow().len(), 1, "hits make no request");
    NOW.fetch_add(30_000, Ordering::SeqCst);
    rt.block_on(c.get_ai_config("acme", "anthropic"))
        .expect("ok");
    assert_eq!(rec.calls.borrow().len(), 2, "expired at max-age");
    rt.block_on(c.get_ai_config("other", "anthropic"))
        .expect("ok");
    assert_eq!(rec.calls.borrow().len(), 3, "another tenant, another entry");
}

#[test]
fn without_max_age_nothing_is_cached() {
    for header in [
        None,
        Some("no-store"),
        Some("private, max-age=30, no-cache"),
        Some("max-age=x"),
    ] {
        let rec = Recorder {
            repeat: Some(resolved(header)),
            ..Default::default()
        };
        let c = Client::new(&rec, "t").with_cache(Cache::new(10));
        let rt = rt();
        rt.block_on(c.get_ai_config("a", "p")).expect("ok");
        rt.block_on(c.get_ai_config("a", "p")).expect("ok");
        assert_eq!(rec.calls.borrow().len(), 2, "{header:?}");
    }
    assert_eq!(max_age(Some("Private, Max-Age=7")), 7);
}

#[test]
fn problems_become_typed_errors() {
    type Expect = fn(&Error) -> bool;
    let cases: Vec<(RawResponse, Expect)> = vec![
        (
            problem(404, "no-key"),
            |e| matches!(e, Error::NoKey(d) if d == "words"),
        ),
        (problem(404, "not-installed"), |e| {
            matches!(e, Error::NotInstalled(_))
        }),
        (problem(404, "fallback-not-allowed"), |e| {
            matches!(e, Error::FallbackNotAllowed(_))
        }),
        (problem(404, "unknown-provider"), |e| {
            matches!(e, Error::UnknownProvider(_))
        }),
        (problem(401, "unauthenticated"), |e| {
            matches!(e, Error::Unauthorized { status: 401, .. })
        }),
        (problem(403, "forbidden"), |e| {
            matches!(e, Error::Unauthorized { status: 403, .. })
        }),
        (problem(422, "validation-failed"), |e| {
            matches!(e, Error::BadRequest { status: 422, .. })
        }),
        (
            RawResponse {
                retry_after: Some("7".into()),
                ..problem(429, "too-many-requests")
            },
            |e| {
                matches!(
                    e,
                    Error::RateLimited {
                        retry_after_s: Some(7),
                        ..
                    }
                )
            },
        ),
        (problem(500, "internal"), |e| {
            matches!(e, Error::Unavailable { status: 500, .. })
        }),
        (
            RawResponse {
                status: 200,
                body: b"{}".to_vec(),
                ..Default::default()
            },
            |e| matches!(e, Error::Unavailable { status: 200, .. }),
        ),
    ];
    for (answer, expected) in cases {
        let status = answer.status;
        let rec = Recorder {
            repeat: Some(answer),
            ..Default::default()
        };
        let c = Client::new(&rec, "t").with_cache(Cache::new(10));
        let e = rt().block_on(c.get_ai_config("a", "p")).expect_err("fails");
        assert!(expected(&e), "{status}: {e:?}");
    }
    let rec = Recorder::default();
    let c = Client::new(&rec, "t").with_cache(Cache::new(10));
    let e = rt()
        .block_on(c.get_ai_config("a", "p"))
        .expect_err("no answer");
    assert!(matches!(e, Error::Unavailable { status: 0, .. }), "{e:?}");
}

/// The problem types the client branches on are the ones the service sends.
#[test]
fn problem_types_match_the_service() {
    use byok_core::api::{Problem, ProblemKind};
    for (kind, check) in [
        (
            ProblemKind::UnknownProvider,
            (|e: &Error| matches!(e, Error::UnknownProvider(_))) as fn(&Error) -> bool,
        ),
        (ProblemKind::NotInstalled, |e| {
            matches!(e, Error::NotInstalled(_))
        }),
        (ProblemKind::NoKey, |e| matches!(e, Error::NoKey(_))),
        (ProblemKind::FallbackNotAllowed, |e| {
            matches!(e, Error::FallbackNotAllowed(_))
        }),
    ] {
        let p = Problem::new(kind, "d");
        let rec = Recorder {
            repeat: Some(RawResponse {
                status: p.status,
                body: serde_json::to_vec(&p).expect("json"),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = Client::new(&rec, "t").with_cache(Cache::new(10));
        let e = rt().block_on(c.get_ai_config("a", "p")).expect_err("fails");
        assert!(check(&e), "{kind:?}: {e:?}");
    }
}

#[test]
fn a_rejection_report_drops_the_cached_key() {
    let rec = Recorder {
        answers: RefCell::new(VecDeque::from([
            resolved(Some("max-age=30")),
            RawResponse {
                status: 202,
                body: br#"{"action":"retest-scheduled","detail":"now"}"#.to_vec(),
                ..Default::default()
            },
            resolved(Some("max-age=30")),
        ])),
        ..Default::default()
    };
    let cache = Cache::new(10);
    let c = Client::new(&rec, "t").with_cache(cache.clone());
    let rt = rt();
    rt.block_on(c.get_ai_config("acme", "anthropic"))
        .expect("ok");
    assert_eq!(cache.len(), 1);
    let a = rt
        .block_on(c.report_rejection("acme", "anthropic", Source::Tenant, 401))
        .expect("report");
    assert_eq!(a.action, "retest-scheduled");
    assert!(cache.is_empty());
    assert_eq!(
        rec.calls.borrow()[1].2,
        r#"{"provider":"anthropic","source":"tenant","status":401,"tenant":"acme"}"#
    );
    rt.block_on(c.get_ai_config("acme", "anthropic"))
        .expect("ok");
    assert_eq!(rec.calls.borrow().len(), 3);
}

#[test]
fn the_cache_is_bounded() {
    let rec = Recorder {
        repeat: Some(resolved(Some("max-age=30"))),
        ..Default::default()
    };
    let cache = Cache::new(3);
    let c = Client::new(&rec, "t").with_cache(cache.clone());
    let rt = rt();
    for t in 0..10 {
        rt.block_on(c.get_ai_config(&format!("t{t}"), "p"))
            .expect("ok");
    }
    assert_eq!(cache.len(), 3);
}

/// The client's `Source` reads what the service writes for each source, and writes (in a
/// report) what the service reads: the two enums are separate, so their wire names are pinned.
#[test]
fn sources_have_the_service_wire_names() {
    use byok_core::resolve::Source as Service;
    for service in [Service::Tenant, Service::Platform] {
        let wire = serde_json::to_value(service).expect("json");
        let ours: Source = serde_json::from_value(wire.clone()).expect("the client reads it");
        assert_eq!(serde_json::Value::from(ours.as_str()), wire);
        let back: Service =
            serde_json::from_value(ours.as_str().into()).expect("the service reads it");
        assert_eq!(back, service);
    }
}

/// A plain http URL would carry the token in clear: refused unless loopback (review L12).
#[test]
fn only_https_or_loopback_http_may_carry_the_token() {
    for ok in [
        "https://byok.example.com",
        "HTTPS://byok.example.com/base",
        "http://127.0.0.1:8787",
        "http://localhost:8787/",
        "http://[::1]:8787",
        "http://127.9.9.9",
    ] {
        assert_eq!(byok_client::check_base_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://byok.example.com",
        "http://10.0.0.7:8787",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://user@evil.example",
        "ftp://byok",
        "byok.example.com",
    ] {
        assert!(byok_client::check_base_url(bad).is_err(), "{bad}");
    }
}

/// A redirect is an error naming no token, and the request is not repeated anywhere.
#[test]
fn a_redirect_is_refused_not_followed() {
    let rec = Recorder::default();
    rec.answers.borrow_mut().push_back(RawResponse {
        status: 307,
        ..Default::default()
    });
    let client = Client::new(&rec, "svc-token-0000").with_cache(Cache::new(4));
    let got = rt().block_on(client.get_ai_config("acme", "anthropic"));
    match got {
        Err(Error::Unavailable {
            status: 307,
            detail,
        }) => {
            assert!(
                detail.contains("redirect") && !detail.contains("svc-token"),
                "{detail}"
            );
        }
        other => panic!("{:?}", other.map(|c| c.source)),
    }
    assert_eq!(rec.calls.borrow().len(), 1);
}
