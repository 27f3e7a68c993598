//! Where the upstream binaries are: the cache that `scripts/kube-tools.sh` fills
//! (`$STOREFRONT_KUBE_TOOLS`, else `$STOREFRONT_CACHE/kube-tools`, else
//! `~/.cache/storefront/kube-tools`). Nothing here builds anything; a missing binary is an error
//! that names the script to run.

use std::path::{Path, PathBuf};

/// The binaries a control plane with kwok nodes needs.
pub const CONTROL_PLANE: [&str; 7] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
];

/// A binary the cache does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{name}` is not in {dir}: run scripts/kube-tools.sh (it builds the pinned Kubernetes, etcd, \
     kwok and helm binaries from the Go module proxy into that cache), or point \
     STOREFRONT_KUBE_TOOLS at a directory holding bin/{name}"
)]
pub struct MissingTool {
    pub name: String,
    pub dir: String,
}

/// The kube-tools cache directory (holds `bin/` and the Istio CRDs).
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STOREFRONT_KUBE_TOOLS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("STOREFRONT_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("storefront"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("storefront"))
        })
        .unwrap_or_else(|| PathBuf::from("/tmp/storefront-cache"));
    cache.join("kube-tools")
}

/// The directory of the binaries, to put on PATH.
pub fn bin_dir() -> PathBuf {
    tools_dir().join("bin")
}

/// The path of one binary, or why it is missing.
pub fn binary(name: &str) -> Result<PathBuf, MissingTool> {
    let path = bin_dir().join(name);
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(MissingTool {
            name: name.to_owned(),
            dir: bin_dir().display().to_string(),
        })
    }
}

/// Every binary of `names`, or the first one missing.
pub fn require(names: &[&str]) -> Result<(), MissingTool> {
    names.iter().try_for_each(|n| binary(n).map(|_| ()))
}

/// The Istio CRDs (`kubernetes/customresourcedefinitions.gen.yaml` of istio.io/api).
pub fn istio_crds() -> Result<PathBuf, MissingTool> {
    let path = tools_dir().join("istio-crds.yaml");
    if path.is_file() {
        Ok(path)
    } else {
        Err(MissingTool {
            name: "istio-crds.yaml".to_owned(),
            dir: tools_dir().display().to_string(),
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
