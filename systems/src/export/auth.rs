//! [`AuthFigures`]: whether signaling requires join tokens, and why
//! connections without a good one were refused.

/// Why a connection's join token was refused; the `reason` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthRefusal {
    /// No token in the handshake's `auth` object nor its query.
    Missing,
    /// Not a token of ours.
    Malformed,
    /// Signed with another secret or algorithm, or altered.
    Signature,
    /// Past its expiry.
    Expired,
    /// Issued in the future.
    NotYetValid,
    /// Valid, but for another room than the one asked for.
    WrongRoom,
    /// Valid, but for another peer id than the one asked for.
    WrongPeer,
}

impl AuthRefusal {
    /// Every reason, in the order of the exported series (by label value).
    pub const ALL: [AuthRefusal; 7] = [
        AuthRefusal::Expired,
        AuthRefusal::Malformed,
        AuthRefusal::Missing,
        AuthRefusal::NotYetValid,
        AuthRefusal::Signature,
        AuthRefusal::WrongPeer,
        AuthRefusal::WrongRoom,
    ];

    /// The `reason` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthRefusal::Missing => "missing",
            AuthRefusal::Malformed => "malformed",
            AuthRefusal::Signature => "signature",
            AuthRefusal::Expired => "expired",
            AuthRefusal::NotYetValid => "not_yet_valid",
            AuthRefusal::WrongRoom => "wrong_room",
            AuthRefusal::WrongPeer => "wrong_peer",
        }
    }
}

/// Join-token figures since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthFigures {
    /// Whether connections need a join token.
    pub required: bool,
    /// Refusals by reason, in [`AuthRefusal::ALL`] order.
    pub refusals: [u64; AuthRefusal::ALL.len()],
}

impl AuthFigures {
    /// The refusals for `reason`.
    pub fn refused(&self, reason: AuthRefusal) -> u64 {
        AuthRefusal::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.refusals[i])
    }
}
