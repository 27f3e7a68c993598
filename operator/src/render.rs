//! Offline rendering: read `EcommercePlatform` documents from YAML and print the objects the
//! controller would apply, with no cluster. Same validate and build code as the controller.
//!
//! Offline means: owner UID is a placeholder, referenced Secrets are assumed to exist, and
//! generated secrets come from the given `SecretSource` (random unless a test says otherwise).
//! Fields the schema does not know are reported, as the API server's field validation warns
//! about them (and then drops them): a typo must not silently render the default.

use std::fmt;

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

/// A field of an input document that the schema does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// Index of the YAML document in the stream (0-based).
    pub document: usize,
    /// Where it is, as the API server names it: `spec.services.catalog.autoscaling.x`.
    pub path: String,
}

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown field \"{}\" (document {})",
            self.path, self.document
        )
    }
}

/// The platforms of a YAML stream and the fields of theirs that the schema does not know.
#[derive(Debug, Default)]
pub struct Platforms {
    pub platforms: Vec<EcommercePlatform>,
    pub unknown_fields: Vec<UnknownField>,
}

/// A rendered stream and the unknown fields of its input.
#[derive(Debug)]
pub struct Rendered {
    pub yaml: String,
    pub unknown_fields: Vec<UnknownField>,
}

/// A path as the API server writes it: fields joined by dots, list items as `[i]`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// Every `EcommercePlatform` in a YAML stream (other kinds are skipped), with the fields the
/// schema does not know.
pub fn parse_platforms(yaml: &str) -> Result<Platforms, RenderError> {
    let mut out = Platforms::default();
    for (index, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .map_err(|source| RenderError::Yaml { index, source })?;
        let is_platform = value.get("kind").and_then(|k| k.as_str()) == Some("EcommercePlatform")
            && value
                .get("apiVersion")
                .and_then(|k| k.as_str())
                .is_some_and(|v| v.starts_with("storefront.dev/"));
        if is_platform {
            let platform = serde_ignored::deserialize(value, |path| {
                let path = field_path(&path);
                // The type fields were read above; the typed object keeps them elsewhere.
                if !matches!(path.as_str(), "apiVersion" | "kind") {
                    out.unknown_fields.push(UnknownField {
                        document: index,
                        path,
                    });
                }
            })
            .map_err(|source| RenderError::Schema { index, source })?;
            out.platforms.push(platform);
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
pub fn render_yaml(yaml: &str, source: &mut dyn SecretSource) -> Result<Rendered, RenderError> {
    let parsed = parse_platforms(yaml)?;
    if parsed.platforms.is_empty() {
        return Err(RenderError::Empty);
    }
    let mut out = String::new();
    for platform in &parsed.platforms {
        let objects = render_platform(platform, source)?;
        out.push_str(&build::to_yaml_stream(&objects));
    }
    Ok(Rendered {
        yaml: out,
        unknown_fields: parsed.unknown_fields,
    })
}
