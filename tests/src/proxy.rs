//! A TCP proxy on loopback that counts the bytes going each way and, when asked, cuts a
//! share of connections at a random byte — in the request or in the reply — the way a
//! phone loses its signal halfway through a sync.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;

use rand::Rng;

#[derive(Default)]
struct Shared {
    cut_percent: AtomicU32,
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    stop: AtomicBool,
}

pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Largest cut position drawn for requests and for replies.
const MAX_UP_CUT: usize = 800;
const MAX_DOWN_CUT: usize = 8000;

impl Proxy {
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let mut rng = rand::rng();
                let cut = rng.random_range(0..100) < s.cut_percent.load(Ordering::SeqCst);
                let (up_cut, down_cut) = match (cut, rng.random_bool(0.5)) {
                    (false, _) => (None, None),
                    (true, true) => (Some(rng.random_range(0..MAX_UP_CUT)), None),
                    (true, false) => (None, Some(rng.random_range(0..MAX_DOWN_CUT))),
                };
                let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(sv)) => (c, sv),
                    _ => continue,
                };
                let sh = s.clone();
                thread::spawn(move || pump(client, server, up_cut, &sh, true));
                let sh = s.clone();
                thread::spawn(move || pump(s2, c2, down_cut, &sh, false));
            }
        });
        Proxy { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Share of new connections to cut, 0–100.
    pub fn set_cut_percent(&self, p: u32) {
        self.shared.cut_percent.store(p.min(100), Ordering::SeqCst);
    }

    /// Bytes client → server and server → client since the last reset.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.up.load(Ordering::SeqCst),
            self.shared.down.load(Ordering::SeqCst),
        )
    }

    pub fn reset_counters(&self) {
        self.shared.up.store(0, Ordering::SeqCst);
        self.shared.down.store(0, Ordering::SeqCst);
        self.shared.connections.store(0, Ordering::SeqCst);
        self.shared.cuts.store(0, Ordering::SeqCst);
    }

    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` → `to`; after `cut` bytes, drops both connections.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: Option<usize>, s: &Shared, up: bool) {
    let mut buf = [0u8; 8192];
    let mut sent = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = match cut {
            Some(c) => n.min(c.saturating_sub(sent)),
            None => n,
        };
        if allowed > 0 && to.write_all(&buf[..allowed]).is_err() {
            break;
        }
        sent += allowed;
        let counter = if up { &s.up } else { &s.down };
        counter.fetch_add(allowed as u64, Ordering::SeqCst);
        if allowed < n {
            s.cuts.fetch_add(1, Ordering::SeqCst);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
