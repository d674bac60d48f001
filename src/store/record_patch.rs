//! Conditional updates of a few fields of a certificate record.
//!
//! The renewal-information poller (`lifecycle::ari`) changes a handful of fields while other
//! writers may replace the whole record (a generation finishing, the renewal loop marking it
//! expired). A patch names the fields it expects unchanged and the fields it sets, and a Lua
//! script applies it only when every expectation still holds — one compare-and-set, so of
//! several instances only one claims a poll, and a stale answer never overwrites a newer
//! certificate.

use fred::prelude::LuaInterface;
use serde_json::{Map, Value};

use super::{StoreResult, StoreWriter};

/// `ARGV[1]`: JSON object of expected values (`null` = absent); `ARGV[2]`: JSON object of new
/// values. `1` when applied.
const PATCH_IF: &str = r#"
local rec = redis.call('HGET', KEYS[1], 'record')
if not rec then return 0 end
local r = cjson.decode(rec)
for k, v in pairs(cjson.decode(ARGV[1])) do
  local cur = r[k]
  if cur == nil then cur = cjson.null end
  if cur ~= v then return 0 end
end
for k, v in pairs(cjson.decode(ARGV[2])) do r[k] = v end
redis.call('HSET', KEYS[1], 'record', cjson.encode(r))
return 1
"#;

impl StoreWriter {
    /// Sets `patch`'s fields of the certificate's record if every field of `expect` still has
    /// the given value (scalars only: strings, numbers, booleans, `null`); `true` if applied.
    pub async fn patch_certificate_if(
        &self,
        name: &str,
        expect: &Map<String, Value>,
        patch: &Map<String, Value>,
    ) -> StoreResult<bool> {
        let keys = vec![self.keys.cert(name)];
        let args = vec![
            Value::Object(expect.clone()).to_string(),
            Value::Object(patch.clone()).to_string(),
        ];
        let applied: i64 = self.client.eval(PATCH_IF, keys, args).await?;
        Ok(applied == 1)
    }
}
