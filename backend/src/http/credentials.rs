//! Bearer tokens: reading one from a request, and holding tokens only as SHA-256 digests
//! compared in constant time. Two kinds use this: the administrator's token (`serve
//! --admin-token`) and the cancel token each submission's creator receives once.
//!
//! A digest is what is kept (in memory for the administrator's, in the database for cancel
//! tokens), so neither a memory dump nor a copy of the database hands out a usable token.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

/// The token of `Authorization: Bearer <token>`, if the request has one. The scheme is
/// case-insensitive (RFC 9110).
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// The SHA-256 digest of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub(super) fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// A digest stored as 64 hexadecimal digits; `None` for anything else.
    pub(super) fn from_hex(text: &str) -> Option<TokenDigest> {
        let mut digest = [0_u8; 32];
        hex::decode_to_slice(text, &mut digest).ok()?;
        Some(TokenDigest(digest))
    }

    /// The digest as 64 lowercase hexadecimal digits, as stored.
    pub(super) fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// Whether `candidate` is the token. The comparison of the two digests takes the same time
    /// wherever they differ, and hashing first makes it independent of the lengths too.
    pub(super) fn matches(&self, candidate: &str) -> bool {
        let candidate = TokenDigest::of(candidate);
        let difference = self
            .0
            .iter()
            .zip(candidate.0)
            .fold(0_u8, |difference, (left, right)| {
                difference | (left ^ right)
            });
        std::hint::black_box(difference) == 0
    }
}

/// A new cancel token: 64 hexadecimal digits from two random v4 UUIDs (244 random bits), so it
/// cannot be guessed.
pub(super) fn new_cancel_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_digest_matches_its_token_only() {
        let digest = TokenDigest::of("secret");
        assert!(digest.matches("secret"));
        assert!(!digest.matches("secret "));
        assert!(!digest.matches(""));
        assert!(!digest.matches("Secret"));
    }

    #[test]
    fn a_digest_survives_its_hexadecimal_form() {
        let digest = TokenDigest::of("secret");
        let stored = digest.to_hex();
        assert_eq!(stored.len(), 64);
        assert!(TokenDigest::from_hex(&stored) == Some(digest));
        assert!(TokenDigest::from_hex("not hex").is_none());
        assert!(TokenDigest::from_hex(&stored[..62]).is_none());
    }

    #[test]
    fn bearer_tokens_are_read_with_any_scheme_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  "));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn cancel_tokens_differ_and_are_long() {
        let first = new_cancel_token();
        assert_eq!(first.len(), 64);
        assert_ne!(first, new_cancel_token());
    }
}
