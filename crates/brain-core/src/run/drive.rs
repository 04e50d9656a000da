//! The run's loop (see [`crate::run::runner`]): reclaim, then start agents while there are
//! slots, tasks and budget, and watch them until none is left.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::run::event::What;
use crate::run::process;
use crate::run::runner::{Options, Outcome, Runner};
use crate::run::slot::{Exited, Slot, Stop};
use std::path::PathBuf;

use crate::fsutil;
use crate::run::{notify, review};
use crate::task::time::format_ts;
use crate::usage::import::Totals;
use crate::usage::report;
use crate::usage::{LimitHit, MachineUsage};

/// How long a transition of the run waits, at most, for the commit it shares with the
/// others (the run's loop looks at least every 100 ms).
const COMMIT_EVERY: Duration = Duration::from_secs(1);

impl Runner<'_> {
    /// Runs until nothing eligible is left, `max_tasks` were started, a limit stops new
    /// sessions, or a stop is requested; then stops whatever agents left running and commits
    /// the log's last lines. An error means the run could not go on (the agent's command
    /// cannot be started, say); no agent is left running and no task claimed by then.
    pub fn run(&mut self, options: &Options) -> Result<Outcome> {
        // The run's transitions share commits: one now and then (see `commit_if_due`) and
        // one at the end, rather than one each (a claim, its done and the log's lines).
        self.repo.commit_lazily(true);
        let out = self.run_lazily(options);
        self.repo.commit_lazily(false);
        self.commit_waiting()?;
        out
    }

    /// Commits what waits once the oldest of it waited [`COMMIT_EVERY`].
    fn commit_if_due(&mut self) -> Result<()> {
        if self.repo.commit_due(COMMIT_EVERY) {
            self.commit_waiting()?;
        }
        Ok(())
    }

    /// Commits what the run's transitions left waiting; a commit that has to wait is a note.
    fn commit_waiting(&mut self) -> Result<()> {
        let why = match self.repo.commit_waiting() {
            Ok(None) => return Ok(()),
            Ok(Some(why)) => why,
            Err(e) => e.to_string(),
        };
        let line = format!(
            "{} the run's changes are made, but their commit has to wait: {why}",
            self.stamp()
        );
        self.emit(What::Note, line)
    }

    fn run_lazily(&mut self, options: &Options) -> Result<Outcome> {
        // Whatever an agent leaves running, a daemon that left its process group included, is
        // re-parented to this process and stopped with its agent (Linux; see process.rs).
        let _ = process::adopt_orphans();
        let line = format!(
            "Starting overnight run at {} (agent {}{}{})",
            self.stamp(),
            self.agent,
            options
                .max_tasks
                .map(|n| format!(", at most {n} tasks"))
                .unwrap_or_default(),
            if options.parallel > 1 {
                format!(", {} at once", options.parallel)
            } else {
                String::new()
            }
        );
        self.emit(What::Started, line)?;
        // Questions open before the run are not news.
        self.known_questions = crate::store::prompts::read_all(self.repo)?
            .into_iter()
            .filter(|q| q.state == crate::store::prompts::QState::Open)
            .map(|q| q.id)
            .collect();
        let now = self.now();
        let recorded = match MachineUsage::load(self.repo, &self.machine) {
            Ok(u) => u.active_limit(&self.agent, now).cloned(),
            Err(e) => {
                self.emit(What::Note, format!("usage not read: {e}"))?;
                None
            }
        };
        if let Some(hit) = recorded {
            let line = format!(
                "{} {} hit {} at {}: no new session before {}",
                self.stamp(),
                self.agent,
                hit.limit.describe(),
                format_ts(hit.hit_at),
                format_ts(hit.until)
            );
            self.emit(
                What::PlanLimit {
                    id: None,
                    until: format_ts(hit.until),
                },
                line,
            )?;
            self.limit = Some(hit);
        }
        let result = self.go(options);
        // Nothing an agent started outlives the run.
        process::stop_leftovers();
        let t = &self.tally;
        let mut summary = format!(
            "Completed at {}: {} finished, {} failed, {} timed out, {} interrupted, {} lost",
            self.stamp(),
            t.finished,
            t.failed,
            t.timed_out,
            t.interrupted,
            t.lost
        );
        if t.limited > 0 {
            summary.push_str(&format!(", {} waiting for the usage limit", t.limited));
        }
        if t.broken > 0 {
            summary.push_str(&format!(
                ", {} released because the agent cannot work",
                t.broken
            ));
        }
        self.emit(What::Completed, summary.clone())?;
        // A run that claimed, reclaimed and recorded nothing has nothing to review or commit.
        let changed = self.log.kept();
        let (review, totals) = if changed {
            self.morning(options)
        } else {
            (None, None)
        };
        self.notify(
            notify::Kind::Run,
            format!("brain: the run of {} finished", self.agent),
            summary,
            None,
            None,
        )?;
        let now = self.now();
        let rel = review
            .as_ref()
            .map(|p| crate::fsutil::shown_in(self.repo.root(), p));
        for e in self.notifier.finish(rel, now) {
            let line = format!("{} {e}", self.stamp());
            self.emit(What::NotifyFailed, line)?;
        }
        // The log's last lines and the review belong to no transition: committed on their
        // own, with the night's usage from the transcripts.
        let (log, agent, machine) = (
            self.log.path.clone(),
            self.agent.clone(),
            self.machine.clone(),
        );
        if !changed {
            result?;
            return Ok(self.outcome());
        }
        let tz = jiff::tz::TimeZone::system();
        self.transact(now, |l| {
            l.touch(&log);
            if let Some(r) = &review {
                l.touch(r);
            }
            let imported = match &totals {
                Some(t) => report::record_import(l, &machine, t, &tz, now)?,
                None => false,
            };
            if !imported {
                // The sessions of the run, summed over the machines, for what agents read.
                crate::usage::summary::write(l, now)?;
            }
            l.commit_point(&format!("run: log and review of {agent}'s run"))
        })?;
        result?;
        Ok(self.outcome())
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            tally: self.tally.clone(),
            interrupted: self.stop.load(Ordering::SeqCst),
            limit: self.limit.clone(),
            broken: self.broken.clone(),
            log: self.log.path.clone(),
        }
    }

    fn go(&mut self, options: &Options) -> Result<()> {
        let config = self.repo.config();
        let grace = Duration::from_secs(config.run.kill_grace);
        let beat_every = Duration::from_secs(crate::queue::heartbeat_window(config));
        let now0 = self.now();
        let reclaimed = self.transact(now0, |l| l.reclaim(now0, false))?;
        for r in reclaimed {
            let line = format!(
                "{} reclaimed {} to tasks/{}/: {}",
                self.stamp(),
                r.id,
                r.to,
                r.reason
            );
            self.emit(What::Reclaimed { id: r.id }, line)?;
        }
        let (tx, rx) = mpsc::channel::<Exited>();
        let mut running: Vec<Slot> = Vec::new();
        let result = self.drive(options, &tx, &rx, &mut running, grace, beat_every);
        if result.is_err() {
            // Whatever went wrong, no agent is left running and no task stays claimed.
            self.abort(running, grace);
        }
        result
    }

    /// The end of a run: the night's usage from Claude Code's transcripts (when the front end
    /// gave their roots) and the morning review, `logs/YYYY-MM-DD-review.md`, of the day's
    /// runs. Neither is a reason for the run to fail: what goes wrong is logged.
    fn morning(&mut self, options: &Options) -> (Option<PathBuf>, Option<Totals>) {
        let tz = jiff::tz::TimeZone::system();
        let now = self.now();
        let mut problems = Vec::new();
        let totals = if options.transcripts.is_empty() {
            None
        } else {
            match report::import_transcripts(self.repo, &options.transcripts, &tz) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(format!("importing Claude Code's transcripts failed: {e}"));
                    None
                }
            }
        };
        let usage = report::report(
            self.repo,
            &self.machine,
            totals.as_ref().map(|t| (options.transcripts.as_slice(), t)),
            &tz,
            now,
        )
        .map_err(|e| problems.push(format!("reading usage failed: {e}")))
        .ok();
        let since = review::first_run_of_day(&self.log.path).unwrap_or(self.started);
        let path = review::review_path(self.repo, self.started);
        let written = review::review(self.repo, since, now, Some(&self.agent), usage)
            .and_then(|r| fsutil::write_atomic_nosync(&path, r.render().as_bytes()));
        let review = match written {
            Ok(()) => {
                let rel = crate::fsutil::shown_in(self.repo.root(), &path);
                let _ = self.emit(
                    What::Reviewed,
                    format!("{} the morning review is in {rel}", self.stamp()),
                );
                Some(path)
            }
            Err(e) => {
                problems.push(format!("writing the morning review failed: {e}"));
                None
            }
        };
        for p in problems {
            let line = format!("{} {p}", self.stamp());
            let _ = self.emit(What::Note, line.clone());
            let _ = self.log.line(&line);
        }
        (review, totals)
    }

    /// With `--wait` (and the reset before `--until`), when to carry on after `hit`; `None`
    /// when the run is to start nothing more.
    fn wait_for(&mut self, hit: &LimitHit, options: &Options) -> Result<Option<Instant>> {
        if !options.wait {
            return Ok(None);
        }
        let until = format_ts(hit.until);
        if let Some(u) = options.until
            && hit.until > u
        {
            let line = format!(
                "{} {} resets at {until}, after --until {}: not waiting",
                self.stamp(),
                hit.limit.describe(),
                format_ts(u)
            );
            self.emit(What::Note, line)?;
            return Ok(None);
        }
        let left = hit.until.duration_since(self.now()).as_millis().max(0) as u64;
        // A little jitter, so that machines waiting for the same reset do not all start at
        // once: up to a tenth of the wait, at least a second and at most a minute.
        let spread = (left / 10).clamp(1000, 60_000);
        let jitter = crate::random_u64() % (spread + 1);
        let line = format!(
            "{} waiting until {until} (and {:.1}s) for {} to reset (--wait)",
            self.stamp(),
            jitter as f64 / 1000.0,
            hit.limit.describe()
        );
        self.emit(What::Waiting { until }, line)?;
        Ok(Some(
            Instant::now() + Duration::from_millis(left.saturating_add(jitter)),
        ))
    }

    /// Stops every running agent (politely, then for good after `grace`) and releases its task.
    fn abort(&mut self, running: Vec<Slot>, grace: Duration) {
        for s in &running {
            s.tree.stop_politely();
        }
        let until = Instant::now() + grace;
        while running.iter().any(|s| s.tree.alive()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for s in running {
            s.tree.kill();
            let id = s.claim.id.clone();
            let what = match self.give_back(&s.claim) {
                Ok(Ok(_)) => "released back to pending".to_string(),
                Ok(Err(lost)) => format!("not ours any more: {}", lost.reason()),
                Err(e) => {
                    format!("could not be released ({e}); the next run reclaims it once stale")
                }
            };
            self.tally.interrupted += 1;
            let line = format!(
                "{} {id} stopped because the run failed: {what}",
                self.stamp()
            );
            let _ = self.emit(What::Aborted { id }, line);
        }
    }

    /// The run's loop: start agents while there are slots and tasks, and watch them.
    fn drive(
        &mut self,
        options: &Options,
        tx: &mpsc::Sender<Exited>,
        rx: &mpsc::Receiver<Exited>,
        running: &mut Vec<Slot>,
        grace: Duration,
        beat_every: Duration,
    ) -> Result<()> {
        let mut no_more = false;
        // With --wait, when the usage limit that holds resets.
        let mut waiting: Option<Instant> = None;
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            if let Some(hit) = self.limit.clone()
                && waiting.is_none()
                && !no_more
            {
                match self.wait_for(&hit, options)? {
                    Some(at) => waiting = Some(at),
                    None => no_more = true,
                }
            }
            if waiting.is_some_and(|at| Instant::now() >= at) {
                waiting = None;
                // Tasks may be eligible again: the one the limit cut short, at least.
                no_more = false;
                if let Some(hit) = self.limit.take() {
                    let line = format!(
                        "{} {} has reset; carrying on",
                        self.stamp(),
                        hit.limit.describe()
                    );
                    self.emit(What::Resumed, line)?;
                }
            }
            let in_time = options.until.is_none_or(|u| self.now() < u);
            // Start agents while there are free slots, tasks and budget.
            while !stopping
                && !no_more
                && in_time
                && waiting.is_none()
                && self.limit.is_none()
                && self.broken.is_none()
                && running.len() < options.parallel.max(1)
                && options.max_tasks.is_none_or(|m| self.tally.started < m)
            {
                match self.start_one(tx, beat_every)? {
                    Some(slot) => running.push(slot),
                    None => no_more = true,
                }
            }
            if running.is_empty() {
                match waiting {
                    Some(at) if !stopping => {
                        let left = at.saturating_duration_since(Instant::now());
                        std::thread::sleep(left.min(Duration::from_millis(100)));
                        continue;
                    }
                    _ => return Ok(()),
                }
            }
            let wake = running
                .iter()
                .map(|s| match s.stopping {
                    Some((at, _)) => at + grace,
                    None => s.deadline.min(s.next_heartbeat),
                })
                .min()
                .unwrap_or_else(Instant::now);
            // Wake at least every 100 ms to notice a stop request.
            let wait = wake
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match rx.recv_timeout(wait) {
                Ok((token, status)) => {
                    if let Some(i) = running.iter().position(|s| s.claim.token == token) {
                        let slot = running.swap_remove(i);
                        self.finish(slot, status)?;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
            self.commit_if_due()?;
            let now_i = Instant::now();
            let interrupted = self.stop.load(Ordering::SeqCst);
            for s in running.iter_mut() {
                match s.stopping {
                    Some((at, _)) if now_i >= at + grace => s.tree.kill(),
                    Some(_) => {}
                    None if interrupted => {
                        s.tree.stop_politely();
                        s.stopping = Some((now_i, Stop::Interrupted));
                    }
                    None if now_i >= s.deadline => {
                        s.tree.stop_politely();
                        s.stopping = Some((now_i, Stop::Timeout));
                    }
                    None if now_i >= s.next_heartbeat => {
                        s.next_heartbeat = now_i + beat_every;
                        if !self.heartbeat(s)? {
                            s.tree.stop_politely();
                            s.stopping = Some((now_i, Stop::Lost));
                        }
                    }
                    None => {}
                }
            }
        }
    }
}
