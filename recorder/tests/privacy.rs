//! The first privacy wall on its own: what a host hands the recorder, and
//! which of it reaches the ring's raw bytes.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use caro_format::{decode, text::canonical_text};
use tracing_subscriber::prelude::*;

/// Personal data a host might log, each string distinctive enough to be
/// searched for in the ring's bytes.
const QUERY: &str = "find the tax returns of Zanzibar Quux";
const COMMAND: &str = "rm -rf /home/zquux/secret-plans";
const PATH: &str = "/home/zquux/Documents/medical.pdf";
const EMAIL: &str = "zquux@example.org";
const TOKEN: &str = "sk-proj-Zq7Xb2Lm9Pw4Rt8Vn1Kc";
const ENV: &str = "OPENAI_API_KEY=sk-zquux-4242";

#[derive(Debug)]
#[allow(dead_code)] // Read only through Debug.
struct Request {
    query: String,
    cwd: String,
    attempt: u32,
}

/// An error chain holding run-time text, as a host's errors do.
#[derive(Debug)]
struct Inner(String);

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}", self.0)
    }
}

impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(String, Inner);

impl Outer {
    fn new() -> Outer {
        Outer(runtime(EMAIL), Inner(runtime(PATH)))
    }
}

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend failed for {}", self.0)
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.1)
    }
}

fn record(config: caro_recorder::Config, log: impl FnOnce()) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (layer, guard) = config.ring_path(&path).ring_size(1 << 20).layer();
    assert!(guard.is_recording());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
    drop(guard);
    let bytes = std::fs::read(&path).unwrap();
    let text = canonical_text(&decode(&bytes).unwrap());
    (bytes, text)
}

/// Whether `needle` is in the ring: in its raw bytes, or in its decoded
/// text (a value may straddle two slots).
fn found(bytes: &[u8], text: &str, needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) || text.contains(needle)
}

/// Strings built at run time, as a host's would be.
fn runtime(s: &str) -> String {
    std::hint::black_box(s.to_owned())
}

#[test]
fn user_data_never_reaches_the_ring_by_default() {
    let (query, command, path, email, token, env) = (
        runtime(QUERY),
        runtime(COMMAND),
        runtime(PATH),
        runtime(EMAIL),
        runtime(TOKEN),
        runtime(ENV),
    );
    let error = Outer::new();
    let (bytes, text) = record(caro_recorder::Config::default(), || {
        // Deny-listed fields, any type of value, dotted and in any case.
        tracing::info!(
            query = query.as_str(),
            command = %command,
            request.Path = ?path,
            user.EMAIL = email.as_str(),
            api.token = token.as_str(),
            env = env.as_str(),
            "request"
        );
        let span = tracing::info_span!("process_query", query = query.as_str(), cwd = %path);
        let _in = span.enter();
        // Messages with arguments keep their literal pieces; what the
        // arguments wrote at run time keeps only its length.
        tracing::info!("User query: {}", query);
        tracing::warn!("cannot open {path} for {email}");
        // So do Debug and Display values, and error chains.
        let request = Request {
            query: query.clone(),
            cwd: path.clone(),
            attempt: 2,
        };
        tracing::info!(request = ?request, shown = %path);
        tracing::error!(error = &error as &dyn std::error::Error, "failed");
        // Free text in a field of any name keeps only its length.
        tracing::info!(note = command.as_str(), "free text");
    });
    for secret in [QUERY, COMMAND, PATH, EMAIL, TOKEN, ENV, "zquux", "Zanzibar"] {
        assert!(
            !found(&bytes, &text, secret),
            "{secret:?} is in the ring:\n{text}"
        );
    }
    assert!(text.contains("query=<redacted 37 bytes>"), "{text}");
    assert!(text.contains("request.Path=<redacted 35 bytes>"), "{text}");
    assert!(text.contains("note=<redacted 31 bytes>"), "{text}");
    for template in [
        r#"message="User query: "<redacted 37 bytes>"#,
        r#"message="cannot open "<redacted 33 bytes>" for "<redacted 17 bytes>"#,
        r#"request="Request { query: "<redacted 39 bytes>", cwd: "<redacted 35 bytes>", attempt: 2 }""#,
        r#"shown=<redacted 33 bytes>"#,
        r#"error="backend failed for "<redacted 17 bytes>": cannot read "<redacted 33 bytes>"#,
    ] {
        assert!(text.contains(template), "{template} is not in\n{text}");
    }
    // Literal messages and program text are kept.
    assert!(text.contains("message=\"request\""), "{text}");
    assert!(text.contains("message=\"free text\""), "{text}");
}

#[test]
fn identifiers_are_kept_other_run_time_strings_are_not() {
    let kept = ["embedded", "qwen2.5-coder:1.5b", "file_search", "1.4.2"];
    let withheld = [
        PATH,
        QUERY,
        EMAIL,
        "DE89370400440532013000",
        "someones-macbook-air.local",
        "Zanzibar",
    ];
    let values: Vec<String> = kept.iter().chain(&withheld).map(|s| runtime(s)).collect();
    let (bytes, text) = record(caro_recorder::Config::default(), || {
        for v in &values {
            tracing::info!(value = v.as_str(), "kept or not");
        }
    });
    for k in kept {
        assert!(text.contains(&format!("value=\"{k}\"")), "{k}: {text}");
    }
    for w in withheld {
        assert!(!found(&bytes, &text, w), "{w}: {text}");
        assert!(
            text.contains(&format!("value=<redacted {} bytes>", w.len())),
            "{w}: {text}"
        );
    }
}

#[test]
fn numbers_in_messages_are_kept_when_small_withheld_when_they_may_be_personal() {
    let (count, ms, phone, card) =
        std::hint::black_box((3u64, 1.25f64, 5_551_234_567u64, 4_111_111_111_111_111u64));
    let elapsed = std::hint::black_box(std::time::Duration::from_micros(1234));
    let (_, text) = record(caro_recorder::Config::default(), || {
        tracing::info!("{} candidates in {:?} ({:.2} ms)", count, elapsed, ms);
        tracing::info!("calling {} with card {}", phone, card);
        tracing::info!(card_number = card, phone, count, "deny-listed numbers");
    });
    assert!(
        text.contains(r#"message="3 candidates in 1.234ms (1.25 ms)""#),
        "{text}"
    );
    assert!(
        text.contains(r#"message="calling "<redacted 10 bytes>" with card "<redacted 16 bytes>"#),
        "{text}"
    );
    assert!(
        text.contains("card_number=<redacted 16 bytes> phone=<redacted 10 bytes> count=3"),
        "{text}"
    );
}

#[test]
fn hosts_choose_fields_by_name() {
    let (account, cache_key) = (runtime("acct-zquux-991"), runtime("model-cache-7"));
    let error = Outer::new();
    let config = caro_recorder::Config::default()
        .deny_fields(["tenant"])
        .allow_fields(["key"])
        .keep_text_fields(["error", "query", "detail"]);
    let (bytes, text) = record(config, || {
        tracing::info!(
            billing.tenant = account.as_str(),
            key = cache_key.as_str(),
            "ids"
        );
        tracing::error!(error = &error as &dyn std::error::Error, "failed");
        // Opting in a deny-listed field does not un-deny it.
        let request = Request {
            query: "q".into(),
            cwd: "c".into(),
            attempt: 1,
        };
        tracing::info!(query = %QUERY, detail = ?request, "opted in");
    });
    assert!(!found(&bytes, &text, "acct-zquux-991"), "{text}");
    assert!(
        text.contains("billing.tenant=<redacted 14 bytes>"),
        "{text}"
    );
    assert!(text.contains("key=\"model-cache-7\""), "{text}");
    let chain = format!("backend failed for {EMAIL}: cannot read {PATH}");
    assert!(text.contains(&format!("error=\"{chain}\"")), "{text}");
    assert!(!found(&bytes, &text, QUERY), "{text}");
    assert!(
        text.contains(r#"detail="Request { query: \"q\", cwd: \"c\", attempt: 1 }""#),
        "{text}"
    );
}

#[test]
fn long_kept_text_is_cut_to_the_bound() {
    let long = "é".repeat(200);
    let (_, text) = record(
        caro_recorder::Config::default().keep_text_fields(["detail"]),
        || tracing::info!(detail = %long, "long"),
    );
    let cut = "é".repeat(63);
    assert!(
        text.contains(&format!("detail=\"{cut}\"(truncated)")),
        "{text}"
    );
}

/// Opens (creating it if needed) the ring at `path`, as a host would.
fn open(path: &std::path::Path) -> Result<(), String> {
    caro_recorder::Config::default()
        .ring_path(path)
        .open()
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn a_symlink_at_the_ring_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"not yours").unwrap();
    let link = dir.path().join("events.ring");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = open(&link).unwrap_err();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
}

#[test]
fn open_modes_are_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn the_data_folder_is_created_private_and_a_hosts_folder_left_as_it_was() {
    let home = tempfile::tempdir().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    // Created: private.
    let fresh = home.path().join("new/caro");
    caro_recorder::ring::secure_folder(&fresh).unwrap();
    assert_eq!(mode(&fresh), 0o700);
    // The host's own folder (caro keeps its models there): used, unchanged.
    let hosts = home.path().join("caro");
    std::fs::create_dir(&hosts).unwrap();
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o755)).unwrap();
    caro_recorder::ring::secure_folder(&hosts).unwrap();
    assert_eq!(mode(&hosts), 0o755);
    // Writable by others: refused, unchanged.
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o777)).unwrap();
    let why = caro_recorder::ring::secure_folder(&hosts)
        .unwrap_err()
        .to_string();
    assert!(why.contains("writable by other users"), "{why}");
    assert_eq!(mode(&hosts), 0o777);
}

/// Needs root to give a file away; CI runs as root.
#[test]
fn a_ring_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    open(&path).unwrap();
    if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let err = open(&path).unwrap_err();
    assert!(err.contains("belongs to another user"), "{err}");
}

#[test]
fn a_record_whose_values_do_not_fit_says_how_many_it_left_out() {
    let (_, text) = record(caro_recorder::Config::default(), || {
        // 24 numbers of 9 bytes each: 196 bytes hold 21 of them.
        tracing::info!(
            a0 = 0u64,
            a1 = 1u64,
            a2 = 2u64,
            a3 = 3u64,
            a4 = 4u64,
            a5 = 5u64,
            a6 = 6u64,
            a7 = 7u64,
            a8 = 8u64,
            a9 = 9u64,
            a10 = 10u64,
            a11 = 11u64,
            a12 = 12u64,
            a13 = 13u64,
            a14 = 14u64,
            a15 = 15u64,
            a16 = 16u64,
            a17 = 17u64,
            a18 = 18u64,
            a19 = 19u64,
            a20 = 20u64,
            a21 = 21u64,
            a22 = 22u64,
            a23 = 23u64
        );
    });
    assert!(text.contains(" truncated left_out=3 a0=0 "), "{text}");
    assert!(text.contains(" a20=20\n"), "{text}");
    assert!(text.starts_with("ring v1."), "{text}");
    assert!(
        text.lines().next().unwrap().ends_with(" values_left_out=3"),
        "{text}"
    );
}
