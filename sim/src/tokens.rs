//! Join tokens for the sim's peers, minted per peer from the server's
//! `[auth]` secret, as an application server would mint them for its users.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ejtimaa_token::{JoinGrant, JoinSecret};

/// How long a peer's token is valid: it is checked only when the peer connects.
const TTL: Duration = Duration::from_secs(3600);

/// Mints tokens when the server needs them; mints nothing for an open server.
#[derive(Clone, Debug, Default)]
pub struct Tokens(Option<JoinSecret>);

impl Tokens {
    /// Tokens signed with `secret`; none without one.
    pub fn new(secret: Option<JoinSecret>) -> Self {
        Tokens(secret)
    }

    /// A token for `peer` in `room`, valid from now.
    pub fn for_peer(&self, room: &str, peer: &str) -> Option<String> {
        let secret = self.0.as_ref()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let grant = JoinGrant {
            room: room.to_owned(),
            peer: peer.to_owned(),
        };
        Some(secret.mint(&grant, now, TTL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_peer_and_room_and_only_with_a_secret() {
        assert_eq!(Tokens::default().for_peer("r", "p"), None);
        let secret = JoinSecret::new(vec![5; 32]).unwrap();
        let token = Tokens::new(Some(secret.clone()))
            .for_peer("r", "p")
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let grant = secret.verify(&token, now).unwrap();
        assert_eq!((grant.room.as_str(), grant.peer.as_str()), ("r", "p"));
    }
}
