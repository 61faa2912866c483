//! Account numbers: IBANs, payment cards (Luhn), phone numbers and Amazon
//! Resource Names.

use super::{ends_number, ends_word, run, starts_word, Found, ARN, CARD, IBAN, PHONE};

/// Card numbers have 13 to 19 digits.
pub(super) const MIN_CARD: usize = 13;
const MAX_CARD: usize = 19;

/// An IBAN at `i`: a country's two letters, two check digits and up to 30
/// letters and digits, in one run or printed in groups of four, whose
/// ISO 13616 mod-97 check holds. The longest such run of groups is taken.
pub(super) fn iban_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
pub(super) fn card_at(s: &str, i: usize, prev: Option<char>) -> Option<Found> {
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
pub(super) fn phone_at(s: &str, i: usize) -> Option<Found> {
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

/// An Amazon Resource Name at `i`, whole (`arn:aws:iam::123456789012:user/ana`,
/// `arn:aws:s3:::bucket`, `arn:aws-cn:…`, `arn:aws-us-gov:…`): its account
/// id and its resource say whose it is. One cut short is one all the same
/// once its partition and a `:` are written.
pub(super) fn arn_at(s: &str, i: usize) -> Option<Found> {
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

#[cfg(test)]
mod tests {
    use crate::scrub::tests::{check, kept, plain, zanzibar};

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
}
