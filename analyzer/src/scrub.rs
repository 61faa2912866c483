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
const MAC: &str = "<mac>";
const IBAN: &str = "<iban>";
const CARD: &str = "<card>";
const PHONE: &str = "<phone>";
const ARN: &str = "<arn>";

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
    "ya29.",
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
/// The shortest JWT taken for one, cut or not: `eyJ` (base64 of `{"`) and
/// seven more characters.
const MIN_JWT: usize = 10;
/// The shortest bare base64 run taken for `user:password`.
const MIN_USERPASS: usize = 8;
/// Card numbers have 13 to 19 digits.
const MIN_CARD: usize = 13;
const MAX_CARD: usize = 19;
/// Look-alikes of `/`: fullwidth solidus, division slash, fraction slash,
/// big solidus.
const WIDE_SLASHES: [char; 4] = ['\u{ff0f}', '\u{2215}', '\u{2044}', '\u{29f8}'];
/// Look-alikes of `\`: fullwidth reverse solidus, big reverse solidus,
/// set minus, small reverse solidus.
const WIDE_BACKSLASHES: [char; 4] = ['\u{ff3c}', '\u{29f9}', '\u{2216}', '\u{fe68}'];
/// Look-alikes of `:` after a drive letter: fullwidth colon, ratio,
/// modifier letter colon, small and presentation-form colons.
const WIDE_COLONS: [char; 5] = ['\u{ff1a}', '\u{2236}', '\u{a789}', '\u{fe55}', '\u{fe13}'];
/// The last labels of host names on home and private networks: the
/// recorder's, which keeps no run-time name under them either.
const PRIVATE_TLDS: &[&str] = caro_recorder::privacy::PRIVATE_SUFFIXES;
/// Names under those that name no one's machine.
const PUBLIC_PRIVATE_HOSTS: &[&str] = &[
    "host.docker.internal",
    "gateway.docker.internal",
    "kubernetes.docker.internal",
    "metadata.google.internal",
    "user.home",
    "java.home",
];
/// Words that name a personal device after its owner's name
/// (`anas-macbook-pro`, `johns-iphone`, `bobs-imac`).
const DEVICE_WORDS: &[&str] = &[
    "macbook",
    "macbookpro",
    "macbookair",
    "mbp",
    "mba",
    "imac",
    "macmini",
    "iphone",
    "ipad",
    "ipod",
];
/// Words that do only after a possessive owner (`johns-laptop`, not
/// `gnome-desktop` or `x86_64-pc-windows-msvc`).
const OWNED_DEVICE_WORDS: &[&str] = &[
    "mac",
    "laptop",
    "desktop",
    "pc",
    "notebook",
    "workstation",
    "thinkpad",
    "chromebook",
    "phone",
    "android",
    "galaxy",
    "pixel",
    "tablet",
    "surface",
];
/// The first part of Windows' default machine names (`DESKTOP-4F2K9QX`).
const WINDOWS_NAME_PREFIXES: &[&str] = &["desktop", "laptop", "win"];
/// Hosts and paths of webhooks, whose URL is their secret.
const WEBHOOKS: &[&str] = &[
    "hooks.slack.com/",
    "discord.com/api/webhooks/",
    "discordapp.com/api/webhooks/",
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
            || host_len(host.as_bytes()) == Some(host.len())
            || webhook_len(rest.as_bytes()).is_some()
            || rest.split('/').any(segment_is_datum)
            || self.mentions_machine(url);
        Some(Found {
            start: i,
            end,
            with: sensitive.then_some(Cow::Borrowed(URL)),
        })
    }

    /// A `Cookie:` or `Set-Cookie:` header at `i` (in any case, maybe a
    /// quoted key: `"cookie": "…"`) and the `name=value` pairs after it,
    /// between `;`: each value becomes `<secret>`, but for those of the
    /// attributes of `Set-Cookie` that say nothing ([`COOKIE_ATTRIBUTES`]),
    /// which are scrubbed as any text is; the names stay, scrubbed too.
    fn cookie_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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

/// `NAME=value` (an environment assignment: upper case, digits and `_`),
/// or `NAME=value`, `NAME:value`, `NAME: value`, `"NAME": "value"` where
/// NAME is secret-like ([`secret_name`]): the value becomes `<secret>`,
/// the name, any quotes and an `Authorization` scheme stay.
fn assignment_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
fn bearer_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
fn api_route(t: &str) -> bool {
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
fn path_root(s: &str, i: usize) -> Option<(usize, bool)> {
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
fn sep_at(b: &[u8], i: usize) -> Option<(usize, bool)> {
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

fn is_wide_sep(c: char) -> bool {
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

/// An e-mail address whose local part starts at `i`: `local@domain.tld`,
/// in any script (`jürgen.weiß@beispiel.de`, `用户@例子.广告`).
fn email_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if prev.is_some_and(is_local_char) {
        return None;
    }
    let at = span(s, i, is_local_char);
    if at == i || s.as_bytes().get(at) != Some(&b'@') {
        return None;
    }
    let d = at + 1;
    let mut end = span(s, d, |c| {
        c.is_alphanumeric() || c == '.' || c == '-' || is_mark(c)
    });
    // Sentence punctuation and what cannot be a top-level domain after
    // the address are no part of it (`ana@example.org.7`).
    loop {
        while end > d && matches!(s.as_bytes()[end - 1], b'.' | b'-') {
            end -= 1;
        }
        match s[d..end].rsplit_once('.') {
            Some((rest, last)) if !is_tld(last) => end = d + rest.len(),
            _ => break,
        }
    }
    let domain = &s[d..end];
    let valid = domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-'))
        && domain.rsplit('.').next().is_some_and(is_tld);
    valid.then(|| Found::replace(i, end, EMAIL))
}

fn is_tld(label: &str) -> bool {
    label.chars().count() >= 2 && !label.starts_with('-') && label.chars().any(char::is_alphabetic)
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-') || is_mark(c)
}

/// Combining marks and joiners, which spell letters in decomposed text
/// (`é` as `e` and U+0301) and in some scripts.
fn is_mark(c: char) -> bool {
    matches!(
        c,
        '\u{300}'..='\u{36f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}'
            | '\u{200c}'
            | '\u{200d}'
    )
}

/// Where the characters from `from` that satisfy `f` end.
fn span(s: &str, from: usize, f: impl Fn(char) -> bool) -> usize {
    s[from..].find(|c| !f(c)).map_or(s.len(), |k| from + k)
}

/// A MAC address at `i`: six pairs of hex digits between `:` or `-`, or
/// three quads between `.`.
fn mac_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if prev.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+')) {
        return None;
    }
    let b = s.as_bytes();
    // After `:`, not the tail of a longer run of pairs (`00:1A:…:6F`).
    let pair_before = prev == Some(':')
        && i >= 3
        && b[i - 3..i - 1].iter().all(u8::is_ascii_hexdigit)
        && (i == 3 || !b[i - 4].is_ascii_alphanumeric());
    if pair_before {
        return None;
    }
    let n = mac_len(&b[i..])?;
    Some(Found::replace(i, i + n, MAC))
}

fn mac_len(b: &[u8]) -> Option<usize> {
    let (group, count, sep) = match b.get(2) {
        Some(&c @ (b':' | b'-')) => (2, 6, c),
        _ if b.get(4) == Some(&b'.') => (4, 3, b'.'),
        _ => return None,
    };
    for g in 0..count {
        let k = g * (group + 1);
        let hex = b
            .get(k..k + group)
            .is_some_and(|t| t.iter().all(u8::is_ascii_hexdigit));
        if !hex || (g + 1 < count && b.get(k + group) != Some(&sep)) {
            return None;
        }
    }
    let end = count * (group + 1) - 1;
    // Not the start of a longer run of groups.
    let longer = b.get(end) == Some(&sep) && b.get(end + 1).is_some_and(u8::is_ascii_hexdigit);
    (!longer && ends_word(b, end)).then_some(end)
}

/// An IBAN at `i`: a country's two letters, two check digits and up to 30
/// letters and digits, in one run or printed in groups of four, whose
/// ISO 13616 mod-97 check holds. The longest such run of groups is taken.
fn iban_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let b = s.as_bytes();
    let head = b.get(i..i + 4)?;
    if !(head[0].is_ascii_alphabetic()
        && head[1].is_ascii_alphabetic()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let first = run(&b[i..], |c| c.is_ascii_alphanumeric());
    let fits = |end: usize, chars: usize| {
        (15..=34).contains(&chars) && ends_word(b, end) && iban_valid(&b[i..end])
    };
    let mut found = None;
    if first > 4 {
        found = fits(i + first, first).then_some(i + first);
    } else if first == 4 {
        let (mut end, mut chars) = (i + 4, 4);
        while b.get(end) == Some(&b' ') {
            let n = run(&b[end + 1..], |c| c.is_ascii_alphanumeric());
            if n == 0 || n > 4 || chars + n > 34 {
                break;
            }
            end += 1 + n;
            chars += n;
            if fits(end, chars) {
                found = Some(end);
            }
            if n < 4 {
                break; // the last group
            }
        }
    }
    found.map(|end| Found::replace(i, end, IBAN))
}

/// The ISO 13616 check of an IBAN (its spaces skipped): the first four
/// characters moved to the end, letters as 10 to 35, the number modulo 97
/// is 1. Letters are all of one case.
fn iban_valid(t: &[u8]) -> bool {
    let chars = || t.iter().copied().filter(|&c| c != b' ');
    let upper = chars().any(|c| c.is_ascii_uppercase());
    let lower = chars().any(|c| c.is_ascii_lowercase());
    if (upper && lower) || matches!(&t[2..4], b"00" | b"01" | b"99") {
        return false;
    }
    let mut rem = 0u32;
    for c in chars().skip(4).chain(chars().take(4)) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        };
    }
    rem == 1
}

/// A payment card number at `i`: 13 to 19 digits that pass the Luhn
/// check, in one run or grouped by spaces or dashes after a first group
/// of four (the longest such run of groups). One run of 13, 16 or 19
/// digits that starts with `1` is a Unix time in ms, µs or ns, no card.
fn card_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if prev.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/' | '\\'))
    {
        return None;
    }
    let b = s.as_bytes();
    let first = run(&b[i..], |c| c.is_ascii_digit());
    let card = |end: usize| ends_number(b, end) && luhn(&b[i..end]);
    let mut found = None;
    if (MIN_CARD..=MAX_CARD).contains(&first) {
        let time = b[i] == b'1' && matches!(first, 13 | 16 | 19);
        found = (!time && card(i + first)).then_some(i + first);
    } else if first == 4 {
        let sep = *b.get(i + 4)?;
        if !matches!(sep, b' ' | b'-') {
            return None;
        }
        let (mut end, mut digits) = (i + 4, 4);
        while b.get(end) == Some(&sep) {
            let n = run(&b[end + 1..], |c| c.is_ascii_digit());
            if n == 0 || n > 6 || digits + n > MAX_CARD {
                break;
            }
            end += 1 + n;
            digits += n;
            if digits >= MIN_CARD && card(end) {
                found = Some(end);
            }
        }
    }
    found.map(|end| Found::replace(i, end, CARD))
}

/// The Luhn check of the digits in `t`; all zeros fail.
fn luhn(t: &[u8]) -> bool {
    let mut sum = 0;
    let mut any = false;
    for (k, c) in t.iter().rev().filter(|c| c.is_ascii_digit()).enumerate() {
        let d = u32::from(c - b'0');
        any |= d != 0;
        sum += match (k % 2, d * 2) {
            (0, _) => d,
            (_, x) if x > 9 => x - 9,
            (_, x) => x,
        };
    }
    any && sum % 10 == 0
}

/// A phone number at `i`: a `tel:` URI, an E.164 number written with `+`
/// and its usual groups (8 to 15 digits: `+4915112345678`,
/// `+1 (555) 123-4567`, `+44 (0)20 7946 0958`), or `(555) 123-4567`.
fn phone_at(s: &str, i: usize) -> Option<Found> {
    let b = s.as_bytes();
    let end = if b
        .get(i..i + 4)
        .is_some_and(|t| t.eq_ignore_ascii_case(b"tel:"))
    {
        tel_end(b, i + 4)?
    } else if b.get(i) == Some(&b'+') {
        phone_groups_end(b, i + 1)?
    } else if b.get(i) == Some(&b'(') {
        nanp_end(b, i)?
    } else {
        return None;
    };
    Some(Found::replace(i, end, PHONE))
}

/// The end of the longest run of groups of digits from `j` (between
/// single spaces, dashes or dots, or in parentheses; groups after the
/// second have two digits or more, as in `+33 6 12 34 56 78`) that holds 8
/// to 15 digits and ends a number.
fn phone_groups_end(b: &[u8], j: usize) -> Option<usize> {
    let (mut end, mut digits, mut groups) = (j, 0, 0);
    let mut found = None;
    loop {
        let mut k = end;
        if digits > 0 && matches!(b.get(k), Some(b' ' | b'-' | b'.')) {
            k += 1;
        }
        let paren = b.get(k) == Some(&b'(');
        k += usize::from(paren);
        let n = run(b.get(k..).unwrap_or_default(), |c| c.is_ascii_digit());
        if n == 0 || (groups >= 2 && !paren && n < 2) || digits + n > 15 {
            break;
        }
        let mut e = k + n;
        if paren {
            if b.get(e) != Some(&b')') {
                break;
            }
            e += 1;
        }
        digits += n;
        groups += 1;
        end = e;
        if digits >= 8 && ends_number(b, end) {
            found = Some(end);
        }
    }
    found
}

/// The end of a `tel:` URI's number and parameters from `j`, if it holds
/// three digits or more.
fn tel_end(b: &[u8], j: usize) -> Option<usize> {
    let mut end = j + run(&b[j..], |c| {
        c.is_ascii_alphanumeric() || b"+-.()*#;=%_".contains(&c)
    });
    loop {
        let t = &b[j..end];
        let drop = match t.last() {
            Some(b'.' | b'-' | b';' | b'=') => true,
            Some(b')') => {
                t.iter().filter(|&&c| c == b'(').count() < t.iter().filter(|&&c| c == b')').count()
            }
            _ => false,
        };
        if !drop {
            break;
        }
        end -= 1;
    }
    let digits = b[j..end].iter().filter(|c| c.is_ascii_digit()).count();
    (digits >= 3).then_some(end)
}

/// The end of `(555) 123-4567` at `i` (also with a dot or a space for the
/// dash, or no space after the parenthesis).
fn nanp_end(b: &[u8], i: usize) -> Option<usize> {
    let digits = |k: usize, n: usize| {
        b.get(k..k + n)
            .is_some_and(|t| t.iter().all(u8::is_ascii_digit))
    };
    if !(digits(i + 1, 3) && b.get(i + 4) == Some(&b')')) {
        return None;
    }
    let mut k = i + 5;
    k += usize::from(b.get(k) == Some(&b' '));
    let grouped =
        digits(k, 3) && matches!(b.get(k + 3), Some(b'-' | b' ' | b'.')) && digits(k + 4, 4);
    (grouped && ends_number(b, k + 8)).then_some(k + 8)
}

/// The host name of a personal machine at `i` ([`host_len`]).
fn host_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let n = host_len(&s.as_bytes()[i..])?;
    Some(Found::replace(i, i + n, HOST))
}

/// The length of the personal host name at the start of `b`: one under a
/// private top-level name ([`PRIVATE_TLDS`], `home.arpa`), or whose first
/// label names a device after its owner ([`device_label`]).
fn host_len(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_alphanumeric() {
        return None;
    }
    let raw = run(b, |c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
    let mut n = raw;
    while n > 0 && matches!(b[n - 1], b'.' | b'-') {
        n -= 1;
    }
    let name = &b[..n];
    let first = &name[..run(name, |c| c != b'.')];
    let dotted = first.len() < n;
    // A word, or an identifier that goes on (`a.local_x`).
    if b.get(raw) == Some(&b'_') || !(dotted || first.contains(&b'-')) {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    let first = &name[..first.len()];
    let private = dotted && {
        let (rest, last) = name.rsplit_once('.')?;
        let tld = PRIVATE_TLDS.iter().any(|t| last.eq_ignore_ascii_case(t))
            || (last.eq_ignore_ascii_case("arpa")
                && rest
                    .rsplit('.')
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case("home")));
        tld && !name.split('.').any(str::is_empty)
            && !first.eq_ignore_ascii_case("localhost")
            && !PUBLIC_PRIVATE_HOSTS
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
    };
    (private || (first.contains('-') && device_label(first))).then_some(n)
}

/// Whether a host name's first label names a personal device: a device
/// word after its owner's name (`anas-macbook-pro`), a generic one after a
/// possessive (`johns-laptop`), or Windows' default (`DESKTOP-4F2K9QX`).
fn device_label(label: &str) -> bool {
    let is = |w: &str, list: &[&str]| list.iter().any(|d| w.eq_ignore_ascii_case(d));
    let mut parts = label.split('-');
    let Some(mut before) = parts.next() else {
        return false;
    };
    let mut count = 1;
    let mut windows = false;
    for part in parts {
        count += 1;
        if is(part, DEVICE_WORDS) && !before.is_empty() {
            return true;
        }
        let possessive = before.len() >= 3
            && before.bytes().all(|c| c.is_ascii_alphabetic())
            && before.ends_with(['s', 'S']);
        if is(part, OWNED_DEVICE_WORDS) && possessive {
            return true;
        }
        windows = count == 2
            && is(before, WINDOWS_NAME_PREFIXES)
            && (7..=15).contains(&part.len())
            && part.bytes().all(|c| c.is_ascii_alphanumeric())
            && part.bytes().any(|c| c.is_ascii_digit())
            && part.bytes().any(|c| c.is_ascii_alphabetic());
        before = part;
    }
    windows && count == 2
}

/// An Amazon Resource Name at `i`, whole (`arn:aws:iam::123456789012:user/ana`,
/// `arn:aws:s3:::bucket`, `arn:aws-cn:…`, `arn:aws-us-gov:…`): its account
/// id and its resource say whose it is. One cut short is one all the same
/// once its partition and a `:` are written.
fn arn_at(s: &str, i: usize) -> Option<Found> {
    let b = s.as_bytes();
    let rest = b.get(i..)?;
    if !rest
        .get(..4)
        .is_some_and(|t| t.eq_ignore_ascii_case(b"arn:"))
    {
        return None;
    }
    let p = 4 + run(&rest[4..], |c| c.is_ascii_alphanumeric() || c == b'-');
    let partition = &rest[4..p];
    let aws = partition.eq_ignore_ascii_case(b"aws")
        || (partition.len() > 4 && partition[..4].eq_ignore_ascii_case(b"aws-"));
    if !aws || rest.get(p) != Some(&b':') {
        return None;
    }
    let mut n = p
        + 1
        + run(&rest[p + 1..], |c| {
            c.is_ascii_alphanumeric() || b"-_./:*+=@$%~#!&".contains(&c)
        });
    // Sentence punctuation after it is no part of it.
    while n > p + 1 && b".:!?".contains(&rest[n - 1]) {
        n -= 1;
    }
    (n > p + 1).then(|| Found::replace(i, i + n, ARN))
}

/// A webhook written without its scheme (`hooks.slack.com/services/…`).
fn webhook_at(s: &str, i: usize) -> Option<Found> {
    let n = webhook_len(&s.as_bytes()[i..])?;
    Some(Found::replace(i, i + n, URL))
}

/// The length of the webhook URL (less its scheme) at the start of `b`.
fn webhook_len(b: &[u8]) -> Option<usize> {
    if !matches!(b.first(), Some(b'h' | b'H' | b'd' | b'D')) {
        return None;
    }
    let hook = WEBHOOKS.iter().find(|h| {
        b.get(..h.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(h.as_bytes()))
    })?;
    let mut n = run(b, |c| c.is_ascii_alphanumeric() || b"./_-".contains(&c));
    while n > hook.len() && b[n - 1] == b'.' {
        n -= 1;
    }
    Some(n)
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

/// The end of an API key, a JWT, a long hex run or a random-looking
/// base64 run at `i`.
fn secret_at(s: &str, i: usize, prev: Option<char>) -> Option<usize> {
    if prev.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '.')) {
        return None;
    }
    let rest = s.as_bytes().get(i..)?;
    let n = prefixed_key_len(rest)
        .or_else(|| jwt_len(rest))
        .or_else(|| discord_len(rest))
        .or_else(|| telegram_len(rest))
        .or_else(|| hex_len(rest))
        .or_else(|| userpass_len(rest))
        .or_else(|| random_base64_len(rest))?;
    Some(i + n)
}

fn prefixed_key_len(b: &[u8]) -> Option<usize> {
    let p = KEY_PREFIXES.iter().find(|p| b.starts_with(p.as_bytes()))?;
    let tail = &b[p.len()..];
    let mut n = match *p {
        "SG." | "ya29." => run(tail, |c| is_token(c) || c == b'.'),
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

/// `eyJ…`: a JSON Web Token (its header is base64 of `{"`), of any
/// length and cut anywhere: one part or more.
fn jwt_len(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"eyJ") {
        return None;
    }
    let mut n = run(b, |c| is_token(c) || c == b'.');
    while n > 0 && b[n - 1] == b'.' {
        n -= 1;
    }
    (n >= MIN_JWT).then_some(n)
}

/// A Discord bot token: three base64url parts, the first the bot's user
/// id (base64 of its digits), the second short, the third long. Cut short
/// (the recorder keeps 127 bytes of a string), the first part is enough
/// when it is a Discord id (a snowflake, 17 to 20 digits) and a `.`, the
/// end or `…` follows, with a second part of at most 6 characters and
/// whatever is left of the third.
fn discord_len(b: &[u8]) -> Option<usize> {
    // Base64 of a digit starts with `M`, `N` or `O`.
    if !matches!(b.first(), Some(b'M'..=b'O')) {
        return None;
    }
    let p1 = run(b, is_token);
    if !(20..=32).contains(&p1) || !base64_each(&b[..p1], |c| c.is_ascii_digit()) {
        return None;
    }
    let snowflake = (23..=27).contains(&p1);
    if b.get(p1) != Some(&b'.') {
        let cut = p1 == b.len() || b[p1..].starts_with("…".as_bytes());
        return (snowflake && cut).then_some(p1);
    }
    let p2 = run(&b[p1 + 1..], is_token);
    let k = p1 + 1 + p2;
    let p3 = match b.get(k) {
        Some(b'.') => run(&b[k + 1..], is_token),
        _ => 0,
    };
    if (4..=10).contains(&p2) && p3 >= 20 {
        return Some(k + 1 + p3);
    }
    if !snowflake || p2 > 6 {
        return None;
    }
    Some(match (p2, p3) {
        (0, _) => p1,
        (_, 0) => k,
        _ => k + 1 + p3,
    })
}

/// A Telegram bot token: the bot's id, `:`, and some 35 base64url
/// characters (`123456789:AAE…`), maybe behind `bot` as in its API's URLs.
fn telegram_len(b: &[u8]) -> Option<usize> {
    let k = match b.first() {
        Some(b'b' | b'B') if b.get(..3).is_some_and(|t| t.eq_ignore_ascii_case(b"bot")) => 3,
        Some(c) if c.is_ascii_digit() => 0,
        _ => return None,
    };
    let d = run(&b[k..], |c| c.is_ascii_digit());
    if !(6..=12).contains(&d) || b.get(k + d) != Some(&b':') {
        return None;
    }
    let t = k + d + 1;
    let n = run(&b[t..], is_token);
    ((30..=50).contains(&n) && tokenish(&b[t..t + n])).then_some(t + n)
}

/// A base64 run that decodes to printable `user:password`.
fn userpass_len(b: &[u8]) -> Option<usize> {
    // By quads, each of which must start as the encoding of a printable
    // byte does (`I` to `f`): most words fail at once.
    let (mut n, mut colon) = (0, false);
    while let Some(&first) = b.get(n) {
        if !matches!(first, b'I'..=b'Z' | b'a'..=b'f') {
            if is_base64(first) {
                return None;
            }
            break;
        }
        let q = &b[n..(n + 4).min(b.len())];
        let k = run(q, is_base64);
        colon |= may_encode_colon(&q[..k]);
        n += k;
        if k < 4 {
            break;
        }
    }
    if n < MIN_USERPASS || !colon {
        return None;
    }
    let pad = run(&b[n..(n + 2).min(b.len())], |c| c == b'=');
    decodes_to_userpass(&b[..n], false).then_some(n + pad)
}

fn is_base64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_')
}

/// Whether base64 `t` decodes to `x:y`: printable ASCII without spaces,
/// or with `any_text`, any text without control characters.
fn decodes_to_userpass(t: &[u8], any_text: bool) -> bool {
    if !may_encode_colon(t) {
        return false;
    }
    let (mut len, mut colon) = (0, None);
    let text = base64_each(t, |c| {
        if c == b':' && colon.is_none() {
            colon = Some(len);
        }
        len += 1;
        if any_text {
            c >= 0x20 && c != 0x7f
        } else {
            c.is_ascii_graphic()
        }
    });
    text && colon.is_some_and(|k| k > 0 && k + 1 < len)
}

/// Whether base64 `t` may encode a `:` (0x3A): then a quad has `O`
/// first, `o` to `r` third or `6` fourth, by where the `:` falls in its
/// three bytes. Most runs have none, and are not decoded.
fn may_encode_colon(t: &[u8]) -> bool {
    t.chunks(4).any(|q| {
        q[0] == b'O'
            || q.get(2).is_some_and(|c| (b'o'..=b'r').contains(c))
            || q.get(3) == Some(&b'6')
    })
}

/// Decodes base64 or base64url `t` (without padding), passing each byte
/// to `f` until it says no; whether `t` was base64 and `f` always said yes.
fn base64_each(t: &[u8], mut f: impl FnMut(u8) -> bool) -> bool {
    if t.len() % 4 == 1 {
        return false;
    }
    let (mut acc, mut bits) = (0u32, 0);
    for &c in t {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if !f((acc >> bits) as u8) {
                return false;
            }
            acc &= (1 << bits) - 1;
        }
    }
    true
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

    #[test]
    fn ibans_become_iban() {
        check(
            &plain(),
            &[
                ("DE89 3704 0044 0532 0130 00", "<iban>"),
                ("DE89370400440532013000", "<iban>"),
                ("iban=GB82WEST12345698765432,", "iban=<iban>,"),
                ("to NL91ABNA0417164300.", "to <iban>."),
                ("FR14 2004 1010 0505 0001 3M02 606 ok", "<iban> ok"),
                ("error=BE68539007547034", "error=<iban>"),
                ("(de89 3704 0044 0532 0130 00)", "(<iban>)"),
                (
                    "backend=\"CH93 0076 2011 6238 5295 7\"",
                    "backend=\"<iban>\"",
                ),
                // The groups end where the check holds.
                ("DE89 3704 0044 0532 0130 00 1234", "<iban> 1234"),
            ],
        );
        kept(
            &plain(),
            &[
                "DE88370400440532013000",
                "DE88 3704 0044 0532 0130 00",
                "De89370400440532013000",
                "DE89",
                "AB12 is a code",
                "GB82 WEST",
            ],
        );
    }

    #[test]
    fn card_numbers_become_card() {
        check(
            &plain(),
            &[
                ("4111 1111 1111 1111", "<card>"),
                ("4111-1111-1111-1111", "<card>"),
                ("card=4111111111111111,", "card=<card>,"),
                ("5500 0000 0000 0004 exp 12/27", "<card> exp 12/27"),
                ("amex 3782 822463 10005.", "amex <card>."),
                ("6011111111111117", "<card>"),
                ("(4111-1111-1111-1111)", "(<card>)"),
                ("4111 1111 1111 1111 12", "<card> 12"),
                // A Luhn-valid run is a card, though it might be an id.
                ("id 4000000000000002", "id <card>"),
            ],
        );
        kept(
            &plain(),
            &[
                "4111111111111112",
                "4111 1111 1111 1112",
                "1234 5678",
                "2026-12-06",
                "0000 0000 0000 0000",
                // Unix times in ms, µs, ns, Luhn-valid or not.
                "1733480000123",
                "1733480000129",
                "1733480000123456",
                "1733480000123456789",
                "1733480000123456786",
                "x4111111111111111",
                "4111111111111111x",
                "v4111-1111-1111-1111",
                "1.4111111111111111",
            ],
        );
    }

    #[test]
    fn phone_numbers_become_phone() {
        check(
            &plain(),
            &[
                ("+4915112345678", "<phone>"),
                ("call +1 (555) 123-4567.", "call <phone>."),
                ("tel:+1-555-123-4567", "<phone>"),
                ("tel:5551234567,", "<phone>,"),
                ("<tel:+44-20-7946-0958;ext=12>", "<<phone>>"),
                ("(555) 123-4567", "<phone>"),
                ("(555)123-4567 x", "<phone> x"),
                ("+44 20 7946 0958", "<phone>"),
                ("+44 (0)20 7946 0958", "<phone>"),
                ("phone=+49-151-1234-5678;", "phone=<phone>;"),
                ("+33 6 12 34 56 78", "<phone>"),
                ("+33 6 12 34 56 78 ok", "<phone> ok"),
                ("+49 151 12345678 2 more", "<phone> 2 more"),
            ],
        );
        kept(
            &plain(),
            &[
                "1733480000",
                "5551234567",
                "+5",
                "+1.5",
                "+1 2 3 4 5 6 7 8",
                "+100ms",
                "score +12 points",
                "(555)",
                "(1) first",
                "C++17",
                "a+12345678",
                "tel:",
                "tel:12",
            ],
        );
    }

    #[test]
    fn mac_addresses_become_mac() {
        check(
            &plain(),
            &[
                ("00:1A:2B:3C:4D:5E", "<mac>"),
                ("00-1a-2b-3c-4d-5e", "<mac>"),
                ("001a.2b3c.4d5e", "<mac>"),
                ("mac=00:1a:2b:3c:4d:5e,", "mac=<mac>,"),
                ("(de:ad:be:ef:ca:fe)", "(<mac>)"),
                ("ether 00:1a:2b:3c:4d:5e.", "ether <mac>."),
            ],
        );
        kept(
            &plain(),
            &[
                "de:ad:be:ef",
                "12:34:56",
                "00:1A:2B:3C:4D:5E:6F",
                "a00-1a-2b-3c-4d-5e",
            ],
        );
    }

    #[test]
    fn jwts_of_any_length_and_cut_anywhere_become_secret() {
        let long_payload = format!(
            "eyJhbGciOiJIUzI1NiJ9.eyJ{}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIy".repeat(4)
        );
        assert!(long_payload.len() > 200);
        assert_eq!(plain().text(&long_payload), "<secret>");
        assert_eq!(
            plain().text(&format!("token {long_payload} end")),
            "token <secret> end"
        );
        check(
            &plain(),
            &[
                ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw", "<secret>"),
                ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIi…", "<secret>…"),
                ("eyJhbGciOiJIUz", "<secret>"),
                ("jwt=eyJhbGciOiJIUzI1NiJ9.", "jwt=<secret>."),
                (
                    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3",
                    "<secret>",
                ),
            ],
        );
        kept(&plain(), &["eyJ", "eyJhbG"]);
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
    fn international_emails_become_email() {
        check(
            &plain(),
            &[
                ("jürgen.weiß@beispiel.de", "<email>"),
                ("用户@例子.广告", "<email>"),
                ("mail josé@correo.es!", "mail <email>!"),
                ("jose\u{301}@correo.es", "<email>"),
                ("«ana@例子.中国»", "«<email>»"),
                ("from: Žofie@příklad.cz,", "from: <email>,"),
            ],
        );
        kept(&plain(), &["ü@x", "@例子", "用户@例子", "josé@"]);
    }

    #[test]
    fn personal_host_names_become_host() {
        check(
            &plain(),
            &[
                ("someones-macbook-air", "<host>"),
                ("anas-macbook-pro.local", "<host>"),
                ("on Anas-MacBook-Pro.local.", "on <host>."),
                ("DESKTOP-4F2K9QX", "<host>"),
                ("host=LAPTOP-AB12CD3E,", "host=<host>,"),
                ("johns-iphone", "<host>"),
                ("bobs-imac", "<host>"),
                ("johns-laptop", "<host>"),
                ("nas.local", "<host>"),
                ("router.lan:80", "<host>:80"),
                ("db.internal", "<host>"),
                ("printer.home", "<host>"),
                ("box.home.arpa", "<host>"),
                ("myhost.localdomain", "<host>"),
                ("build-box.corp", "<host>"),
                ("ssh bobs-imac.local:22", "ssh <host>:22"),
                ("http://anas-macbook-pro.local:11434/api", "<url>"),
            ],
        );
        kept(
            &plain(),
            &[
                "macbook-pro",
                "MacBook",
                "iPhone",
                "gnome-desktop",
                "xdg-desktop-portal",
                "x86_64-pc-windows-msvc",
                "aarch64-linux-android",
                "host.docker.internal",
                "http://host.docker.internal:11434",
                "metadata.google.internal",
                "localhost.localdomain",
                ".env.local",
                "config.local.toml",
                "win-x64",
                "desktop-app",
                "device-pixel-ratio",
            ],
        );
    }

    #[test]
    fn token_shapes_become_secret() {
        check(
            &plain(),
            &[
                ("https://hooks.slack.com/services/T000/B000/XXXX", "<url>"),
                ("post hooks.slack.com/services/T000/B000/XXXX.", "post <url>."),
                (
                    "https://discord.com/api/webhooks/123/abc",
                    "<url>",
                ),
                ("ya29.a0AfH6SMBx1234abcdEFGH", "<secret>"),
                ("token ya29.A0ARrdaM-x_y1Z2.w", "token <secret>"),
                (
                    "MTA0NjM1NzM0NjEyNjU0MjE0Mg.GxYzAb.abcdefghijklmnopqrstuvwxyz0123456789AB",
                    "<secret>",
                ),
                (
                    "bot 123456789:AAEhBP0av28p5yCKd3HmoPz0QNf1rXg7nUk",
                    "bot <secret>",
                ),
                (
                    "https://api.telegram.org/bot123456789:AAEhBP0av28p5yCKd3HmoPz0QNf1rXg7nUk/getMe",
                    "<url>",
                ),
                (
                    "Authorization: Basic dXNlcjpwYXNzd29yZA==",
                    "Authorization: Basic <secret>",
                ),
                ("Basic YTpi", "Basic <secret>"),
                ("Basic am9zw6k6Y29udHJhc2XDsWE=", "Basic <secret>"),
                ("creds dXNlcjpwYXNzd29yZA== ok", "creds <secret> ok"),
                ("YWxpY2U6c2VjcmV0", "<secret>"),
                ("https://x.example/a/YWxpY2U6c2VjcmV0", "<url>"),
                ("https://x.example/files/%2Fhome%2Fana%2Fx", "<url>"),
                ("https://x.example/pay/DE89370400440532013000", "<url>"),
                ("https://x.example/call/+4915112345678", "<url>"),
            ],
        );
        kept(
            &plain(),
            &[
                "Basic auth failed",
                "basic usage",
                "generate",
                "BackendTimeout",
                "12345:abc",
                "https://api.example.com/a/b/generate",
                "https://github.com/rustls/rustls/releases/tag/v%2F0.23.0",
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
    fn aws_arns_become_arn() {
        check(
            &zanzibar(),
            &[
                ("arn:aws:iam::418273645091:user/zanzibar", "<arn>"),
                ("arn:aws:iam::418273645091:user/ana", "<arn>"),
                ("arn:aws:s3:::bucket", "<arn>"),
                ("arn:aws:s3:::ana-tax-docs/2025/return.pdf", "<arn>"),
                (
                    "denied to arn:aws:lambda:eu-west-1:123456789012:function:x.",
                    "denied to <arn>.",
                ),
                ("arn:aws-cn:iam::123456789012:role/x, ok", "<arn>, ok"),
                ("arn:aws-us-gov:s3:::b", "<arn>"),
                ("(arn:aws:sts::123456789012:assumed-role/r/s)", "(<arn>)"),
                ("role=arn:aws:iam::123456789012:role/x", "role=<arn>"),
                ("\"arn:aws:iam::123456789012:root\"", "\"<arn>\""),
                // Cut short by the recorder.
                ("arn:aws:iam::4182736", "<arn>"),
            ],
        );
        kept(
            &plain(),
            &[
                "1733480000",
                "1733480000123",
                "ts=1733480000 took 1733480000123",
                "arn",
                "arn:",
                "arn:aws",
                "arn:aws:",
                "arn:azure:x",
                "arn:awsome:x",
                "learn:aws:x",
                "ARN missing",
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
    fn escaped_paths_and_json_are_scrubbed() {
        check(
            &zanzibar(),
            &[
                // `Debug` of `\\fileserver\zanzibar$\payroll.xlsx`.
                (
                    r#""\\\\fileserver\\zanzibar$\\payroll.xlsx""#,
                    r#""<path>""#,
                ),
                // Escaped twice (JSON of `Debug`).
                (r#""\\\\\\\\fs\\\\ana\\\\x.xlsx""#, r#""<path>""#),
                (r#""C:\\Users\\ana\\x.txt""#, r#""<path>""#),
                (r"at C:\\\\Users\\\\ana now", "at <path> now"),
                (r"\/home\/ana\/x", "<path>"),
                (
                    r#"{\"api_key\": \"Qx7Lm2Pw9Rt4Vn8Kc1Xb\"}"#,
                    r#"{\"api_key\": \"<secret>\"}"#,
                ),
                (
                    r#""{\"api_key\": \"Qx7Lm2Pw9Rt4Vn8Kc1Xb\"}""#,
                    r#""{\"api_key\": \"<secret>\"}""#,
                ),
                (r#"{\"token\":\"abc def\"}"#, r#"{\"token\":\"<secret>\"}"#),
                (
                    r#"\\\"password\\\": \\\"x\\\""#,
                    r#"\\\"password\\\": \\\"<secret>\\\""#,
                ),
                (r#"FOO=\"bar\""#, r#"FOO=\"<secret>\""#),
            ],
        );
        kept(
            &plain(),
            &[
                r#"{\"key\": \"backend\"}"#,
                r#"{\"model\": \"qwen2.5-coder:1.5b\"}"#,
                r#"{\"token_count\": 3}"#,
                r#""\\""#,
                r#"\\\"done\\\""#,
                r"a\\b",
                r"\n",
                r"x \ y",
            ],
        );
    }

    #[test]
    fn discord_tokens_cut_short_become_secret() {
        check(
            &plain(),
            &[
                (
                    "backend failed on MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a",
                    "backend failed on <secret>",
                ),
                (
                    "on MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a… x",
                    "on <secret>… x",
                ),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.", "<secret>."),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P", "<secret>"),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhX", "<secret>"),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.", "<secret>."),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ", "<secret>"),
                ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ…", "<secret>…"),
            ],
        );
        kept(
            &plain(),
            &[
                // Not base64 of digits, or not a Discord id's length.
                "NotADiscordTokenAtAll12.GhXk2P.a",
                "MessageQueueHandlerFactory.build",
                "MTIzNDU2Nzg5MDEy.GhXk2P",
                "MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2Pabc.a",
                "MTA5NjQ3ODU2NzEyMzQ1Njc4OQ, next",
            ],
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

    /// What says what caro did, not who used it: kept as it is.
    const HARMLESS: &[&str] = &[
        "http://localhost:11434/api/generate",
        "POST http://localhost:11434/api/generate 200",
        "http://localhost:11434",
        "https://api.openai.com/v1",
        "qwen2.5-coder:1.5b",
        "model=qwen2.5-coder:1.5b",
        "llama3.2:3b-instruct-q4_k_m",
        "1.4.2",
        "v0.12.3",
        "1.234ms",
        "2.5s",
        "took 1.234ms (2.5s total)",
        "550e8400-e29b-41d4-a716-446655440000",
        "550E8400-E29B-41D4-A716-446655440000",
        "caro::agent",
        "BackendTimeout",
        "file_search",
        "src/main.rs",
        "2026-12-06",
        "2026-12-06T12:34:56Z",
        "12:34:56",
        "12:34:56.789",
        "42",
        "3 of 5",
        "attempt 2 of 3",
        "x86_64",
        "x86_64-unknown-linux-gnu",
        "HTTP/1.1",
        "port 8080",
        "listening on :11434",
        "1048576",
        "1048576 bytes",
        "1733480000",
        "1733480000123",
        "ts=1733480000123",
        "count=1234",
        "year 2026",
        "v2026.12",
        "sha256",
        "utf-8",
        "max_tokens=100",
        "temperature=0.7",
        "backend=ollama",
        "status=200",
        "q4_k_m",
        "gpt-4o-mini",
        "claude-3-5-sonnet-20241022",
        "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit",
        "ls -la | grep foo",
        "find . -name '*.rs'",
        "could not determine served context length via /api/show",
        "POST /api/generate",
        "/v1/chat/completions",
        "/healthz",
        "/metrics",
        "arn:awsome",
    ];

    #[test]
    fn harmless_values_survive() {
        kept(&plain(), HARMLESS);
        kept(&zanzibar(), HARMLESS);
        // Loopback is an IPv4 address like any other, as it always was.
        check(
            &plain(),
            &[("127.0.0.1", "<ip>"), ("127.0.0.1:11434", "<ip>")],
        );
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
        ("DE89 3704 0044 0532 0130 00", "3704 0044"),
        ("DE89370400440532013000", "370400440532"),
        ("4111-1111-1111-1111", "1111-1111"),
        ("4111 1111 1111 1111", "1111 1111"),
        ("+4915112345678", "15112345678"),
        ("+1 (555) 123-4567", "123-4567"),
        ("tel:+1-555-123-4567", "123-4567"),
        ("00:1A:2B:3C:4D:5E", "2B:3C"),
        ("00-1a-2b-3c-4d-5e", "2b-3c"),
        ("jürgen.qzweiß@beispiel.de", "qzweiß"),
        ("qz用户@例子.广告", "qz用户"),
        ("%2Fhome%2Fqzenc%2Fx", "qzenc"),
        ("／home／qzwide／x", "qzwide"),
        ("qzbobs-macbook-air", "qzbobs"),
        ("qzanas-macbook-pro.local", "qzanas"),
        ("db_pass=qzpw", "qzpw"),
        ("PGPASSWORD:qzpg", "qzpg"),
        ("api-key: qzkey", "qzkey"),
        ("dXNlcjpwYXNzd29yZA==", "dXNlcjpw"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw", "eyJzdWIi"),
        ("ya29.a0AfH6SMBx1234qzEFGH", "qzEFGH"),
        ("arn:aws:iam::418273645091:user/qzarn", "418273645091"),
        ("arn:aws:s3:::qzbucket", "qzbucket"),
        ("Cookie: sessionid=qzsess1; theme=qzdark", "qzsess1"),
        ("Cookie: sessionid=qzsess1; theme=qzdark", "qzdark"),
        ("session_id=qzsid", "qzsid"),
        ("C：＼Users＼qzfw＼x.pdf", "qzfw"),
        (r"\\qzfs\share$\qzpay.xlsx", "qzfs"),
        (r"\\qzfs\share$\qzpay.xlsx", "qzpay"),
        (r#"{\"api_key\": \"qzjsonkey\"}"#, "qzjsonkey"),
        ("MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a", "NjQ3ODU2"),
        ("/api/users/qzapi.json", "qzapi"),
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
        "iban DE89 3704 0044 0532 0130 00, card 4111-1111-1111-1111",
        "call +1 (555) 123-4567 or tel:+1-555-123-4567 from 00:1A:2B:3C:4D:5E",
        "jürgen.weiß@beispiel.de %2Fhome%2Fbob ／home／bob anas-macbook-pro.local",
        "PGPASSWORD:x api-key: y Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi… DESKTOP-4F2K9QX 1733480000123",
        "arn:aws:iam::418273645091:user/zanzibar Cookie: sid=x; a=b",
        r#"C：＼Users＼bob "\\\\fs\\x" {\"api_key\": \"k\"}"#,
        "MTA5NjQ3ODU2NzEyMzQ1Njc4OQ.GhXk2P.a… via /api/show /v1/chat/completions",
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
