//! Hijack attempts against real processes, on the controller's side of the link: a man in
//! the middle with another certificate, an agent with a made-up enrolment token, agents
//! over plain HTTP, and a client that sends its headers too slowly. (Replayed, forged,
//! stale and misaddressed commands against a real agent are in `agent/tests/hijack_e2e.rs`;
//! retired agents locked out in `agents_e2e.rs`.)

mod common;

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A TLS server with its own self-signed certificate on a loopback port: every handshake
/// it sees is reported (Ok: completed, Err: refused by the client).
fn mitm() -> (String, std::sync::mpsc::Receiver<Result<(), String>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let cert = made.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(made.key_pair.serialize_der()).expect("key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let result = acceptor
                    .accept(stream)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                if tx.send(result).is_err() {
                    return;
                }
            }
        });
    });
    (addr, rx)
}

#[test]
fn a_man_in_the_middle_gets_no_agent_and_no_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let token = new_agent(&api, "dong-1", "dong-1", "330106001001");
    let token = token.as_str();
    let adir = dir.path().join("dong-1");
    std::fs::create_dir_all(&adir).expect("mkdir");
    let config = agent_config(&adir, &ctl, token, "330106001001");

    // The agent's traffic is diverted to an impostor with its own certificate.
    let (fake, handshakes) = mitm();
    let real = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, real.replace(&ctl.agent_addr, &fake)).expect("write");
    let agent = start_agent(&config, &adir.join("state"));
    for attempt in 1..=2 {
        let result = handshakes
            .recv_timeout(WAIT)
            .expect("the agent tries the impostor");
        assert!(
            result.is_err(),
            "attempt {attempt}: the agent completed a handshake with the impostor"
        );
    }
    agent.stop();
    // Nothing got through: the agent is not enrolled, so its one-time token was never sent.
    let (_, seen) = api.call("GET", "/api/agents/dong-1", None);
    assert_eq!(seen["enrolled"], false, "{seen}");

    // With the traffic back on the real controller, the same token still enrols it.
    std::fs::write(&config, real).expect("write");
    let agent = start_agent(&config, &adir.join("state"));
    agent.wait_for("session ready as dong-1");
}

#[test]
fn made_up_tokens_plain_agents_and_slow_clients_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, _) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");

    // An agent the controller never created, with a guessed token: refused, and it stops.
    let adir = dir.path().join("intruder");
    std::fs::create_dir_all(&adir).expect("mkdir");
    let config = agent_config(&adir, &ctl, "guessed-token-123", "330106001001");
    let mut intruder = start_agent(&config, &adir.join("state"));
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = intruder.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the intruder kept running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "an unenrolled agent must not run on");

    // The agents' endpoint does not exist over plain HTTP.
    let (status, body) = request(
        &client(),
        "GET",
        &format!("http://{}/agent/ws", ctl.addr),
        None,
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("over TLS only"), "{body}");

    // A client that starts a request and never finishes its headers is cut off.
    let mut slow = std::net::TcpStream::connect(&ctl.addr).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    eprintln!("slow client cut off after {} ms", waited.as_millis());
    assert!(
        waited < Duration::from_secs(20),
        "held for {waited:?}: {}",
        String::from_utf8_lossy(&buf[..n])
    );
}
