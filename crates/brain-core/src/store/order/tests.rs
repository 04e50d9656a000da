//! The claim order index's format: order, log, torn and foreign files, windows.

use super::*;

fn key(priority: Priority, created: Option<i128>, prefer: u64) -> OrderKey {
    OrderKey {
        priority,
        created,
        prefer,
    }
}

#[test]
fn names_come_in_claim_order_with_the_log_applied_and_only_for_the_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::beside(&dir.path().join("pending.bin"));
    let s1 = Stamp::new(1, 2, 3, 4);
    let s2 = Stamp::new(1, 2, 5, 6);
    let me = 77;
    let tasks = vec![
        ("c.md", key(Priority::Medium, Some(30), 0)),
        ("a.md", key(Priority::Medium, Some(10), 0)),
        ("mine.md", key(Priority::Medium, Some(40), me)),
        ("theirs.md", key(Priority::Medium, Some(5), 9)),
        ("late.md", key(Priority::Medium, None, 0)),
        ("urgent.md", key(Priority::High, Some(50), 0)),
        ("low.md", key(Priority::Low, Some(1), me)),
    ];
    write(&files, s1, tasks);
    let names = |mine| -> Vec<String> {
        Order::load(&files, &s2)
            .or_else(|| Order::load(&files, &s1))
            .unwrap()
            .names(mine)
            .collect()
    };
    assert_eq!(
        names(me),
        [
            "urgent.md",
            "mine.md",
            "theirs.md",
            "a.md",
            "c.md",
            "late.md",
            "low.md"
        ]
    );
    assert_eq!(names(u64::MAX)[1..3], ["theirs.md", "a.md"]);
    assert!(Order::load(&files, &s2).is_none(), "another stamp");
    assert_eq!(Order::load(&files, &s1).unwrap().len(), 7);

    // A section that began at another stamp changes nothing.
    append(&files, s2, s2, &[("x.md".into(), None)]);
    assert!(Order::load(&files, &s2).is_none());
    // One that began at the index's stamp: `a` claimed, `b` added, `c` made critical.
    append(
        &files,
        s1,
        s2,
        &[
            ("a.md".into(), None),
            ("b.md".into(), Some(key(Priority::Medium, Some(20), 0))),
            ("c.md".into(), Some(key(Priority::Critical, Some(30), 0))),
            ("mine2.md".into(), Some(key(Priority::High, None, me))),
        ],
    );
    assert!(Order::load(&files, &s1).is_none(), "the stamp moved on");
    assert_eq!(Order::load(&files, &s2).unwrap().len(), 8);
    assert_eq!(
        names(me),
        [
            "c.md",
            "mine2.md",
            "urgent.md",
            "mine.md",
            "theirs.md",
            "b.md",
            "late.md",
            "low.md"
        ]
    );

    // A torn append is not used.
    let mut log = fs::read(&files.log).unwrap();
    log.extend_from_slice(&[UPSERT, 2]);
    fs::write(&files.log, &log).unwrap();
    assert!(Order::load(&files, &s2).is_none());
    // Nor a log of another index.
    write(&files, s1, vec![("a.md", key(Priority::Low, None, 0))]);
    let other = fs::read(&files.log).unwrap();
    write(&files, s1, vec![("a.md", key(Priority::Low, None, 0))]);
    fs::write(&files.log, other).unwrap();
    assert!(Order::load(&files, &s1).is_none());
}

#[test]
fn a_large_index_is_read_in_windows_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::beside(&dir.path().join("pending.bin"));
    let stamp = Stamp::new(1, 2, 3, 4);
    // Names of every length up to 200 bytes, so records cross the windows' edges.
    let names: Vec<String> = (0..6000)
        .map(|i| format!("{}{i}.md", "x".repeat(i % 200)))
        .collect();
    let tasks: Vec<(&str, OrderKey)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = Priority::ALL[i % 4];
            (n.as_str(), key(p, Some((i * 7919 % 6000) as i128), 0))
        })
        .collect();
    let mut expect = tasks.clone();
    expect.sort_by(|a, b| within((a.0, &a.1), (b.0, &b.1)));
    write(&files, stamp, tasks);
    let order = Order::load(&files, &stamp).unwrap();
    assert!(std::fs::metadata(&files.base).unwrap().len() as usize > 4 * CHUNK);
    let got: Vec<String> = order.names(u64::MAX).collect();
    let want: Vec<&str> = expect.iter().map(|(n, _)| *n).collect();
    assert_eq!(got, want);
    assert_eq!(order.len(), 6000);
    // A base cut short is not used.
    let bytes = std::fs::read(&files.base).unwrap();
    std::fs::write(&files.base, &bytes[..bytes.len() / 2]).unwrap();
    assert!(Order::load(&files, &stamp).is_none());
}
