//! The two ends of one WebRTC transport: mediasoup's parameters from
//! `createWebRtcTransport`, and the str0m endpoint wired against them.
//!
//! mediasoup is ICE-lite, so we are ICE controlling and nominate; we are
//! the DTLS client, so `connectWebRtcTransport` says role `client` and
//! mediasoup serves.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::config::{DtlsCert, Fingerprint};
use str0m::ice::IceCreds;
use str0m::media::{MediaKind as StrKind, Mid, Rid};
use str0m::{Candidate, Rtc, RtcConfig};

use super::dtls;
use super::error::PeerError;
use super::stats::MediaKind;

/// mediasoup's side of a transport, from `createWebRtcTransport`.
#[derive(Debug, Clone)]
pub struct RemoteTransport {
    /// Transport id.
    pub id: String,
    ice_ufrag: String,
    ice_pwd: String,
    /// Its UDP candidate.
    pub candidate: SocketAddr,
    /// Its sha-256 certificate fingerprint.
    fingerprint: Vec<u8>,
}

fn parse_fingerprint(hex: &str) -> Option<Vec<u8>> {
    let bytes = hex
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    (bytes.len() == 32).then_some(bytes)
}

impl RemoteTransport {
    /// Reads `createWebRtcTransport`'s reply.
    pub fn parse(reply: &Value) -> Result<Self, PeerError> {
        let what = "createWebRtcTransport";
        let s = |v: &Value, name: &str| -> Result<String, PeerError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| PeerError::bad(what, format!("no `{name}`")))
        };
        let candidate = reply["iceCandidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["protocol"].as_str() == Some("udp"))
            .find_map(|c| {
                let ip = c["address"].as_str().or(c["ip"].as_str())?.parse().ok()?;
                let port = c["port"].as_u64().and_then(|p| u16::try_from(p).ok())?;
                Some(SocketAddr::new(ip, port))
            })
            .ok_or_else(|| PeerError::bad(what, "no UDP candidate"))?;
        let fingerprint = reply["dtlsParameters"]["fingerprints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["algorithm"].as_str() == Some("sha-256"))
            .find_map(|f| parse_fingerprint(f["value"].as_str()?))
            .ok_or_else(|| PeerError::bad(what, "no sha-256 fingerprint"))?;
        Ok(RemoteTransport {
            id: s(&reply["id"], "id")?,
            ice_ufrag: s(
                &reply["iceParameters"]["usernameFragment"],
                "usernameFragment",
            )?,
            ice_pwd: s(&reply["iceParameters"]["password"], "password")?,
            candidate,
            fingerprint,
        })
    }
}

/// Which transport a task drives (for logs and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Carries our producers.
    Send,
    /// Carries our consumers.
    Recv,
}

/// A str0m endpoint wired against one mediasoup transport, not yet running.
pub struct Endpoint {
    pub(super) rtc: Rtc,
    /// Our host candidate: the address the server sees us at.
    pub(super) local: SocketAddr,
    /// mediasoup's candidate, where every datagram goes and comes from.
    pub(super) remote: SocketAddr,
    pub(super) direction: Direction,
}

static SHARED_CERT: OnceLock<Option<DtlsCert>> = OnceLock::new();

/// One DTLS certificate for every endpoint of the process: generating a
/// key pair per transport is a good share of what a join costs the sim,
/// and mediasoup only checks the fingerprint we announce.
pub(super) fn shared_dtls_cert() -> Option<DtlsCert> {
    SHARED_CERT
        .get_or_init(|| dtls::crypto_provider().dtls_provider.generate_certificate())
        .clone()
}

impl Endpoint {
    /// Sets up ICE and DTLS against `remote`, announcing `local` (the
    /// address of our seat on a hub, see `seat`) as our host candidate.
    pub fn new(
        config: RtcConfig,
        remote: &RemoteTransport,
        direction: Direction,
        local: SocketAddr,
    ) -> Result<Self, PeerError> {
        let config = match shared_dtls_cert() {
            Some(cert) => config.set_dtls_cert(cert),
            None => config,
        };
        let mut rtc = config
            .set_crypto_provider(dtls::crypto_provider())
            .set_rtp_mode(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        let rtc_err = |e: &dyn std::fmt::Display| PeerError::Rtc(e.to_string());
        let local_candidate = Candidate::host(local, "udp").map_err(|e| rtc_err(&e))?;
        rtc.add_local_candidate(local_candidate)
            .ok_or_else(|| PeerError::Rtc("local candidate refused".into()))?;
        rtc.add_remote_candidate(
            Candidate::host(remote.candidate, "udp").map_err(|e| rtc_err(&e))?,
        );
        {
            let mut api = rtc.direct_api();
            // mediasoup is ICE-lite (always controlled): we nominate.
            api.set_ice_controlling(true);
            api.set_remote_ice_credentials(IceCreds {
                ufrag: remote.ice_ufrag.clone(),
                pass: remote.ice_pwd.clone(),
            });
            api.set_remote_fingerprint(Fingerprint {
                hash_func: "sha-256".into(),
                bytes: remote.fingerprint.clone(),
            });
            // Active: we are the DTLS client.
            api.start_dtls(true).map_err(|e| rtc_err(&e))?;
        }
        Ok(Endpoint {
            rtc,
            local,
            remote: remote.candidate,
            direction,
        })
    }

    /// `connectWebRtcTransport`'s `dtlsParameters`: our fingerprint, and
    /// role `client` (we started DTLS active).
    pub fn dtls_parameters(&mut self) -> Value {
        let fp = self.rtc.direct_api().local_dtls_fingerprint().clone();
        let mut value = String::with_capacity(fp.bytes.len() * 3);
        for (i, b) in fp.bytes.iter().enumerate() {
            if i > 0 {
                value.push(':');
            }
            let _ = write!(value, "{b:02X}");
        }
        json!({
            "role": "client",
            "fingerprints": [{ "algorithm": fp.hash_func, "value": value }],
        })
    }

    /// Declares a stream we will send: a media section `mid` and its SSRC,
    /// with an RTX SSRC when `rtx` (str0m then resends NACKed packets from
    /// its send buffer, with the RTX payload type `config_with` gave the
    /// codec). Returns the SSRCs (str0m picks random ones).
    pub fn declare_send(&mut self, mid: &str, kind: MediaKind, rtx: bool) -> (u32, Option<u32>) {
        let mut api = self.rtc.direct_api();
        let ssrc = api.new_ssrc();
        let rtx = rtx.then(|| api.new_ssrc());
        let mid = Mid::from(mid);
        api.declare_media(mid, str_kind(kind));
        api.declare_stream_tx(ssrc, rtx, mid, None);
        (*ssrc, rtx.map(|s| *s))
    }

    /// Declares a simulcast video stream: one media section `mid` and a
    /// stream per layer, each with its SSRC (and an RTX SSRC when `rtx`)
    /// and the local rid `rids[i]`, so that str0m's keyframe requests say
    /// which layer they are for. The rids never reach the wire: the
    /// extension map has no rid extension, and mediasoup tells the layers
    /// apart by SSRC. Returns the SSRCs, lowest layer first.
    pub fn declare_simulcast(
        &mut self,
        mid: &str,
        rids: &[&str],
        rtx: bool,
    ) -> Vec<(u32, Option<u32>)> {
        let mut api = self.rtc.direct_api();
        let mid = Mid::from(mid);
        api.declare_media(mid, StrKind::Video);
        rids.iter()
            .map(|rid| {
                let ssrc = api.new_ssrc();
                let rtx = rtx.then(|| api.new_ssrc());
                api.declare_stream_tx(ssrc, rtx, mid, Some(Rid::from(*rid)));
                (*ssrc, rtx.map(|s| *s))
            })
            .collect()
    }

    /// Sends transport-cc feedback for what arrives (the receiving
    /// transport, when transport-wide-cc is negotiated).
    /// mediasoup's bandwidth probes are reported too (see `probes`); the
    /// endpoint must have been built with `probes::with_probe_codec`.
    pub fn enable_twcc_feedback(&mut self) {
        self.rtc.direct_api().enable_twcc_feedback();
        super::probes::expect_probes(&mut self.rtc);
    }
}

pub(super) fn str_kind(kind: MediaKind) -> StrKind {
    match kind {
        MediaKind::Audio => StrKind::Audio,
        MediaKind::Video => StrKind::Video,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the process the test below runs itself in.
    const PREPARE_CHILD: &str = "EJTIMAA_SIM_TEST_PREPARE_ALONE";

    #[test]
    fn prepare_makes_the_shared_certificate_every_endpoint_then_uses() {
        // Any other test of this process may have made the certificate
        // already, so the check runs in a process of its own, alone.
        if std::env::var_os(PREPARE_CHILD).is_none() {
            let (_, module) = module_path!().split_once("::").expect("in a crate");
            let name =
                format!("{module}::prepare_makes_the_shared_certificate_every_endpoint_then_uses");
            let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", &name, "--test-threads", "1"])
                .env(PREPARE_CHILD, "1")
                .output()
                .expect("run the test binary");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "alone: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        assert!(SHARED_CERT.get().is_none(), "made before prepare");
        super::super::prepare();
        let made = SHARED_CERT
            .get()
            .cloned()
            .flatten()
            .expect("made by prepare");
        let used = shared_dtls_cert().expect("the same");
        assert_eq!(made.certificate, used.certificate);
    }

    #[test]
    fn reads_a_transport_and_refuses_garbage() {
        let fp = vec!["AB"; 32].join(":");
        let good = json!({
            "id": "t1",
            "iceParameters": { "usernameFragment": "u", "password": "p", "iceLite": true },
            "iceCandidates": [
                { "protocol": "tcp", "address": "127.0.0.1", "port": 1 },
                { "protocol": "udp", "address": "127.0.0.1", "port": 40000 }
            ],
            "dtlsParameters": { "role": "auto", "fingerprints": [
                { "algorithm": "sha-512", "value": "00" },
                { "algorithm": "sha-256", "value": fp }
            ] }
        });
        let t = RemoteTransport::parse(&good).unwrap();
        assert_eq!(t.candidate, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(t.fingerprint, vec![0xab; 32]);
        for bad in [
            json!(null),
            json!({ "id": "t1" }),
            json!({ "id": 5, "iceCandidates": "x" }),
        ] {
            assert!(RemoteTransport::parse(&bad).is_err(), "{bad}");
        }
        let mut short = good.clone();
        short["dtlsParameters"]["fingerprints"][1]["value"] = json!("AB:CD");
        assert!(RemoteTransport::parse(&short).is_err());
        let mut tcp_only = good;
        tcp_only["iceCandidates"] =
            json!([{ "protocol": "tcp", "address": "127.0.0.1", "port": 1 }]);
        assert!(RemoteTransport::parse(&tcp_only).is_err());
    }
}
