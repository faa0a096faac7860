//! Criterion benchmarks of the local kernels: spmdkit's matrix product next to ndarray's default
//! `.dot` (matrixmultiply), at 1 thread and at all cores; standard-normal generation; the
//! element-wise add of the reductions. Throughputs are reported per second: FLOP for products
//! (2n³ per product), values for generation, bytes moved (24 per value) for the add.
//!
//! Run: `cargo bench --bench criterion_kernels` (with `--features blas`, "spmdkit" is the
//! system BLAS instead of the built-in kernel).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use spmdkit_apps::kernels;
use std::time::Duration;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("start threads")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn products(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let kernel = if cfg!(feature = "blas") {
        "spmdkit-blas"
    } else {
        "spmdkit"
    };
    for n in [256usize, 512, 1000, 2000] {
        let (a, b) = (kernels::generate(1, 0, n), kernels::generate(1, 1, n));
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        for threads in [1, cores()] {
            let p = pool(threads);
            let mut out = Array2::zeros((n, n));
            group.bench_function(
                BenchmarkId::new(format!("{kernel}/{threads}t"), n),
                |bench| {
                    bench.iter(|| p.install(|| kernels::multiply_into(&a, &b, &mut out, threads)))
                },
            );
        }
        group.bench_function(BenchmarkId::new("ndarray-dot/1t", n), |bench| {
            bench.iter(|| a.dot(&b))
        });
    }
    group.finish();
}

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("normals");
    group.sample_size(20);
    let side = 2000;
    group.throughput(Throughput::Elements((side * side) as u64));
    let mut m = Array2::zeros((side, side));
    for threads in [1, cores()] {
        let p = pool(threads);
        group.bench_function(
            BenchmarkId::new("generate", format!("{threads}t")),
            |bench| bench.iter(|| p.install(|| kernels::generate_into(7, 0, &mut m))),
        );
    }
    group.finish();
}

fn addition(c: &mut Criterion) {
    let mut group = c.benchmark_group("add");
    group.sample_size(20);
    let values = 4_000_000;
    group.throughput(Throughput::Bytes(24 * values as u64));
    let mut acc = vec![1.0; values];
    let x = vec![0.5; values];
    for threads in [1, cores()] {
        let p = pool(threads);
        group.bench_function(
            BenchmarkId::new("add_into", format!("{threads}t")),
            |bench| bench.iter(|| p.install(|| kernels::add_into(&mut acc, &x))),
        );
    }
    group.finish();
}

criterion_group!(kernels, products, generation, addition);
criterion_main!(kernels);
