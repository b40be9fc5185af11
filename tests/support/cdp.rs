//! A small Chrome DevTools Protocol client for tests/browser.rs: launches
//! Debian's chromium headless with fake camera and microphone, opens pages
//! (each in a browser context of its own when asked) and evaluates
//! JavaScript in them. Every call is bounded; the browser is killed when the
//! `Browser` is dropped, so a failing test leaves no chromium behind.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Debian's chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest wait for one CDP answer (a page's own promise included).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for chromium to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

type Reply = oneshot::Sender<Result<Value, String>>;

/// A running headless chromium.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    calls: mpsc::UnboundedSender<(Value, Reply)>,
}

/// A page (a CDP target) and the session attached to it.
pub struct Page {
    target: String,
    session: String,
}

/// What a page's request for camera and microphone gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaPermission {
    /// Granted at once, as if the user clicked Allow.
    Granted,
    /// Refused, as if the user clicked Block.
    Denied,
}

impl Browser {
    /// Starts chromium with fake media devices, its traffic kept on
    /// loopback: no background services, names resolve to nothing but
    /// 127.0.0.1, and WebRTC shows plain host candidates (no mDNS).
    pub async fn launch(permission: MediaPermission) -> Browser {
        static N: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "ejtimaa-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--no-pings",
                "--disable-features=WebRtcHideLocalIpsWithMdns,Translate,OptimizationHints,MediaRouter",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1280,800",
            ])
            .arg(match permission {
                MediaPermission::Granted => "--use-fake-ui-for-media-stream",
                MediaPermission::Denied => "--deny-permission-prompts",
            })
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A process group of its own: chromium's helpers (renderers, GPU,
            // network) go with it when the group is killed.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMIUM} does not start ({e}): run tools/dev setup"));

        // chromium prints its DevTools address on stderr; the pipe is drained
        // to the end so that chromium never blocks on a full one.
        let stderr = child.stderr.take().expect("stderr piped");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_string());
                }
            }
        });
        let url = match tokio::task::spawn_blocking(move || address.recv_timeout(LAUNCH_TIMEOUT))
            .await
            .expect("waiting for chromium")
        {
            Ok(url) => url,
            Err(_) => {
                kill_group(&mut child);
                let _ = std::fs::remove_dir_all(&profile);
                panic!("chromium printed no DevTools address within {LAUNCH_TIMEOUT:?}");
            }
        };
        let (ws, _) = tokio::time::timeout(LAUNCH_TIMEOUT, tokio_tungstenite::connect_async(&url))
            .await
            .expect("DevTools connection in time")
            .expect("DevTools connection");
        let (calls, rx) = mpsc::unbounded_channel();
        tokio::spawn(pump(ws, rx));
        Browser {
            child,
            profile,
            calls,
        }
    }

    /// Sends one CDP command (to a page's session, or to the browser).
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let mut message = json!({ "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        self.calls
            .send((message, tx))
            .expect("DevTools connection open");
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(Ok(result))) => result,
            Ok(Ok(Err(error))) => panic!("{method}: {error}"),
            Ok(Err(_)) => panic!("{method}: the DevTools connection closed"),
            Err(_) => panic!("{method}: no answer within {CALL_TIMEOUT:?}"),
        }
    }

    /// Opens `url` in a new page, in `context` or the default one.
    pub async fn open(&self, url: &str, context: Option<&str>) -> Page {
        let mut params = json!({ "url": url });
        if let Some(context) = context {
            params["browserContextId"] = json!(context);
        }
        let r = self.call(None, "Target.createTarget", params).await;
        let target = r["targetId"].as_str().expect("targetId").to_string();
        let r = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await;
        let session = r["sessionId"].as_str().expect("sessionId").to_string();
        Page { target, session }
    }

    /// Evaluates `expression` in `page` (awaiting a promise) and returns its
    /// value as JSON; a JavaScript exception fails the test.
    pub async fn eval(&self, page: &Page, expression: &str) -> Value {
        let r = self
            .call(
                Some(&page.session),
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("JavaScript failed: {e}");
        }
        r["result"]["value"].clone()
    }

    /// A PNG of what `page` shows.
    pub async fn screenshot(&self, page: &Page) -> Vec<u8> {
        let r = self
            .call(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({ "format": "png" }),
            )
            .await;
        base64_decode(r["data"].as_str().expect("screenshot data"))
    }

    /// Closes `page` as a user closing the tab would.
    pub async fn close(&self, page: &Page) {
        self.call(
            None,
            "Target.closeTarget",
            json!({ "targetId": page.target }),
        )
        .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        // Helpers may still be exiting and writing to the profile: retry briefly.
        for _ in 0..40 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Kills chromium and every process of its group (the group id is its pid).
fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Owns the DevTools websocket: sends the calls, numbered, and routes each
/// answer to its caller. Events are not needed and are dropped.
async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    mut calls: mpsc::UnboundedReceiver<(Value, Reply)>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<u64, Reply> = HashMap::new();
    let mut next = 1u64;
    loop {
        tokio::select! {
            call = calls.recv() => {
                let Some((mut message, reply)) = call else { break };
                message["id"] = json!(next);
                pending.insert(next, reply);
                next += 1;
                if sink.send(Message::text(message.to_string())).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                let Message::Text(text) = message else { continue };
                let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                let Some(reply) = value["id"].as_u64().and_then(|id| pending.remove(&id)) else {
                    continue;
                };
                let _ = reply.send(match value.get("error") {
                    Some(error) => Err(error.to_string()),
                    None => Ok(value["result"].clone()),
                });
            }
        }
    }
}

/// Standard base64 (CDP's encoding of binary results); padding and other
/// characters are skipped.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
