//! Paths: absolute, home-relative and Windows ones, encoded, escaped or
//! written with look-alike separators, and the web API routes that stay.

use super::{char_at, is_token, run, scheme_len, segment_is_datum, starts_word, Found, PATH};

/// Look-alikes of `/`: fullwidth solidus, division slash, fraction slash,
/// big solidus.
const WIDE_SLASHES: [char; 4] = ['\u{ff0f}', '\u{2215}', '\u{2044}', '\u{29f8}'];
/// Look-alikes of `\`: fullwidth reverse solidus, big reverse solidus,
/// set minus, small reverse solidus.
const WIDE_BACKSLASHES: [char; 4] = ['\u{ff3c}', '\u{29f9}', '\u{2216}', '\u{fe68}'];
/// Look-alikes of `:` after a drive letter: fullwidth colon, ratio,
/// modifier letter colon, small and presentation-form colons.
const WIDE_COLONS: [char; 5] = ['\u{ff1a}', '\u{2236}', '\u{a789}', '\u{fe55}', '\u{fe13}'];

/// An absolute or home-relative path at `i`, with the spaced pieces of its
/// name that follow (`/home/ana/My Documents/tax.pdf`).
pub(super) fn path_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let (name, needs_name) = path_root(s, i)?;
    let (mut end, mut open) = path_end(s, name);
    if needs_name && end == name {
        return None;
    }
    // A name with spaces goes on while the next piece has a separator of
    // its own, or ends it as `name.ext` (`tax 2025.pdf`).
    while open {
        let next = end + 1;
        if path_root(s, next).is_some() || scheme_len(s.as_bytes(), next).is_some() {
            break; // a datum of its own
        }
        let (piece_end, piece_open) = path_end(s, next);
        let Some(piece) = s.get(next..piece_end).filter(|p| !p.is_empty()) else {
            break;
        };
        if has_sep(piece) {
            (end, open) = (piece_end, piece_open);
            continue;
        }
        let last = s[i..end].rsplit(is_sep_char).next().unwrap_or_default();
        if !last.is_empty() && !last.contains('.') && is_file_name(piece) {
            end = piece_end;
        }
        break;
    }
    Some(Found::replace(i, end, PATH))
}

/// Whether the absolute path `t` is a web API's route rather than a file's
/// (`/api/show`, `/v1/chat/completions`, `/healthz`): its first segment is
/// one of [`API_ROOTS`] or `v1` to `v9`, and every segment is lower-case
/// letters, digits, `_` and `-`, without a dot (no file name) and no datum
/// (a key, or a long mix of letters and digits, an id).
pub(super) fn api_route(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('/') else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let first = rest.split('/').next().unwrap_or_default().as_bytes();
    let version = first.len() == 2 && first[0] == b'v' && matches!(first[1], b'1'..=b'9');
    (version || API_ROOTS.iter().any(|r| r.as_bytes() == first))
        && rest.split('/').all(|seg| {
            let b = seg.as_bytes();
            let letters = b.iter().any(u8::is_ascii_lowercase);
            let digits = b.iter().any(u8::is_ascii_digit);
            let id = letters && digits && b.len() >= 16;
            !b.is_empty()
                && b.iter().all(|&c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
                })
                && !id
                && !segment_is_datum(seg)
        })
}

/// The first segments of web APIs' routes ([`api_route`]).
const API_ROOTS: &[&str] = &[
    "api", "healthz", "health", "livez", "readyz", "metrics", "status", "graphql", "oauth",
    "openapi",
];

/// Where the name of a path rooted at `i` starts, and whether it needs
/// one (`/` alone is no path, `~/` is). Any separator may be encoded or a
/// look-alike ([`sep_at`]): `%2Fhome`, `／home`, `C%3A%5CUsers`.
pub(super) fn path_root(s: &str, i: usize) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    let sep = |k: usize| sep_at(b, k);
    if let Some((n, back)) = sep(i) {
        if !back {
            return sep(i + n).is_none().then_some((i + n, true));
        }
        // `\/home\/ana`: `/` escaped, as some JSON writers do.
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'/') {
            return sep(i + 2).is_none().then_some((i + 2, true));
        }
        // `\\server\share`: a Windows network path, its `\` maybe doubled
        // by escaping (`\\\\server\\share`, as `Debug` writes it); one
        // `\` is no root.
        let (name, count) = backslashes(b, i);
        return (count >= 2 && sep(name).is_none()).then_some((name, true));
    }
    let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
    match at(0) {
        b'~' => {
            if let Some((n, _)) = sep(i + 1) {
                return Some((i + 1 + n, false));
            }
            if !(at(1).is_ascii_alphabetic() || at(1) == b'_') {
                return None;
            }
            // `~ana/x` or `~ana`, a user's home; not `~5ms`.
            let n = 1 + run(&b[i + 1..], |c| is_token(c) || c == b'.');
            let ends = char_at(s, i + n).is_none_or(ends_path) || sep(i + n).is_some();
            ends.then_some((i + 1, true))
        }
        c if c.is_ascii_alphabetic() => {
            // `C:\`, `C:/`, `C%3A%5C`, `C：＼`; `C:\\` as `Debug` escapes it.
            let colon = match b.get(i + 1..i + 4) {
                _ if at(1) == b':' => 1,
                Some(t) if t.eq_ignore_ascii_case(b"%3a") => 3,
                _ => match char_at(s, i + 1) {
                    Some(c) if WIDE_COLONS.contains(&c) => c.len_utf8(),
                    _ => return None,
                },
            };
            let (n, back) = sep(i + 1 + colon)?;
            let name = if back {
                backslashes(b, i + 1 + colon).0
            } else {
                i + 1 + colon + n
            };
            sep(name).is_none().then_some((name, true))
        }
        _ => None,
    }
}

/// The separator at `i`, if any: its length and whether it is a
/// backslash. `/` and `\`, their look-alikes ([`WIDE_SLASHES`],
/// [`WIDE_BACKSLASHES`]), and both percent-encoded (`%2F`, `%5c`), once or
/// twice (`%252F`).
pub(super) fn sep_at(b: &[u8], i: usize) -> Option<(usize, bool)> {
    match *b.get(i)? {
        b'/' => Some((1, false)),
        b'\\' => Some((1, true)),
        b'%' => {
            let hex = |k: usize, h: &[u8]| {
                b.get(i + k..i + k + 2)
                    .is_some_and(|t| t.eq_ignore_ascii_case(h))
            };
            let k = if hex(1, b"25") && (hex(3, b"2f") || hex(3, b"5c")) {
                3
            } else {
                1
            };
            if hex(k, b"2f") {
                Some((k + 2, false))
            } else if hex(k, b"5c") {
                Some((k + 2, true))
            } else {
                None
            }
        }
        0xE2 | 0xEF => {
            let c = std::str::from_utf8(b.get(i..i + 3)?).ok()?.chars().next()?;
            if WIDE_SLASHES.contains(&c) {
                Some((3, false))
            } else if WIDE_BACKSLASHES.contains(&c) {
                Some((3, true))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Where the run of backslashes (any of [`sep_at`]'s) at `i` ends, and
/// how many it holds.
fn backslashes(b: &[u8], i: usize) -> (usize, usize) {
    let (mut k, mut count) = (i, 0);
    while let Some((n, true)) = sep_at(b, k) {
        k += n;
        count += 1;
    }
    (k, count)
}

pub(super) fn is_wide_sep(c: char) -> bool {
    WIDE_SLASHES.contains(&c) || WIDE_BACKSLASHES.contains(&c)
}

fn is_sep_char(c: char) -> bool {
    c == '/' || c == '\\' || is_wide_sep(c)
}

/// Whether `t` holds a separator of any kind.
fn has_sep(t: &str) -> bool {
    (0..t.len()).any(|k| sep_at(t.as_bytes(), k).is_some())
}

/// Where a path's name that starts at `from` ends (at whitespace or
/// closing punctuation, less a sentence's final `.`), and whether it ends
/// at one space, where a name with spaces may go on.
pub(super) fn path_end(s: &str, from: usize) -> (usize, bool) {
    let Some(tail) = s.get(from..) else {
        return (from, false);
    };
    let mut depth = 0u32;
    let mut end = s.len();
    for (k, c) in tail.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' if depth > 0 => depth -= 1,
            c if ends_path(c) || c == ')' || c == ']' => {
                end = from + k;
                break;
            }
            _ => {}
        }
    }
    let stop = end;
    while end > from && matches!(s.as_bytes()[end - 1], b'.' | b'!' | b'?') {
        end -= 1;
    }
    let open = end == stop && s.as_bytes().get(end) == Some(&b' ');
    (end, open)
}

fn ends_path(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_whitespace() || b"\"'`<>,;|:}".contains(&(c as u8))
    } else {
        c.is_whitespace() || WIDE_CLOSERS.contains(&c)
    }
}

/// Closing punctuation of other scripts, which ends a path too.
const WIDE_CLOSERS: [char; 8] = ['»', '”', '」', '』', '）', '，', '。', '、'];

/// `name.ext`: a file name that ends a path with a space in it.
fn is_file_name(piece: &str) -> bool {
    piece.rsplit_once('.').is_some_and(|(name, ext)| {
        name.chars().count() >= 2
            && !name.contains('@')
            && (1..=5).contains(&ext.len())
            && ext.bytes().all(|c| c.is_ascii_alphanumeric())
            && ext.bytes().any(|c| c.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use crate::scrub::tests::{check, kept, plain, zanzibar};

    #[test]
    fn unix_and_windows_paths_become_path() {
        check(
            &plain(),
            &[
                ("/home/alice/notes.txt", "<path>"),
                ("cannot read /etc/passwd.", "cannot read <path>."),
                ("see ~/x\tnow", "see <path>\tnow"),
                ("~alice/x and ~bob", "<path> and <path>"),
                (r"C:\Users\bob\file.txt", "<path>"),
                ("C:/Users/bob", "<path>"),
                (r"\\server\share\dir", "<path>"),
                ("--config=/home/a/b", "--config=<path>"),
                ("open(/tmp/x)", "open(<path>)"),
                ("\"path:/etc/x\"", "\"path:<path>\""),
                ("PATH is /usr/bin:/bin;", "PATH is <path>:<path>;"),
                ("2>/dev/null", "2><path>"),
                ("[/tmp/a, /tmp/b]", "[<path>, <path>]"),
                ("«/home/anne/x»", "«<path>»"),
                ("/tmp/file(1).txt done", "<path> done"),
                ("#!/bin/sh", "#!<path>"),
            ],
        );
    }

    #[test]
    fn paths_with_spaces_take_their_whole_name() {
        check(
            &plain(),
            &[
                ("/home/alice/My Documents/tax.pdf done", "<path> done"),
                (r"C:\Users\Alice Smith\x.txt", "<path>"),
                (r"open C:\Users\Alice Smith\x.txt now", "open <path> now"),
                ("\"/home/a/My Documents/x\" ok", "\"<path>\" ok"),
                ("/home/a/tax 2025.pdf: read", "<path>: read"),
                // Two paths stay two; a piece without a separator ends it.
                ("cp /tmp/a /tmp/b", "cp <path> <path>"),
                ("/tmp/x a / b", "<path> a / b"),
                ("/tmp/x, src/y", "<path>, src/y"),
                ("/tmp/x.txt report.pdf", "<path> report.pdf"),
                ("/tmp/x v1.2 e.g. ok", "<path> v1.2 e.g. ok"),
            ],
        );
    }

    #[test]
    fn relative_paths_fractions_and_rust_paths_stay() {
        kept(
            &plain(),
            &[
                "/",
                "a / b",
                "HTTP/1.1",
                "caro/0.1",
                "1/2",
                "km/h",
                "src/main.rs",
                "./src/main.rs",
                "../x",
                "caro::agent",
                "std::io::Error",
                "$HOME/.config",
                "// comment",
                "~",
                "~5ms",
                "and/or",
            ],
        );
    }

    #[test]
    fn encoded_and_look_alike_paths_become_path() {
        check(
            &zanzibar(),
            &[
                ("%2Fhome%2Fzanzibar%2Fnotes.txt", "<path>"),
                ("open %2fhome%2fbob%2fx now", "open <path> now"),
                ("%2FUsers%2Fana%2FDesktop", "<path>"),
                ("file=%2FUsers%2Fana,", "file=<path>,"),
                ("C%3A%5CUsers%5Cbob", "<path>"),
                ("%252Fhome%252Fbob", "<path>"),
                ("~%2Fnotes", "<path>"),
                ("／home／bob／notes.txt", "<path>"),
                ("see ＼＼server＼share.", "see <path>."),
                ("∕home∕bob", "<path>"),
                ("⁄home⁄bob", "<path>"),
                ("⧸home⧸bob", "<path>"),
                ("C:＼Users＼bob", "<path>"),
                ("~／notes", "<path>"),
                ("«／etc／passwd»", "«<path>»"),
                ("/home/bob／tax 2025.pdf: x", "<path>: x"),
            ],
        );
        kept(
            &plain(),
            &[
                "50%",
                "100% done",
                "a%2Fb",
                "%20",
                "1⁄2",
                "and／or",
                "a ∕ b",
                "A ∖ B",
                "— fine…",
                "＼",
            ],
        );
    }

    #[test]
    fn windows_paths_with_look_alike_colons_become_path() {
        check(
            &zanzibar(),
            &[
                ("C：＼Users＼zanzibar＼tax-return.pdf", "<path>"),
                ("open C：＼Users＼Ana＼x.pdf now", "open <path> now"),
                ("D∶∖data∖x", "<path>"),
                ("C꞉＼Users＼ana", "<path>"),
                ("C：/Users/ana", "<path>"),
                ("C﹕＼x＼y", "<path>"),
            ],
        );
        kept(
            &plain(),
            &["C：很好", "比例 1∶2", "A：B", "C：＼", "注意：请看"],
        );
    }

    #[test]
    fn web_api_routes_stay_and_file_paths_do_not() {
        kept(
            &zanzibar(),
            &[
                "could not determine served context length via /api/show",
                "POST /api/generate",
                "POST /api/generate 200",
                "/v1/chat/completions",
                "/healthz",
                "/metrics",
                "/healthz and /metrics.",
                "GET /api/tags: 404",
                "route=/api/generate",
                "/graphql",
                "/oauth/token",
                "/api/",
                "/api/v2/items/12345",
            ],
        );
        check(
            &zanzibar(),
            &[
                ("/srv/clients/acme-divorce/notes.md", "<path>"),
                ("/home/x", "<path>"),
                ("/api/users/zanzibar.json", "<path>"),
                ("/api/users/zanzibar", "<path>"),
                ("/metrics/ZANZIBAR-LAPTOP", "<path>"),
                ("/Users/Ana/x", "<path>"),
                ("/tmp/zanzibar-notes", "<path>"),
                ("/API/x", "<path>"),
                ("/api/Ana", "<path>"),
                ("/v10/x", "<path>"),
                ("/api/keys/sk-abc123def456ghi", "<path>"),
                ("/api/session/k8qz3lm7wx2pv9rt4yb6nc1d", "<path>"),
                ("/api/pay/de89370400440532013000", "<path>"),
                ("%2Fapi%2Fshow", "<path>"),
                ("／api／show", "<path>"),
                ("/api/x notes.pdf", "<path>"),
            ],
        );
    }
}
