//! Offline rendering: read `EcommercePlatform` documents from YAML and print the objects the
//! controller would apply, with no cluster. Same validate and build code as the controller.
//!
//! Offline means: owner UID is a placeholder, referenced Secrets are assumed to exist, and
//! generated secrets come from the given `SecretSource` (random unless a test says otherwise).

use serde::Deserialize;

use crate::build::{self, ClusterInputs, DesiredObject, ValidationError, secrets::SecretSource};
use crate::crd::EcommercePlatform;

/// Why a file could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("document {index} is not valid YAML: {source}")]
    Yaml {
        index: usize,
        source: serde_norway::Error,
    },
    #[error("document {index} is an EcommercePlatform but does not match the schema: {source}")]
    Schema {
        index: usize,
        source: serde_json::Error,
    },
    #[error("EcommercePlatform `{name}`: {source}")]
    Invalid {
        name: String,
        source: ValidationError,
    },
    #[error("no EcommercePlatform document found; the file needs kind: EcommercePlatform")]
    Empty,
}

/// Every `EcommercePlatform` in a YAML stream (other kinds are skipped).
pub fn parse_platforms(yaml: &str) -> Result<Vec<EcommercePlatform>, RenderError> {
    let mut out = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .map_err(|source| RenderError::Yaml { index, source })?;
        let is_platform = value.get("kind").and_then(|k| k.as_str()) == Some("EcommercePlatform")
            && value
                .get("apiVersion")
                .and_then(|k| k.as_str())
                .is_some_and(|v| v.starts_with("storefront.dev/"));
        if is_platform {
            let platform = serde_json::from_value(value)
                .map_err(|source| RenderError::Schema { index, source })?;
            out.push(platform);
        }
    }
    Ok(out)
}

/// The objects of one platform, rendered offline.
pub fn render_platform(
    platform: &EcommercePlatform,
    source: &mut dyn SecretSource,
) -> Result<Vec<DesiredObject>, RenderError> {
    let validated =
        build::validate(platform, &ClusterInputs::offline(), source).map_err(|source| {
            RenderError::Invalid {
                name: platform.metadata.name.clone().unwrap_or_default(),
                source,
            }
        })?;
    Ok(build::build(&validated))
}

/// Render every platform in a YAML stream to one YAML stream.
pub fn render_yaml(yaml: &str, source: &mut dyn SecretSource) -> Result<String, RenderError> {
    let platforms = parse_platforms(yaml)?;
    if platforms.is_empty() {
        return Err(RenderError::Empty);
    }
    let mut out = String::new();
    for platform in &platforms {
        let objects = render_platform(platform, source)?;
        out.push_str(&build::to_yaml_stream(&objects));
    }
    Ok(out)
}
