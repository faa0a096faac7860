//! Local kernels of spmdkit, no MPI: matrix products (GFLOP/s), standard-normal generation
//! (values/s; into a warm buffer, and a pair into fresh memory as a job draws it), the copy of an
//! 8 MB partial sum and the element-wise add of the reductions (GB/s), at 1 thread and at all
//! cores.
//!
//! Run: `cargo bench --bench kernels` (add `-- --quick` for fewer sizes). Each figure is the median
//! of several repetitions after a warm-up; every product is checked against a second one computed
//! with one thread (same bits expected) before its rate is printed.

use ndarray::Array2;
use spmdkit_apps::kernels;
use std::time::Instant;

// As in the binaries: large buffers on huge pages, fresh ones zero-filled by the kernel.
#[global_allocator]
static ALLOCATOR: kernels::LargePages = kernels::LargePages;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("start threads")
}

/// The median time of `reps` runs after one warm-up run.
fn median_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--gemm-only N`: only the product at size N (used by benches/matrix-classic.sh).
    let gemm_only: Option<usize> = args
        .iter()
        .position(|a| a == "--gemm-only")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads: Vec<usize> = vec![1, cores];
    threads.dedup();
    let only = gemm_only.map(|n| vec![n]);
    let sizes: &[usize] = match &only {
        Some(n) => n,
        None if quick => &[256, 1000],
        None => &[256, 512, 1000, 1500, 2000],
    };

    println!("# spmdkit local kernels ({cores} cores)");
    println!("kernel,n,threads,seconds,rate,unit");
    for &n in sizes {
        let (a, b) = (kernels::generate(1, 0, n), kernels::generate(1, 1, n));
        let mut reference = Array2::zeros((n, n));
        pool(1).install(|| kernels::multiply_into(&a, &b, &mut reference, 1));
        for &t in &threads {
            let mut c = Array2::zeros((n, n));
            let reps = if n <= 512 { 20 } else { 5 };
            let secs =
                pool(t).install(|| median_of(reps, || kernels::multiply_into(&a, &b, &mut c, t)));
            let same = c
                .iter()
                .zip(&reference)
                .all(|(x, y): (&f64, &f64)| x.to_bits() == y.to_bits());
            assert!(
                same || cfg!(feature = "blas"),
                "product at {t} threads differs from 1 thread"
            );
            let gflops = 2.0 * (n as f64).powi(3) / secs / 1e9;
            println!("gemm,{n},{t},{secs:.6},{gflops:.1},GFLOP/s");
        }
    }
    if gemm_only.is_some() {
        return;
    }
    let side = 2828; // about 8 M values
    let values = side * side;
    let mut g = Array2::zeros((side, side));
    for &t in &threads {
        let secs = pool(t).install(|| median_of(5, || kernels::generate_into(7, 0, &mut g)));
        println!(
            "normal,{values},{t},{secs:.6},{:.1},Mvalues/s",
            values as f64 / secs / 1e6
        );
    }
    // As a job draws its matrices: a pair of 1000 x 1000 into memory fresh from the kernel,
    // which maps and zeroes each page on first touch (the rows above reuse a warm buffer).
    let n = 1000;
    for &t in &threads {
        let secs = pool(t).install(|| {
            median_of(5, || {
                for index in 0..2 {
                    let mut m = Array2::zeros((n, n));
                    kernels::generate_into(7, index, &mut m);
                    std::hint::black_box(&m);
                }
            })
        });
        println!(
            "normal-fresh,{},{t},{secs:.6},{:.1},Mvalues/s",
            2 * n * n,
            2.0 * (n * n) as f64 / secs / 1e6
        );
    }
    // The partial sum one rank sends another in the classic job: 1000 x 1000 values, 8 MB.
    let partial = 1000 * 1000;
    let from = vec![1.0f64; partial];
    let mut to = vec![0.0f64; partial];
    let secs = median_of(20, || to.copy_from_slice(std::hint::black_box(&from)));
    println!(
        "copy,{partial},1,{secs:.6},{:.1},GB/s",
        8.0 * partial as f64 / secs / 1e9
    );
    let mut m = vec![0.0; values];
    let x = vec![1.0; values];
    for &t in &threads {
        let secs = pool(t).install(|| median_of(10, || kernels::add_into(&mut m, &x)));
        // Two reads and one write of 8-byte values.
        println!(
            "add,{values},{t},{secs:.6},{:.1},GB/s",
            24.0 * values as f64 / secs / 1e9
        );
    }
}
