//! Fault drills: a TCP proxy on 127.0.0.1 in front of a chain RPC that can stall, cut
//! connections or lose answers on demand. `compute-ledger demo` stalls its node's RPC with it;
//! tests use it (through `test_utils`) to prove timeouts, retries and nonce handling.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::JoinHandle,
};

/// A TCP proxy on 127.0.0.1 in front of an RPC (anvil) that tests can make misbehave: hold every
/// request ([`Proxy::stall`]), close every open connection ([`Proxy::drop_connections`]), or cut
/// the connection of the next requests that contain some text, before forwarding them
/// ([`Proxy::drop_requests`]) or after, losing only the answer ([`Proxy::drop_responses`]).
/// Stops, closing every connection, when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    /// The accepting task; `None` while the proxy is down ([`Proxy::go_down`]).
    accept: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct ProxyState {
    upstream: SocketAddr,
    /// Whether requests are held instead of forwarded.
    stalled: watch::Sender<bool>,
    /// Bumped to close every open connection.
    generation: watch::Sender<u64>,
    /// Requests held right now by a stall.
    held: AtomicUsize,
    /// Requests whose connection was cut, in all.
    dropped: AtomicUsize,
    /// Which requests to cut next.
    drop_rule: Mutex<DropRule>,
    /// JSON-RPC requests forwarded, by method.
    methods: Mutex<BTreeMap<String, usize>>,
}

/// Cut the connection of the next `count` requests containing `text`, before forwarding them or
/// (`forward`) after.
#[derive(Debug, Default)]
struct DropRule {
    text: Vec<u8>,
    count: usize,
    forward: bool,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub async fn bind(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            upstream,
            stalled: watch::Sender::new(false),
            generation: watch::Sender::new(0),
            held: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            drop_rule: Mutex::new(DropRule::default()),
            methods: Mutex::new(BTreeMap::new()),
        });
        let accept = Mutex::new(Some(accept_on(listener, Arc::clone(&state))));
        Ok(Self { addr, state, accept })
    }

    /// The proxy's RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every request from now on (connections stay open, nothing is forwarded) until
    /// [`Proxy::resume`].
    pub fn stall(&self) {
        self.state.stalled.send_replace(true);
    }

    /// Goes down as a restarting RPC does: stops listening (new connections are refused) and
    /// closes every open one, until [`Proxy::come_back`].
    pub fn go_down(&self) {
        if let Some(accept) = self.accept.lock().unwrap_or_else(PoisonError::into_inner).take() {
            accept.abort();
        }
        self.drop_connections();
    }

    /// Listens again on the same address after [`Proxy::go_down`].
    pub async fn come_back(&self) -> std::io::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        let accept = accept_on(listener, Arc::clone(&self.state));
        *self.accept.lock().unwrap_or_else(PoisonError::into_inner) = Some(accept);
        Ok(())
    }

    /// Forwards again, held requests first.
    pub fn resume(&self) {
        self.state.stalled.send_replace(false);
    }

    /// Requests held by a stall right now.
    pub fn held_requests(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }

    /// Closes every open connection (held requests included) at once.
    pub fn drop_connections(&self) {
        self.state.generation.send_modify(|generation| *generation += 1);
    }

    /// JSON-RPC requests forwarded so far, by method (each call of a batch counts): tests count
    /// what a piece of code asks the chain, e.g. that a keeper round's calls do not grow with
    /// the number of leases.
    pub fn requests(&self) -> BTreeMap<String, usize> {
        self.state.methods.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Cuts the connection of each of the next `count` requests whose bytes contain `text` (e.g.
    /// a JSON-RPC method name) instead of forwarding it; `count` 0 ends the rule.
    pub fn drop_requests(&self, text: &str, count: usize) {
        self.set_drop_rule(DropRule { text: text.as_bytes().to_vec(), count, forward: false });
    }

    /// Forwards each of the next `count` requests whose bytes contain `text`, then cuts its
    /// connection instead of relaying the answer (the RPC acted, the caller never hears).
    pub fn drop_responses(&self, text: &str, count: usize) {
        self.set_drop_rule(DropRule { text: text.as_bytes().to_vec(), count, forward: true });
    }

    fn set_drop_rule(&self, rule: DropRule) {
        *self.state.drop_rule.lock().unwrap_or_else(PoisonError::into_inner) = rule;
    }

    /// Requests (or their answers) cut by [`Proxy::drop_requests`] and [`Proxy::drop_responses`]
    /// so far.
    pub fn dropped_requests(&self) -> usize {
        self.state.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.lock().unwrap_or_else(PoisonError::into_inner).take() {
            accept.abort();
        }
        self.drop_connections();
    }
}

/// Accepts connections on `listener` and serves each one.
fn accept_on(listener: TcpListener, state: Arc<ProxyState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(Arc::clone(&state).serve(client));
        }
    })
}

impl ProxyState {
    /// Forwards one client connection until either side closes it or the proxy drops it.
    async fn serve(self: Arc<Self>, client: TcpStream) {
        let mut generation = self.generation.subscribe();
        generation.mark_unchanged();
        let Ok(upstream) = TcpStream::connect(self.upstream).await else { return };
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        let lose_answer = AtomicBool::new(false);
        tokio::select! {
            _ = self.requests(client_read, upstream_write, &lose_answer) => {}
            _ = self.responses(upstream_read, client_write, &lose_answer) => {}
            _ = generation.changed() => {}
        }
    }

    /// Upstream to client, unless the request's answer is to be lost.
    async fn responses(
        &self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        lose_answer: &AtomicBool,
    ) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if lose_answer.load(Ordering::SeqCst) {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if to.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    }

    /// Client to upstream: applies the drop rule and the stall to each chunk of request bytes.
    async fn requests(
        &self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        lose_answer: &AtomicBool,
    ) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let chunk = &buffer[..read];
            match self.drop_rule_matches(chunk) {
                Some(true) => lose_answer.store(true, Ordering::SeqCst),
                Some(false) => {
                    self.dropped.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                None => {}
            }
            let mut stalled = self.stalled.subscribe();
            if *stalled.borrow_and_update() {
                self.held.fetch_add(1, Ordering::SeqCst);
                let resumed = stalled.wait_for(|stalled| !stalled).await.is_ok();
                self.held.fetch_sub(1, Ordering::SeqCst);
                if !resumed {
                    return;
                }
            }
            self.count_methods(chunk);
            if to.write_all(chunk).await.is_err() {
                return;
            }
        }
    }

    /// Counts the JSON-RPC methods named in a chunk of request bytes.
    fn count_methods(&self, chunk: &[u8]) {
        const KEY: &[u8] = b"\"method\":\"";
        let mut methods = self.methods.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = chunk;
        while let Some(at) = rest.windows(KEY.len()).position(|window| window == KEY) {
            rest = &rest[at + KEY.len()..];
            let end = rest.iter().position(|byte| *byte == b'"').unwrap_or(rest.len());
            *methods.entry(String::from_utf8_lossy(&rest[..end]).into_owned()).or_default() += 1;
            rest = &rest[end..];
        }
    }

    /// Whether the drop rule takes `chunk`: `Some(forward)` if so (and counts it), else `None`.
    fn drop_rule_matches(&self, chunk: &[u8]) -> Option<bool> {
        let mut rule = self.drop_rule.lock().unwrap_or_else(PoisonError::into_inner);
        let matches = rule.count > 0
            && !rule.text.is_empty()
            && chunk.windows(rule.text.len()).any(|window| window == rule.text.as_slice());
        if !matches {
            return None;
        }
        rule.count -= 1;
        Some(rule.forward)
    }
}
