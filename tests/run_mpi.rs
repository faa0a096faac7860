//! `spmdkit run`, the command farm: input, slots and environment at several rank counts, the
//! journal and exact resume (also after kill -9 of the whole job), timeouts, retries, signals,
//! walltime stops, and bad input refused before anything runs.

mod common;

use common::{
    events, farm, read_journal as journal, run_bounded, tasks_file, wait_until, Scratch, HANG_LIMIT,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_template_runs_everywhere_with_its_environment() {
    let dir = Scratch::new("runenv");
    std::fs::write(
        dir.path("p.csv"),
        "x,word\n10,a\n20,b\n30,\"c,d\"\n40,e\n50,f\n60,g\n",
    )
    .unwrap();
    let template = "echo {#} {x} {word}; echo $SPMDKIT_TASK_ID $SPMDKIT_ATTEMPT $SPMDKIT_NTASKS \
                    $SPMDKIT_TASK_SEED $SPMDKIT_RANK $SPMDKIT_SLOT $OMP_NUM_THREADS; \
                    read l || echo no-stdin; pwd";
    let mut seeds: Option<HashMap<u64, String>> = None;
    for np in [0, 1, 2, 3] {
        let j = format!("j{np}.journal");
        let run = farm(
            np,
            &dir.0,
            &[
                "--command",
                template,
                "--params",
                "p.csv",
                "--slots",
                "2",
                "--cpus-per-slot",
                "1",
                "--journal",
                &j,
                "--json",
                "--quiet",
            ],
        );
        run.assert_code(0);
        let report = run.json();
        assert_eq!(
            (report["ok"].as_u64(), report["ranks"].as_u64()),
            (Some(6), Some(np.max(1) as u64))
        );
        let mut by_task = HashMap::new();
        for r in report["records"].as_array().unwrap() {
            let out: Vec<&str> = r["stdout_tail"].as_str().unwrap().lines().collect();
            let id = r["task"].as_u64().unwrap();
            let x = id * 10;
            assert!(out[0].starts_with(&format!("{id} {x} ")), "{out:?}");
            let env: Vec<&str> = out[1].split(' ').collect();
            assert_eq!(
                (env[0], env[1], env[2], env[6]),
                (id.to_string().as_str(), "1", "6", "1"),
                "{out:?}"
            );
            assert!(
                env[4].parse::<usize>().unwrap() < np.max(1)
                    && env[5].parse::<usize>().unwrap() < 2
            );
            assert_eq!(r["rank"].as_u64().unwrap().to_string(), env[4]);
            assert_eq!(out[2], "no-stdin");
            assert_eq!(Path::new(out[3]), dir.0.canonicalize().unwrap());
            by_task.insert(id, env[3].to_string());
        }
        assert_eq!(by_task.len(), 6);
        // The same task gets the same seed whatever the ranks and slots.
        match &seeds {
            Some(s) => assert_eq!(s, &by_task),
            None => seeds = Some(by_task),
        }
        // The journal: the fingerprint first, then a start before each end.
        let records = journal(&dir.path(&j));
        assert_eq!(records[0]["event"], "run");
        assert_eq!(records[0]["commands"][2][1], 4, "task 3 comes from line 4");
        assert_eq!(
            records[0]["commands"][2][2],
            "echo 3 30 c,d; ".to_string() + &template[template.find("echo $").unwrap()..]
        );
        for task in 1..=6u64 {
            let at = |e: &str| {
                records
                    .iter()
                    .position(|r| r["event"] == e && r["task"] == task)
                    .unwrap()
            };
            assert!(at("started") < at("finished"), "task {task}");
        }
        let finished = events(&records, "finished");
        assert!(finished.iter().all(|f| f["kind"] == "ok"
            && f["exit_code"] == 0
            && f["max_rss_kib"].as_u64().unwrap() > 0));
    }
    dir.done();
}

/// Starts `spmdkit run` under mpirun in its own process group, to be killed.
fn start_killable(dir: &Path, args: &[&str]) -> std::process::Child {
    let session = common::SessionDir::new();
    let mut cmd = common::mpirun_command(common::binary(), 2, &[&["run"], args].concat(), &[]);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    session.apply(&mut cmd);
    std::mem::forget(session); // the killed launcher's session dir is removed with the scratch
    cmd.spawn().expect("start mpirun")
}

use common::{descendants, kill_tree};

#[test]
fn kill_9_of_the_whole_job_at_random_moments_then_resume_is_exact() {
    let dir = Scratch::new("runkill");
    let tasks: String = (0..40)
        .map(|i| format!("sleep 0.{}; echo $SPMDKIT_TASK_ID >> ids.txt\n", i % 3 + 1))
        .collect();
    std::fs::write(dir.path("t.txt"), tasks).unwrap();
    let mut possibly: HashMap<u64, usize> = HashMap::new();
    // Pseudo-random moments, from a fixed seed so a failure can be replayed.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut resumed = false;
    for round in 0..6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = Duration::from_millis(150 + x % 500);
        let journal_arg = if resumed { "--resume" } else { "--journal" };
        let mut child = start_killable(
            &dir.0,
            &[
                "--tasks-file",
                "t.txt",
                "--slots",
                "2",
                journal_arg,
                "j.journal",
                "--json",
                "--quiet",
            ],
        );
        let started = Instant::now();
        while started.elapsed() < after && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        kill_tree(child.id());
        let _ = child.wait();
        // A start that ended before its kill printed its report: what it named counts (a later
        // start does not name it again). A report cut short by the kill is no report.
        let mut out = String::new();
        let _ = child.stdout.take().unwrap().read_to_string(&mut out);
        if let Ok(report) = serde_json::from_str::<Value>(&out) {
            named(&report, &mut possibly);
        }
        resumed = dir.path("j.journal").exists();
        eprintln!("round {round}: killed after {after:?}");
    }
    std::thread::sleep(Duration::from_millis(300)); // commands of the killed runs end
    let mut done = false;
    for _ in 0..5 {
        let args: Vec<&str> = if resumed {
            vec![
                "--tasks-file",
                "t.txt",
                "--slots",
                "2",
                "--resume",
                "j.journal",
                "--json",
                "--quiet",
            ]
        } else {
            vec![
                "--tasks-file",
                "t.txt",
                "--slots",
                "2",
                "--journal",
                "j.journal",
                "--json",
                "--quiet",
            ]
        };
        let run = farm(2, &dir.0, &args);
        resumed = true;
        named(&run.json(), &mut possibly);
        if run.code == Some(0) {
            done = true;
            break;
        }
    }
    assert!(done, "the resumes finished the run");
    // Some kill must have caught commands running, or this test would prove nothing.
    assert!(!possibly.is_empty(), "no kill caught a command running");
    eprintln!("possibly run partly: {possibly:?}");
    let records = journal(&dir.path("j.journal"));
    let mut ok: HashMap<u64, usize> = HashMap::new();
    for f in events(&records, "finished")
        .iter()
        .filter(|f| f["kind"] == "ok")
    {
        *ok.entry(f["task"].as_u64().unwrap()).or_default() += 1;
    }
    assert_eq!(ok.len(), 40);
    assert!(ok.values().all(|&n| n == 1), "one ok end per task: {ok:?}");
    let mut times: HashMap<u64, usize> = HashMap::new();
    for line in std::fs::read_to_string(dir.path("ids.txt"))
        .unwrap()
        .lines()
    {
        *times.entry(line.parse().unwrap()).or_default() += 1;
    }
    assert_eq!(times.len(), 40, "every task ran");
    for (id, n) in &times {
        assert!(
            *n == 1 || possibly.contains_key(id),
            "task {id} ran {n} times but was never reported as possibly run partly ({possibly:?})"
        );
    }
    // Named by the start that found them, not again by later ones: a task is named at most once
    // per attempt left without an end (a report that was printed marks what it named).
    let mut unended: HashMap<u64, usize> = HashMap::new();
    for s in events(&records, "started") {
        let (task, attempt) = (&s["task"], &s["attempt"]);
        let ended = records
            .iter()
            .any(|r| r["event"] == "finished" && &r["task"] == task && &r["attempt"] == attempt);
        if !ended {
            *unended.entry(task.as_u64().unwrap()).or_default() += 1;
        }
    }
    for (id, n) in &possibly {
        let left = unended.get(id).copied().unwrap_or(0);
        assert!(
            *n <= left,
            "task {id} was named {n} times with {left} attempt(s) without an end"
        );
    }
    assert_eq!(records.last().unwrap()["event"], "reported");
    dir.done();
}

/// Counts the tasks a printed report named as possibly run partly.
fn named(report: &Value, possibly: &mut HashMap<u64, usize>) {
    for id in report["possibly_run_partly"].as_array().unwrap() {
        *possibly.entry(id.as_u64().unwrap()).or_default() += 1;
    }
}

#[test]
fn a_changed_task_list_is_refused_unless_asked_and_then_only_new_tasks_run() {
    let dir = Scratch::new("runchanged");
    std::fs::write(dir.path("t.txt"), "echo a >> log\necho b >> log\n").unwrap();
    farm(1, &dir.0, &["--tasks-file", "t.txt", "--quiet"]).assert_code(0);
    std::fs::write(
        dir.path("t.txt"),
        "echo a >> log\necho B >> log\necho c >> log\n",
    )
    .unwrap();
    farm(
        1,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--resume",
            "spmdkit-run.journal",
            "--seed",
            "2",
            "--quiet",
        ],
    )
    .assert_says_once(2, "the journal's run had --seed 1, this one 2");
    let refused = farm(
        1,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--resume",
            "spmdkit-run.journal",
            "--quiet",
        ],
    );
    refused.assert_says_once(
        2,
        "task 2 is now 'echo B >> log' (line 2) but was 'echo b >> log' (line 2)",
    );
    let run = farm(
        1,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--resume",
            "spmdkit-run.journal",
            "--resume-changed",
            "--json",
            "--quiet",
        ],
    );
    run.assert_code(0);
    assert_eq!(
        (run.json()["ran"].as_u64(), run.json()["skipped"].as_u64()),
        (Some(2), Some(1))
    );
    // "echo a" was done; "echo B" and "echo c" are new.
    assert_eq!(sorted_log(&dir.path("log")), "B\na\nb\nc\n");
    dir.done();
}

fn sorted_log(path: &Path) -> String {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

#[test]
fn timeouts_retries_signals_double_forks_and_megabytes_are_recorded() {
    let dir = Scratch::new("runkinds");
    let marker = "sleep 37.123";
    let tasks = [
        "trap '' TERM; sleep 20".to_string(),
        "exit 3".into(),
        "test -e flag || { touch flag; exit 1; }".into(),
        "kill -9 $$".into(),
        format!("(setsid {marker} > /dev/null 2>&1 &); sleep 0.2 & echo forked"),
        "head -c 5000000 /dev/zero".into(),
    ];
    std::fs::write(dir.path("t.txt"), tasks.join("\n") + "\n").unwrap();
    let started = Instant::now();
    let run = farm(
        2,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "2",
            "--timeout",
            "1",
            "--kill-grace",
            "0.5",
            "--retries",
            "2",
            "--retry-on",
            "exit",
            "--json",
            "--quiet",
            "--output",
            "kinds.h5",
        ],
    );
    run.assert_code(1);
    // The HDF5 file has every attempt: 1 + 3 + 2 + 1 + 1 + 1.
    let h5 = common::read_h5(&dir.path("kinds.h5"));
    assert_eq!(h5["attrs"]["failed_count"], 3);
    let kinds: Vec<&str> = h5["datasets"]["/tasks/kind"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 9);
    assert_eq!(
        kinds.iter().copied().collect::<HashSet<_>>(),
        HashSet::from(["timeout", "exit", "ok", "signal"])
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let report = run.json();
    let records = journal(&dir.path("spmdkit-run.journal"));
    let ends = |task: u64| -> Vec<&Value> {
        records
            .iter()
            .filter(|r| r["event"] == "finished" && r["task"] == task)
            .collect()
    };
    assert_eq!(
        ends(1).len(),
        1,
        "a timeout is not retried when only exit is"
    );
    assert_eq!(ends(1)[0]["kind"], "timeout");
    let exits: Vec<u64> = ends(2)
        .iter()
        .map(|f| f["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(exits, vec![1, 2, 3]);
    assert!(ends(2)
        .iter()
        .all(|f| f["kind"] == "exit" && f["exit_code"] == 3));
    let flaky: Vec<&str> = ends(3)
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(flaky, ["exit", "ok"]);
    assert_eq!(
        (ends(4)[0]["kind"].as_str(), ends(4)[0]["signal"].as_i64()),
        (Some("signal"), Some(9))
    );
    assert!(ends(4)[0]["exit_code"].is_null());
    assert_eq!(ends(5)[0]["kind"], "ok");
    assert_eq!(ends(5)[0]["stdout_tail"], "forked\n");
    assert_eq!(ends(6)[0]["stdout_bytes"], 5_000_000);
    assert_eq!(ends(6)[0]["stdout_tail"].as_str().unwrap().len(), 4096);
    let failed: Vec<u64> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["task"].as_u64().unwrap())
        .collect();
    assert_eq!(failed, vec![1, 2, 4]);
    assert!(
        run.stderr.contains("3 of 6 task(s) failed"),
        "{}",
        run.stderr
    );
    // Nothing a task started is left, not even what it detached with setsid.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let left = String::from_utf8_lossy(&ps.stdout);
    assert!(
        !left.lines().any(|l| l.trim() == marker),
        "a detached child survived the run"
    );
    dir.done();
}

#[test]
fn sigusr1_stops_the_run_resumably_and_the_resume_completes_it() {
    let dir = Scratch::new("runusr1");
    tasks_file(
        &dir.0,
        "t.txt",
        16,
        "sleep 0.5; echo $SPMDKIT_TASK_ID >> ids.txt",
    );
    let mut child = start_killable(
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "2",
            "--grace",
            "0.2",
            "--json",
            "--quiet",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: kill has no preconditions; mpirun forwards SIGUSR1 to the ranks.
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stopped run did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(75), "{out}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(report["stopped"].as_str().unwrap().contains("SIGUSR1"));
    let left = report["not_started"].as_array().unwrap().len()
        + report["interrupted"].as_array().unwrap().len();
    assert!(left > 0 && left < 16, "{report}");
    let run = farm(
        2,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "2",
            "--resume",
            "spmdkit-run.journal",
            "--json",
            "--quiet",
        ],
    );
    run.assert_code(0);
    assert_eq!(run.json()["ran"].as_u64().unwrap() as usize, left);
    let records = journal(&dir.path("spmdkit-run.journal"));
    let ok: HashSet<u64> = events(&records, "finished")
        .iter()
        .filter(|f| f["kind"] == "ok")
        .map(|f| f["task"].as_u64().unwrap())
        .collect();
    assert_eq!(ok.len(), 16);
    dir.done();
}

#[test]
fn a_stop_file_drains_the_run_at_three_ranks_and_the_resume_completes_it() {
    let dir = Scratch::new("runstopfile");
    tasks_file(
        &dir.0,
        "t.txt",
        24,
        "sleep 0.4; echo $SPMDKIT_TASK_ID >> ids.txt",
    );
    let args = [
        "--tasks-file",
        "t.txt",
        "--slots",
        "1",
        "--grace",
        "5",
        "--stop-file",
        "stop",
        "--json",
        "--quiet",
    ];
    let mut cmd = common::mpirun_command(common::binary(), 3, &[&["run"], &args[..]].concat(), &[]);
    cmd.current_dir(&dir.0);
    let session = common::SessionDir::new();
    session.apply(&mut cmd);
    let started = common::Started::new(cmd);
    // Once some task has ended, ask for the stop the way a batch script does.
    wait_until(HANG_LIMIT, "a task ended", || {
        std::fs::read_to_string(dir.path("ids.txt")).is_ok_and(|t| !t.is_empty())
    });
    std::fs::write(dir.path("stop"), "").unwrap();
    let run = started.finish(HANG_LIMIT);
    run.assert_code(75);
    let report = run.json();
    assert!(
        report["stopped"]
            .as_str()
            .unwrap()
            .contains("'stop' appeared (--stop-file)"),
        "{report}"
    );
    // The running commands had the grace to end: none was killed, none is left unended.
    assert_eq!(report["interrupted"], serde_json::json!([]), "{report}");
    let records = journal(&dir.path("spmdkit-run.journal"));
    let ended = events(&records, "finished").len();
    assert_eq!(events(&records, "started").len(), ended);
    assert!(ended > 0 && ended < 24, "{report}");
    // The file must be gone before the resume, which then completes the rest.
    farm(
        3,
        &dir.0,
        &[&["--resume", "spmdkit-run.journal"], &args[..]].concat(),
    )
    .assert_says_once(2, "--stop-file 'stop' exists already");
    std::fs::remove_file(dir.path("stop")).unwrap();
    let again = farm(
        3,
        &dir.0,
        &[&["--resume", "spmdkit-run.journal"], &args[..]].concat(),
    );
    again.assert_code(0);
    assert_eq!(again.json()["ran"].as_u64().unwrap() as usize, 24 - ended);
    let ids = std::fs::read_to_string(dir.path("ids.txt")).unwrap();
    let mut ids: Vec<u64> = ids.lines().map(|l| l.parse().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=24).collect::<Vec<u64>>(), "each task ran once");
    dir.done();
}

#[test]
fn a_command_killed_together_with_its_rank_is_interrupted_not_failed() {
    // What Slurm does when it ends a job: the same signal to every process, the rank and its
    // commands. Alone, a command killed by SIGTERM is a failure (`signal`); killed with its
    // rank (by the signal, or exiting 128 + it as shells do) it was interrupted.
    let dir = Scratch::new("runkilledwith");
    // The exit codes each case may end with: an interrupted task makes the run resumable (75);
    // a failed one with nothing left undone is a failure (1), and whether the second task
    // started before rank 0 saw the signal is a race the test leaves open.
    // SIGINT ends the run at once: the command that exits 3 right after signalling its rank
    // either exits first (`exit`, code 3) or is ended by the run a moment before
    // (`interrupted`, SIGTERM); both are true records, and which one is a race.
    type End = (&'static str, Option<i64>);
    let cases: [(&str, &[i32], &[End]); 4] = [
        ("kill -TERM $$", &[1], &[("signal", Some(15))]),
        (
            "kill -TERM $PPID; kill -TERM $$",
            &[75],
            &[("interrupted", Some(15))],
        ),
        (
            "kill -USR1 $PPID; sleep 0.05; exit 138",
            &[75],
            &[("interrupted", None)],
        ),
        (
            "kill -INT $PPID; exit 3",
            &[1, 75],
            &[
                ("exit", None),
                ("interrupted", None),
                ("interrupted", Some(15)),
            ],
        ),
    ];
    for (np, (command, codes, ends)) in [0, 1, 0, 1].into_iter().zip(cases) {
        let journal_path = dir.path(&format!("j-{}-{np}-{}", ends[0].0, codes[0]));
        std::fs::write(dir.path("t.txt"), format!("{command}\nsleep 0.2\n")).unwrap();
        let run = farm(
            np,
            &dir.0,
            &[
                "--tasks-file",
                "t.txt",
                "--slots",
                "1",
                "--journal",
                journal_path.to_str().unwrap(),
                "--json",
                "--quiet",
            ],
        );
        assert!(
            run.code.is_some_and(|c| codes.contains(&c)),
            "{command}: exit {:?}, expected one of {codes:?}\n{}",
            run.code,
            run.stderr
        );
        let records = journal(&journal_path);
        let first = events(&records, "finished")
            .into_iter()
            .find(|f| f["task"] == 1)
            .unwrap_or_else(|| panic!("{command}: no end of task 1: {records:?}"))
            .clone();
        let end = (first["kind"].as_str().unwrap(), first["signal"].as_i64());
        assert!(
            ends.contains(&end),
            "{command}: {first}, expected one of {ends:?}"
        );
    }
    dir.done();
}

#[test]
fn lpt_plans_longest_first_from_an_earlier_journal() {
    let dir = Scratch::new("runlpt");
    std::fs::write(
        dir.path("t.txt"),
        "sleep 0.05\nsleep 0.3\nsleep 0.1\nsleep 0.2\n",
    )
    .unwrap();
    farm(
        0,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--journal",
            "first.journal",
            "--quiet",
        ],
    )
    .assert_code(0);
    farm(
        0,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--journal",
            "second.journal",
            "--schedule",
            "lpt",
            "--costs-from",
            "first.journal",
            "--quiet",
        ],
    )
    .assert_code(0);
    let order: Vec<u64> = events(&journal(&dir.path("second.journal")), "started")
        .iter()
        .map(|s| s["task"].as_u64().unwrap())
        .collect();
    assert_eq!(order, vec![2, 4, 3, 1]);
    dir.done();
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let dir = Scratch::new("runbad");
    let d = &dir.0;
    std::fs::write(dir.path("empty.txt"), "").unwrap();
    std::fs::write(dir.path("comments.txt"), "# a\n\n  # b\n").unwrap();
    std::fs::write(dir.path("nul.txt"), b"touch ran\nec\0ho\n").unwrap();
    std::fs::write(dir.path("ok.txt"), "touch ran\n").unwrap();
    std::fs::write(dir.path("p.csv"), "a,b\n1,2\n3\n").unwrap();
    std::fs::write(
        dir.path("corrupt.journal"),
        "{\"event\":\"run\",\"version\":\"0\",\"time\":1,\"cwd\":\"/x\",\"seed\":1,\"source\":\"s\",\
         \"resumed\":false,\"slots\":[1],\"commands\":[]}\nnot json\n{}\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--tasks-file", "empty.txt"], "holds no command"),
        (vec!["--tasks-file", "comments.txt"], "holds no command"),
        (vec!["--tasks-file", "nul.txt"], "line 2 holds a NUL byte"),
        (
            vec!["--command", "touch ran {c}", "--params", "p.csv"],
            "no column 'c'",
        ),
        (
            vec!["--command", "touch ran {a}", "--params", "p.csv"],
            "line 3: 1 fields where the header has 2",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--journal", "no/such/dir/j"],
            "cannot open it for writing",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--resume", "corrupt.journal"],
            "line 2 is not a journal record",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--resume", "missing.journal"],
            "missing.journal",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--timeout", "-1"],
            "--timeout",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--retry-on", "exit,oops"],
            "--retry-on oops",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--schedule", "lpt"],
            "--costs-from",
        ),
        (
            vec!["--tasks-file", "ok.txt", "--costs-from", "corrupt.journal"],
            "only --schedule lpt uses costs",
        ),
        (vec!["--tasks-file", "ok.txt", "--slots", "0"], "--slots 0"),
        (
            vec!["--tasks-file", "ok.txt", "--stop-file", "ok.txt"],
            "--stop-file 'ok.txt' exists already: remove it first",
        ),
    ];
    for np in [0, 2] {
        for (args, needle) in &cases {
            let mut all = args.clone();
            all.push("--quiet");
            farm(np, d, &all).assert_says_once(2, needle);
            assert!(!dir.path("ran").exists(), "{args:?} ran a task");
            assert!(
                !dir.path("spmdkit-run.journal").exists(),
                "{args:?} wrote a journal"
            );
        }
    }
    dir.done();
}

#[test]
fn a_deadline_or_the_slurm_end_time_stops_the_run_resumably() {
    let dir = Scratch::new("rundeadline");
    std::fs::write(dir.path("t.txt"), "sleep 0.4\n".repeat(12)).unwrap();
    let started = Instant::now();
    let run = farm(
        2,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--deadline",
            "+1.2",
            "--grace",
            "0.3",
            "--journal",
            "d.journal",
            "--json",
            "--quiet",
        ],
    );
    run.assert_code(75);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let report = run.json();
    assert!(
        report["stopped"].as_str().unwrap().contains("deadline"),
        "{report}"
    );
    let left = report["not_started"].as_array().unwrap().len()
        + report["interrupted"].as_array().unwrap().len();
    assert!(left > 0, "{report}");
    farm(
        2,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--resume",
            "d.journal",
            "--quiet",
        ],
    )
    .assert_code(0);

    // Under Slurm the job's end time is the deadline by default.
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 1.2;
    let mut cmd = Command::new(common::binary());
    cmd.args([
        "run",
        "--tasks-file",
        "t.txt",
        "--slots",
        "2",
        "--grace",
        "0.3",
        "--journal",
        "s.journal",
        "--json",
        "--quiet",
    ])
    .env("SLURM_JOB_END_TIME", format!("{end:.0}"))
    .current_dir(&dir.0);
    let run = run_bounded(cmd, HANG_LIMIT);
    run.assert_code(75);
    assert!(run.json()["stopped"].as_str().unwrap().contains("deadline"));
    dir.done();
}

#[test]
fn a_task_whose_known_duration_does_not_fit_before_the_deadline_is_not_started() {
    let dir = Scratch::new("runfit");
    std::fs::write(dir.path("t.txt"), "sleep 0.1\nsleep 2\nsleep 0.2\n").unwrap();
    farm(
        0,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "3",
            "--journal",
            "first.journal",
            "--quiet",
        ],
    )
    .assert_code(0);
    let run = farm(
        0,
        &dir.0,
        &[
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--journal",
            "second.journal",
            "--schedule",
            "lpt",
            "--costs-from",
            "first.journal",
            "--deadline",
            "+1.5",
            "--grace",
            "0",
            "--json",
            "--quiet",
        ],
    );
    run.assert_code(75);
    let report = run.json();
    assert_eq!(report["not_started"], serde_json::json!([2]), "{report}");
    assert_eq!(report["ok"], 2);
    assert!(report["stopped"]
        .as_str()
        .unwrap()
        .contains("does not fit before the deadline"));
    dir.done();
}

fn processes_with_args(args: &str) -> usize {
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.trim() == args)
        .count()
}

#[test]
fn no_command_outlives_a_killed_rank_or_a_terminated_launcher() {
    for (case, how) in ["kill -9 of a rank", "SIGTERM to mpirun"]
        .iter()
        .enumerate()
    {
        let dir = Scratch::new("runorphans");
        let marker = format!("sleep 41.{case}7");
        std::fs::write(dir.path("t.txt"), format!("{marker}\n").repeat(8)).unwrap();
        let mut child = start_killable(
            &dir.0,
            &["--tasks-file", "t.txt", "--slots", "2", "--quiet"],
        );
        wait_until(Duration::from_secs(20), "four commands running", || {
            processes_with_args(&marker) >= 4
        });
        if case == 0 {
            let rank = descendants(child.id())
                .into_iter()
                .find(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--tasks-file"))
                })
                .expect("a rank of the job");
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(rank as i32, libc::SIGKILL) };
        } else {
            // SAFETY: as above.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        wait_until(Duration::from_secs(40), "the job ended", || {
            child.try_wait().unwrap().is_some()
        });
        wait_until(
            Duration::from_secs(10),
            &format!("no command left after {how}"),
            || processes_with_args(&marker) == 0,
        );
        dir.done();
    }
}

#[test]
fn a_resume_skips_failed_tasks_unless_retry_failed() {
    let dir = Scratch::new("runretryfailed");
    std::fs::write(dir.path("t.txt"), "echo ok\nexit 3\n").unwrap();
    farm(1, &dir.0, &["--tasks-file", "t.txt", "--quiet"]).assert_code(1);
    let args = [
        "--tasks-file",
        "t.txt",
        "--resume",
        "spmdkit-run.journal",
        "--json",
        "--quiet",
    ];
    // The failure is on record: by default it is not run again, and the run still says it failed.
    let again = farm(1, &dir.0, &args);
    assert_eq!(
        (
            again.json()["ran"].as_u64(),
            again.json()["skipped"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let mut with_retry = args.to_vec();
    with_retry.push("--retry-failed");
    let retried = farm(1, &dir.0, &with_retry);
    retried.assert_code(1);
    let report = retried.json();
    assert_eq!(
        (report["ran"].as_u64(), report["skipped"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["failed"][0]["task"], 2);
    assert_eq!(report["failed"][0]["attempt"], 2, "the next attempt number");
    dir.done();
}
