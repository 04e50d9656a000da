//! The shell knows brain: completion scripts that a real bash loads and completes with, and
//! manual pages.

use std::process::Command;

use crate::support::Repo;

/// Loads `brain completions bash` into a real bash and asks it to complete `brain <words>`.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source <(cat <<'BRAIN_COMPLETIONS'\n{script}\nBRAIN_COMPLETIONS\n)\n\
         COMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _brain brain \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_commands_and_their_flags() {
    let r = Repo::empty();
    let script = r.brain(&["completions", "bash"]).ok();
    let commands = bash_completes(&script, &["brain", "cl"]);
    assert_eq!(commands, ["claim"], "{commands:?}");
    let flags = bash_completes(&script, &["brain", "claim", "--cap"]);
    assert_eq!(flags, ["--capabilities"], "{flags:?}");
    let shells = bash_completes(&script, &["brain", "completions", "p"]);
    assert_eq!(shells, ["powershell"], "{shells:?}");
    // Every shell the help names has a script.
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let s = r.brain(&["completions", shell]).ok();
        assert!(
            s.contains("claim") && s.contains("--capabilities"),
            "{shell}"
        );
    }
    let err = r.brain(&["completions", "tcsh"]).fails(2);
    assert!(
        err.contains("possible values: bash, elvish, fish, powershell, zsh"),
        "{err}"
    );
}

#[test]
fn the_manual_pages_cover_every_command() {
    let r = Repo::empty();
    let page = r.brain(&["man"]).ok();
    assert!(page.contains(".TH brain 1"), "{page}");
    let dir = r.root.join("man1");
    r.brain(&["man", "--dir", dir.to_str().unwrap()]).ok();
    let help = r.brain(&["--help"]).ok();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 20, "{commands:?}");
    for c in commands {
        let page = std::fs::read_to_string(dir.join(format!("brain-{c}.1")))
            .unwrap_or_else(|e| panic!("brain-{c}.1: {e}"));
        assert!(page.contains(&format!(".TH brain-{c} 1")), "{page}");
    }
}
