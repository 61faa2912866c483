//! The scrubber every string passes through before it is stored: the
//! second wall behind the recorder's, for values a host recorded that it
//! should not have.
//!
//! Today it withholds the values of fields named like user data (the
//! recorder's deny-list, matched on the last segment of dotted names) and
//! replaces e-mail addresses and absolute or home-relative paths inside
//! text with typed placeholders. The privacy work makes it thorough.

use std::borrow::Cow;

use crate::event::FieldValue;

/// The value of field `name`, scrubbed.
pub fn field(name: &str, value: FieldValue) -> FieldValue {
    match value {
        FieldValue::Str(s) if caro_recorder::denied(name) => {
            // The recorder already withholds these; a placeholder it wrote
            // (`<redacted 5 bytes>`) is kept as it is.
            if s.starts_with("<redacted") {
                FieldValue::Str(s)
            } else {
                FieldValue::Str(format!("<redacted {} bytes>", s.len()))
            }
        }
        other => self::value(other),
    }
}

/// `value`, its text scrubbed (see [`text`]).
pub fn value(value: FieldValue) -> FieldValue {
    match value {
        FieldValue::Str(s) => match text(&s) {
            Cow::Borrowed(_) => FieldValue::Str(s),
            Cow::Owned(t) => FieldValue::Str(t),
        },
        other => other,
    }
}

/// `s` with every e-mail address and path replaced by `<email>` and
/// `<path>`.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.split_whitespace().any(|w| placeholder(w).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let start = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        out.push_str(placeholder(word).unwrap_or(word));
        rest = &rest[end..];
    }
    Cow::Owned(out)
}

fn placeholder(word: &str) -> Option<&'static str> {
    let w = word.trim_matches(|c: char| "\"'`()[]{}<>,;".contains(c));
    let is_path = (w.starts_with('/') && w.len() > 1) || w.starts_with("~/");
    let is_email = w
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
    if is_path {
        Some("<path>")
    } else if is_email {
        Some("<email>")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> FieldValue {
        FieldValue::Str(v.to_owned())
    }

    #[test]
    fn deny_listed_fields_keep_only_their_length() {
        assert_eq!(
            field("query", s("find my tax files")),
            s("<redacted 17 bytes>")
        );
        assert_eq!(field("http.URL", s("https://x")), s("<redacted 9 bytes>"));
        assert_eq!(
            field("path", s("<redacted 4 bytes>")),
            s("<redacted 4 bytes>")
        );
        assert_eq!(
            field("query_length", FieldValue::U64(17)),
            FieldValue::U64(17)
        );
    }

    #[test]
    fn paths_and_addresses_in_text_become_placeholders() {
        assert_eq!(
            text("cannot open /home/ana/notes.txt, ask ana@example.org"),
            "cannot open <path> ask <email>"
        );
        assert_eq!(text("see ~/x\tnow"), "see <path>\tnow");
        for kept in [
            "embedded",
            "file_search",
            "BackendTimeout",
            "a / b",
            "@here",
        ] {
            assert!(matches!(text(kept), Cow::Borrowed(_)), "{kept}");
        }
    }
}
