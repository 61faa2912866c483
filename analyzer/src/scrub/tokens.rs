//! Secrets by their shape: API keys, JWTs, Discord and Telegram bot tokens,
//! base64 of `user:password`, long hex and random-looking base64 runs.

use super::{is_token, run, tokenish};

/// Provider prefixes of API keys (`sk-` covers `sk-proj-` and `sk-ant-`).
/// At least [`MIN_KEY_TAIL`] token characters must follow.
pub(super) const KEY_PREFIXES: &[&str] = &[
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
pub(super) const MIN_KEY: usize = 3 + MIN_KEY_TAIL;
/// Hex and base64 runs at least this long may be secrets.
pub(super) const MIN_RANDOM_RUN: usize = 32;
/// The shortest JWT taken for one, cut or not: `eyJ` (base64 of `{"`) and
/// seven more characters.
pub(super) const MIN_JWT: usize = 10;
/// The shortest bare base64 run taken for `user:password`.
pub(super) const MIN_USERPASS: usize = 8;

/// The end of an API key, a JWT, a long hex run or a random-looking
/// base64 run at `i`.
pub(super) fn secret_at(s: &str, i: usize, prev: Option<char>) -> Option<usize> {
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
pub(super) fn discord_len(b: &[u8]) -> Option<usize> {
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
pub(super) fn userpass_len(b: &[u8]) -> Option<usize> {
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

pub(super) fn is_base64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_')
}

/// Whether base64 `t` decodes to `x:y`: printable ASCII without spaces,
/// or with `any_text`, any text without control characters.
pub(super) fn decodes_to_userpass(t: &[u8], any_text: bool) -> bool {
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
    use crate::scrub::tests::{check, kept, plain};

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
}
