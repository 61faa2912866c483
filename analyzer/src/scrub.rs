//! The privacy scrubber: every string on its way into the store, its log
//! file, crash snapshots, reports and exports passes through [`text`], the
//! second wall behind the recorder's.
//!
//! It replaces each personal datum inside free text with a typed
//! placeholder:
//!
//! | datum | becomes |
//! |---|---|
//! | absolute and home-relative paths, Unix and Windows (`/etc/x`, `~/x`, `~ana/x`, `C:\Users\x`, `\\server\share`), with the spaced pieces of their names; this machine's home folder anywhere | `<path>` |
//! | URLs with credentials, a query, a fragment, an `@`, an IP host, a secret or one of this machine's names; `file:` URLs | `<url>` |
//! | e-mail addresses | `<email>` |
//! | IPv4 addresses (with a port or prefix length) and IPv6 addresses | `<ip>` |
//! | this machine's user name (3 characters or more) and host name, as whole words, ignoring ASCII case | `<user>`, `<host>` |
//! | API keys (provider prefixes, JWTs), long hex and random-looking base64 runs, `Bearer` tokens, the values of `NAME=value` environment assignments and of `password=`, `token:`, `"api_key": "…"` | `<secret>` |
//!
//! What deliberately stays: identifiers (`BackendTimeout`, `caro::agent`),
//! numbers, times and versions, relative paths (`src/main.rs`), `HTTP/1.1`,
//! plain URLs (`https://api.openai.com/v1`) and lower-case `key=value`
//! pairs whose value is no datum: they say what caro did, not who used it.
//! Punctuation and whitespace around a datum are kept, and placeholders
//! already there are left alone, so scrubbing twice changes nothing.
//!
//! Most strings are identifiers and short messages: one pass over their
//! bytes shows that nothing can match, and they come back borrowed, without
//! an allocation. The rest is scanned left to right, word by word, trying
//! at each word start one small matcher per kind of datum (and scanned
//! again in the rare case a placeholder made a datum of its neighbour).

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::event::FieldValue;

const PATH: &str = "<path>";
const EMAIL: &str = "<email>";
const IP: &str = "<ip>";
const USER: &str = "<user>";
const HOST: &str = "<host>";
const SECRET: &str = "<secret>";
const URL: &str = "<url>";

/// Provider prefixes of API keys (`sk-` covers `sk-proj-` and `sk-ant-`).
/// At least [`MIN_KEY_TAIL`] token characters must follow.
const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "pk_live_",
    "pk_test_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "AKIA",
    "ASIA",
    "AIza",
    "hf_",
    "npm_",
    "pypi-",
    "SG.",
];
/// Token characters a prefixed key needs after its prefix.
const MIN_KEY_TAIL: usize = 8;
/// The shortest run that can be a key: the shortest prefix and its tail.
const MIN_KEY: usize = 3 + MIN_KEY_TAIL;
/// Hex and base64 runs at least this long may be secrets.
const MIN_RANDOM_RUN: usize = 32;
/// Passes after the first that [`Scrubber::text`] makes at most; one is
/// almost always enough.
const MAX_PASSES: usize = 4;
/// A `Bearer` token at least this long is a secret (shorter ones are words).
const MIN_BEARER: usize = 16;
/// Lower-case keys whose value is a secret, matched on the key's end
/// (`access_token`, `client_secret`, `db_password`).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "credentials",
];

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

/// The scrubber: a pure function of its context and its input.
#[derive(Clone, Debug)]
pub struct Scrubber {
    /// The host and user names, longest first (the host often contains
    /// the user), ASCII-lower-cased.
    names: Vec<Name>,
    /// The home folder without its trailing separator.
    home: Option<String>,
    /// What the fast path makes of each byte: [`TRIGGER`], [`RUN`],
    /// [`NAME_START`], [`DOT`].
    bytes: [u8; 256],
}

/// A byte that only a datum's text holds (`/ \ ~ @ : =`).
const TRIGGER: u8 = 1;
/// A byte of the runs that keys, addresses and random runs are made of.
const RUN: u8 = 2;
/// The first byte of one of the names, in either case.
const NAME_START: u8 = 4;
/// `.`, counted in runs (IPv4).
const DOT: u8 = 8;

/// A name looked for as a whole word, and what replaces it.
#[derive(Clone, Debug)]
struct Name {
    lower: String,
    placeholder: &'static str,
}

impl Scrubber {
    /// A scrubber for `context`. Names shorter than 3 characters are not
    /// looked for (they are parts of words), nor a host named `localhost`,
    /// nor a home that is a root (`/`).
    pub fn new(context: Context) -> Scrubber {
        let usable = |n: &str| n.chars().count() >= 3;
        let mut names = Vec::new();
        let mut add = |n: &str, placeholder| {
            if usable(n) && !names.iter().any(|m: &Name| m.lower.eq_ignore_ascii_case(n)) {
                names.push(Name {
                    lower: n.to_ascii_lowercase(),
                    placeholder,
                });
            }
        };
        if let Some(host) = context
            .host
            .as_deref()
            .map(|h| h.trim().trim_end_matches('.'))
        {
            if !host.eq_ignore_ascii_case("localhost") {
                add(host, HOST);
                // `alice-laptop.local` is known as `alice-laptop` too.
                if let Some((first, _)) = host.split_once('.') {
                    add(first, HOST);
                }
            }
        }
        if let Some(user) = context.user.as_deref() {
            add(user.trim(), USER);
        }
        names.sort_by_key(|n| std::cmp::Reverse(n.lower.len()));
        let home = context
            .home
            .as_deref()
            .map(|h| h.trim().trim_end_matches(['/', '\\']))
            .filter(|h| h.len() >= 3 && h.contains(['/', '\\']))
            .map(str::to_owned);
        let mut bytes = [0; 256];
        for (c, class) in bytes.iter_mut().enumerate() {
            let c = c as u8;
            if matches!(c, b'/' | b'\\' | b'~' | b'@' | b':' | b'=') {
                *class |= TRIGGER;
            }
            if is_run_byte(c) {
                *class |= RUN;
            }
            if c == b'.' {
                *class |= DOT;
            }
        }
        for n in &names {
            let first = n.lower.as_bytes()[0];
            bytes[usize::from(first)] |= NAME_START;
            bytes[usize::from(first.to_ascii_uppercase())] |= NAME_START;
        }
        Scrubber { names, home, bytes }
    }

    /// `s` with every personal datum replaced by its typed placeholder;
    /// borrowed when nothing changed.
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.may_contain_datum(s.as_bytes(), 0, s.len()) {
            return Cow::Borrowed(s);
        }
        let Cow::Owned(mut out) = self.scan(s) else {
            return Cow::Borrowed(s);
        };
        // A placeholder can make a datum of what was next to it (a random
        // run that a path made look like words, say): scan again until
        // nothing changes, so that scrubbing twice changes nothing.
        for _ in 0..MAX_PASSES {
            match self.scan(&out) {
                Cow::Owned(again) if again != out => out = again,
                _ => break,
            }
        }
        Cow::Owned(out)
    }

    /// One pass: each datum, found left to right, replaced.
    fn scan<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let b = s.as_bytes();
        let mut out = Out {
            src: s,
            buf: None,
            copied: 0,
        };
        let mut i = 0;
        let mut prev = None;
        while let Some(c) = char_at(s, i) {
            // A word that cannot hold a datum is passed whole.
            if prev.is_none_or(|p: char| p.is_ascii_whitespace()) && !c.is_ascii_whitespace() {
                let end = b[i..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .map_or(b.len(), |k| i + k);
                if !self.may_contain_datum(b, i, end) {
                    prev = s[..end].chars().next_back();
                    i = end;
                    continue;
                }
            }
            match self.datum_at(s, i, prev) {
                Some(f) if f.end > i => {
                    prev = match f.with {
                        Some(with) => {
                            out.replace(f.start, f.end, with);
                            // What follows is judged next to the
                            // placeholder, as a second pass would see it.
                            Some('>')
                        }
                        None => s.get(..f.end).and_then(|t| t.chars().next_back()),
                    };
                    i = f.end;
                }
                _ => {
                    prev = Some(c);
                    i += c.len_utf8();
                    // Inside a word only the home folder can start: pass
                    // the word's other letters and digits at once.
                    if c.is_ascii_alphanumeric() {
                        while let Some(&d) = b.get(i) {
                            if !d.is_ascii_alphanumeric() || self.home_may_start(d) {
                                break;
                            }
                            prev = Some(char::from(d));
                            i += 1;
                        }
                    }
                }
            }
        }
        out.finish()
    }

    /// `v` with its text ([`FieldValue::Str`]) scrubbed; numbers and
    /// booleans pass.
    pub fn value(&self, v: FieldValue) -> FieldValue {
        match v {
            FieldValue::Str(s) => match self.text(&s) {
                Cow::Borrowed(_) => FieldValue::Str(s),
                Cow::Owned(t) => FieldValue::Str(t),
            },
            other => other,
        }
    }

    /// Whether `b[from..to]` may hold a datum: false for most identifiers and
    /// messages, decided in one pass without allocating. Every matcher
    /// needs one of these: a trigger byte, a run of token characters that
    /// starts like a key or is long enough to be random, three dots in a
    /// run (IPv4), `Bearer`, or one of the names (the home folder always
    /// holds a separator).
    fn may_contain_datum(&self, b: &[u8], from: usize, to: usize) -> bool {
        let mut run_start = from;
        let mut dots = 0;
        for (k, &c) in b[from..to].iter().enumerate() {
            let class = self.bytes[usize::from(c)];
            if class == RUN {
                continue; // a letter or digit that starts no name: most bytes
            }
            let i = from + k;
            if class & TRIGGER != 0 || (class & NAME_START != 0 && self.name_starts(b, i)) {
                return true;
            }
            if class & RUN != 0 {
                dots += usize::from(c == b'.');
                if dots >= 3 {
                    return true;
                }
            } else {
                if may_be_token(&b[run_start..i]) {
                    return true;
                }
                run_start = i + 1;
                dots = 0;
            }
        }
        may_be_token(b.get(run_start..to).unwrap_or_default())
    }

    fn home_may_start(&self, c: u8) -> bool {
        self.home
            .as_deref()
            .is_some_and(|h| h.as_bytes()[0].eq_ignore_ascii_case(&c))
    }

    fn name_starts(&self, b: &[u8], i: usize) -> bool {
        self.names.iter().any(|n| {
            b.get(i..i + n.lower.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(n.lower.as_bytes()))
        })
    }

    /// The datum that starts at `i` (after `prev`), if any: the matchers
    /// in order of precedence (a URL holds paths and addresses, a path
    /// holds names).
    fn datum_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
        let c = *s.as_bytes().get(i)?;
        if prev.is_some_and(|p| p.is_ascii_alphanumeric()) && c.is_ascii_alphanumeric() {
            // Inside a word only the home folder can start.
            return self.home_at(s, i);
        }
        if c.is_ascii_whitespace() {
            return None;
        }
        let word = || {
            self.url_at(s, i, prev)
                .or_else(|| assignment_at(s, i, prev))
                .or_else(|| bearer_at(s, i, prev))
                .or_else(|| path_at(s, i, prev))
        };
        placeholder_at(s, i)
            .or_else(|| starts_word(prev).then(word).flatten())
            .or_else(|| self.home_at(s, i))
            .or_else(|| ip_at(s, i, prev))
            .or_else(|| email_at(s, i, prev))
            .or_else(|| secret_at(s, i, prev).map(|end| Found::replace(i, end, SECRET)))
            .or_else(|| self.name_at(s, i, prev))
    }

    /// This machine's host or user name as a whole word at `i`.
    fn name_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
    fn home_at(&self, s: &str, i: usize) -> Option<Found> {
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
    fn mentions_machine(&self, t: &str) -> bool {
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

    /// A URL at `i`: `<url>` when it says more than which service was
    /// called, kept whole otherwise (so no path or name is found in it).
    fn url_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
        if !starts_word(prev) {
            return None;
        }
        let b = s.as_bytes();
        let after_scheme = i + scheme_len(b, i)?;
        let mut end = s[after_scheme..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(s.len(), |k| after_scheme + k);
        // Closing punctuation belongs to the sentence, unless the URL
        // opened it (Wikipedia's `_(disambiguation)`).
        loop {
            let url = &s[i..end];
            let drop = match url.as_bytes().last() {
                Some(b'.' | b',' | b';' | b':' | b'!' | b'?') => true,
                Some(b')') => url.matches('(').count() < url.matches(')').count(),
                Some(b']') => url.matches('[').count() < url.matches(']').count(),
                _ => false,
            };
            if !drop || end <= after_scheme {
                break;
            }
            end -= 1;
        }
        let url = &s[i..end];
        let rest = &s[after_scheme..end];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        };
        let sensitive = url[..after_scheme - i].eq_ignore_ascii_case("file://")
            || rest.contains(['?', '#', '@'])
            || host.starts_with('[')
            || ipv4_end(host.as_bytes(), 0) == Some(host.len())
            || rest.split('/').any(|seg| secret_at(seg, 0, None).is_some())
            || self.mentions_machine(url);
        Some(Found {
            start: i,
            end,
            with: sensitive.then_some(URL),
        })
    }
}

/// A datum found at a position: `start..end` becomes `with`, or is kept as
/// it is when `with` is `None` (a plain URL, a placeholder); the scan goes
/// on at `end`.
struct Found {
    start: usize,
    end: usize,
    with: Option<&'static str>,
}

impl Found {
    fn replace(start: usize, end: usize, with: &'static str) -> Found {
        Found {
            start,
            end,
            with: Some(with),
        }
    }

    fn keep(start: usize, end: usize) -> Found {
        Found {
            start,
            end,
            with: None,
        }
    }
}

/// The scrubbed text, allocated at its first replacement only.
struct Out<'a> {
    src: &'a str,
    buf: Option<String>,
    copied: usize,
}

impl<'a> Out<'a> {
    /// Replaces `start..end` (after what was copied) with `with`. The
    /// matchers give character boundaries; were one not, the span would
    /// widen to the nearest ones rather than panic or keep a datum.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let src = self.src;
        let mut start = start.clamp(self.copied, src.len());
        while !src.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.clamp(start, src.len());
        while !src.is_char_boundary(end) {
            end += 1;
        }
        let buf = self
            .buf
            .get_or_insert_with(|| String::with_capacity(src.len()));
        buf.push_str(&src[self.copied..start]);
        buf.push_str(with);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.buf {
            None => Cow::Borrowed(self.src),
            Some(mut buf) => {
                buf.push_str(&self.src[self.copied..]);
                Cow::Owned(buf)
            }
        }
    }
}

/// This machine's scrubber, built once from [`Context::from_env`].
pub fn machine() -> &'static Scrubber {
    static MACHINE: OnceLock<Scrubber> = OnceLock::new();
    MACHINE.get_or_init(|| Scrubber::new(Context::from_env()))
}

/// `s` scrubbed by this machine's scrubber (see [`Scrubber::text`]).
pub fn text(s: &str) -> Cow<'_, str> {
    machine().text(s)
}

/// `v` scrubbed by this machine's scrubber (see [`Scrubber::value`]).
pub fn value(v: FieldValue) -> FieldValue {
    machine().value(v)
}

// ---- character classes ----

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

/// The length of the run of bytes at the start of `b` that satisfy `f`.
fn run(b: &[u8], f: impl Fn(u8) -> bool) -> usize {
    b.iter().position(|&c| !f(c)).unwrap_or(b.len())
}

/// Whether a datum may start after `prev`: not inside a word, a relative
/// path (`./x`, `a/b`), a variable (`$HOME/x`) or a glob (`*/x`).
fn starts_word(prev: Option<char>) -> bool {
    prev.is_none_or(|c| {
        !(c.is_alphanumeric()
            || matches!(
                c,
                '_' | '-' | '.' | '+' | '/' | '\\' | '~' | '*' | '%' | '$' | '@' | '&'
            ))
    })
}

/// Bytes of the runs the fast path measures: anything a key, an address
/// or a random run is made of, besides the trigger bytes.
fn is_run_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.')
}

fn may_be_token(run: &[u8]) -> bool {
    run.len() >= MIN_RANDOM_RUN
        || (run.len() >= MIN_KEY
            && (run.starts_with(b"eyJ")
                || KEY_PREFIXES.iter().any(|p| run.starts_with(p.as_bytes()))))
        || run.eq_ignore_ascii_case(b"bearer")
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Whether a token looks generated rather than written: a digit, or both
/// cases (`hf_hub_download` and `sk-learn` are words).
fn tokenish(t: &[u8]) -> bool {
    t.iter().any(u8::is_ascii_digit)
        || (t.iter().any(u8::is_ascii_uppercase) && t.iter().any(u8::is_ascii_lowercase))
}

fn is_placeholder(t: &str) -> bool {
    [PATH, EMAIL, IP, USER, HOST, SECRET, URL].contains(&t)
        || t.strip_prefix("<redacted ")
            .and_then(|r| r.strip_suffix(" bytes>"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

// ---- one matcher per kind of datum ----

/// A placeholder already there (ours, or the recorder's `<redacted N
/// bytes>`), kept as it is.
fn placeholder_at(s: &str, i: usize) -> Option<Found> {
    placeholder_len(s.as_bytes(), i).map(|n| Found::keep(i, i + n))
}

fn placeholder_len(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'<') {
        return None;
    }
    let window = b.get(i..(i + 32).min(b.len()))?;
    let n = 1 + window.iter().position(|&c| c == b'>')?;
    let t = std::str::from_utf8(&window[..n]).ok()?;
    is_placeholder(t).then_some(n)
}

/// The length of `scheme://` at `i`.
fn scheme_len(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i)?.is_ascii_alphabetic() {
        return None;
    }
    let n = 1 + run(&b[i + 1..], |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-')
    });
    b[i + n..].starts_with(b"://").then_some(n + 3)
}

/// `NAME=value` (an environment assignment: upper case, digits and `_`)
/// or `password=value`, `token:value`, `"api_key": "value"`: the value
/// becomes `<secret>`, the key and any quotes stay.
fn assignment_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let b = s.as_bytes();
    let key_end = i + run(&b[i..], is_token);
    let key = &b[i..key_end];
    let env = key.len() >= 2
        && !key[0].is_ascii_digit()
        && key[0] != b'-'
        && key
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    let mut j = key_end;
    if !matches!(b.get(j), Some(b'=' | b':' | b'"')) {
        return None;
    }
    if env {
        if b[j] != b'=' {
            return None;
        }
        j += 1;
    } else {
        let secret_key = SECRET_KEYS.iter().any(|k| {
            key.len() >= k.len() && key[key.len() - k.len()..].eq_ignore_ascii_case(k.as_bytes())
        });
        if !secret_key {
            return None;
        }
        // A JSON key: `"token": "…"`.
        let quoted = prev == Some('"') && b.get(j) == Some(&b'"');
        j += usize::from(quoted);
        if !matches!(b.get(j), Some(b'=' | b':')) {
            return None;
        }
        j += 1;
        if quoted && b.get(j) == Some(&b' ') {
            j += 1;
        }
    }
    let (start, end) = value_span(s, j)?;
    // Already scrubbed (`NAME=<secret>`): kept whole, key included, as
    // the first pass kept the key.
    match placeholder_len(b, start) {
        Some(n) => Some(Found::keep(i, start + n)),
        None => Some(Found::replace(start, end, SECRET)),
    }
}

/// The value at `j`: inside its quotes (on the same line), else to the end
/// of the word less closing punctuation.
fn value_span(s: &str, j: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
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

/// `Bearer <token>`: the token becomes `<secret>`.
fn bearer_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    let b = s.as_bytes();
    if !starts_word(prev) || !b.get(i..i + 7)?.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let start = i + 7;
    let n = run(&b[start..], |c| {
        c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)
    });
    (n >= MIN_BEARER && tokenish(&b[start..start + n]))
        .then(|| Found::replace(start, start + n, SECRET))
}

/// An absolute or home-relative path at `i`, with the spaced pieces of its
/// name that follow (`/home/ana/My Documents/tax.pdf`).
fn path_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
        if piece.contains(['/', '\\']) {
            (end, open) = (piece_end, piece_open);
            continue;
        }
        let last = s[i..end].rsplit(['/', '\\']).next().unwrap_or_default();
        if !last.is_empty() && !last.contains('.') && is_file_name(piece) {
            end = piece_end;
        }
        break;
    }
    Some(Found::replace(i, end, PATH))
}

/// Where the name of a path rooted at `i` starts, and whether it needs
/// one (`/` alone is no path, `~/` is).
fn path_root(s: &str, i: usize) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
    let is_sep = |c: u8| c == b'/' || c == b'\\';
    match at(0) {
        b'/' if !is_sep(at(1)) => Some((i + 1, true)),
        b'\\' if at(1) == b'\\' && !is_sep(at(2)) => Some((i + 2, true)),
        b'~' if at(1) == b'/' => Some((i + 2, false)),
        b'~' if at(1).is_ascii_alphabetic() || at(1) == b'_' => {
            // `~ana/x` or `~ana`, a user's home; not `~5ms`.
            let n = 1 + run(&b[i + 1..], |c| is_token(c) || c == b'.');
            let after = char_at(s, i + n);
            let ends = after.is_none_or(|c| c == '/' || c == '\\' || ends_path(c));
            ends.then_some((i + 1, true))
        }
        c if c.is_ascii_alphabetic() && at(1) == b':' && is_sep(at(2)) && !is_sep(at(3)) => {
            Some((i + 3, true))
        }
        _ => None,
    }
}

/// Where a path's name that starts at `from` ends (at whitespace or
/// closing punctuation, less a sentence's final `.`), and whether it ends
/// at one space, where a name with spaces may go on.
fn path_end(s: &str, from: usize) -> (usize, bool) {
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

/// An IPv4 (with `:port` or `/prefix`) or IPv6 address (with `%zone` or
/// `/prefix`, or in brackets with `:port`) at `i`.
fn ip_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if prev.is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '_')) {
        return None;
    }
    let b = s.as_bytes();
    let end = if b[i] == b'[' {
        let e = ipv6_end(b, i + 1)?;
        if b.get(e) != Some(&b']') {
            return None;
        }
        number_suffix(b, e + 1, b':', 65535)
    } else if let Some(e) = ipv4_end(b, i).filter(|&e| ends_number(b, e)) {
        let e = number_suffix(b, e, b':', 65535);
        number_suffix(b, e, b'/', 32)
    } else {
        let mut e = ipv6_end(b, i)?;
        if b.get(e) == Some(&b'%') {
            let zone = run(&b[e + 1..], |c| is_token(c) || c == b'.');
            e += if zone > 0 { 1 + zone } else { 0 };
        }
        number_suffix(b, e, b'/', 128)
    };
    Some(Found::replace(i, end, IP))
}

/// Whether a number ending at `e` ends there: not a longer dotted number
/// (`1.2.3.4.5`) or a word.
fn ends_number(b: &[u8], e: usize) -> bool {
    match b.get(e) {
        Some(b'.') => !b.get(e + 1).is_some_and(u8::is_ascii_digit),
        _ => ends_word(b, e),
    }
}

/// Whether a word ends at `e`. A placeholder counts as the word it
/// replaced, so that a second pass judges `fe80::<secret>` as the first
/// judged `fe80::1abc…`.
fn ends_word(b: &[u8], e: usize) -> bool {
    match b.get(e) {
        None => true,
        Some(&c) if c.is_ascii_alphanumeric() || c == b'_' => false,
        Some(b'<') => placeholder_len(b, e).is_none(),
        Some(_) => true,
    }
}

/// `e` past `sep` and a number up to `max` (a port, a prefix length), if
/// they follow.
fn number_suffix(b: &[u8], e: usize, sep: u8, max: u32) -> usize {
    if b.get(e) != Some(&sep) {
        return e;
    }
    let n = run(&b[e + 1..], |c| c.is_ascii_digit());
    let value = std::str::from_utf8(&b[e + 1..e + 1 + n])
        .ok()
        .and_then(|t| t.parse::<u32>().ok());
    let end = e + 1 + n;
    match value {
        Some(v) if n <= 5 && v <= max && ends_number(b, end) => end,
        _ => e,
    }
}

/// The end of the dotted IPv4 address at `i`.
fn ipv4_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for octet in 0..4 {
        if octet > 0 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
        let n = run(b.get(j..)?, |c| c.is_ascii_digit());
        let value: u32 = std::str::from_utf8(&b[j..j + n]).ok()?.parse().ok()?;
        if n > 3 || value > 255 {
            return None;
        }
        j += n;
    }
    Some(j)
}

/// The end of the IPv6 address at `i`. It needs a decimal digit, so that
/// Rust paths made of hex letters (`add::be`) stay, and hex groups of at
/// most 4 digits: 8 groups, or fewer around one `::` (`12:30:45` and
/// `caro::agent` are no addresses).
fn ipv6_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut groups = 0;
    let mut compressed = false;
    let mut digit = false;
    if b.get(j..)?.starts_with(b"::") {
        compressed = true;
        j += 2;
    }
    loop {
        let g = j;
        j += run(&b[j..], |c| c.is_ascii_hexdigit());
        match j - g {
            0 => break,
            1..=4 => {}
            _ => return None,
        }
        // An IPv4 tail (`::ffff:10.0.0.1`) ends the address.
        if let Some(e) = ipv4_end(b, g).filter(|_| b.get(j) == Some(&b'.')) {
            j = e;
            groups += 2;
            digit = true;
            break;
        }
        groups += 1;
        digit |= b[g..j].iter().any(u8::is_ascii_digit);
        if b[j..].starts_with(b"::") {
            if compressed {
                return None;
            }
            compressed = true;
            j += 2;
        } else if b.get(j) == Some(&b':') && b.get(j + 1).is_some_and(u8::is_ascii_hexdigit) {
            j += 1;
        } else {
            break;
        }
    }
    let complete = if compressed { groups <= 7 } else { groups == 8 };
    // A `:` after it is punctuation: one followed by a group was taken.
    (digit && complete && ends_word(b, j)).then_some(j)
}

/// An e-mail address whose local part starts at `i`: `local@domain.tld`.
fn email_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    let is_local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    if prev.is_some_and(|c| c.is_ascii() && is_local(c as u8)) {
        return None;
    }
    let b = s.as_bytes();
    let at = i + run(&b[i..], is_local);
    if at == i || b.get(at) != Some(&b'@') {
        return None;
    }
    let d = at + 1;
    let mut end = d + run(&b[d..], |c| {
        c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
    });
    // Sentence punctuation and what cannot be a top-level domain after
    // the address are no part of it (`ana@example.org.7`).
    loop {
        while end > d && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        match s[d..end].rsplit_once('.') {
            Some((rest, last))
                if last.len() < 2
                    || last.starts_with('-')
                    || !last.bytes().any(|c| c.is_ascii_alphabetic()) =>
            {
                end = d + rest.len();
            }
            _ => break,
        }
    }
    let domain = &s[d..end];
    let tld = domain.rsplit('.').next().unwrap_or_default();
    let valid = domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-'))
        && tld.len() >= 2
        && tld.bytes().any(|c| c.is_ascii_alphabetic());
    valid.then(|| Found::replace(i, end, EMAIL))
}

/// The end of an API key, a JWT, a long hex run or a random-looking
/// base64 run at `i`.
fn secret_at(s: &str, i: usize, prev: Option<char>) -> Option<usize> {
    if prev.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '.')) {
        return None;
    }
    let rest = s.as_bytes().get(i..)?;
    let n = prefixed_key_len(rest)
        .or_else(|| jwt_len(rest))
        .or_else(|| hex_len(rest))
        .or_else(|| random_base64_len(rest))?;
    Some(i + n)
}

fn prefixed_key_len(b: &[u8]) -> Option<usize> {
    let p = KEY_PREFIXES.iter().find(|p| b.starts_with(p.as_bytes()))?;
    let tail = &b[p.len()..];
    let mut n = match *p {
        "SG." => run(tail, |c| is_token(c) || c == b'.'),
        _ => run(tail, is_token),
    };
    while n > 0 && tail[n - 1] == b'.' {
        n -= 1;
    }
    let tail = &tail[..n];
    let key = match *p {
        // AWS access key ids are exactly 16 upper-case letters and digits.
        "AKIA" | "ASIA" => {
            n == 16
                && tail
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }
        _ => n >= MIN_KEY_TAIL && tokenish(tail),
    };
    key.then_some(p.len() + n)
}

/// `eyJ….….…`: a JSON Web Token (its header is base64 of `{"`).
fn jwt_len(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"eyJ") {
        return None;
    }
    let mut n = run(b, |c| is_token(c) || c == b'.');
    while n > 0 && b[n - 1] == b'.' {
        n -= 1;
    }
    let parts = b[..n].split(|&c| c == b'.');
    (n >= 20 && parts.clone().count() >= 3 && parts.clone().all(|p| !p.is_empty())).then_some(n)
}

fn hex_len(b: &[u8]) -> Option<usize> {
    let prefix = if b.starts_with(b"0x") { 2 } else { 0 };
    let n = run(&b[prefix..], |c| c.is_ascii_hexdigit());
    let ends = !b.get(prefix + n).copied().is_some_and(is_token);
    (n >= MIN_RANDOM_RUN && ends).then_some(prefix + n)
}

/// A long base64 or base64url run that mixes upper case, lower case and
/// digits as randomly as a key does. Identifiers change class rarely and
/// mostly from upper to lower case (`HttpHandlerV2`); random text changes
/// often: at least one surprising change per five letters or digits.
fn random_base64_len(b: &[u8]) -> Option<usize> {
    let mut n = run(b, |c| c.is_ascii_alphanumeric() || b"+/_-".contains(&c));
    // `=` only pads the end.
    n += run(&b[n..(n + 2).min(b.len())], |c| c == b'=');
    if n < MIN_RANDOM_RUN {
        return None;
    }
    let t = &b[..n];
    let class = |c: u8| match c {
        b'A'..=b'Z' => 1,
        b'a'..=b'z' => 2,
        b'0'..=b'9' => 3,
        _ => 0,
    };
    let alnum = t.iter().filter(|&&c| class(c) != 0).count();
    let surprises = t
        .windows(2)
        .filter(|w| {
            let (x, y) = (class(w[0]), class(w[1]));
            x != 0 && y != 0 && x != y && (x, y) != (1, 2)
        })
        .count();
    let mixed = (1..=3).all(|k| t.iter().any(|&c| class(c) == k));
    (mixed && surprises * 5 >= alnum).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scrubber that knows no machine: patterns only.
    fn plain() -> Scrubber {
        Scrubber::new(Context::default())
    }

    fn zanzibar() -> Scrubber {
        Scrubber::new(Context {
            user: Some("zanzibar".into()),
            home: Some("/home/zanzibar".into()),
            host: Some("zanzibar-laptop".into()),
        })
    }

    /// Asserts that each input scrubs to its expected text.
    #[track_caller]
    fn check(s: &Scrubber, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            assert_eq!(s.text(input), *expected, "scrubbing {input:?}");
        }
    }

    /// Asserts that each input passes unchanged and without allocating.
    #[track_caller]
    fn kept(s: &Scrubber, inputs: &[&str]) {
        for input in inputs {
            let out = s.text(input);
            assert!(matches!(out, Cow::Borrowed(_)), "{input:?} became {out:?}");
        }
    }

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
    fn file_urls_become_url() {
        check(
            &plain(),
            &[
                ("file:///home/a", "<url>"),
                ("at file:///C:/x.", "at <url>."),
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
    fn emails_become_email() {
        check(
            &plain(),
            &[
                ("ana@example.org", "<email>"),
                ("first.last+tag@sub.example.co.uk", "<email>"),
                ("ask <ana@example.org>.", "ask <<email>>."),
                ("mailto:ana@example.org,", "mailto:<email>,"),
                ("(root@example.org)", "(<email>)"),
                ("émile:ana@example.org!", "émile:<email>!"),
            ],
        );
        kept(&plain(), &["@here", "a@b", "ping @team", "x@1.2", "a@b."]);
    }

    #[test]
    fn ipv4_addresses_become_ip() {
        check(
            &plain(),
            &[
                ("192.168.1.20", "<ip>"),
                ("from 10.0.0.7.", "from <ip>."),
                ("10.0.0.7:8080 up", "<ip> up"),
                ("10.0.0.0/8", "<ip>"),
                ("ip=172.16.4.2,", "ip=<ip>,"),
            ],
        );
        kept(
            &plain(),
            &[
                "1.2.3",
                "v1.2.3.4",
                "1.2.3.4.5",
                "256.1.1.1",
                "3.14",
                "10.0.0.7x",
            ],
        );
    }

    #[test]
    fn ipv6_addresses_become_ip() {
        check(
            &plain(),
            &[
                ("2001:db8::1", "<ip>"),
                ("fe80::1%eth0 up", "<ip> up"),
                ("::1", "<ip>"),
                ("[::1]:8080", "<ip>"),
                ("::ffff:10.0.0.1", "<ip>"),
                ("2001:db8:0:0:0:0:0:1", "<ip>"),
                ("2001:db8::/32", "<ip>"),
                ("host=fe80::a1b2,", "host=<ip>,"),
            ],
        );
        kept(
            &plain(),
            &[
                "caro::agent",
                "std::io::Error",
                "f64::EPSILON",
                "add::be",
                "12:30:45",
                "12:30:45.123",
                "a:b:c",
                "::",
                "1:2:3",
                "de:ad:be:ef",
            ],
        );
    }

    #[test]
    fn revealing_urls_become_url_and_plain_ones_stay() {
        check(
            &plain(),
            &[
                ("https://bob:pw@example.com/x", "<url>"),
                ("https://api.example.com/v1?key=abc", "<url>"),
                ("see https://example.com/doc#part.", "see <url>."),
                ("http://192.168.1.2:8080/api", "<url>"),
                ("http://[::1]:11434", "<url>"),
                ("(https://example.com/a?b)", "(<url>)"),
                ("https://example.com/t/ghp_A1b2C3d4E5f6G7h8", "<url>"),
            ],
        );
        kept(
            &plain(),
            &[
                "https://api.openai.com/v1",
                "http://localhost:11434",
                "calling http://localhost:11434/api/generate now",
                "https://en.wikipedia.org/wiki/Caro_(band)",
            ],
        );
    }

    #[test]
    fn api_keys_become_secret() {
        check(
            &plain(),
            &[
                ("key sk-abc123DEF456ghi789", "key <secret>"),
                ("sk-proj-Ab3dEf6hIj9kLm", "<secret>"),
                ("sk-ant-api03-xyz123abc", "<secret>"),
                ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "<secret>"),
                ("sk_test_4eC39HqLyjWDarjt", "<secret>"),
                ("rk_live_51Hx2abCDe", "<secret>"),
                ("pk_live_51Hx2abCDe", "<secret>"),
                ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "<secret>"),
                ("gho_16C7e42F292c69", "<secret>"),
                ("ghu_16C7e42F292c69", "<secret>"),
                ("ghs_16C7e42F292c69", "<secret>"),
                ("ghr_16C7e42F292c69", "<secret>"),
                ("github_pat_11ABCDEFG0123456789", "<secret>"),
                ("glpat-xXxX1234yYyY5678zZzZ", "<secret>"),
                ("xoxb-1234-5678-abcdEFGH", "<secret>"),
                ("xoxp-1234-5678-abcdEFGH", "<secret>"),
                ("xoxa-2-1234-5678abcd", "<secret>"),
                ("(AKIAIOSFODNN7EXAMPLE)", "(<secret>)"),
                ("ASIAY34FZKBOKMUTVV7A", "<secret>"),
                ("AIzaSyA1b2C3d4E5f6G7h8I9j0", "<secret>"),
                ("hf_AbCdEfGhIjKlMnOpQrSt", "<secret>"),
                ("npm_a1B2c3D4e5F6g7H8", "<secret>"),
                ("pypi-AgEIcHlwaS5vcmcCJDUw", "<secret>"),
                ("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", "<secret>"),
                (
                    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U.",
                    "token <secret>.",
                ),
                ("Authorization: Bearer abcDEF123ghiJKL456", "Authorization: Bearer <secret>"),
            ],
        );
        kept(
            &plain(),
            &[
                "hf_hub_download",
                "sk-learn",
                "npm_config_cache_directory",
                "ASIAN_COUNTRIES_LIST",
                "AKIA_TEST",
                "Bearer token missing",
            ],
        );
    }

    #[test]
    fn long_hex_and_random_base64_become_secret() {
        check(
            &plain(),
            &[
                (
                    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "sha <secret>",
                ),
                ("0xdeadbeefdeadbeefdeadbeefdeadbeef00", "<secret>"),
                ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==", "<secret>"),
                ("k:aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF", "k:<secret>"),
                ("tok_Xk9-Lm2_Qp7vR4sT8wY1zA3bC5dE6fG", "<secret>"),
            ],
        );
        kept(
            &plain(),
            &[
                "0123456789abcdef",
                "HttpRequestHandlerFactoryV2Builder",
                "AbstractSingletonProxyFactoryBean",
                "crates/caro-agent/src/BackendV2Handler.rs",
                "process_query_with_timeout_and_retry_v2",
            ],
        );
    }

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
                ("PATH=/usr/bin:/bin", "PATH=<secret>"),
                ("(HOME=/home/ana)", "(HOME=<secret>)"),
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
        'a', 'Z', '7', 'f', '0', '_', '-', '.', '/', '\\', ':', '@', '=', '~', '<', '>', '[', ']',
        '(', ')', '"', '\'', '%', '?', '#', '&', '!', ' ', '\t', '\n', 'é', 'ß', '漢', '🙂',
        '\u{301}', '\u{200b}', '\u{3000}', '—', '«', '»', '。',
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
}
