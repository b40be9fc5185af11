//! The interactive admin socket: a unix socket (mode 0600) speaking lines of
//! text, for `ejtimaa connect` or `socat`.
//!
//! Protocol: the server greets with one line; then each command line gets
//! its answer, ended by a line holding a single `.` (answer lines that start
//! with `.` get another `.` in front, as in SMTP). Errors are answers whose
//! first line starts with `error: `.

mod answer;
pub mod commands;
mod place;
mod table;
mod world;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::engine::EngineHandle;
use crate::media::workers::WorkerPool;
use crate::signaling::Signaling;

/// Longest command line accepted; a longer one closes the connection.
pub const MAX_LINE: usize = 4096;

/// Changes the server's log filter at run time (`logLevel`).
pub type LogControl = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What the commands read.
pub struct AdminContext {
    /// The World.
    pub engine: EngineHandle,
    /// Rooms, peers and live mediasoup handles.
    pub signaling: Arc<Signaling>,
    /// The workers.
    pub pool: Arc<WorkerPool>,
    /// The log filter, if it can be changed.
    pub log: Option<LogControl>,
}

/// The listening admin socket; the file is removed when this is dropped.
pub struct AdminServer {
    path: PathBuf,
    tasks: JoinSet<()>,
}

impl AdminServer {
    /// Listens on `path`, replacing a stale socket file left by a crashed run
    /// (but refusing to steal one a running server still answers on).
    pub async fn start(path: &Path, ctx: AdminContext) -> anyhow::Result<AdminServer> {
        place::prepare(path)?;
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                anyhow::bail!(
                    "another server is listening on the admin socket {}",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale admin socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("binding admin socket {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
        let ctx = Arc::new(ctx);
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut clients = JoinSet::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        clients.spawn(serve_client(stream, Arc::clone(&ctx)));
                    }
                    Err(e) => {
                        tracing::warn!("admin socket accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
                while clients.try_join_next().is_some() {}
            }
        });
        tracing::info!("admin socket listening on {}", path.display());
        Ok(AdminServer {
            path: path.to_path_buf(),
            tasks,
        })
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.tasks.abort_all();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_client(stream: UnixStream, ctx: Arc<AdminContext>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let greeting = format!(
        "ejtimaa {} admin; `help` lists the commands\n",
        env!("CARGO_PKG_VERSION")
    );
    if write.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read one line, but never more than MAX_LINE bytes of it.
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        let answer = match read {
            Ok(0) | Err(_) => return,
            Ok(_) if line.len() > MAX_LINE => {
                let _ = write.write_all(b"error: line too long; closing\n.\n").await;
                return;
            }
            Ok(_) => match std::str::from_utf8(&line) {
                Ok(text) => match commands::run(&ctx, text.trim()).await {
                    Ok(out) => out,
                    Err(e) => format!("error: {e}\n"),
                },
                Err(_) => "error: not UTF-8 text\n".to_string(),
            },
        };
        if write.write_all(frame(&answer).as_bytes()).await.is_err() {
            return;
        }
    }
}

use tokio::io::AsyncReadExt;

/// An answer as sent: dot-stuffed, ended by a lone `.`.
pub fn frame(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len() + 3);
    for line in answer.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(".\n");
    out
}

/// Undoes [`frame`] for one answer line; `None` at the end marker.
pub fn unframe(line: &str) -> Option<&str> {
    match line {
        "." => None,
        l => Some(l.strip_prefix('.').unwrap_or(l)),
    }
}
