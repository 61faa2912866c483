//! The privacy scrubber, `caro_analyze::scrub::Scrubber::text`, with a
//! known machine (user `qzanna`, home `/home/qzanna`, host
//! `qzanna-laptop`).
//!
//! - Any UTF-8: no panic, and scrubbing twice changes nothing.
//! - Text built from the input: pieces of the fuzzer's text (with every
//!   `q` and `Q` taken out) and personal data from [`DATA`] spliced in
//!   between, each behind whitespace and, as in the scrubber's own tests,
//!   an optional opening quote or bracket, and before whitespace or
//!   punctuation. Every datum carries the marker `qz` in its personal
//!   part, and nothing else can: the output must hold no `qz` in any ASCII
//!   case, and scrubbing it again must change nothing.
#![no_main]

use std::sync::OnceLock;

use caro_analyze::scrub::{Context, Scrubber};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// E-mails, paths and tokens (the personal part marked `qz`), the
/// machine's own names and home.
const DATA: &[&str] = &[
    "qzdana@example.org",
    "first.qzlast+tag@sub.example.co.uk",
    "root@qzhost.example.com",
    "/home/qzalice/notes.txt",
    "/home/qzanna",
    "/home/qzanna/src/caro",
    "~qzbob/x",
    "~/qzsecret/plan.md",
    r"C:\Users\qzcarl\file.txt",
    r"\\qzserver\share\dir",
    "/home/a/My Documents/qztax.pdf",
    "/tmp/qzscratch",
    "file:///home/qzfile/x",
    "https://qzerin:pw@example.com/x",
    "https://api.example.com/v1?key=qzquery",
    "sk-proj-qzAbc123456789",
    "sk_live_qz4eC39HqLyjWDarjtT1zdp7dc",
    "ghp_qz6C7e42F292c6912E7710c838347Ae178B4a",
    "glpat-qzXxX1234yYyY5678zZzZ",
    "xoxb-1234-5678-qzabcdEFGH",
    "hf_qzAbCdEfGhIjKlMnOpQrSt",
    "OPENAI_API_KEY=qzkey123",
    "password=qzhunter2",
    "qzanna",
    "QZANNA-LAPTOP",
    "qzanna-laptop.local",
];
/// Whitespace before a datum.
const SPACE: &[&str] = &[" ", "\t", "\n", "\u{3000}", "\u{a0}"];
/// What may open a datum, after the whitespace.
const OPEN: &[&str] = &["", "(", "\"", "'", "«", "[", "=", "—", ":"];
/// What may end a datum: whitespace or punctuation, then whitespace.
const CLOSE: &[&str] = &[
    " ", "\n", ") ", "\" ", ", ", "; ", "» ", "。 ", "| ", "! ", ". ", ":\n",
];

fn scrubber() -> &'static Scrubber {
    static S: OnceLock<Scrubber> = OnceLock::new();
    S.get_or_init(|| {
        Scrubber::new(Context {
            user: Some("qzanna".into()),
            home: Some("/home/qzanna".into()),
            host: Some("qzanna-laptop".into()),
        })
    })
}

/// Most data spliced into one input.
const MAX_PIECES: usize = 8;

/// Fuzzer text and data, alternating; `q` and `Q` taken out of the text.
fn spliced(data: &[u8]) -> Result<String> {
    let mut u = Unstructured::new(data);
    let unmarked = |t: &str| t.replace(['q', 'Q'], "");
    let mut input = unmarked(u.arbitrary()?);
    for _ in 0..MAX_PIECES {
        if u.is_empty() {
            break;
        }
        let [space, open, datum, close]: [u8; 4] = u.arbitrary()?;
        input.push_str(pick(SPACE, space));
        input.push_str(pick(OPEN, open));
        input.push_str(pick(DATA, datum));
        input.push_str(pick(CLOSE, close));
        input.push_str(&unmarked(u.arbitrary()?));
    }
    Ok(input)
}

fuzz_target!(|data: &[u8]| {
    let s = scrubber();
    if let Ok(text) = std::str::from_utf8(data) {
        let once = s.text(text);
        assert_eq!(s.text(&once), once, "scrubbing {text:?} twice");
    }

    let Ok(input) = spliced(data) else { return };
    let once = s.text(&input);
    assert!(
        !once.to_ascii_lowercase().contains("qz"),
        "{input:?} leaked: {once:?}"
    );
    assert_eq!(s.text(&once), once, "scrubbing {input:?} twice");
});

fn pick<'a>(from: &[&'a str], i: u8) -> &'a str {
    from[usize::from(i) % from.len()]
}
