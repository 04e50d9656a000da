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

impl Runner<'_> {
    /// Runs until nothing eligible is left, `max_tasks` were started, a limit stops new
    /// sessions, or a stop is requested; then stops whatever agents left running and commits
    /// the log's last lines. An error means the run could not go on (the agent's command
    /// cannot be started, say); no agent is left running and no task claimed by then.
    pub fn run(&mut self, options: &Options) -> Result<Outcome> {
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
        let result = self.go(options);
        // Nothing an agent started outlives the run.
        process::stop_leftovers();
        let t = &self.tally;
        let summary = format!(
            "Completed at {}: {} finished, {} failed, {} timed out, {} interrupted, {} lost",
            self.stamp(),
            t.finished,
            t.failed,
            t.timed_out,
            t.interrupted,
            t.lost
        );
        self.emit(What::Completed, summary)?;
        // The log's last lines belong to no transition: commit them on their own.
        let (log, agent) = (self.log.path.clone(), self.agent.clone());
        let now = self.now();
        self.transact(now, |l| {
            l.touch(&log);
            l.commit_point(&format!("run: log of {agent}'s run"))
        })?;
        result?;
        Ok(Outcome {
            tally: self.tally.clone(),
            interrupted: self.stop.load(Ordering::SeqCst),
        })
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
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            // Start agents while there are free slots, tasks and budget.
            while !stopping
                && !no_more
                && running.len() < options.parallel.max(1)
                && options.max_tasks.is_none_or(|m| self.tally.started < m)
            {
                match self.start_one(tx, beat_every)? {
                    Some(slot) => running.push(slot),
                    None => no_more = true,
                }
            }
            if running.is_empty() {
                return Ok(());
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
