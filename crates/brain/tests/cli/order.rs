//! The claim order index (issue 18): a claim reads `.brain/cache/pending.order` instead of
//! listing `tasks/pending/`, while the folder is as the index last saw it. These check that
//! claims still follow the queue as the folder has it, through brain's own transitions, a
//! person's changes in the folder, and broken index files.

use std::time::SystemTime;

use crate::support::Repo;

fn modified(r: &Repo, rel: &str) -> SystemTime {
    std::fs::metadata(r.path(rel)).unwrap().modified().unwrap()
}

/// Enough pending tasks for claims to keep the index, queued after every other task here.
fn fillers(r: &Repo) -> Vec<String> {
    let names: Vec<String> = (0..brain_core::store::scan::INDEX_FROM)
        .map(|i| format!("filler-{i:04}.md"))
        .collect();
    for n in &names {
        r.hand_task(
            "pending",
            n,
            "priority: low\ncreated: 2099-01-01T00:00:00Z\n",
        );
    }
    names
}

#[test]
fn claims_follow_the_queue_while_the_order_index_is_in_use() {
    let r = Repo::new();
    let fillers = fillers(&r);
    let low = r.add(&["Low", "--priority", "low"]);
    let gated = r.add(&["Gated", "--priority", "critical", "--approval"]);
    let medium = r.add(&["Medium"]);
    let theirs = r.add(&["Medium, for b", "--prefer", "b"]);
    // The first claim lists the folder and writes the index.
    let (first, token) = r.claim("a");
    assert_eq!(first, medium);
    let base = ".brain/cache/pending.order";
    let written = modified(&r, base);

    // brain's own transitions are followed, without writing the index anew.
    let high = r.add(&["High", "--priority", "high"]);
    assert_eq!(r.claim("b").0, high);
    assert_eq!(
        r.claim("b").0,
        theirs,
        "b's own task before the others of its priority"
    );
    r.brain(&["release", &first, "--token", &token]).ok();
    let (again, token) = r.claim("c");
    assert_eq!(again, medium, "released, and first in the queue again");
    r.brain(&["approve", &gated]).ok();
    assert_eq!(modified(&r, base), written, "the index was rewritten");
    assert!(
        std::fs::metadata(r.path(".brain/cache/pending.order-log"))
            .unwrap()
            .len()
            > 16,
        "the log of changes is empty"
    );
    r.brain(&["fail", &again, "--token", &token, "--error", "e", "--retry"])
        .ok();

    // A file a person drops into the folder is claimed at once.
    r.hand_task(
        "pending",
        "by-hand.md",
        "priority: critical\ncreated: 2020-01-01T00:00:00Z\n",
    );
    assert_eq!(r.claim("d").0, "by-hand");
    assert_eq!(r.claim("d").0, gated, "approved: critical and claimable");
    // One a person deletes is not claimed.
    let gone = r.add(&["Gone", "--priority", "high"]);
    std::fs::remove_file(r.path(&format!("tasks/pending/{gone}.md"))).unwrap();
    assert_eq!(r.claim("e").0, medium, "failed with --retry: pending again");
    let last = r.add(&["Last"]);
    assert_eq!(r.claim("e").0, last);
    assert_eq!(r.claim("e").0, low);

    // Broken index files are not used.
    let next = r.add(&["Next"]);
    r.write(base, "garbage");
    r.write(".brain/cache/pending.order-log", "BRNORDL1\u{1}");
    assert_eq!(r.claim("f").0, next);
    let after = r.add(&["After"]);
    std::fs::remove_dir_all(r.path(".brain/cache")).unwrap();
    assert_eq!(r.claim("f").0, after);
    assert_eq!(r.tasks_in("pending"), fillers);
}
