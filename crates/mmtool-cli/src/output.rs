//! Writing user-facing files safely.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically (temp file in the same directory, then
/// rename). Refuses to replace an existing file unless `force` is set, so a
/// mistyped `--out` never destroys earlier results.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if path.exists() && !force {
        anyhow::bail!(
            "{}: already exists; pass --force to overwrite it",
            path.display()
        );
    }
    mmtool_data::write_atomic(path, bytes)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
