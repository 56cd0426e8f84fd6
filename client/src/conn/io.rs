//! The byte-moving half of a connection: one writer task that owns the write half and writes
//! whole frames, one reader task that owns the read half, cuts frames and hands each to its
//! waiter by correlation id.
//!
//! Concurrency rules:
//! - `Shared.state` (a std mutex, never held across an await) guards the in-flight table, the
//!   closed flag and the activity clock. Closing, registering a request and the idle check each
//!   happen in one critical section, so a request is never registered on a connection that is
//!   already failing its waiters.
//! - Request futures never touch the socket: they queue a complete frame on an unbounded
//!   channel and await a oneshot. Dropping one at any point cannot leave half a frame on the
//!   wire; its entry becomes a tombstone and the late response is discarded.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::{
    ApiKey,
    frame::{frame_length, peek_correlation_id},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf},
    sync::mpsc,
    task::AbortHandle,
    time::Instant,
};
use tracing::Instrument;

use super::{
    inflight::{Completion, InFlight},
    transport::BoxStream,
};
use crate::error::{BrokerRef, Error, Result};
use crate::metrics::BrokerCounters;

#[derive(Debug)]
struct ConnState {
    inflight: InFlight,
    closed: Option<Error>,
    last_activity: Instant,
}

#[derive(Debug)]
struct Shared {
    broker: BrokerRef,
    counters: Option<Arc<BrokerCounters>>,
    state: Mutex<ConnState>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection dead, fails every waiter with `err` and stops both tasks.
    fn close(&self, err: Error) {
        {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            tracing::debug!(broker = %self.broker, reason = %err, "connection closed");
            st.inflight.fail_all(&err);
            st.closed = Some(err);
        }
        if let Some(c) = &self.counters {
            c.connection_closed();
        }
        for t in self.tasks.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            t.abort();
        }
    }

    fn dispatch(&self, frame: Bytes) -> Result<()> {
        let id = peek_correlation_id(&frame).map_err(|source| Error::Protocol {
            api: None,
            broker: self.broker.clone(),
            source,
        })?;
        let mut st = self.lock();
        st.last_activity = Instant::now();
        match st.inflight.complete(id, frame) {
            Completion::Delivered(api) => tracing::trace!(api = api.name(), correlation_id = id, "response"),
            Completion::Discarded(api) => {
                tracing::debug!(
                    api = api.name(),
                    correlation_id = id,
                    "discarding response to an abandoned request"
                )
            }
            Completion::Unexpected => {
                return Err(Error::Disconnected {
                    broker: self.broker.clone(),
                    reason: format!("response with unexpected correlation id {id}"),
                });
            }
        }
        Ok(())
    }

    /// When the connection will be idle long enough to close, if nothing is in flight.
    fn idle_deadline(&self, idle: Option<Duration>) -> Option<Instant> {
        let st = self.lock();
        idle.filter(|_| st.inflight.len() == 0).map(|d| st.last_activity + d)
    }

    /// Closes the connection if it has been idle for `idle`; true if it did.
    fn close_if_idle(&self, idle: Duration) -> bool {
        let mut st = self.lock();
        if st.closed.is_some() || st.inflight.len() > 0 || st.last_activity.elapsed() < idle {
            return false;
        }
        let err = Error::Disconnected {
            broker: self.broker.clone(),
            reason: format!("idle for {} ms (connections.max.idle.ms)", idle.as_millis()),
        };
        tracing::debug!(broker = %self.broker, "closing idle connection");
        st.closed = Some(err);
        drop(st);
        for t in self.tasks.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            t.abort();
        }
        true
    }
}

/// Options for the I/O tasks.
#[derive(Debug, Clone)]
pub(crate) struct IoOptions {
    pub(crate) max_frame_size: usize,
    pub(crate) max_idle: Option<Duration>,
    /// Where this connection counts requests, bytes and latency (see `metrics.rs`).
    pub(crate) counters: Option<Arc<BrokerCounters>>,
}

/// A pipelined, correlation-matched frame channel over one byte stream.
#[derive(Debug)]
pub(crate) struct Pipeline {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Bytes>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shared
            .close(Error::Disconnected { broker: self.shared.broker.clone(), reason: "dropped".into() });
    }
}

/// Removes (or tombstones) a request's entry unless disarmed: runs when a request future is
/// dropped before its response arrived.
struct AbandonOnDrop<'a> {
    shared: &'a Shared,
    id: i32,
    armed: bool,
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!(
                correlation_id = self.id,
                "request future dropped; its response will be discarded"
            );
            self.shared.lock().inflight.abandon(self.id);
        }
    }
}

impl Pipeline {
    /// Splits `stream` and spawns the reader and writer tasks inside `span`.
    pub(crate) fn spawn(
        stream: BoxStream,
        broker: BrokerRef,
        opts: IoOptions,
        span: tracing::Span,
    ) -> Pipeline {
        let (rd, wr) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            broker,
            counters: opts.counters.clone(),
            state: Mutex::new(ConnState {
                inflight: InFlight::default(),
                closed: None,
                last_activity: Instant::now(),
            }),
            tasks: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(rd, shared.clone(), opts).instrument(span.clone()));
        let writer = tokio::spawn(write_loop(wr, rx, shared.clone()).instrument(span));
        shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([reader.abort_handle(), writer.abort_handle()]);
        Pipeline { shared, writer: tx }
    }

    /// The broker at the other end.
    pub(crate) fn broker(&self) -> &BrokerRef {
        &self.shared.broker
    }

    /// Why the connection is closed, if it is.
    pub(crate) fn closed(&self) -> Option<Error> {
        self.shared.lock().closed.clone()
    }

    /// Requests awaiting a response.
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.lock().inflight.len()
    }

    /// Closes the connection, failing every waiter with `err`.
    pub(crate) fn close(&self, err: Error) {
        self.shared.close(err);
    }

    /// Sends the frame `encode(correlation_id)` builds and awaits its response frame (header
    /// and body, no size prefix), for at most `timeout`. On timeout the connection is closed,
    /// as Java's NetworkClient does: a broker that stopped answering one request is presumed
    /// stuck for all of them.
    pub(crate) async fn round_trip(
        &self,
        api: ApiKey,
        timeout: Duration,
        encode: impl FnOnce(i32) -> Result<BytesMut>,
    ) -> Result<Bytes> {
        let (id, rx) = {
            let mut st = self.shared.lock();
            if let Some(e) = &st.closed {
                return Err(e.clone());
            }
            st.last_activity = Instant::now();
            st.inflight.register(api)
        };
        let mut guard = AbandonOnDrop { shared: &self.shared, id, armed: true };
        let frame = match encode(id) {
            Ok(f) => f.freeze(),
            Err(e) => {
                guard.armed = false;
                self.shared.lock().inflight.remove(id);
                return Err(e);
            }
        };
        tracing::trace!(api = api.name(), correlation_id = id, bytes = frame.len(), "request");
        let (sent_at, bytes) = (Instant::now(), frame.len());
        if self.writer.send(frame).is_err() {
            guard.armed = false;
            return Err(self.closed_error());
        }
        let counters = self.shared.counters.as_deref();
        if let Some(c) = counters {
            c.request_sent(bytes);
        }
        let result = tokio::time::timeout(timeout, rx).await;
        guard.armed = false;
        if let Some(c) = counters {
            match &result {
                Ok(Ok(Ok(_))) => c.response(sent_at.elapsed()),
                _ => c.request_failed(),
            }
        }
        match result {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                let err = Error::RequestTimeout {
                    api,
                    broker: self.shared.broker.clone(),
                    correlation_id: id,
                    timeout,
                };
                self.shared.lock().inflight.remove(id);
                self.shared.close(Error::Disconnected {
                    broker: self.shared.broker.clone(),
                    reason: format!("{} request (correlation id {id}) timed out", api.name()),
                });
                Err(err)
            }
        }
    }

    /// Sends a frame that gets no response (produce with `acks=0`).
    pub(crate) fn send_oneway(&self, encode: impl FnOnce(i32) -> Result<BytesMut>) -> Result<()> {
        let id = {
            let mut st = self.shared.lock();
            if let Some(e) = &st.closed {
                return Err(e.clone());
            }
            st.last_activity = Instant::now();
            st.inflight.next_correlation_id()
        };
        let frame = encode(id)?.freeze();
        let bytes = frame.len();
        self.writer.send(frame).map_err(|_| self.closed_error())?;
        if let Some(c) = &self.shared.counters {
            c.request_sent(bytes);
        }
        Ok(())
    }

    fn closed_error(&self) -> Error {
        self.closed().unwrap_or_else(|| Error::Disconnected {
            broker: self.shared.broker.clone(),
            reason: "connection task ended".into(),
        })
    }
}

async fn read_loop(rd: ReadHalf<BoxStream>, shared: Arc<Shared>, opts: IoOptions) {
    let err = read_frames(rd, &shared, opts).await;
    if let Some(err) = err {
        tracing::debug!(error = %err, "reader stopping");
        shared.close(err);
    }
}

/// Reads frames until an error (returned) or an idle close (`None`).
async fn read_frames(mut rd: ReadHalf<BoxStream>, shared: &Shared, opts: IoOptions) -> Option<Error> {
    let broker = &shared.broker;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        loop {
            let len = match frame_length(&buf, opts.max_frame_size) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(source) => return Some(Error::Protocol { api: None, broker: broker.clone(), source }),
            };
            if buf.len() < 4 + len {
                buf.reserve(4 + len - buf.len());
                break;
            }
            buf.advance(4);
            if let Some(c) = &shared.counters {
                c.frame_received(4 + len);
            }
            if let Err(e) = shared.dispatch(buf.split_to(len).freeze()) {
                return Some(e);
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let idle_at = shared.idle_deadline(opts.max_idle);
        tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    return Some(Error::Disconnected { broker: broker.clone(), reason: "closed by the broker".into() });
                }
                Ok(n) => tracing::trace!(bytes = n, "read"),
                Err(e) => return Some(Error::io(broker, e)),
            },
            _ = tokio::time::sleep_until(idle_at.unwrap_or_else(Instant::now)), if idle_at.is_some() => {
                if let Some(idle) = opts.max_idle {
                    if shared.close_if_idle(idle) {
                        return None;
                    }
                }
            }
        }
    }
}

async fn write_loop(
    mut wr: WriteHalf<BoxStream>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
) {
    while let Some(frame) = rx.recv().await {
        let mut result = wr.write_all(&frame).await;
        // Write whatever else is queued before flushing once.
        while result.is_ok() {
            match rx.try_recv() {
                Ok(f) => result = wr.write_all(&f).await,
                Err(_) => break,
            }
        }
        if let Err(e) = async {
            result?;
            wr.flush().await
        }
        .await
        {
            shared.close(Error::io(&shared.broker, e));
            return;
        }
    }
    let _ = wr.shutdown().await;
}
