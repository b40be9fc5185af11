//! Where the admin socket may live: in a directory only the server's user
//! can write, so that no other local user can put a socket of their own at
//! its path first (to answer `ejtimaa connect` in the server's name) or
//! swap it for something else.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Makes sure the directory of `socket` exists and is private: created with
/// mode 0700 when missing; refused when it belongs to another user or
/// others may write to it.
pub fn prepare(socket: &Path) -> anyhow::Result<()> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    let uid = effective_uid();
    if meta.uid() != uid {
        anyhow::bail!(
            "the admin socket's directory {} belongs to uid {}, not to this server's uid {uid}: \
             choose another admin.socket",
            dir.display(),
            meta.uid()
        );
    }
    if meta.permissions().mode() & 0o022 != 0 {
        anyhow::bail!(
            "others may write to the admin socket's directory {} (mode {:o}): \
             make it 0700 or choose another admin.socket",
            dir.display(),
            meta.permissions().mode() & 0o7777
        );
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ejtimaa-place-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let dir = scratch("missing");
        prepare(&dir.join("a/admin.sock")).unwrap();
        let mode = std::fs::metadata(dir.join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let dir = scratch("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare(&dir.join("admin.sock")).unwrap_err().to_string();
        assert!(err.contains("others may write"), "{err}");
        // The shared temporary directory itself is such a place.
        let err = prepare(Path::new("/tmp/x.sock")).unwrap_err().to_string();
        assert!(err.contains("admin.socket"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        prepare(&dir.join("admin.sock")).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_default_is_in_a_directory_of_its_own() {
        let socket = crate::config::AdminConfig::default().socket;
        assert_eq!(socket.file_name().unwrap(), "admin.sock");
        let dir = socket.parent().unwrap();
        assert!(
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ejtimaa")
        );
    }
}
