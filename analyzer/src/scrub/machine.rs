//! This machine's user and host names and its home folder: the
//! [`Context`] they are read from, and the matchers that find them.

use super::paths::path_end;
use super::{char_at, Found, Scrubber, PATH};

/// Who and where this machine is: what the scrubber replaces besides
/// patterns.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub user: Option<String>,
    pub home: Option<String>,
    pub host: Option<String>,
}

impl Context {
    /// This machine's: user from `$USER`, else `$LOGNAME` (`$USERNAME` on
    /// Windows), else the last component of the home folder; home from
    /// `$HOME` (`%USERPROFILE%`); host from `/proc/sys/kernel/hostname`,
    /// else `$HOSTNAME` (`%COMPUTERNAME%`). Empty values are `None`.
    pub fn from_env() -> Context {
        let var = |k: &str| std::env::var(k).ok().and_then(non_empty);
        let home = var("HOME").or_else(|| var("USERPROFILE"));
        let user = var("USER")
            .or_else(|| var("LOGNAME"))
            .or_else(|| var("USERNAME"))
            .or_else(|| {
                let home = home.as_deref()?.trim_end_matches(['/', '\\']);
                non_empty(home.rsplit(['/', '\\']).next()?.to_owned())
            });
        // Linux's file rather than a dependency; elsewhere the host name
        // is known only where the environment exports it.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .and_then(non_empty)
            .or_else(|| var("HOSTNAME"))
            .or_else(|| var("COMPUTERNAME"));
        Context { user, home, host }
    }
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl Scrubber {
    /// This machine's host or user name as a whole word at `i`.
    pub(super) fn name_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
        if prev.is_some_and(char::is_alphanumeric) {
            return None;
        }
        let b = s.as_bytes();
        self.names.iter().find_map(|n| {
            let end = i + n.lower.len();
            let t = b.get(i..end)?;
            let whole = t.eq_ignore_ascii_case(n.lower.as_bytes())
                && !char_at(s, end).is_some_and(char::is_alphanumeric);
            whole.then(|| Found::replace(i, end, n.placeholder))
        })
    }

    /// The home folder at `i`, anywhere, as long as a word does not go on
    /// after it (`/home/ana2` is another folder, caught as a path).
    pub(super) fn home_at(&self, s: &str, i: usize) -> Option<Found> {
        let home = self.home.as_deref()?;
        if !s
            .as_bytes()
            .get(i)?
            .eq_ignore_ascii_case(&home.as_bytes()[0])
        {
            return None;
        }
        let end = i + home.len();
        let t = s.as_bytes().get(i..end)?;
        let whole = t.eq_ignore_ascii_case(home.as_bytes())
            && !char_at(s, end).is_some_and(char::is_alphanumeric);
        if !whole {
            return None;
        }
        // What lies in the home folder goes with it.
        let end = match s.as_bytes().get(end) {
            Some(b'/' | b'\\') => path_end(s, end).0,
            _ => end,
        };
        Some(Found::replace(i, end, PATH))
    }

    /// Whether `t` mentions one of this machine's names or its home.
    pub(super) fn mentions_machine(&self, t: &str) -> bool {
        if self.names.is_empty() && self.home.is_none() {
            return false;
        }
        let mut prev = None;
        for (k, c) in t.char_indices() {
            if self.name_at(t, k, prev).is_some() || self.home_at(t, k).is_some() {
                return true;
            }
            prev = Some(c);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use crate::scrub::tests::{check, kept, zanzibar};
    use crate::scrub::{text, value, Context, FieldValue, Scrubber};

    #[test]
    fn this_machines_names_and_home_become_placeholders() {
        check(
            &zanzibar(),
            &[
                ("zanzibar", "<user>"),
                ("hello ZanZibar!", "hello <user>!"),
                ("zanzibar_cache", "<user>_cache"),
                ("zanzibar-laptop", "<host>"),
                ("zanzibar-laptop.local", "<host>.local"),
                ("ssh ZANZIBAR-LAPTOP:22", "ssh <host>:22"),
                ("/home/zanzibar", "<path>"),
                ("x/home/zanzibar/y z", "x<path> z"),
                ("cd /home/zanzibar/src/caro", "cd <path>"),
                ("https://github.com/zanzibar/caro", "<url>"),
            ],
        );
        kept(
            &zanzibar(),
            &["zanzibars", "xzanzibar", "zanzibar2", "command generated"],
        );
        // `/home/zanzibar2` is another folder, a path all the same.
        check(&zanzibar(), &[("at /home/zanzibar2", "at <path>")]);
    }

    #[test]
    fn short_generic_or_rooted_context_is_not_looked_for() {
        let s = Scrubber::new(Context {
            user: Some("al".into()),
            home: Some("/".into()),
            host: Some("localhost".into()),
        });
        kept(
            &s,
            &["al is here", "a/b", "http://localhost:11434", "localhost"],
        );
        let fqdn = Scrubber::new(Context {
            user: None,
            home: Some("C:\\Users\\Bob\\".into()),
            host: Some("build-07.corp.example".into()),
        });
        check(
            &fqdn,
            &[
                (
                    "on build-07 and build-07.corp.example",
                    "on <host> and <host>",
                ),
                (r"in c:\users\bob", "in <path>"),
                (r"dirC:\Users\Bob", "dir<path>"),
            ],
        );
    }

    #[test]
    fn this_machine_scrubs_its_own_home() {
        let context = Context::from_env();
        for v in [&context.user, &context.home, &context.host]
            .into_iter()
            .flatten()
        {
            assert!(!v.is_empty() && v.trim() == v);
        }
        if let Some(home) = context.home.filter(|h| h.len() > 3 && h.starts_with('/')) {
            assert_eq!(text(&format!("open {home} now")), "open <path> now");
        }
        assert_eq!(text("command generated"), "command generated");
        assert_eq!(value(FieldValue::U64(1)), FieldValue::U64(1));
    }
}
