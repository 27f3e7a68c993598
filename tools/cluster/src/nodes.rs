//! What the cluster's workloads land on: kwok's fake nodes (pods are simulated: scheduled,
//! Running and Ready, no container runs) and storage for StatefulSets, a default StorageClass
//! `standard` with pre-made hostPath PersistentVolumes that the PV controller binds claims to.

use std::fmt::Write;
use std::path::Path;

/// The annotation kwok is told to manage nodes by.
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node=fake";

/// Size of each pre-made volume; claims up to this size bind.
pub const VOLUME_SIZE: &str = "50Gi";

/// Nodes, the StorageClass and `volumes` PersistentVolumes under `volume_dir`, as one YAML
/// stream for `kubectl apply -f -`.
pub fn manifests(nodes: usize, volumes: usize, volume_dir: &Path) -> String {
    let mut out = String::new();
    for i in 0..nodes {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: kwok-node-{i}\n  annotations:\n    \
             kwok.x-k8s.io/node: fake\n    node.alpha.kubernetes.io/ttl: \"0\"\n  labels:\n    \
             kubernetes.io/hostname: kwok-node-{i}\n    kubernetes.io/os: linux\n    \
             kubernetes.io/arch: amd64\n    type: kwok\nstatus:\n  allocatable: {{cpu: \"64\", \
             memory: 256Gi, pods: \"250\"}}\n  capacity: {{cpu: \"64\", memory: 256Gi, pods: \
             \"250\"}}\n"
        );
    }
    out.push_str(
        "---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: standard\n  \
         annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\nprovisioner: \
         kubernetes.io/no-provisioner\nreclaimPolicy: Retain\nvolumeBindingMode: Immediate\n\
         allowVolumeExpansion: true\n",
    );
    for i in 0..volumes {
        let path = volume_dir.join(format!("pv-{i}"));
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: local-pv-{i}\n\
             spec:\n  capacity: {{storage: {VOLUME_SIZE}}}\n  accessModes: [ReadWriteOnce]\n  \
             persistentVolumeReclaimPolicy: Retain\n  storageClassName: standard\n  hostPath:\n    \
             path: {}\n    type: DirectoryOrCreate\n",
            path.display()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_per_node_class_and_volume() {
        let text = manifests(2, 3, Path::new("/tmp/v"));
        assert_eq!(text.matches("kind: Node\n").count(), 2);
        assert_eq!(text.matches("kind: StorageClass\n").count(), 1);
        assert_eq!(text.matches("kind: PersistentVolume\n").count(), 3);
        assert!(text.contains("path: /tmp/v/pv-2"));
    }
}
