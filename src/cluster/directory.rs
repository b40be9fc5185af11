//! The room directory in Redis: registrations, claims and their renewal.
//!
//! Every change that depends on what a key holds runs as a Lua script, so it
//! is atomic in Redis: a claim must take a free room (or one whose node's
//! registration is gone) and return the holder otherwise in one step, a
//! renewal must extend only this node's claims, and a release must delete
//! only this node's claim. `SET NX` alone does the first half of a claim,
//! but a plain `PEXPIRE` or `DEL` could extend or delete a claim that
//! expired and was taken by another node in between.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use thiserror::Error;

use super::keys::Keys;
use super::placement::Claim;
use super::record::NodeRecord;

/// A directory call that failed.
#[derive(Debug, Error)]
pub enum DirectoryError {
    /// Redis did not answer, or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A script answered something it never returns.
    #[error("unexpected answer from the directory: {0}")]
    Unexpected(String),
}

/// Registers the node unless its id is held by another instance.
/// KEYS: node key, node set. ARGV: instance, record, ttl ms, node id.
const REGISTER: &str = r#"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, rec = pcall(cjson.decode, current)
  if ok and type(rec) == 'table' and rec.instance ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
"#;

/// Claims a room for this node, or names its holder.
/// KEYS: room key. ARGV: node id, instance, ttl ms, node key head.
const CLAIM: &str = r#"
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  local record = redis.call('GET', ARGV[4] .. owner)
  if record then return {'elsewhere', record} end
end
local me = redis.call('GET', ARGV[4] .. ARGV[1])
if not me then return {'unregistered'} end
local ok, rec = pcall(cjson.decode, me)
if not ok or type(rec) ~= 'table' or rec.instance ~= ARGV[2] then return {'unregistered'} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {'here'}
"#;

/// Renews this node's claims on its open rooms (and claims those that lost
/// their key); returns the 1-based positions of rooms another node holds.
/// KEYS: room keys. ARGV: node id, ttl ms.
const RENEW: &str = r#"
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == false or owner == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"#;

/// Deletes this node's claims among KEYS. ARGV: node id.
const RELEASE: &str = r#"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"#;

/// Removes this node's registration if it is this instance's.
/// KEYS: node key, node set. ARGV: instance, node id.
const LEAVE: &str = r#"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, rec = pcall(cjson.decode, current)
  if ok and type(rec) == 'table' and rec.instance == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('SREM', KEYS[2], ARGV[2])
  end
end
return 1
"#;

/// Rooms renewed per script call, so that one call stays short.
const RENEW_BATCH: usize = 256;

/// This node's view of the directory.
#[derive(Clone)]
pub struct Directory {
    redis: ConnectionManager,
    keys: Keys,
    node: String,
    instance: String,
    ttl: Duration,
}

impl Directory {
    /// A directory at `url`; connects on first use, and again after losing
    /// the connection. Each call gives up after `timeout`.
    pub fn new(
        url: &str,
        keys: Keys,
        node: &str,
        instance: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Self, DirectoryError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let redis = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            redis,
            keys,
            node: node.to_owned(),
            instance: instance.to_owned(),
            ttl,
        })
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// Registers (or renews) `record`; `false` when another instance holds
    /// this node id.
    pub async fn register(&self, record: &NodeRecord) -> Result<bool, DirectoryError> {
        let json =
            serde_json::to_string(record).map_err(|e| DirectoryError::Unexpected(e.to_string()))?;
        let done: i64 = Script::new(REGISTER)
            .key(self.keys.node(&self.node))
            .key(self.keys.nodes())
            .arg(&self.instance)
            .arg(json)
            .arg(self.ttl_ms())
            .arg(&self.node)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(done == 1)
    }

    /// Claims `room` for this node, or says who holds it.
    pub async fn claim(&self, room: &str) -> Result<Claim, DirectoryError> {
        let reply: Vec<String> = Script::new(CLAIM)
            .key(self.keys.room(room))
            .arg(&self.node)
            .arg(&self.instance)
            .arg(self.ttl_ms())
            .arg(self.keys.node_head())
            .invoke_async(&mut self.redis.clone())
            .await?;
        match reply.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["here"] => Ok(Claim::Here),
            ["unregistered"] => Ok(Claim::Unregistered),
            ["elsewhere", record] => serde_json::from_str(record)
                .map(Claim::Elsewhere)
                .map_err(|e| DirectoryError::Unexpected(format!("a node's record: {e}"))),
            _ => Err(DirectoryError::Unexpected(format!("{reply:?}"))),
        }
    }

    /// Renews this node's claims on `rooms`; returns those another node holds.
    pub async fn renew(&self, rooms: &[String]) -> Result<Vec<String>, DirectoryError> {
        let mut lost = Vec::new();
        for batch in rooms.chunks(RENEW_BATCH) {
            let script = Script::new(RENEW);
            let mut call = script.prepare_invoke();
            for room in batch {
                call.key(self.keys.room(room));
            }
            let positions: Vec<usize> = call
                .arg(&self.node)
                .arg(self.ttl_ms())
                .invoke_async(&mut self.redis.clone())
                .await?;
            lost.extend(
                positions
                    .into_iter()
                    .filter_map(|i| batch.get(i.checked_sub(1)?).cloned()),
            );
        }
        Ok(lost)
    }

    /// Gives up this node's claims on `rooms` (others' claims stay).
    pub async fn release(&self, rooms: &[String]) -> Result<(), DirectoryError> {
        for batch in rooms.chunks(RENEW_BATCH) {
            let script = Script::new(RELEASE);
            let mut call = script.prepare_invoke();
            for room in batch {
                call.key(self.keys.room(room));
            }
            let _: i64 = call
                .arg(&self.node)
                .invoke_async(&mut self.redis.clone())
                .await?;
        }
        Ok(())
    }

    /// Removes this node's registration (an orderly stop).
    pub async fn leave(&self) -> Result<(), DirectoryError> {
        let _: i64 = Script::new(LEAVE)
            .key(self.keys.node(&self.node))
            .key(self.keys.nodes())
            .arg(&self.instance)
            .arg(&self.node)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// Every registered node whose registration is live; ids whose
    /// registration expired are dropped from the node set on the way.
    pub async fn live_nodes(&self) -> Result<Vec<NodeRecord>, DirectoryError> {
        let mut redis = self.redis.clone();
        let mut ids: Vec<String> = redis.smembers(self.keys.nodes()).await?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.node(id)).collect();
        let records: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut redis)
            .await?;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, record) in ids.into_iter().zip(records) {
            match record.map(|r| serde_json::from_str::<NodeRecord>(&r)) {
                Some(Ok(record)) => live.push(record),
                Some(Err(e)) => tracing::warn!(node = %id, "unreadable node record: {e}"),
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let _: i64 = redis.srem(self.keys.nodes(), &gone).await?;
        }
        Ok(live)
    }
}
