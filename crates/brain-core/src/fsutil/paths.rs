//! How brain builds and prints paths, one form each on every platform (docs/ARCHITECTURE.md,
//! "Paths"): a path inside the repo is printed relative to it with `/` between its parts, as git
//! and the task files write it (`logs/runs/task-1@3.log`); an absolute path is the platform's
//! own (`C:\brain\logs\runs\task-1@3.log` on Windows), never half of each.

use std::path::{Component, Path, PathBuf};

/// `base` joined with `rel`, a `/`-separated path inside it (brain's constants such as
/// `logs/runs`), one part at a time: on Windows the result has `\` only, where
/// `base.join("logs/runs")` would give `C:\brain\logs/runs`.
pub fn join_rel(base: &Path, rel: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        p.push(part);
    }
    p
}

/// `rel` with `/` between its parts on every platform.
pub fn slashed(rel: &Path) -> String {
    let mut out = String::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => {
                if !out.is_empty() && !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str(&s.to_string_lossy());
            }
            Component::ParentDir => {
                if !out.is_empty() && !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str("..");
            }
            Component::CurDir => {}
            // An absolute path is not shortened; it is printed as the platform writes it.
            Component::Prefix(_) | Component::RootDir => {
                return super::plain_path(rel).display().to_string();
            }
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

/// `path` as brain prints it: relative to `root` with `/` when it is inside the repo, else
/// the plain absolute path.
pub fn shown_in(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => slashed(rel),
        Err(_) => super::plain_path(path).display().to_string(),
    }
}

/// The program that the first word of an agent's or notifier's `command` names, for a child
/// that runs in `dir`: a relative path with a folder in it (`agents/run.cmd`) is taken from
/// `dir` on every platform (on Windows the child would otherwise be looked for in brain's own
/// current folder, and `cmd.exe` reads a `/` in a script's path as a switch); a bare name is
/// left for PATH.
pub fn program_in(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    let has_folder = p.components().count() > 1;
    if p.is_relative() && has_folder {
        let mut out = dir.to_path_buf();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    } else {
        p.to_path_buf()
    }
}

/// The name a file has on disk when `path` was found by a name that may differ from it in
/// case (NTFS and APFS ignore case, so `TASK-1.md` opens `task-1.md`): its own spelling, or
/// `None` when that cannot be told (a symbolic link, which brain never follows, or an error).
pub fn spelling_on_disk(path: &Path) -> Option<String> {
    let md = std::fs::symlink_metadata(path).ok()?;
    if md.file_type().is_symlink() {
        return None;
    }
    let real = std::fs::canonicalize(path).ok()?;
    let name = real.file_name()?.to_str()?.to_string();
    let given = path.file_name()?.to_str()?;
    name.eq_ignore_ascii_case(given).then_some(name)
}

#[cfg(test)]
mod tests {
    use crate::fsutil::{join_rel, program_in, shown_in, slashed};
    use std::path::{MAIN_SEPARATOR, Path};

    #[test]
    fn relative_paths_print_with_slashes_and_joined_ones_use_one_separator() {
        let base = Path::new("root");
        let joined = join_rel(base, "logs/runs");
        let text = joined.display().to_string();
        assert_eq!(
            text,
            format!("root{MAIN_SEPARATOR}logs{MAIN_SEPARATOR}runs")
        );
        assert_eq!(slashed(&joined.join("t@3.log")), "root/logs/runs/t@3.log");
        assert_eq!(slashed(Path::new("./a/../b")), "a/../b");
        assert_eq!(slashed(Path::new("")), ".");
        assert_eq!(
            shown_in(base, &joined.join("x.log")),
            "logs/runs/x.log",
            "inside the repo: relative, with /"
        );
    }

    #[test]
    fn a_relative_program_with_a_folder_is_taken_from_the_childs_folder() {
        let dir = Path::new("repo");
        assert_eq!(program_in(dir, "claude"), Path::new("claude"));
        assert_eq!(
            program_in(dir, "./agents/run.cmd"),
            dir.join("agents").join("run.cmd")
        );
        assert_eq!(
            program_in(dir, "agents/run.cmd").display().to_string(),
            format!("repo{MAIN_SEPARATOR}agents{MAIN_SEPARATOR}run.cmd")
        );
    }

    #[cfg(windows)]
    #[test]
    fn windows_paths_are_printed_in_their_own_form() {
        assert_eq!(
            slashed(Path::new(r"tasks\pending\a.md")),
            "tasks/pending/a.md"
        );
        assert_eq!(
            shown_in(Path::new(r"C:\brain"), Path::new(r"D:\x\y.md")),
            r"D:\x\y.md"
        );
        assert_eq!(
            program_in(Path::new(r"C:\brain"), "agents/run.cmd"),
            Path::new(r"C:\brain\agents\run.cmd")
        );
    }
}
