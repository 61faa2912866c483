//! Opening the ring: racing creators agree on one file, and no header,
//! however damaged, makes the writer panic.

use std::sync::{Arc, Barrier};

use caro_recorder::ring::Ring;
use proptest::prelude::*;

#[test]
fn racing_creators_share_one_ring() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join(format!("caro/events-{round}.ring")));
        let start = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Ring::open_or_create(&path, 1 << 20, 1).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the ring remains, no temporaries");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any header words, any lane headers: an error or a ring, never a panic.
    #[test]
    fn damaged_headers_never_panic(
        edits in prop::collection::vec((0usize..80, any::<u64>()), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ring");
        drop(Ring::open_or_create(&path, 1 << 20, 1).unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        let lanes = u64::from_le_bytes(bytes[56..64].try_into().unwrap()) as usize;
        for (at, value) in edits {
            // Words of the header (0..28) and of the lane headers (28..80).
            let off = if at < 28 { at * 8 } else { lanes + (at - 28) * 8 };
            bytes[off..off + 8].copy_from_slice(&value.to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = Ring::open_or_create(&path, 1 << 20, 1);
    }
}
