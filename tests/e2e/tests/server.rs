//! `script/server`, the README's first command, started and stopped as a newcomer would: it
//! serves the seeded service and the example AI function, and when it is stopped every
//! process it started ends with it (it once left the function's `wrangler dev` running after
//! every stop).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pids of processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && pid != std::process::id() {
            found.push((pid, cmdline));
        }
    }
    found
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().expect("addr"),
        Duration::from_millis(300),
    )
    .is_ok()
}

#[test]
fn script_server_serves_and_leaves_nothing_running_when_stopped() {
    let root = byok_e2e::root();
    let (port, function_port) = (byok_e2e::free_port(), byok_e2e::free_port());
    let (inspector, function_inspector) = (byok_e2e::free_port(), byok_e2e::free_port());
    let log = std::env::temp_dir().join(format!("byok-server-{}.log", std::process::id()));
    let mut server = Command::new(root.join("script/server"))
        .current_dir(&root)
        .env("PORT", port.to_string())
        .env("FUNCTION_PORT", function_port.to_string())
        .env("INSPECTOR_PORT", inspector.to_string())
        // Its own free port: the one beside `inspector` may belong to a test running alongside.
        .env("FUNCTION_INSPECTOR_PORT", function_inspector.to_string())
        // script/test built the plugins and the Worker just before.
        .env("BYOK_SERVER_SKIP_BUILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("script/server starts");
    let pid = server.id();

    // Ready when it prints its banner (it builds first: allow for a cold cache).
    let stdout = server.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("BYOK is running") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(900)).is_err() {
        let _ = server.kill();
        panic!(
            "script/server did not come up:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    assert!(listening(port), "the service answers on {port}");
    assert!(
        listening(function_port),
        "the example function answers on {function_port}"
    );
    let started: Vec<_> = [port, function_port]
        .iter()
        .flat_map(|p| processes_with(&format!("--port {p}")))
        .collect();
    assert!(started.len() >= 2, "a wrangler for each port: {started:#?}");

    // Stopped as Ctrl-C or a supervisor would.
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if server.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "script/server did not exit on TERM"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Everything it started ends with it: no wrangler, node or workerd for either port.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<_> = [port, function_port]
            .iter()
            .flat_map(|p| processes_with(&format!("--port {p}")))
            .collect();
        let open = listening(port) || listening(function_port);
        if left.is_empty() && !open {
            break;
        }
        if Instant::now() > deadline {
            for (pid, _) in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            panic!("still running after script/server stopped (open ports: {open}): {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = std::fs::remove_file(&log);
}
