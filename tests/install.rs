//! Installing into a prefix (`scripts/install.sh`) and using it as a cluster user would: in a
//! clean shell, `module use PREFIX/modulefiles; module load spmdkit` with Lmod, `spmdkit info`,
//! `man spmdkit`, and Tab completion in bash. The install is run twice (an upgrade in place).

mod common;

use common::{run_bounded, Scratch};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LMOD_INIT: &str = "/usr/share/lmod/lmod/init/bash";

fn install(prefix: &Path) -> common::Run {
    let bin_dir = Path::new(common::binary()).parent().unwrap();
    let mut cmd = Command::new(common::repo("scripts/install.sh"));
    cmd.arg("--prefix").arg(prefix).arg("--from").arg(bin_dir);
    run_bounded(cmd, Duration::from_secs(120))
}

/// Every file under `dir` with its bytes, sorted by path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Runs `script` in bash with a clean environment (no PATH additions, no MANPATH), as a user
/// logging in fresh would.
fn clean_bash(script: &str) -> common::Run {
    let mut cmd = Command::new("/usr/bin/env");
    cmd.args([
        "-i",
        "HOME=/tmp",
        "TERM=dumb",
        "PATH=/usr/bin:/bin",
        "LANG=C.UTF-8",
    ])
    .args(["/bin/bash", "--noprofile", "--norc", "-c", script]);
    run_bounded(cmd, Duration::from_secs(120))
}

#[test]
fn install_then_module_load_man_and_completion() {
    assert!(
        Path::new(LMOD_INIT).exists(),
        "Lmod is needed ({LMOD_INIT}); scripts/setup.sh installs the lmod package"
    );
    let dir = Scratch::new("install");
    let prefix = dir.path("apps/spmdkit");
    let first = install(&prefix);
    first.assert_code(0);
    let installed = tree(&prefix);
    let names: Vec<&str> = installed.iter().map(|(n, _)| n.as_str()).collect();
    let version = env!("CARGO_PKG_VERSION");
    for want in [
        "bin/spmdkit".to_string(),
        "bin/spmdkit-bench".into(),
        "share/man/man1/spmdkit.1".into(),
        "share/man/man1/spmdkit-sleep.1".into(),
        "share/man/man1/spmdkit-run.1".into(),
        "share/man/man1/spmdkit-bench.1".into(),
        "share/man/man1/spmdkit-bench-reduce.1".into(),
        "share/bash-completion/completions/spmdkit".into(),
        "share/zsh/site-functions/_spmdkit".into(),
        "share/fish/vendor_completions.d/spmdkit.fish".into(),
        "share/spmdkit/slurm/run.sbatch".into(),
        format!("modulefiles/spmdkit/{version}"),
    ] {
        assert!(
            names.contains(&want.as_str()),
            "{want} not installed: {names:?}"
        );
    }
    // The templates run the installed binaries.
    let run_template =
        std::fs::read_to_string(prefix.join("share/spmdkit/slurm/run.sbatch")).unwrap();
    let bin = prefix.join("bin/spmdkit");
    assert!(
        run_template.contains(&format!("${{SPMDKIT:-{}}}", bin.display())),
        "{run_template}"
    );
    // Again, with a stale modulefile of another version: the same files, that one gone.
    std::fs::write(prefix.join("modulefiles/spmdkit/0.0.1"), "#%Module1.0\n").unwrap();
    install(&prefix).assert_code(0);
    assert_eq!(tree(&prefix), installed, "a second install changes nothing");

    let p = prefix.display();
    let session = clean_bash(&format!(
        "set -e; source {LMOD_INIT}; module use {p}/modulefiles; module load spmdkit; \
         command -v spmdkit; spmdkit info; \
         echo ==man; MANWIDTH=100 man -P cat spmdkit | head -40; \
         echo ==man-sleep; MANWIDTH=100 man -P cat spmdkit-sleep | grep -c durations; \
         echo ==man-ls; man -w ls; \
         echo ==templates; echo $SPMDKIT_SLURM_TEMPLATES; echo $XDG_DATA_DIRS; \
         echo ==complete; source {p}/share/bash-completion/completions/spmdkit; \
         COMP_WORDS=(spmdkit ''); COMP_CWORD=1; COMP_LINE='spmdkit '; COMP_POINT=8; \
         _spmdkit spmdkit '' spmdkit; echo \"${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(spmdkit sleep --dur); COMP_CWORD=2; _spmdkit spmdkit --dur sleep; \
         echo \"${{COMPREPLY[*]}}\""
    ));
    session.assert_code(0);
    let out = &session.stdout;
    assert!(out.starts_with(&format!("{}\n", bin.display())), "{out}");
    assert!(out.contains("MPI library"), "spmdkit info ran:\n{out}");
    let man = out.split("==man\n").nth(1).unwrap();
    assert!(
        man.contains("spmdkit") && man.contains("hang-timeout"),
        "{man}"
    );
    let sleep_page = out.split("==man-sleep\n").nth(1).unwrap();
    assert!(
        sleep_page
            .trim_start()
            .chars()
            .next()
            .unwrap()
            .is_ascii_digit(),
        "{sleep_page}"
    );
    assert!(
        out.contains("==man-ls\n/"),
        "the system's pages are still found:\n{out}"
    );
    assert!(out.contains(&format!("{p}/share/spmdkit/slurm")), "{out}");
    assert!(
        out.contains(&format!("{p}/share:/usr/local/share:/usr/share\n")),
        "{out}"
    );
    let completions = out.split("==complete\n").nth(1).unwrap();
    let mut lines = completions.lines();
    let subcommands = lines.next().unwrap();
    for sub in ["sleep", "matrix", "run", "info", "timeline"] {
        assert!(
            subcommands.split(' ').any(|w| w == sub),
            "{sub} not offered: {subcommands}"
        );
    }
    assert!(
        lines.next().unwrap().contains("--durations"),
        "{completions}"
    );
    dir.done();
}

#[test]
fn install_mistakes_are_refused_before_anything_is_written() {
    let dir = Scratch::new("badinstall");
    let script = common::repo("scripts/install.sh");
    let prefix = dir.path("p");
    let p = prefix.to_str().unwrap();
    let empty = dir.path("empty");
    std::fs::create_dir(&empty).unwrap();
    for (args, says) in [
        (vec![], "--prefix PREFIX is required"),
        (
            vec!["--prefix", p, "--frobnicate"],
            "unknown argument '--frobnicate'",
        ),
        (
            vec!["--prefix", p, "--from", empty.to_str().unwrap()],
            "is not an executable",
        ),
    ] {
        let mut cmd = Command::new(&script);
        cmd.args(&args);
        let run = run_bounded(cmd, Duration::from_secs(60));
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(!prefix.join("bin").exists(), "{args:?} installed something");
    }
    dir.done();
}
