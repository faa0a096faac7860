//! Man pages and shell completions generated from the command-line definition itself, so they
//! never drift from `--help`: `spmdkit --generate KIND` (hidden from the help, as in ripgrep).
//!
//! | KIND | prints |
//! |---|---|
//! | `man` | the man page of the program (roff) |
//! | `man:SUB` | the man page of subcommand SUB, named `PROGRAM-SUB` |
//! | `subcommands` | the subcommands' names, one a line (for installers) |
//! | `complete-bash`, `complete-zsh`, `complete-fish` | the completion script for that shell |

use clap_complete::Shell;
use std::io::Write;
use std::process::ExitCode;

/// What `--generate` accepts, for messages.
const KINDS: &str = "man, man:SUBCOMMAND, subcommands, complete-bash, complete-zsh, complete-fish";

/// Writes `kind` for the program defined by `cmd` to `out`.
///
/// # Errors
/// An unknown kind or subcommand, or a failed write.
pub fn generate(mut cmd: clap::Command, kind: &str, out: &mut dyn Write) -> Result<(), String> {
    let program = cmd.get_name().to_string();
    let io = |e: std::io::Error| format!("cannot write: {e}");
    let shell = |shell: Shell, cmd: &mut clap::Command, out: &mut dyn Write| {
        clap_complete::generate(shell, cmd, program.clone(), out);
        Ok(())
    };
    match kind {
        "man" => clap_mangen::Man::new(cmd).render(out).map_err(io),
        "subcommands" => {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                writeln!(out, "{}", sub.get_name()).map_err(io)?;
            }
            Ok(())
        }
        "complete-bash" => shell(Shell::Bash, &mut cmd, out),
        "complete-zsh" => shell(Shell::Zsh, &mut cmd, out),
        "complete-fish" => shell(Shell::Fish, &mut cmd, out),
        _ => match kind.strip_prefix("man:") {
            Some(name) => {
                let sub = cmd
                    .find_subcommand(name)
                    .cloned()
                    .ok_or_else(|| format!("'{name}' is not a subcommand of {program}"))?;
                // The page's name: `spmdkit-sleep`, as `man spmdkit-sleep` finds it.
                let title: &'static str = Box::leak(format!("{program}-{name}").into_boxed_str());
                let sub = sub.name(title).bin_name(format!("{program} {name}"));
                clap_mangen::Man::new(sub).render(out).map_err(io)
            }
            None => Err(format!("--generate '{kind}': expected one of {KINDS}")),
        },
    }
}

/// When the program was started as `PROGRAM --generate KIND`, prints it on stdout and returns the
/// exit code (0, or 2 with a message); otherwise `None`. Call it first in `main`, before MPI.
pub fn intercept(cmd: impl FnOnce() -> clap::Command) -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("--generate") {
        return None;
    }
    let cmd = cmd();
    let Some(kind) = args.get(1).filter(|_| args.len() == 2) else {
        eprintln!("{}: error: --generate takes one of {KINDS}", cmd.get_name());
        return Some(ExitCode::from(2));
    };
    let program = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    match generate(cmd, kind, &mut out).and_then(|()| out.flush().map_err(|e| e.to_string())) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{program}: error: {e}");
            Some(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn text(kind: &str) -> Result<String, String> {
        let mut out = Vec::new();
        generate(crate::cli::Cli::command(), kind, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn pages_and_completions_come_from_the_cli() {
        let man = text("man").unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH spmdkit"),
            "{man}"
        );
        assert!(man.contains("sleep") && man.contains("hang\\-timeout"));
        let sleep = text("man:sleep").unwrap();
        assert!(sleep.contains(".TH spmdkit-sleep"), "{sleep}");
        assert!(sleep.contains("durations"));
        assert_eq!(
            text("subcommands").unwrap(),
            "sleep\nmatrix\nrun\ninfo\ntimeline\n"
        );
        let bash = text("complete-bash").unwrap();
        assert!(bash.contains("complete -F") && bash.contains("matrix"));
        assert!(text("complete-zsh").unwrap().contains("#compdef spmdkit"));
        assert!(text("complete-fish")
            .unwrap()
            .contains("complete -c spmdkit"));
        assert!(text("man:frobnicate")
            .unwrap_err()
            .contains("not a subcommand"));
        assert!(text("pdf").unwrap_err().contains("expected one of"));
    }
}
