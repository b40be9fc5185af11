//! Socket.IO v5 packets (the payload of an Engine.IO `4` message).
//!
//! Grammar: `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`, with
//! the namespace omitted for `/`:
//!
//! | packet | meaning |
//! |---|---|
//! | `0` / `0{auth}` | connect (client); answer `0{"sid":..}` |
//! | `1` | disconnect |
//! | `2[event, args..]` / `2<id>[event, args..]` | event, optionally wanting an ack |
//! | `3<id>[args..]` | ack: the argument list of the callback |
//! | `4{"message":..}` | connect error |
//! | `5`, `6` | binary event / ack (attachments in later frames; unsupported here) |
//!
//! [`Packet::to_frame`] produces a whole websocket text frame, Engine.IO
//! prefix `4` included, so `40`, `41`, `42[..]`, `43<id>[..]` on the wire.

use std::fmt::Write as _;

use serde_json::Value;

use super::error::PacketError;

/// The default namespace, the only one this client joins.
pub const DEFAULT_NAMESPACE: &str = "/";

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// Connect request (client, optional auth payload) or its answer (server, `{"sid":..}`).
    Connect {
        /// Namespace.
        nsp: String,
        /// Auth payload (client) or `{"sid":..}` (server).
        data: Option<Value>,
    },
    /// Leave the namespace.
    Disconnect {
        /// Namespace.
        nsp: String,
    },
    /// An event; with an `id` the sender waits for an [`Packet::Ack`] with the same id.
    Event {
        /// Namespace.
        nsp: String,
        /// Ack id, if the sender wants an answer.
        id: Option<u64>,
        /// Event name (the first element of the JSON array).
        event: String,
        /// The remaining elements.
        args: Vec<Value>,
    },
    /// The answer to an event that carried `id`: the callback's arguments.
    Ack {
        /// Namespace.
        nsp: String,
        /// The id of the event being answered.
        id: u64,
        /// The callback's arguments (JS `cb(null, x)` is `[null, x]`).
        args: Vec<Value>,
    },
    /// The server refused the connection (or, rarely, ended it).
    ConnectError {
        /// Namespace.
        nsp: String,
        /// Usually `{"message": ..}`; `null` if absent.
        data: Value,
    },
}

impl Packet {
    /// The namespace the packet belongs to.
    pub fn nsp(&self) -> &str {
        match self {
            Packet::Connect { nsp, .. }
            | Packet::Disconnect { nsp }
            | Packet::Event { nsp, .. }
            | Packet::Ack { nsp, .. }
            | Packet::ConnectError { nsp, .. } => nsp,
        }
    }

    /// Encodes the packet as a websocket text frame (with the Engine.IO `4` prefix).
    pub fn to_frame(&self) -> String {
        let (kind, id) = match self {
            Packet::Connect { .. } => ('0', None),
            Packet::Disconnect { .. } => ('1', None),
            Packet::Event { id, .. } => ('2', *id),
            Packet::Ack { id, .. } => ('3', Some(*id)),
            Packet::ConnectError { .. } => ('4', None),
        };
        let mut out = String::from("4");
        out.push(kind);
        if self.nsp() != DEFAULT_NAMESPACE {
            out.push_str(self.nsp());
            out.push(',');
        }
        // `write!` into a String cannot fail; `Value`'s Display is compact JSON.
        if let Some(id) = id {
            let _ = write!(out, "{id}");
        }
        match self {
            Packet::Connect { data: Some(d), .. } | Packet::ConnectError { data: d, .. } => {
                let _ = write!(out, "{d}");
            }
            Packet::Connect { data: None, .. } | Packet::Disconnect { .. } => {}
            Packet::Event { event, args, .. } => {
                out.push('[');
                let _ = write!(out, "{}", Value::from(event.as_str()));
                for arg in args {
                    let _ = write!(out, ",{arg}");
                }
                out.push(']');
            }
            Packet::Ack { args, .. } => {
                out.push('[');
                for (i, arg) in args.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let _ = write!(out, "{sep}{arg}");
                }
                out.push(']');
            }
        }
        out
    }
}

/// Decodes a Socket.IO packet: the payload of an Engine.IO message, i.e. the
/// frame without its leading `4`.
pub fn decode(input: &str) -> Result<Packet, PacketError> {
    let mut chars = input.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    let mut rest = chars.as_str();
    match kind {
        '0'..='4' => {}
        // The attachments arrive as separate binary frames we do not reassemble.
        '5' | '6' => return Err(PacketError::BinaryUnsupported),
        other => return Err(PacketError::UnknownSocketType(other)),
    }

    let nsp = if rest.starts_with('/') {
        // No comma means the namespace runs to the end (e.g. `1/admin`).
        let (nsp, after) = rest.split_once(',').unwrap_or((rest, ""));
        rest = after;
        nsp.to_owned()
    } else {
        DEFAULT_NAMESPACE.to_owned()
    };

    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits == 0 {
        None
    } else {
        // Overlong ids fail here instead of wrapping around.
        Some(
            rest[..digits]
                .parse::<u64>()
                .map_err(|_| PacketError::BadAckId)?,
        )
    };
    let payload = &rest[digits..];
    let json = if payload.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(payload)
                .map_err(|e| PacketError::BadJson(e.to_string()))?,
        )
    };

    match kind {
        '0' => match json {
            None | Some(Value::Object(_)) => Ok(Packet::Connect { nsp, data: json }),
            Some(_) => Err(PacketError::BadPayload("connect payload must be an object")),
        },
        '1' => Ok(Packet::Disconnect { nsp }),
        '2' => {
            let Some(Value::Array(mut items)) = json else {
                return Err(PacketError::BadPayload("event payload must be an array"));
            };
            if items.is_empty() {
                return Err(PacketError::BadPayload("event without a name"));
            }
            let Value::String(event) = items.remove(0) else {
                return Err(PacketError::BadPayload("event name must be a string"));
            };
            Ok(Packet::Event {
                nsp,
                id,
                event,
                args: items,
            })
        }
        '3' => {
            let id = id.ok_or(PacketError::MissingAckId)?;
            let Some(Value::Array(args)) = json else {
                return Err(PacketError::BadPayload("ack payload must be an array"));
            };
            Ok(Packet::Ack { nsp, id, args })
        }
        // '4': v5 sends an object, older servers a string; keep whatever came.
        _ => Ok(Packet::ConnectError {
            nsp,
            data: json.unwrap_or(Value::Null),
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn root() -> String {
        DEFAULT_NAMESPACE.to_owned()
    }

    fn event(id: Option<u64>, name: &str, args: Vec<Value>) -> Packet {
        Packet::Event {
            nsp: root(),
            id,
            event: name.into(),
            args,
        }
    }

    #[test]
    fn encodes_the_wire_forms() {
        assert_eq!(
            Packet::Connect {
                nsp: root(),
                data: None
            }
            .to_frame(),
            "40"
        );
        assert_eq!(
            Packet::Connect {
                nsp: root(),
                data: Some(json!({"token": "t"}))
            }
            .to_frame(),
            r#"40{"token":"t"}"#
        );
        assert_eq!(Packet::Disconnect { nsp: root() }.to_frame(), "41");
        assert_eq!(
            event(None, "request", vec![json!({"method": "join", "data": {}})]).to_frame(),
            r#"42["request",{"data":{},"method":"join"}]"#
        );
        assert_eq!(
            event(Some(12), "a\"b", vec![]).to_frame(),
            r#"4212["a\"b"]"#
        );
        assert_eq!(
            Packet::Ack {
                nsp: root(),
                id: 7,
                args: vec![Value::Null, json!({"ok": true})]
            }
            .to_frame(),
            r#"437[null,{"ok":true}]"#
        );
        assert_eq!(
            Packet::Ack {
                nsp: root(),
                id: 0,
                args: vec![]
            }
            .to_frame(),
            "430[]"
        );
        assert_eq!(
            Packet::Event {
                nsp: "/admin".into(),
                id: Some(1),
                event: "x".into(),
                args: vec![]
            }
            .to_frame(),
            r#"42/admin,1["x"]"#
        );
    }

    #[test]
    fn decodes_server_packets() {
        assert_eq!(
            decode(r#"0{"sid":"abc"}"#),
            Ok(Packet::Connect {
                nsp: root(),
                data: Some(json!({"sid": "abc"}))
            })
        );
        assert_eq!(decode("1"), Ok(Packet::Disconnect { nsp: root() }));
        assert_eq!(
            decode(r#"2["notification",{"method":"newPeer","data":{"id":"p"}}]"#),
            Ok(event(
                None,
                "notification",
                vec![json!({"method": "newPeer", "data": {"id": "p"}})]
            ))
        );
        assert_eq!(
            decode(r#"25["request",{"method":"newConsumer"}]"#),
            Ok(event(
                Some(5),
                "request",
                vec![json!({"method": "newConsumer"})]
            ))
        );
        assert_eq!(
            decode(r#"33[null,{"a":1}]"#),
            Ok(Packet::Ack {
                nsp: root(),
                id: 3,
                args: vec![Value::Null, json!({"a": 1})]
            })
        );
        assert_eq!(
            decode("30[]"),
            Ok(Packet::Ack {
                nsp: root(),
                id: 0,
                args: vec![]
            })
        );
        assert_eq!(
            decode(r#"4{"message":"nope"}"#),
            Ok(Packet::ConnectError {
                nsp: root(),
                data: json!({"message": "nope"})
            })
        );
        assert_eq!(
            decode(r#"4"old style""#),
            Ok(Packet::ConnectError {
                nsp: root(),
                data: json!("old style")
            })
        );
        assert_eq!(
            decode("4"),
            Ok(Packet::ConnectError {
                nsp: root(),
                data: Value::Null
            })
        );
    }

    #[test]
    fn decodes_namespaces() {
        assert_eq!(
            decode("1/admin"),
            Ok(Packet::Disconnect {
                nsp: "/admin".into()
            })
        );
        assert_eq!(
            decode("1/admin,"),
            Ok(Packet::Disconnect {
                nsp: "/admin".into()
            })
        );
        assert_eq!(
            decode(r#"2/chat,9["m",1]"#),
            Ok(Packet::Event {
                nsp: "/chat".into(),
                id: Some(9),
                event: "m".into(),
                args: vec![json!(1)]
            })
        );
    }

    #[test]
    fn rejects_malformed_packets() {
        let cases: &[(&str, PacketError)] = &[
            ("", PacketError::Empty),
            ("7", PacketError::UnknownSocketType('7')),
            ("x", PacketError::UnknownSocketType('x')),
            (
                "51-[\"e\",{\"_placeholder\":true,\"num\":0}]",
                PacketError::BinaryUnsupported,
            ),
            ("6", PacketError::BinaryUnsupported),
            (
                "2",
                PacketError::BadPayload("event payload must be an array"),
            ),
            (
                "2{}",
                PacketError::BadPayload("event payload must be an array"),
            ),
            ("2[]", PacketError::BadPayload("event without a name")),
            (
                "2[1]",
                PacketError::BadPayload("event name must be a string"),
            ),
            (
                "2[null]",
                PacketError::BadPayload("event name must be a string"),
            ),
            ("3[]", PacketError::MissingAckId),
            (
                "35",
                PacketError::BadPayload("ack payload must be an array"),
            ),
            (
                "35{}",
                PacketError::BadPayload("ack payload must be an array"),
            ),
            ("399999999999999999999999[]", PacketError::BadAckId),
            (
                "0[]",
                PacketError::BadPayload("connect payload must be an object"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input).as_ref(), Err(expected), "{input}");
        }
        for input in ["2[", "2[\"a\",]", "3 1[]", "2[\"a\"]x", "0{\"sid\":}"] {
            assert!(
                matches!(decode(input), Err(PacketError::BadJson(_))),
                "{input}"
            );
        }
    }

    fn json_leaf() -> impl Strategy<Value = Value> + Clone {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> + Clone {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn packet() -> impl Strategy<Value = Packet> {
        let nsp = prop_oneof![Just(root()), "/[a-z]{1,6}"];
        let args = prop::collection::vec(json_value(), 0..4);
        prop_oneof![
            (nsp.clone(), any::<u64>(), ".{0,10}", args.clone()).prop_map(
                |(nsp, id, event, args)| Packet::Event {
                    nsp,
                    id: Some(id),
                    event,
                    args
                }
            ),
            (nsp.clone(), ".{0,10}", args.clone()).prop_map(|(nsp, event, args)| Packet::Event {
                nsp,
                id: None,
                event,
                args
            }),
            (nsp.clone(), any::<u64>(), args).prop_map(|(nsp, id, args)| Packet::Ack {
                nsp,
                id,
                args
            }),
            nsp.clone().prop_map(|nsp| Packet::Disconnect { nsp }),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(p in packet()) {
            let frame = p.to_frame();
            prop_assert_eq!(frame.as_bytes()[0], b'4');
            prop_assert_eq!(decode(&frame[1..]), Ok(p));
        }

        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,40}") {
            let _ = decode(&s);
            let _ = super::super::engine_io::decode(&s);
        }

        #[test]
        fn never_panics_on_packet_like_text(s in "[0-6]{1,2}(/[a-z]{0,3},?)?[0-9]{0,25}[\\[\\]{}\",0-9a-z:]{0,20}") {
            let _ = decode(&s);
        }
    }
}
