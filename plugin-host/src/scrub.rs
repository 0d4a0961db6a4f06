//! Keeps credential values out of every string that leaves the host: a plugin's message,
//! label and warnings, the URLs shown for its requests, and the errors a run ends with (an
//! origin or a panic message a hostile plugin chose).
//!
//! A value is caught as it is, URL-encoded, base64- (standard or URL-safe, at any alignment,
//! so also inside `base64("user:" + key)`) and hex-encoded, in any ASCII letter case. Text
//! that a plugin chose and the host cannot prove clean (an origin it was refused) is replaced
//! by a fixed message instead of being repeated.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// What replaces a credential value.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not looked for (they would match ordinary words).
const MIN_LEN: usize = 6;
/// Encoded forms shorter than this are not looked for either.
const MIN_ENCODED: usize = 8;

/// The forms of a run's credential values to look for.
pub struct Scrubber {
    /// ASCII-lowercased, longest first.
    needles: Vec<Vec<u8>>,
}

impl Scrubber {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_LEN)
            .flat_map(forms)
            .filter(|n| n.len() >= MIN_LEN)
            .map(|n| n.to_ascii_lowercase())
            .collect();
        // Longest first, so that a value containing another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    /// `text` with every form of every value replaced by [`REDACTED`].
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            out = replace_ascii_case_insensitive(&out, needle);
        }
        out
    }

    /// Whether `text` holds a form of a value.
    pub fn finds(&self, text: &str) -> bool {
        self.apply(text) != text
    }
}

/// A value and its encodings.
fn forms(value: &str) -> Vec<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = vec![
        bytes.to_vec(),
        url::form_urlencoded::byte_serialize(bytes)
            .collect::<String>()
            .into_bytes(),
        bytes
            .iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect(),
    ];
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        out.extend(base64_cores(&engine, bytes));
    }
    out
}

/// The base64 characters that depend only on `bytes`, when `bytes` starts at each of the three
/// offsets a 3-byte group allows: found inside the encoding of any longer text around it.
fn base64_cores(engine: &impl base64::Engine, bytes: &[u8]) -> Vec<Vec<u8>> {
    (0..3usize)
        .filter_map(|k| {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded).into_bytes();
            // Characters 6i..6i+5 in bits; the first k bytes taint the first ceil(8k/6), the
            // last character may hold padding bits.
            let start = (8 * k).div_ceil(6);
            let end = (8 * padded.len()) / 6;
            let core = encoded.get(start..end)?.to_vec();
            (core.len() >= MIN_ENCODED).then_some(core)
        })
        .collect()
}

fn replace_ascii_case_insensitive(text: &str, needle_lower: &[u8]) -> String {
    let hay = text.as_bytes();
    if needle_lower.is_empty() || hay.len() < needle_lower.len() {
        return text.to_owned();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        let end = i + needle_lower.len();
        if end <= hay.len() && hay[i..end].eq_ignore_ascii_case(needle_lower) {
            out.extend_from_slice(REDACTED.as_bytes());
            i = end;
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    // Needles are replaced whole; a needle that starts or ends inside a multi-byte character
    // cannot match bytes of valid UTF-8 that are not a character boundary for it too, but be
    // safe: anything not UTF-8 any more is refused whole.
    String::from_utf8(out).unwrap_or_else(|_| REDACTED.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const KEY: &str = "sk-ant-FAKE-0123456789abcdef";

    #[test]
    fn the_key_is_caught_however_it_is_encoded() {
        let s = Scrubber::new([KEY]);
        let b64 = STANDARD_NO_PAD.encode(KEY);
        let basic = STANDARD_NO_PAD.encode(format!("user:{KEY}"));
        let hex: String = KEY.bytes().map(|b| format!("{b:02X}")).collect();
        for text in [
            format!("echo {KEY}!"),
            format!("upper {}", KEY.to_ascii_uppercase()),
            format!("b64 {b64}"),
            format!("basic {basic}"),
            format!("url {}", URL_SAFE_NO_PAD.encode(format!("xy{KEY}"))),
            format!("hex {hex}"),
            format!("https://{}.evil.example/", KEY.to_ascii_lowercase()),
        ] {
            assert!(s.finds(&text), "{text}");
            let clean = s.apply(&text);
            assert!(
                !clean
                    .to_ascii_lowercase()
                    .contains(&KEY.to_ascii_lowercase()),
                "{clean}"
            );
        }
        assert_eq!(s.apply("nothing to see"), "nothing to see");
    }

    #[test]
    fn short_values_are_not_looked_for() {
        let s = Scrubber::new(["abc", "us1"]);
        assert_eq!(s.apply("abc us1"), "abc us1");
    }
}
