//! A TCP relay with a fixed delay each way, counting the client's flushes: the simulated link
//! of the round-trip benches (`apply_round_trips`, `round_trips`). Included with
//! `#[path = "common/relay.rs"] mod relay;` by the benches that use it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A TCP relay to `upstream` that delivers every chunk `delay` after it was read, in both
/// directions, and counts the chunks the client sent (each is one request flush).
pub(crate) struct DelayRelay {
    pub(crate) addr: SocketAddr,
    client_chunks: Arc<AtomicUsize>,
}

impl DelayRelay {
    pub(crate) fn start(upstream: SocketAddr, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the relay");
        let addr = listener.local_addr().expect("relay address");
        let client_chunks = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&client_chunks);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                pipe(client, server, delay, Some(Arc::clone(&counter)));
                pipe(server2, client2, delay, None);
            }
        });
        Self {
            addr,
            client_chunks,
        }
    }

    pub(crate) fn client_chunks(&self) -> usize {
        self.client_chunks.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to`, each chunk delivered `delay` after it was read (a fixed-latency link:
/// chunks in flight overlap, so a large message is not delayed once per chunk).
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration, count: Option<Arc<AtomicUsize>>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(count) = &count {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if tx.send((Instant::now() + delay, chunk)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
