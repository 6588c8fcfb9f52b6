//! The `qsession._native` Python module: thin wrappers that borrow numpy buffers, release the
//! GIL around the kernels, and turn kernel errors into `ValueError`.

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::layout::num_bytes;
use crate::{bitarray, expval, params, sampling};

mod bits;
mod objects;

/// Two float64 vectors (means and standard errors).
pub(crate) type Float64Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// A broadcast shape and the flat parameter and observable indices of its elements.
type BroadcastResult<'py> = (
    Bound<'py, PyTuple>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
);

pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

pub(crate) fn contiguous<'a, T>(
    slice: Result<&'a [T], numpy::AsSliceError>,
    name: &str,
) -> PyResult<&'a [T]> {
    slice.map_err(|_| value_error(format!("{name} must be a C-contiguous array")))
}

fn dims(shape: &[i64], name: &str) -> PyResult<Vec<usize>> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| value_error(format!("{name} {shape:?} has a negative dimension")))
        })
        .collect()
}

pub(crate) fn rows_array(
    py: Python<'_>,
    data: Vec<u8>,
    rows: usize,
    nbytes: usize,
) -> Bound<'_, numpy::PyArray2<u8>> {
    Array2::from_shape_vec((rows, nbytes), data)
        .expect("kernel output size")
        .into_pyarray(py)
}

#[pyfunction]
fn sample_outcomes<'py>(
    py: Python<'py>,
    probabilities: PyReadonlyArray1<'py, f64>,
    num_shots: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let p = contiguous(probabilities.as_slice(), "probabilities")?;
    let shots = py
        .detach(|| sampling::sample_outcomes(p, num_shots, seed))
        .map_err(|e| value_error(e.to_string()))?;
    Ok(PyArray1::from_vec(py, shots))
}

#[pyfunction]
fn pack_outcomes<'py>(
    py: Python<'py>,
    outcomes: PyReadonlyArray1<'py, u64>,
    positions: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, numpy::PyArray2<u8>>> {
    let o = contiguous(outcomes.as_slice(), "outcomes")?;
    let p = contiguous(positions.as_slice(), "positions")?;
    let packed = py
        .detach(|| bitarray::pack_outcomes(o, p))
        .map_err(value_error)?;
    Ok(rows_array(py, packed, o.len(), num_bytes(p.len())))
}

/// The items of a Python list, read as one-byte strings by worker threads while the calling
/// thread holds the GIL (so no Python code can change or free them meanwhile).
struct StrItems {
    list: *mut pyo3::ffi::PyObject,
}

// SAFETY: worker threads only read the list's item pointers and the items' immutable string
// fields, during a call in which the calling thread holds the GIL and runs no Python code.
unsafe impl Sync for StrItems {}

impl StrItems {
    /// The characters of item `index` if it is a str stored one byte per character.
    ///
    /// # Safety
    /// `index < len(list)`, and the GIL is held by the calling thread for the whole read.
    unsafe fn one_byte_text(&self, index: usize) -> Option<&[u8]> {
        use pyo3::ffi;
        let item = ffi::PyList_GET_ITEM(self.list, index as ffi::Py_ssize_t);
        if ffi::PyUnicode_Check(item) == 0 || ffi::PyUnicode_KIND(item) != ffi::PyUnicode_1BYTE_KIND
        {
            return None;
        }
        let len = ffi::PyUnicode_GET_LENGTH(item) as usize;
        Some(std::slice::from_raw_parts(
            ffi::PyUnicode_DATA(item) as *const u8,
            len,
        ))
    }
}

#[pyfunction]
fn hex_to_packed<'py>(
    py: Python<'py>,
    memory: &Bound<'py, PyList>,
    num_bits: usize,
) -> PyResult<Bound<'py, numpy::PyArray2<u8>>> {
    // Reads the str objects in parallel without releasing the GIL: they are Python objects.
    let items = StrItems {
        list: memory.as_ptr(),
    };
    let count = memory.len();
    // SAFETY: every index is below `count`, and we hold the GIL until the kernel returns.
    let packed =
        bitarray::hex_to_packed_with(count, num_bits, |i| unsafe { items.one_byte_text(i) })
            .map_err(|e| match memory.get_item(e.index) {
                Ok(item) if !item.is_instance_of::<pyo3::types::PyString>() => {
                    value_error(format!("memory[{}] is not a str", e.index))
                }
                _ => value_error(format!("memory[{}] is not a hexadecimal string", e.index)),
            })?;
    Ok(rows_array(py, packed, count, num_bytes(num_bits)))
}

#[pyfunction]
fn diagonal_expectations<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray2<'py, u8>,
    num_bits: usize,
    terms: Vec<String>,
    coeffs: PyReadonlyArray2<'py, f64>,
) -> PyResult<Float64Pair<'py>> {
    let nbytes = num_bytes(num_bits);
    if packed.shape()[1] != nbytes {
        return Err(value_error(format!(
            "packed has {} bytes per shot; {num_bits} bits need {nbytes}",
            packed.shape()[1]
        )));
    }
    let (num_obs, num_terms) = (coeffs.shape()[0], coeffs.shape()[1]);
    if num_terms != terms.len() {
        return Err(value_error(format!(
            "coeffs has {num_terms} columns but {} terms were given",
            terms.len()
        )));
    }
    let parsed = terms
        .iter()
        .map(|t| expval::DiagonalTerm::parse(t, num_bits))
        .collect::<Result<Vec<_>, _>>()
        .map_err(value_error)?;
    let rows = contiguous(packed.as_slice(), "packed")?;
    let c = contiguous(coeffs.as_slice(), "coeffs")?;
    let (means, errors) =
        py.detach(|| expval::diagonal_expectations(rows, num_bits, &parsed, c, num_obs));
    Ok((
        PyArray1::from_vec(py, means),
        PyArray1::from_vec(py, errors),
    ))
}

#[pyfunction]
fn decode_parameter_values<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    shape: Vec<i64>,
    num_parameters: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let shape = dims(&shape, "shape")?;
    let buffer = PyBuffer::<u8>::get(data)?;
    if !buffer.is_c_contiguous() {
        return Err(value_error("parameter data must be a contiguous buffer"));
    }
    // SAFETY: the buffer is C-contiguous, `len_bytes` long, and held until we return.
    let bytes =
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) };
    py.detach(|| params::validate_parameter_bytes(bytes, &shape, num_parameters))
        .map_err(value_error)?;
    let out_shape = if shape.is_empty() { vec![0] } else { shape };
    let aligned = (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f64>());
    if aligned && cfg!(target_endian = "little") {
        let numpy = py.import("numpy")?;
        let flat = numpy.call_method1("frombuffer", (data, numpy.getattr("float64")?))?;
        return flat.call_method1("reshape", (PyTuple::new(py, &out_shape)?,));
    }
    let mut values = vec![0.0f64; bytes.len() / 8];
    params::decode_into(bytes, &mut values);
    let array: Bound<'py, PyArrayDyn<f64>> = PyArray1::from_vec(py, values).reshape(out_shape)?;
    Ok(array.into_any())
}

#[pyfunction]
fn broadcast_indices<'py>(
    py: Python<'py>,
    param_shape: Vec<i64>,
    obs_shape: Vec<i64>,
) -> PyResult<BroadcastResult<'py>> {
    let a = dims(&param_shape, "param_shape")?;
    let b = dims(&obs_shape, "obs_shape")?;
    let (shape, ia, ib) = py
        .detach(|| params::broadcast_indices(&a, &b))
        .map_err(value_error)?;
    Ok((
        PyTuple::new(py, shape)?,
        PyArray1::from_vec(py, ia),
        PyArray1::from_vec(py, ib),
    ))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sample_outcomes, m)?)?;
    m.add_function(wrap_pyfunction!(pack_outcomes, m)?)?;
    m.add_function(wrap_pyfunction!(hex_to_packed, m)?)?;
    m.add_function(wrap_pyfunction!(diagonal_expectations, m)?)?;
    m.add_function(wrap_pyfunction!(decode_parameter_values, m)?)?;
    m.add_function(wrap_pyfunction!(broadcast_indices, m)?)?;
    bits::register(m)?;
    Ok(())
}
