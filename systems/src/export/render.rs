//! The render system: writes the text exposition (format 0.0.4) of the world.

use bevy_ecs::prelude::*;

use super::labels::LabelFragment;
use super::order::{ExportOrder, Row};
use crate::media::RtpStreamType;
use crate::world::RtpStreams;

/// The latest exposition text, rewritten in place at every scrape.
#[derive(Resource, Default)]
pub struct Exposition {
    text: String,
    scores: String,
}

impl Exposition {
    /// The text of the last render.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A byte-count and score family pair (producers or consumers).
struct Families {
    bytes: &'static str,
    bytes_help: &'static str,
    score: &'static str,
    score_help: &'static str,
    /// Stream types the family shows. Consumers' stats also carry their
    /// producer's inbound stream; the original skipped it, and so do we.
    shows: fn(RtpStreamType) -> bool,
}

const CONSUMERS: Families = Families {
    bytes: "mediasoup_consumer_byte_count_bytes",
    bytes_help: "Bytes sent by each consumer RTP stream (stats byteCount).",
    score: "mediasoup_consumer_score",
    score_help: "Score (0-10) of each consumer RTP stream.",
    shows: |t| t == RtpStreamType::OutboundRtp,
};

const PRODUCERS: Families = Families {
    bytes: "mediasoup_producer_byte_count_bytes",
    bytes_help: "Bytes received by each producer RTP stream (stats byteCount).",
    score: "mediasoup_producer_score",
    score_help: "Score (0-10) of each producer RTP stream.",
    shows: |_| true,
};

const STREAM_TYPES: [RtpStreamType; 2] = [RtpStreamType::InboundRtp, RtpStreamType::OutboundRtp];

/// Renders `Ejtimaa_rooms`, `Ejtimaa_peers` and the four stream families into
/// [`Exposition`], in the original's order.
pub fn render_exposition(
    mut exposition: ResMut<Exposition>,
    order: Res<ExportOrder>,
    children: Query<&Children>,
    fragments: Query<&LabelFragment>,
    room_ids: Query<&crate::world::Room>,
    streams: Query<&RtpStreams>,
) {
    let Exposition { text, scores } = &mut *exposition;
    text.clear();
    let mut num = itoa::Buffer::new();

    header(text, "Ejtimaa_rooms", "Rooms open.", "gauge");
    text.push_str("Ejtimaa_rooms ");
    text.push_str(num.format(order.rooms.len()));
    text.push('\n');

    header(text, "Ejtimaa_peers", "Peers in each room.", "gauge");
    for &room in &order.rooms {
        let Ok(room_id) = room_ids.get(room) else {
            continue;
        };
        let peers = children.get(room).map_or(0, |c| c.len());
        text.push_str("Ejtimaa_peers{");
        super::escape::push_label(text, "room_id", room_id.id.as_str());
        text.push_str("} ");
        text.push_str(num.format(peers));
        text.push('\n');
    }

    for (families, rows) in [
        (&CONSUMERS, &order.consumers),
        (&PRODUCERS, &order.producers),
    ] {
        render_families(text, scores, families, rows, &fragments, &streams);
    }
}

/// Writes one byte-count family into `text` and its score family into
/// `scores` in a single pass over the rows, then appends the scores.
fn render_families(
    text: &mut String,
    scores: &mut String,
    families: &Families,
    rows: &[Row],
    fragments: &Query<&LabelFragment>,
    streams: &Query<&RtpStreams>,
) {
    let mut num = itoa::Buffer::new();
    header(text, families.bytes, families.bytes_help, "counter");
    scores.clear();
    header(scores, families.score, families.score_help, "gauge");

    let mut start = 0;
    while start < rows.len() {
        // A group: rows with the same label fragments (usually just one).
        let end = start
            + 1
            + rows[start + 1..]
                .iter()
                .take_while(|r| r.same_labels_as_previous)
                .count();
        let group = &rows[start..end];
        start = end;

        for stream_type in STREAM_TYPES {
            if !(families.shows)(stream_type) {
                continue;
            }
            // Streams sharing a label set (simulcast layers, or `quiet` owners)
            // merge: bytes add up, as the original's counter `inc` did, and the
            // score is the worst of them.
            let mut bytes = 0u64;
            let mut score = u8::MAX;
            let mut any = false;
            for row in group {
                let Ok(owner_streams) = streams.get(row.owner) else {
                    continue;
                };
                for s in owner_streams
                    .iter()
                    .filter(|s| s.stream_type == stream_type)
                {
                    any = true;
                    bytes = bytes.saturating_add(s.byte_count);
                    score = score.min(s.score.get());
                }
            }
            if !any {
                continue;
            }
            let row = &group[0];
            series(
                text,
                families.bytes,
                row,
                stream_type,
                fragments,
                num.format(bytes),
            );
            series(
                scores,
                families.score,
                row,
                stream_type,
                fragments,
                num.format(score),
            );
        }
    }
    text.push_str(scores);
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn series(
    out: &mut String,
    name: &str,
    row: &Row,
    stream_type: RtpStreamType,
    fragments: &Query<&LabelFragment>,
    value: &str,
) {
    out.push_str(name);
    out.push('{');
    for entity in [row.room, row.peer, row.transport, row.owner] {
        if let Ok(fragment) = fragments.get(entity) {
            out.push_str(fragment.as_str());
        }
        out.push(',');
    }
    out.push_str("type=\"");
    out.push_str(stream_type.as_str());
    out.push_str("\"} ");
    out.push_str(value);
    out.push('\n');
}
