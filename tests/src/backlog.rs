//! Offline backlogs for sync tests and benchmarks, made only through `Store` methods: reports
//! with Chinese descriptions whose text varies the way real ones do (so compression is not
//! flattered: about 1.9× for these), comments, a life-safety flag.

use outpost_core::{Category, EventKind, NewCase, Store, Urgency};

/// Characters drawn from: 800 of the CJK block's first ideographs, uniformly, compress
/// about as well as real Chinese reports (≈1.9× with gzip).
const HANZI_SPAN: u64 = 800;

/// `n` characters of Chinese text, different for every `seed`.
pub fn chinese_text(n: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            // xorshift: cheap and repeatable.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_u32(0x4E00 + (x % HANZI_SPAN) as u32).unwrap_or('一')
        })
        .collect()
}

/// A normal report in `grid` with a description of `chars` characters.
pub fn report(i: usize, grid: &str, chars: usize) -> NewCase {
    let mut c = NewCase::new(
        if i.is_multiple_of(3) {
            Category::FireHazard
        } else {
            Category::Waste
        },
        Urgency::Normal,
        &format!("楼道堆物 · 殷行路{}弄{}号", 600 + i % 97, i % 31),
        grid,
    );
    c.description = chinese_text(chars, i as u64 + 1);
    c
}

/// Makes `n` reports offline, in batches of one transaction each; returns their ids.
pub fn reports(store: &Store, n: usize, grid: &str, chars: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch: Vec<NewCase> = (i..n.min(i + 250))
            .map(|k| report(k, grid, chars))
            .collect();
        i += batch.len();
        ids.extend(store.create_cases(&batch).expect("create cases"));
    }
    ids
}

/// `n` comments spread over `cases`, each one change.
pub fn comments(store: &Store, cases: &[String], n: usize) {
    for k in 0..n {
        let id = &cases[k % cases.len()];
        store
            .record(
                id,
                EventKind::Comment {
                    text: chinese_text(40, 10_000 + k as u64),
                },
            )
            .expect("comment");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_varies_and_compresses_like_reports() {
        assert_ne!(chinese_text(50, 1), chinese_text(50, 2));
        assert_eq!(chinese_text(600, 7).chars().count(), 600);
        let text: String = (0..300).map(|i| chinese_text(600, i)).collect();
        let ratio =
            text.len() as f64 / outpost_core::sync::wire::gzip(text.as_bytes()).len() as f64;
        assert!((1.7..2.1).contains(&ratio), "{ratio}");
    }
}
