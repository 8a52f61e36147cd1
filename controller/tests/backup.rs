//! `dalaba-controller backup` while a broadcast plays, and `restore` into a new data
//! directory, as real processes: the restored controller has the same users, media and
//! keys, so the same speakers log in to it without being touched and play its media.
//! A damaged or truncated backup, or a data directory in use, is refused with a reason
//! and leaves nothing behind.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::json;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Plays `media` on `agent` now; the broadcast's id.
fn play(api: &Api, media: &serde_json::Value, agent: &str) -> u64 {
    let (status, sent) = api.call(
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": media["id"], "target": {"agents": [agent]}})),
    );
    assert_eq!(status, 201, "{sent}");
    sent["id"].as_u64().expect("id")
}

fn restore(from: &Path, into: &Path) -> Output {
    let mut cmd = Command::new(controller_bin());
    cmd.arg("restore")
        .arg("--from")
        .arg(from)
        .arg("--data-dir")
        .arg(into);
    cmd.output().expect("dalaba-controller restore")
}

#[test]
fn backup_while_broadcasting_restores_into_a_new_directory_the_same_speakers_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(
        dir.path(),
        &ctl,
        &api,
        &[("dong-1", "330106001001")],
        "wav-rt",
    );
    let (status, media) = upload(&api, "tone.wav", tone_wav(700.0, 4.0, 48_000));
    assert_eq!(status, 201, "{media}");
    let id = play(&api, &media, "dong-1");
    until_all(&api, id, "playing");

    // While it plays, with the controller writing receipts and liveness.
    let archive = dir.path().join("dalaba-backup.tar");
    let mut cmd = Command::new(controller_bin());
    cmd.arg("backup")
        .arg("--data-dir")
        .arg(&data)
        .arg("--to")
        .arg(&archive);
    let out = cmd.output().expect("backup");
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("1 media file"), "{said}");
    eprintln!("{said}");
    until_all(&api, id, "done");
    let at = ctl.addresses();
    ctl.proc.terminate();

    // Restoring never writes into a directory that holds data.
    let out = restore(&archive, &data);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));

    // A damaged copy (one byte of the database changed) and a truncated one are refused,
    // and leave no directory behind.
    let bytes = std::fs::read(&archive).expect("archive");
    let mut damaged = bytes.clone();
    let at_db = bytes
        .windows(15)
        .position(|w| w == b"SQLite format 3")
        .expect("the database in the archive");
    damaged[at_db + 4096] ^= 0xff;
    let damaged_path = dir.path().join("damaged.tar");
    std::fs::write(&damaged_path, &damaged).expect("write");
    let target = dir.path().join("restored");
    let out = restore(&damaged_path, &target);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("dalaba.sqlite") && text(&out).contains("SHA-256"),
        "{}",
        text(&out)
    );
    assert!(!target.exists(), "nothing left after a refused restore");
    let truncated_path = dir.path().join("truncated.tar");
    std::fs::write(&truncated_path, &bytes[..bytes.len() / 2]).expect("write");
    let out = restore(&truncated_path, &target);
    assert!(!out.status.success());
    assert!(text(&out).contains("incomplete"), "{}", text(&out));
    assert!(!target.exists(), "nothing left after a refused restore");
    assert!(
        std::fs::read_dir(dir.path()).expect("ls").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("restoring")),
        "no staging directory left"
    );

    // The good copy, into a new directory; the controller started on it at the same
    // addresses is the same controller to the speaker and to the admin.
    let out = restore(&archive, &target);
    assert!(out.status.success(), "{}", text(&out));
    let ctl = restart_controller(&target, &at);
    agents[0].1.wait_for("session ready as dong-1");
    let api = Api::login(&ctl.addr, &password);
    let (status, b) = api.call("GET", &format!("/api/broadcasts/{id}"), None);
    assert_eq!(status, 200, "the broadcast log came with it: {b}");
    let again = play(&api, &media, "dong-1");
    until_all(&api, again, "done");
    let heard = samples(&agents[0].0, again).expect("played from the restored library");
    assert!((hz(&heard) - 700.0).abs() < 15.0, "{} Hz", hz(&heard));
}
