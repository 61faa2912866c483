//! Which values the recorder keeps: the first of caro's two privacy walls.
//!
//! The decision is made per field, by name, once per callsite (when its
//! first record is written), so the hot path only tests a bit:
//!
//! - a field named like user data ([`DENY_LIST`], plus what the host adds
//!   with [`Config::deny_fields`](crate::Config::deny_fields), minus what it
//!   explicitly allows with [`Config::allow_fields`](crate::Config::allow_fields))
//!   keeps only the length of its value;
//! - a field the host opted in with
//!   [`Config::keep_text_fields`](crate::Config::keep_text_fields) keeps the
//!   text of its `Debug`/`Display` values, error chains and free text, cut to
//!   [`MAX_STR`](caro_format::value::MAX_STR) bytes, for the analyzer's
//!   scrubber;
//! - every other field keeps numbers, booleans, program text and run-time
//!   strings that are one word; free text and `Debug` values keep only their
//!   length. The message is kept only when it is the callsite's literal.

/// Field names whose values are never written, only their length: the
/// last dotted segment is compared, ignoring case.
pub const DENY_LIST: &[&str] = &[
    "query", "prompt", "input", "command", "cmd", "path", "file", "filename", "dir", "cwd", "home",
    "user", "username", "host", "hostname", "email", "ip", "addr", "url", "env", "token", "key",
    "secret", "password",
];

/// The last segment of a dotted field name: `request.query` → `query`.
fn last_segment(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn listed<S: AsRef<str>>(list: &[S], name: &str) -> bool {
    let last = last_segment(name);
    list.iter().any(|d| d.as_ref().eq_ignore_ascii_case(last))
}

/// Whether the default deny-list withholds the value of a field named
/// `name`.
pub fn denied(name: &str) -> bool {
    listed(DENY_LIST, name)
}

/// The host's changes to the default rules, by field name (the last dotted
/// segment, ignoring case).
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

/// Whether a run-time string may be kept as it is: one word, with no
/// whitespace or control character. Free text — a query, a command, a
/// sentence — is where user data hides and the analyzer cannot recognise
/// it; a word (an identifier, a name, a path, a token) it can.
#[inline]
pub fn is_word(s: &str) -> bool {
    if s.is_ascii() {
        !s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    } else {
        !s.chars().any(|c| c.is_whitespace() || c.is_control())
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
    fn deny_list_matches_the_last_segment_ignoring_case() {
        assert!(denied("query"));
        assert!(denied("request.Query"));
        assert!(!denied("API_KEY"));
        assert!(denied("auth.key"));
        assert!(!denied("query_length"));
        assert!(!denied("backend"));
    }

    #[test]
    fn hosts_extend_the_list_and_shrink_it_only_by_name() {
        let r = rules(&["account"], &["key"], &[]);
        assert!(r.withholds("billing.Account"));
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
    fn words_are_kept_free_text_is_not() {
        for w in ["embedded", "/home/ana/x", "ana@example.org", "", "Grüße"] {
            assert!(is_word(w), "{w}");
        }
        for t in [
            "rm -rf /",
            "find\tfiles",
            "a\nb",
            "non\u{a0}breaking",
            "bell\u{7}",
        ] {
            assert!(!is_word(t), "{t:?}");
        }
    }
}
