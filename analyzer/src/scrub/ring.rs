//! A ring as every command sees it: read and decoded by [`crate::read`],
//! then its dictionary, all the program text its records name, scrubbed
//! once ([`dictionary`]).

use std::borrow::Cow;
use std::path::Path;

use caro_format::Dictionary;

use crate::error::Result;
use crate::read::{self, Ring};

/// Reads, decodes and scrubs the ring at `path` ([`read::load`], then
/// [`dictionary`]).
pub fn load(path: &Path) -> Result<Ring> {
    let mut ring = read::load(path)?;
    dictionary(&mut ring.decoded.dictionary);
    Ok(ring)
}

/// Scrubs the program text of a ring in place: every string of its
/// dictionary — callsite names (span names), targets, source files, field
/// names and message literals, and the STRING entries that values refer
/// to. Program text is the same for every user, but a host may still
/// write `target: "ana@example.org"` or name a span after a path.
///
/// Every ring the analyzer reads goes through this once, right after it
/// is decoded ([`load`], and the ingest's own read), so that each
/// dictionary string is scrubbed once per read however many records name
/// it, and every command that prints or stores program text (logs,
/// traces, the report, every export, metrics.db) gets it scrubbed.
pub fn dictionary(dict: &mut Dictionary) {
    fn clean(s: &mut String) {
        let scrubbed = match super::text(s) {
            Cow::Owned(t) => Some(t),
            Cow::Borrowed(_) => None,
        };
        if let Some(t) = scrubbed {
            *s = t;
        }
    }
    for c in dict.callsites.values_mut() {
        clean(&mut c.name);
        clean(&mut c.target);
        clean(&mut c.file);
        c.fields.iter_mut().for_each(clean);
        clean(&mut c.message);
    }
    dict.strings.values_mut().for_each(clean);
    dict.messages.values_mut().for_each(clean);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_text_is_scrubbed_once_where_the_ring_is_read() {
        use caro_format::{Callsite, CallsiteKind, Level};
        let mail = "ana.smith@example.org";
        let mut dict = Dictionary::default();
        dict.callsites.insert(
            1,
            Callsite {
                level: Level::Info,
                kind: CallsiteKind::Span,
                name: format!("mail {mail}"),
                target: mail.to_owned(),
                file: format!("src/{mail}.rs"),
                line: 3,
                fields: vec!["backend".to_owned(), mail.to_owned()],
                message: format!("sent to {mail}"),
            },
        );
        dict.messages.insert(1, format!("sent to {mail}"));
        dict.strings.insert(2, format!("owner {mail}"));
        dict.strings.insert(3, "embedded".to_owned());
        dictionary(&mut dict);
        let c = &dict.callsites[&1];
        assert_eq!(
            (c.name.as_str(), c.target.as_str(), c.file.as_str()),
            ("mail <email>", "<email>", "src/<email>")
        );
        assert_eq!(c.fields, ["backend", "<email>"]);
        assert_eq!(c.message, "sent to <email>");
        assert_eq!(dict.messages[&1], "sent to <email>");
        assert_eq!(dict.strings[&2], "owner <email>");
        assert_eq!(dict.strings[&3], "embedded");
    }
}
