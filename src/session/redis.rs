//! Session state in Redis: `SET … NX PX` to store, `GETDEL` (Redis ≥ 6.2) to consume
//! atomically. One multiplexed connection that reconnects by itself; connection and response
//! timeouts make a dead Redis fail fast instead of hanging requests.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Batch, Kind, SessionError, SessionResult, Write};

pub struct RedisSessionStore {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn unavailable(e: redis::RedisError) -> SessionError {
    SessionError::Unavailable(anyhow::anyhow!("redis: {e}"))
}

impl RedisSessionStore {
    /// Parses the URL; the connection is made on first use (so a node can start, and report
    /// itself not ready, while Redis is down).
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_string(),
            conn: OnceCell::new(),
        })
    }

    async fn conn(&self) -> SessionResult<ConnectionManager> {
        let cm = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .map_err(unavailable)?;
        Ok(cm.clone())
    }

    fn key(&self, kind: Kind, key: &str) -> String {
        format!("{}{}{}", self.prefix, kind.prefix(), key)
    }

    pub async fn set(
        &self,
        kind: Kind,
        key: &str,
        value: &[u8],
        ttl: Duration,
        nx: bool,
    ) -> SessionResult<bool> {
        let mut c = self.conn().await?;
        let ms = ttl.as_millis().max(1) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(kind, key)).arg(value).arg("PX").arg(ms);
        if nx {
            cmd.arg("NX");
        }
        let reply: Option<String> = cmd.query_async(&mut c).await.map_err(unavailable)?;
        Ok(reply.is_some())
    }

    pub async fn get(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        let mut c = self.conn().await?;
        c.get(self.key(kind, key)).await.map_err(unavailable)
    }

    /// Two values with one `MGET`.
    pub async fn get_both(
        &self,
        a: (Kind, &str),
        b: (Kind, &str),
    ) -> SessionResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let mut c = self.conn().await?;
        let (va, vb): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("MGET")
            .arg(self.key(a.0, a.1))
            .arg(self.key(b.0, b.1))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok((va, vb))
    }

    pub async fn take(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        let mut c = self.conn().await?;
        c.get_del(self.key(kind, key)).await.map_err(unavailable)
    }

    /// `GETDEL` of one key and, when it had a value, `SET … NX PX` of the other, in one script
    /// (atomic on the server).
    pub async fn take_and_insert(
        &self,
        taken: (Kind, &str),
        inserted: (Kind, &str),
        value: &[u8],
        ttl: Duration,
    ) -> SessionResult<Option<bool>> {
        let mut c = self.conn().await?;
        let script = redis::Script::new(
            "if not redis.call('GETDEL', KEYS[1]) then return -1 end \
             if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end \
             return 0",
        );
        let n: i64 = script
            .key(self.key(taken.0, taken.1))
            .key(self.key(inserted.0, inserted.1))
            .arg(value)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok((n >= 0).then_some(n == 1))
    }

    pub async fn delete(&self, kind: Kind, key: &str) -> SessionResult<bool> {
        let mut c = self.conn().await?;
        let n: i64 = c.del(self.key(kind, key)).await.map_err(unavailable)?;
        Ok(n > 0)
    }

    pub async fn incr(&self, kind: Kind, key: &str, ttl: Duration) -> SessionResult<i64> {
        let mut c = self.conn().await?;
        let script = redis::Script::new(
            "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n",
        );
        script
            .key(self.key(kind, key))
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    /// The largest of the counters `keys`, with one `MGET`.
    pub async fn count_max(&self, kind: Kind, keys: &[&str]) -> SessionResult<i64> {
        let mut c = self.conn().await?;
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.key(kind, k));
        }
        let v: Vec<Option<i64>> = cmd.query_async(&mut c).await.map_err(unavailable)?;
        Ok(v.into_iter().flatten().max().unwrap_or(0))
    }

    /// The writes of `batch` in one pipeline (`DEL` and `SET … PX`).
    pub async fn apply(&self, batch: Batch) -> SessionResult<()> {
        let mut c = self.conn().await?;
        let mut pipe = redis::pipe();
        for op in &batch.ops {
            let key = self.key(op.kind, &op.key);
            match &op.write {
                Write::Delete | Write::Reset => pipe.del(key).ignore(),
                Write::Set(value, ttl) => pipe
                    .cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .ignore(),
            };
        }
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)
    }

    pub async fn ping(&self) -> SessionResult<()> {
        let mut c = self.conn().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
