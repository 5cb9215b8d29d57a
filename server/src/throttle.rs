//! Token buckets for enrollment: attempts per client address and failed attempts per
//! member. Kept in memory by each server process: several processes on one PostgreSQL
//! database each allow the full rate, and a restart forgets.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; past it, unknown keys share one bucket, so a flood from countless
/// addresses is still limited as a whole and memory stays bounded.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A bucket of `capacity` tokens per key, refilled evenly over `period`.
#[derive(Debug)]
pub struct Buckets<K> {
    capacity: f64,
    per_sec: f64,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    map: HashMap<K, Bucket>,
    overflow: Option<Bucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// `capacity` tokens per `period`; 0 switches the limit off.
    pub fn new(capacity: u32, period: Duration) -> Buckets<K> {
        Buckets {
            capacity: f64::from(capacity),
            per_sec: f64::from(capacity) / period.as_secs_f64().max(1e-3),
            state: Mutex::new(State {
                map: HashMap::new(),
                overflow: None,
            }),
        }
    }

    fn off(&self) -> bool {
        self.capacity <= 0.0
    }

    /// `b` refilled up to `now`.
    fn level(&self, b: Bucket, now: Instant) -> Bucket {
        let t = b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec;
        Bucket {
            tokens: t.min(self.capacity),
            at: now,
        }
    }

    /// Time until a bucket holding `tokens` has one whole token.
    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.per_sec).max(0.0))
    }

    /// Runs `f` on `key`'s bucket, brought up to date; makes room for a new key.
    fn with<R>(&self, key: &K, now: Instant, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = Bucket {
            tokens: self.capacity,
            at: now,
        };
        if !s.map.contains_key(key) && s.map.len() >= MAX_KEYS {
            // Full buckets hold nothing worth keeping.
            let cap = self.capacity;
            s.map.retain(|_, b| self.level(*b, now).tokens < cap);
        }
        let b = if s.map.contains_key(key) || s.map.len() < MAX_KEYS {
            s.map.entry(key.clone()).or_insert(fresh)
        } else {
            s.overflow.get_or_insert(fresh)
        };
        *b = self.level(*b, now);
        f(b)
    }

    /// Takes a token, or tells how long until one is there.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.off() {
            return Ok(());
        }
        self.with(key, now, |b| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(self.wait(b.tokens))
            }
        })
    }

    /// Whether a token is there, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.off() {
            return Ok(());
        }
        let now = Instant::now();
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.map.get(key) {
            Some(b) => {
                let b = self.level(*b, now);
                if b.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait(b.tokens))
                }
            }
            None => Ok(()),
        }
    }

    /// Spends a token whether or not one is there (a failure that already happened).
    pub fn charge(&self, key: &K) {
        if self.off() {
            return;
        }
        self.with(key, Instant::now(), |b| {
            b.tokens = (b.tokens - 1.0).max(0.0)
        });
    }

    /// Gives back a token taken for an attempt that turned out fine.
    pub fn give_back(&self, key: &K) {
        if self.off() {
            return;
        }
        let cap = self.capacity;
        self.with(key, Instant::now(), |b| {
            b.tokens = (b.tokens + 1.0).min(cap)
        });
    }
}

/// Enrollment limits: a budget of attempts per client address, spent by failed attempts
/// (a successful enrollment gives its token back, so a room full of phones enrolling
/// behind one NAT is not held up), and a budget of failed attempts per member.
#[derive(Debug)]
pub struct EnrollLimits {
    pub by_address: Buckets<IpAddr>,
    pub by_member: Buckets<String>,
}

impl EnrollLimits {
    pub fn new(per_address_per_minute: u32, failures_per_member_per_hour: u32) -> EnrollLimits {
        EnrollLimits {
            by_address: Buckets::new(per_address_per_minute, Duration::from_secs(60)),
            by_member: Buckets::new(failures_per_member_per_hour, Duration::from_secs(3600)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_refills_and_says_how_long_to_wait() {
        let b: Buckets<u8> = Buckets::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take_at(&1, t0).is_ok());
        }
        let wait = b.take_at(&1, t0).unwrap_err();
        assert!((19..=20).contains(&wait.as_secs()), "{wait:?}");
        assert!(b.take_at(&2, t0).is_ok(), "another key has its own bucket");
        assert!(b.take_at(&1, t0 + Duration::from_secs(21)).is_ok());
        assert!(b.take_at(&1, t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn given_back_and_charged_tokens_count() {
        let b: Buckets<u8> = Buckets::new(1, Duration::from_secs(3600));
        assert!(b.take(&1).is_ok());
        b.give_back(&1);
        assert!(b.check(&1).is_ok());
        b.charge(&1);
        assert!(b.check(&1).is_err());
        b.charge(&1);
        assert!(
            b.take(&1).is_err(),
            "never below empty, never a token for free"
        );
    }

    #[test]
    fn zero_switches_the_limit_off() {
        let b: Buckets<u8> = Buckets::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(b.take(&1).is_ok());
        }
    }
}
