//! The end of an agent's session: stopping what it left running, reading back (the start and
//! the end of) what it printed, and settling its task in one transaction (done, fail, release,
//! or nothing when it settled the task itself); what of its output goes into git.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::CommitOutput;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::queue::{Claimant, Claimed, LockedRepo, Moved, Refused};
use crate::run::event::{Ended, What};
use crate::run::notify;
use crate::run::report::{self, Output, Report};
use crate::run::runner::Runner;
use crate::run::slot::{Slot, Stop};
use crate::run::verdict::{self, Cap, Verdict};
use crate::task::State;
use crate::task::time::{format_age, format_ts};
use crate::usage::{self, LimitHit, MachineUsage};

/// The most of an agent's result that goes into its task file (the whole output is in its
/// log): a task file must stay under brain's 1 MiB limit.
const RESULT_BYTES: usize = 64 * 1024;

/// `logs/runs/.gitignore`, written by `brain run` (see `[run] commit_output`).
const RUNS_GITIGNORE: &str =
    "# Written by brain run: each agent's whole output (*.log) stays on the machine that ran
# it, since it can be large and can hold a secret an agent printed; git gets a summary of
# it (*.summary.md). See commit_output under [run] in brain.toml.
*.log
";

impl Runner<'_> {
    /// Records how the agent ended and finishes the task.
    pub(super) fn finish(
        &mut self,
        s: Slot,
        status: std::io::Result<std::process::ExitStatus>,
    ) -> Result<()> {
        // Whatever the agent left running goes with it.
        if s.tree.alive() {
            s.tree.stop_politely();
            let until = Instant::now() + Duration::from_millis(200);
            while s.tree.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            s.tree.kill();
            // Signals are delivered asynchronously: wait (a little) until they took effect.
            let until = Instant::now() + Duration::from_secs(2);
            while s.tree.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let took = format_age(s.started.elapsed().as_secs() as i64);
        // Only the start and the end of what the agent printed are read: it may be gigabytes.
        let printed = Output::read(&s.output).unwrap_or_default();
        let report = Report::parse(&printed.tail);
        let now = self.now();
        let success = status.as_ref().is_ok_and(|st| st.success());
        let program = verdict::program_name(&self.config.command);
        let stop = s.stopping.map(|(_, why)| why);
        // A session brain stopped (timeout, Ctrl-C, a lost claim) ended for that reason.
        let verdict = match stop {
            Some(_) => Verdict::Failed,
            None => verdict::judge(&report, success, &program, now, &TimeZone::system()),
        };
        let rel = crate::fsutil::shown_in(self.repo.root(), &s.output);
        let mut fields: Vec<(&str, String)> =
            vec![("output", rel.clone()), ("duration", took.clone())];
        fields.extend(report.fields());
        let tokens = report.tokens.as_ref().map_or_else(
            || usage::estimate_tokens(s.prompt_chars + printed.size as usize),
            |t| t.total(),
        );
        let who = self.claimant(&s.claim)?;
        let id = s.claim.id.clone();
        let agent = self.agent.clone();
        let code = match &status {
            Ok(st) => st.code().map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("exit code {c}"),
            ),
            Err(e) => format!("waiting for it failed: {e}"),
        };
        let machine = self.machine.clone();
        let accept_denials = self.config.accept_denials;
        let text = if report.text.is_empty() {
            "(the agent printed nothing)".to_string()
        } else {
            // A task file must stay one brain can read back: a long result keeps its end.
            report::keep_end(&report.text, RESULT_BYTES, &rel)
        };
        let committed = self.committed_output(&s, &printed, &code, &rel)?;
        let log_path = self.log.path.clone();
        let (line, ended) = self.transact(now, |l| {
            for p in &committed {
                l.touch(p);
            }
            // The log's lines so far go into this transition's commit.
            l.touch(&log_path);
            // An unreadable usage file must not keep the task from being settled.
            match MachineUsage::load(l, &machine) {
                Ok(mut u) => {
                    // A session that could not work used nothing.
                    if !matches!(verdict, Verdict::Broken(_)) {
                        u.record_session(&agent, s.started_at, tokens);
                    }
                    if let Verdict::Limit(limit) = &verdict {
                        u.set_limit(&agent, now, limit.clone());
                        // What agents read learns of the limit at once.
                        u.save_and_summarize(l, now)?;
                    } else {
                        u.save(l, now)?;
                    }
                }
                Err(e) => l.say(format!("this session's usage is not recorded: {e}")),
            }
            if !still_ours(l, &id, &s.claim)? {
                // Settled under this claim (same epoch: done, fail, release) by the agent
                // itself, not by another agent after a reclaim.
                let settled = match l.locate(&id)?.first() {
                    Some(e) if stop.is_none() && l.read(e)?.task.meta.epoch == s.claim.epoch => {
                        Some(e.state)
                    }
                    _ => None,
                };
                return Ok(if let Some(state) = settled {
                    let verb = if state == State::Completed {
                        "finished"
                    } else {
                        "settled"
                    };
                    (
                        format!(
                            "{id} was {verb} by the agent itself, now in tasks/{state}/ ({code}, {took}); output in {rel}"
                        ),
                        (Ended::ByItself, Some(state)),
                    )
                } else {
                    (
                        format!(
                            "{id}: the claim was lost meanwhile ({code}, {took}); output in {rel}"
                        ),
                        (Ended::Lost, None),
                    )
                });
            }
            Ok(match stop {
                Some(Stop::Interrupted) => {
                    if let Err(lost) = l.release(&id, &who, now)? {
                        return Err(Error::Invalid(format!(
                            "releasing {id}: {}",
                            lost.reason()
                        )));
                    }
                    (
                        format!(
                            "{id} interrupted after {took}: released back to pending; output in {rel}"
                        ),
                        (Ended::Interrupted, None),
                    )
                }
                Some(Stop::Timeout) => {
                    let limit = format_age(s.timeout as i64);
                    let error = format!(
                        "timed out after {limit}: the agent's process tree was stopped\n\n{}",
                        tail(&report.text)
                    );
                    let m = l.fail_with(&id, &who, &error, true, &fields, now)?;
                    (
                        format!(
                            "{id} timed out after {limit}: {}; output in {rel}",
                            moved(&m)
                        ),
                        (Ended::TimedOut, None),
                    )
                }
                Some(Stop::Lost) => (
                    format!("{id}: the claim was lost meanwhile ({code}, {took}); output in {rel}"),
                    (Ended::Lost, None),
                ),
                None => settle(l, &id, &who, &verdict, &text, &report.text, &fields, now, &End {
                    agent: &agent,
                    accept_denials,
                    took: &took,
                    code: &code,
                    rel: &rel,
                    caps: (s.max_turns.clone(), s.max_budget_usd.clone()),
                })?,
            })
        })?;
        let (how, settled) = ended;
        if let Some(session) = &report.session_id {
            // For `brain usage import`: this session's tokens are this task's.
            usage::report::record_session(self.repo, session, &id);
        }
        self.emit(
            What::Ended {
                id: id.clone(),
                how,
            },
            format!("{} {line}", format_ts(now)),
        )?;
        let _ = fs::remove_file(crate::run::prompt::prompt_file(self.repo, &s.claim.token));
        self.react(&verdict, how, &id, &line, now)?;
        // A question the agent asked is news.
        self.new_questions()?;
        match (how, settled) {
            (Ended::Done, _) | (Ended::ByItself, Some(State::Completed)) => {
                self.tally.finished += 1
            }
            (Ended::ByItself, _) | (Ended::Failed, _) => self.tally.failed += 1,
            (Ended::TimedOut, _) => self.tally.timed_out += 1,
            (Ended::Interrupted, _) => self.tally.interrupted += 1,
            (Ended::Lost, _) => self.tally.lost += 1,
            (Ended::Limited, _) => self.tally.limited += 1,
            (Ended::Broken, _) => self.tally.broken += 1,
        }
        Ok(())
    }

    /// What a session's end means beyond its task: a limit stops new sessions (and is told),
    /// a broken agent stops the run, a failure for good is told.
    fn react(
        &mut self,
        verdict: &Verdict,
        how: Ended,
        id: &str,
        line: &str,
        now: Timestamp,
    ) -> Result<()> {
        let id = id.to_string();
        let agent = self.agent.clone();
        match (verdict, how) {
            (Verdict::Limit(limit), Ended::Limited) => {
                let hit = LimitHit::new(limit.clone(), now);
                // The task waits for the reset, this run's too when it waits; it does not
                // count against --max-tasks.
                self.tried.retain(|t| t != &id);
                self.tally.started = self.tally.started.saturating_sub(1);
                let line = format!(
                    "{} usage limit: {} hit {}: no new session before {}",
                    format_ts(now),
                    agent,
                    limit.describe(),
                    format_ts(hit.until)
                );
                self.emit(
                    What::PlanLimit {
                        id: Some(id.clone()),
                        until: format_ts(hit.until),
                    },
                    line,
                )?;
                self.notify(
                    notify::Kind::Limit,
                    format!("brain: {agent} hit {}", limit.describe()),
                    format!(
                        "{agent} hit {}; no new session before {}. {id} waits in pending (no attempt spent).",
                        limit.describe(),
                        format_ts(hit.until)
                    ),
                    Some(id.clone()),
                    Some(hit.until),
                )?;
                self.limit = Some(hit);
            }
            (_, Ended::Failed | Ended::TimedOut)
                if self
                    .repo
                    .locate(&id)?
                    .first()
                    .is_some_and(|e| e.state == State::Failed) =>
            {
                let title = self
                    .repo
                    .locate(&id)?
                    .first()
                    .and_then(|e| self.repo.read(e).ok())
                    .map(|f| f.task.title)
                    .unwrap_or_default();
                self.notify(
                    notify::Kind::Failed,
                    format!("brain: {id} failed for good"),
                    format!("{id} {title} failed for good (no attempts left): {line}"),
                    Some(id.clone()),
                    None,
                )?;
            }
            (Verdict::Broken(b), Ended::Broken) => {
                self.tried.retain(|t| t != &id);
                let line = format!(
                    "{} {agent} cannot work: {}. To fix: {}",
                    format_ts(now),
                    b.message,
                    b.fix
                );
                self.emit(What::Broken { id: id.clone() }, line)?;
                self.broken = Some(b.clone());
            }
            _ => {}
        }
        Ok(())
    }

    /// What of the agent's output goes into git, by `[run] commit_output`: the paths to
    /// commit (the summary written now, or the whole log). The whole output stays in its log.
    fn committed_output(
        &self,
        s: &Slot,
        printed: &Output,
        code: &str,
        rel: &str,
    ) -> Result<Vec<PathBuf>> {
        let run = &self.repo.config().run;
        // Without git nothing is committed: the whole log is all there is to keep.
        if self.repo.git().is_none() {
            return Ok(Vec::new());
        }
        let dir = s.output.parent().unwrap_or(self.repo.root());
        // The whole logs are not for git unless asked for (a secret an agent printed stays
        // on this machine); this file says so to git, and to a person reading the folder.
        let ignore = dir.join(".gitignore");
        let mut paths = Vec::new();
        if run.commit_output != CommitOutput::Full && !ignore.exists() {
            fsutil::write_atomic_nosync(&ignore, RUNS_GITIGNORE.as_bytes())?;
            paths.push(ignore);
        }
        let whole =
            run.commit_output == CommitOutput::Full && printed.size <= run.max_committed_output;
        match run.commit_output {
            CommitOutput::None => {}
            _ if whole => paths.push(s.output.clone()),
            _ => {
                let summary = s.output.with_extension("summary.md");
                let text = printed.summary(
                    &format!("Output of {} for {}", self.agent, s.claim.token),
                    &[
                        ("task", s.claim.id.clone()),
                        ("ended", code.to_string()),
                        (
                            "whole output",
                            format!("{rel} (kept on the machine that ran it, not in git)"),
                        ),
                    ],
                );
                // Derived from the log, and committed right after: no fsync of its own.
                fsutil::write_atomic_nosync(&summary, text.as_bytes())?;
                paths.push(summary);
            }
        }
        Ok(paths)
    }
}

/// What [`settle`] needs to know of the session besides its verdict.
struct End<'a> {
    agent: &'a str,
    accept_denials: bool,
    took: &'a str,
    code: &'a str,
    rel: &'a str,
    /// The task's `{max_turns}` and `{max_budget_usd}`, as the agent got them.
    caps: (Option<String>, Option<String>),
}

/// Settles a task whose session ended by itself, by its verdict: done, fail, or released
/// (a usage limit, a broken agent: no attempt spent). Returns the log line and the end.
#[allow(clippy::too_many_arguments)]
fn settle(
    l: &LockedRepo<'_>,
    id: &str,
    who: &Claimant,
    verdict: &Verdict,
    result: &str,
    said: &str,
    fields: &[(&str, String)],
    now: Timestamp,
    e: &End<'_>,
) -> Result<(String, (Ended, Option<State>))> {
    let (took, code, rel) = (e.took, e.code, e.rel);
    let done = |extra: &str| -> Result<(String, (Ended, Option<State>))> {
        Ok(match l.done_with(id, who, result, fields, now)? {
            Ok(_) => (
                format!("{id} finished in {took}{extra}; output in {rel}"),
                (Ended::Done, None),
            ),
            Err(lost) => (
                format!(
                    "{id}: the claim was lost meanwhile ({}); output in {rel}",
                    lost.reason()
                ),
                (Ended::Lost, None),
            ),
        })
    };
    let fail = |why: String| -> Result<(String, (Ended, Option<State>))> {
        let error = format!("{why}\n\n{}", tail(said));
        let m = l.fail_with(id, who, &error, true, fields, now)?;
        Ok((
            format!(
                "{id} failed in {took} ({why}): {}; output in {rel}",
                moved(&m)
            ),
            (Ended::Failed, None),
        ))
    };
    let release = |reason: String, how: Ended| -> Result<(String, (Ended, Option<State>))> {
        let first = reason.lines().next().unwrap_or_default().to_string();
        Ok(match l.release_with(id, who, &reason, fields, now)? {
            Ok(_) => (
                format!(
                    "{id} went back to pending without spending an attempt ({first}); output in {rel}"
                ),
                (how, None),
            ),
            Err(lost) => (
                format!(
                    "{id}: the claim was lost meanwhile ({}); output in {rel}",
                    lost.reason()
                ),
                (Ended::Lost, None),
            ),
        })
    };
    match verdict {
        Verdict::Success => done(""),
        Verdict::Denied(tools) if e.accept_denials => done(&format!(
            " (denied {}, accepted: accept_denials = true)",
            tools.join(", ")
        )),
        Verdict::Denied(tools) => fail(format!(
            "the agent was denied {} tool use{}: {}; allow what it needs in `command` under [agents.{}] in brain.toml (--allowedTools), or set accept_denials = true there",
            tools.len(),
            if tools.len() == 1 { "" } else { "s" },
            tools.join(", "),
            e.agent
        )),
        Verdict::Failed => fail(format!("the agent ended with {code}")),
        Verdict::Capped(Cap::MaxTurns) => fail(format!(
            "the agent stopped at the task's turn limit ({}max_turns{}, Claude Code's error_max_turns); raise max_turns in the task, or split the task",
            if e.caps.0.is_some() { "" } else { "its " },
            e.caps
                .0
                .as_ref()
                .map(|n| format!(" = {n}"))
                .unwrap_or_default()
        )),
        Verdict::Capped(Cap::MaxBudget) => fail(format!(
            "the agent stopped at the task's budget (max_budget_usd{}, Claude Code's error_max_budget_usd); raise max_budget_usd in the task, or split the task",
            e.caps
                .1
                .as_ref()
                .map(|n| format!(" = {n}"))
                .unwrap_or_default()
        )),
        Verdict::Limit(limit) => release(
            format!(
                "usage limit: {}; no attempt spent\n\n{}",
                limit.describe(),
                limit.message
            ),
            Ended::Limited,
        ),
        Verdict::Broken(b) => release(
            format!(
                "the agent cannot work: {}; no attempt spent\n\nTo fix: {}",
                b.message, b.fix
            ),
            Ended::Broken,
        ),
    }
}

/// Whether the claim `c` of task `id` is still the current one.
fn still_ours(l: &LockedRepo<'_>, id: &str, c: &Claimed) -> Result<bool> {
    let Some(entry) = l.active_entry(id)? else {
        return Ok(false);
    };
    let f = l.read(&entry)?;
    Ok(f.task.meta.epoch == c.epoch && entry.agent.as_deref() == Some(c.agent.as_str()))
}

fn moved(m: &std::result::Result<Moved, Refused>) -> String {
    match m {
        Ok(m) if m.state == State::Pending => "back to pending for another attempt".into(),
        Ok(_) => "moved to failed (no attempts left)".into(),
        Err(Refused::Lost(l)) => format!("claim lost: {}", l.reason),
        Err(r) => format!("not moved: {}", r.reason()),
    }
}

/// The end of an agent's output, for a failure note (the whole of it is in the output file).
fn tail(text: &str) -> String {
    const KEEP: usize = 2000;
    let t = text.trim();
    if t.chars().count() <= KEEP {
        return t.to_string();
    }
    let start = t.char_indices().rev().nth(KEEP - 1).map_or(0, |(i, _)| i);
    format!("…{}", &t[start..])
}
