//! `brain completions` and `brain man`: what the shell and `man` know of brain.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use crate::output;

/// Print the completion script for a shell, to be loaded by its startup file.
///
///   bash:        brain completions bash > ~/.local/share/bash-completion/completions/brain
///   zsh:         brain completions zsh > "${fpath[1]}/_brain"
///   fish:        brain completions fish > ~/.config/fish/completions/brain.fish
///   PowerShell:  brain completions powershell | Out-String | Invoke-Expression
///                (add that line to $PROFILE to keep it)
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish.
    shell: clap_complete::Shell,
}

/// Print brain's manual page (roff) to stdout, or write one page per command into a folder.
///
///   brain man | man -l -
///   brain man --dir ~/.local/share/man/man1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// Write brain.1 and a page per command (brain-add.1, ...) into this folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut out = output::stdout();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "brain", &mut out);
    out.flush()?;
    Ok(())
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    let cmd = crate::Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| anyhow::anyhow!("writing the pages into {}: {e}", dir.display()))?;
            say!(
                "Wrote brain.1 and a page per command into {}.",
                dir.display()
            );
        }
        None => {
            let mut out = output::stdout();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}
