//! Distinct outcomes of packed rows: the data behind counts, integer counts and bitstrings.
//!
//! Rows are hashed in word form with padding cleared, so rows that differ only in padding bits
//! are the same outcome. Distinct outcomes are listed in order of first occurrence (the order
//! of Qiskit's counts dictionaries). Large inputs are split by hash into partitions counted in
//! parallel (each task reads every row and keeps its share), then merged by first occurrence,
//! so the result does not depend on the thread count.

use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::layout::{load_row, num_bytes, num_words};

/// Inputs with fewer rows are counted by one task.
const PARALLEL_ROWS: usize = 1 << 16;

/// The distinct outcomes of a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distinct {
    /// Words per outcome (`ceil(num_bits / 64)`).
    pub words: usize,
    /// `counts.len() * words` words: each distinct outcome in word form (bit j = bit j % 64 of
    /// word j / 64), in order of first occurrence.
    pub outcomes: Vec<u64>,
    /// Shots per distinct outcome.
    pub counts: Vec<u64>,
    /// Per row, the index of its outcome in `outcomes` (only when asked for).
    pub inverse: Option<Vec<u32>>,
}

impl Distinct {
    /// The word form of distinct outcome `i`.
    pub fn outcome(&self, i: usize) -> &[u64] {
        &self.outcomes[i * self.words..(i + 1) * self.words]
    }
}

/// A 64-bit hash of a row in word form.
#[inline]
fn hash_words(words: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &w in words {
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The partition of a hash, from bits the hash table does not use for buckets or tags.
#[inline]
fn partition_of(hash: u64, parts: usize) -> usize {
    ((((hash >> 24) & 0xFFFF_FFFF) * parts as u64) >> 32) as usize
}

/// The distinct outcomes of one hash partition, in first-occurrence order.
struct Partition {
    outcomes: Vec<u64>,
    counts: Vec<u64>,
    first_row: Vec<usize>,
}

/// Count the rows of partition `part` of `parts`, with room reserved for `capacity` outcomes.
/// `W` is the key width in words when known at compile time (0: derive it from `num_bits`).
/// Writes `part << 32 | local index` into `inverse` for its rows.
fn count_partition<const W: usize>(
    packed: &[u8],
    num_bits: usize,
    part: usize,
    parts: usize,
    capacity: usize,
    inverse: Option<&[AtomicU64]>,
) -> Partition {
    let nbytes = num_bytes(num_bits);
    let w = if W > 0 { W } else { num_words(num_bits) };
    let mut table: HashTable<u32> = HashTable::with_capacity(capacity);
    let mut hashes: Vec<u64> = Vec::with_capacity(capacity);
    let mut p = Partition {
        outcomes: Vec::with_capacity(capacity * w),
        counts: Vec::with_capacity(capacity),
        first_row: Vec::with_capacity(capacity),
    };
    let mut key = vec![0u64; w];
    for (r, row) in packed.chunks_exact(nbytes).enumerate() {
        load_row(row, num_bits, &mut key);
        let h = hash_words(&key);
        if parts > 1 && partition_of(h, parts) != part {
            continue;
        }
        let outcomes = &p.outcomes;
        let found = table.find(h, |&s| {
            outcomes[s as usize * w..(s as usize + 1) * w] == key[..]
        });
        let slot = match found {
            Some(&s) => s as usize,
            None => {
                let s = p.counts.len();
                table.insert_unique(h, s as u32, |&s| hashes[s as usize]);
                hashes.push(h);
                p.outcomes.extend_from_slice(&key);
                p.counts.push(0);
                p.first_row.push(r);
                s
            }
        };
        p.counts[slot] += 1;
        if let Some(inv) = inverse {
            inv[r].store((part as u64) << 32 | slot as u64, Ordering::Relaxed);
        }
    }
    p
}

/// Merge partitions into one list ordered by first occurrence; returns it with, per partition,
/// the merged index of each local outcome.
fn merge(parts: Vec<Partition>, words: usize) -> (Distinct, Vec<Vec<u32>>) {
    let total: usize = parts.iter().map(|p| p.counts.len()).sum();
    let mut outcomes = Vec::with_capacity(total * words);
    let mut counts = Vec::with_capacity(total);
    let mut remap: Vec<Vec<u32>> = parts
        .iter()
        .map(|p| Vec::with_capacity(p.counts.len()))
        .collect();
    let mut heads = vec![0usize; parts.len()];
    for _ in 0..total {
        let (k, _) = parts
            .iter()
            .enumerate()
            .filter(|(k, p)| heads[*k] < p.counts.len())
            .min_by_key(|(k, p)| p.first_row[heads[*k]])
            .expect("an unmerged outcome remains");
        let i = heads[k];
        remap[k].push(counts.len() as u32);
        outcomes.extend_from_slice(&parts[k].outcomes[i * words..(i + 1) * words]);
        counts.push(parts[k].counts[i]);
        heads[k] += 1;
    }
    (
        Distinct {
            words,
            outcomes,
            counts,
            inverse: None,
        },
        remap,
    )
}

/// Merge per-chunk results (chunks in row order) into one list ordered by first occurrence;
/// returns it with, per chunk, the merged index of each local outcome.
fn merge_chunks(chunks: Vec<Partition>, words: usize) -> (Distinct, Vec<Vec<u32>>) {
    let mut table: HashTable<u32> = HashTable::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut distinct = Distinct {
        words,
        outcomes: Vec::new(),
        counts: Vec::new(),
        inverse: None,
    };
    let mut remap = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let mut local = Vec::with_capacity(chunk.counts.len());
        for (i, &count) in chunk.counts.iter().enumerate() {
            let key = &chunk.outcomes[i * words..(i + 1) * words];
            let h = hash_words(key);
            let outcomes = &distinct.outcomes;
            let found = table.find(h, |&s| {
                &outcomes[s as usize * words..(s as usize + 1) * words] == key
            });
            let slot = match found {
                Some(&s) => s as usize,
                None => {
                    let s = distinct.counts.len();
                    table.insert_unique(h, s as u32, |&s| hashes[s as usize]);
                    hashes.push(h);
                    distinct.outcomes.extend_from_slice(key);
                    distinct.counts.push(0);
                    s
                }
            };
            distinct.counts[slot] += count;
            local.push(slot as u32);
        }
        remap.push(local);
    }
    (distinct, remap)
}

fn distinct_with<const W: usize>(packed: &[u8], num_bits: usize, want_inverse: bool) -> Distinct {
    let words = num_words(num_bits);
    let nbytes = num_bytes(num_bits);
    let rows = packed.len() / nbytes;
    let inverse: Vec<AtomicU64> = if want_inverse {
        (0..rows).map(|_| AtomicU64::new(0)).collect()
    } else {
        Vec::new()
    };
    let inv = want_inverse.then_some(inverse.as_slice());
    // Few distinct outcomes in the first rows: count row chunks in parallel and merge the small
    // per-chunk lists. Many: partition by hash so that no outcome is counted twice.
    let probe = count_partition::<W>(
        &packed[..rows.min(PARALLEL_ROWS) * nbytes],
        num_bits,
        0,
        1,
        0,
        None,
    );
    let (mut distinct, remap, by_chunk) = if rows <= PARALLEL_ROWS {
        let single = count_partition::<W>(packed, num_bits, 0, 1, 0, inv);
        let (d, r) = merge(vec![single], words);
        (d, r, false)
    } else if probe.counts.len() * 16 <= PARALLEL_ROWS {
        let chunks: Vec<Partition> = packed
            .par_chunks(PARALLEL_ROWS * nbytes)
            .enumerate()
            .map(|(c, chunk)| {
                let rows_here = chunk.len() / nbytes;
                let inv_here = inv.map(|i| &i[c * PARALLEL_ROWS..c * PARALLEL_ROWS + rows_here]);
                count_partition::<W>(chunk, num_bits, 0, 1, probe.counts.len(), inv_here)
            })
            .collect();
        let (d, r) = merge_chunks(chunks, words);
        (d, r, true)
    } else {
        let parts = rayon::current_num_threads().clamp(1, 64);
        // Expect the probe's share of distinct rows throughout, split evenly over partitions.
        let expected = probe.counts.len() * (rows / PARALLEL_ROWS) / parts;
        let capacity = expected + expected / 8;
        let partitions: Vec<Partition> = (0..parts)
            .into_par_iter()
            .map(|part| count_partition::<W>(packed, num_bits, part, parts, capacity, inv))
            .collect();
        let (d, r) = merge(partitions, words);
        (d, r, false)
    };
    if want_inverse {
        distinct.inverse = Some(
            inverse
                .par_iter()
                .enumerate()
                .map(|(row, code)| {
                    let code = code.load(Ordering::Relaxed);
                    let group = if by_chunk {
                        row / PARALLEL_ROWS
                    } else {
                        (code >> 32) as usize
                    };
                    remap[group][(code & 0xFFFF_FFFF) as usize]
                })
                .collect(),
        );
    }
    distinct
}

/// The distinct outcomes of the rows of `packed` (`num_bits` bits per row), with their counts,
/// and, if `want_inverse`, each row's outcome index. Padding bits are ignored. Zero-width rows
/// (`num_bits == 0`) carry no bytes to count and give no outcomes; callers handle them.
pub fn distinct_outcomes(packed: &[u8], num_bits: usize, want_inverse: bool) -> Distinct {
    match num_words(num_bits) {
        0 => Distinct {
            words: 0,
            outcomes: vec![],
            counts: vec![],
            inverse: want_inverse.then(Vec::new),
        },
        1 => distinct_with::<1>(packed, num_bits, want_inverse),
        2 => distinct_with::<2>(packed, num_bits, want_inverse),
        3 => distinct_with::<3>(packed, num_bits, want_inverse),
        4 => distinct_with::<4>(packed, num_bits, want_inverse),
        _ => distinct_with::<0>(packed, num_bits, want_inverse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_listed_in_first_occurrence_order_with_counts() {
        let packed = [3u8, 1, 3, 0, 1, 3];
        let d = distinct_outcomes(&packed, 2, true);
        assert_eq!(d.outcomes, vec![3, 1, 0]);
        assert_eq!(d.counts, vec![3, 2, 1]);
        assert_eq!(d.inverse, Some(vec![0, 1, 0, 2, 1, 0]));
    }

    #[test]
    fn rows_differing_only_in_padding_are_one_outcome() {
        let packed = [0b0000_0101u8, 0b1110_0101, 0b0001_0101];
        let d = distinct_outcomes(&packed, 3, false);
        assert_eq!(d.counts, vec![3]);
        assert_eq!(d.inverse, None);
    }

    fn reference(packed: &[u8], nbytes: usize) -> (Vec<Vec<u8>>, Vec<u64>) {
        let mut keys: Vec<Vec<u8>> = vec![];
        let mut counts = vec![];
        for row in packed.chunks_exact(nbytes) {
            match keys.iter().position(|k| k == row) {
                Some(i) => counts[i] += 1,
                None => {
                    keys.push(row.to_vec());
                    counts.push(1)
                }
            }
        }
        (keys, counts)
    }

    #[test]
    fn chunked_counting_matches_a_sequential_reference_for_each_key_width() {
        for num_bits in [5usize, 64, 100, 150, 256, 300] {
            let nbytes = num_bytes(num_bits);
            let rows = 3 * PARALLEL_ROWS + 17;
            let mut state = 12345u64;
            let mut packed = vec![0u8; rows * nbytes];
            for row in packed.chunks_exact_mut(nbytes) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = (state >> 33) % 300; // few distinct values, spread over the row
                row[nbytes - 1] = v as u8;
                row[0] = (v % 7) as u8 & crate::layout::first_byte_mask(num_bits);
            }
            let d = distinct_outcomes(&packed, num_bits, true);
            let (keys, counts) = reference(&packed, nbytes);
            assert_eq!(d.counts, counts, "num_bits={num_bits}");
            for (i, key) in keys.iter().enumerate() {
                let mut row = vec![0u8; nbytes];
                crate::layout::store_row(d.outcome(i), &mut row);
                assert_eq!(&row, key);
            }
            let inverse = d.inverse.unwrap();
            for (r, row) in packed.chunks_exact(nbytes).enumerate() {
                assert_eq!(&keys[inverse[r] as usize], row);
            }
        }
    }

    #[test]
    fn outcomes_do_not_depend_on_the_thread_count() {
        let nbytes = 17;
        let rows = 2 * PARALLEL_ROWS + 5;
        let mut state = 99u64;
        let packed: Vec<u8> = (0..rows * nbytes)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if i % nbytes == 16 {
                    (state >> 56) as u8
                } else {
                    (state >> 63) as u8
                }
            })
            .collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| distinct_outcomes(&packed, 133, true))
        };
        let one = run(1);
        assert!(
            one.counts.len() * 16 > PARALLEL_ROWS,
            "exercises the partitioned path"
        );
        assert_eq!(one, run(3));
        assert_eq!(one, run(8));
    }

    #[test]
    fn no_rows_no_outcomes() {
        let d = distinct_outcomes(&[], 12, true);
        assert!(d.counts.is_empty() && d.inverse == Some(vec![]));
    }
}
