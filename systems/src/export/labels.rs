//! Cached label fragments: each room, peer, transport, producer and consumer
//! keeps its part of the 13 labels as ready-to-write text, recomputed only when
//! the object (or an option it depends on) changes. A series' label set is then
//! four copies: room + peer + transport + owner, and `type`. Each fragment
//! also marks its identifying part (`room_id`, `peer_id`, `id, kind`), the
//! labels of the per-stream detail families.
//!
//! Every value taken from the World is cut to `label_value_max` characters.

use std::num::NonZeroU32;
use std::ops::Range;

use bevy_ecs::prelude::*;

use super::address::push_endpoint;
use super::escape::{push_capped_label, push_label};
use super::options::ExportOptions;
use crate::media::{MediaKind, MimeType};
use crate::world::{Consumer, Peer, Producer, Room, Transport, Worker};

/// An object's part of the label set, escaped and comma-separated, without a
/// leading or trailing comma; and where its identifying labels sit in it.
#[derive(Component, Default, Debug)]
pub struct LabelFragment {
    text: String,
    identity: Range<usize>,
}

impl LabelFragment {
    /// The cached text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The identifying labels in it (empty for a transport).
    pub fn identity(&self) -> &str {
        &self.text[self.identity.clone()]
    }
}

/// Rewrites `fragment` with `write` (which returns where the identifying part
/// is), marking it changed (for `Changed<LabelFragment>`, which the order
/// system watches) only if its text changed. The identifying part follows from
/// the text, so an unchanged text keeps it.
fn refresh(
    fragment: &mut Mut<LabelFragment>,
    scratch: &mut String,
    write: impl FnOnce(&mut String) -> Range<usize>,
) {
    scratch.clear();
    let identity = write(scratch);
    if *scratch != fragment.text {
        std::mem::swap(scratch, &mut fragment.text);
        fragment.identity = identity;
    }
}

/// A text buffer a system keeps between runs (`Local<Scratch>`), so that
/// refreshing labels allocates nothing in the steady state.
#[derive(Default)]
pub struct Scratch(String);

/// `pid`, `room_id` (identifying).
pub fn refresh_room_labels(
    mut rooms: Query<(Ref<Room>, &ChildOf, &mut LabelFragment)>,
    workers: Query<&Worker>,
    options: Res<ExportOptions>,
    mut scratch: Local<Scratch>,
) {
    let max = options.label_value_max;
    for (room, child_of, mut fragment) in &mut rooms {
        if !options.is_changed() && !room.is_changed() {
            continue;
        }
        let pid = workers.get(child_of.parent()).map_or(0, |w| w.pid);
        refresh(&mut fragment, &mut scratch.0, |out| {
            push_label(out, "pid", itoa::Buffer::new().format(pid));
            out.push(',');
            let start = out.len();
            push_capped_label(out, "room_id", room.id.as_str(), max);
            start..out.len()
        });
    }
}

/// `peer_id` (identifying), `display_name`, `user_agent`.
pub fn refresh_peer_labels(
    mut peers: Query<(Ref<Peer>, &mut LabelFragment)>,
    options: Res<ExportOptions>,
    mut scratch: Local<Scratch>,
) {
    let max = options.label_value_max;
    for (peer, mut fragment) in &mut peers {
        if !options.is_changed() && !peer.is_changed() {
            continue;
        }
        refresh(&mut fragment, &mut scratch.0, |out| {
            push_capped_label(out, "peer_id", peer.id.as_str(), max);
            let identity = 0..out.len();
            out.push(',');
            push_capped_label(out, "display_name", &peer.display_name, max);
            out.push(',');
            push_capped_label(out, "user_agent", &peer.user_agent, max);
            identity
        });
    }
}

/// `transport_id`, `proto`, `local_addr`, `remote_addr`; none identifying.
/// Addresses use the names fixed when the transport was first exported.
pub fn refresh_transport_labels(
    mut transports: Query<(Ref<Transport>, &mut LabelFragment)>,
    options: Res<ExportOptions>,
    mut scratch: Local<Scratch>,
    mut address: Local<Scratch>,
) {
    let max = options.label_value_max;
    for (transport, mut fragment) in &mut transports {
        if !options.is_changed() && !transport.is_changed() {
            continue;
        }
        refresh(&mut fragment, &mut scratch.0, |out| {
            let id = if options.quiet {
                ""
            } else {
                transport.id.as_str()
            };
            push_capped_label(out, "transport_id", id, max);
            let tuple = transport.tuple.as_ref();
            let names = transport.names.as_ref().filter(|n| Some(&n.tuple) == tuple);
            out.push(',');
            push_label(out, "proto", tuple.map_or("", |t| t.protocol.as_str()));
            for (label, endpoint, name) in [
                (
                    "local_addr",
                    tuple.map(|t| &t.local),
                    names.and_then(|n| n.local.as_deref()),
                ),
                (
                    "remote_addr",
                    tuple.map(|t| &t.remote),
                    names.and_then(|n| n.remote.as_deref()),
                ),
            ] {
                address.0.clear();
                if let Some(endpoint) = endpoint {
                    push_endpoint(&mut address.0, endpoint, &options, name);
                }
                out.push(',');
                push_capped_label(out, label, &address.0, max);
            }
            0..0
        });
    }
}

/// What the owner fragment needs from a producer or consumer.
pub trait StreamOwnerComponent: Component {
    /// Its id as text.
    fn id_str(&self) -> &str;
    /// Audio or video.
    fn kind(&self) -> MediaKind;
    /// Its codec.
    fn mime_type(&self) -> &MimeType;
    /// Its codec's RTP clock rate.
    fn clock_rate(&self) -> NonZeroU32;
}

impl StreamOwnerComponent for Producer {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn kind(&self) -> MediaKind {
        self.kind
    }
    fn mime_type(&self) -> &MimeType {
        &self.mime_type
    }
    fn clock_rate(&self) -> NonZeroU32 {
        self.clock_rate
    }
}

impl StreamOwnerComponent for Consumer {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn kind(&self) -> MediaKind {
        self.kind
    }
    fn mime_type(&self) -> &MimeType {
        &self.mime_type
    }
    fn clock_rate(&self) -> NonZeroU32 {
        self.clock_rate
    }
}

/// `id`, `kind` (both identifying), `codec` of a producer or consumer.
pub fn refresh_owner_labels<T: StreamOwnerComponent>(
    mut owners: Query<(Ref<T>, &mut LabelFragment)>,
    options: Res<ExportOptions>,
    mut scratch: Local<Scratch>,
) {
    let max = options.label_value_max;
    for (owner, mut fragment) in &mut owners {
        if !options.is_changed() && !owner.is_changed() {
            continue;
        }
        refresh(&mut fragment, &mut scratch.0, |out| {
            let id = if options.quiet { "" } else { owner.id_str() };
            push_capped_label(out, "id", id, max);
            out.push(',');
            push_label(out, "kind", owner.kind().as_str());
            let identity = 0..out.len();
            out.push(',');
            push_capped_label(out, "codec", owner.mime_type().subtype(), max);
            identity
        });
    }
}
