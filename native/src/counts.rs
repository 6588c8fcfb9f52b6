//! Distinct outcomes of packed rows: the data behind counts, integer counts and bitstrings.
//!
//! Rows are compared and hashed with their padding bits cleared, so rows that differ only in
//! padding are the same outcome. Each distinct outcome is kept as the index of the row where it
//! first occurs (the input itself holds its bits), and outcomes are listed in order of first
//! occurrence, the order of Qiskit's counts dictionaries. Large inputs with many outcomes are
//! split by hash into partitions counted in parallel (each task reads every row and keeps its
//! share); inputs with few outcomes are counted in row chunks in parallel. Both merge by first
//! occurrence, so the result does not depend on the thread count.

use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::layout::{first_byte_mask, load_row, num_bytes, num_words};

/// Rows per chunk: inputs up to this size are counted by one task, larger ones probe their
/// first chunk to choose between chunked and hash-partitioned counting.
const PARALLEL_ROWS: usize = 1 << 16;

/// The distinct outcomes of a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distinct {
    /// For each distinct outcome, in order of first occurrence, the row where it first occurs.
    pub first_rows: Vec<u32>,
    /// Shots per distinct outcome.
    pub counts: Vec<u32>,
    /// Per row, the index of its outcome (only when asked for).
    pub inverse: Option<Vec<u32>>,
}

/// Packed rows of `num_bits` bits with the helpers that compare and hash them.
#[derive(Clone, Copy)]
struct Rows<'a> {
    packed: &'a [u8],
    num_bits: usize,
    nbytes: usize,
    first_mask: u8,
}

impl<'a> Rows<'a> {
    fn new(packed: &'a [u8], num_bits: usize) -> Self {
        Rows {
            packed,
            num_bits,
            nbytes: num_bytes(num_bits),
            first_mask: first_byte_mask(num_bits),
        }
    }

    #[inline]
    fn row(&self, r: usize) -> &'a [u8] {
        &self.packed[r * self.nbytes..(r + 1) * self.nbytes]
    }

    #[inline]
    fn equal(&self, a: &[u8], b: &[u8]) -> bool {
        (a[0] ^ b[0]) & self.first_mask == 0 && a[1..] == b[1..]
    }

    /// Hash of a row's bits; `W` words when known at compile time (0: computed).
    #[inline]
    fn hash<const W: usize>(&self, row: &[u8]) -> u64 {
        if W > 0 {
            let mut words = [0u64; W];
            load_row(row, self.num_bits, &mut words);
            hash_words(&words)
        } else {
            let mut words = vec![0u64; num_words(self.num_bits)];
            load_row(row, self.num_bits, &mut words);
            hash_words(&words)
        }
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

/// Distinct outcomes of part of the input, in first-occurrence order.
struct Partial {
    first_rows: Vec<u32>,
    counts: Vec<u32>,
}

/// Count rows `range` of `rows` that fall in hash partition `part` of `parts`, with room for
/// `capacity` outcomes. Writes `part << 32 | local index` into `inverse` for each counted row.
fn count_rows<const W: usize>(
    rows: Rows<'_>,
    range: std::ops::Range<usize>,
    part: usize,
    parts: usize,
    capacity: usize,
    inverse: Option<&[AtomicU64]>,
) -> Partial {
    let mut table: HashTable<u32> = HashTable::with_capacity(capacity);
    let mut p = Partial {
        first_rows: Vec::with_capacity(capacity),
        counts: Vec::with_capacity(capacity),
    };
    for r in range {
        let row = rows.row(r);
        let h = rows.hash::<W>(row);
        if parts > 1 && partition_of(h, parts) != part {
            continue;
        }
        let first_rows = &p.first_rows;
        let found = table.find(h, |&s| {
            rows.equal(rows.row(first_rows[s as usize] as usize), row)
        });
        let slot = match found {
            Some(&s) => s as usize,
            None => {
                let s = p.counts.len();
                table.insert_unique(h, s as u32, |&s| {
                    rows.hash::<W>(rows.row(first_rows[s as usize] as usize))
                });
                p.first_rows.push(r as u32);
                p.counts.push(0);
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

/// Merge hash partitions (disjoint outcomes) by first occurrence; also returns, per partition,
/// the merged index of each local outcome.
fn merge_partitions(parts: Vec<Partial>) -> (Distinct, Vec<Vec<u32>>) {
    let total: usize = parts.iter().map(|p| p.counts.len()).sum();
    let mut d = Distinct {
        first_rows: Vec::with_capacity(total),
        counts: Vec::with_capacity(total),
        inverse: None,
    };
    let mut remap: Vec<Vec<u32>> = parts
        .iter()
        .map(|p| Vec::with_capacity(p.counts.len()))
        .collect();
    let mut heads = vec![0usize; parts.len()];
    for _ in 0..total {
        let k = (0..parts.len())
            .filter(|&k| heads[k] < parts[k].counts.len())
            .min_by_key(|&k| parts[k].first_rows[heads[k]])
            .expect("an unmerged outcome remains");
        let i = heads[k];
        remap[k].push(d.counts.len() as u32);
        d.first_rows.push(parts[k].first_rows[i]);
        d.counts.push(parts[k].counts[i]);
        heads[k] += 1;
    }
    (d, remap)
}

/// Merge row chunks (in row order, outcomes possibly shared) by first occurrence; also returns,
/// per chunk, the merged index of each local outcome.
fn merge_chunks<const W: usize>(rows: Rows<'_>, chunks: Vec<Partial>) -> (Distinct, Vec<Vec<u32>>) {
    let mut table: HashTable<u32> = HashTable::new();
    let mut d = Distinct {
        first_rows: Vec::new(),
        counts: Vec::new(),
        inverse: None,
    };
    let mut remap = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let mut local = Vec::with_capacity(chunk.counts.len());
        for (&first, &count) in chunk.first_rows.iter().zip(&chunk.counts) {
            let row = rows.row(first as usize);
            let h = rows.hash::<W>(row);
            let first_rows = &d.first_rows;
            let found = table.find(h, |&s| {
                rows.equal(rows.row(first_rows[s as usize] as usize), row)
            });
            let slot = match found {
                Some(&s) => s as usize,
                None => {
                    let s = d.counts.len();
                    table.insert_unique(h, s as u32, |&s| {
                        rows.hash::<W>(rows.row(first_rows[s as usize] as usize))
                    });
                    d.first_rows.push(first);
                    d.counts.push(0);
                    s
                }
            };
            d.counts[slot] += count;
            local.push(slot as u32);
        }
        remap.push(local);
    }
    (d, remap)
}

fn distinct_with<const W: usize>(rows: Rows<'_>, count: usize, want_inverse: bool) -> Distinct {
    let inverse: Vec<AtomicU64> = if want_inverse {
        (0..count).map(|_| AtomicU64::new(0)).collect()
    } else {
        Vec::new()
    };
    let inv = want_inverse.then_some(inverse.as_slice());
    let probe = count_rows::<W>(rows, 0..count.min(PARALLEL_ROWS), 0, 1, 0, None);
    let (mut d, remap, by_chunk) = if count <= PARALLEL_ROWS {
        let (d, r) = merge_partitions(vec![count_rows::<W>(
            rows,
            0..count,
            0,
            1,
            probe.counts.len(),
            inv,
        )]);
        (d, r, false)
    } else if probe.counts.len() * 16 <= PARALLEL_ROWS {
        // Few outcomes: chunks in parallel, then a cheap merge of their short lists.
        let chunks: Vec<Partial> = (0..count.div_ceil(PARALLEL_ROWS))
            .into_par_iter()
            .map(|c| {
                let range = c * PARALLEL_ROWS..((c + 1) * PARALLEL_ROWS).min(count);
                count_rows::<W>(rows, range, 0, 1, probe.counts.len(), inv)
            })
            .collect();
        let (d, r) = merge_chunks::<W>(rows, chunks);
        (d, r, true)
    } else {
        // Many outcomes: disjoint hash partitions, sized from the probe's share of outcomes.
        let parts = rayon::current_num_threads().clamp(1, 64);
        let expected = probe.counts.len() * (count / PARALLEL_ROWS) / parts;
        let capacity = expected + expected / 8;
        let partials: Vec<Partial> = (0..parts)
            .into_par_iter()
            .map(|part| count_rows::<W>(rows, 0..count, part, parts, capacity, inv))
            .collect();
        let (d, r) = merge_partitions(partials);
        (d, r, false)
    };
    if want_inverse {
        d.inverse = Some(
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
    d
}

/// The distinct outcomes of the rows of `packed` (`num_bits` bits per row), with their counts,
/// and, if `want_inverse`, each row's outcome index. Padding bits are ignored. Zero-width rows
/// (`num_bits == 0`) carry no bytes to count and give no outcomes; callers handle them. At most
/// `u32::MAX` rows.
pub fn distinct_outcomes(packed: &[u8], num_bits: usize, want_inverse: bool) -> Distinct {
    let rows = Rows::new(packed, num_bits);
    let count = packed.len().checked_div(rows.nbytes).unwrap_or(0);
    assert!(count <= u32::MAX as usize, "at most 2**32 - 1 rows");
    match num_words(num_bits) {
        0 => Distinct {
            first_rows: vec![],
            counts: vec![],
            inverse: want_inverse.then(Vec::new),
        },
        1 => distinct_with::<1>(rows, count, want_inverse),
        2 => distinct_with::<2>(rows, count, want_inverse),
        3 => distinct_with::<3>(rows, count, want_inverse),
        4 => distinct_with::<4>(rows, count, want_inverse),
        _ => distinct_with::<0>(rows, count, want_inverse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_listed_in_first_occurrence_order_with_counts() {
        let packed = [3u8, 1, 3, 0, 1, 3];
        let d = distinct_outcomes(&packed, 2, true);
        assert_eq!(d.first_rows, vec![0, 1, 3]);
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

    fn reference(packed: &[u8], nbytes: usize) -> (Vec<Vec<u8>>, Vec<u32>) {
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
            for (key, &first) in keys.iter().zip(&d.first_rows) {
                let first = first as usize;
                assert_eq!(
                    &packed[first * nbytes..(first + 1) * nbytes],
                    key.as_slice()
                );
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
