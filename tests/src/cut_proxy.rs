//! A loopback TCP proxy for photo transfers: it cuts a share of connections at a random
//! byte up to a chosen depth (deep enough to land inside a chunk or a download), and can
//! flip one byte of a reply, counting the bytes that pass each way.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;

use rand::Rng;

#[derive(Default)]
struct Shared {
    cut_percent: AtomicU32,
    corrupt_percent: AtomicU32,
    max_cut: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
    cuts: AtomicU64,
    corrupted: AtomicU64,
    stop: AtomicBool,
}

pub struct CutProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl CutProxy {
    /// Cuts `cut_percent` of connections at a random byte below `max_cut` (counted in
    /// each direction: the uploading or the downloading side reaches it).
    pub fn start(target: SocketAddr, cut_percent: u32, max_cut: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        shared.cut_percent.store(cut_percent, Ordering::SeqCst);
        shared.max_cut.store(max_cut.max(1), Ordering::SeqCst);
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
                // No Nagle delays: the proxy forwards in pieces, as a real link would.
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let mut rng = rand::rng();
                let max = s.max_cut.load(Ordering::SeqCst);
                let cut = rng.random_range(0..100) < s.cut_percent.load(Ordering::SeqCst);
                let at = rng.random_range(0..max);
                // Both ways at the same depth: the direction carrying the photo gets there.
                let (up_cut, down_cut) = if cut {
                    (Some(at), Some(at))
                } else {
                    (None, None)
                };
                let flip = (rng.random_range(0..100) < s.corrupt_percent.load(Ordering::SeqCst))
                    .then(|| rng.random_range(400..max.max(401)));
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let sh = s.clone();
                thread::spawn(move || pump(client, server, up_cut, None, &sh, true));
                let sh = s.clone();
                thread::spawn(move || pump(s2, c2, down_cut, flip, &sh, false));
            }
        });
        CutProxy { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_cut_percent(&self, p: u32) {
        self.shared.cut_percent.store(p.min(100), Ordering::SeqCst);
    }

    /// Share of new connections whose reply gets one byte flipped (past the first 400).
    pub fn set_corrupt_percent(&self, p: u32) {
        self.shared
            .corrupt_percent
            .store(p.min(100), Ordering::SeqCst);
    }

    /// Bytes client → server and server → client.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.up.load(Ordering::SeqCst),
            self.shared.down.load(Ordering::SeqCst),
        )
    }

    pub fn reset(&self) {
        self.shared.up.store(0, Ordering::SeqCst);
        self.shared.down.store(0, Ordering::SeqCst);
        self.shared.cuts.store(0, Ordering::SeqCst);
        self.shared.corrupted.store(0, Ordering::SeqCst);
    }

    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    pub fn corrupted(&self) -> u64 {
        self.shared.corrupted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    cut: Option<u64>,
    flip: Option<u64>,
    s: &Shared,
    up: bool,
) {
    let mut buf = [0u8; 16 << 10];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = match cut {
            Some(c) => (n as u64).min(c.saturating_sub(sent)) as usize,
            None => n,
        };
        if let Some(f) = flip
            && f >= sent
            && f < sent + allowed as u64
        {
            buf[(f - sent) as usize] ^= 0x5A;
            s.corrupted.fetch_add(1, Ordering::SeqCst);
        }
        if allowed > 0 && to.write_all(&buf[..allowed]).is_err() {
            break;
        }
        sent += allowed as u64;
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
