//! A local Kubernetes control plane from upstream binaries (built by `scripts/kube-tools.sh`):
//! etcd, kube-apiserver with certificates, RBAC and an audit log, kube-controller-manager,
//! kube-scheduler, and kwok's simulated nodes or one real node (`real_node`: containerd, the
//! kubelet, kube-proxy, CoreDNS). The operator's cluster tests (`tests/`) and
//! `make cluster` (`storefront-cluster`) start it; every process is tied to the one that started
//! it and the cluster's files are removed when it stops.

pub mod audit;
pub mod control_plane;
pub mod image_archive;
pub mod kubeconfig;
pub mod kubectl;
pub mod nodes;
pub mod pki;
pub mod real_node;
pub mod tools;

pub use control_plane::{ClusterError, ClusterOptions, LocalCluster, progress};
pub use kubectl::{Kubectl, KubectlError};
