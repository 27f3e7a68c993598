//! The cluster's certificates and keys, made with the `openssl` command: a CA, the API server's
//! serving certificate (for 127.0.0.1 and localhost), one client certificate per identity, and
//! the service-account signing key. ECDSA P-256 keys, valid for two days: a test cluster lives
//! for minutes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate request that `openssl` could not fulfil.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(
        "cannot run `openssl` ({0}); install it (Debian: apt-get install openssl) to make the \
         cluster's certificates"
    )]
    NoOpenssl(std::io::Error),
    #[error("openssl {step} failed: {stderr}")]
    Failed { step: String, stderr: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A key and its certificate on disk.
#[derive(Clone, Debug)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the control plane needs.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca: KeyPair,
    pub apiserver: KeyPair,
    /// Service-account token signing: private key (apiserver, controller-manager) and public key.
    pub service_account_key: PathBuf,
    pub service_account_pub: PathBuf,
    dir: PathBuf,
}

const DAYS: &str = "2";

fn openssl(step: &str, args: &[&str], cwd: &Path) -> Result<(), PkiError> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(PkiError::NoOpenssl)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PkiError::Failed {
            step: step.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn write(path: &Path, text: &str) -> Result<(), PkiError> {
    std::fs::write(path, text).map_err(|source| PkiError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn ec_key(dir: &Path, name: &str) -> Result<PathBuf, PkiError> {
    let key = format!("{name}.key");
    openssl(
        &format!("genpkey ({name})"),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
        dir,
    )?;
    Ok(dir.join(key))
}

impl Pki {
    /// Makes the CA, the serving certificate and the service-account key in `dir`.
    pub fn create(dir: &Path) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        let ca_key = ec_key(dir, "ca")?;
        openssl(
            "req (CA)",
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                DAYS,
                "-subj",
                "/CN=storefront-local-cluster-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
            dir,
        )?;
        let ca = KeyPair {
            cert: dir.join("ca.crt"),
            key: ca_key,
        };
        let mut pki = Self {
            apiserver: ca.clone(),
            ca,
            service_account_key: dir.join("sa.key"),
            service_account_pub: dir.join("sa.pub"),
            dir: dir.to_owned(),
        };
        pki.apiserver = pki.sign(
            "apiserver",
            "/CN=kube-apiserver",
            "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,\
             DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n",
        )?;
        openssl(
            "genpkey (service accounts)",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "sa.key",
            ],
            dir,
        )?;
        openssl(
            "pkey (service accounts)",
            &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
            dir,
        )?;
        Ok(pki)
    }

    /// A client certificate for user `user` in `groups` (the API server maps CN to the user and
    /// O to groups).
    pub fn client(&self, name: &str, user: &str, groups: &[&str]) -> Result<KeyPair, PkiError> {
        let mut subject: String = groups.iter().map(|g| format!("/O={g}")).collect();
        subject.push_str(&format!("/CN={user}"));
        self.sign(name, &subject, "extendedKeyUsage=clientAuth\n")
    }

    fn sign(&self, name: &str, subject: &str, extensions: &str) -> Result<KeyPair, PkiError> {
        let dir = &self.dir;
        let key = ec_key(dir, name)?;
        let csr = format!("{name}.csr");
        let ext = format!("{name}.ext");
        let cert = format!("{name}.crt");
        write(&dir.join(&ext), extensions)?;
        openssl(
            &format!("req ({name})"),
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                subject,
                "-out",
                &csr,
            ],
            dir,
        )?;
        openssl(
            &format!("x509 ({name})"),
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial(),
                "-days",
                DAYS,
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
            dir,
        )?;
        Ok(KeyPair {
            cert: dir.join(cert),
            key,
        })
    }
}

/// A serial number unique enough for one cluster's handful of certificates.
fn serial() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(2);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{}",
        nanos.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) >> 1
    )
}
