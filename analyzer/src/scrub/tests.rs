//! The shared helpers of the scrubber's tests, and the tests that span
//! families: whole sentences, escaped text, placeholders, values, harmless
//! and random text.

use super::*;

/// A scrubber that knows no machine: patterns only.
pub(super) fn plain() -> Scrubber {
    Scrubber::new(Context::default())
}

pub(super) fn zanzibar() -> Scrubber {
    Scrubber::new(Context {
        user: Some("zanzibar".into()),
        home: Some("/home/zanzibar".into()),
        host: Some("zanzibar-laptop".into()),
    })
}

/// Asserts that each input scrubs to its expected text.
#[track_caller]
pub(super) fn check(s: &Scrubber, cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        assert_eq!(s.text(input), *expected, "scrubbing {input:?}");
    }
}

/// Asserts that each input passes unchanged and without allocating.
#[track_caller]
pub(super) fn kept(s: &Scrubber, inputs: &[&str]) {
    for input in inputs {
        let out = s.text(input);
        assert!(matches!(out, Cow::Borrowed(_)), "{input:?} became {out:?}");
    }
}

#[test]
fn identifiers_and_sentences_pass_borrowed() {
    kept(
        &plain(),
        &[
            "",
            "embedded",
            "file_search",
            "BackendTimeout",
            "ollama",
            "command generated",
            "caro::agent",
            "load_model",
            "process_query",
            "v1.2.3",
            "3.14",
            "200ms",
            "a / b",
            "@here",
            "x = 5",
            "rate=0.25",
            "HTTP/1.1",
            "The model took longer than expected; retrying with a smaller prompt.",
            "Généré en 200 ms — prêt.",
            "コマンドを生成しました",
            "backend timed out after 30s (attempt 2 of 3)",
            "<redacted 17 bytes>",
            "<unknown callsite>",
        ],
    );
}

#[test]
fn a_mixed_sentence_keeps_its_words_and_loses_its_data() {
    check(
            &zanzibar(),
            &[
                (
                    "user zanzibar on zanzibar-laptop cannot open /home/zanzibar/tax 2025.pdf: ask root@example.org from 10.0.0.7",
                    "user <user> on <host> cannot open <path>: ask <email> from <ip>",
                ),
                (
                    "backend=ollama url=http://localhost:11434 err=\"connect 192.168.0.9:11434: refused\"",
                    "backend=ollama url=http://localhost:11434 err=\"connect <ip>: refused\"",
                ),
                (
                    "  two  spaces,\ttabs\nand lines: /tmp/a\n~/b ",
                    "  two  spaces,\ttabs\nand lines: <path>\n<path> ",
                ),
            ],
        );
}

#[test]
fn placeholders_stay_and_scrubbing_twice_changes_nothing() {
    let s = zanzibar();
    kept(
        &s,
        &[
            "<path>",
            "<email> <ip> <user> <host> <secret> <url>",
            "<redacted 5 bytes>",
            "NAME=<secret>",
        ],
    );
    for input in EXAMPLES {
        let once = s.text(input);
        assert_eq!(s.text(&once), once, "scrubbing {input:?} twice");
    }
}

#[test]
fn values_have_their_text_scrubbed() {
    let s = plain();
    assert_eq!(
        s.value(FieldValue::Str("open /tmp/x".into())),
        FieldValue::Str("open <path>".into())
    );
    for v in [
        FieldValue::U64(7),
        FieldValue::I64(-7),
        FieldValue::F64(0.25),
        FieldValue::Bool(true),
        FieldValue::Str("embedded".into()),
    ] {
        assert_eq!(s.value(v.clone()), v);
    }
}

#[test]
fn escaped_paths_and_json_are_scrubbed() {
    check(
        &zanzibar(),
        &[
            // `Debug` of `\\fileserver\zanzibar$\payroll.xlsx`.
            (
                r#""\\\\fileserver\\zanzibar$\\payroll.xlsx""#,
                r#""<path>""#,
            ),
            // Escaped twice (JSON of `Debug`).
            (r#""\\\\\\\\fs\\\\ana\\\\x.xlsx""#, r#""<path>""#),
            (r#""C:\\Users\\ana\\x.txt""#, r#""<path>""#),
            (r"at C:\\\\Users\\\\ana now", "at <path> now"),
            (r"\/home\/ana\/x", "<path>"),
            (
                r#"{\"api_key\": \"Qx7Lm2Pw9Rt4Vn8Kc1Xb\"}"#,
                r#"{\"api_key\": \"<secret>\"}"#,
            ),
            (
                r#""{\"api_key\": \"Qx7Lm2Pw9Rt4Vn8Kc1Xb\"}""#,
                r#""{\"api_key\": \"<secret>\"}""#,
            ),
            (r#"{\"token\":\"abc def\"}"#, r#"{\"token\":\"<secret>\"}"#),
            (
                r#"\\\"password\\\": \\\"x\\\""#,
                r#"\\\"password\\\": \\\"<secret>\\\""#,
            ),
            (r#"FOO=\"bar\""#, r#"FOO=\"<secret>\""#),
        ],
    );
    kept(
        &plain(),
        &[
            r#"{\"key\": \"backend\"}"#,
            r#"{\"model\": \"qwen2.5-coder:1.5b\"}"#,
            r#"{\"token_count\": 3}"#,
            r#""\\""#,
            r#"\\\"done\\\""#,
            r"a\\b",
            r"\n",
            r"x \ y",
        ],
    );
}

/// What says what caro did, not who used it: kept as it is.
const HARMLESS: &[&str] = &[
    "http://localhost:11434/api/generate",
    "POST http://localhost:11434/api/generate 200",
    "http://localhost:11434",
    "https://api.openai.com/v1",
    "qwen2.5-coder:1.5b",
    "model=qwen2.5-coder:1.5b",
    "llama3.2:3b-instruct-q4_k_m",
    "1.4.2",
    "v0.12.3",
    "1.234ms",
    "2.5s",
    "took 1.234ms (2.5s total)",
    "550e8400-e29b-41d4-a716-446655440000",
    "550E8400-E29B-41D4-A716-446655440000",
    "caro::agent",
    "BackendTimeout",
    "file_search",
    "src/main.rs",
    "2026-12-06",
    "2026-12-06T12:34:56Z",
    "12:34:56",
    "12:34:56.789",
    "42",
    "3 of 5",
    "attempt 2 of 3",
    "x86_64",
    "x86_64-unknown-linux-gnu",
    "HTTP/1.1",
    "port 8080",
    "listening on :11434",
    "1048576",
    "1048576 bytes",
    "1733480000",
    "1733480000123",
    "ts=1733480000123",
    "count=1234",
    "year 2026",
    "v2026.12",
    "sha256",
    "utf-8",
    "max_tokens=100",
    "temperature=0.7",
    "backend=ollama",
    "status=200",
    "q4_k_m",
    "gpt-4o-mini",
    "claude-3-5-sonnet-20241022",
    "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit",
    "ls -la | grep foo",
    "find . -name '*.rs'",
    "could not determine served context length via /api/show",
    "POST /api/generate",
    "/v1/chat/completions",
    "/healthz",
    "/metrics",
    "arn:awsome",
];

#[test]
fn harmless_values_survive() {
    kept(&plain(), HARMLESS);
    kept(&zanzibar(), HARMLESS);
    // Loopback is an IPv4 address like any other, as it always was.
    check(
        &plain(),
        &[("127.0.0.1", "<ip>"), ("127.0.0.1:11434", "<ip>")],
    );
}

/// Data glued into random text, each with a part that must not survive.
const LEAKS: &[(&str, &str)] = &[
    ("/home/qzalice/notes.txt", "qzalice"),
    ("~qzbob/x", "qzbob"),
    (r"C:\Users\qzcarl\file.txt", "qzcarl"),
    (r"\\qzserver\share\dir", "qzserver"),
    ("/home/a/My Documents/qztax.pdf", "qztax"),
    ("qzdana@example.org", "qzdana"),
    ("first.qzlast+tag@sub.example.co.uk", "qzlast"),
    ("192.168.77.20", "168.77"),
    ("2001:db8::77", "db8::77"),
    ("https://qzerin:pw@example.com/x", "qzerin"),
    ("https://api.example.com/v1?key=qzquery", "qzquery"),
    ("sk-proj-qzAbc123456789", "qzAbc"),
    ("OPENAI_API_KEY=qzkey123", "qzkey"),
    ("zanzibar", "zanzibar"),
    ("ZANZIBAR-LAPTOP", "ZANZIBAR"),
    ("DE89 3704 0044 0532 0130 00", "3704 0044"),
    ("DE89370400440532013000", "370400440532"),
    ("4111-1111-1111-1111", "1111-1111"),
    ("4111 1111 1111 1111", "1111 1111"),
    ("+4915112345678", "15112345678"),
    ("+1 (555) 123-4567", "123-4567"),
    ("tel:+1-555-123-4567", "123-4567"),
    ("00:1A:2B:3C:4D:5E", "2B:3C"),
    ("00-1a-2b-3c-4d-5e", "2b-3c"),
    ("jürgen.qzweiß@beispiel.de", "qzweiß"),
    ("qz用户@例子.广告", "qz用户"),
    ("%2Fhome%2Fqzenc%2Fx", "qzenc"),
    ("／home／qzwide／x", "qzwide"),
    ("qzbobs-macbook-air", "qzbobs"),
    ("qzanas-macbook-pro.local", "qzanas"),
    ("db_pass=qzpw", "qzpw"),
    ("PGPASSWORD:qzpg", "qzpg"),
    ("api-key: qzkey", "qzkey"),
    ("dXNlcjpwYXNzd29yZA==", "dXNlcjpw"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw", "eyJzdWIi"),
    ("ya29.a0AfH6SMBx1234qzEFGH", "qzEFGH"),
    ("arn:aws:iam::418273645091:user/qzarn", "418273645091"),
    ("arn:aws:s3:::qzbucket", "qzbucket"),
    ("Cookie: sessionid=qzsess1; theme=qzdark", "qzsess1"),
    ("Cookie: sessionid=qzsess1; theme=qzdark", "qzdark"),
    ("session_id=qzsid", "qzsid"),
    ("C：＼Users＼qzfw＼x.pdf", "qzfw"),
    (r"\\qzfs\share$\qzpay.xlsx", "qzfs"),
    (r"\\qzfs\share$\qzpay.xlsx", "qzpay"),
    (r#"{\"api_key\": \"qzjsonkey\"}"#, "qzjsonkey"),
    ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a", "NjQ3ODU2"),
    ("/api/users/qzapi.json", "qzapi"),
];

const EXAMPLES: &[&str] = &[
        "/home/alice/notes.txt",
        "/home/alice/My Documents/tax.pdf done",
        r"C:\Users\Alice Smith\x.txt",
        "user zanzibar on zanzibar-laptop cannot open /home/zanzibar/tax 2025.pdf: ask root@example.org from 10.0.0.7",
        "--config=/home/a/b open(/tmp/x) \"path:/etc/x\"",
        "OPENAI_API_KEY=\"sk-abc\" backend=embedded",
        "https://bob:pw@example.com/x https://api.openai.com/v1",
        "[::1]:8080 fe80::1%eth0 ::ffff:10.0.0.1",
        "zanzibar/etc/x",
        "a<zanzibar>b",
        "x=/tmp/a>b <</tmp/c",
        "FOO=\"a b",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "iban DE89 3704 0044 0532 0130 00, card 4111-1111-1111-1111",
        "call +1 (555) 123-4567 or tel:+1-555-123-4567 from 00:1A:2B:3C:4D:5E",
        "jürgen.weiß@beispiel.de %2Fhome%2Fbob ／home／bob anas-macbook-pro.local",
        "PGPASSWORD:x api-key: y Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi… DESKTOP-4F2K9QX 1733480000123",
        "arn:aws:iam::418273645091:user/zanzibar Cookie: sid=x; a=b",
        r#"C：＼Users＼bob "\\\\fs\\x" {\"api_key\": \"k\"}"#,
        "MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a… via /api/show /v1/chat/completions",
    ];

/// A small deterministic generator (xorshift), so the test needs no
/// dependency and fails the same way every time.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// Anything: letters, digits, the trigger characters, Unicode.
const ANY: &[char] = &[
    'a', 'Z', '7', 'f', '0', '_', '-', '.', '/', '\\', ':', '@', '=', '~', '<', '>', '[', ']', '(',
    ')', '"', '\'', '%', '?', '#', '&', '!', ' ', '\t', '\n', 'é', 'ß', '漢', '🙂', '\u{301}',
    '\u{200b}', '\u{3000}', '—', '«', '»', '。',
];

#[test]
fn data_glued_into_random_text_never_leak() {
    // As in real text, a datum ends at punctuation, and the next starts
    // after whitespace, maybe behind an opening quote or bracket.
    const AFTER: &[&str] = &[
        " ", "\n", ")", "\"", ",", ";", "»", "。", "|", "!", ". ", ":\n",
    ];
    const SPACE: &[char] = &[' ', '\t', '\n', '\u{3000}', '\u{a0}'];
    const OPEN: &[&str] = &["", "", "(", "\"", "'", "«", "[", "=", "—", ":"];
    let s = zanzibar();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..500 {
        let mut input = String::new();
        let mut markers = Vec::new();
        for _ in 0..1 + rng.below(4) {
            input.push(rng.pick(SPACE));
            input.push_str(rng.pick(OPEN));
            let (datum, marker) = rng.pick(LEAKS);
            input.push_str(datum);
            markers.push(marker);
            input.push_str(rng.pick(AFTER));
            for _ in 0..rng.below(6) {
                input.push(rng.pick(ANY));
            }
        }
        let once = s.text(&input);
        for marker in &markers {
            assert!(
                !once.contains(marker),
                "{input:?} leaked {marker:?}: {once:?}"
            );
        }
        assert_eq!(s.text(&once), once, "scrubbing {input:?} twice");
    }
}

#[test]
fn any_text_is_scrubbed_without_panic_and_once_for_all() {
    let s = zanzibar();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..2000 {
        // Random characters and pieces of the examples, cut anywhere.
        let mut input = String::new();
        for _ in 0..rng.below(12) {
            if rng.below(3) == 0 {
                let example = rng.pick(EXAMPLES);
                let chars: Vec<usize> = example.char_indices().map(|(k, _)| k).collect();
                let (a, b) = (rng.pick(&chars), rng.pick(&chars));
                input.push_str(&example[a.min(b)..a.max(b)]);
            } else {
                input.push(rng.pick(ANY));
            }
        }
        let once = s.text(&input);
        assert_eq!(s.text(&once), once, "scrubbing {input:?} twice");
    }
}
