//! The emulator's hosts: one account served on several ports, as WeChat serves one API on
//! several hosts (`api.weixin.qq.com`, the disaster-recovery `api2.weixin.qq.com`, …). Each
//! can be taken down — its port refuses connections and its open connections are cut — and
//! brought back on the same port, so that a client's fail-over can be tested mid-run. Its
//! listener can also drop one connection on purpose (an injected fault).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use axum::Router;
use axum::serve::{IncomingStream, Listener};
use std::net::Shutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A TCP listener of one host, whose connections can be closed from a request handler
/// or when the host is taken down.
pub(crate) struct MockListener {
    listener: TcpListener,
    host: usize,
    connections: Connections,
}

impl MockListener {
    pub(crate) fn new(listener: TcpListener, host: usize, connections: Connections) -> Self {
        MockListener {
            listener,
            host,
            connections,
        }
    }
}

/// Per-connection information: the host it came to, and a second handle on the socket,
/// to shut it down.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    socket: Option<Arc<std::net::TcpStream>>,
    pub(crate) host: usize,
}

impl Conn {
    /// Closes the connection without an answer.
    pub(crate) fn drop_connection(&self) {
        if let Some(socket) = &self.socket {
            // The socket may already be closed by the client; nothing more to do then.
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A duplicate of the stream's socket, for [`Conn::drop_connection`].
fn split_handle(stream: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let second = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, second))
}

impl Listener for MockListener {
    type Io = TcpStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => match split_handle(stream) {
                    Ok((stream, second)) => {
                        let socket = Arc::new(second);
                        let mut open = self
                            .connections
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        open.retain(|connection| connection.strong_count() > 0);
                        open.push(Arc::downgrade(&socket));
                        return (
                            stream,
                            Conn {
                                socket: Some(socket),
                                host: self.host,
                            },
                        );
                    }
                    Err(error) => tracing::warn!("cannot set up an accepted connection: {error}"),
                },
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr().map(|_| Conn {
            socket: None,
            host: self.host,
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, MockListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The open connections of one host, to cut when it goes down.
pub(crate) type Connections = Arc<Mutex<Vec<Weak<std::net::TcpStream>>>>;

/// One host: where it listens, and its server while it is up.
struct Slot {
    addr: SocketAddr,
    running: Option<Running>,
    connections: Connections,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Every host of an emulator.
#[derive(Default)]
pub(crate) struct Hosts {
    slots: Mutex<Vec<Slot>>,
    /// The routes every host serves (set once at start).
    app: OnceLock<Router>,
}

impl std::fmt::Debug for Hosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.lock()
                    .iter()
                    .map(|slot| (slot.addr, slot.running.is_some())),
            )
            .finish()
    }
}

fn lock_connections(connections: &Connections) -> MutexGuard<'_, Vec<Weak<std::net::TcpStream>>> {
    connections.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hosts {
    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the routes every host serves.
    pub(crate) fn set_app(&self, app: Router) {
        // Set once, at start.
        let _ = self.app.set(app);
    }

    /// Adds a host listening on `listener` and starts serving it; its index.
    pub(crate) fn add(&self, listener: tokio::net::TcpListener) -> io::Result<usize> {
        let addr = listener.local_addr()?;
        let mut slots = self.lock();
        let index = slots.len();
        let connections = Connections::default();
        let running = self.serve(listener, index, &connections);
        slots.push(Slot {
            addr,
            running,
            connections,
        });
        Ok(index)
    }

    fn serve(
        &self,
        listener: tokio::net::TcpListener,
        index: usize,
        connections: &Connections,
    ) -> Option<Running> {
        let app = self.app.get()?.clone();
        let listener = MockListener::new(listener, index, Arc::clone(connections));
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<Conn>();
            let serving = axum::serve(listener, service).with_graceful_shutdown(async move {
                // Fires on shutdown and when the emulator is dropped.
                let _ = signal.await;
            });
            if let Err(error) = serving.await {
                tracing::warn!("wx-kefu-mock stopped: {error}");
            }
        });
        Some(Running { shutdown, task })
    }

    /// Where each host listens.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.lock().iter().map(|slot| slot.addr).collect()
    }

    /// Whether each host is up.
    pub(crate) fn up(&self) -> Vec<bool> {
        self.lock()
            .iter()
            .map(|slot| slot.running.is_some())
            .collect()
    }

    /// Takes host `index` down: its port refuses connections from now on, and its open
    /// connections are cut. `false` for a host that does not exist.
    pub(crate) async fn stop(&self, index: usize) -> bool {
        let (running, connections) = {
            let mut slots = self.lock();
            let Some(slot) = slots.get_mut(index) else {
                return false;
            };
            (slot.running.take(), Arc::clone(&slot.connections))
        };
        if let Some(Running { task, .. }) = running {
            // Not graceful: the listener goes with the task, now.
            task.abort();
            let _ = task.await;
        }
        let open: Vec<_> = lock_connections(&connections).drain(..).collect();
        for connection in open.iter().filter_map(Weak::upgrade) {
            // Already closed by the client, perhaps: nothing more to do then.
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        true
    }

    /// Brings host `index` back on its port. `Ok(false)` for a host that does not exist.
    pub(crate) async fn start(&self, index: usize) -> io::Result<bool> {
        let Some((addr, up)) = self
            .lock()
            .get(index)
            .map(|slot| (slot.addr, slot.running.is_some()))
        else {
            return Ok(false);
        };
        if up {
            return Ok(true);
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(index) else {
            return Ok(false);
        };
        if slot.running.is_none() {
            slot.running = self.serve(listener, index, &slot.connections);
        }
        Ok(true)
    }

    /// Stops every host, waiting for open requests (at most 5 s).
    pub(crate) async fn shutdown(&self) {
        let running: Vec<Running> = self
            .lock()
            .iter_mut()
            .filter_map(|slot| slot.running.take())
            .collect();
        for Running { shutdown, task } in running {
            let _ = shutdown.send(());
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Signals every host to stop (when the emulator is dropped).
    pub(crate) fn signal_shutdown(&self) {
        for slot in self.lock().iter_mut() {
            if let Some(Running { shutdown, .. }) = slot.running.take() {
                let _ = shutdown.send(());
            }
        }
    }
}
