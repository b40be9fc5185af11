//! Join tokens: a signed, expiring grant that lets one peer id into one room.
//!
//! A token is a JWT signed with HS256 under a secret the server and whoever
//! mints tokens share. Its claims are `sub` (the peer id), `room`, `iat` and
//! `exp` (Unix seconds). Time is passed in, never read here, so that minting
//! and checking are plain functions of their inputs.
//!
//! ```
//! use ejtimaa_token::{JoinGrant, JoinSecret};
//! use std::time::Duration;
//!
//! let secret = JoinSecret::new(b"a secret of at least thirty-two bytes!".to_vec()).unwrap();
//! let grant = JoinGrant { room: "lobby".into(), peer: "alice".into() };
//! let token = secret.mint(&grant, 1_000, Duration::from_secs(3600));
//! assert_eq!(secret.verify(&token, 1_060).unwrap(), grant);
//! assert!(secret.verify(&token, 10_000).is_err());
//! ```

use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Fewest bytes a secret may have: HS256 keys shorter than its 256-bit
/// output are weaker than the signature.
pub const MIN_SECRET_BYTES: usize = 32;

/// How far a token's times may be off the server's clock (seconds), so that
/// a minting host whose clock is slightly ahead does not make fresh tokens
/// look issued in the future, nor one slightly behind make them expire early.
pub const LEEWAY_SECS: u64 = 30;

/// What a token grants: this peer id, in this room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGrant {
    /// The room the peer may join.
    pub room: String,
    /// The peer id it may use.
    pub peer: String,
}

/// The JWT claims, as they travel.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    room: String,
    iat: u64,
    exp: u64,
}

/// Why a token was not accepted.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or not one with this crate's claims.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another secret or algorithm, or altered.
    #[error("the token's signature is not valid")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Its `iat` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
}

impl TokenError {
    /// A short stable name, for metric labels and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Signature => "signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
        }
    }
}

/// A secret too short to sign with.
#[derive(Debug, Error)]
#[error("a join-token secret needs at least {MIN_SECRET_BYTES} bytes, this one has {0}")]
pub struct ShortSecret(pub usize);

/// The shared secret that signs and checks tokens. Its `Debug` shows no byte of it.
#[derive(Clone)]
pub struct JoinSecret {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for JoinSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinSecret(..)")
    }
}

impl JoinSecret {
    /// A secret from its bytes; refused when shorter than [`MIN_SECRET_BYTES`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, ShortSecret> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(ShortSecret(bytes.len()));
        }
        // Only an empty secret is refused by these, and this one is not.
        let keys = EncodingKey::from_secret(&bytes)
            .and_then(|e| Ok((e, DecodingKey::from_secret(&bytes)?)));
        let (encoding, decoding) = keys.expect("a non-empty HMAC secret is always a key");
        Ok(Self { encoding, decoding })
    }

    /// A token for `grant`, issued at `now` (Unix seconds), valid for `ttl`.
    pub fn mint(&self, grant: &JoinGrant, now: u64, ttl: Duration) -> String {
        let claims = Claims {
            sub: grant.peer.clone(),
            room: grant.room.clone(),
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signs any claims with any key")
    }

    /// What `token` grants, if it is signed with this secret and valid at
    /// `now` (Unix seconds), give or take [`LEEWAY_SECS`].
    pub fn verify(&self, token: &str, now: u64) -> Result<JoinGrant, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked below against the `now` passed in, not the clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => TokenError::Signature,
                _ => TokenError::Malformed,
            })?
            .claims;
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(JoinGrant {
            room: claims.room,
            peer: claims.sub,
        })
    }
}

#[cfg(test)]
mod tests;
