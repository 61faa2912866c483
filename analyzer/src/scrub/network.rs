//! Network data: URLs and webhooks, e-mail addresses, IPv4 and IPv6
//! addresses, MAC addresses and the host names of personal machines.

use std::borrow::Cow;

use super::{
    ends_number, ends_word, is_token, run, scheme_len, segment_is_datum, starts_word, Found,
    Scrubber, EMAIL, HOST, IP, MAC, URL,
};

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

impl Scrubber {
    /// A URL at `i`: `<url>` when it says more than which service was
    /// called, kept whole otherwise (so no path or name is found in it).
    pub(super) fn url_at(&self, s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
}

/// An IPv4 (with `:port` or `/prefix`) or IPv6 address (with `%zone` or
/// `/prefix`, or in brackets with `:port`) at `i`.
pub(super) fn ip_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
pub(super) fn email_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
pub(super) fn mac_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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

pub(super) fn mac_len(b: &[u8]) -> Option<usize> {
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

/// The host name of a personal machine at `i` ([`host_len`]).
pub(super) fn host_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
    if !starts_word(prev) {
        return None;
    }
    let n = host_len(&s.as_bytes()[i..])?;
    Some(Found::replace(i, i + n, HOST))
}

/// The length of the personal host name at the start of `b`: one under a
/// private top-level name ([`PRIVATE_TLDS`], `home.arpa`), or whose first
/// label names a device after its owner ([`device_label`]).
pub(super) fn host_len(b: &[u8]) -> Option<usize> {
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

/// A webhook written without its scheme (`hooks.slack.com/services/…`).
pub(super) fn webhook_at(s: &str, i: usize) -> Option<Found> {
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

#[cfg(test)]
mod tests {
    use crate::scrub::tests::{check, kept, plain};

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
}
