//! The admin commands: parsed from one line, answered as text for people or
//! JSON (`--json`) for scripts. The views of the World are in
//! [`super::world`].

use std::sync::Arc;

use mediasoup::prelude::*;
use serde_json::{Value, json};

use super::AdminContext;
use super::answer::{err, pretty};
use super::table::{cell, render};
use super::world::{dump_peers, dump_rooms, peers, rooms, stats};
use crate::usage;

/// The commands, for `help` and the client's tab completion.
pub const COMMANDS: &[(&str, &str)] = &[
    ("help", "this list"),
    (
        "usage",
        "CPU and memory of the process and of each mediasoup worker thread",
    ),
    (
        "stats",
        "one-line summary (rooms, peers, transports, producers, consumers, workers)",
    ),
    ("rooms", "table of rooms"),
    ("peers", "table of peers"),
    ("dumpRooms", "rooms with their peers, in detail (JSON)"),
    (
        "dumpPeers",
        "peers with their transports, producers and consumers (JSON)",
    ),
    ("dw [ID]", "dump a worker (default: the newest)"),
    ("dr [ID]", "dump a router (default: the newest room's)"),
    ("dt [ID]", "dump a transport (default: the newest)"),
    ("dp [ID]", "dump a producer (default: the newest)"),
    ("dc [ID]", "dump a consumer (default: the newest)"),
    ("st [ID]", "getStats of a transport (default: the newest)"),
    ("sp [ID]", "getStats of a producer (default: the newest)"),
    ("sc [ID]", "getStats of a consumer (default: the newest)"),
    (
        "logLevel LEVEL",
        "change the log filter, e.g. `debug` or `ejtimaa=trace,info`",
    ),
];

/// Runs one command line; `Err` is the error text.
pub async fn run(ctx: &Arc<AdminContext>, line: &str) -> Result<String, String> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let json = match words.iter().position(|w| *w == "--json") {
        Some(i) => {
            words.remove(i);
            true
        }
        None => false,
    };
    let Some((&command, args)) = words.split_first() else {
        return Ok(String::new());
    };
    let arg = args.first().copied();
    if args.len() > 1 {
        return Err(format!("`{command}` takes at most one argument"));
    }
    match command {
        "help" => Ok(help()),
        "usage" => usage_report(ctx, json),
        "stats" => stats(ctx, json).await,
        "rooms" => rooms(ctx, json).await,
        "peers" => peers(ctx, json).await,
        "dumpRooms" => pretty(&dump_rooms(ctx).await?),
        "dumpPeers" => pretty(&dump_peers(ctx).await?),
        "dw" => dump_worker(ctx, arg).await,
        "dr" => dump_router(ctx, arg).await,
        "dt" | "st" => {
            let registry = ctx.signaling.registry();
            let t = pick(
                arg,
                "transport",
                |id| registry.transport(&id),
                || registry.newest_transport(),
            )?;
            if command == "dt" {
                pretty(&t.dump().await.map_err(err)?)
            } else {
                pretty(&t.get_stats().await.map_err(err)?)
            }
        }
        "dp" | "sp" => {
            let registry = ctx.signaling.registry();
            let p = pick(
                arg,
                "producer",
                |id| registry.producer(&id),
                || registry.newest_producer(),
            )?;
            if command == "dp" {
                pretty(&p.dump().await.map_err(err)?)
            } else {
                pretty(&p.get_stats().await.map_err(err)?)
            }
        }
        "dc" | "sc" => {
            let registry = ctx.signaling.registry();
            let c = pick(
                arg,
                "consumer",
                |id| registry.consumer(&id),
                || registry.newest_consumer(),
            )?;
            if command == "dc" {
                pretty(&c.dump().await.map_err(err)?)
            } else {
                pretty(&c.get_stats().await.map_err(err)?)
            }
        }
        "logLevel" => {
            let level = arg.ok_or("usage: logLevel LEVEL (e.g. debug, info, ejtimaa=trace)")?;
            let control = ctx
                .log
                .as_ref()
                .ok_or("this server's log level cannot be changed")?;
            control(level)?;
            Ok(format!("log filter is now `{level}`\n"))
        }
        other => Err(format!(
            "unknown command `{}`; try `help`",
            cell(&other.chars().take(40).collect::<String>())
        )),
    }
}

fn help() -> String {
    let rows: Vec<Vec<String>> = COMMANDS
        .iter()
        .map(|(c, d)| vec![c.to_string(), d.to_string()])
        .collect();
    render(&["command", "what it shows (add --json for JSON)"], &rows)
}

/// An object by id, or the newest one when no id is given.
fn pick<Id: std::str::FromStr, T>(
    arg: Option<&str>,
    kind: &str,
    by_id: impl Fn(Id) -> Option<T>,
    newest: impl Fn() -> Option<T>,
) -> Result<T, String> {
    match arg {
        Some(text) => {
            let id = text
                .parse()
                .map_err(|_| format!("`{}` is not a {kind} id", cell(text)))?;
            by_id(id).ok_or_else(|| format!("no {kind} `{text}`"))
        }
        None => newest().ok_or_else(|| format!("there is no {kind}")),
    }
}

async fn dump_worker(ctx: &Arc<AdminContext>, arg: Option<&str>) -> Result<String, String> {
    let workers = ctx.pool.workers();
    let worker = match arg {
        Some(id) => workers
            .iter()
            .find(|w| w.worker.id().to_string() == id)
            .ok_or(format!("no worker `{}`", cell(id)))?,
        None => workers.last().ok_or("there is no worker")?,
    };
    pretty(&worker.worker.dump().await.map_err(err)?)
}

async fn dump_router(ctx: &Arc<AdminContext>, arg: Option<&str>) -> Result<String, String> {
    let rooms = ctx.signaling.rooms.all();
    let room = match arg {
        Some(id) => rooms
            .iter()
            .find(|r| r.router().is_ok_and(|router| router.id().to_string() == id))
            .ok_or(format!("no router `{}`", cell(id)))?,
        None => rooms
            .iter()
            .max_by_key(|r| r.opened)
            .ok_or("there is no room")?,
    };
    let router = room.router().map_err(err)?;
    pretty(&router.dump().await.map_err(err)?)
}

fn usage_report(ctx: &Arc<AdminContext>, json: bool) -> Result<String, String> {
    let process = usage::process().ok_or("cannot read /proc/self")?;
    let workers: Vec<Value> = ctx
        .pool
        .workers()
        .iter()
        .map(|w| {
            json!({
                "index": w.index,
                "id": w.worker.id().to_string(),
                "tid": w.tid,
                "routers": w.routers.load(std::sync::atomic::Ordering::Relaxed),
                "cpu_seconds": usage::thread_cpu_seconds(w.tid),
            })
        })
        .collect();
    if json {
        return pretty(&json!({ "process": process, "workers": workers }));
    }
    let mut out = format!(
        "process: cpu {:.2} s, rss {:.1} MiB\n",
        process.cpu_seconds,
        process.rss_bytes as f64 / (1024.0 * 1024.0)
    );
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w["index"].to_string(),
                w["tid"].to_string(),
                w["routers"].to_string(),
                w["cpu_seconds"]
                    .as_f64()
                    .map_or("?".into(), |s| format!("{s:.2}")),
                w["id"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    out.push_str(&render(&["worker", "tid", "routers", "cpu_s", "id"], &rows));
    Ok(out)
}
