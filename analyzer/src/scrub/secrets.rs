//! Secrets by their name: `NAME=value` assignments, secret-like and
//! session names, `Authorization` schemes, `Bearer` and `Basic`, and cookies.

use super::paths::path_root;
use super::tokens::{decodes_to_userpass, is_base64};
use super::{is_token, placeholder_len, run, starts_word, tokenish, Found, Scrubber, SECRET};

/// A `Bearer` token at least this long is a secret (shorter ones are words).
const MIN_BEARER: usize = 16;
/// A word of a name that ends with one of these makes the name
/// secret-like (`PGPASSWORD`, `access_token`, `clientSecret`, `oauth`):
/// the recorder's list of secret words, which withhold a field's value.
const SECRET_WORD_ENDS: &[&str] = caro_recorder::privacy::SECRET_WORDS;
/// So does a word that is one of these (`db_pass`, `api-key`), though
/// `key` alone names too many things (`{"key": "backend"}`, a cache's
/// `key=…`) to be secret-like without another word.
const SECRET_WORDS: &[&str] = &["pass", "key"];
/// A name that is only one of these generic words takes its value right
/// after the `=` or `:` (`token=x`), or quoted after spaces (`token:
/// "x"`), not otherwise (`unexpected token: ident`).
const BARE_SECRET_WORDS: &[&str] = &["token", "auth", "pass", "secret"];
/// A secret-like name whose last word is one of these describes the
/// secret rather than holds it (`token_count`, `password_file`, `key_id`).
const ABOUT_WORDS: &[&str] = &[
    "count", "counts", "len", "length", "size", "type", "kind", "id", "ids", "file", "path", "dir",
    "name", "names", "limit", "max", "min", "ttl", "expiry", "expires", "age", "hash", "format",
    "version", "present", "set", "enabled", "missing", "required", "valid", "status", "error",
    "source", "env", "var", "header", "field", "used", "usage",
];
/// Schemes of an `Authorization` value: the scheme stays, the credentials
/// after it go.
const AUTH_SCHEMES: &[&str] = &["basic", "bearer", "token", "digest", "negotiate", "ntlm"];

impl Scrubber {
    /// A `Cookie:` or `Set-Cookie:` header at `i` (in any case, maybe a
    /// quoted key: `"cookie": "…"`) and the `name=value` pairs after it,
    /// between `;`: each value becomes `<secret>`, but for those of the
    /// attributes of `Set-Cookie` that say nothing ([`COOKIE_ATTRIBUTES`]),
    /// which are scrubbed as any text is; the names stay, scrubbed too.
    pub(super) fn cookie_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
        if !starts_word(prev) {
            return None;
        }
        let b = s.as_bytes();
        let at = |k: usize, w: &[u8]| {
            b.get(k..k + w.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(w))
        };
        let set = at(i, b"set-");
        let mut j = i + if set { 4 } else { 0 };
        if !at(j, b"cookie") {
            return None;
        }
        j += 6;
        // A quoted key, escaped or not: `"cookie": "…"`, `\"cookie\": …`.
        if prev == Some('"') {
            j += quote_len(b, j);
        }
        if b.get(j) != Some(&b':') {
            return None;
        }
        j += 1;
        j += run(&b[j..], |c| c == b' ' || c == b'\t');
        j += quote_len(b, j);
        let start = j;
        let mut out = String::new();
        let mut copied = start;
        let mut first = true;
        loop {
            let name_end = j + run(&b[j..], is_cookie_name_byte);
            if name_end == j {
                break;
            }
            let name = &s[j..name_end];
            let before = (out.len(), copied);
            out.push_str(&s[copied..j]);
            out.push_str(&self.text(name));
            copied = name_end;
            j = name_end;
            if b.get(j) == Some(&b'=') {
                // A value may be quoted, and its quotes escaped.
                let q = quote_len(b, j + 1);
                let v = j + 1 + q;
                let attribute = set
                    && !first
                    && COOKIE_ATTRIBUTES
                        .iter()
                        .any(|a| name.eq_ignore_ascii_case(a));
                let n = if attribute && name.eq_ignore_ascii_case("expires") {
                    // A date, with a `,` and spaces: to the next `;`.
                    let n = s[v..].find([';', '\n', '"', '\\']).unwrap_or(s.len() - v);
                    s[v..v + n].trim_end().len()
                } else {
                    placeholder_len(b, v).unwrap_or_else(|| run(&b[v..], is_cookie_octet))
                };
                let value = &s[v..v + n];
                out.push_str(&s[copied..v]);
                if attribute || placeholder_len(b, v) == Some(n) {
                    out.push_str(&self.text(value));
                } else if n > 0 {
                    out.push_str(SECRET);
                }
                copied = v + n;
                j = v + n;
                if q > 0 && b[j..].starts_with(&b[v - q..v]) {
                    j += q;
                }
            }
            let flag = copied == name_end;
            first = false;
            j += run(&b[j..], |c| c == b' ' || c == b'\t');
            if b.get(j) != Some(&b';') {
                // A last word without a value (`Secure`) is one only
                // after a pair; else it may start a datum of its own.
                if flag {
                    out.truncate(before.0);
                    copied = before.1;
                }
                break;
            }
            j += 1;
            j += run(&b[j..], |c| c == b' ' || c == b'\t');
        }
        if copied == start {
            return None;
        }
        Some(if out == s[start..copied] {
            Found::keep(i, copied)
        } else {
            Found::rewrite(start, copied, out)
        })
    }
}

/// Attributes of `Set-Cookie` whose values say how, not whose: kept.
const COOKIE_ATTRIBUTES: &[&str] = &["path", "expires", "max-age", "samesite", "priority"];

/// Bytes of a cookie's name (RFC 6265's `token`, less quotes).
fn is_cookie_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&*+-.^_`|~".contains(&c)
}

/// Bytes of a cookie's value (RFC 6265's `cookie-octet`): no space, `"`,
/// `,`, `;` or `\`.
fn is_cookie_octet(c: u8) -> bool {
    c.is_ascii_graphic() && !matches!(c, b'"' | b',' | b';' | b'\\')
}

/// `NAME=value` (an environment assignment: upper case, digits and `_`),
/// or `NAME=value`, `NAME:value`, `NAME: value`, `"NAME": "value"` where
/// NAME is secret-like ([`secret_name`]): the value becomes `<secret>`,
/// the name, any quotes and an `Authorization` scheme stay.
pub(super) fn assignment_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let b = s.as_bytes();
    let key_end = i + run(&b[i..], |c| is_token(c) || c == b'.');
    let key = &b[i..key_end];
    let env = key.len() >= 2
        && !key[0].is_ascii_digit()
        && key[0] != b'-'
        && key
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    let mut j = key_end;
    if !matches!(b.get(j), Some(b'=' | b':' | b'"' | b'\\')) {
        return None;
    }
    let value = if env && b[j] == b'=' {
        j + 1
    } else {
        let spaced = secret_name(key)?;
        // A JSON key: `"token": "…"`, maybe escaped once or more, as
        // `Debug` writes JSON in a string (`\"token\": \"…\"`).
        let quoted = prev == Some('"') && quote_len(b, j) > 0;
        if quoted {
            j += quote_len(b, j);
        }
        // `SpanKey::from_id` is a path, not a value.
        if !matches!(b.get(j), Some(b'=' | b':')) || b[j..].starts_with(b"::") {
            return None;
        }
        j += 1;
        let spaces = run(&b[j..], |c| c == b' ' || c == b'\t');
        if spaces > 0 {
            // After spaces, a value starts as one does: not as a type
            // (`xToken: ::std::option::Option`, `pnToken: *mut i32`), and
            // after a bare word only quoted (`token: "x"`, not
            // `unexpected token: ident`).
            let quote = matches!(b.get(j + spaces), Some(b'"' | b'\''))
                || quote_len(b, j + spaces) > 0
                || b[j + spaces..].starts_with(b"Some(");
            let plain = b.get(j + spaces).is_some_and(|&c| {
                c.is_ascii_alphanumeric() || c >= 0x80 || b"+-_./~$%!#".contains(&c)
            });
            if !(quoted || quote || (spaced && plain)) {
                return None;
            }
            j += spaces;
        }
        // Debug's `Some("…")`: the value is inside.
        if b[j..].starts_with(b"Some(") {
            j += 5;
        }
        auth_scheme_end(b, j).unwrap_or(j)
    };
    let (start, mut end) = value_span(s, value)?;
    // Already scrubbed (`NAME=<secret>`): kept whole, key included, as
    // the first pass kept the key.
    if let Some(n) = placeholder_len(b, start) {
        return Some(Found::keep(i, start + n));
    }
    // A path is the path matcher's, which takes its spaced pieces too
    // (`Authorization: '/home/a/My Documents/x.pdf`, `KEY= —/home/a/My
    // Documents/x`): cut at the space, the rest would stay. What comes
    // before it in the value is still secret; so is what comes before
    // the path's placeholder, in a second pass.
    if let Some(p) = (start..end).find(|&p| {
        s.is_char_boundary(p)
            && starts_word(s[..p].chars().next_back())
            && (path_root(s, p).is_some() || placeholder_len(b, p).is_some())
    }) {
        if !s[start..p].bytes().any(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        end = p;
    }
    Some(Found::replace(start, end, SECRET))
}

/// Whether `key` is secret-like: its last part after any `.`, split at
/// `_`, `-` and where lower case turns upper (`apiKey`), one of its words ends with one of
/// [`SECRET_WORD_ENDS`] or is one of [`SECRET_WORDS`] (`key` only with
/// another word), and its last word is none of [`ABOUT_WORDS`]. If so,
/// whether an unquoted value may follow after spaces: not when the key is
/// one bare generic word ([`BARE_SECRET_WORDS`]).
fn secret_name(key: &[u8]) -> Option<bool> {
    // A dotted name is a path to its last part (`db.password`), or a host
    // (`auth.docker.io:443`).
    let key = key.rsplit(|&c| c == b'.').next().unwrap_or(key);
    if let Some(bare) = session_name(key) {
        return Some(!bare);
    }
    let mut words = 0;
    let mut secret: Option<&[u8]> = None;
    let mut last: &[u8] = &[];
    for_each_word(key, |w| {
        words += 1;
        last = w;
        let hit = SECRET_WORD_ENDS.iter().any(|e| ends_with_ignore_case(w, e))
            || SECRET_WORDS
                .iter()
                .any(|e| w.eq_ignore_ascii_case(e.as_bytes()));
        if hit {
            secret = Some(w);
        }
    });
    let secret = secret?;
    if ABOUT_WORDS
        .iter()
        .any(|a| last.eq_ignore_ascii_case(a.as_bytes()))
        || (words == 1 && secret.eq_ignore_ascii_case(b"key"))
    {
        return None;
    }
    let bare = words == 1
        && BARE_SECRET_WORDS
            .iter()
            .any(|w| secret.eq_ignore_ascii_case(w.as_bytes()));
    Some(!bare)
}

/// Whether `key` names a session's key, whose value lets anyone in as its
/// user: without its `_` and `-`, in any case, it is `session`, `sid`,
/// `sessionkey`, or ends with `sessionid` or `sessid` (`session_id`,
/// `PHPSESSID`, `JSESSIONID`, `ASP.NET_SessionId`; `connect.sid` by its
/// last part). If so, whether it is a bare generic word (`session`,
/// `sid`), whose value is taken only right after the `=` or `:` or
/// quoted, as [`BARE_SECRET_WORDS`] do.
fn session_name(key: &[u8]) -> Option<bool> {
    let mut squashed = [0u8; 32];
    let mut n = 0;
    for &c in key.iter().filter(|&&c| c != b'_' && c != b'-') {
        *squashed.get_mut(n)? = c.to_ascii_lowercase();
        n += 1;
    }
    let t = &squashed[..n];
    let bare = t == b"session" || t == b"sid";
    let session = bare || t == b"sessionkey" || t.ends_with(b"sessionid") || t.ends_with(b"sessid");
    session.then_some(bare)
}

/// Calls `f` with each word of a name: its parts between `_`, `-` and `.`,
/// split again where lower case turns upper.
fn for_each_word<'a>(key: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    for part in key.split(|&c| matches!(c, b'_' | b'-' | b'.')) {
        let mut start = 0;
        for k in 1..part.len() {
            if part[k - 1].is_ascii_lowercase() && part[k].is_ascii_uppercase() {
                f(&part[start..k]);
                start = k;
            }
        }
        if start < part.len() {
            f(&part[start..]);
        }
    }
}

fn ends_with_ignore_case(t: &[u8], end: &str) -> bool {
    t.len() >= end.len() && t[t.len() - end.len()..].eq_ignore_ascii_case(end.as_bytes())
}

/// Past `Basic `, `Bearer `… at `j`, when credentials follow.
fn auth_scheme_end(b: &[u8], j: usize) -> Option<usize> {
    let n = run(b.get(j..)?, |c| c.is_ascii_alphabetic());
    let scheme = &b[j..j + n];
    let known = AUTH_SCHEMES
        .iter()
        .any(|w| scheme.eq_ignore_ascii_case(w.as_bytes()));
    let then = b.get(j + n + 1).is_some_and(|c| !c.is_ascii_whitespace());
    (known && b.get(j + n) == Some(&b' ') && then).then_some(j + n + 1)
}

/// The length of the `"` at `j`, escaped by any number of `\` (`\"`,
/// `\\\"`), or 0.
fn quote_len(b: &[u8], j: usize) -> usize {
    let esc = run(b.get(j..).unwrap_or_default(), |c| c == b'\\');
    if b.get(j + esc) == Some(&b'"') {
        esc + 1
    } else {
        0
    }
}

/// The value at `j`: inside its quotes (on the same line; escaped quotes
/// too, `\"…\"`, up to the same escaped quote), else to the end of the
/// word less closing punctuation.
fn value_span(s: &str, j: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let q = quote_len(b, j);
    if q > 1 {
        let start = j + q;
        let close = &b[j..start];
        let line = b[start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |k| start + k);
        let end = b[start..line]
            .windows(close.len())
            .position(|w| w == close)
            .map_or_else(|| word_end(s, start), |k| start + k);
        return (end > start).then_some((start, end));
    }
    let (start, end) = match b.get(j) {
        Some(&q @ (b'"' | b'\'')) => {
            let line = b[j + 1..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |k| j + 1 + k);
            let end = b[j + 1..line]
                .iter()
                .position(|&c| c == q)
                .map_or_else(|| word_end(s, j + 1), |k| j + 1 + k);
            (j + 1, end)
        }
        _ => {
            let mut end = word_end(s, j);
            while end > j && b".,;:!?)]}\"'>".contains(&b[end - 1]) {
                end -= 1;
            }
            (j, end)
        }
    };
    (end > start).then_some((start, end))
}

fn word_end(s: &str, j: usize) -> usize {
    s[j..].find(char::is_whitespace).map_or(s.len(), |k| j + k)
}

/// `Bearer <token>` and `Basic <base64 of user:password>`: the token
/// becomes `<secret>`.
pub(super) fn bearer_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let b = s.as_bytes();
    let at = |word: &[u8]| {
        b.get(i..i + word.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(word))
    };
    if at(b"bearer ") {
        let start = i + 7;
        let n = run(&b[start..], |c| {
            c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)
        });
        (n >= MIN_BEARER && tokenish(&b[start..start + n]))
            .then(|| Found::replace(start, start + n, SECRET))
    } else if at(b"basic ") {
        let start = i + 6;
        let n = run(&b[start..], is_base64);
        let pad = run(&b[start + n..(start + n + 2).min(b.len())], |c| c == b'=');
        decodes_to_userpass(&b[start..start + n], true)
            .then(|| Found::replace(start, start + n + pad, SECRET))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::scrub::tests::{check, kept, plain, zanzibar};

    #[test]
    fn env_assignments_keep_their_name_and_lose_their_value() {
        check(
            &plain(),
            &[
                ("OPENAI_API_KEY=sk-abc", "OPENAI_API_KEY=<secret>"),
                (
                    "OPENAI_API_KEY=\"sk-abc def\" next",
                    "OPENAI_API_KEY=\"<secret>\" next",
                ),
                (
                    "export AWS_REGION='eu-west-1';",
                    "export AWS_REGION='<secret>';",
                ),
                (
                    "_X=1 RUST_LOG=info,caro=debug",
                    "_X=<secret> RUST_LOG=<secret>",
                ),
                ("PATH=/usr/bin:/bin", "PATH=<path>:<path>"),
                ("(HOME=/home/ana)", "(HOME=<path>)"),
                ("password=hunter2 ok", "password=<secret> ok"),
                ("db_password:'hunter2'", "db_password:'<secret>'"),
                ("{\"api_key\": \"abc def\"}", "{\"api_key\": \"<secret>\"}"),
                ("access_token=abc&x=1", "access_token=<secret>"),
                ("key=AKIAIOSFODNN7EXAMPLE", "key=<secret>"),
                (
                    "backend=embedded path=/tmp/x",
                    "backend=embedded path=<path>",
                ),
            ],
        );
        kept(
            &plain(),
            &[
                "backend=embedded",
                "rate=0.25",
                "x = 5",
                "A=1",
                "FOO=",
                "max_tokens=100",
                "unexpected token: ident",
                "FOO=<secret>",
                "password=<secret>",
            ],
        );
    }

    #[test]
    fn secret_like_names_keep_their_name_and_lose_their_value() {
        check(
            &plain(),
            &[
                ("PGPASSWORD:hunter2", "PGPASSWORD:<secret>"),
                ("db_pass=x", "db_pass=<secret>"),
                // A path as the value is a path, with its spaced pieces
                // (found by fuzz/fuzz_targets/scrubber.rs).
                (
                    "Authorization: \t'/home/a/My Documents/qztax.pdf! x",
                    "Authorization: \t'<path>! x",
                ),
                ("password=/home/a/My Documents/x.pdf", "password=<path>"),
                (
                    "OPENAI_APi_KEY= —/home/a/My Documents/qztax.pdf k",
                    "OPENAI_APi_KEY= —<path> k",
                ),
                (
                    "token=ab—/home/a/My Documents/x.pdf",
                    "token=<secret><path>",
                ),
                ("api-key: abc", "api-key: <secret>"),
                ("apiKey=abc,", "apiKey=<secret>,"),
                ("X-Api-Key: abc", "X-Api-Key: <secret>"),
                ("db.password=hunter2", "db.password=<secret>"),
                (
                    "spring.datasource.password: x",
                    "spring.datasource.password: <secret>",
                ),
                ("Password: hunter2", "Password: <secret>"),
                ("client_secret: 'abc'", "client_secret: '<secret>'"),
                ("mytoken=abc", "mytoken=<secret>"),
                ("oauth=abc", "oauth=<secret>"),
                ("auth=xyz", "auth=<secret>"),
                ("pwd=x", "pwd=<secret>"),
                ("Db_Pwd=x", "Db_Pwd=<secret>"),
                ("credentials: x", "credentials: <secret>"),
                ("token:abc", "token:<secret>"),
                ("token: \"abc def\"", "token: \"<secret>\""),
                (
                    "Request { token: Some(\"abc\") }",
                    "Request { token: Some(\"<secret>\") }",
                ),
                ("api_key: Some(abc)", "api_key: Some(<secret>)"),
                ("{\"secret\": \"abc\"}", "{\"secret\": \"<secret>\"}"),
                ("ssh_key=abc", "ssh_key=<secret>"),
                (
                    "Config { api_key: \"abc\" }",
                    "Config { api_key: \"<secret>\" }",
                ),
                (
                    "Authorization: Bearer abcDEF123ghiJKL456",
                    "Authorization: Bearer <secret>",
                ),
                ("Authorization: Token abc", "Authorization: Token <secret>"),
            ],
        );
        kept(
            &plain(),
            &[
                "unexpected token: ident",
                "key: value",
                "key=model-cache-7",
                "{\"key\": \"backend\", \"value\": 1}",
                "SpanKey::from_id(p)",
                "auth.docker.io:443",
                "oauth2.googleapis.com:443",
                "password.txt: 3 lines",
                "xToken: ::std::option::Option<i32>",
                "pnToken: *mut i32",
                "max_tokens=100",
                "token_count=12",
                "prompt_tokens: 12",
                "password_file=x",
                "key_id=7",
                "monkey=3",
                "hotkey=ctrl",
                "author=jane",
                "bypass=1",
                "keyboard=us",
                "api-key:",
                "api-key: <secret>",
                "Authorization: Basic <secret>",
            ],
        );
    }

    #[test]
    fn cookies_lose_their_values() {
        check(
            &zanzibar(),
            &[
                (
                    "Cookie: sessionid=k8Qz3Lm7Wx2Pv9Rt4Yb6Nc1D; csrftoken=Xy7Qw2Er9Ty4Ui6Op1As3Df",
                    "Cookie: sessionid=<secret>; csrftoken=<secret>",
                ),
                (
                    "cookie: theme=dark;lang=en",
                    "cookie: theme=<secret>;lang=<secret>",
                ),
                (
                    "Set-Cookie: SID=g.a000kQjT8Lm2Pw9Rt4Vn8Kc1Xb3Zq6; Path=/; Secure",
                    "Set-Cookie: SID=<secret>; Path=/; Secure",
                ),
                (
                    "Set-Cookie: id=a3fWa; Max-Age=3600; SameSite=Lax; Domain=ana.example",
                    "Set-Cookie: id=<secret>; Max-Age=3600; SameSite=Lax; Domain=<secret>",
                ),
                (
                    "Set-Cookie: id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly",
                    "Set-Cookie: id=<secret>; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly",
                ),
                (
                    "Set-Cookie: a=x; Expires=Wed, 21 Oct 2015 07:28:00 GMT ; b=y",
                    "Set-Cookie: a=<secret>; Expires=Wed, 21 Oct 2015 07:28:00 GMT ; b=<secret>",
                ),
                // The first pair of `Set-Cookie` is the cookie, whatever its name.
                ("Set-Cookie: path=x", "Set-Cookie: path=<secret>"),
                // What follows is scanned as any text.
                ("Cookie: ana@example.org", "Cookie: <email>"),
                (
                    "Set-Cookie: a=b; Secure zanzibar",
                    "Set-Cookie: a=<secret>; Secure <user>",
                ),
                (
                    "Cookie: a=b; ana@example.org",
                    "Cookie: a=<secret>; <email>",
                ),
                ("Cookie: zanzibar=1", "Cookie: <user>=<secret>"),
                (
                    "{\"cookie\": \"a=b; zanzibar_pref=dark\"}",
                    "{\"cookie\": \"a=<secret>; <user>_pref=<secret>\"}",
                ),
                (
                    "headers: {\"cookie\": \"a=\\\"x\\\"\"}",
                    "headers: {\"cookie\": \"a=\\\"<secret>\\\"\"}",
                ),
                // Session names are secret-like anywhere.
                ("sessionid=abc", "sessionid=<secret>"),
                ("session_id: abc", "session_id: <secret>"),
                ("sessionId=abc,", "sessionId=<secret>,"),
                ("PHPSESSID=x", "PHPSESSID=<secret>"),
                ("JSESSIONID=y", "JSESSIONID=<secret>"),
                ("ASP.NET_SessionId=y", "ASP.NET_SessionId=<secret>"),
                ("connect.sid=z", "connect.sid=<secret>"),
                ("sid=q", "sid=<secret>"),
                ("session=w", "session=<secret>"),
                ("session: \"w\"", "session: \"<secret>\""),
                ("session_key=w", "session_key=<secret>"),
                ("auth_token=w", "auth_token=<secret>"),
            ],
        );
        kept(
            &plain(),
            &[
                "cookie: jar",
                "missing Cookie: header",
                "cookies=3",
                "Set-Cookie: Secure",
                "Set-Cookie: Secure; HttpOnly",
                "Cookie: a=<secret>; b=<secret>",
                "session: started",
                "session started",
                "session_count=3",
                "session_timeout=30",
                "sessionid_len=3",
                "sessions=4",
                "side=left",
                "consider=x",
                "sid",
            ],
        );
    }
}
