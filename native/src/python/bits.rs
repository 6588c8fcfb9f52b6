//! Python wrappers for reading and reshaping packed BitArray rows: counts, integer counts,
//! bitstrings, slice_bits, concatenate_bits, postselect and batched expectation values.

use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use numpy::{PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString};

use super::objects::{ascii_string, presized_dict, set_item};
use super::{contiguous, rows_array, value_error, Float64Pair};
use crate::counts::{distinct_outcomes, Distinct};
use crate::layout::{first_byte_mask, num_bytes};
use crate::{bitarray, expval};

/// Eight '0'/'1' characters per byte value, most significant bit first.
const BYTE_CHARS: [[u8; 8]; 256] = {
    let mut table = [[b'0'; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if (b >> (7 - i)) & 1 == 1 {
                table[b][i] = b'1';
            }
            i += 1;
        }
        b += 1;
    }
    table
};

/// Write the bitstring of a packed row (most significant bit first) into `out`, which is
/// `num_bits` long; padding bits are left out.
fn write_bitstring(row: &[u8], num_bits: usize, out: &mut [u8]) {
    let head = num_bits - 8 * (row.len() - 1);
    out[..head].copy_from_slice(&BYTE_CHARS[row[0] as usize][8 - head..]);
    for (chunk, &byte) in out[head..].chunks_exact_mut(8).zip(&row[1..]) {
        chunk.copy_from_slice(&BYTE_CHARS[byte as usize]);
    }
}

/// The packed row where distinct outcome `i` first occurs.
fn first_row<'a>(packed: &'a [u8], d: &Distinct, i: usize, nbytes: usize) -> &'a [u8] {
    let r = d.first_rows[i] as usize;
    &packed[r * nbytes..(r + 1) * nbytes]
}

/// The bitstring `str` of a packed row.
fn bitstring<'py>(py: Python<'py>, row: &[u8], num_bits: usize) -> PyResult<Bound<'py, PyString>> {
    ascii_string(py, num_bits, |out| write_bitstring(row, num_bits, out))
}

/// The value of a packed row (padding cleared) as a Python int.
fn row_int<'py>(
    py: Python<'py>,
    row: &[u8],
    num_bits: usize,
    from_bytes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut bytes = row.to_vec();
    bytes[0] &= first_byte_mask(num_bits);
    match bytes.len() {
        0..=8 => Ok(bytes
            .iter()
            .fold(0u64, |v, &b| v << 8 | b as u64)
            .into_pyobject(py)?
            .into_any()),
        9..=16 => Ok(bytes
            .iter()
            .fold(0u128, |v, &b| v << 8 | b as u128)
            .into_pyobject(py)?
            .into_any()),
        _ => from_bytes.call1((PyBytes::new(py, &bytes), "big")),
    }
}

/// Rows of a `(rows, nbytes)` array whose width must fit `num_bits`.
fn rows<'a>(packed: &'a PyReadonlyArray2<'_, u8>, num_bits: usize) -> PyResult<&'a [u8]> {
    let nbytes = num_bytes(num_bits);
    if packed.shape()[1] != nbytes {
        return Err(value_error(format!(
            "packed has {} bytes per shot; {num_bits} bits need {nbytes}",
            packed.shape()[1]
        )));
    }
    if num_bits == 0 {
        return Err(value_error("num_bits must be at least 1"));
    }
    if packed.shape()[0] > u32::MAX as usize {
        return Err(value_error("at most 2**32 - 1 shots"));
    }
    contiguous(packed.as_slice(), "packed")
}

/// A dict from each distinct row's key (made by `key`) to its count, in first-occurrence order.
fn counts_dict<'py, K>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
    key: impl Fn(&[u8]) -> PyResult<Bound<'py, K>>,
) -> PyResult<Bound<'py, PyDict>> {
    let data = rows(&packed, num_bits)?;
    let d = py.detach(|| distinct_outcomes(data, num_bits, false));
    let nbytes = num_bytes(num_bits);
    let dict = presized_dict(py, d.counts.len());
    for (i, &count) in d.counts.iter().enumerate() {
        set_item(
            &dict,
            &key(first_row(data, &d, i, nbytes))?,
            &count.into_pyobject(py)?,
        )?;
    }
    Ok(dict)
}

#[pyfunction]
fn get_counts<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
) -> PyResult<Bound<'py, PyDict>> {
    counts_dict(py, packed, num_bits, |row| bitstring(py, row, num_bits))
}

#[pyfunction]
fn get_int_counts<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let from_bytes = py.get_type::<PyInt>().getattr("from_bytes")?;
    counts_dict(py, packed, num_bits, |row| {
        row_int(py, row, num_bits, &from_bytes)
    })
}

#[pyfunction]
fn get_bitstrings<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
) -> PyResult<Bound<'py, PyList>> {
    let data = rows(&packed, num_bits)?;
    let d = py.detach(|| distinct_outcomes(data, num_bits, true));
    let nbytes = num_bytes(num_bits);
    let strings = (0..d.counts.len())
        .map(|i| bitstring(py, first_row(data, &d, i, nbytes), num_bits))
        .collect::<PyResult<Vec<_>>>()?;
    let inverse = d.inverse.as_deref().unwrap_or_default();
    PyList::new(py, inverse.iter().map(|&i| &strings[i as usize]))
}

/// Bit indices as `usize`, each `< num_bits`; IndexError otherwise.
fn bit_indices(indices: &[i64], num_bits: usize) -> PyResult<Vec<usize>> {
    indices
        .iter()
        .map(|&i| {
            usize::try_from(i)
                .ok()
                .filter(|&u| u < num_bits)
                .ok_or_else(|| {
                    PyIndexError::new_err(format!(
                        "index {i} is out of bounds for the number of bits {num_bits}."
                    ))
                })
        })
        .collect()
}

#[pyfunction]
fn slice_bits<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
    indices: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let data = rows(&packed, num_bits)?;
    let idx = bit_indices(contiguous(indices.as_slice(), "indices")?, num_bits)?;
    let out = py.detach(|| bitarray::slice_bits(data, num_bits, &idx));
    Ok(rows_array(py, out, packed.shape()[0], num_bytes(idx.len())))
}

#[pyfunction]
fn concatenate_bits<'py>(
    py: Python<'py>,
    parts: Vec<PyReadonlyArray2<'py, u8>>,
    num_bits: Vec<usize>,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    if parts.len() != num_bits.len() || parts.is_empty() {
        return Err(value_error(
            "need one num_bits per part and at least one part",
        ));
    }
    let num_rows = parts[0].shape()[0];
    let mut slices: Vec<(&[u8], usize)> = Vec::with_capacity(parts.len());
    for (i, (part, &bits)) in parts.iter().zip(&num_bits).enumerate() {
        if part.shape()[0] != num_rows || part.shape()[1] != num_bytes(bits) {
            return Err(value_error(format!(
                "part {i} has shape {:?}; expected ({num_rows}, {})",
                part.shape(),
                num_bytes(bits)
            )));
        }
        slices.push((contiguous(part.as_slice(), "parts")?, bits));
    }
    let out = py.detach(|| bitarray::concatenate_bits(&slices, num_rows));
    Ok(rows_array(
        py,
        out,
        num_rows,
        num_bytes(num_bits.iter().sum()),
    ))
}

#[pyfunction]
fn postselect<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    mask: PyReadonlyArray1<'py, u8>,
    selection: PyReadonlyArray1<'py, u8>,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let nbytes = packed.shape()[1];
    let m = contiguous(mask.as_slice(), "mask")?;
    let s = contiguous(selection.as_slice(), "selection")?;
    if m.len() != nbytes || s.len() != nbytes {
        return Err(value_error(format!(
            "mask and selection must have {nbytes} bytes"
        )));
    }
    let data = contiguous(packed.as_slice(), "packed")?;
    let out = py.detach(|| bitarray::postselect(data, m, s));
    let kept = out.len().checked_div(nbytes).unwrap_or(packed.shape()[0]);
    Ok(rows_array(py, out, kept, nbytes))
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn batched_expectations<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray3<'py, u8>,
    num_bits: usize,
    terms: Vec<String>,
    offsets: PyReadonlyArray1<'py, i64>,
    term_indices: PyReadonlyArray1<'py, i64>,
    coeffs: PyReadonlyArray1<'py, f64>,
    locs: PyReadonlyArray1<'py, i64>,
) -> PyResult<Float64Pair<'py>> {
    let [num_locs, _, nbytes] = [packed.shape()[0], packed.shape()[1], packed.shape()[2]];
    if nbytes != num_bytes(num_bits) {
        return Err(value_error(format!(
            "packed has {nbytes} bytes per shot; {num_bits} bits need {}",
            num_bytes(num_bits)
        )));
    }
    let parsed = terms
        .iter()
        .map(|t| expval::DiagonalTerm::parse(t, num_bits))
        .collect::<Result<Vec<_>, _>>()
        .map_err(value_error)?;
    let offsets = contiguous(offsets.as_slice(), "offsets")?;
    let term_indices = contiguous(term_indices.as_slice(), "term_indices")?;
    let coeffs = contiguous(coeffs.as_slice(), "coeffs")?;
    let locs = contiguous(locs.as_slice(), "locs")?;
    if offsets.len() != locs.len() + 1 || term_indices.len() != coeffs.len() {
        return Err(value_error(
            "offsets must have num_obs + 1 entries and term_indices match coeffs",
        ));
    }
    let mut observables = Vec::with_capacity(locs.len());
    for o in 0..locs.len() {
        let (a, b) = (offsets[o], offsets[o + 1]);
        if a < 0 || b < a || b as usize > coeffs.len() {
            return Err(value_error(format!(
                "offsets[{o}..{}] are not a valid range",
                o + 1
            )));
        }
        let row = (a as usize..b as usize)
            .map(|k| {
                let t = term_indices[k];
                if t < 0 || t as usize >= parsed.len() {
                    return Err(value_error(format!(
                        "term_indices[{k}] = {t} is out of range"
                    )));
                }
                Ok((t as usize, coeffs[k]))
            })
            .collect::<PyResult<Vec<_>>>()?;
        observables.push(row);
    }
    let locs: Vec<usize> = locs
        .iter()
        .map(|&l| {
            usize::try_from(l)
                .ok()
                .filter(|&u| u < num_locs)
                .ok_or_else(|| value_error(format!("loc {l} is out of range")))
        })
        .collect::<PyResult<_>>()?;
    let data = contiguous(packed.as_slice(), "packed")?;
    let (means, errors) = py.detach(|| {
        expval::batched_expectations(data, num_locs, num_bits, &parsed, &observables, &locs)
    });
    Ok((
        PyArray1::from_vec(py, means),
        PyArray1::from_vec(py, errors),
    ))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(get_counts, m)?)?;
    m.add_function(wrap_pyfunction!(get_int_counts, m)?)?;
    m.add_function(wrap_pyfunction!(get_bitstrings, m)?)?;
    m.add_function(wrap_pyfunction!(slice_bits, m)?)?;
    m.add_function(wrap_pyfunction!(concatenate_bits, m)?)?;
    m.add_function(wrap_pyfunction!(postselect, m)?)?;
    m.add_function(wrap_pyfunction!(batched_expectations, m)?)?;
    Ok(())
}
