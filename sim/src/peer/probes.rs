//! mediasoup's bandwidth probes on a receiving transport.
//!
//! To estimate a transport's downlink, mediasoup sends probation packets
//! on a stream of its own: SSRC 1234, payload type 127, MID `probator`,
//! with abs-send-time and a transport-wide sequence number, a zero payload
//! (no media). mediasoup-client declares that stream, so a browser reports
//! every probe in its transport-cc feedback. str0m only knows SSRC 0 as a
//! probe and drops packets of an SSRC it does not expect before counting
//! them for feedback, which would make mediasoup take every probe as lost
//! and hold its estimate (and the simulcast layers it allows) down. So a
//! receiving transport with transport-cc expects that stream like any
//! other, never NACKs it, and the driver drops its packets unread.

use str0m::RtcConfig;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::rtp::Ssrc;

/// The SSRC of mediasoup's probation stream.
pub const PROBE_SSRC: u32 = 1234;
/// Its payload type.
const PROBE_PT: u8 = 127;
/// Its MID.
const PROBE_MID: &str = "probator";

/// Makes the probes' payload type known to str0m (it drops packets of an
/// unknown one before feedback), unless the router already uses it.
pub fn with_probe_codec(mut config: RtcConfig) -> RtcConfig {
    let codecs = config.codec_config();
    let pt = Pt::from(PROBE_PT);
    let taken = codecs
        .iter()
        .any(|p| p.pt() == pt || p.resend() == Some(pt) || p.red() == Some(pt));
    if taken {
        tracing::warn!("payload type {PROBE_PT} taken: bandwidth probes go unreported");
    } else {
        // A video codec at 90 kHz, as mediasoup-client declares it; no
        // RTX, so str0m never takes a probe for a resend.
        codecs.add_config(
            pt,
            None,
            Codec::Vp8,
            Frequency::NINETY_KHZ,
            None,
            FormatParams::default(),
        );
    }
    config
}

/// Declares the probation stream on `rtc`, NACKs off (a lost probe is
/// only news for the estimate, never worth a resend).
pub fn expect_probes(rtc: &mut str0m::Rtc) {
    let mid = Mid::from(PROBE_MID);
    let mut api = rtc.direct_api();
    api.declare_media(mid, MediaKind::Video);
    api.expect_stream_rx(Ssrc::from(PROBE_SSRC), None, mid, None)
        .suppress_nack(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(config: &mut RtcConfig) -> Vec<u8> {
        config.codec_config().iter().map(|p| *p.pt()).collect()
    }

    #[test]
    fn adds_the_probe_payload_type_unless_taken() {
        let mut added = with_probe_codec(RtcConfig::new().clear_codecs());
        assert_eq!(pts(&mut added), [PROBE_PT]);

        // A router that gave 127 to RTX: left alone, no second meaning.
        let mut config = RtcConfig::new().clear_codecs();
        config.codec_config().add_config(
            100.into(),
            Some(PROBE_PT.into()),
            Codec::Vp8,
            Frequency::NINETY_KHZ,
            None,
            FormatParams::default(),
        );
        let mut kept = with_probe_codec(config);
        assert_eq!(pts(&mut kept), [100]);
    }
}
