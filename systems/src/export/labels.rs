//! Cached label fragments: each room, peer, transport, producer and consumer
//! keeps its part of the 13 labels as ready-to-write text, recomputed only when
//! the object (or an option it depends on) changes. A series' label set is then
//! four copies: room + peer + transport + owner, and `type`.

use std::num::NonZeroU32;

use bevy_ecs::prelude::*;

use super::address::push_endpoint;
use super::escape::push_label;
use super::options::ExportOptions;
use crate::media::{MediaKind, MimeType};
use crate::world::{Consumer, Peer, Producer, ReverseDns, Room, Transport, Worker};

/// An object's part of the label set, escaped and comma-separated, without a
/// leading or trailing comma.
#[derive(Component, Default, Debug)]
pub struct LabelFragment(pub(crate) String);

impl LabelFragment {
    /// The cached text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Rewrites `fragment` with `write`, marking it changed (for
/// `Changed<LabelFragment>`, which the order system watches) only if its text
/// changed.
fn refresh(
    fragment: &mut Mut<LabelFragment>,
    scratch: &mut String,
    write: impl FnOnce(&mut String),
) {
    scratch.clear();
    write(scratch);
    if *scratch != fragment.0 {
        std::mem::swap(scratch, &mut fragment.0);
    }
}

/// A text buffer a system keeps between runs (`Local<Scratch>`), so that
/// refreshing labels allocates nothing in the steady state.
#[derive(Default)]
pub struct Scratch(String);

/// `pid`, `room_id`.
pub fn refresh_room_labels(
    mut rooms: Query<(&Room, &ChildOf, &mut LabelFragment), Changed<Room>>,
    workers: Query<&Worker>,
    mut scratch: Local<Scratch>,
) {
    for (room, child_of, mut fragment) in &mut rooms {
        let pid = workers.get(child_of.parent()).map_or(0, |w| w.pid);
        refresh(&mut fragment, &mut scratch.0, |out| {
            push_label(out, "pid", itoa::Buffer::new().format(pid));
            out.push(',');
            push_label(out, "room_id", room.id.as_str());
        });
    }
}

/// `peer_id`, `display_name`, `user_agent`.
pub fn refresh_peer_labels(
    mut peers: Query<(&Peer, &mut LabelFragment), Changed<Peer>>,
    mut scratch: Local<Scratch>,
) {
    for (peer, mut fragment) in &mut peers {
        refresh(&mut fragment, &mut scratch.0, |out| {
            push_label(out, "peer_id", peer.id.as_str());
            out.push(',');
            push_label(out, "display_name", &peer.display_name);
            out.push(',');
            push_label(out, "user_agent", &peer.user_agent);
        });
    }
}

/// `transport_id`, `proto`, `local_addr`, `remote_addr`; all of them again when
/// the options or the reverse DNS names change.
pub fn refresh_transport_labels(
    mut transports: Query<(Ref<Transport>, &mut LabelFragment)>,
    options: Res<ExportOptions>,
    dns: Res<ReverseDns>,
    mut scratch: Local<Scratch>,
    mut address: Local<Scratch>,
) {
    let all = options.is_changed() || dns.is_changed();
    for (transport, mut fragment) in &mut transports {
        if !all && !transport.is_changed() {
            continue;
        }
        refresh(&mut fragment, &mut scratch.0, |out| {
            let id = if options.quiet {
                ""
            } else {
                transport.id.as_str()
            };
            push_label(out, "transport_id", id);
            let tuple = transport.tuple.as_ref();
            out.push(',');
            push_label(out, "proto", tuple.map_or("", |t| t.protocol.as_str()));
            for (name, endpoint) in [
                ("local_addr", tuple.map(|t| &t.local)),
                ("remote_addr", tuple.map(|t| &t.remote)),
            ] {
                address.0.clear();
                if let Some(endpoint) = endpoint {
                    push_endpoint(&mut address.0, endpoint, &options, &dns);
                }
                out.push(',');
                push_label(out, name, &address.0);
            }
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

/// `id`, `kind`, `codec` of a producer or consumer.
pub fn refresh_owner_labels<T: StreamOwnerComponent>(
    mut owners: Query<(Ref<T>, &mut LabelFragment)>,
    options: Res<ExportOptions>,
    mut scratch: Local<Scratch>,
) {
    let all = options.is_changed();
    for (owner, mut fragment) in &mut owners {
        if !all && !owner.is_changed() {
            continue;
        }
        refresh(&mut fragment, &mut scratch.0, |out| {
            push_label(out, "id", if options.quiet { "" } else { owner.id_str() });
            out.push(',');
            push_label(out, "kind", owner.kind().as_str());
            out.push(',');
            push_label(out, "codec", owner.mime_type().subtype());
        });
    }
}
