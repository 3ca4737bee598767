use std::path::{Path, PathBuf};

use crate::DataError;

/// Environment variable that points at the ToolMMBench directory.
pub const DATA_DIR_ENV: &str = "MMTOOL_DATA_DIR";
/// Default location, relative to the project root (the working directory).
pub const DEFAULT_DATA_DIR: &str = "../shared/toolmmbench";

/// Environment variable that moves the model/weights cache.
pub const CACHE_DIR_ENV: &str = "MMTOOL_CACHE";

/// Where `scripts/fetch-weights.sh` puts weights and where derived caches
/// (indexes, embeddings) live: `$MMTOOL_CACHE`, default `~/.cache/mmtool`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".cache/mmtool"),
    }
}

/// Picks the data directory: an explicit flag wins, then `MMTOOL_DATA_DIR`,
/// then the default. The result must exist.
pub fn resolve_data_dir(flag: Option<&Path>) -> Result<PathBuf, DataError> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(DATA_DIR_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_DATA_DIR),
        },
    };
    if path.is_dir() {
        Ok(path)
    } else {
        Err(DataError::NoDataDir { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_flag_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_data_dir(Some(dir.path())).unwrap(), dir.path());
        let missing = dir.path().join("nope");
        let err = resolve_data_dir(Some(&missing)).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains(DATA_DIR_ENV), "{err}");
    }

    #[test]
    fn cache_dir_follows_the_environment() {
        // Only this test touches MMTOOL_CACHE in this test binary.
        std::env::set_var(CACHE_DIR_ENV, "/tmp/mmtool-cache-test");
        assert_eq!(cache_dir(), PathBuf::from("/tmp/mmtool-cache-test"));
        std::env::set_var(CACHE_DIR_ENV, "");
        assert!(cache_dir().ends_with(".cache/mmtool"));
        std::env::remove_var(CACHE_DIR_ENV);
    }
}
