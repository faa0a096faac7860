//! Deterministic generation, local products and local sums of dense f64 matrices. No MPI here.
//!
//! Matrices are `n × n` [`Array2<f64>`]s in standard (row-major) layout.
//!
//! **Generation** is reproducible by construction: matrix `i` is cut into fixed chunks of
//! [`CHUNK`] values (independent of the thread count), and chunk `c` draws its standard-normal
//! values with ndarray-rand from its own Xoshiro256++ stream seeded with SplitMix64 of
//! (seed, i, c). Which rank or thread draws a chunk cannot change its values.
//!
//! **Products** use the pure-Rust `gemm` kernel (AVX-512/AVX2/NEON, chosen at run time), which splits
//! the output into blocks and keeps each element's dot product in the same order whatever the thread
//! count, so the bits do not depend on `threads` (checked in the tests). With the `blas` feature,
//! the system's `cblas_dgemm` is used instead.
//!
//! **Sums** are element-wise, so splitting them over threads cannot change a bit either.

use ndarray::Array2;
use ndarray_rand::rand_distr::{Distribution, StandardNormal};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

mod pages;
mod warm;
pub use pages::LargePages;
pub use warm::Prefaulted;

/// Values per generation chunk. Part of the reproducibility contract: changing it changes every
/// generated matrix.
pub const CHUNK: usize = 16 * 1024;

/// Values per work item of the parallel element-wise add.
const ADD_CHUNK: usize = 64 * 1024;

/// SplitMix64's output function: a well-mixed 64-bit value for each input.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 256-bit seed of chunk `chunk` of matrix `index` under `seed`.
fn chunk_seed(seed: u64, index: u64, chunk: u64) -> [u8; 32] {
    let mut state = splitmix64(seed ^ splitmix64(index ^ splitmix64(chunk)));
    let mut out = [0u8; 32];
    for word in out.chunks_exact_mut(8) {
        state = splitmix64(state);
        word.copy_from_slice(&state.to_le_bytes());
    }
    out
}

/// Matrix `index` of the run seeded `seed`: n × n standard normal values that depend only on
/// (seed, index, n), drawn in parallel on the current rayon pool.
///
/// # Examples
/// ```
/// let a = spmdkit_apps::kernels::generate(42, 3, 3);
/// assert_eq!(a, spmdkit_apps::kernels::generate(42, 3, 3));
/// assert_ne!(a, spmdkit_apps::kernels::generate(42, 4, 3));
/// ```
pub fn generate(seed: u64, index: u64, n: usize) -> Array2<f64> {
    let mut out = Array2::zeros((n, n));
    generate_into(seed, index, &mut out);
    out
}

/// Fills `out` with matrix `index` of the run seeded `seed` (as [`generate`], into a matrix the
/// caller reuses).
///
/// # Panics
/// If `out` is not in standard layout.
pub fn generate_into(seed: u64, index: u64, out: &mut Array2<f64>) {
    let values = out
        .as_slice_mut()
        .expect("generate_into needs a matrix in standard layout");
    fill_normal(seed, index, values);
}

/// The values of [`generate`], row-major, into a slice: chunk `c` holds the draws of its own
/// generator, one after another (straight into the slice, no array in between).
pub(crate) fn fill_normal(seed: u64, index: u64, out: &mut [f64]) {
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = Xoshiro256PlusPlus::from_seed(chunk_seed(seed, index, c as u64));
            for x in chunk.iter_mut() {
                *x = StandardNormal.sample(&mut rng);
            }
        });
}

/// `out = a · b` for `n × n` matrices, on `threads` threads of the current rayon pool, with the
/// same bits for any `threads` (the pure-Rust kernel; with the `blas` feature it is the system
/// BLAS's business).
///
/// # Panics
/// If the matrices are not all square of the same side.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let mut c = ndarray::Array2::zeros((2, 2));
/// spmdkit_apps::kernels::multiply_into(&a, &a, &mut c, 1);
/// assert_eq!(c, array![[7.0, 10.0], [15.0, 22.0]]);
/// ```
pub fn multiply_into(a: &Array2<f64>, b: &Array2<f64>, out: &mut Array2<f64>, threads: usize) {
    let n = a.nrows();
    let square = |m: &Array2<f64>| m.nrows() == n && m.ncols() == n;
    assert!(square(a) && square(b) && square(out), "n x n matrices");
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (a, b) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    match out.as_slice_mut() {
        Some(c) => multiply_slices(a, b, c, n, threads),
        None => {
            let mut c = vec![0.0; n * n];
            multiply_slices(a, b, &mut c, n, threads);
            out.assign(&Array2::from_shape_vec((n, n), c).expect("n x n values"));
        }
    }
}

/// `out = a · b` on row-major n × n slices.
fn multiply_slices(a: &[f64], b: &[f64], out: &mut [f64], n: usize, threads: usize) {
    if n == 0 {
        return;
    }
    kernel::gemm(a, b, out, n, threads);
}

#[cfg(not(feature = "blas"))]
mod kernel {
    pub(super) fn gemm(a: &[f64], b: &[f64], out: &mut [f64], n: usize, threads: usize) {
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        let n_i = n as isize;
        // SAFETY: the three slices hold n*n values each (checked by the caller) and `out` does not
        // alias `a` or `b` (it is a unique borrow). Strides describe row-major n x n matrices:
        // column stride 1, row stride n, so every index the kernel forms is below n*n.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                out.as_mut_ptr(),
                1,
                n_i,
                false,
                a.as_ptr(),
                1,
                n_i,
                b.as_ptr(),
                1,
                n_i,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

#[cfg(feature = "blas")]
mod kernel {
    use std::os::raw::c_int;

    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;

    #[link(name = "openblas")]
    extern "C" {
        fn cblas_dgemm(
            layout: c_int,
            transa: c_int,
            transb: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f64,
            a: *const f64,
            lda: c_int,
            b: *const f64,
            ldb: c_int,
            beta: f64,
            c: *mut f64,
            ldc: c_int,
        );
    }

    pub(super) fn gemm(a: &[f64], b: &[f64], out: &mut [f64], n: usize, _threads: usize) {
        let n = c_int::try_from(n).expect("matrix size fits the BLAS integer");
        // SAFETY: the slices hold n*n values each (checked by the caller), `out` is a unique
        // borrow, and leading dimensions of n describe row-major n x n matrices.
        unsafe {
            cblas_dgemm(
                ROW_MAJOR,
                NO_TRANS,
                NO_TRANS,
                n,
                n,
                n,
                1.0,
                a.as_ptr(),
                n,
                b.as_ptr(),
                n,
                0.0,
                out.as_mut_ptr(),
                n,
            );
        }
    }
}

/// `acc += x`, element-wise, in parallel on the current rayon pool.
///
/// # Panics
/// If the lengths differ.
pub fn add_into(acc: &mut [f64], x: &[f64]) {
    assert_eq!(acc.len(), x.len(), "matrices of the same size");
    acc.par_chunks_mut(ADD_CHUNK)
        .zip(x.par_chunks(ADD_CHUNK))
        .for_each(|(a, b)| {
            for (a, b) in a.iter_mut().zip(b) {
                *a += *b;
            }
        });
}

/// SHA-256 of the values as little-endian f64 bytes, in hex: the `digest` of a result.
pub fn digest(values: &[f64]) -> String {
    let mut hasher = Sha256::new();
    for chunk in values.chunks(8192) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|x| x.to_le_bytes()).collect();
        hasher.update(&bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sum of all values, in index order (deterministic).
pub fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

/// Frobenius norm, summing squares in index order (deterministic).
pub fn frobenius(values: &[f64]) -> f64 {
    values.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Bytes of one `n × n` f64 matrix, or `None` if that does not fit in `usize`.
pub fn matrix_bytes(n: usize) -> Option<usize> {
    n.checked_mul(n)?.checked_mul(std::mem::size_of::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    fn naive(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                for j in 0..n {
                    c[i * n + j] += a[i * n + k] * b[k * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn generation_depends_only_on_seed_and_index() {
        let n = 300; // several chunks, the last one partial
        let reference = in_pool(1, || generate(7, 2, n));
        for threads in 2..=4 {
            let again = in_pool(threads, || generate(7, 2, n));
            assert!(reference
                .iter()
                .zip(&again)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert_ne!(reference, generate(7, 3, n));
        assert_ne!(reference, generate(8, 2, n));
        let mut reused = Array2::from_elem((n, n), 9.0);
        generate_into(7, 2, &mut reused);
        assert_eq!(reused, reference);
    }

    #[test]
    fn generated_values_look_standard_normal() {
        let mut m = vec![0.0; 200_000];
        fill_normal(1, 0, &mut m);
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        let var = m.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / m.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn products_match_a_naive_reference() {
        for n in [1, 2, 7, 64, 129] {
            let (a, b) = (generate(3, 0, n), generate(3, 1, n));
            let mut c = Array2::zeros((n, n));
            multiply_into(&a, &b, &mut c, 2);
            let want = naive(a.as_slice().unwrap(), b.as_slice().unwrap(), n);
            let tol = 1e-12 * n as f64 * 10.0;
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() <= tol * (1.0 + y.abs()), "n={n}: {x} vs {y}");
            }
        }
    }

    #[cfg(not(feature = "blas"))]
    #[test]
    fn products_have_the_same_bits_for_any_thread_count() {
        let n = 515;
        let (a, b) = (generate(11, 0, n), generate(11, 1, n));
        let product = |threads: usize| {
            in_pool(threads, || {
                let mut c = Array2::zeros((n, n));
                multiply_into(&a, &b, &mut c, threads);
                c.into_raw_vec_and_offset().0
            })
        };
        let one = digest(&product(1));
        for threads in 2..=4 {
            assert_eq!(digest(&product(threads)), one, "{threads} threads");
        }
        // A transposed operand is taken in its logical order.
        let mut c = Array2::zeros((n, n));
        multiply_into(&a.t().to_owned(), &b, &mut c, 1);
        let mut d = Array2::zeros((n, n));
        let at = a.t();
        multiply_into(&at.as_standard_layout().into_owned(), &b, &mut d, 1);
        assert_eq!(c, d);
    }

    #[test]
    fn add_and_digest() {
        let mut acc = vec![1.0, 2.0, 3.0];
        add_into(&mut acc, &[0.5, 0.5, 0.5]);
        assert_eq!(acc, vec![1.5, 2.5, 3.5]);
        // SHA-256 of no bytes.
        assert_eq!(
            digest(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(sum(&acc), 7.5);
        assert!((frobenius(&[3.0, 4.0]) - 5.0).abs() < 1e-15);
        assert_eq!(matrix_bytes(1000), Some(8_000_000));
        assert_eq!(matrix_bytes(usize::MAX), None);
    }
}
