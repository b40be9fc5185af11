//! Harnesses for the parsers that take input from outside: a client's
//! signaling requests, the configuration file and the admin socket's command
//! lines. The property tests below run them on every `cargo test`; the
//! `cargo fuzz` targets in `fuzz/` call the same functions for longer runs.
//!
//! Each harness panics only when an invariant breaks: an error is a fine
//! answer to bad input, a panic or an unchecked value is not.

use serde_json::Value;

use crate::admin::{self, commands};
use crate::config::{Config, LimitsConfig};
use crate::signaling::decode::{self, Call};
use crate::signaling::protocol::SignalingError;

/// Any bytes as a client's `request` argument: the JSON the transport would
/// have parsed, if they are JSON.
pub fn signaling_bytes(bytes: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        signaling_request(value);
    }
}

/// A request value, decoded under the default limits and under tight ones.
pub fn signaling_request(value: Value) {
    let tight = LimitsConfig {
        max_message_bytes: 1024,
        max_string_bytes: crate::config::MIN_STRING_BYTES,
        max_app_data_bytes: 16,
        max_device_bytes: 16,
        ..LimitsConfig::default()
    };
    for limits in [LimitsConfig::default(), tight] {
        match decode::decode_request(value.clone(), &limits) {
            Ok(call) => assert_within(&call, &limits),
            Err(e) => assert_clean(&e),
        }
    }
}

/// What a handler may rely on: every cap held.
fn assert_within(call: &Call, limits: &LimitsConfig) {
    let json_len = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    let max = limits.max_string_bytes;
    match call {
        Call::Join(join) => {
            assert!(join.display_name.len() <= max);
            assert!(json_len(&join.device) <= limits.max_device_bytes);
        }
        Call::Produce(produce) => {
            assert!(produce.transport_id.len() <= max);
            assert!(json_len(&produce.app_data) <= limits.max_app_data_bytes);
        }
        Call::ChangeDisplayName(change) => assert!(change.display_name.len() <= max),
        Call::ConnectWebRtcTransport(r) => assert!(r.transport_id.len() <= max),
        Call::RestartIce(r) | Call::GetTransportStats(r) => assert!(r.transport_id.len() <= max),
        Call::CloseProducer(r)
        | Call::PauseProducer(r)
        | Call::ResumeProducer(r)
        | Call::GetProducerStats(r) => assert!(r.producer_id.len() <= max),
        Call::PauseConsumer(r)
        | Call::ResumeConsumer(r)
        | Call::RequestConsumerKeyFrame(r)
        | Call::GetConsumerStats(r) => assert!(r.consumer_id.len() <= max),
        Call::SetConsumerPreferredLayers(r) => assert!(r.consumer_id.len() <= max),
        Call::GetRouterRtpCapabilities | Call::CreateWebRtcTransport(_) => {}
    }
}

/// An error a client may be sent: some text, and not a whole novel of its
/// own input back (an unknown method's name is cut, for instance).
fn assert_clean(error: &SignalingError) {
    let text = error.to_string();
    assert!(!text.is_empty());
    if let SignalingError::UnknownMethod(name) = error {
        assert!(name.chars().count() <= 64, "{text}");
    }
}

/// Any bytes as a configuration file.
pub fn config_bytes(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        config_text(text);
    }
}

/// A configuration text: parsed, it is valid, and what `--print-config`
/// prints of it parses back to the same configuration (less the secret,
/// which is never printed).
pub fn config_text(text: &str) {
    let Ok(config) = Config::from_toml(text) else {
        return;
    };
    config.validate().expect("a parsed configuration is valid");
    let printed = config.to_toml();
    let reparsed = Config::from_toml(&printed)
        .unwrap_or_else(|e| panic!("printed configuration does not parse: {e}\n{printed}"));
    let mut expected = config;
    expected.prometheus.secret = None;
    assert_eq!(reparsed, expected, "{printed}");
}

/// Any bytes as an admin command line, and as an answer to frame.
pub fn admin_bytes(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        admin_line(text);
    }
}

/// An admin command line: parsed or refused with an error that carries no
/// control character (it is printed on the operator's terminal); and as an
/// answer, framed and unframed back to its lines.
pub fn admin_line(line: &str) {
    match commands::parse(line) {
        Ok(Some(parsed)) => {
            assert!(parsed.arg.is_none_or(|a| !a.is_empty()));
        }
        Ok(None) => assert!(line.split_whitespace().all(|w| w == "--json")),
        Err(e) => assert!(!e.chars().any(char::is_control), "{e:?}"),
    }
    let framed = admin::frame(line);
    let unframed: Vec<&str> = framed.split('\n').map_while(admin::unframe).collect();
    let lines: Vec<&str> = line.lines().collect();
    assert_eq!(unframed, lines, "{framed:?}");
}

#[cfg(test)]
mod tests {
    //! Bounded runs of each harness on every `cargo test`: random bytes, and
    //! inputs shaped like the real thing so the runs reach past the first
    //! parse error.

    use proptest::prelude::*;
    use serde_json::{Map, json};

    use super::*;
    use crate::signaling::method::Method;

    /// Member names the protocol uses, so that generated data hits them.
    const FIELDS: &[&str] = &[
        "displayName",
        "device",
        "rtpCapabilities",
        "transportId",
        "producerId",
        "consumerId",
        "dtlsParameters",
        "kind",
        "rtpParameters",
        "appData",
        "spatialLayer",
        "temporalLayer",
        "forceTcp",
        "producing",
        "consuming",
        "codecs",
        "encodings",
        "mid",
        "ssrc",
        "role",
        "fingerprints",
    ];

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z0-9 ._:-]{0,12}",
            1 => Just("audio".to_string()),
            1 => Just("client".to_string()),
            1 => (150usize..400).prop_map(|n| "é".repeat(n / 2)),
            1 => any::<String>(),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(FIELDS).prop_map(str::to_string),
            1 => string(),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..300).prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            string().prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                proptest::collection::vec((key(), inner), 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn method_name() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => proptest::sample::select(Method::ALL).prop_map(|m| m.as_str().to_string()),
            1 => string(),
        ]
    }

    fn request() -> impl Strategy<Value = Value> {
        let data = proptest::collection::vec((key(), json_value()), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()));
        prop_oneof![
            8 => (method_name(), data).prop_map(|(method, data)| json!({ "method": method, "data": data })),
            1 => json_value(),
        ]
    }

    /// Option lines of every section, with values of any type, so that the
    /// parser gets past `deny_unknown_fields` and into the bounds.
    fn config_text() -> impl Strategy<Value = String> {
        let section = proptest::sample::select(vec![
            "[http]",
            "[mediasoup]",
            "[prometheus]",
            "[admin]",
            "[rooms]",
            "[limits]",
            "[limits.rates]",
            "[http.tls]",
        ]);
        let name = proptest::sample::select(vec![
            "port",
            "listen",
            "num_workers",
            "rtc_min_port",
            "rtc_max_port",
            "codecs",
            "secret",
            "stats_deadline_ms",
            "dns_ttl_secs",
            "label_value_max",
            "gzip_level",
            "empty_grace_ms",
            "max_message_bytes",
            "max_requests_in_flight",
            "max_string_bytes",
            "max_app_data_bytes",
            "setup",
            "display_name",
            "per_sec",
            "burst",
            "socket",
            "metrics",
        ]);
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (0u64..70_000).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            Just("nan".to_string()),
            Just("inf".to_string()),
            "[a-z0-9 ]{0,8}".prop_map(|s| format!("{s:?}")),
            Just("[\"opus\", \"vp8\"]".to_string()),
            Just("\"127.0.0.1\"".to_string()),
            (any::<f64>(), any::<u32>())
                .prop_map(|(r, b)| format!("{{ per_sec = {r:?}, burst = {b} }}")),
        ];
        let line = prop_oneof![
            1 => section.prop_map(str::to_string),
            4 => (name, value).prop_map(|(n, v)| format!("{n} = {v}")),
        ];
        proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
    }

    fn admin_line() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            4 => proptest::sample::select(commands::COMMANDS)
                .prop_map(|(c, _)| c.split_whitespace().next().unwrap_or_default().to_string()),
            1 => Just("--json".to_string()),
            2 => any::<String>(),
            1 => Just(".".to_string()),
        ];
        let gap = prop_oneof![Just(" "), Just("\t"), Just("  "), Just("\n"), Just("\r\n")];
        proptest::collection::vec((word, gap), 0..5)
            .prop_map(|words| words.into_iter().map(|(w, g)| w + g).collect())
    }

    // Enough cases to matter, few enough that all of them take seconds.
    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        #[test]
        fn signaling_requests_never_panic(value in request()) {
            signaling_request(value);
        }

        #[test]
        fn signaling_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            signaling_bytes(&bytes);
        }

        #[test]
        fn config_texts_are_valid_or_refused(text in config_text()) {
            super::config_text(&text);
        }

        #[test]
        fn config_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            config_bytes(&bytes);
        }

        #[test]
        fn admin_lines_parse_or_are_refused(line in admin_line()) {
            super::admin_line(&line);
        }

        #[test]
        fn admin_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            admin_bytes(&bytes);
        }
    }
}
