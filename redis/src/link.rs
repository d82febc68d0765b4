//! The connection to Redis: connecting with client tracking on, the
//! background task that applies invalidations, checks health and
//! reconnects, and the bookkeeping of which connection is current.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};
use tokio::sync::{oneshot, Notify};

use crate::stats::{bump, Counters};

/// Parses the URL and asks for RESP3, whose push messages carry the
/// invalidations on the data connection itself.
pub(crate) fn client(url: &str) -> Result<Client, String> {
    let mut info = url
        .into_connection_info()
        .map_err(|error| error.to_string())?;
    info.redis.protocol = ProtocolVersion::RESP3;
    Client::open(info).map_err(|error| error.to_string())
}

/// The current connection, if any, and a number that tells connections
/// apart (so that a failure seen on an old one does not drop a new one).
#[derive(Default)]
pub(crate) struct LinkState {
    pub current: Option<(MultiplexedConnection, u64)>,
    pub next_id: u64,
}

/// What the supervisor needs from the tier, whatever its key and value types.
pub(crate) trait Tier: Send + Sync + 'static {
    fn link(&self) -> &Link;
    /// Applies one push message from Redis.
    fn on_invalidate(&self, data: Vec<Value>);
    /// Clears L1 after a reconnect.
    fn clear_l1(&self);
}

/// The connection bookkeeping shared by the tier and its supervisor.
pub(crate) struct Link {
    pub client: Client,
    pub namespace: Vec<u8>,
    pub timeout: Duration,
    pub backoff: Duration,
    pub health_check: Duration,
    pub state: Mutex<LinkState>,
    /// Bumped whenever L1 can have missed invalidations or was cleared: a
    /// connection lost or made, a flush. A load that sees it change keeps
    /// its value out of L1.
    pub epoch: std::sync::atomic::AtomicU64,
    /// Wakes the supervisor when a command finds the connection broken.
    pub broken: Arc<Notify>,
    pub counters: Counters,
}

/// A Redis command's failure, already counted.
pub(crate) enum CommandError {
    Timeout,
    Redis(String),
}

impl Link {
    /// The current connection, or `None` (counted as skipped) while down.
    pub fn current(&self) -> Option<(MultiplexedConnection, u64)> {
        let current = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone();
        if current.is_none() {
            bump(&self.counters.l2_skipped);
        }
        current
    }

    /// Runs one command on connection `id` within the timeout. A timeout or
    /// a connection-level error marks that connection lost.
    pub async fn run<T>(
        &self,
        id: u64,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CommandError> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                bump(&self.counters.l2_errors);
                if error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_unrecoverable_error()
                    || error.is_timeout()
                {
                    self.lost(id);
                }
                Err(CommandError::Redis(error.to_string()))
            }
            Err(_elapsed) => {
                bump(&self.counters.l2_errors);
                self.lost(id);
                Err(CommandError::Timeout)
            }
        }
    }

    /// Marks connection `id` lost (if it is still the current one) and wakes
    /// the supervisor to back off and reconnect.
    pub fn lost(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(state.current, Some((_, current)) if current == id) {
            state.current = None;
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            bump(&self.counters.disconnects);
            drop(state);
            self.broken.notify_one();
        }
    }

    /// Makes `connection` current.
    fn publish(&self, connection: MultiplexedConnection, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.current = Some((connection, id));
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn next_id(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.next_id += 1;
        state.next_id
    }
}

/// Opens a RESP3 connection and turns on broadcast tracking of the
/// namespace on it, with NOLOOP: this connection carries all of this
/// instance's writes, so its own writes do not invalidate its own L1.
///
/// Push messages are applied by the connection's reader itself, in the
/// order they arrive, before any reply read after them is handed to its
/// caller: an invalidation that Redis sent before a GET's reply has taken
/// effect in L1 before the loader sees that reply.
async fn connect<T: Tier>(tier: &Arc<T>) -> Result<(MultiplexedConnection, u64), String> {
    let link = tier.link();
    let id = link.next_id();
    let weak = Arc::downgrade(tier);
    let on_push = move |push: PushInfo| {
        if let Some(tier) = weak.upgrade() {
            match push.kind {
                PushKind::Invalidate => tier.on_invalidate(push.data),
                PushKind::Disconnection => tier.link().lost(id),
                _ => {}
            }
        }
        Ok::<(), std::convert::Infallible>(())
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(link.timeout)
        .set_response_timeout(link.timeout)
        .set_push_sender(on_push);
    let connect = async {
        let mut connection = link
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(&link.namespace)
            .arg("NOLOOP")
            .query_async::<()>(&mut connection)
            .await?;
        Ok::<_, redis::RedisError>(connection)
    };
    match tokio::time::timeout(link.timeout, connect).await {
        Ok(Ok(connection)) => Ok((connection, id)),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("connection attempt timed out".to_string()),
    }
}

/// Connects for the first time (one attempt), then spawns the supervisor.
pub(crate) async fn start<T: Tier>(tier: &Arc<T>) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel();
    let first = match connect(tier).await {
        Ok((connection, id)) => {
            tier.link().publish(connection, id);
            Some(id)
        }
        Err(_) => {
            bump(&tier.link().counters.l2_errors);
            None
        }
    };
    tokio::spawn(supervise(Arc::downgrade(tier), first, stopped));
    stop
}

/// The background task: pings the idle connection, and after a loss backs
/// off, reconnects (tracking on again) and clears L1. Ends when the tier
/// is dropped.
async fn supervise<T: Tier>(
    tier: Weak<T>,
    mut current: Option<u64>,
    mut stopped: oneshot::Receiver<()>,
) {
    let Some(strong) = tier.upgrade() else { return };
    let (backoff, health_check) = (strong.link().backoff, strong.link().health_check);
    let broken = Arc::clone(&strong.link().broken);
    drop(strong);
    let is_current = |tier: &T, id: u64| {
        matches!(
            tier.link().state.lock().unwrap_or_else(|p| p.into_inner()).current,
            Some((_, current)) if current == id
        )
    };
    loop {
        match current {
            Some(id) => {
                let mut ping = tokio::time::interval(health_check);
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ping.tick().await;
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = ping.tick() => {
                            let Some(tier) = tier.upgrade() else { return };
                            let link = tier.link();
                            let connection = link.state.lock().unwrap_or_else(|p| p.into_inner()).current.clone();
                            match connection {
                                Some((mut connection, current_id)) if current_id == id => {
                                    let ping = redis::cmd("PING");
                                    let _ = link.run(id, ping.query_async::<()>(&mut connection)).await;
                                }
                                _ => break,
                            }
                        }
                        _ = broken.notified() => {
                            let Some(tier) = tier.upgrade() else { return };
                            if !is_current(&tier, id) {
                                break;
                            }
                        }
                    }
                }
                current = None;
            }
            None => {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                let Some(tier) = tier.upgrade() else { return };
                match connect(&tier).await {
                    Ok((connection, id)) => {
                        tier.link().publish(connection, id);
                        // Invalidations may have been missed while down.
                        tier.clear_l1();
                        bump(&tier.link().counters.reconnects);
                        current = Some(id);
                    }
                    Err(_) => bump(&tier.link().counters.l2_errors),
                }
            }
        }
    }
}
