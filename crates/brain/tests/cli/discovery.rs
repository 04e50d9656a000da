use crate::support::Repo;

#[test]
fn found_from_a_subfolder_like_git() {
    let r = Repo::new();
    r.brain(&["add", "x"]).ok();
    let sub = r.path("tasks/pending");
    let out = r.run_in(&sub, &["list"]).ok();
    assert!(out.contains("x"));
}

#[test]
fn repo_flag_and_env() {
    let r = Repo::new();
    r.brain(&["add", "x"]).ok();
    let elsewhere = tempfile::tempdir().unwrap();
    let root = r.root.to_str().unwrap();
    assert!(
        r.run_in(elsewhere.path(), &["--repo", root, "list"])
            .ok()
            .contains("x")
    );
    let out = r
        .cmd()
        .current_dir(elsewhere.path())
        .env("BRAIN_REPO", root)
        .arg("list")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("x"));
    let err = r.run_in(elsewhere.path(), &["list"]).fails(1);
    assert!(
        err.contains("no brain repo found") && err.contains("brain init"),
        "{err}"
    );
}

#[test]
fn bad_config_names_key_and_line() {
    let r = Repo::new();
    r.write(
        "brain.toml",
        "[queue]\nstale_after = \"2h\"\nmax_attemps = 3\n",
    );
    let err = r.brain(&["list"]).fails(1);
    assert!(
        err.contains("brain.toml") && err.contains("line 3") && err.contains("max_attemps"),
        "{err}"
    );
    r.write(
        "brain.toml",
        "[agents.claude-code]\ncommand = \"claude -p\"\n",
    );
    let err = r.brain(&["status"]).fails(1);
    assert!(
        err.contains("line 2")
            && err.contains("`command` in [agents.claude-code]")
            && err.contains("a list"),
        "{err}"
    );
}
