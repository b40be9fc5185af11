//! [`TokenGate`]: checks a connecting client's join token, when `[auth]`
//! has a secret, against the room and peer id it asks for; counts refusals.

use std::sync::atomic::{AtomicU64, Ordering};

use ejtimaa_systems::export::{AuthFigures, AuthRefusal};
use ejtimaa_token::{JoinGrant, JoinSecret, TokenError};

/// What a connecting client asks for and shows.
#[derive(Debug, Default)]
pub struct Credentials<'a> {
    /// Its join token, from the handshake's `auth` object or query.
    pub token: Option<&'a str>,
    /// The `roomId` of its query.
    pub room: Option<&'a str>,
    /// The `peerId` of its query.
    pub peer: Option<&'a str>,
}

/// The join-token check; open (everyone admitted) without a secret.
pub struct TokenGate {
    secret: Option<JoinSecret>,
    refusals: [AtomicU64; AuthRefusal::ALL.len()],
}

impl TokenGate {
    /// A gate checking against `secret`, or an open one.
    pub fn new(secret: Option<JoinSecret>) -> Self {
        Self {
            secret,
            refusals: Default::default(),
        }
    }

    /// Whether connections need a token.
    pub fn required(&self) -> bool {
        self.secret.is_some()
    }

    /// The room and peer id `credentials` may use at `now` (Unix seconds).
    /// With a secret, the token must be valid and name the room and peer
    /// asked for; either may be left out of the query, and the token's is
    /// taken. Open, the query must name both. `None` from an open gate
    /// means the query lacks one of them.
    pub fn admit(
        &self,
        credentials: &Credentials<'_>,
        now: u64,
    ) -> Result<Option<JoinGrant>, AuthRefusal> {
        let Some(secret) = &self.secret else {
            return Ok(match (credentials.room, credentials.peer) {
                (Some(room), Some(peer)) => Some(JoinGrant {
                    room: room.to_owned(),
                    peer: peer.to_owned(),
                }),
                _ => None,
            });
        };
        let checked = check(secret, credentials, now);
        if let Err(reason) = checked
            && let Some(i) = AuthRefusal::ALL.iter().position(|r| *r == reason)
        {
            self.refusals[i].fetch_add(1, Ordering::Relaxed);
        }
        checked.map(Some)
    }

    /// The figures for the exporter.
    pub fn figures(&self) -> AuthFigures {
        AuthFigures {
            required: self.required(),
            refusals: std::array::from_fn(|i| self.refusals[i].load(Ordering::Relaxed)),
        }
    }
}

fn check(
    secret: &JoinSecret,
    credentials: &Credentials<'_>,
    now: u64,
) -> Result<JoinGrant, AuthRefusal> {
    let token = credentials
        .token
        .filter(|t| !t.is_empty())
        .ok_or(AuthRefusal::Missing)?;
    let grant = secret.verify(token, now).map_err(|e| match e {
        TokenError::Malformed => AuthRefusal::Malformed,
        TokenError::Signature => AuthRefusal::Signature,
        TokenError::Expired => AuthRefusal::Expired,
        TokenError::NotYetValid => AuthRefusal::NotYetValid,
    })?;
    if credentials.room.is_some_and(|room| room != grant.room) {
        return Err(AuthRefusal::WrongRoom);
    }
    if credentials.peer.is_some_and(|peer| peer != grant.peer) {
        return Err(AuthRefusal::WrongPeer);
    }
    Ok(grant)
}

/// What the client is told, in its `connect_error`.
pub fn describe(reason: AuthRefusal) -> &'static str {
    match reason {
        AuthRefusal::Missing => {
            "this server needs a join token: pass it as `auth: { token }` or the `token` query parameter"
        }
        AuthRefusal::Malformed => "the join token is malformed",
        AuthRefusal::Signature => "the join token's signature is not valid here",
        AuthRefusal::Expired => "the join token has expired",
        AuthRefusal::NotYetValid => "the join token is not valid yet (check the clocks)",
        AuthRefusal::WrongRoom => "the join token is for another room",
        AuthRefusal::WrongPeer => "the join token is for another peer id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: u64 = 1_800_000_000;

    fn secret() -> JoinSecret {
        JoinSecret::new(vec![9; 32]).unwrap()
    }

    fn token(room: &str, peer: &str) -> String {
        let grant = JoinGrant {
            room: room.into(),
            peer: peer.into(),
        };
        secret().mint(&grant, NOW, Duration::from_secs(60))
    }

    #[test]
    fn an_open_gate_takes_the_query_and_counts_nothing() {
        let gate = TokenGate::new(None);
        let asked = Credentials {
            token: Some("anything"),
            room: Some("r"),
            peer: Some("p"),
        };
        assert_eq!(gate.admit(&asked, NOW).unwrap().unwrap().peer, "p");
        let partial = Credentials {
            room: Some("r"),
            ..Credentials::default()
        };
        assert_eq!(gate.admit(&partial, NOW), Ok(None));
        assert_eq!(gate.figures(), AuthFigures::default());
    }

    #[test]
    fn a_token_fills_in_what_the_query_leaves_out_and_must_match_the_rest() {
        let gate = TokenGate::new(Some(secret()));
        let t = token("r", "p");
        let by_token = Credentials {
            token: Some(&t),
            ..Credentials::default()
        };
        let grant = gate.admit(&by_token, NOW).unwrap().unwrap();
        assert_eq!((grant.room.as_str(), grant.peer.as_str()), ("r", "p"));
        for (room, peer, reason) in [
            ("other", "p", AuthRefusal::WrongRoom),
            ("r", "other", AuthRefusal::WrongPeer),
        ] {
            let asked = Credentials {
                token: Some(&t),
                room: Some(room),
                peer: Some(peer),
            };
            assert_eq!(gate.admit(&asked, NOW), Err(reason));
        }
        let expired = Credentials {
            token: Some(&t),
            ..Credentials::default()
        };
        assert_eq!(gate.admit(&expired, NOW + 3600), Err(AuthRefusal::Expired));
        assert_eq!(
            gate.admit(&Credentials::default(), NOW),
            Err(AuthRefusal::Missing)
        );
        let figures = gate.figures();
        assert!(figures.required);
        assert_eq!(figures.refused(AuthRefusal::WrongRoom), 1);
        assert_eq!(figures.refused(AuthRefusal::WrongPeer), 1);
        assert_eq!(figures.refused(AuthRefusal::Expired), 1);
        assert_eq!(figures.refused(AuthRefusal::Missing), 1);
        assert_eq!(figures.refusals.iter().sum::<u64>(), 4);
    }
}
