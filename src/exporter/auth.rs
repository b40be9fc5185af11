//! Bearer-token check for scrapes (`prometheus.secret`).

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

/// The secret a scraper must present as `Authorization: Bearer <secret>`.
pub struct BearerSecret(Vec<u8>);

impl BearerSecret {
    /// Wraps the configured secret.
    pub fn new(secret: &str) -> Self {
        Self(secret.as_bytes().to_vec())
    }

    /// Whether the request carries the secret. The comparison takes the same
    /// time wherever the first difference is.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let Some(token) = value.as_bytes().strip_prefix(b"Bearer ") else {
            return false;
        };
        token.ct_eq(&self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let s = BearerSecret::new("s3cret");
        assert!(s.authorizes(&with("Bearer s3cret")));
        assert!(!s.authorizes(&with("Bearer s3cre")));
        assert!(!s.authorizes(&with("Bearer s3cret2")));
        assert!(!s.authorizes(&with("Basic s3cret")));
        assert!(!s.authorizes(&with("s3cret")));
        assert!(!s.authorizes(&HeaderMap::new()));
    }
}
