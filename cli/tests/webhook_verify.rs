//! `byok webhook verify`, as a platform developer uses it on a delivery they received.

use std::process::Command;

use byok_core::webhook::{sign, WebhookSecret};

fn verify(
    secret: &str,
    body: &std::path::Path,
    headers: &[(&str, String); 3],
    now: u64,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(["webhook", "verify", "--body"])
        .arg(body)
        .args([
            "--id",
            &headers[0].1,
            "--timestamp",
            &headers[1].1,
            "--signature",
            &headers[2].1,
        ])
        .args(["--now", &now.to_string()])
        .env("WEBHOOK_SECRET", secret)
        .output()
        .expect("byok runs")
}

#[test]
fn verifies_a_signed_delivery_and_refuses_a_changed_one() {
    let secret = WebhookSecret::from_bytes(&[42u8; 32]).expect("secret");
    let text = secret.to_text().to_string();
    let dir = std::env::temp_dir().join(format!("byok-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let body = dir.join("body.json");
    let payload = br#"{"type":"integration.status_changed","data":{"tenant":"acme"}}"#;
    std::fs::write(&body, payload).expect("write");
    let headers = sign(&secret, "msg_0123", 1_800_000_000, payload);

    let ok = verify(&text, &body, &headers, 1_800_000_030);
    let out =
        String::from_utf8_lossy(&ok.stdout).to_string() + &String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("valid: msg_0123"), "{out}");
    assert!(!out.contains(&text), "the secret is never printed");

    std::fs::write(
        &body,
        br#"{"type":"integration.status_changed","data":{"tenant":"other"}}"#,
    )
    .expect("write");
    let bad = verify(&text, &body, &headers, 1_800_000_030);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no 'v1' signature"));

    std::fs::write(&body, payload).expect("write");
    let late = verify(&text, &body, &headers, 1_800_000_000 + 3_600);
    assert_eq!(late.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&late.stderr).contains("older than allowed"));
    let _ = std::fs::remove_dir_all(&dir);
}
