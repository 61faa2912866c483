//! Which values the recorder keeps: the first of caro's two privacy walls.
//!
//! What is kept is decided by where a value comes from (its provenance)
//! and, for run-time strings, by its shape:
//!
//! - **program text** — a string that lies in the executable's read-only
//!   memory (a literal, a derived `Debug` name, a `&'static str` written by
//!   `Display`) — is kept: it is the same for every user;
//! - **numbers and booleans** are kept;
//! - a **run-time string** is kept only when it is identifier-shaped
//!   ([`is_identifier`]); any other keeps only its length;
//! - a **`Debug`/`Display` value, an error chain or a message with
//!   arguments** is kept as a template: its program-text pieces and its
//!   small numbers stay, every other piece keeps only its length (see
//!   `fields.rs`);
//! - a field **named like personal data** ([`denied`], plus what the host
//!   adds with [`Config::deny_fields`](crate::Config::deny_fields), minus
//!   what it explicitly allows with
//!   [`Config::allow_fields`](crate::Config::allow_fields)) keeps only the
//!   length of any value, numbers included;
//! - a field the host opted in with
//!   [`Config::keep_text_fields`](crate::Config::keep_text_fields) keeps the
//!   text of its values, cut to [`MAX_STR`](caro_format::value::MAX_STR)
//!   bytes, for the analyzer's scrubber.
//!
//! The decision per field name is made once per callsite (when its first
//! record is written), so the hot path only tests a bit.

/// Words that name a secret: they withhold a field's value wherever they
/// appear in its name (`api_token`, `db_password`), and the analyzer's
/// scrubber takes the value of a `NAME=value` whose name has one for a
/// secret.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "auth",
    "authorization",
];

/// Words that name personal data and, with [`SECRET_WORDS`], withhold a
/// field's value wherever they appear in its name: `credit_card_number`,
/// `iban`, `home.lat`.
pub const DENIED_WORDS: &[&str] = &[
    "cookie",
    "session",
    "card",
    "cvv",
    "iban",
    "bic",
    "swift",
    "ssn",
    "account",
    "phone",
    "mobile",
    "msisdn",
    "email",
    "mail",
    "address",
    "addr",
    "ip",
    "lat",
    "lon",
    "lng",
    "latitude",
    "longitude",
    "geo",
    "location",
    "birthday",
    "birthdate",
    "dob",
    "passport",
    "license",
    "holder",
    "owner",
];

/// Words that withhold a field's value when they are the last word of its
/// name: `query`, `request.query`, `user_prompt`; not `query_length`.
pub const DENY_LIST: &[&str] = &[
    "query", "prompt", "input", "command", "cmd", "args", "argv", "path", "file", "filename",
    "dir", "folder", "cwd", "home", "user", "username", "login", "host", "hostname", "url", "uri",
    "env", "key", "pass", "text", "body", "content", "payload",
];

/// Words that withhold a field's value when they follow a personal word:
/// `user.name`, `host.name`, `first_name`, `user_id`.
const PERSONAL_QUALIFIERS: &[&str] = &[
    "user", "host", "first", "last", "full", "given", "family", "display", "real", "person",
    "customer", "client", "server", "peer", "device", "machine",
];
const QUALIFIED_WORDS: &[&str] = &["name", "id", "address", "ip", "port"];

/// Field-name words, lower-case: split at `.`, `_`, `-`, `:` and at
/// lower-to-upper case changes (`apiKey` → `api`, `key`).
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            prev_lower = false;
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether the default rules withhold the value of a field named `name`:
/// a word of [`DENIED_WORDS`] anywhere in it, a word of [`DENY_LIST`] as
/// its last word, a personal qualifier before `name`/`id`/`address`
/// (`user.name`, `host.name`), or the whole name glued into one word
/// (`apikey`, `dbpassword`, `cardnumber`).
pub fn denied(name: &str) -> bool {
    let words = words(name);
    let Some(last) = words.last() else {
        return false;
    };
    let glued = words.concat();
    words
        .iter()
        .any(|w| SECRET_WORDS.contains(&w.as_str()) || DENIED_WORDS.contains(&w.as_str()))
        || DENY_LIST.contains(&last.as_str())
        || words.windows(2).any(|p| {
            PERSONAL_QUALIFIERS.contains(&p[0].as_str()) && QUALIFIED_WORDS.contains(&p[1].as_str())
        })
        || [
            "password", "passwd", "secret", "token", "apikey", "card", "phone", "iban",
        ]
        .iter()
        .any(|w| glued.contains(w))
}

/// Whether `name` is listed in `list` (compared whole, then by last dotted
/// segment, ignoring case).
fn listed<S: AsRef<str>>(list: &[S], name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    list.iter()
        .any(|d| d.as_ref().eq_ignore_ascii_case(name) || d.as_ref().eq_ignore_ascii_case(last))
}

/// The host's changes to the default rules, by field name (whole or its
/// last dotted segment, ignoring case).
#[derive(Clone, Debug, Default)]
pub struct FieldRules {
    pub(crate) deny: Vec<String>,
    pub(crate) allow: Vec<String>,
    pub(crate) keep_text: Vec<String>,
}

impl FieldRules {
    /// Whether a field named `name` keeps only the length of its values.
    pub fn withholds(&self, name: &str) -> bool {
        (denied(name) && !listed(&self.allow, name)) || listed(&self.deny, name)
    }

    /// Whether a field named `name` keeps the text of its `Debug` values,
    /// error chains and free text. Never the message, and never a field
    /// the rules withhold.
    pub fn keeps_text(&self, name: &str) -> bool {
        name != "message" && listed(&self.keep_text, name) && !self.withholds(name)
    }
}

/// Longest run-time string [`is_identifier`] keeps.
pub const MAX_IDENTIFIER: usize = 40;
/// Longest run of digits in an identifier: a year, not a phone number.
const MAX_DIGIT_RUN: usize = 4;
/// Most digits in an identifier: a date or a version, not a card number
/// written in groups.
const MAX_DIGITS: usize = 8;
/// Last labels of names that only exist on a private network: a machine's
/// name, not a program's (`someones-macbook-air.local`). The analyzer's
/// scrubber takes names under them for a machine's too.
pub const PRIVATE_SUFFIXES: &[&str] = &["local", "lan", "home", "internal", "localdomain", "corp"];
/// Words in machine names that name their owner's device.
const DEVICE_WORDS: &[&str] = &[
    "macbook", "imac", "iphone", "ipad", "laptop", "desktop", "pc",
];

/// Whether a run-time string may be kept as it is: an identifier such as
/// `file_search`, `qwen2.5-coder:1.5b`, `caro::agent` or `1.4.2`.
///
/// The rule, strict on purpose (anything else keeps only its length):
/// at most [`MAX_IDENTIFIER`] bytes of ASCII lower-case letters, digits,
/// `.`, `-`, `_` and `:`, starting with a letter or digit; no run of more
/// than four digits and no more than eight in all (phone, card and
/// account numbers, also in groups); no word (between
/// separators) that looks random: eight or more characters switching
/// between letters and digits four times or more, sixteen or more with
/// two digits, or a hex word of twelve or more (keys, hashes, tokens); no device word (`macbook`, `iphone`, `pc`, …) and no
/// private-network suffix (`.local`, `.lan`, `.internal`, …), and not
/// six or more short hex groups (a MAC address): those name a machine. Upper case is excluded (names are capitalised, random keys
/// mix cases), and so is everything that separates a path or an address
/// in any script (`/`, `\`, `@`, `%`, `=`, spaces, non-ASCII). The empty
/// string is kept.
pub fn is_identifier(s: &str) -> bool {
    // One pass, counting as it goes: program text is checked on every
    // record that carries it.
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return true;
    };
    if b.len() > MAX_IDENTIFIER || !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return false;
    }
    let (mut all_digits, mut short_hex, mut last_dot, mut mac_separator) = (0, 0, None, false);
    let mut word = Word::default();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                word.add(true, true);
                all_digits += 1;
                if word.run > MAX_DIGIT_RUN || all_digits > MAX_DIGITS {
                    return false;
                }
            }
            b'a'..=b'z' => word.add(false, c <= b'f'),
            b'.' | b'-' | b'_' | b':' => {
                if word.suspect(&b[i - word.len..i]) {
                    return false;
                }
                short_hex += usize::from(word.short_hex());
                last_dot = if c == b'.' { Some(i) } else { last_dot };
                mac_separator |= matches!(c, b':' | b'-');
                word = Word::default();
            }
            _ => return false,
        }
    }
    if word.suspect(&b[b.len() - word.len..]) {
        return false;
    }
    short_hex += usize::from(word.short_hex());
    let private =
        last_dot.is_some_and(|d| PRIVATE_SUFFIXES.iter().any(|p| p.as_bytes() == &b[d + 1..]));
    let mac = mac_separator && short_hex >= 6;
    !(private || mac)
}

/// What [`is_identifier`] counts of the word (between separators) it is
/// reading.
#[derive(Default)]
struct Word {
    len: usize,
    digits: usize,
    /// The digits at its end.
    run: usize,
    /// Changes between letters and digits.
    changes: usize,
    hex: usize,
}

impl Word {
    #[inline(always)]
    fn add(&mut self, digit: bool, hex: bool) {
        if self.len > 0 && digit != (self.run > 0) {
            self.changes += 1;
        }
        self.len += 1;
        self.digits += usize::from(digit);
        self.run = if digit { self.run + 1 } else { 0 };
        self.hex += usize::from(hex);
    }

    /// A random-looking word (a key, a hash, a token) or a device word.
    fn suspect(&self, word: &[u8]) -> bool {
        let random = self.len >= 8
            && (self.changes >= 4
                || (self.len >= 16 && self.digits >= 2)
                || (self.len >= 12 && self.hex == self.len));
        random || (self.len <= 7 && DEVICE_WORDS.iter().any(|d| d.as_bytes() == word))
    }

    /// One or two hex digits: a group of a MAC address.
    fn short_hex(&self) -> bool {
        (1..=2).contains(&self.len) && self.hex == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(deny: &[&str], allow: &[&str], keep: &[&str]) -> FieldRules {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        FieldRules {
            deny: own(deny),
            allow: own(allow),
            keep_text: own(keep),
        }
    }

    #[test]
    fn deny_list_matches_by_word_suffix_and_compound() {
        for name in [
            "query",
            "request.Query",
            "user_prompt",
            "API_KEY",
            "api_key",
            "apiKey",
            "auth.key",
            "db_password",
            "DB_PASS",
            "dbpassword",
            "access_token",
            "client_secret",
            "card_number",
            "creditCardNumber",
            "iban",
            "holder",
            "account_id",
            "phone",
            "home.lat",
            "lon",
            "user.name",
            "host.name",
            "server.address",
            "first_name",
            "ssn",
            "session_id",
        ] {
            assert!(denied(name), "{name} should be withheld");
        }
        for name in [
            "query_length",
            "backend",
            "intent",
            "error",
            "request_id",
            "span.name",
            "model",
            "duration_ms",
            "risk_level",
            "status",
        ] {
            assert!(!denied(name), "{name} should be kept");
        }
    }

    #[test]
    fn hosts_extend_the_list_and_shrink_it_only_by_name() {
        let r = rules(&["tenant"], &["key"], &[]);
        assert!(r.withholds("billing.Tenant"));
        assert!(r.withholds("query"));
        assert!(!r.withholds("cache.key"));
        assert!(!FieldRules::default().withholds("backend"));
        assert!(FieldRules::default().withholds("key"));
    }

    #[test]
    fn kept_text_never_covers_withheld_fields_or_the_message() {
        let r = rules(&[], &[], &["error", "query", "message"]);
        assert!(r.keeps_text("error"));
        assert!(r.keeps_text("outer.Error"));
        assert!(!r.keeps_text("query"));
        assert!(!r.keeps_text("message"));
        assert!(!r.keeps_text("backend"));
    }

    #[test]
    fn identifiers_are_kept_anything_else_is_not() {
        for w in [
            "",
            "embedded",
            "file_search",
            "qwen2.5-coder:1.5b",
            "llama3.2:3b-instruct-q4_k_m",
            "caro::agent",
            "1.4.2",
            "2024",
            "x86_64",
            "sha256sum",
            "ubuntu2204",
        ] {
            assert!(is_identifier(w), "{w:?} should be kept");
        }
        for t in [
            "rm -rf /",
            "a\nb",
            "/home/ana/x",
            "ana@example.org",
            "jürgen.weiß",
            "Grüße",
            "Zanzibar",
            "BackendTimeout",
            "DE89370400440532013000",
            "4111-1111-1111-1111",
            "4111111111111111",
            "+4915112345678",
            "tel:5551234567",
            "00:1a:2b:3c:4d:5e",
            "someones-macbook-air.local",
            "build-server.internal",
            "desktop-pc",
            "%2fhome%2fana",
            "ya29.a0afh6smbx",
            "db_pass=x",
            "a8f3k2m9x7q1",
            "9f86d081884c7d659a2f",
            "deadbeefcafe",
            "k3y4bcdefghijklmnop",
            "a.very-long-identifier-that-goes-on-and-on",
        ] {
            assert!(!is_identifier(t), "{t:?} should keep only its length");
        }
    }
}
