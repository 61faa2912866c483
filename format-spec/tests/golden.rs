//! The golden ring decodes to its checked-in text, and the reference
//! decoder, written from SPEC.md alone, prints exactly the same.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

fn expected_text() -> String {
    std::fs::read_to_string(golden("v1.txt")).unwrap()
}

#[test]
fn golden_ring_decodes_to_golden_text() {
    let bytes = std::fs::read(golden("v1.ring")).unwrap();
    let decoded = caro_format::decode(&bytes).unwrap();
    assert_eq!(caro_format::text::canonical_text(&decoded), expected_text());
}

#[test]
fn reference_decoder_agrees_byte_for_byte() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(golden("v1.ring"))
        .output()
        .expect("python3 is needed to run the reference decoder");
    assert!(
        out.status.success(),
        "decode.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8(out.stdout).unwrap();
    assert_eq!(python, expected_text());
}

#[test]
fn reference_decoder_refuses_what_the_rust_decoder_refuses() {
    let dir = std::env::temp_dir().join(format!("caro-format-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ring = std::fs::read(golden("v1.ring")).unwrap();
    let mut newer = ring.clone();
    newer[8] = 2;
    let cases: [(&str, Vec<u8>); 3] = [
        ("foreign", b"#!/bin/sh\necho hello\n".to_vec()),
        ("truncated", ring[..ring.len() / 2].to_vec()),
        ("newer", newer),
    ];
    for (name, bytes) in cases {
        assert!(caro_format::decode(&bytes).is_err(), "{name}");
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
