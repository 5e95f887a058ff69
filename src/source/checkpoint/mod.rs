//! Crash-safe per-log-group progress: a committed watermark, the lag allowance, and the ids of the
//! events already delivered inside the re-read window. Written to a local file atomically (write a
//! temporary file, fsync, rename, fsync the folder), so a crash leaves the old or the new state,
//! never a torn one; or in an OpenSearch index (`index`).
//!
//! `state` holds what both stores keep; `file` and `index` each store it; this module chooses.

mod file;
pub mod index;
mod state;

pub use file::CheckpointFile;
pub use index::CheckpointIndex;
pub use state::{CheckpointError, GroupState, DELAY_HALF_LIFE_MS};

/// Where checkpoints are kept.
pub enum CheckpointStore {
    /// A local file holding every group (the default).
    File(CheckpointFile),
    /// One OpenSearch document per group (stateless containers, several instances).
    Index(Box<CheckpointIndex>),
}

impl CheckpointStore {
    pub fn describe(&self) -> String {
        match self {
            CheckpointStore::File(f) => format!("file {}", f.path().display()),
            CheckpointStore::Index(i) => i.describe(),
        }
    }
}
