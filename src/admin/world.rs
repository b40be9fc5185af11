//! The admin commands that show the World: `stats`, `rooms`, `peers`,
//! `dumpRooms` and `dumpPeers`, from [`Core`](ejtimaa_systems::Core)'s read views.

use std::sync::Arc;

use ejtimaa_systems::{PeerView, TransportView};
use serde::Serialize;
use serde_json::{Value, json};

use super::AdminContext;
use super::answer::{err, pretty};
use super::table::{cell, render};

/// Counts of the World's objects.
#[derive(Serialize)]
struct Summary {
    rooms: usize,
    peers: usize,
    transports: usize,
    producers: usize,
    consumers: usize,
    workers: usize,
    connected: usize,
    ignored_events: u64,
    worker_deaths: u64,
}

pub(super) async fn stats(ctx: &Arc<AdminContext>, json: bool) -> Result<String, String> {
    let connected = ctx.signaling.peer_count();
    let s = ctx
        .engine
        .query(move |core| {
            let objects = core.summary();
            let counts = core.counts();
            Summary {
                rooms: objects.rooms,
                peers: objects.peers,
                transports: objects.transports,
                producers: objects.producers,
                consumers: objects.consumers,
                workers: objects.workers,
                connected,
                ignored_events: counts.unknown + counts.duplicate + counts.stale,
                worker_deaths: counts.worker_deaths,
            }
        })
        .await
        .map_err(err)?;
    if json {
        return serde_json::to_string(&s).map(|t| t + "\n").map_err(err);
    }
    Ok(format!(
        "rooms:{} peers:{} transports:{} producers:{} consumers:{} workers:{} connected:{} ignored_events:{} worker_deaths:{}\n",
        s.rooms,
        s.peers,
        s.transports,
        s.producers,
        s.consumers,
        s.workers,
        s.connected,
        s.ignored_events,
        s.worker_deaths
    ))
}

/// One room, from the World.
#[derive(Serialize)]
struct RoomRow {
    id: String,
    pid: u32,
    peers: usize,
}

async fn room_rows(ctx: &Arc<AdminContext>) -> Result<Vec<RoomRow>, String> {
    let rooms = ctx.engine.query(|core| core.rooms()).await.map_err(err)?;
    Ok(rooms
        .into_iter()
        .map(|r| RoomRow {
            id: r.id.to_string(),
            pid: r.pid,
            peers: r.peers,
        })
        .collect())
}

pub(super) async fn rooms(ctx: &Arc<AdminContext>, json: bool) -> Result<String, String> {
    let rows = room_rows(ctx).await?;
    if json {
        return pretty(&rows);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![cell(&r.id), r.pid.to_string(), r.peers.to_string()])
        .collect();
    Ok(render(&["room", "pid", "peers"], &rows))
}

/// One peer, from the World, with its objects.
#[derive(Serialize)]
struct PeerRow {
    id: String,
    room: String,
    display_name: String,
    user_agent: String,
    transports: Vec<Value>,
}

async fn peer_rows(ctx: &Arc<AdminContext>) -> Result<Vec<PeerRow>, String> {
    let peers = ctx.engine.query(|core| core.peers()).await.map_err(err)?;
    Ok(peers.into_iter().map(peer_row).collect())
}

fn peer_row(peer: PeerView) -> PeerRow {
    PeerRow {
        id: peer.id.to_string(),
        room: peer.room.map_or(String::new(), |r| r.to_string()),
        display_name: peer.display_name,
        user_agent: peer.user_agent,
        transports: peer.transports.iter().map(transport_json).collect(),
    }
}

fn streams_json(streams: &[ejtimaa_systems::RtpStreamStats]) -> Vec<Value> {
    streams
        .iter()
        .map(|s| json!({ "type": s.stream_type.as_str(), "ssrc": s.ssrc, "bytes": s.byte_count, "packets": s.packet_count, "score": s.score.get() }))
        .collect()
}

fn transport_json(t: &TransportView) -> Value {
    let producers: Vec<Value> = t
        .producers
        .iter()
        .map(|p| json!({ "id": p.id.as_str(), "kind": p.kind.as_str(), "codec": p.mime_type.as_str(), "paused": p.paused, "streams": streams_json(&p.streams) }))
        .collect();
    let consumers: Vec<Value> = t
        .consumers
        .iter()
        .map(|c| json!({ "id": c.id.as_str(), "producer": c.producer.as_str(), "kind": c.kind.as_str(), "codec": c.mime_type.as_str(), "paused": c.paused, "streams": streams_json(&c.streams) }))
        .collect();
    json!({
        "id": t.id.as_str(),
        "ice_state": format!("{:?}", t.ice_state).to_lowercase(),
        "tuple": t.tuple.as_ref().map(|tu| format!("{} {}:{} -> {}:{}", tu.protocol.as_str(), tu.local.host, tu.local.port, tu.remote.host, tu.remote.port)),
        "producers": producers,
        "consumers": consumers,
    })
}

pub(super) async fn peers(ctx: &Arc<AdminContext>, json: bool) -> Result<String, String> {
    let rows = peer_rows(ctx).await?;
    if json {
        return pretty(&rows);
    }
    let count = |p: &PeerRow, key: &str| -> usize {
        p.transports
            .iter()
            .map(|t| t[key].as_array().map_or(0, Vec::len))
            .sum()
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                cell(&p.id),
                cell(&p.room),
                cell(&p.display_name),
                p.transports.len().to_string(),
                count(p, "producers").to_string(),
                count(p, "consumers").to_string(),
                cell(&p.user_agent),
            ]
        })
        .collect();
    Ok(render(
        &[
            "peer",
            "room",
            "name",
            "transports",
            "producers",
            "consumers",
            "user_agent",
        ],
        &table,
    ))
}

pub(super) async fn dump_rooms(ctx: &Arc<AdminContext>) -> Result<Value, String> {
    let rooms = room_rows(ctx).await?;
    let peers = peer_rows(ctx).await?;
    Ok(Value::Array(
        rooms
            .into_iter()
            .map(|r| {
                let members: Vec<&str> = peers
                    .iter()
                    .filter(|p| p.room == r.id)
                    .map(|p| p.id.as_str())
                    .collect();
                json!({ "id": r.id, "pid": r.pid, "peers": members })
            })
            .collect(),
    ))
}

pub(super) async fn dump_peers(ctx: &Arc<AdminContext>) -> Result<Value, String> {
    serde_json::to_value(peer_rows(ctx).await?).map_err(err)
}
