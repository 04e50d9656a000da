//! Real processes racing for one queue (full sizes: scripts/race.sh and scripts/crash.sh).

use std::collections::HashMap;

use crate::support::Repo;

/// A claimer: claim and finish until nothing is left, printing each token it got.
const WORKER: &str = r#"
while true; do
  out=$("$BRAIN" claim --agent "$AGENT" --json) ; code=$?
  [ $code -eq 3 ] && exit 0
  [ $code -ne 0 ] && exit $code
  id=$(printf '%s' "$out" | sed -n 's/.*"id": "\([^"]*\)".*/\1/p')
  tok=$(printf '%s' "$out" | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
  echo "$tok"
  "$BRAIN" done "$id" --token "$tok" --result "by $AGENT" >/dev/null || exit 9
done
"#;

#[test]
fn sixteen_claimers_take_every_task_exactly_once() {
    let r = Repo::new();
    let n = 240;
    for i in 0..n {
        r.hand_task(
            "pending",
            &format!("task-2026-01-01-{i:04}.md"),
            "status: pending\npriority: medium\n",
        );
    }
    let children: Vec<_> = (0..16)
        .map(|p| {
            r.shell(WORKER)
                .env_remove("BRAIN_NOW")
                .env("AGENT", format!("agent-{p}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut claims: HashMap<String, usize> = HashMap::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for tok in String::from_utf8(out.stdout).unwrap().lines() {
            *claims.entry(tok.to_string()).or_default() += 1;
        }
    }
    assert_eq!(claims.len(), n, "every task claimed");
    assert!(claims.values().all(|&c| c == 1), "a task was claimed twice");
    assert!(
        claims.keys().all(|t| t.ends_with("@1")),
        "every claim was the first epoch"
    );
    assert_eq!(r.tasks_in("completed").len(), n);
    assert!(r.tasks_in("pending").is_empty() && r.tasks_in("active").is_empty());
    r.brain(&["doctor"]).ok();
}
