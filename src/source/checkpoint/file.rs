//! The checkpoint in a local file, written atomically (write a temporary file, fsync, rename,
//! fsync the folder), so a crash leaves the old or the new state, never a torn one.

use super::state::{CheckpointError, GroupState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    groups: BTreeMap<String, GroupState>,
}

const VERSION: u32 = 1;

/// The checkpoint of one `forward` job, in one file.
#[derive(Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CheckpointFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a file can be created beside the checkpoint (for /readyz).
    pub async fn check_writable(&self) -> Result<String, String> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let probe = dir.join(format!(".{name}.readyz-{}", std::process::id()));
        match tokio::fs::write(&probe, b"ok").await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(&probe).await;
                Ok(format!("{} writable", dir.display()))
            }
            Err(e) => Err(format!("cannot write in {}: {e}", dir.display())),
        }
    }

    /// The saved state; empty when the file does not exist yet.
    pub fn load(&self) -> Result<BTreeMap<String, GroupState>, CheckpointError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let file: FileFormat =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if file.version != VERSION {
            return Err(CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: format!("version {} where {VERSION} is expected", file.version),
            });
        }
        Ok(file.groups)
    }

    /// Replaces the saved state atomically and durably.
    pub fn save(&self, groups: &BTreeMap<String, GroupState>) -> Result<(), CheckpointError> {
        self.write(&Self::encode(groups))
    }

    /// The file's bytes for `groups`: taken while the state is locked, so that the slow part,
    /// [`CheckpointFile::write`], can run without the lock and off the async runtime.
    pub fn encode(groups: &BTreeMap<String, GroupState>) -> Vec<u8> {
        serde_json::to_vec(&FileFormatRef {
            version: VERSION,
            groups,
        })
        .expect("checkpoint state always serializes")
    }

    /// Writes `body` (from [`CheckpointFile::encode`]) atomically and durably: blocking file I/O
    /// with two fsyncs.
    pub fn write(&self, body: &[u8]) -> Result<(), CheckpointError> {
        let err = |source| CheckpointError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(body).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        // The rename is durable only once the folder itself is synced.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }
}

#[derive(Serialize)]
struct FileFormatRef<'a> {
    version: u32,
    groups: &'a BTreeMap<String, GroupState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn save_then_load_round_trips_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path().join("cp/state.json"));
        assert!(file.load().unwrap().is_empty());
        let mut g = GroupState::default();
        g.delivered([("a".to_string(), 100), ("b".to_string(), 5_000)]);
        g.advance(10_000, 6_000);
        assert_eq!(g.watermark, Some(10_000));
        assert_eq!(
            g.seen.len(),
            1,
            "a (ts 100) is below 10,000 - 6,000 and is forgotten"
        );
        let mut all = BTreeMap::new();
        all.insert("/aws/cloudtrail".to_string(), g.clone());
        file.save(&all).unwrap();
        assert_eq!(file.load().unwrap()["/aws/cloudtrail"], g);
        assert!(!dir.path().join("cp/state.tmp").exists());
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = CheckpointFile::new(&path).load().unwrap_err().to_string();
        assert!(e.contains("not a trailscope checkpoint"), "{e}");
    }
}
