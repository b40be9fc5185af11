//! Per-stream families: for each role, the original's byte-count and score
//! families and `_info` (the 13 labels, one series per label set), then the
//! detail families (identifying labels only, one series per identity).

use bevy_ecs::prelude::*;

use super::families::{DETAIL_FAMILIES, INFO_HELP, INFO_NAMES, ORIGINAL_FAMILIES, StreamFamily};
use super::merged::{Merged, Role};
use super::text::{Kind, Value, header, push_value};
use crate::export::labels::{LabelFragment, StreamOwnerComponent};
use crate::export::order::Row;
use crate::media::RtpStreamType;
use crate::world::RtpStreams;

const STREAM_TYPES: [RtpStreamType; 2] = [RtpStreamType::InboundRtp, RtpStreamType::OutboundRtp];

/// Buffers kept between scrapes: one per family, and a series' label text.
#[derive(Default)]
pub(crate) struct StreamBuffers {
    original: Vec<String>,
    info: String,
    detail: Vec<String>,
    labels: String,
}

fn start_buffers(buffers: &mut Vec<String>, families: &[StreamFamily], role: Role) {
    buffers.resize_with(families.len(), String::new);
    for (buffer, family) in buffers.iter_mut().zip(families) {
        buffer.clear();
        header(
            buffer,
            family.name(role),
            family.help[role.index()],
            family.kind,
        );
    }
}

fn push_families(
    buffers: &mut [String],
    families: &[StreamFamily],
    role: Role,
    labels: &str,
    merged: &Merged,
) {
    for (buffer, family) in buffers.iter_mut().zip(families) {
        let Some(value) = (family.value)(merged) else {
            continue;
        };
        buffer.push_str(family.name(role));
        buffer.push_str(labels);
        push_value(buffer, value);
    }
}

/// Rows `start..` up to the next row that does not continue the run.
fn run_end(rows: &[Row], start: usize, continues: fn(&Row) -> bool) -> usize {
    start
        + 1
        + rows[start + 1..]
            .iter()
            .take_while(|r| continues(r))
            .count()
}

/// Writes every per-stream family of `role` into `out`, in one pass over the
/// rows: each family goes to its own buffer, appended at the end.
pub(crate) fn render_role<T: StreamOwnerComponent>(
    out: &mut String,
    buffers: &mut StreamBuffers,
    role: Role,
    rows: &[Row],
    fragments: &Query<&LabelFragment>,
    owners: &Query<(&T, &RtpStreams)>,
) {
    let StreamBuffers {
        original,
        info,
        detail,
        labels,
    } = buffers;
    start_buffers(original, &ORIGINAL_FAMILIES, role);
    start_buffers(detail, &DETAIL_FAMILIES, role);
    info.clear();
    let info_name = INFO_NAMES[role.index()];
    header(info, info_name, INFO_HELP[role.index()], Kind::Gauge);

    let mut id_start = 0;
    while id_start < rows.len() {
        // Rows with the same identifying labels (usually just one).
        let id_end = run_end(rows, id_start, |r| r.same_identity_as_previous);
        let mut identity = Merged::default();
        let mut any_in_identity = false;
        let mut start = id_start;
        while start < id_end {
            // Rows with the same 13 labels, within it.
            let end = run_end(rows, start, |r| r.same_labels_as_previous).min(id_end);
            let group = &rows[start..end];
            start = end;
            for stream_type in STREAM_TYPES {
                if !role.shows(stream_type) {
                    continue;
                }
                let mut merged = Merged::default();
                let mut any = false;
                for row in group {
                    let Ok((owner, streams)) = owners.get(row.owner) else {
                        continue;
                    };
                    let clock_rate = owner.clock_rate().get();
                    for s in streams.iter().filter(|s| s.stream_type == stream_type) {
                        any = true;
                        merged.add(s, clock_rate);
                    }
                }
                if !any {
                    continue;
                }
                any_in_identity = true;
                identity.combine(&merged);
                write_labels(labels, &group[0], stream_type, fragments);
                push_families(original, &ORIGINAL_FAMILIES, role, labels, &merged);
                info.push_str(info_name);
                info.push_str(labels);
                push_value(info, Value::Unsigned(1));
            }
        }
        if any_in_identity {
            write_identity(labels, &rows[id_start], fragments);
            push_families(detail, &DETAIL_FAMILIES, role, labels, &identity);
        }
        id_start = id_end;
    }
    for buffer in original.iter() {
        out.push_str(buffer);
    }
    out.push_str(info);
    for buffer in detail.iter() {
        out.push_str(buffer);
    }
}

/// `{<13 labels>} ` of a series: the four cached fragments and `type`.
fn write_labels(
    out: &mut String,
    row: &Row,
    stream_type: RtpStreamType,
    fragments: &Query<&LabelFragment>,
) {
    out.clear();
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
}

/// `{room_id,peer_id,id,kind} ` of a detail series.
fn write_identity(out: &mut String, row: &Row, fragments: &Query<&LabelFragment>) {
    out.clear();
    out.push('{');
    for (i, entity) in [row.room, row.peer, row.owner].into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Ok(fragment) = fragments.get(entity) {
            out.push_str(fragment.identity());
        }
    }
    out.push_str("} ");
}
