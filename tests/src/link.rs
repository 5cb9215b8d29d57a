//! A loopback TCP proxy that behaves like a phone's link: delay (half the round-trip time
//! each way, one more round trip to set up each connection), a bandwidth cap per direction,
//! cuts at random bytes, stalls (silence, or one byte at a time) and flipped bytes — and
//! counts the bytes that pass each way.
//!
//! Profiles, by round-trip time and bandwidth: [`Profile::NONE`], [`Profile::LTE`] (4G),
//! [`Profile::UMTS`] (3G), [`Profile::EDGE`] (2G: 800 ms, 100 kbit/s) and
//! [`Profile::BAD_EDGE`] (bad 2G: 1,500 ms, 30 kbit/s).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;

/// What a link is like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    /// Round-trip time: half of it is added to every byte each way.
    pub rtt: Duration,
    /// Bits per second each way; `None` is unlimited.
    pub bandwidth: Option<u64>,
}

impl Profile {
    pub const NONE: Profile = Profile {
        name: "none",
        rtt: Duration::ZERO,
        bandwidth: None,
    };
    pub const LTE: Profile = Profile {
        name: "4G",
        rtt: Duration::from_millis(60),
        bandwidth: Some(12_000_000),
    };
    pub const UMTS: Profile = Profile {
        name: "3G",
        rtt: Duration::from_millis(200),
        bandwidth: Some(1_600_000),
    };
    pub const EDGE: Profile = Profile {
        name: "2G",
        rtt: Duration::from_millis(800),
        bandwidth: Some(100_000),
    };
    pub const BAD_EDGE: Profile = Profile {
        name: "bad 2G",
        rtt: Duration::from_millis(1500),
        bandwidth: Some(30_000),
    };
    pub const ALL: [Profile; 5] = [
        Profile::NONE,
        Profile::LTE,
        Profile::UMTS,
        Profile::EDGE,
        Profile::BAD_EDGE,
    ];

    /// Bytes per second each way (`None`: unlimited).
    pub fn bytes_per_sec(&self) -> Option<f64> {
        self.bandwidth.map(|b| b as f64 / 8.0)
    }

    /// The least time moving `bytes` (both ways together) in `rounds` round trips can take:
    /// bytes ÷ bandwidth + RTT × rounds.
    pub fn ideal(&self, bytes: u64, rounds: usize) -> Duration {
        let transfer = self
            .bytes_per_sec()
            .map(|b| bytes as f64 / b)
            .unwrap_or(0.0);
        Duration::from_secs_f64(transfer) + self.rtt * rounds as u32
    }
}

/// Where connections are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CutAt {
    /// One direction, chosen at random, at a random byte below its bound (0: never that way).
    OneWay { up: u64, down: u64 },
    /// Both directions at the same random depth below the bound: whichever way carries the
    /// bulk gets there.
    BothWays(u64),
}

/// How a stalled connection behaves once it reaches its stall point in the reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stall {
    /// Nothing more passes; the connection stays open.
    Silent { after: u64 },
    /// One byte of the reply passes every `every`.
    Drip { after: u64, every: Duration },
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    profile: Profile,
    cut_percent: u32,
    cut_at: CutAt,
    corrupt_percent: u32,
    stall_percent: u32,
    stall: Stall,
}

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    corrupted: AtomicU64,
    stalls: AtomicU64,
}

struct Shared {
    settings: Mutex<Settings>,
    counters: Counters,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// The sockets of every open connection, to close them all when the proxy goes or the
    /// signal is lost.
    sockets: Mutex<HashMap<u64, [TcpStream; 2]>>,
}

/// The proxy. Dropping it closes every connection it holds.
pub struct Link {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Link {
    /// A link to `target` with `profile`, no cuts and no stalls.
    pub fn start(target: SocketAddr, profile: Profile) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            settings: Mutex::new(Settings {
                profile,
                cut_percent: 0,
                cut_at: CutAt::OneWay {
                    up: 800,
                    down: 8000,
                },
                corrupt_percent: 0,
                stall_percent: 0,
                stall: Stall::Silent { after: 0 },
            }),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            sockets: Mutex::new(HashMap::new()),
        });
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
                accept(&s, client, server);
            }
        });
        Link { addr, shared }
    }

    /// A link with no delay that cuts `percent` of its connections where `at` says.
    pub fn cutting(target: SocketAddr, percent: u32, at: CutAt) -> Link {
        let link = Link::start(target, Profile::NONE);
        link.set_cuts(percent, at);
        link
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn settings(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self
            .shared
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner()));
    }

    /// Changes the profile for connections opened from now on.
    pub fn set_profile(&self, p: Profile) {
        self.settings(|s| s.profile = p);
    }

    /// Share of new connections to cut, 0–100, and where.
    pub fn set_cuts(&self, percent: u32, at: CutAt) {
        self.settings(|s| {
            s.cut_percent = percent.min(100);
            s.cut_at = at;
        });
    }

    /// Share of new connections to cut (0–100), where the last [`Link::set_cuts`] said.
    pub fn set_cut_percent(&self, percent: u32) {
        self.settings(|s| s.cut_percent = percent.min(100));
    }

    /// Share of new connections whose reply gets one byte flipped (past its first 400).
    pub fn set_corrupt_percent(&self, percent: u32) {
        self.settings(|s| s.corrupt_percent = percent.min(100));
    }

    /// Share of new connections that stall in their reply, and how.
    pub fn set_stalls(&self, percent: u32, how: Stall) {
        self.settings(|s| {
            s.stall_percent = percent.min(100);
            s.stall = how;
        });
    }

    /// Loses the signal: every open connection is dropped and every new one is cut before
    /// its first byte, until [`Link::set_cut_percent`] lowers the share again.
    pub fn sever(&self) {
        self.set_cuts(100, CutAt::BothWays(1));
        for s in self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .flat_map(|(_, pair)| pair)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Bytes client → server and server → client since the last reset (delivered ones).
    pub fn bytes(&self) -> (u64, u64) {
        let c = &self.shared.counters;
        (c.up.load(Ordering::SeqCst), c.down.load(Ordering::SeqCst))
    }

    pub fn reset(&self) {
        let c = &self.shared.counters;
        for n in [
            &c.up,
            &c.down,
            &c.connections,
            &c.cuts,
            &c.corrupted,
            &c.stalls,
        ] {
            n.store(0, Ordering::SeqCst);
        }
    }

    pub fn connections(&self) -> u64 {
        self.shared.counters.connections.load(Ordering::SeqCst)
    }

    pub fn cuts(&self) -> u64 {
        self.shared.counters.cuts.load(Ordering::SeqCst)
    }

    pub fn corrupted(&self) -> u64 {
        self.shared.counters.corrupted.load(Ordering::SeqCst)
    }

    pub fn stalls(&self) -> u64 {
        self.shared.counters.stalls.load(Ordering::SeqCst)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag, and let every held connection go.
        let _ = TcpStream::connect(self.addr);
        for s in self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .flat_map(|(_, pair)| pair)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// What happens to one direction of one connection.
#[derive(Debug, Clone, Copy)]
struct Plan {
    profile: Profile,
    /// Setting up the connection costs a round trip before the first byte.
    opened: Instant,
    cut: Option<u64>,
    flip: Option<u64>,
    stall: Option<Stall>,
    up: bool,
}

fn accept(s: &Arc<Shared>, client: TcpStream, server: TcpStream) {
    // No Nagle delays: the proxy forwards in pieces, as a real link would.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let cfg = *s.settings.lock().unwrap_or_else(|p| p.into_inner());
    s.counters.connections.fetch_add(1, Ordering::SeqCst);
    let mut rng = rand::rng();
    let (mut up_cut, mut down_cut) = (None, None);
    if rng.random_range(0..100) < cfg.cut_percent {
        match cfg.cut_at {
            CutAt::OneWay { up, down } => {
                let way_up = match (up, down) {
                    (0, _) => false,
                    (_, 0) => true,
                    _ => rng.random_bool(0.5),
                };
                if way_up {
                    up_cut = Some(rng.random_range(0..up.max(1)));
                } else {
                    down_cut = Some(rng.random_range(0..down.max(1)));
                }
            }
            CutAt::BothWays(max) => {
                let at = rng.random_range(0..max.max(1));
                (up_cut, down_cut) = (Some(at), Some(at));
            }
        }
    }
    let flip = (rng.random_range(0..100) < cfg.corrupt_percent).then(|| {
        let max = match cfg.cut_at {
            CutAt::OneWay { down, .. } => down,
            CutAt::BothWays(m) => m,
        };
        rng.random_range(400..max.max(401))
    });
    let stall = (rng.random_range(0..100) < cfg.stall_percent).then_some(cfg.stall);
    let opened = Instant::now();
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    let id = s.next_id.fetch_add(1, Ordering::SeqCst);
    s.sockets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, [c3, s3]);
    // When both directions are over, the connection's sockets are let go.
    let ended = Arc::new(AtomicU64::new(0));
    let plan = |up, cut, flip, stall| Plan {
        profile: cfg.profile,
        opened,
        cut,
        flip,
        stall,
        up,
    };
    let up = plan(true, up_cut, None, None);
    let down = plan(false, down_cut, flip, stall);
    for (from, to, plan) in [(client, server, up), (s2, c2, down)] {
        let (sh, ended) = (s.clone(), ended.clone());
        thread::spawn(move || {
            direction(from, to, plan, sh.clone());
            if ended.fetch_add(1, Ordering::SeqCst) == 1 {
                sh.sockets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            }
        });
    }
}

/// One piece of a direction's traffic, due at the far end at `at`.
enum Piece {
    Bytes(Instant, Vec<u8>),
    /// The source closed: close the far end's write side once everything before is out.
    End(Instant),
    /// The link broke here: drop both connections.
    Cut(Instant),
}

/// Carries `from` → `to` as the plan says: paced, delayed, cut, stalled or flipped.
fn direction(mut from: TcpStream, to: TcpStream, plan: Plan, s: Arc<Shared>) {
    let queue = Arc::new((Mutex::new(VecDeque::<Piece>::new()), Condvar::new()));
    let q = queue.clone();
    let (to2, sh) = match to.try_clone() {
        Ok(t) => (t, s.clone()),
        Err(_) => return,
    };
    let from2 = from.try_clone().ok();
    // An unshaped link writes from this thread: no hand-over to wait for.
    let shaped = plan.profile.rtt > Duration::ZERO || plan.profile.bandwidth.is_some();
    let writer = shaped.then(|| thread::spawn(move || deliver(to2, from2, plan, &q, &sh)));
    let mut direct = (!shaped).then(|| (to.try_clone().ok(), from.try_clone().ok()));

    let p = plan.profile;
    let one_way = p.rtt / 2;
    let rate = p.bytes_per_sec();
    // Pieces small enough to pace smoothly: about 1/20 s of the link each.
    let piece = rate.map_or(16 << 10, |r| ((r / 20.0) as usize).clamp(256, 16 << 10));
    // The link holds about a second of traffic waiting to go (a router's buffer); beyond
    // that the sender is held back.
    let backlog = Duration::from_secs(1);
    let mut free_at = plan.opened + p.rtt; // connection set-up: one round trip
    let mut buf = vec![0u8; piece];
    let mut read = 0u64;
    let mut push = |item: Piece| match &mut direct {
        Some((Some(to), from)) => {
            if !write_piece(to, from.as_ref(), plan, item, &s) {
                direct = Some((None, None));
            }
        }
        Some((None, _)) => {}
        None => {
            let (lock, cv) = &*queue;
            lock.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(item);
            cv.notify_one();
        }
    };
    loop {
        let now = Instant::now();
        if rate.is_some() && free_at > now + backlog {
            thread::sleep(free_at - now - backlog);
        }
        let mut want = buf.len();
        match plan.stall {
            Some(Stall::Silent { after }) if read >= after => {
                s.counters.stalls.fetch_add(1, Ordering::SeqCst);
                // Pass nothing more, not even the server closing: like a link gone dead,
                // the connection stays open on the device's side until it gives up.
                let mut sink = [0u8; 4096];
                while !matches!(from.read(&mut sink), Ok(0) | Err(_)) {}
                break;
            }
            Some(Stall::Drip { after, .. }) if read >= after => want = 1,
            Some(Stall::Silent { after } | Stall::Drip { after, .. }) => {
                want = want.min((after - read) as usize);
            }
            None => {}
        }
        let n = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => {
                push(Piece::End(Instant::now().max(free_at) + one_way));
                break;
            }
            Ok(n) => n,
        };
        let allowed = match plan.cut {
            Some(c) => n.min(c.saturating_sub(read) as usize),
            None => n,
        };
        let mut chunk = buf[..allowed].to_vec();
        if let Some(f) = plan.flip
            && f >= read
            && f < read + allowed as u64
        {
            chunk[(f - read) as usize] ^= 0x5A;
            s.counters.corrupted.fetch_add(1, Ordering::SeqCst);
        }
        let start = Instant::now().max(free_at);
        free_at = start
            + rate.map_or(Duration::ZERO, |r| {
                Duration::from_secs_f64(allowed as f64 / r)
            });
        read += allowed as u64;
        if allowed > 0 {
            push(Piece::Bytes(free_at + one_way, chunk));
        }
        if allowed < n {
            s.counters.cuts.fetch_add(1, Ordering::SeqCst);
            push(Piece::Cut(free_at + one_way));
            break;
        }
        if let Some(Stall::Drip { after, every }) = plan.stall
            && read > after
        {
            if read == after + 1 {
                s.counters.stalls.fetch_add(1, Ordering::SeqCst);
            }
            thread::sleep(every);
        }
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
}

/// Writes each piece to `to` when it is due.
fn deliver(
    mut to: TcpStream,
    from: Option<TcpStream>,
    plan: Plan,
    queue: &(Mutex<VecDeque<Piece>>, Condvar),
    s: &Shared,
) {
    let (lock, cv) = queue;
    loop {
        let item = {
            let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(i) = q.pop_front() {
                    break i;
                }
                q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let due = match &item {
            Piece::Bytes(at, _) | Piece::End(at) | Piece::Cut(at) => *at,
        };
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        if !write_piece(&mut to, from.as_ref(), plan, item, s) {
            return;
        }
    }
}

/// Delivers one piece; `false` once the direction is over.
fn write_piece(
    to: &mut TcpStream,
    from: Option<&TcpStream>,
    plan: Plan,
    item: Piece,
    s: &Shared,
) -> bool {
    match item {
        Piece::Bytes(_, bytes) => {
            if to.write_all(&bytes).is_err() {
                if let Some(f) = from {
                    let _ = f.shutdown(Shutdown::Both);
                }
                return false;
            }
            let counter = if plan.up {
                &s.counters.up
            } else {
                &s.counters.down
            };
            counter.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            true
        }
        Piece::End(_) => {
            let _ = to.shutdown(Shutdown::Write);
            false
        }
        Piece::Cut(_) => {
            let _ = to.shutdown(Shutdown::Both);
            if let Some(f) = from {
                let _ = f.shutdown(Shutdown::Both);
            }
            false
        }
    }
}
