//! A container image written as a `docker save` archive from files on this machine, for
//! `ctr images import`: one layer, an image config (entrypoint, user), a manifest naming the
//! reference. This is how the real node gets the pause and CoreDNS images without a registry.
//! The layer and the archive are made with the system `tar`, the digests with `sha256sum`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why an image archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
}

/// What goes into one image.
pub struct ImageSpec<'a> {
    /// e.g. `storefront.local/pause:3.10`
    pub reference: &'a str,
    pub entrypoint: &'a [&'a str],
    /// `uid:gid`
    pub user: &'a str,
    /// (file on this machine, absolute path in the image); each is made executable.
    pub files: &'a [(&'a Path, &'a str)],
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

fn run(command: &mut Command) -> Result<String, ArchiveError> {
    let output = command
        .output()
        .map_err(io(format!("running {command:?}")))?;
    if !output.status.success() {
        return Err(ArchiveError::Command {
            command: format!("{command:?}"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn sha256(path: &Path) -> Result<String, ArchiveError> {
    let out = run(Command::new("sha256sum").arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

/// A deterministic tar of `dir`'s contents (root-owned, mtime 0, sorted).
fn tar_dir(dir: &Path, out: &Path) -> Result<(), ArchiveError> {
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
        ])
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg("."))
    .map(|_| ())
}

/// The image config: what the runtime reads to start the container.
pub fn config_json(spec: &ImageSpec<'_>, layer_digest: &str) -> serde_json::Value {
    serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": spec.entrypoint, "User": spec.user},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    })
}

/// Writes `spec` as an archive at `out`, staging in `work` (removed afterwards).
pub fn write(spec: &ImageSpec<'_>, work: &Path, out: &Path) -> Result<PathBuf, ArchiveError> {
    let layer_dir = work.join("layer");
    let archive_dir = work.join("archive");
    std::fs::create_dir_all(&archive_dir).map_err(io("creating the image staging directory"))?;
    for (source, dest) in spec.files {
        let target = layer_dir.join(dest.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("staging the layer"))?;
        }
        std::fs::copy(source, &target).map_err(io(format!("copying {}", source.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
            .map_err(io("making a file executable"))?;
    }
    let layer_tar = work.join("layer.tar");
    tar_dir(&layer_dir, &layer_tar)?;
    let layer_digest = sha256(&layer_tar)?;
    let layer_name = format!("{layer_digest}/layer.tar");
    std::fs::create_dir_all(archive_dir.join(&layer_digest)).map_err(io("staging the archive"))?;
    std::fs::rename(&layer_tar, archive_dir.join(&layer_name)).map_err(io("staging the layer"))?;

    let config = serde_json::to_vec(&config_json(spec, &layer_digest))
        .map_err(|e| io("encoding the image config")(std::io::Error::other(e)))?;
    let config_path = work.join("config.json");
    std::fs::write(&config_path, &config).map_err(io("writing the image config"))?;
    let config_name = format!("{}.json", sha256(&config_path)?);
    std::fs::rename(&config_path, archive_dir.join(&config_name))
        .map_err(io("staging the image config"))?;
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [spec.reference],
        "Layers": [layer_name],
    }]);
    std::fs::write(archive_dir.join("manifest.json"), manifest.to_string())
        .map_err(io("writing the manifest"))?;
    tar_dir(&archive_dir, out)?;
    let _ = std::fs::remove_dir_all(&layer_dir);
    let _ = std::fs::remove_dir_all(&archive_dir);
    Ok(out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_entrypoint_user_and_layer() {
        let spec = ImageSpec {
            reference: "storefront.local/pause:3.10",
            entrypoint: &["/pause"],
            user: "65532:65532",
            files: &[],
        };
        let config = config_json(&spec, "abc");
        assert_eq!(config["config"]["Entrypoint"][0], "/pause");
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["rootfs"]["diff_ids"][0], "sha256:abc");
    }
}
