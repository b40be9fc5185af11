//! One object's `get_stats`, turned into World events. An object that closed
//! (before or during the call) is the normal end of its stats, not an error.

use ejtimaa_systems::{
    ConsumerId, ProducerId, RtpStreamStats, RtpStreamType, Score, StreamOwner, WorldEvent,
};
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use mediasoup::consumer::{ConsumerRtpStreamStat, ConsumerStat, WeakConsumer};
use mediasoup::producer::{ProducerStat, WeakProducer};

use crate::media::registry::MediaRegistry;

/// How one object's stats call went.
pub enum Answer {
    /// Its streams.
    Stats(Vec<WorldEvent>),
    /// It closed: nothing to ask, or it closed while asked.
    Gone,
    /// The call failed while the object lives.
    Failed(String),
}

/// Asks a producer, unless it has closed. The strong handle lives only for
/// the call, so a round never keeps a producer open.
pub fn producer_call(weak: WeakProducer) -> BoxFuture<'static, Answer> {
    async move {
        let Some(producer) = weak.upgrade().filter(|p| !p.closed()) else {
            return Answer::Gone;
        };
        let owner = StreamOwner::Producer(ProducerId::from(producer.id().to_string()));
        match producer.get_stats().await {
            Ok(stats) => Answer::Stats(
                stats
                    .iter()
                    .map(|s| WorldEvent::StatsUpdated {
                        owner: owner.clone(),
                        stats: inbound(s),
                    })
                    .collect(),
            ),
            Err(_) if producer.closed() => Answer::Gone,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
    .boxed()
}

/// Asks a consumer, unless it or its producer has closed (see
/// [`producer_call`]). A producer's close reaches the worker at once, and the
/// worker closes its consumers with it, but the consumers learn of it only
/// when the worker's notification comes back: asking in between makes the
/// worker log an error. Our side closes producers by dropping their handles,
/// so a closed producer is visible here first.
pub fn consumer_call(
    weak: WeakConsumer,
    registry: Arc<MediaRegistry>,
) -> BoxFuture<'static, Answer> {
    async move {
        let Some(consumer) = weak.upgrade().filter(|c| !c.closed()) else {
            return Answer::Gone;
        };
        let producer_open = registry
            .producer(&consumer.producer_id())
            .is_some_and(|p| !p.closed());
        if !producer_open {
            return Answer::Gone;
        }
        let owner = StreamOwner::Consumer(ConsumerId::from(consumer.id().to_string()));
        match consumer.get_stats().await {
            // Both sides are reported; the exporter picks the types it shows.
            Ok(stats) => Answer::Stats(
                stats
                    .iter()
                    .map(|s| WorldEvent::StatsUpdated {
                        owner: owner.clone(),
                        stats: match s {
                            ConsumerRtpStreamStat::Outbound(s) => outbound(s),
                            ConsumerRtpStreamStat::Inbound(s) => inbound(s),
                        },
                    })
                    .collect(),
            ),
            Err(_) if consumer.closed() => Answer::Gone,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
    .boxed()
}

/// A stream mediasoup receives.
fn inbound(s: &ProducerStat) -> RtpStreamStats {
    RtpStreamStats {
        stream_type: RtpStreamType::InboundRtp,
        ssrc: s.ssrc,
        rid: s.rid.clone(),
        byte_count: s.byte_count,
        packet_count: s.packet_count,
        packets_lost: i64::from(s.packets_lost),
        fraction_lost: s.fraction_lost,
        jitter: s.jitter,
        round_trip_time: s.round_trip_time,
        bitrate: s.bitrate,
        nack_count: s.nack_count,
        pli_count: s.pli_count,
        fir_count: s.fir_count,
        score: score(s.score),
    }
}

/// A stream mediasoup sends.
fn outbound(s: &ConsumerStat) -> RtpStreamStats {
    RtpStreamStats {
        stream_type: RtpStreamType::OutboundRtp,
        ssrc: s.ssrc,
        rid: None,
        byte_count: s.byte_count,
        packet_count: s.packet_count,
        packets_lost: i64::from(s.packets_lost),
        fraction_lost: s.fraction_lost,
        jitter: s.jitter,
        round_trip_time: s.round_trip_time,
        bitrate: s.bitrate,
        nack_count: s.nack_count,
        pli_count: s.pli_count,
        fir_count: s.fir_count,
        score: score(s.score),
    }
}

/// mediasoup scores are 0..=10; anything above is clamped rather than trusted.
fn score(raw: u8) -> Score {
    Score::try_from(raw).unwrap_or(Score::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_clamped() {
        assert_eq!(score(0).get(), 0);
        assert_eq!(score(7).get(), 7);
        assert_eq!(score(10).get(), 10);
        assert_eq!(score(200).get(), 10);
    }
}
