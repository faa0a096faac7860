//! The HDF5 schemas of the jobs' results, written through the engine's atomic writer
//! ([`spmdkit::output::OutputTarget`]).

use crate::jobs::matrix::MatrixReport;
use crate::jobs::run::RunReport;
use crate::jobs::sleep::SleepReport;
use hdf5::types::VarLenUnicode;
use spmdkit::output::{OutputError, OutputTarget};

fn text(s: &str) -> hdf5::Result<VarLenUnicode> {
    s.parse::<VarLenUnicode>()
        .map_err(|e| hdf5::Error::from(format!("cannot store '{s}' as HDF5 text: {e}")))
}

/// Attributes of `/`, the facts of a run.
pub(crate) fn put_text_attr(file: &hdf5::File, name: &str, value: &str) -> hdf5::Result<()> {
    file.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value)?)
}

pub(crate) fn put_number_attr<T: hdf5::H5Type>(
    file: &hdf5::File,
    name: &str,
    value: T,
) -> hdf5::Result<()> {
    file.new_attr::<T>().create(name)?.write_scalar(&value)
}
/// Writes a `sleep` report: group `/tasks` with one 1-D dataset per record field (`id`,
/// `duration_s`, `rank`, `thread`, `start_s`, `end_s`, `ok`, `result`, `error`) and the run
/// facts as attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_sleep(report: &SleepReport, target: &OutputTarget) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "sleep")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "threads_per_rank", report.threads_per_rank as u64)?;
        put_number_attr(file, "workers", report.workers as u64)?;
        put_text_attr(file, "schedule", &report.schedule)?;
        put_number_attr(file, "total_sleep_s", report.total_sleep_s)?;
        put_number_attr(file, "wall_s", report.wall_s)?;
        put_number_attr(file, "makespan_s", report.makespan_s)?;
        put_number_attr(file, "ideal_s", report.ideal_s)?;
        put_number_attr(file, "failed_count", report.failed.len() as u64)?;
        put_text_attr(file, "version", &report.version)?;
        put_text_attr(file, "mpi_library", &report.mpi_library)?;

        let tasks = file.create_group("tasks")?;
        let t = &report.tasks;
        let column = |name: &str, values: &[f64]| -> hdf5::Result<()> {
            tasks.new_dataset_builder().with_data(values).create(name)?;
            Ok(())
        };
        let ints = |name: &str, values: Vec<u64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        let strings = |name: &str, values: Vec<&str>| -> hdf5::Result<()> {
            let values = values
                .into_iter()
                .map(text)
                .collect::<hdf5::Result<Vec<_>>>()?;
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        ints("id", t.iter().map(|r| r.id as u64).collect())?;
        column(
            "duration_s",
            &t.iter().map(|r| r.duration_s).collect::<Vec<_>>(),
        )?;
        ints("rank", t.iter().map(|r| r.rank as u64).collect())?;
        ints("thread", t.iter().map(|r| r.thread as u64).collect())?;
        column("start_s", &t.iter().map(|r| r.start_s).collect::<Vec<_>>())?;
        column("end_s", &t.iter().map(|r| r.end_s).collect::<Vec<_>>())?;
        let ok: Vec<u8> = t.iter().map(|r| u8::from(r.error.is_none())).collect();
        tasks
            .new_dataset_builder()
            .with_data(&ok[..])
            .create("ok")?;
        strings(
            "result",
            t.iter()
                .map(|r| r.result.as_deref().unwrap_or(""))
                .collect(),
        )?;
        strings(
            "error",
            t.iter().map(|r| r.error.as_deref().unwrap_or("")).collect(),
        )?;
        Ok(())
    })
}

/// Writes a `run` report: group `/tasks` with one 1-D dataset per field of every attempt's
/// record (`task`, `attempt`, `rank`, `slot`, `kind`, `exit_code` and `signal` with -1 for none,
/// `wall_s`, `user_s`, `sys_s`, `max_rss_kib`, `stdout_bytes`, `stderr_bytes`), in the order the
/// attempts ended, and the run facts as attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_run(report: &RunReport, target: &OutputTarget) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "run")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "tasks", report.tasks as u64)?;
        put_number_attr(file, "ok", report.ok as u64)?;
        put_number_attr(file, "failed_count", report.failed.len() as u64)?;
        put_number_attr(file, "skipped", report.skipped as u64)?;
        put_number_attr(file, "wall_s", report.wall_s)?;
        put_text_attr(file, "journal", &report.journal)?;
        put_text_attr(file, "version", &report.version)?;
        let tasks = file.create_group("tasks")?;
        let r = &report.records;
        let ints = |name: &str, values: Vec<i64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        let floats = |name: &str, values: Vec<f64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        ints("task", r.iter().map(|f| f.task as i64).collect())?;
        ints("attempt", r.iter().map(|f| i64::from(f.attempt)).collect())?;
        ints("rank", r.iter().map(|f| f.rank as i64).collect())?;
        ints("slot", r.iter().map(|f| f.slot as i64).collect())?;
        let kinds = r
            .iter()
            .map(|f| text(f.kind.name()))
            .collect::<hdf5::Result<Vec<_>>>()?;
        tasks
            .new_dataset_builder()
            .with_data(&kinds[..])
            .create("kind")?;
        ints(
            "exit_code",
            r.iter()
                .map(|f| f.exit_code.map_or(-1, i64::from))
                .collect(),
        )?;
        ints(
            "signal",
            r.iter().map(|f| f.signal.map_or(-1, i64::from)).collect(),
        )?;
        floats("wall_s", r.iter().map(|f| f.wall_s).collect())?;
        floats("user_s", r.iter().map(|f| f.user_s).collect())?;
        floats("sys_s", r.iter().map(|f| f.sys_s).collect())?;
        ints(
            "max_rss_kib",
            r.iter().map(|f| f.max_rss_kib as i64).collect(),
        )?;
        ints(
            "stdout_bytes",
            r.iter().map(|f| f.stdout_bytes as i64).collect(),
        )?;
        ints(
            "stderr_bytes",
            r.iter().map(|f| f.stderr_bytes as i64).collect(),
        )?;
        Ok(())
    })
}

/// Writes a `matrix` result: dataset `/result` (n × n f64) and, with `save_inputs`,
/// `/inputs/<i>` for every input matrix, regenerated here from (seed, i) one at a time so that
/// rank 0 never holds more than one of them. Run facts and `digest` are attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_matrix(
    report: &MatrixReport,
    result: &ndarray::Array2<f64>,
    target: &OutputTarget,
    save_inputs: bool,
) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "matrix")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "threads_per_rank", report.threads_per_rank as u64)?;
        put_number_attr(file, "count", report.count as u64)?;
        put_number_attr(file, "size", report.size as u64)?;
        put_number_attr(file, "seed", report.seed)?;
        put_text_attr(file, "reduce", &report.reduce)?;
        put_number_attr(file, "reduce_rounds", u64::from(report.reduce_rounds))?;
        put_text_attr(file, "digest", &report.result.digest)?;
        put_number_attr(file, "sum", report.result.sum)?;
        put_number_attr(file, "frobenius", report.result.frobenius)?;
        put_text_attr(file, "version", &report.version)?;
        put_text_attr(file, "mpi_library", &report.mpi_library)?;
        file.new_dataset_builder()
            .with_data(result)
            .create("result")?;
        if save_inputs {
            let inputs = file.create_group("inputs")?;
            let n = report.size;
            let mut m = ndarray::Array2::zeros((n, n));
            for i in 0..report.count {
                crate::kernels::generate_into(report.seed, i as u64, &mut m);
                inputs
                    .new_dataset_builder()
                    .with_data(&m)
                    .create(i.to_string().as_str())?;
            }
        }
        Ok(())
    })
}
