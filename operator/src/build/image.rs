//! Container image references, checked before anything is applied.
//!
//! Invariant: an `ImageRef` has a lower-case repository, and a tag or digest of valid syntax, so
//! the kubelet never fails on a reference the operator wrote.

use std::fmt;

/// The reference is not `repository[:tag][@sha256:digest]` of valid syntax.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("image `{0}` is empty or contains whitespace; write e.g. ghcr.io/acme/catalog:1.2.0")]
    Malformed(String),
    #[error(
        "image repository `{0}` must be lower-case letters, digits and . _ - / (a registry host may carry a :port)"
    )]
    Repository(String),
    #[error(
        "image tag `{0}` is invalid; a tag is 1-128 of A-Z a-z 0-9 _ . - and does not start with . or -"
    )]
    Tag(String),
    #[error("image digest `{0}` is invalid; write sha256: followed by 64 lower-case hex digits")]
    Digest(String),
}

/// A checked image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// `<registry>/<name>:<tag>`.
    pub fn from_parts(registry: &str, name: &str, tag: &str) -> Result<Self, ImageError> {
        Self::parse(&format!("{}/{name}:{tag}", registry.trim_end_matches('/')))
    }

    /// Parse and check a full reference.
    pub fn parse(reference: &str) -> Result<Self, ImageError> {
        if reference.is_empty() || reference.chars().any(char::is_whitespace) {
            return Err(ImageError::Malformed(reference.to_owned()));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (reference, None),
        };
        // A colon after the last slash separates the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        check_repository(repository)?;
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        if let Some(digest) = digest {
            check_digest(digest)?;
        }
        Ok(Self {
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The version this image stands for: its tag, else the first 12 digest digits, else latest.
    pub fn version(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(digest)) => digest.trim_start_matches("sha256:")[..12].to_owned(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `tag` is a valid image tag (also used for `spec.version`).
pub fn check_tag(tag: &str) -> Result<(), ImageError> {
    let ok = (1..=128).contains(&tag.len())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ImageError::Tag(tag.to_owned()))
    }
}

fn check_repository(repository: &str) -> Result<(), ImageError> {
    let mut parts = repository.split('/');
    let first = parts.next().unwrap_or_default();
    // The first part may be a registry host with a port (localhost:5000).
    let host_ok = |s: &str| {
        let (host, port) = s.split_once(':').unwrap_or((s, "0"));
        component_ok(host) && port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty()
    };
    if host_ok(first) && parts.all(component_ok) {
        Ok(())
    } else {
        Err(ImageError::Repository(repository.to_owned()))
    }
}

fn component_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn check_digest(digest: &str) -> Result<(), ImageError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        _ => Err(ImageError::Digest(digest.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_references() {
        for ok in [
            "ghcr.io/acme/catalog:1.2.0",
            "localhost:5000/catalog:dev",
            "postgres:17-alpine",
            "catalog",
            "registry.example.com/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            let image = ImageRef::parse(ok).unwrap();
            assert_eq!(image.to_string(), ok);
        }
    }

    #[test]
    fn rejects_upper_case_repositories_bad_tags_and_digests() {
        assert!(matches!(
            ImageRef::parse("ghcr.io/Acme/x:1"),
            Err(ImageError::Repository(_))
        ));
        assert!(matches!(
            ImageRef::parse("ghcr.io/acme/x:-1"),
            Err(ImageError::Tag(_))
        ));
        assert!(matches!(
            ImageRef::parse("x@sha256:abc"),
            Err(ImageError::Digest(_))
        ));
        assert!(matches!(
            ImageRef::parse("a b"),
            Err(ImageError::Malformed(_))
        ));
        assert!(matches!(
            ImageRef::parse("ghcr.io//x:1"),
            Err(ImageError::Repository(_))
        ));
    }

    #[test]
    fn version_comes_from_tag_then_digest() {
        assert_eq!(ImageRef::parse("x:1.0").unwrap().version(), "1.0");
        let digest = "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(ImageRef::parse(digest).unwrap().version(), "0123456789ab");
    }
}
