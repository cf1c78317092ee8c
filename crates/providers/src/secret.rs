//! API keys and the scrubbing layer: read from the environment only, never printed, and
//! removed from every string a provider sends back.
//!
//! Every [`ApiKey`] constructed registers its value in one process-wide set of known
//! secrets; [`scrub_secrets`] replaces each of them by `***`. The clients pass every body and
//! stream line through it as it is read from the network — before any parsing or shortening,
//! so a cut can never leave half a key — and every answer and error once more on the way out,
//! so a key of provider A echoed by provider B is caught too.

use std::borrow::Cow;
use std::fmt;
use std::sync::{OnceLock, RwLock};

/// Keys shorter than this are not scrubbed (they would mangle ordinary text).
const MIN_SECRET_LEN: usize = 4;

fn known() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

fn register(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut set = known()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !set.iter().any(|s| s == secret) {
        set.push(secret.to_owned());
        // Longest first: a key containing another is replaced whole.
        set.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every known secret (the value of every [`ApiKey`] constructed in this
/// process) replaced by `***`.
#[must_use]
pub fn scrub_secrets(text: &str) -> Cow<'_, str> {
    let set = known()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in set.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// Fragments of a known secret at least this long are masked in excerpts.
const MIN_FRAGMENT: usize = 8;

/// `text` (a short excerpt of server text) scrubbed of known secrets **and of any fragment**
/// of one (8 bytes or more): a server that splits a key across stream chunks, or a cut
/// through a key, leaves no readable part of it. Quadratic in the length of `text`: use it
/// on excerpts (a few hundred characters), after [`scrub_secrets`] and the cut.
pub(crate) fn scrub_fragments(text: &str) -> String {
    let set = known()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bytes = text.as_bytes();
    let mut masked = vec![false; bytes.len()];
    for secret in set.iter().map(String::as_bytes) {
        for i in 0..bytes.len() {
            let longest = (0..secret.len())
                .map(|j| {
                    bytes[i..]
                        .iter()
                        .zip(&secret[j..])
                        .take_while(|(a, b)| a == b)
                        .count()
                })
                .max()
                .unwrap_or(0);
            if longest >= MIN_FRAGMENT {
                masked[i..i + longest].iter_mut().for_each(|m| *m = true);
            }
        }
    }
    if !masked.contains(&true) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_mask = false;
    for (i, c) in text.char_indices() {
        if masked[i..i + c.len_utf8()].contains(&true) {
            if !in_mask {
                out.push_str("***");
            }
            in_mask = true;
        } else {
            out.push(c);
            in_mask = false;
        }
    }
    out
}

/// Scrubs an owned string in place of a copy when nothing matches.
pub(crate) fn scrub_owned(text: String) -> String {
    match scrub_secrets(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// A secret API key. `Debug` prints `ApiKey(***)`; there is no `Display`. Constructing one
/// registers its value with the scrubbing layer ([`scrub_secrets`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (prefer [`ApiKey::from_env`]).
    #[must_use]
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        register(&key);
        Self(key)
    }

    /// Reads the key from environment variable `var`; `None` when unset or empty.
    #[must_use]
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Self::new(v.trim()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_constructed_is_scrubbed_everywhere() {
        let a = ApiKey::new("sk-unit-AAAA-1111");
        let _b = ApiKey::new("sk-unit-BBBB-2222");
        assert_eq!(a.expose(), "sk-unit-AAAA-1111");
        assert_eq!(
            scrub_secrets("x sk-unit-AAAA-1111 y sk-unit-BBBB-2222"),
            "x *** y ***"
        );
        assert!(matches!(scrub_secrets("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            scrub_fragments("a: sk-unit-AAAA-, b: 1111 and sk-unit-BB|BB-2222 é"),
            "a: ***, b: 1111 and ***|BB-2222 é",
            "fragments of 8 bytes or more are masked"
        );
        let _short = ApiKey::new("ab");
        assert_eq!(scrub_secrets("ab cd"), "ab cd", "too short to scrub");
    }
}
