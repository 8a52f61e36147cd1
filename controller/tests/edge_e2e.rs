//! The edge of a real controller process under slow and anonymous traffic: hundreds of
//! connections that trickle request bodies or send nothing are cut off at the body pace
//! while a logged-in operator's broadcast still reaches a real agent; a slow but steady
//! body gets through; the agents' listener serves agents only; operators can have HTTPS.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Opens a connection that sends a login's headers, promising a large body, and then one
/// byte: what a client holding connections open does (a login is the one request whose
/// body is read without a session; others are refused before their body is read).
fn trickler(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 1000000\r\n\r\n{{"
    )
    .expect("write");
    s
}

/// The status line's code of the answer on `s`, read within `limit`.
fn status_of(s: &mut TcpStream, limit: Duration) -> Option<u16> {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ').nth(1)?.parse().ok()
}

#[test]
fn slow_and_anonymous_connections_are_cut_while_an_operator_broadcasts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(
        &dir.path().join("c"),
        &[
            ("DALABA_BODY_GRACE_MS", "1500"),
            ("DALABA_BODY_MIN_RATE", "16384"),
        ],
    );
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, &[("dong-1", "330106001001")], "wav");
    let (status, clip) = upload(&api, "notice.wav", tone_wav(440.0, 0.5, 48_000));
    assert_eq!(status, 201, "{clip}");

    // 300 trickled bodies and 100 silent connections, all anonymous.
    let started = Instant::now();
    let mut trickling: Vec<TcpStream> = (0..300).map(|_| trickler(&ctl.addr)).collect();
    let _silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&ctl.addr).expect("connect"))
        .collect();

    // The operator's broadcast goes through meanwhile, to the speaker and back.
    let (status, created) = api.call(
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": clip["id"], "target": {"agents": ["dong-1"]}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().expect("id");
    until_all(&api, id, "done");
    let went_through = started.elapsed();
    assert!(samples(&agents[0].0, id).is_some(), "the speaker played it");

    // Every trickled body is answered 408 once it falls behind the pace.
    let mut cut = 0;
    for s in &mut trickling {
        if status_of(s, Duration::from_secs(10)) == Some(408) {
            cut += 1;
        }
    }
    let all_cut = started.elapsed();
    eprintln!(
        "400 held connections: broadcast done after {:.0} ms; {cut}/300 trickled bodies \
         answered 408 within {:.0} ms",
        went_through.as_secs_f64() * 1000.0,
        all_cut.as_secs_f64() * 1000.0
    );
    assert_eq!(cut, 300);

    // A slow but steady body (24 KiB/s, longer than the grace) is not cut.
    let mut s = TcpStream::connect(&ctl.addr).expect("connect");
    let body = format!(
        "{}{}",
        json!({"name": "admin", "password": password}),
        " ".repeat(48 * 1024)
    );
    write!(
        s,
        "POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .expect("head");
    let began = Instant::now();
    for chunk in body.as_bytes().chunks(2048) {
        s.write_all(chunk).expect("chunk");
        // Paces the sender itself (the client under test), not a wait for the server.
        std::thread::sleep(Duration::from_millis(83));
    }
    assert!(
        began.elapsed() > Duration::from_millis(1500),
        "slower than the grace"
    );
    assert_eq!(status_of(&mut s, Duration::from_secs(10)), Some(200));

    // None of it is in the audit log; the counters have it.
    let (_, log) = api.call("GET", "/api/audit?limit=1000", None);
    let anonymous = log
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["user"] == "-")
        .count();
    assert_eq!(anonymous, 0, "{log}");
    let (_, metrics) = request(
        &api.http,
        "GET",
        &format!("{}/metrics", api.base),
        None,
        None,
    );
    let slow: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dalaba_http_bodies_too_slow_total "))
        .and_then(|v| v.parse().ok())
        .expect("counter");
    assert!(slow >= 300, "{metrics}");
}

/// A client that trusts only the controller's own certificate.
fn pinned_client(data: &std::path::Path) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(data.join("tls.crt")).expect("certificate");
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

#[test]
fn the_agents_listener_serves_agents_only_and_operators_can_have_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("c");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("first start shows the admin password");
    let tls = pinned_client(&data);
    let agents = format!("https://{}", ctl.agent_addr);
    let (status, body) = login_request(&tls, &agents, &password);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("agents' listener"), "{body}");
    let (status, _) = request(&tls, "GET", &format!("{agents}/healthz"), None, None);
    assert_eq!(status, 200);
    ctl.proc.stop();

    // The same data directory served with --tls: the console and API over HTTPS.
    let proc = Proc::spawn(
        Command::new(controller_bin())
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--agent-listen",
                "127.0.0.1:0",
                "--tls",
            ]),
    );
    let addr = proc
        .wait_for("listening on https://")
        .rsplit("//")
        .next()
        .expect("addr")
        .to_owned();
    let (status, body) = login_request(&tls, &format!("https://{addr}"), &password);
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).expect("json");
    assert!(token["token"].is_string() && token["device"].is_string());
    let (status, page) = request(&tls, "GET", &format!("https://{addr}/"), None, None);
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    proc.stop();
}
