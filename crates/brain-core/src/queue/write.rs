//! Writing the files of a locked section: a file only brain writes ([`LockedRepo::replace_file`]),
//! a task file ([`LockedRepo::save_task`]) and a text file a person edits too
//! ([`LockedRepo::rewrite`]); the last two never lose a change made meanwhile.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::store::{TEXT_HINT, TEXT_LIMIT, check_task_size, check_text_size};
use crate::task::{State, TaskFile};

impl LockedRepo<'_> {
    /// Replaces `target` atomically (the new text fsynced before the rename); the folder's
    /// fsync is deferred to `LockedRepo::finish`. For files only brain writes; a file a
    /// person may edit at the same moment is written with [`LockedRepo::save_task`] or
    /// [`LockedRepo::rewrite`], which never lose that edit.
    pub fn replace_file(&self, target: &Path, data: &[u8]) -> Result<()> {
        // Listed first: a process killed right after the replace leaves it to the next commit.
        self.touch(target);
        let tmp = match self.take_prepared(target, data) {
            Some(tmp) => tmp,
            None => fsutil::write_tmp(target, data)?,
        };
        if let Err(e) = fs::rename(&tmp, target) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("replacing", target, e));
        }
        self.defer_sync(target);
        Ok(())
    }

    /// The temporary file prepared before the lock for exactly `data` at `target`, if any.
    pub(super) fn take_prepared(&self, target: &Path, data: &[u8]) -> Option<PathBuf> {
        let mut prepared = self.prepared.borrow_mut();
        prepared
            .iter()
            .position(|p| p.target == target && p.data == data)
            .and_then(|i| prepared.swap_remove(i).tmp.take())
    }

    /// Writes a task file's edits to its file, which must hold the text it was read with.
    /// When someone changed the file since (a person appending a note, an editor saving), the
    /// same edits are made on their text instead, so nothing they wrote is lost (see
    /// [`fsutil::replace_merging`]). Afterwards `f` holds what was written.
    pub fn save_task(&self, f: &mut TaskFile) -> Result<()> {
        if !f.changed() {
            return Ok(());
        }
        let path = f.task.path.clone();
        self.touch(&path);
        let new = f.doc.text().as_bytes().to_vec();
        let tmp = self.take_prepared(&path, &new);
        let (written, replaced) = {
            let this: &TaskFile = f;
            fsutil::replace_merging(
                &path,
                this.original().as_bytes(),
                new,
                tmp,
                crate::task::frontmatter::MAX_TASK_BYTES,
                &mut |now| {
                    let redone = this.redo(now)?;
                    check_task_size(&redone)?;
                    Ok(redone.doc.text().as_bytes().to_vec())
                },
            )?
        };
        f.written(written)?;
        self.keep_replaced(&path, replaced);
        self.defer_sync(&path);
        Ok(())
    }

    fn keep_replaced(&self, path: &Path, replaced: Option<fsutil::Replaced>) {
        if let Some(r) = replaced {
            self.replaced.borrow_mut().push((path.to_path_buf(), r));
        }
    }

    /// Records that a file this section replaced was moved from `from` to `to`.
    pub(crate) fn note_moved(&self, from: &Path, to: &Path) {
        for (p, _) in self.replaced.borrow_mut().iter_mut() {
            if p == from {
                *p = to.to_path_buf();
            }
        }
    }

    /// What was appended to the files this section replaced, after brain read them back (a
    /// writer that opened one a moment before the replace and wrote a moment after; the
    /// section's work since, often a commit, gave such a write time to land): appended to the
    /// file where its text is now, so that nothing a person or a script wrote is lost.
    pub(super) fn carry_late_appends(&self) -> Result<()> {
        // The rewrite below replaces a file in its turn; what is appended to that one is
        // carried too, for a few rounds (a writer that never stops is not waited for).
        for _ in 0..8 {
            let replaced = std::mem::take(&mut *self.replaced.borrow_mut());
            if replaced.is_empty() {
                break;
            }
            for (path, r) in replaced {
                let late = r.appended().at("reading", &path)?;
                if late.is_empty() {
                    continue;
                }
                let late = String::from_utf8_lossy(&late).into_owned();
                // Carried in a later section (group commit), the task may have moved since.
                let Some(target) = self.where_now(&path) else {
                    self.say(format!(
                        "warning: text appended to {} while brain replaced it could not be carried over (the file is gone): {late}",
                        super::locked::rel(self, &path)
                    ));
                    continue;
                };
                self.rewrite(&target, "", |text| Ok(Some(format!("{text}{late}"))))?;
            }
        }
        self.replaced.borrow_mut().clear();
        Ok(())
    }

    /// Where the file this section wrote at `path` is now: there, or, for a task file another
    /// transition moved since, where its task is.
    fn where_now(&self, path: &Path) -> Option<PathBuf> {
        if fs::symlink_metadata(path).is_ok() {
            return Some(path.to_path_buf());
        }
        let name = path.file_name()?.to_str()?;
        let state = State::ALL
            .into_iter()
            .find(|s| path.parent() == Some(self.state_dir(*s).as_path()))?;
        let crate::store::Name::Task { id, .. } = crate::store::classify(state, name) else {
            return None;
        };
        let found = self.locate(&id).ok()?;
        (found.len() == 1).then(|| found[0].path.clone())
    }

    /// Rewrites the text file `target` (prompts, handoffs, usage: files a person edits too) to
    /// `edit` of its current text (`None`: nothing to change; a missing file reads as
    /// `default`). Like [`LockedRepo::save_task`], a change someone makes meanwhile is kept:
    /// `edit` is applied to it again. Returns the text written, if any.
    pub fn rewrite(
        &self,
        target: &Path,
        default: &str,
        mut edit: impl FnMut(&str) -> Result<Option<String>>,
    ) -> Result<Option<String>> {
        let current = fsutil::read_text(target, TEXT_LIMIT, TEXT_HINT)?;
        let base = current.as_deref().unwrap_or(default);
        let Some(new) = edit(base)? else {
            return Ok(None);
        };
        check_text_size(target, &new)?;
        self.touch(target);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).at("creating", dir)?;
        }
        if current.is_none() {
            match fsutil::create_atomic(target, new.as_bytes()) {
                Ok(()) => return Ok(Some(new)),
                // Created by someone else meanwhile: edit theirs.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    return self.rewrite(target, default, edit);
                }
                Err(e) => return Err(e),
            }
        }
        let (written, replaced) = fsutil::replace_merging(
            target,
            base.as_bytes(),
            new.into_bytes(),
            None,
            TEXT_LIMIT,
            &mut |now| {
                let text = String::from_utf8_lossy(now);
                let new = edit(&text)?.unwrap_or_else(|| text.into_owned());
                check_text_size(target, &new)?;
                Ok(new.into_bytes())
            },
        )?;
        self.keep_replaced(target, replaced);
        self.defer_sync(target);
        Ok(Some(String::from_utf8_lossy(&written).into_owned()))
    }
}
