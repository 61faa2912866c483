//! The privacy scrubber: every string on its way into the store, its log
//! file, crash snapshots, reports and exports passes through [`text`], the
//! second wall behind the recorder's.
//!
//! It replaces each personal datum inside free text with a typed
//! placeholder:
//!
//! | datum | becomes |
//! |---|---|
//! | absolute and home-relative paths, Unix and Windows (`/etc/x`, `~/x`, `~ana/x`, `C:\Users\x`, `\\server\share`), with the spaced pieces of their names; the same percent-encoded (`%2Fhome%2Fana`, `%2f`, `C%3A%5CUsers`, `%252F` encoded twice), written with look-alike separators (fullwidth `／` `＼`, division slash `∕`, fraction slash `⁄`, big solidus `⧸` `⧹`, set minus `∖`, small `﹨`) or a look-alike colon after the drive letter (fullwidth `C：＼`, ratio `∶`, `꞉`, `﹕`, `︓`), or escaped: backslashes doubled once or more (`\\\\server\\share`, `C:\\Users`, as `Debug` writes them) and JSON's `\/` (`\/home\/ana`); this machine's home folder anywhere. Not web API routes (below) | `<path>` |
//! | URLs with credentials, a query, a fragment, an `@`, an IP host, a personal host name, a secret, an account, card or phone number in a segment, or one of this machine's names; Slack and Discord webhooks, with or without their scheme; `file:` URLs | `<url>` |
//! | e-mail addresses, internationalised ones too (`jürgen.weiß@beispiel.de`, `用户@例子.广告`) | `<email>` |
//! | IPv4 addresses (with a port or prefix length, loopback included) and IPv6 addresses | `<ip>` |
//! | Amazon Resource Names, whole, cut short or not (`arn:aws:iam::123456789012:user/ana`, `arn:aws:s3:::bucket`, partitions `aws-cn`, `aws-us-gov`…): the account id and the resource say whose | `<arn>` |
//! | MAC addresses: `00:1A:2B:3C:4D:5E`, `00-1a-2b-3c-4d-5e`, `001a.2b3c.4d5e` | `<mac>` |
//! | IBANs whose ISO 13616 mod-97 check holds, printed in groups of four or not (`DE89 3704 0044 0532 0130 00`, `DE89370400440532013000`) | `<iban>` |
//! | payment card numbers: 13 to 19 digits that pass the Luhn check, in one run or grouped by spaces or dashes (`4111 1111 1111 1111`, `3782-822463-10005`) | `<card>` |
//! | phone numbers: E.164 with `+` and the usual groups (`+4915112345678`, `+1 (555) 123-4567`, `+44 (0)20 7946 0958`), `tel:` URIs, and `(555) 123-4567` | `<phone>` |
//! | this machine's user name (3 characters or more) and host name, as whole words, ignoring ASCII case | `<user>`, `<host>` |
//! | host names of personal machines: names under `.local`, `.lan`, `.internal`, `.home`, `.home.arpa`, `.localdomain`, `.corp`; names with a device word after their owner's (`anas-macbook-pro`, `johns-iphone`, `bobs-imac`; generic words like `laptop` only after a possessive, `johns-laptop`); Windows' default `DESKTOP-4F2K9QX`, `LAPTOP-…`, `WIN-…` | `<host>` |
//! | API keys (provider prefixes, Google `ya29.` tokens), JWTs of any length, cut anywhere (`eyJ…`, one part or more), Discord bot tokens (three base64url parts, the first a user id; cut short, a first part that decodes to a Discord id, 17 to 20 digits, followed by a `.`, `…` or the end, is enough), Telegram bot tokens (`123456789:AA…`), base64 of `user:password` (bare or after `Basic`), long hex and random-looking base64 runs, `Bearer` tokens | `<secret>` |
//! | the values of `NAME=value` environment assignments, and of `NAME=value`, `NAME: value`, `"NAME": "value"` (its quotes maybe escaped, once or more: `\"NAME\": \"value\"`, as `Debug` writes JSON) where NAME is secret-like: in any case, its last part after any `.` split at `_` `-` and camel case, one of its words ends with `password`, `passwd`, `passphrase`, `pwd`, `secret`, `token`, `apikey`, `credential(s)`, `auth`, `authorization` or is `pass` or `key` (`key` alone is not); or it names a session: without `_` and `-` it is `session`, `sid`, `sessionkey` or ends with `sessionid` or `sessid` (`session_id`, `PHPSESSID`, `JSESSIONID`, `connect.sid`) (`db_pass=x`, `PGPASSWORD:x`, `api-key: x`, `Authorization: Basic x`, whose scheme stays; `Some("x")` as `{:?}` writes it) | `NAME=<secret>` |
//! | the values of every `name=value` pair of a `Cookie:` or `Set-Cookie:` header (`"cookie": "…"` too), whatever the name, but those of `Set-Cookie`'s attributes `Path`, `Expires`, `Max-Age`, `SameSite`, `Priority`; the names stay, scrubbed as any text | `name=<secret>` |
//!
//! What deliberately stays: identifiers (`BackendTimeout`, `caro::agent`),
//! numbers, times and versions (`1.4.2`, `v0.12.3`, `1.234ms`, `12:34:56`,
//! `2026-12-06`), UUIDs, model tags (`qwen2.5-coder:1.5b`), relative paths
//! (`src/main.rs`), `HTTP/1.1`, plain URLs (`https://api.openai.com/v1`,
//! `http://localhost:11434/api/generate`), web API routes outside a URL
//! (`POST /api/generate`, `via /api/show`, `/v1/chat/completions`,
//! `/healthz`, `/metrics`) and lower-case `key=value` pairs whose value is
//! no datum: they say what caro did, not who used it.
//! Punctuation and whitespace around a datum are kept, and placeholders
//! already there are left alone, so scrubbing twice changes nothing.
//!
//! The shapes have known limits, chosen for few false positives:
//!
//! - Any 13 to 19 digits that pass the Luhn check are taken for a card (one
//!   run of random digits in ten does), except one run of 13, 16 or 19
//!   digits that starts with `1`: a Unix time in milliseconds, microseconds
//!   or nanoseconds (`1733480000123`), which no card number looks like.
//! - A phone number needs `+`, `tel:` or the `(555) 123-4567` shape: bare
//!   digits (`5551234567`, a Unix time `1733480000`) are numbers.
//! - An IBAN needs two letters, two check digits and a valid mod-97 check
//!   (one random string of that shape in 97 passes); all in one case.
//! - A secret-like name followed by a word that describes the value
//!   (`token_count`, `password_file`, `key_id`) is no secret, nor is `key`
//!   alone (`{"key": "backend"}`); a bare `token`, `auth`, `pass` or
//!   `secret` takes its value right after the `=` or `:` or quoted
//!   (`token=x`, `token: "x"`, not `unexpected token: ident`). After a
//!   space, a value that starts like a type (`::`, `*`) is none; one that
//!   does not (`SQLITE_AUTH: i32`) is taken.
//! - A host name is personal by its suffix or its device word: other
//!   names (`ana-laptop`, `nas`) are not recognised, unless they are this
//!   machine's. `host.docker.internal`, `metadata.google.internal` and
//!   `localhost.localdomain` stay.
//! - base64 of `user:password` is recognised from 8 characters (bare) or 4
//!   (after `Basic`), when it decodes to printable text with a `:` inside.
//! - A web API route is an absolute path whose first segment is `api`,
//!   `v1` to `v9`, `health`, `healthz`, `livez`, `readyz`, `metrics`,
//!   `status`, `graphql`, `oauth` or `openapi`, and whose segments are all
//!   lower-case letters, digits, `_` and `-`, without a dot, a key or a
//!   long mix of letters and digits (an id). It stays, and a name in it
//!   (`/api/users/ana`) is not recognised, unless it is this machine's:
//!   then the route is `<path>`. A file name (`/api/users/ana.json`), a
//!   capital (`/Users/Ana`) or another root (`/srv/…`) makes it a path.
//! - An AWS account id is recognised inside an ARN only: 12 digits alone
//!   are a number. An ARN needs `arn:` and its partition (`aws`,
//!   `aws-…`) and a `:` after it.
//! - A Discord token cut inside its first part, or with a second part
//!   longer than 6 characters and a third shorter than 20, is not
//!   recognised; a first part alone is one only where the text ends or
//!   `…` follows.
//! - A cookie header's pairs end at the first separator that is not `;`
//!   (a `,`, the end of the quotes): pairs after it are scanned as any
//!   text. A session name alone (`session`, `sid`) takes its value only as
//!   a bare secret word does (`session=x`, not `session: started`).
//! - An escaped quoted value ends at the first quote escaped as its
//!   opening one (`\"…\"`); an escaped path, at the first quote.
//!
//! Most strings are identifiers and short messages: one pass over their
//! bytes shows that nothing can match, and they come back borrowed, without
//! an allocation. The rest is scanned left to right, word by word, trying
//! at each word start one small matcher per kind of datum (and scanned
//! again in the rare case a placeholder made a datum of its neighbour).
//!
//! This module holds the public API, the scanner ([`Scrubber::text`]),
//! its fast path, the placeholders and the character classes that every
//! matcher shares. The matchers live in one submodule per family of datum:
//! `machine` (this machine's user and host names and home folder, and
//! [`Context`]), `paths` (paths and web API routes), `network` (URLs,
//! webhooks, e-mail, IP and MAC addresses, personal host names), `secrets`
//! (secret-like and session names' values, `Bearer` and `Basic`, cookies),
//! `tokens` (API keys, JWTs, Discord and Telegram tokens, base64 of
//! `user:password`, hex and random base64 runs) and `accounts` (IBANs,
//! cards, phone numbers, ARNs). A family uses only this module (`super`)
//! and the other families' matchers and their helpers
//! (`super::family::fn`), nothing else of the crate.
//!
//! Two modules hand what the reader decoded to the rest of the analyzer,
//! scrubbed: [`ring`] (a ring loaded, its dictionary scrubbed once) and
//! [`event`] (records as log events, every value scrubbed). The scrubber
//! sits on the reader ([`crate::read`]) and under everything else.

use std::borrow::Cow;
use std::sync::OnceLock;

use caro_format::render::LogValue as FieldValue;

mod accounts;
pub mod event;
mod machine;
mod network;
mod paths;
pub mod ring;
mod secrets;
#[cfg(test)]
mod tests;
mod tokens;

use accounts::{arn_at, card_at, iban_at, phone_at, MIN_CARD};
pub use machine::Context;
use network::{email_at, host_at, host_len, ip_at, mac_at, mac_len, webhook_at};
use paths::{api_route, is_wide_sep, path_at, path_root, sep_at};
use secrets::{assignment_at, bearer_at};
use tokens::{
    discord_len, is_base64, secret_at, userpass_len, KEY_PREFIXES, MIN_JWT, MIN_KEY,
    MIN_RANDOM_RUN, MIN_USERPASS,
};

const PATH: &str = "<path>";
const EMAIL: &str = "<email>";
const IP: &str = "<ip>";
const USER: &str = "<user>";
const HOST: &str = "<host>";
const SECRET: &str = "<secret>";
const URL: &str = "<url>";
const MAC: &str = "<mac>";
const IBAN: &str = "<iban>";
const CARD: &str = "<card>";
const PHONE: &str = "<phone>";
const ARN: &str = "<arn>";
/// Passes after the first that [`Scrubber::text`] makes at most; one is
/// almost always enough.
const MAX_PASSES: usize = 4;

/// The scrubber: a pure function of its context and its input.
#[derive(Clone, Debug)]
pub struct Scrubber {
    /// The host and user names, longest first (the host often contains
    /// the user), ASCII-lower-cased.
    names: Vec<Name>,
    /// The home folder without its trailing separator.
    home: Option<String>,
    /// What the fast path makes of each byte: [`TRIGGER`], [`RUN`],
    /// [`NAME_START`], [`DOT`], [`DASH`], [`SPECIAL`].
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
/// `%` and the first byte of the look-alike separators (`0xE2`, `0xEF`),
/// where an encoded or look-alike path may start ([`sep_at`]).
const SPECIAL: u8 = 16;
/// `-`, noted in runs (MAC addresses, host names).
const DASH: u8 = 32;

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
            if c == b'-' {
                *class |= DASH;
            }
            if matches!(c, b'%' | 0xE2 | 0xEF) {
                *class |= SPECIAL;
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
                            out.replace(f.start, f.end, &with);
                            // What follows is judged next to the
                            // placeholder, as a second pass would see it.
                            with.chars().next_back()
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
    /// needs one of these: a trigger byte, an encoded or look-alike
    /// separator, a run of token characters that may be or start a datum
    /// ([`run_may_hold`]), three dots in a run (IPv4), or one of the names
    /// (the home folder always holds a separator).
    fn may_contain_datum(&self, b: &[u8], from: usize, to: usize) -> bool {
        let mut run_start = from;
        let mut dots = 0;
        let mut dashes = false;
        for (k, &c) in b[from..to].iter().enumerate() {
            let class = self.bytes[usize::from(c)];
            if class == RUN {
                continue; // a letter or digit that starts no name: most bytes
            }
            let i = from + k;
            if class & TRIGGER != 0
                || (class & NAME_START != 0 && self.name_starts(b, i))
                || (class & SPECIAL != 0 && sep_at(b, i).is_some())
            {
                return true;
            }
            if class & RUN != 0 {
                dots += usize::from(c == b'.');
                dashes |= c == b'-';
                if dots >= 3 {
                    return true;
                }
            } else {
                if run_may_hold(b, run_start, i, dots > 0 || dashes) {
                    return true;
                }
                run_start = i + 1;
                dots = 0;
                dashes = false;
            }
        }
        run_start < to && run_may_hold(b, run_start, to, dots > 0 || dashes)
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
                .or_else(|| webhook_at(s, i))
                .or_else(|| phone_at(s, i))
                .or_else(|| arn_at(s, i))
                .or_else(|| self.cookie_at(s, i, prev))
                .or_else(|| assignment_at(s, i, prev))
                .or_else(|| bearer_at(s, i, prev))
                .or_else(|| {
                    // A web API's route stays, unless it names this machine.
                    let f = path_at(s, i, prev)?;
                    let t = &s[f.start..f.end];
                    Some(if api_route(t) && !self.mentions_machine(t) {
                        Found::keep(f.start, f.end)
                    } else {
                        f
                    })
                })
        };
        // Most matchers need a letter or digit first: punctuation is
        // passed quickly.
        let alnum = c.is_ascii_alphanumeric();
        placeholder_at(s, i)
            .or_else(|| starts_word(prev).then(word).flatten())
            .or_else(|| self.home_at(s, i))
            .or_else(|| c.is_ascii_hexdigit().then(|| mac_at(s, i, prev)).flatten())
            .or_else(|| ip_at(s, i, prev))
            .or_else(|| email_at(s, i, prev))
            .or_else(|| {
                c.is_ascii_alphabetic()
                    .then(|| iban_at(s, i, prev))
                    .flatten()
            })
            .or_else(|| c.is_ascii_digit().then(|| card_at(s, i, prev)).flatten())
            .or_else(|| {
                is_base64(c)
                    .then(|| secret_at(s, i, prev))
                    .flatten()
                    .map(|end| Found::replace(i, end, SECRET))
            })
            .or_else(|| self.name_at(s, i, prev))
            .or_else(|| alnum.then(|| host_at(s, i, prev)).flatten())
    }
}

/// A datum found at a position: `start..end` becomes `with` (a
/// placeholder, or text made of placeholders and what stays around them),
/// or is kept as it is when `with` is `None` (a plain URL, a placeholder);
/// the scan goes on at `end`.
struct Found {
    start: usize,
    end: usize,
    with: Option<Cow<'static, str>>,
}

impl Found {
    fn replace(start: usize, end: usize, with: &'static str) -> Found {
        Found {
            start,
            end,
            with: Some(Cow::Borrowed(with)),
        }
    }

    fn rewrite(start: usize, end: usize, with: String) -> Found {
        Found {
            start,
            end,
            with: Some(Cow::Owned(with)),
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
            )
            || is_wide_sep(c))
    })
}

/// Bytes of the runs the fast path measures: anything a key, an address
/// or a random run is made of, besides the trigger bytes.
fn is_run_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.')
}

/// Whether the run of [`is_run_byte`]s `b[start..end]`, which starts
/// after a byte that is none, may be or start a datum that no trigger byte
/// announces: a key, a JWT, a random run, `Bearer` or `Basic`, a phone
/// number's `+49` or `(555)`, a card number or the first group of four
/// digits of one, an IBAN or its first group, a MAC address, a personal
/// host name (only runs with `.` or `-`, `punct`), base64 of
/// `user:password`. Most runs are short words, decided by their length
/// and first bytes.
fn run_may_hold(b: &[u8], start: usize, end: usize, punct: bool) -> bool {
    let run = &b[start..end];
    let n = run.len();
    let digit = |k: usize| run.get(k).is_some_and(u8::is_ascii_digit);
    let letter = |k: usize| run.get(k).is_some_and(u8::is_ascii_alphabetic);
    if n < 4 {
        // `+1 (555) …`: the country code, then the area code.
        return (n >= 2 && run[0] == b'+' && digit(1))
            || (n == 3
                && start > 0
                && b[start - 1] == b'('
                && b.get(end) == Some(&b')')
                && run.iter().all(u8::is_ascii_digit));
    }
    // `4111 1111 …`, `DE89 3704 …`: a first group, another one after it.
    let next = b.get(end + 1).copied().unwrap_or(0);
    let group = n == 4
        && digit(2)
        && digit(3)
        && b.get(end) == Some(&b' ')
        && ((digit(0) && digit(1) && next.is_ascii_digit())
            || (letter(0) && letter(1) && next.is_ascii_alphanumeric()));
    group
        || (run[0] == b'+' && digit(1))
        || n >= MIN_RANDOM_RUN
        || (n >= MIN_JWT && run.starts_with(b"eyJ"))
        || (n >= 23 && discord_len(run).is_some())
        || (n >= MIN_KEY && KEY_PREFIXES.iter().any(|p| run.starts_with(p.as_bytes())))
        || run.eq_ignore_ascii_case(b"bearer")
        || run.eq_ignore_ascii_case(b"basic")
        || (n >= 15 && letter(0) && letter(1) && digit(2) && digit(3))
        || (n >= MIN_CARD && run.iter().filter(|c| c.is_ascii_digit()).count() >= MIN_CARD)
        || (punct && (mac_len(run).is_some() || host_len(run).is_some()))
        || (n >= MIN_USERPASS && userpass_len(run).is_some())
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
    [
        PATH, EMAIL, IP, USER, HOST, SECRET, URL, MAC, IBAN, CARD, PHONE, ARN,
    ]
    .contains(&t)
        || t.strip_prefix("<redacted ")
            .and_then(|r| r.strip_suffix(" bytes>"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
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

/// Whether a URL's segment is a datum that makes the URL say who used it.
fn segment_is_datum(seg: &str) -> bool {
    let found = |f: Option<Found>| f.is_some_and(|f| f.with.is_some());
    let b = seg.as_bytes();
    !seg.is_empty()
        && (secret_at(seg, 0, None).is_some()
            || found(iban_at(seg, 0, None))
            || found(card_at(seg, 0, None))
            || found(phone_at(seg, 0))
            || found(mac_at(seg, 0, None))
            // An encoded path (`%2Fhome%2Fana`, `C%3A%5CUsers`).
            || ((b[0] == b'%' || b.get(1) == Some(&b'%'))
                && path_root(seg, 0).is_some_and(|(name, _)| name < seg.len())))
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
