//! Drawing shots from a probability vector with Walker/Vose alias tables.
//!
//! Shots are drawn in fixed chunks of `CHUNK` shots; chunk `c` uses random stream `c` of the
//! seed, so the result depends only on the seed, never on how many threads ran.

use rayon::prelude::*;

use crate::rng::Xoshiro256;

/// Shots per random stream (and per parallel task).
const CHUNK: usize = 1 << 14;

/// Negative entries at or above this are read as rounding noise and treated as zero.
const NEGATIVE_TOLERANCE: f64 = -1e-9;

#[derive(Debug, Clone, PartialEq)]
pub enum SamplingError {
    Empty,
    TooManyOutcomes(usize),
    NotFinite { index: usize },
    Negative { index: usize, value: f64 },
    ZeroTotal,
}

impl std::fmt::Display for SamplingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamplingError::Empty => write!(f, "probabilities must not be empty"),
            SamplingError::TooManyOutcomes(n) => {
                write!(
                    f,
                    "probabilities has {n} entries; at most 2**32 are supported"
                )
            }
            SamplingError::NotFinite { index } => {
                write!(f, "probabilities[{index}] is not finite")
            }
            SamplingError::Negative { index, value } => {
                write!(f, "probabilities[{index}] = {value} is negative")
            }
            SamplingError::ZeroTotal => write!(f, "probabilities sum to zero"),
        }
    }
}

/// An alias table: entry `i` packs the keep-threshold of column `i` (upper 32 bits, a fraction
/// of 2**32) and its alias outcome (lower 32 bits). Full columns alias themselves.
pub struct AliasTable {
    entries: Vec<u64>,
}

impl AliasTable {
    /// Build the table for `probabilities` (normalised here; need not sum to one).
    pub fn new(probabilities: &[f64]) -> Result<Self, SamplingError> {
        let n = probabilities.len();
        if n == 0 {
            return Err(SamplingError::Empty);
        }
        if n > u32::MAX as usize {
            return Err(SamplingError::TooManyOutcomes(n));
        }
        let mut total = 0.0;
        for (index, &p) in probabilities.iter().enumerate() {
            if !p.is_finite() {
                return Err(SamplingError::NotFinite { index });
            }
            if p < NEGATIVE_TOLERANCE {
                return Err(SamplingError::Negative { index, value: p });
            }
            total += p.max(0.0);
        }
        if total <= 0.0 {
            return Err(SamplingError::ZeroTotal);
        }
        let scale = n as f64 / total;
        let mut scaled: Vec<f64> = probabilities.iter().map(|&p| p.max(0.0) * scale).collect();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for (i, &q) in scaled.iter().enumerate() {
            if q < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        let mut entries: Vec<u64> = (0..n as u64).map(|i| (u32::MAX as u64) << 32 | i).collect();
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            let q = scaled[s as usize];
            let threshold = (q * 4294967296.0).floor().min(u32::MAX as f64) as u64;
            entries[s as usize] = threshold << 32 | l as u64;
            let rest = (scaled[l as usize] + q) - 1.0;
            scaled[l as usize] = rest;
            if rest < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Ok(AliasTable { entries })
    }

    /// The outcome for one uniform 64-bit draw: the high part of `r * n` picks the column and
    /// the low part is the uniform fraction compared against the column's threshold.
    #[inline]
    fn draw(&self, r: u64) -> u64 {
        let product = r as u128 * self.entries.len() as u128;
        let column = (product >> 64) as usize;
        let fraction = (product as u64 >> 32) as u32;
        let entry = self.entries[column];
        if fraction < (entry >> 32) as u32 {
            column as u64
        } else {
            entry & 0xFFFF_FFFF
        }
    }

    /// Fill `out` with shots drawn with `seed`.
    pub fn sample_into(&self, seed: u64, out: &mut [u64]) {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(chunk, shots)| {
                let mut rng = Xoshiro256::for_stream(seed, chunk as u64);
                for shot in shots.iter_mut() {
                    *shot = self.draw(rng.next_u64());
                }
            });
    }
}

/// Draw `num_shots` outcome indices from `probabilities` with `seed`.
pub fn sample_outcomes(
    probabilities: &[f64],
    num_shots: usize,
    seed: u64,
) -> Result<Vec<u64>, SamplingError> {
    let table = AliasTable::new(probabilities)?;
    let mut out = vec![0u64; num_shots];
    table.sample_into(seed, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frequencies(p: &[f64], shots: usize, seed: u64) -> Vec<f64> {
        let out = sample_outcomes(p, shots, seed).unwrap();
        let mut counts = vec![0usize; p.len()];
        for o in out {
            counts[o as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / shots as f64).collect()
    }

    #[test]
    fn frequencies_match_probabilities_within_five_sigma() {
        let p = [0.1, 0.0, 0.25, 0.05, 0.6, 0.0, 0.0, 0.0];
        let shots = 200_000;
        let f = frequencies(&p, shots, 11);
        for (pi, fi) in p.iter().zip(f) {
            let sigma = (pi * (1.0 - pi) / shots as f64).sqrt();
            assert!((pi - fi).abs() <= 5.0 * sigma + 1e-12, "{pi} vs {fi}");
        }
    }

    #[test]
    fn zero_probability_outcomes_never_appear() {
        let mut p = vec![0.0; 1 << 10];
        p[3] = 1.0;
        p[700] = 2.0;
        let out = sample_outcomes(&p, 50_000, 5).unwrap();
        assert!(out.iter().all(|&o| o == 3 || o == 700));
    }

    #[test]
    fn unnormalised_and_tiny_negative_inputs_are_accepted() {
        let p = [2.0, -1e-12, 2.0];
        let f = frequencies(&p, 100_000, 3);
        assert_eq!(f[1], 0.0);
        assert!((f[0] - 0.5).abs() < 0.01);
    }

    #[test]
    fn same_seed_same_shots_and_different_seed_different_shots() {
        let p = [0.5, 0.5];
        let a = sample_outcomes(&p, 100_000, 1).unwrap();
        assert_eq!(a, sample_outcomes(&p, 100_000, 1).unwrap());
        assert_ne!(a, sample_outcomes(&p, 100_000, 2).unwrap());
    }

    #[test]
    fn shots_do_not_depend_on_the_thread_count() {
        let p: Vec<f64> = (0..64).map(|i| i as f64).collect();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let a = one.install(|| sample_outcomes(&p, 100_000, 9).unwrap());
        let b = three.install(|| sample_outcomes(&p, 100_000, 9).unwrap());
        assert_eq!(a, b);
    }

    #[test]
    fn invalid_probabilities_are_rejected() {
        assert_eq!(AliasTable::new(&[]).err(), Some(SamplingError::Empty));
        assert_eq!(
            AliasTable::new(&[0.0, 0.0]).err(),
            Some(SamplingError::ZeroTotal)
        );
        assert_eq!(
            AliasTable::new(&[1.0, f64::NAN]).err(),
            Some(SamplingError::NotFinite { index: 1 })
        );
        assert_eq!(
            AliasTable::new(&[1.0, -0.5]).err(),
            Some(SamplingError::Negative {
                index: 1,
                value: -0.5
            })
        );
    }
}
