//! qsession's native result core: pure kernels over packed BitArray rows, probability vectors
//! and parameter bytes, plus a thin Python module (feature `python`).

pub mod bitarray;
pub mod counts;
pub mod expval;
pub mod layout;
pub mod params;
pub mod rng;
pub mod sampling;

#[cfg(feature = "python")]
mod python;
