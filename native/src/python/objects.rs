//! Creating many Python objects quickly: ASCII strings written in place and dicts presized for
//! their final number of entries.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// A new `str` of `len` ASCII characters written by `fill` directly into the string's buffer.
///
/// `fill` must write only ASCII bytes (it receives a zeroed buffer of exactly `len` bytes).
pub fn ascii_string<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: PyUnicode_New(len, 127) returns a compact ASCII string whose `len` data bytes are
    // ours to initialise before the object is shared; we write only ASCII into them.
    unsafe {
        let ptr = ffi::PyUnicode_New(len as ffi::Py_ssize_t, 127);
        let string = Bound::from_owned_ptr_or_err(py, ptr)?;
        let data = std::slice::from_raw_parts_mut(ffi::PyUnicode_DATA(ptr) as *mut u8, len);
        data.fill(0);
        fill(data);
        Ok(string.cast_into_unchecked())
    }
}

/// An empty dict with room for `entries` entries without resizing.
///
/// Uses CPython's `_PyDict_NewPresized` when the running interpreter exports it (looked up at
/// run time, so its absence cannot break loading the module); a plain dict otherwise.
pub fn presized_dict(py: Python<'_>, entries: usize) -> Bound<'_, PyDict> {
    #[cfg(target_os = "linux")]
    {
        use std::sync::OnceLock;
        type NewPresized = unsafe extern "C" fn(ffi::Py_ssize_t) -> *mut ffi::PyObject;
        unsafe extern "C" {
            fn dlsym(
                handle: *mut std::ffi::c_void,
                symbol: *const std::ffi::c_char,
            ) -> *mut std::ffi::c_void;
        }
        static NEW_PRESIZED: OnceLock<Option<NewPresized>> = OnceLock::new();
        let new_presized = NEW_PRESIZED.get_or_init(|| {
            // SAFETY: dlsym with RTLD_DEFAULT (null on Linux) only looks the symbol up; when
            // found, it is CPython's `PyObject *_PyDict_NewPresized(Py_ssize_t)`.
            let symbol = unsafe { dlsym(std::ptr::null_mut(), c"_PyDict_NewPresized".as_ptr()) };
            (!symbol.is_null()).then(|| unsafe {
                std::mem::transmute::<*mut std::ffi::c_void, NewPresized>(symbol)
            })
        });
        if let Some(new_presized) = new_presized {
            // SAFETY: the function returns a new dict reference or null with an exception set.
            if let Ok(dict) = unsafe {
                Bound::from_owned_ptr_or_err(py, new_presized(entries as ffi::Py_ssize_t))
            } {
                return unsafe { dict.cast_into_unchecked() };
            }
        }
    }
    let _ = entries;
    PyDict::new(py)
}

/// `dict[key] = value` without pyo3's per-call conversions.
#[inline]
pub fn set_item<K, V>(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, K>,
    value: &Bound<'_, V>,
) -> PyResult<()> {
    // SAFETY: all three are valid, live objects; PyDict_SetItem takes its own references.
    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(dict.py()));
    }
    Ok(())
}
