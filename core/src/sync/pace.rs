//! How much one round trip may move, from the pace the link showed so far.
//!
//! A budget is counted in bytes on the wire (compressed), request and reply together, and is
//! sized so that a round trip takes about [`SyncConfig::round_target`] at the pace the
//! previous round trip showed: a small start, then what the last full round trip's pace
//! would move in the target time (on a steady link that never takes longer than the target:
//! a round trip's fixed latency only makes the estimate low), at most sixteen times the last
//! budget against noise, and a quarter after a timeout. Change bytes (what the store and the
//! server count) are converted with the compression ratio each direction showed.
//!
//! [`SyncConfig::round_target`]: super::SyncConfig::round_target

use std::time::Duration;

/// The first round trip of a sync moves at most this: about 10 s on bad 2G (30 kbit/s with
/// 1.5 s round trips), a blink on anything better.
pub const START_BUDGET: u64 = 32 << 10;
/// Budgets never shrink below this, however bad the link.
pub const MIN_BUDGET: u64 = 4 << 10;
/// Nor grow beyond this, so a reply page stays small in memory.
pub const MAX_BUDGET: u64 = 4 << 20;
/// Compression ratio assumed before a direction has shown its own (Chinese text compresses
/// about 1.9×; this is a little pessimistic).
const FIRST_RATIO: f64 = 0.6;

#[derive(Debug, Clone)]
pub(crate) struct Pace {
    target: Duration,
    /// Wire bytes the next round trip may move, both ways together.
    budget: f64,
    /// Wire bytes per change byte, for requests and for replies.
    ratio_up: f64,
    ratio_down: f64,
}

impl Pace {
    pub fn new(target: Duration) -> Pace {
        Pace {
            target: target.max(Duration::from_millis(100)),
            budget: START_BUDGET as f64,
            ratio_up: FIRST_RATIO,
            ratio_down: FIRST_RATIO,
        }
    }

    /// Wire bytes the next round trip may move.
    #[cfg(test)]
    pub fn budget(&self) -> u64 {
        self.budget as u64
    }

    /// Change bytes to push in the next round trip: half the budget when a reply page is
    /// expected too, most of it when the server said it has nothing more.
    pub fn push_bytes(&self, expect_pull: bool) -> usize {
        let share = if expect_pull { 0.5 } else { 0.85 };
        (self.budget * share / self.ratio_up) as usize
    }

    /// Change bytes to ask for in the next reply, after a request of `sent` wire bytes.
    pub fn page_bytes(&self, sent: u64) -> u64 {
        let left = (self.budget - sent as f64).max(self.budget / 4.0);
        (left / self.ratio_down).max(1.0) as u64
    }

    /// Seconds a reply page of `raw` change bytes is expected to take to arrive.
    pub fn reply_secs(&self, raw: u64) -> f64 {
        raw as f64 * self.ratio_down * self.target.as_secs_f64() / self.budget
    }

    /// Wire bytes a push of `raw` change bytes is expected to take.
    pub fn wire_up(&self, raw: usize) -> u64 {
        (raw as f64 * self.ratio_up) as u64
    }

    /// Bytes of a photo chunk: most of a round trip's budget.
    pub fn chunk_bytes(&self) -> usize {
        (self.budget * 0.8) as usize
    }

    /// Notes the compression of a request: `wire` bytes sent for `raw` change bytes.
    pub fn sent(&mut self, raw: usize, wire: usize) {
        if raw >= 1024 {
            self.ratio_up = (wire as f64 / raw as f64).clamp(0.05, 1.5);
        }
    }

    /// Notes the compression of a reply: `wire` bytes received for `raw` change bytes.
    pub fn received(&mut self, raw: usize, wire: usize) {
        if raw >= 1024 {
            self.ratio_down = (wire as f64 / raw as f64).clamp(0.05, 1.5);
        }
    }

    /// Learns from a round trip that moved `moved` wire bytes in `took`.
    pub fn round_trip(&mut self, moved: u64, took: Duration) {
        let secs = took.as_secs_f64().max(0.001);
        let moved = moved as f64;
        // What this round trip's pace would move in the target time. A round trip's fixed
        // latency makes that low, never high: the reply cannot start before the request
        // has arrived. A round trip that did not fill its budget only ever raises it.
        let at_pace = moved * self.target.as_secs_f64() / secs;
        self.budget = if took > self.target {
            self.budget.min(at_pace)
        } else if moved >= self.budget / 2.0 {
            at_pace.clamp(self.budget / 4.0, self.budget * 16.0)
        } else {
            self.budget.max(at_pace.min(self.budget * 16.0))
        };
        self.clamp();
    }

    /// A request timed out or was cut: the next one is a quarter of the size.
    pub fn failed(&mut self) {
        self.budget /= 4.0;
        self.clamp();
    }

    fn clamp(&mut self) {
        self.budget = self.budget.clamp(MIN_BUDGET as f64, MAX_BUDGET as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link of `rate` bytes per second and `rtt` round trips.
    fn round(p: &Pace, rate: f64, rtt: f64) -> (u64, Duration) {
        let moved = p.budget();
        (moved, Duration::from_secs_f64(rtt + moved as f64 / rate))
    }

    #[test]
    fn budgets_settle_where_a_round_trip_takes_the_target_time() {
        let target = Duration::from_secs(8);
        for (rate, rtt) in [(3750.0, 1.5), (12_500.0, 0.8), (200_000.0, 0.2)] {
            let mut p = Pace::new(target);
            for _ in 0..20 {
                let (moved, took) = round(&p, rate, rtt);
                p.round_trip(moved, took);
            }
            let (_, took) = round(&p, rate, rtt);
            assert!(
                took <= target + Duration::from_millis(500) && took >= target / 2,
                "{rate} B/s, {rtt} s: {took:?} for {} B",
                p.budget()
            );
        }
    }

    #[test]
    fn the_first_round_trip_is_small_and_a_timeout_shrinks_the_next() {
        let p = Pace::new(Duration::from_secs(8));
        // 32 KiB at bad 2G: about 10 s with its round trip.
        let (_, took) = round(&p, 3750.0, 1.5);
        assert!(took < Duration::from_secs(11), "{took:?}");
        let mut p = p;
        let before = p.budget();
        p.failed();
        assert_eq!(p.budget(), before / 4);
        for _ in 0..10 {
            p.failed();
        }
        assert_eq!(p.budget(), MIN_BUDGET);
    }

    #[test]
    fn a_fast_link_grows_the_budget_quickly_and_a_slow_small_round_does_not() {
        let mut p = Pace::new(Duration::from_secs(8));
        p.round_trip(p.budget(), Duration::from_millis(20));
        assert_eq!(p.budget(), START_BUDGET * 16);
        let mut slow = Pace::new(Duration::from_secs(8));
        slow.round_trip(2000, Duration::from_millis(2300));
        assert_eq!(slow.budget(), START_BUDGET);
        // Budgets turn into change bytes with the ratio each direction showed.
        slow.sent(100_000, 50_000);
        assert_eq!(slow.push_bytes(true), START_BUDGET as usize);
    }
}
