use super::*;
use jsonwebtoken::Algorithm;
use proptest::prelude::*;

const HOUR: Duration = Duration::from_secs(3600);
const NOW: u64 = 1_800_000_000;

fn secret(fill: u8) -> JoinSecret {
    JoinSecret::new(vec![fill; MIN_SECRET_BYTES]).unwrap()
}

fn grant() -> JoinGrant {
    JoinGrant {
        room: "lobby".into(),
        peer: "alice".into(),
    }
}

/// base64url without padding, as JWT parts are written.
fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn a_minted_token_grants_its_room_and_peer_until_it_expires() {
    let s = secret(1);
    let token = s.mint(&grant(), NOW, HOUR);
    assert_eq!(s.verify(&token, NOW), Ok(grant()));
    assert_eq!(s.verify(&token, NOW + 3600 + LEEWAY_SECS), Ok(grant()));
    assert_eq!(
        s.verify(&token, NOW + 3600 + LEEWAY_SECS + 1),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_token_from_the_future_is_refused_beyond_the_leeway() {
    let s = secret(1);
    let token = s.mint(&grant(), NOW + LEEWAY_SECS, HOUR);
    assert_eq!(s.verify(&token, NOW), Ok(grant()));
    let token = s.mint(&grant(), NOW + LEEWAY_SECS + 1, HOUR);
    assert_eq!(s.verify(&token, NOW), Err(TokenError::NotYetValid));
}

#[test]
fn another_secret_does_not_verify() {
    let token = secret(1).mint(&grant(), NOW, HOUR);
    assert_eq!(secret(2).verify(&token, NOW), Err(TokenError::Signature));
}

#[test]
fn an_altered_payload_breaks_the_signature() {
    let s = secret(1);
    let token = s.mint(&grant(), NOW, HOUR);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        r#"{{"sub":"mallory","room":"lobby","iat":{NOW},"exp":{}}}"#,
        NOW + 3600
    );
    let token = format!("{}.{}.{}", parts[0], b64(forged.as_bytes()), parts[2]);
    assert_eq!(s.verify(&token, NOW), Err(TokenError::Signature));
}

#[test]
fn unsigned_and_other_algorithm_tokens_are_refused() {
    let s = secret(1);
    let claims = format!(
        r#"{{"sub":"alice","room":"lobby","iat":{NOW},"exp":{}}}"#,
        NOW + 3600
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.as_bytes())
    );
    assert!(s.verify(&none, NOW).is_err());
    // Same secret, HS512: only HS256 is accepted.
    let key = jsonwebtoken::EncodingKey::from_secret(&[1; MIN_SECRET_BYTES]).unwrap();
    let value: serde_json::Value = serde_json::from_str(&claims).unwrap();
    let hs512 =
        jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS512), &value, &key).unwrap();
    assert_eq!(s.verify(&hs512, NOW), Err(TokenError::Signature));
}

#[test]
fn claims_missing_or_of_the_wrong_type_are_malformed() {
    let key = jsonwebtoken::EncodingKey::from_secret(&[1; MIN_SECRET_BYTES]).unwrap();
    let header = jsonwebtoken::Header::new(Algorithm::HS256);
    for claims in [
        serde_json::json!({ "sub": "alice", "iat": NOW, "exp": NOW + 60 }),
        serde_json::json!({ "sub": "alice", "room": "lobby", "iat": NOW }),
        serde_json::json!({ "sub": 7, "room": "lobby", "iat": NOW, "exp": NOW + 60 }),
    ] {
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert_eq!(
            secret(1).verify(&token, NOW),
            Err(TokenError::Malformed),
            "{claims}"
        );
    }
    for garbage in ["", "a.b", "a.b.c", "....", "ey.ey.ey"] {
        assert!(secret(1).verify(garbage, NOW).is_err(), "{garbage:?}");
    }
}

#[test]
fn short_secrets_are_refused_and_none_is_shown() {
    assert!(JoinSecret::new(vec![7; MIN_SECRET_BYTES - 1]).is_err());
    let shown = format!("{:?}", JoinSecret::new(b"x".repeat(40)).unwrap());
    assert!(!shown.contains('x'), "{shown}");
}

#[test]
fn reasons_have_distinct_names() {
    let names = [
        TokenError::Malformed,
        TokenError::Signature,
        TokenError::Expired,
        TokenError::NotYetValid,
    ]
    .map(TokenError::as_str);
    let mut unique = names.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_grant_survives_the_round_trip(room in "\\PC{1,64}", peer in "\\PC{1,64}", ttl in 1u64..1_000_000) {
        let s = secret(3);
        let grant = JoinGrant { room, peer };
        let token = s.mint(&grant, NOW, Duration::from_secs(ttl));
        prop_assert_eq!(s.verify(&token, NOW + ttl), Ok(grant));
    }

    #[test]
    fn arbitrary_text_never_verifies(text in "\\PC{0,300}") {
        prop_assert!(secret(3).verify(&text, NOW).is_err());
    }
}
