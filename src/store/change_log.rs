//! The change log: every change an instance announces is also appended to one capped Redis
//! stream, so a periodic resync reads only what changed since it last looked (pub/sub delivers
//! changes at once but forgets them; the stream remembers the last `KEEP`). When the stream no
//! longer reaches back to where an instance stopped reading — it was trimmed past it, or Redis
//! lost it — the instance reloads in full.

use fred::prelude::LuaInterface;

use super::reads::ClusterReads;
use super::{StoreResult, StoreWriter};

/// Entries kept (approximately: `MAXLEN ~`).
pub const KEEP: usize = 100_000;
/// The cursor of an instance that has read nothing yet.
pub const START: &str = "0-0";

/// Appends one change.
const APPEND: &str = r#"
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'kind', ARGV[1], 'name', ARGV[2])
"#;

/// The newest entry's id, or 0-0.
const HEAD: &str = r#"
local r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #r == 0 then return '0-0' end
return r[1][1]
"#;

/// Entries after ARGV[1] (at most ARGV[2]) as a flat list `ok, id, kind, name, …`; or `gap`
/// when the stream does not reach back to ARGV[1] (trimmed past it, or gone).
const AFTER: &str = r#"
local cursor = ARGV[1]
if cursor ~= '0-0' then
  local seen = redis.call('XRANGE', KEYS[1], '-', cursor, 'COUNT', 1)
  if #seen == 0 then return {'gap'} end
end
local out = {'ok'}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '(' .. cursor, '+', 'COUNT', tonumber(ARGV[2]))) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  table.insert(out, e[1])
  table.insert(out, f['kind'] or '')
  table.insert(out, f['name'] or '')
end
return out
"#;

/// One logged change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedChange {
    /// The stream entry's id (ordered by time).
    pub id: String,
    /// `certificate` or `route`.
    pub kind: String,
    /// The certificate's name or the route's hostname.
    pub name: String,
}

/// What the log holds after a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangesAfter {
    /// These, oldest first (fewer than asked: that was all).
    Changes(Vec<LoggedChange>),
    /// The log does not reach back to the cursor: reload in full.
    Gap,
}

impl ClusterReads<'_> {
    /// The id of the newest logged change (`START` when none is).
    pub async fn change_log_head(self) -> StoreResult<String> {
        let keys = vec![self.keys.change_log()];
        Ok(self.client.eval(HEAD, keys, Vec::<String>::new()).await?)
    }

    /// Up to `limit` changes logged after `cursor`.
    pub async fn changes_after(self, cursor: &str, limit: usize) -> StoreResult<ChangesAfter> {
        let keys = vec![self.keys.change_log()];
        let flat: Vec<String> = self
            .client
            .eval(AFTER, keys, vec![cursor.to_owned(), limit.to_string()])
            .await?;
        if flat.first().map(String::as_str) != Some("ok") {
            return Ok(ChangesAfter::Gap);
        }
        Ok(ChangesAfter::Changes(
            flat[1..]
                .chunks_exact(3)
                .map(|c| LoggedChange {
                    id: c[0].clone(),
                    kind: c[1].clone(),
                    name: c[2].clone(),
                })
                .collect(),
        ))
    }
}

impl StoreWriter {
    /// Publishes `message` on the pub/sub `channel` (the change events); how many subscribers
    /// received it.
    pub async fn publish(&self, channel: &str, message: String) -> StoreResult<i64> {
        use fred::prelude::PubsubInterface;
        Ok(self.client.publish(channel, message).await?)
    }

    /// Appends a change to the log (and remembers its id: Redis answering later with an older
    /// newest entry lost this write).
    pub async fn log_change(&self, kind: &str, name: &str) -> StoreResult<()> {
        let keys = vec![self.keys.change_log()];
        let id: String = self
            .client
            .eval(APPEND, keys, vec![kind, name, &KEEP.to_string()])
            .await?;
        self.saw_change(&id);
        Ok(())
    }
}

/// A change-log entry id (`<ms>-<seq>`) as a comparable pair.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl super::Store {
    /// Remembers `id` as seen in the change log (kept when newer than what was seen).
    pub fn saw_change(&self, id: &str) {
        if let Some(id) = parse_id(id) {
            let mut seen = self.newest_change.lock().unwrap_or_else(|p| p.into_inner());
            *seen = (*seen).max(Some(id));
        }
    }

    /// Whether `head`, the log's newest entry now, is older than an entry this process wrote
    /// or saw: Redis lost writes (a failover to a replica that had not received them).
    pub fn change_log_went_back(&self, head: &str) -> bool {
        let seen = *self.newest_change.lock().unwrap_or_else(|p| p.into_inner());
        match (seen, parse_id(head)) {
            (Some(seen), Some(head)) => head < seen,
            _ => false,
        }
    }

    /// Forgets what was seen, starting again from `head` (after the write-back).
    pub fn reset_changes_seen(&self, head: &str) {
        *self.newest_change.lock().unwrap_or_else(|p| p.into_inner()) = parse_id(head);
    }
}
