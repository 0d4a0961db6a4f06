//! What a problem says about a JSON body that did not parse: never the body's own text.
//!
//! serde_json's messages quote the offending value (`invalid type: string "…"`) and unknown
//! field names, and a value may be a key pasted in the wrong place. The detail is built from the
//! error's category, line and column, plus only the parts of the message our own types wrote:
//! a missing field's name, or what was expected.

use serde_json::error::Category;

/// Parses a body that must be a JSON object into `T`, or says why not (a `malformed-body`
/// detail). Not only `from_slice`: serde also reads a struct from an array (`["openai"]`),
/// which no route documents or means to accept.
pub fn parse_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).or_else(|e| {
            // JSON (and JSON Schema's `integer`) counts `145.0` as an integer; serde does not.
            integral_floats_as_integers(bytes)
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| detail(&e))
        }),
        Some(_) => Err("The body must be a JSON object.".to_owned()),
        None => Err("The body is empty: send a JSON object.".to_owned()),
    }
}

/// The body as a JSON value with every integral float (`145.0`) made an integer; `None` when
/// it is not JSON or has no such number.
fn integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let integral = f.fract() == 0.0 && f.abs() < 9.0e15;
                if integral {
                    // Exact: |f| < 2^53.
                    *v = serde_json::Value::from(f as i64);
                }
                integral
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |any, i| walk(i) | any),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |any, i| walk(i) | any),
            _ => false,
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut v).then_some(v)
}

/// The `detail` of a `malformed-body` problem for this parse error.
pub fn detail(e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Io => "The body could not be read.".to_owned(),
        Category::Eof => format!("The body is not complete JSON: it ends early (at {at})."),
        Category::Syntax => format!("The body is not valid JSON (at {at})."),
        Category::Data => match shape_hint(&e.to_string()) {
            Some(hint) => format!("The body does not have the expected shape (at {at}): {hint}."),
            None => format!("The body does not have the expected shape (at {at})."),
        },
    }
}

/// From a data error's message, only what our types wrote: `missing field `x`` (our field's
/// name) or `expected …` (our type's description). `None` when that part cannot be told apart
/// from the client's text.
fn shape_hint(message: &str) -> Option<String> {
    // serde_json ends every message with " at line L column C".
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let hint = if let Some(field) = message.strip_prefix("missing field `") {
        format!("missing field `{field}")
    } else if message.starts_with("must ") {
        // Our own ids' rules (`ids::IdError`), which never quote the value.
        message.to_owned()
    } else {
        // `invalid type: string "…", expected X` and `unknown field `…`, expected one of …`:
        // whatever the client wrote comes before the last ", expected ".
        let (_, expected) = message.rsplit_once(", expected ")?;
        format!("expected {expected}")
    };
    let plain = hint.len() <= 200
        && hint
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " `_-,.:/'()".contains(c));
    plain.then_some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        provider: String,
        count: u32,
    }

    fn detail_of(body: &str) -> String {
        match serde_json::from_str::<Shape>(body) {
            Ok(_) => panic!("{body} parsed"),
            Err(e) => detail(&e),
        }
    }

    #[test]
    fn an_escaped_quote_does_not_end_the_redaction() {
        // The previous redaction stopped at the escaped quote and echoed the rest.
        let body = r#"{"provider": "x", "count": "abc\"sk-ant-FAKE-0000-rest-of-key"}"#;
        let d = detail_of(body);
        assert!(!d.contains("sk-ant") && !d.contains("rest-of-key"), "{d}");
        assert!(d.contains("line 1") && d.contains("expected u32"), "{d}");
    }

    #[test]
    fn only_an_object_is_a_body() {
        assert!(parse_object::<Shape>(br#"["x", 1]"#).is_err_and(|d| d.contains("JSON object")));
        assert!(parse_object::<Shape>(b"  ").is_err_and(|d| d.contains("empty")));
        assert!(parse_object::<Shape>(br#" {"provider": "x", "count": 1}"#).is_ok());
        // An integral float is an integer, as JSON Schema says; a fraction is not.
        assert!(parse_object::<Shape>(br#"{"provider": "x", "count": 145.0}"#).is_ok());
        assert!(parse_object::<Shape>(br#"{"provider": "x", "count": 1.5}"#).is_err());
    }

    #[test]
    fn our_own_words_are_kept() {
        let d = detail_of(r#"{"count": 1}"#);
        assert!(d.contains("missing field `provider`"), "{d}");
        let d = detail_of(r#"{"provider": "x", "count": 1, "sk-ant-FAKE-key": 1}"#);
        assert!(!d.contains("sk-ant"), "{d}");
        assert!(d.contains("expected `provider`"), "{d}");
        assert!(detail_of("{\"provider\": ").contains("ends early"));
        let id = serde_json::from_str::<crate::api::ResolveRequest>(
            r#"{"tenant": "t", "provider": "Not A Key"}"#,
        );
        let d = match id {
            Ok(_) => panic!("parsed"),
            Err(e) => detail(&e),
        };
        assert!(d.contains("must be a lowercase slug"), "{d}");
        assert!(detail_of("{provider}").contains("not valid JSON"));
    }

    proptest! {
        /// Whatever a client puts in a value or a field name, and wherever, it is not repeated.
        #[test]
        fn nothing_the_client_wrote_is_repeated(
            tail in r#"[A-Za-z0-9 "\\,`:./_{}-]{0,40}"#,
            place in 0usize..4,
        ) {
            let secret = format!("SECRET{tail}");
            let quoted = serde_json::to_string(&secret).expect("a string");
            let body = match place {
                0 => format!(r#"{{"provider": "x", "count": {quoted}}}"#),
                1 => format!(r#"{{"provider": "x", "count": 1, {quoted}: 1}}"#),
                2 => format!(r#"{{"provider": {quoted}, "count": [{quoted}]}}"#),
                _ => format!(r#"{{"provider": {quoted}, "count": 1, "extra": {quoted}}}"#),
            };
            if let Err(e) = serde_json::from_str::<Shape>(&body) {
                let d = detail(&e);
                prop_assert!(!d.contains("SECRET"), "{}", d);
            }
        }
    }
}
