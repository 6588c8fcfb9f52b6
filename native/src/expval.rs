//! Expectation values and standard errors of diagonal observables over packed shots.
//!
//! A term is a label over `I`, `Z`, `0`, `1` (last character = bit 0). Its value on a shot is
//! the product over bits of `Z -> (-1)^bit`, `0 -> [bit == 0]`, `1 -> [bit == 1]`, `I -> 1`.
//! An observable is a real linear combination of terms.

use rayon::prelude::*;

use crate::layout::{load_row, num_bytes, num_words};

/// Shots per parallel task; partial sums are combined in chunk order, so results do not depend
/// on the thread count.
const SHOT_CHUNK: usize = 1 << 14;

/// Precomputed masks of one term, one word per 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagonalTerm {
    /// Bits whose parity sets the sign (`Z`).
    pub z: Vec<u64>,
    /// Bits with a projector (`0` or `1`).
    pub fixed: Vec<u64>,
    /// Required values of the projector bits (`1`).
    pub ones: Vec<u64>,
}

impl DiagonalTerm {
    /// Parse a label of exactly `num_bits` characters.
    pub fn parse(label: &str, num_bits: usize) -> Result<Self, String> {
        let chars = label.as_bytes();
        if chars.len() != num_bits {
            return Err(format!(
                "term '{label}' has {} characters but the bit array has {num_bits} bits",
                chars.len()
            ));
        }
        let words = num_words(num_bits);
        let mut term = DiagonalTerm {
            z: vec![0; words],
            fixed: vec![0; words],
            ones: vec![0; words],
        };
        for (bit, &c) in chars.iter().rev().enumerate() {
            let (w, m) = (bit / 64, 1u64 << (bit % 64));
            match c {
                b'I' => {}
                b'Z' => term.z[w] |= m,
                b'0' => term.fixed[w] |= m,
                b'1' => {
                    term.fixed[w] |= m;
                    term.ones[w] |= m;
                }
                _ => {
                    return Err(format!(
                        "term '{label}' is not diagonal: '{}' at bit {bit}; use only I, Z, 0, 1",
                        c as char
                    ))
                }
            }
        }
        Ok(term)
    }

    /// The term's value (-1, 0 or 1) on a shot in word form.
    #[inline]
    pub fn value(&self, shot: &[u64]) -> f64 {
        let mut parity = 0u32;
        for (i, &w) in shot.iter().enumerate() {
            if (w & self.fixed[i]) != self.ones[i] {
                return 0.0;
            }
            parity ^= (w & self.z[i]).count_ones();
        }
        if parity & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    }
}

/// Observables as sparse rows of `(term index, coefficient)`, zero coefficients dropped.
pub fn sparse_rows(coeffs: &[f64], num_obs: usize, num_terms: usize) -> Vec<Vec<(usize, f64)>> {
    (0..num_obs)
        .map(|o| {
            coeffs[o * num_terms..(o + 1) * num_terms]
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != 0.0)
                .map(|(t, &c)| (t, c))
                .collect()
        })
        .collect()
}

/// Means and standard errors, one each per observable.
pub type MeansAndErrors = (Vec<f64>, Vec<f64>);

/// Per-observable sums of `v - shift` and `(v - shift)^2` over a range of shots.
struct Moments {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

/// Evaluate every observable on one shot into `values`, using `term_values` as scratch.
#[inline]
fn evaluate_shot(
    words: &[u64],
    terms: &[&DiagonalTerm],
    observables: &[Vec<(usize, f64)>],
    term_values: &mut [f64],
    values: &mut [f64],
) {
    for (tv, term) in term_values.iter_mut().zip(terms) {
        *tv = term.value(words);
    }
    for (v, row) in values.iter_mut().zip(observables) {
        *v = row.iter().map(|&(t, c)| c * term_values[t]).sum();
    }
}

/// Mean and standard error of the mean (`sqrt(var_ddof0 / n)`) of each observable over the
/// `num_shots` rows of `packed` (`num_bits` bits per row). `coeffs` is row-major
/// `(num_obs, terms.len())`. Zero shots give NaN for both.
pub fn diagonal_expectations(
    packed: &[u8],
    num_bits: usize,
    terms: &[DiagonalTerm],
    coeffs: &[f64],
    num_obs: usize,
) -> MeansAndErrors {
    let refs: Vec<&DiagonalTerm> = terms.iter().collect();
    observable_moments(
        packed,
        num_bits,
        &refs,
        &sparse_rows(coeffs, num_obs, terms.len()),
    )
}

/// Like [`diagonal_expectations`] for a batch: `packed` holds `num_locs` blocks of equally many
/// shots, and observable `o` (a sparse row of `(term index, coefficient)`) is evaluated on the
/// shots of block `locs[o]`. Each block is read once for all of its observables.
pub fn batched_expectations(
    packed: &[u8],
    num_locs: usize,
    num_bits: usize,
    terms: &[DiagonalTerm],
    observables: &[Vec<(usize, f64)>],
    locs: &[usize],
) -> MeansAndErrors {
    let block = packed.len().checked_div(num_locs).unwrap_or(0);
    let mut by_loc: Vec<Vec<usize>> = vec![Vec::new(); num_locs];
    for (o, &loc) in locs.iter().enumerate() {
        by_loc[loc].push(o);
    }
    let results: Vec<(Vec<usize>, MeansAndErrors)> = by_loc
        .into_par_iter()
        .enumerate()
        .filter(|(_, obs)| !obs.is_empty())
        .map(|(loc, obs)| {
            // Only the terms these observables use, renumbered locally.
            let mut local: Vec<Option<usize>> = vec![None; terms.len()];
            let mut used: Vec<&DiagonalTerm> = Vec::new();
            let rows: Vec<Vec<(usize, f64)>> = obs
                .iter()
                .map(|&o| {
                    observables[o]
                        .iter()
                        .map(|&(t, c)| {
                            let l = *local[t].get_or_insert_with(|| {
                                used.push(&terms[t]);
                                used.len() - 1
                            });
                            (l, c)
                        })
                        .collect()
                })
                .collect();
            let shots = &packed[loc * block..(loc + 1) * block];
            (obs, observable_moments(shots, num_bits, &used, &rows))
        })
        .collect();
    let mut means = vec![f64::NAN; locs.len()];
    let mut errors = vec![f64::NAN; locs.len()];
    for (obs, (m, e)) in results {
        for (i, o) in obs.into_iter().enumerate() {
            means[o] = m[i];
            errors[o] = e[i];
        }
    }
    (means, errors)
}

/// Mean and standard error of each sparse observable over the rows of `packed`.
fn observable_moments(
    packed: &[u8],
    num_bits: usize,
    terms: &[&DiagonalTerm],
    observables: &[Vec<(usize, f64)>],
) -> MeansAndErrors {
    let num_obs = observables.len();
    let nbytes = num_bytes(num_bits);
    let num_shots = packed.len().checked_div(nbytes).unwrap_or(0);
    if num_shots == 0 {
        return (vec![f64::NAN; num_obs], vec![f64::NAN; num_obs]);
    }
    let words = num_words(num_bits);
    // Shift by the first shot's values so the one-pass variance does not cancel.
    let mut shift = vec![0.0; num_obs];
    {
        let mut w = vec![0u64; words];
        let mut tv = vec![0.0; terms.len()];
        load_row(&packed[..nbytes], num_bits, &mut w);
        evaluate_shot(&w, terms, observables, &mut tv, &mut shift);
    }
    let partials: Vec<Moments> = packed
        .par_chunks(SHOT_CHUNK * nbytes)
        .map(|rows| {
            let mut w = vec![0u64; words];
            let mut tv = vec![0.0; terms.len()];
            let mut v = vec![0.0; num_obs];
            let mut m = Moments {
                sum: vec![0.0; num_obs],
                sum_sq: vec![0.0; num_obs],
            };
            for row in rows.chunks_exact(nbytes) {
                load_row(row, num_bits, &mut w);
                evaluate_shot(&w, terms, observables, &mut tv, &mut v);
                for o in 0..num_obs {
                    let d = v[o] - shift[o];
                    m.sum[o] += d;
                    m.sum_sq[o] += d * d;
                }
            }
            m
        })
        .collect();
    let n = num_shots as f64;
    let mut means = vec![0.0; num_obs];
    let mut errors = vec![0.0; num_obs];
    for o in 0..num_obs {
        let (s, ss) = partials
            .iter()
            .fold((0.0, 0.0), |(s, ss), m| (s + m.sum[o], ss + m.sum_sq[o]));
        let mean_shifted = s / n;
        means[o] = shift[o] + mean_shifted;
        let variance = (ss / n - mean_shifted * mean_shifted).max(0.0);
        errors[o] = (variance / n).sqrt();
    }
    (means, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(labels: &[&str], num_bits: usize) -> Vec<DiagonalTerm> {
        labels
            .iter()
            .map(|l| DiagonalTerm::parse(l, num_bits).unwrap())
            .collect()
    }

    #[test]
    fn z_parity_projectors_and_identity() {
        // 3 bits; shots 0b001, 0b011, 0b110, 0b111
        let packed = [0b001u8, 0b011, 0b110, 0b111];
        let t = terms(&["IIZ", "ZZZ", "0II", "I1I", "III"], 3);
        let coeffs = [
            1.0, 0.0, 0.0, 0.0, 0.0, //
            0.0, 1.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 1.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, 2.0, 0.5,
        ];
        let (m, e) = diagonal_expectations(&packed, 3, &t, &coeffs, 4);
        // IIZ: -1,-1,+1,-1 -> -0.5 ; ZZZ: -1,+1,+1,-1 -> 0 ; 0II: 1,1,0,0 -> 0.5
        // 2*I1I + 0.5: 0.5, 2.5, 2.5, 2.5 -> 2.0
        assert_eq!(m, vec![-0.5, 0.0, 0.5, 2.0]);
        let var_iiz: f64 = 0.75;
        assert!((e[0] - (var_iiz / 4.0).sqrt()).abs() < 1e-15);
        assert!((e[3] - (0.75f64 / 4.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn padding_bits_do_not_change_values() {
        let clean = [0b0000_0101u8];
        let dirty = [0b1111_1101u8];
        let t = terms(&["ZZZ"], 3);
        assert_eq!(
            diagonal_expectations(&clean, 3, &t, &[1.0], 1),
            diagonal_expectations(&dirty, 3, &t, &[1.0], 1)
        );
    }

    #[test]
    fn constant_values_have_zero_standard_error() {
        let packed = vec![0u8; 1000];
        let t = terms(&["Z"], 1);
        let (m, e) = diagonal_expectations(&packed, 1, &t, &[1e8], 1);
        assert_eq!(m, vec![1e8]);
        assert_eq!(e, vec![0.0]);
    }

    #[test]
    fn wide_labels_span_words() {
        let num_bits = 130;
        let mut row = vec![0u8; 17];
        row[0] = 0b10; // bit 129
        row[16] = 1; // bit 0
        let mut label = vec![b'I'; 130];
        label[0] = b'1'; // bit 129
        label[129] = b'Z'; // bit 0
        let t = terms(&[std::str::from_utf8(&label).unwrap()], num_bits);
        let (m, _) = diagonal_expectations(&row, num_bits, &t, &[1.0], 1);
        assert_eq!(m, vec![-1.0]);
    }

    #[test]
    fn labels_must_be_diagonal_and_match_the_width() {
        assert!(DiagonalTerm::parse("XZ", 2).is_err());
        assert!(DiagonalTerm::parse("ZZZ", 2).is_err());
    }

    #[test]
    fn zero_shots_give_nan() {
        let (m, e) = diagonal_expectations(&[], 3, &terms(&["ZZZ"], 3), &[1.0], 1);
        assert!(m[0].is_nan() && e[0].is_nan());
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut state = 5u64;
        let packed: Vec<u8> = (0..3 * SHOT_CHUNK + 11)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let t = terms(&["ZZZZZZZZ", "IIII1IZ0"], 8);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| diagonal_expectations(&packed, 8, &t, &[0.3, -1.7, 2.0, 0.1], 2))
        };
        assert_eq!(run(1), run(4));
    }

    #[test]
    fn batched_observables_read_their_own_block() {
        // two blocks of two 2-bit shots: block 0 = {00, 01}, block 1 = {11, 11}
        let packed = [0b00u8, 0b01, 0b11, 0b11];
        let t = terms(&["IZ", "ZI", "11"], 2);
        let observables = vec![
            vec![(0, 1.0)],
            vec![(0, 1.0)],
            vec![(1, 2.0), (2, 1.0)],
            vec![],
        ];
        let (m, e) = batched_expectations(&packed, 2, 2, &t, &observables, &[0, 1, 1, 0]);
        assert_eq!(m, vec![0.0, -1.0, -1.0, 0.0]);
        assert_eq!(e[0], 0.5f64.sqrt());
        assert_eq!(e[1], 0.0);
    }
}
