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

/// A command of the admin socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`.
    Help,
    /// `usage`.
    Usage,
    /// `stats`.
    Stats,
    /// `rooms`.
    Rooms,
    /// `peers`.
    Peers,
    /// `dumpRooms`.
    DumpRooms,
    /// `dumpPeers`.
    DumpPeers,
    /// `dw`.
    DumpWorker,
    /// `dr`.
    DumpRouter,
    /// `dt`.
    DumpTransport,
    /// `st`.
    TransportStats,
    /// `dp`.
    DumpProducer,
    /// `sp`.
    ProducerStats,
    /// `dc`.
    DumpConsumer,
    /// `sc`.
    ConsumerStats,
    /// `logLevel`.
    LogLevel,
}

impl Command {
    /// The command called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Command> {
        Some(match name {
            "help" => Command::Help,
            "usage" => Command::Usage,
            "stats" => Command::Stats,
            "rooms" => Command::Rooms,
            "peers" => Command::Peers,
            "dumpRooms" => Command::DumpRooms,
            "dumpPeers" => Command::DumpPeers,
            "dw" => Command::DumpWorker,
            "dr" => Command::DumpRouter,
            "dt" => Command::DumpTransport,
            "st" => Command::TransportStats,
            "dp" => Command::DumpProducer,
            "sp" => Command::ProducerStats,
            "dc" => Command::DumpConsumer,
            "sc" => Command::ConsumerStats,
            "logLevel" => Command::LogLevel,
            _ => return None,
        })
    }
}

/// One command line, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// What to run.
    pub command: Command,
    /// Its argument, if given.
    pub arg: Option<&'a str>,
    /// `--json` was given (anywhere on the line).
    pub json: bool,
}

/// Parses one command line: `None` for a blank one, `Err` the error text.
pub fn parse(line: &str) -> Result<Option<CommandLine<'_>>, String> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let json = match words.iter().position(|w| *w == "--json") {
        Some(i) => {
            words.remove(i);
            true
        }
        None => false,
    };
    let Some((&name, args)) = words.split_first() else {
        return Ok(None);
    };
    let command = Command::from_name(name).ok_or_else(|| {
        format!(
            "unknown command `{}`; try `help`",
            cell(&name.chars().take(40).collect::<String>())
        )
    })?;
    if args.len() > 1 {
        return Err(format!("`{name}` takes at most one argument"));
    }
    Ok(Some(CommandLine {
        command,
        arg: args.first().copied(),
        json,
    }))
}

/// Runs one command line; `Err` is the error text.
pub async fn run(ctx: &Arc<AdminContext>, line: &str) -> Result<String, String> {
    let Some(CommandLine { command, arg, json }) = parse(line)? else {
        return Ok(String::new());
    };
    match command {
        Command::Help => Ok(help()),
        Command::Usage => usage_report(ctx, json),
        Command::Stats => stats(ctx, json).await,
        Command::Rooms => rooms(ctx, json).await,
        Command::Peers => peers(ctx, json).await,
        Command::DumpRooms => pretty(&dump_rooms(ctx).await?),
        Command::DumpPeers => pretty(&dump_peers(ctx).await?),
        Command::DumpWorker => dump_worker(ctx, arg).await,
        Command::DumpRouter => dump_router(ctx, arg).await,
        Command::DumpTransport | Command::TransportStats => {
            let registry = ctx.signaling.registry();
            let t = pick(
                arg,
                "transport",
                |id| registry.transport(&id),
                || registry.newest_transport(),
            )?;
            if command == Command::DumpTransport {
                pretty(&t.dump().await.map_err(err)?)
            } else {
                pretty(&t.get_stats().await.map_err(err)?)
            }
        }
        Command::DumpProducer | Command::ProducerStats => {
            let registry = ctx.signaling.registry();
            let p = pick(
                arg,
                "producer",
                |id| registry.producer(&id),
                || registry.newest_producer(),
            )?;
            if command == Command::DumpProducer {
                pretty(&p.dump().await.map_err(err)?)
            } else {
                pretty(&p.get_stats().await.map_err(err)?)
            }
        }
        Command::DumpConsumer | Command::ConsumerStats => {
            let registry = ctx.signaling.registry();
            let c = pick(
                arg,
                "consumer",
                |id| registry.consumer(&id),
                || registry.newest_consumer(),
            )?;
            if command == Command::DumpConsumer {
                pretty(&c.dump().await.map_err(err)?)
            } else {
                pretty(&c.get_stats().await.map_err(err)?)
            }
        }
        Command::LogLevel => {
            let level = arg.ok_or("usage: logLevel LEVEL (e.g. debug, info, ejtimaa=trace)")?;
            let control = ctx
                .log
                .as_ref()
                .ok_or("this server's log level cannot be changed")?;
            control(level)?;
            Ok(format!("log filter is now `{level}`\n"))
        }
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
    let router = match arg {
        // Any router of any room: a room spread over several workers has one
        // on each.
        Some(id) => rooms
            .iter()
            .flat_map(|r| r.routers.all())
            .map(|placed| placed.router.clone())
            .find(|router| router.id().to_string() == id)
            .ok_or(format!("no router `{}`", cell(id)))?,
        None => rooms
            .iter()
            .max_by_key(|r| r.opened)
            .ok_or("there is no room")?
            .router()
            .map_err(err)?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_command_parses_and_nothing_else_does() {
        for (usage, _) in COMMANDS {
            let name = usage.split_whitespace().next().unwrap();
            let line = parse(name).unwrap().unwrap();
            assert_eq!(Command::from_name(name), Some(line.command));
        }
        assert_eq!(parse("  \t ").unwrap(), None);
        assert_eq!(parse("--json").unwrap(), None);
        let err = parse("nope \u{1b}[2J").unwrap_err();
        assert!(err.starts_with("unknown command `nope`"), "{err}");
    }

    #[test]
    fn json_and_one_argument_anywhere() {
        let line = parse("dt --json 1234").unwrap().unwrap();
        assert_eq!(
            line,
            CommandLine {
                command: Command::DumpTransport,
                arg: Some("1234"),
                json: true
            }
        );
        let err = parse("dt a b").unwrap_err();
        assert!(err.contains("at most one argument"), "{err}");
    }
}
