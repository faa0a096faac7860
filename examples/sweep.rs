//! A parameter sweep: 200 points (a, b) under `dynamic`, each the integral of
//! `exp(-a x) sin(b x)` over [0, 10] by the trapezoid rule; rank 0 gets every result in task
//! order, with its point, and checks a few against the closed form.
//!
//! `sweep [STEPS]` (default 20000); `mpirun -np 3 target/release/examples/sweep`.

use spmdkit::World;

fn integral(a: f64, b: f64, steps: u32) -> f64 {
    let h = 10.0 / f64::from(steps);
    let f = |x: f64| (-a * x).exp() * (b * x).sin();
    h * ((1..steps).map(|i| f(f64::from(i) * h)).sum::<f64>() + (f(0.0) + f(10.0)) / 2.0)
}

fn main() -> std::process::ExitCode {
    World::run(|job| {
        let steps: u32 = std::env::args()
            .nth(1)
            .map_or(20_000, |s| s.parse().unwrap_or(20_000));
        let points: Vec<(f64, f64)> = (0..200)
            .map(|i| (0.5 + f64::from(i % 20) / 10.0, 1.0 + f64::from(i / 20)))
            .collect();
        let run = job.run(points.clone(), |_, &(a, b)| integral(a, b, steps))?;
        if let Some(values) = run.collect(job)? {
            for (&(a, b), v) in points.iter().zip(&values).step_by(37) {
                let tail = (-10.0 * a).exp() * (a * (10.0 * b).sin() + b * (10.0 * b).cos());
                let exact = (b - tail) / (a * a + b * b);
                assert!((v - exact).abs() < 1e-4, "({a}, {b}): {v} against {exact}");
                println!("a = {a:.1}, b = {b:.0}: {v:.6}");
            }
            println!("{} points on {} ranks", values.len(), job.size());
        }
        Ok(())
    })
}
