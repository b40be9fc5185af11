//! The render system: writes the text exposition (format 0.0.4) of the world.
//!
//! Order: `Ejtimaa_rooms` and `Ejtimaa_peers`, the per-stream families
//! (consumers then producers, the original's first), the per-room aggregates,
//! then the server-wide families. Which stream families appear depends on
//! [`ExportOptions::metrics`](crate::export::ExportOptions).

mod auth;
mod families;
mod limits;
mod merged;
mod objects;
mod rooms;
mod scrape;
mod server;
mod streams;
pub(crate) mod text;

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::labels::LabelFragment;
use super::options::ExportOptions;
use super::order::ExportOrder;
use crate::world::{Consumer, Producer, RtpStreams};
use merged::Role;
use rooms::{RoomBuffers, RoomSources, render_rooms};
pub use server::ServerSources;
use server::{ServerBuffers, render_server};
use streams::{StreamBuffers, render_role};
use text::{Kind, Value, header, push_plain, push_value};

/// The latest exposition text, rewritten in place at every scrape, and the
/// buffers that keep steady-state renders from allocating.
#[derive(Resource, Default)]
pub struct Exposition {
    text: String,
    streams: StreamBuffers,
    rooms: RoomBuffers,
    server: ServerBuffers,
}

impl Exposition {
    /// The text of the last render.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Takes the text of the last render out, leaving `spare` as the buffer
    /// the next render writes into (its content is cleared then). Lets the
    /// text leave without a copy.
    pub fn take_text(&mut self, spare: String) -> String {
        std::mem::replace(&mut self.text, spare)
    }
}

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The World's parts the room and stream families read.
#[derive(SystemParam)]
pub struct StreamSources<'w, 's> {
    order: Res<'w, ExportOrder>,
    options: Res<'w, ExportOptions>,
    children: Query<'w, 's, &'static Children>,
    fragments: Query<'w, 's, &'static LabelFragment>,
    producers: Query<'w, 's, (&'static Producer, &'static RtpStreams)>,
    consumers: Query<'w, 's, (&'static Consumer, &'static RtpStreams)>,
}

/// Renders every family into [`Exposition`].
pub fn render_exposition(
    mut exposition: ResMut<Exposition>,
    sources: StreamSources,
    server: ServerSources,
) {
    let Exposition {
        text,
        streams,
        rooms,
        server: server_buffers,
    } = &mut *exposition;
    text.clear();
    let order = &*sources.order;

    header(text, "Ejtimaa_rooms", "Rooms open.", Kind::Gauge);
    push_plain(
        text,
        "Ejtimaa_rooms",
        Value::Unsigned(order.rooms.len() as u64),
    );

    header(text, "Ejtimaa_peers", "Peers in each room.", Kind::Gauge);
    // Rooms whose room_id labels coincide (cut to the same text) are one series.
    for run in order
        .rooms
        .chunk_by(|a, b| room_label(&sources, *a) == room_label(&sources, *b))
    {
        let peers: usize = run
            .iter()
            .map(|room| sources.children.get(*room).map_or(0, |c| c.len()))
            .sum();
        text.push_str("Ejtimaa_peers{");
        text.push_str(room_label(&sources, run[0]));
        text.push_str("} ");
        push_value(text, Value::Unsigned(peers as u64));
    }

    let metrics = sources.options.metrics;
    if metrics.per_stream() {
        for role in Role::ALL {
            match role {
                Role::Consumer => render_role(
                    text,
                    streams,
                    role,
                    &order.consumers,
                    &sources.fragments,
                    &sources.consumers,
                ),
                Role::Producer => render_role(
                    text,
                    streams,
                    role,
                    &order.producers,
                    &sources.fragments,
                    &sources.producers,
                ),
            }
        }
    }
    if metrics.aggregated() {
        let room_sources = RoomSources {
            rooms: &order.rooms,
            fragments: &sources.fragments,
            consumer_rows: &order.consumers,
            producer_rows: &order.producers,
            consumers: &sources.consumers,
            producers: &sources.producers,
        };
        render_rooms(text, rooms, &room_sources);
    }
    render_server(text, server_buffers, &server);
}

/// The `room_id="…"` label of a room, as its label fragment wrote it.
fn room_label<'a>(sources: &'a StreamSources, room: Entity) -> &'a str {
    sources
        .fragments
        .get(room)
        .map_or("", LabelFragment::identity)
}
