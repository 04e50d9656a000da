//! Model-based property test of the lifecycle: random sequences of operations run against the
//! real store in a temporary folder and against a small in-memory model; after every step the
//! two must agree, and the invariants hold: every id in exactly one folder, epochs never
//! decrease, attempts within bounds, gated tasks never claimed before approval.

use std::collections::HashMap;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use brain_core::human::questions;
use brain_core::queue::{Claimant, Token};
use brain_core::task::newtask::NewTask;
use brain_core::{Repo, State};

/// Small, so that random sequences often use up a task's attempts.
const MAX_ATTEMPTS: u32 = 2;
const STALE_SECS: i64 = 2 * 3600;
const AGENTS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Add {
        gated: bool,
    },
    Claim {
        agent: usize,
    },
    Heartbeat {
        pick: usize,
        stale: bool,
    },
    Done {
        pick: usize,
        stale: bool,
    },
    Fail {
        pick: usize,
        retry: bool,
        stale: bool,
    },
    Release {
        pick: usize,
    },
    Wait {
        minutes: i64,
    },
    Reclaim,
    Approve {
        pick: usize,
    },
    Deny {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|gated| Op::Add { gated }),
        4 => (0..AGENTS.len()).prop_map(|agent| Op::Claim { agent }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, stale)| Op::Heartbeat { pick, stale }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, stale)| Op::Done { pick, stale }),
        3 => (any::<usize>(), any::<bool>(), any::<bool>()).prop_map(|(pick, retry, stale)| Op::Fail { pick, retry, stale }),
        1 => any::<usize>().prop_map(|pick| Op::Release { pick }),
        2 => (1i64..200).prop_map(|minutes| Op::Wait { minutes }),
        1 => Just(Op::Reclaim),
        1 => any::<usize>().prop_map(|pick| Op::Approve { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Deny { pick }),
    ]
}

#[derive(Debug, Clone)]
struct M {
    state: State,
    epoch: u64,
    attempt: u32,
    gated: bool,
    approved: bool,
    agent: Option<String>,
    last_seen: Timestamp,
    created: Timestamp,
    tokens: Vec<u64>,
}

fn pick(model: &HashMap<String, M>, state: State, n: usize) -> Option<&String> {
    let mut ids: Vec<&String> = model
        .iter()
        .filter(|(_, m)| m.state == state)
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    (!ids.is_empty()).then(|| ids[n % ids.len()])
}

/// One library call as its own transaction (the only way to change the queue).
fn tx<T>(
    repo: &Repo,
    now: Timestamp,
    f: impl FnMut(&brain_core::LockedRepo<'_>) -> brain_core::Result<T>,
) -> T {
    repo.transact(now, f).result.unwrap()
}

fn real_state(root: &Path, id: &str) -> Vec<(State, Option<String>)> {
    let mut found = Vec::new();
    for s in State::ALL {
        for e in std::fs::read_dir(root.join("tasks").join(s.as_str())).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name == format!("{id}.md")
                || name.starts_with(&format!("{id}.")) && name.ends_with(".md")
            {
                let agent = name
                    .strip_prefix(&format!("{id}."))
                    .and_then(|r| r.strip_suffix(".md"))
                    .filter(|a| *a != "md")
                    .map(str::to_string);
                found.push((s, agent));
            }
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lifecycle_agrees_with_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut now: Timestamp = "2026-01-31T00:00:00Z".parse().unwrap();
        brain_core::init::init(dir.path(), false, now).unwrap();
        std::fs::write(dir.path().join("brain.toml"), format!("[queue]\nstale_after = \"2h\"\nmax_attempts = {MAX_ATTEMPTS}\n\n[git]\ncommit = false\n")).unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let mut model: HashMap<String, M> = HashMap::new();
        let mut max_epoch: HashMap<String, u64> = HashMap::new();

        for (step, op) in ops.iter().enumerate() {
            now += SignedDuration::from_secs(60);
            let who = |m: &M, stale: bool| -> Claimant {
                let epoch = if stale { m.tokens.iter().rev().nth(1).copied().unwrap_or(0) } else { m.epoch };
                Claimant { agent: None, token: Some(Token { id: String::new(), epoch }) }
            };
            let with_id = |mut c: Claimant, id: &str| { if let Some(t) = c.token.as_mut() { t.id = id.to_string(); } c };
            match op {
                Op::Add { gated } => {
                    let t = NewTask { title: format!("t{step}"), approval: *gated, unattended: true, ..NewTask::default() };
                    let (id, _) = tx(&repo, now, |l| {
                        let (id, path) = l.create_pending(now, |id| t.render(id, now))?;
                        if *gated {
                            questions::request_approval(l, &id, &t.title, now)?;
                        }
                        Ok((id, path))
                    });
                    model.insert(id, M { state: State::Pending, epoch: 0, attempt: 0, gated: *gated, approved: false, agent: None, last_seen: now, created: now, tokens: vec![] });
                }
                Op::Claim { agent } => {
                    let agent = AGENTS[*agent];
                    let expect = model
                        .iter()
                        .filter(|(_, m)| m.state == State::Pending && (!m.gated || m.approved))
                        .min_by_key(|(id, m)| (m.created, (*id).clone()))
                        .map(|(id, _)| id.clone());
                    let got = tx(&repo, now, |l| l.claim(agent, &[], None, now));
                    match (expect, got) {
                        (None, Err(_)) => {}
                        (Some(id), Ok(c)) => {
                            prop_assert_eq!(&c.id, &id, "step {}: claimed the wrong task", step);
                            let m = model.get_mut(&id).unwrap();
                            prop_assert!(!m.gated || m.approved, "a gated task was claimed before approval");
                            m.state = State::Active;
                            m.epoch += 1;
                            m.attempt += 1;
                            m.agent = Some(agent.to_string());
                            m.last_seen = now;
                            m.tokens.push(m.epoch);
                            prop_assert_eq!(c.epoch, m.epoch);
                        }
                        (e, g) => prop_assert!(false, "step {}: expected {:?}, got {:?}", step, e, g.map(|c| c.id)),
                    }
                }
                Op::Heartbeat { pick: n, stale } | Op::Done { pick: n, stale } | Op::Fail { pick: n, stale, .. } => {
                    let Some(id) = pick(&model, State::Active, *n).cloned() else { continue };
                    let m = model.get(&id).unwrap().clone();
                    let c = with_id(who(&m, *stale), &id);
                    let current = c.token.as_ref().unwrap().epoch == m.epoch;
                    let ok = match op {
                        Op::Heartbeat { .. } => tx(&repo, now, |l| l.heartbeat(&c, Some(&id), now)).is_ok(),
                        Op::Done { .. } => tx(&repo, now, |l| l.done(&id, &c, "result", now)).is_ok(),
                        Op::Fail { retry, .. } => tx(&repo, now, |l| l.fail(&id, &c, "error", *retry, now)).is_ok(),
                        _ => unreachable!(),
                    };
                    prop_assert_eq!(ok, current, "step {}: a token was judged wrongly", step);
                    if ok {
                        let m = model.get_mut(&id).unwrap();
                        match op {
                            Op::Heartbeat { .. } => m.last_seen = now,
                            Op::Done { .. } => m.state = State::Completed,
                            Op::Fail { retry, .. } => {
                                m.state = if *retry && m.attempt < MAX_ATTEMPTS { State::Pending } else { State::Failed };
                            }
                            _ => {}
                        }
                    }
                }
                Op::Release { pick: n } => {
                    let Some(id) = pick(&model, State::Active, *n).cloned() else { continue };
                    let m = model.get_mut(&id).unwrap();
                    let c = Claimant { agent: m.agent.clone(), token: None };
                    prop_assert!(tx(&repo, now, |l| l.release(&id, &c, now)).is_ok());
                    m.state = State::Pending;
                    m.attempt -= 1;
                }
                Op::Wait { minutes } => now += SignedDuration::from_mins(*minutes),
                Op::Reclaim => {
                    let moved = tx(&repo, now, |l| l.reclaim(now, false));
                    let mut expect: Vec<String> = model
                        .iter()
                        .filter(|(_, m)| m.state == State::Active && now.as_second() - m.last_seen.as_second() > STALE_SECS)
                        .map(|(id, _)| id.clone())
                        .collect();
                    expect.sort();
                    let mut got: Vec<String> = moved.iter().map(|r| r.id.clone()).collect();
                    got.sort();
                    prop_assert_eq!(&got, &expect, "step {}: reclaimed the wrong tasks", step);
                    for id in expect {
                        let m = model.get_mut(&id).unwrap();
                        m.state = if m.attempt >= MAX_ATTEMPTS { State::Failed } else { State::Pending };
                    }
                }
                Op::Approve { pick: n } | Op::Deny { pick: n } => {
                    let gated: Vec<String> = {
                        let mut v: Vec<String> = model.iter().filter(|(_, m)| m.state == State::Pending && m.gated && !m.approved).map(|(id, _)| id.clone()).collect();
                        v.sort();
                        v
                    };
                    if gated.is_empty() { continue; }
                    let id = gated[n % gated.len()].clone();
                    let m = model.get_mut(&id).unwrap();
                    if matches!(op, Op::Approve { .. }) {
                        tx(&repo, now, |l| questions::approve(l, &id, now));
                        m.approved = true;
                    } else {
                        tx(&repo, now, |l| questions::deny(l, &id, "no", now));
                        m.state = State::Failed;
                    }
                }
            }

            // The store agrees with the model, and the invariants hold.
            for (id, m) in &model {
                let places = real_state(dir.path(), id);
                prop_assert_eq!(places.len(), 1, "step {}: {} is in {:?}", step, id, places);
                prop_assert_eq!(places[0].0, m.state, "step {} ({:?}): {} is in the wrong folder", step, op, id);
                let entry = repo.find(id).unwrap();
                let f = repo.read(&entry).unwrap();
                prop_assert_eq!(f.task.meta.epoch, m.epoch, "step {}: epoch of {}", step, id);
                prop_assert_eq!(f.task.meta.attempt, m.attempt, "step {}: attempt of {}", step, id);
                prop_assert!(m.attempt <= MAX_ATTEMPTS);
                let seen = max_epoch.entry(id.clone()).or_default();
                prop_assert!(f.task.meta.epoch >= *seen, "the epoch of {} went down", id);
                *seen = f.task.meta.epoch;
                if m.state == State::Active {
                    prop_assert_eq!(&places[0].1, &m.agent);
                }
            }
        }
    }
}
