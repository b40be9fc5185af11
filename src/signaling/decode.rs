//! From a client's raw `request` value to a [`Call`]: the method and its
//! typed data, checked against the size caps of `[limits]`, so that no
//! handler ever sees an oversize string, `device` or `appData`.

use ejtimaa_systems::export::Limit;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::method::Method;
use super::protocol::{self as p, Request, SignalingError};
use crate::config::LimitsConfig;

/// A request, decoded for its method.
#[derive(Debug)]
pub enum Call {
    /// `getRouterRtpCapabilities` (its data is ignored).
    GetRouterRtpCapabilities,
    /// `join`.
    Join(p::Join),
    /// `createWebRtcTransport`.
    CreateWebRtcTransport(p::CreateWebRtcTransport),
    /// `connectWebRtcTransport`.
    ConnectWebRtcTransport(p::ConnectWebRtcTransport),
    /// `restartIce`.
    RestartIce(p::TransportRef),
    /// `produce`.
    Produce(p::Produce),
    /// `closeProducer`.
    CloseProducer(p::ProducerRef),
    /// `pauseProducer`.
    PauseProducer(p::ProducerRef),
    /// `resumeProducer`.
    ResumeProducer(p::ProducerRef),
    /// `pauseConsumer`.
    PauseConsumer(p::ConsumerRef),
    /// `resumeConsumer`.
    ResumeConsumer(p::ConsumerRef),
    /// `setConsumerPreferredLayers`.
    SetConsumerPreferredLayers(p::SetConsumerPreferredLayers),
    /// `requestConsumerKeyFrame`.
    RequestConsumerKeyFrame(p::ConsumerRef),
    /// `getTransportStats`.
    GetTransportStats(p::TransportRef),
    /// `getProducerStats`.
    GetProducerStats(p::ProducerRef),
    /// `getConsumerStats`.
    GetConsumerStats(p::ConsumerRef),
    /// `changeDisplayName`.
    ChangeDisplayName(p::ChangeDisplayName),
}

impl Call {
    /// The method it calls.
    pub fn method(&self) -> Method {
        match self {
            Call::GetRouterRtpCapabilities => Method::GetRouterRtpCapabilities,
            Call::Join(_) => Method::Join,
            Call::CreateWebRtcTransport(_) => Method::CreateWebRtcTransport,
            Call::ConnectWebRtcTransport(_) => Method::ConnectWebRtcTransport,
            Call::RestartIce(_) => Method::RestartIce,
            Call::Produce(_) => Method::Produce,
            Call::CloseProducer(_) => Method::CloseProducer,
            Call::PauseProducer(_) => Method::PauseProducer,
            Call::ResumeProducer(_) => Method::ResumeProducer,
            Call::PauseConsumer(_) => Method::PauseConsumer,
            Call::ResumeConsumer(_) => Method::ResumeConsumer,
            Call::SetConsumerPreferredLayers(_) => Method::SetConsumerPreferredLayers,
            Call::RequestConsumerKeyFrame(_) => Method::RequestConsumerKeyFrame,
            Call::GetTransportStats(_) => Method::GetTransportStats,
            Call::GetProducerStats(_) => Method::GetProducerStats,
            Call::GetConsumerStats(_) => Method::GetConsumerStats,
            Call::ChangeDisplayName(_) => Method::ChangeDisplayName,
        }
    }
}

/// The whole decoding: [`envelope`], then [`call`].
pub fn decode_request(value: Value, limits: &LimitsConfig) -> Result<Call, SignalingError> {
    let (method, data) = envelope(value, limits)?;
    call(method, data, limits)
}

/// The request's size, its `{method, data}` shape and a known method.
pub fn envelope(value: Value, limits: &LimitsConfig) -> Result<(Method, Value), SignalingError> {
    let limit = limits.max_message_bytes;
    let size = json_size(&value);
    if size > limit {
        return Err(SignalingError::TooLarge { size, limit });
    }
    let request: Request =
        serde_json::from_value(value).map_err(|e| SignalingError::InvalidData {
            method: "request",
            reason: e.to_string(),
        })?;
    let method = Method::from_name(&request.method)
        .ok_or_else(|| SignalingError::UnknownMethod(request.method.chars().take(64).collect()))?;
    Ok((method, request.data))
}

/// `data` checked against the caps and decoded for `method`.
pub fn call(method: Method, data: Value, limits: &LimitsConfig) -> Result<Call, SignalingError> {
    check_strings(&data, limits.max_string_bytes)?;
    let name = method.as_str();
    Ok(match method {
        Method::GetRouterRtpCapabilities => Call::GetRouterRtpCapabilities,
        Method::Join => {
            let join: p::Join = typed(name, data)?;
            check_size(
                &join.device,
                "device",
                Limit::DeviceBytes,
                limits.max_device_bytes,
            )?;
            Call::Join(join)
        }
        Method::CreateWebRtcTransport => Call::CreateWebRtcTransport(typed(name, data)?),
        Method::ConnectWebRtcTransport => Call::ConnectWebRtcTransport(typed(name, data)?),
        Method::RestartIce => Call::RestartIce(typed(name, data)?),
        Method::Produce => {
            let produce: p::Produce = typed(name, data)?;
            let max = limits.max_app_data_bytes;
            check_size(&produce.app_data, "appData", Limit::AppDataBytes, max)?;
            Call::Produce(produce)
        }
        Method::CloseProducer => Call::CloseProducer(typed(name, data)?),
        Method::PauseProducer => Call::PauseProducer(typed(name, data)?),
        Method::ResumeProducer => Call::ResumeProducer(typed(name, data)?),
        Method::PauseConsumer => Call::PauseConsumer(typed(name, data)?),
        Method::ResumeConsumer => Call::ResumeConsumer(typed(name, data)?),
        Method::SetConsumerPreferredLayers => Call::SetConsumerPreferredLayers(typed(name, data)?),
        Method::RequestConsumerKeyFrame => Call::RequestConsumerKeyFrame(typed(name, data)?),
        Method::GetTransportStats => Call::GetTransportStats(typed(name, data)?),
        Method::GetProducerStats => Call::GetProducerStats(typed(name, data)?),
        Method::GetConsumerStats => Call::GetConsumerStats(typed(name, data)?),
        Method::ChangeDisplayName => Call::ChangeDisplayName(typed(name, data)?),
    })
}

fn typed<T: DeserializeOwned>(method: &'static str, data: Value) -> Result<T, SignalingError> {
    p::decode(method, data)
}

/// Bytes of `value` as compact JSON.
fn json_size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

fn check_size(value: &Value, field: &str, limit: Limit, max: usize) -> Result<(), SignalingError> {
    let size = json_size(value);
    if size > max {
        return Err(SignalingError::limit(
            limit,
            format!("`{field}` is {size} bytes of JSON; at most {max}"),
        ));
    }
    Ok(())
}

/// Refuses `data` if any string or object key in it is longer than `max`
/// bytes, naming the top-level member it is in. Walks with a stack of its
/// own rather than recursion, whatever the nesting.
fn check_strings(data: &Value, max: usize) -> Result<(), SignalingError> {
    let refuse = |member: &str, len: usize| {
        let member: String = member.chars().take(64).collect();
        SignalingError::limit(
            Limit::StringBytes,
            format!("a string of {len} bytes in `{member}`; at most {max} per string"),
        )
    };
    let top: Vec<(&str, &Value)> = match data {
        Value::Object(members) => members.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        other => vec![("data", other)],
    };
    for (member, value) in top {
        if member.len() > max {
            return Err(refuse(member, member.len()));
        }
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) if s.len() > max => return Err(refuse(member, s.len())),
                Value::Array(items) => stack.extend(items),
                Value::Object(members) => {
                    for (key, value) in members {
                        if key.len() > max {
                            return Err(refuse(member, key.len()));
                        }
                        stack.push(value);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig::default()
    }

    fn rtp_parameters() -> Value {
        json!({
            "mid": "0",
            "codecs": [{
                "mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2,
                "parameters": {}, "rtcpFeedback": []
            }],
            "headerExtensions": [],
            "encodings": [{ "ssrc": 1 }],
            "rtcp": { "cname": "c", "reducedSize": true }
        })
    }

    fn refused_by(value: Value) -> Option<Limit> {
        decode_request(value, &limits()).err()?.refused_by()
    }

    #[test]
    fn every_method_decodes_with_its_data() {
        let t = "0b8a7a4e-1f5e-4d4b-9a59-3a1b1a6f2c11";
        let cases = [
            ("getRouterRtpCapabilities", json!({})),
            (
                "join",
                json!({ "displayName": "a", "device": { "name": "x" } }),
            ),
            ("createWebRtcTransport", json!({ "producing": true })),
            (
                "connectWebRtcTransport",
                json!({ "transportId": t, "dtlsParameters": { "role": "client", "fingerprints": [] } }),
            ),
            ("restartIce", json!({ "transportId": t })),
            (
                "produce",
                json!({ "transportId": t, "kind": "audio", "rtpParameters": rtp_parameters(), "appData": { "source": "mic" } }),
            ),
            ("closeProducer", json!({ "producerId": t })),
            ("pauseProducer", json!({ "producerId": t })),
            ("resumeProducer", json!({ "producerId": t })),
            ("pauseConsumer", json!({ "consumerId": t })),
            ("resumeConsumer", json!({ "consumerId": t })),
            (
                "setConsumerPreferredLayers",
                json!({ "consumerId": t, "spatialLayer": 1 }),
            ),
            ("requestConsumerKeyFrame", json!({ "consumerId": t })),
            ("getTransportStats", json!({ "transportId": t })),
            ("getProducerStats", json!({ "producerId": t })),
            ("getConsumerStats", json!({ "consumerId": t })),
            ("changeDisplayName", json!({ "displayName": "b" })),
        ];
        assert_eq!(cases.len(), Method::ALL.len());
        for (name, data) in cases {
            let call = decode_request(json!({ "method": name, "data": data }), &limits())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(call.method().as_str(), name);
        }
    }

    #[test]
    fn a_long_string_anywhere_is_refused_naming_its_member() {
        let long = "x".repeat(257);
        for (method, data, member) in [
            (
                "changeDisplayName",
                json!({ "displayName": long }),
                "displayName",
            ),
            ("join", json!({ "device": { "flag": long } }), "device"),
            ("join", json!({ "device": { long.clone(): 1 } }), "device"),
            ("closeProducer", json!({ "producerId": long }), "producerId"),
            ("getRouterRtpCapabilities", json!([[[long]]]), "data"),
        ] {
            let err = decode_request(json!({ "method": method, "data": data }), &limits())
                .expect_err(method);
            assert_eq!(err.refused_by(), Some(Limit::StringBytes), "{err}");
            let text = err.to_string();
            assert!(text.contains("max_string_bytes"), "{text}");
            assert!(text.contains(&format!("`{member}`")), "{text}");
        }
        let at_most = "x".repeat(256);
        let ok = json!({ "method": "changeDisplayName", "data": { "displayName": at_most } });
        assert!(decode_request(ok, &limits()).is_ok());
    }

    #[test]
    fn device_and_app_data_are_capped_as_json() {
        let fields: serde_json::Map<String, Value> = (0..100)
            .map(|i| (format!("f{i}"), json!("0123456789")))
            .collect();
        let join = json!({ "method": "join", "data": { "device": fields } });
        assert_eq!(refused_by(join), Some(Limit::DeviceBytes));
        let produce = json!({ "method": "produce", "data": {
            "transportId": "t", "kind": "audio", "rtpParameters": rtp_parameters(),
            "appData": fields,
        }});
        let err = decode_request(produce, &limits()).unwrap_err();
        assert_eq!(err.refused_by(), Some(Limit::AppDataBytes));
        assert!(err.to_string().contains("`appData`"), "{err}");
    }

    #[test]
    fn malformed_requests_are_clean_errors() {
        for value in [
            json!(null),
            json!("join"),
            json!({ "method": 1 }),
            json!({ "method": "nope" }),
            json!({ "method": "join", "data": { "displayName": 5 } }),
            json!({ "method": "setConsumerPreferredLayers", "data": { "consumerId": "c", "spatialLayer": 300 } }),
        ] {
            let err = decode_request(value.clone(), &limits()).expect_err("refused");
            assert_eq!(err.refused_by(), None, "{value}: {err}");
        }
        let big = json!({ "method": "join", "data": { "x": vec!["y"; 70_000] } });
        assert_eq!(refused_by(big), Some(Limit::MessageBytes));
    }
}
