//! The task file: its frontmatter (`frontmatter`), the typed task (`model`, read by `parse`),
//! the file edited losslessly (`file`), a new task (`newtask`), and the names and times that
//! appear in it (`names`, `time`).
//!
//! Pure: no file is read or written here. Uses only `error`.

pub mod file;
pub mod frontmatter;
pub mod model;
pub mod names;
pub mod newtask;
pub mod parse;
pub mod time;

pub use file::{TaskFile, heading, reading_warnings};
pub use model::*;
