//! Reading the API server's audit log (JSON lines, `audit.k8s.io/v1` Events at the Metadata
//! level, one line per request at `ResponseComplete`): who changed what, counted from a mark.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The verbs that change state.
pub const MUTATING: [&str; 6] = [
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "apply",
];

/// One request, as much of it as the tests read.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    pub user: User,
    #[serde(rename = "objectRef", default)]
    pub object: Option<ObjectRef>,
    #[serde(rename = "responseStatus", default)]
    pub response: Option<ResponseStatus>,
    #[serde(default)]
    pub stage: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct User {
    #[serde(default)]
    pub username: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subresource: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: u16,
}

impl Request {
    pub fn is_mutating(&self) -> bool {
        MUTATING.contains(&self.verb.as_str())
    }

    /// `verb resource[/subresource] namespace/name -> code`, for messages.
    pub fn describe(&self) -> String {
        let o = self.object.clone().unwrap_or_default();
        let sub = if o.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", o.subresource)
        };
        let code = self.response.as_ref().map_or(0, |r| r.code);
        format!(
            "{} {}{sub} {}/{} -> {code}",
            self.verb, o.resource, o.namespace, o.name
        )
    }
}

/// The audit log of one cluster.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

/// A position in the log; requests are read from here on.
#[derive(Clone, Copy, Debug)]
pub struct Mark(u64);

impl AuditLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current end of the log.
    pub fn mark(&self) -> Mark {
        Mark(std::fs::metadata(&self.path).map_or(0, |m| m.len()))
    }

    /// Every completed request logged since `mark`. Lines that do not parse are skipped.
    pub fn since(&self, mark: Mark) -> Vec<Request> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(mark.0)).is_err() {
            return Vec::new();
        }
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Request>(&line).ok())
            .filter(|r| r.stage == "ResponseComplete")
            .collect()
    }

    /// The mutating requests `username` made since `mark`.
    pub fn mutations_by(&self, username: &str, mark: Mark) -> Vec<Request> {
        self.since(mark)
            .into_iter()
            .filter(|r| r.user.username == username && r.is_mutating())
            .collect()
    }
}

/// The audit policy the API server runs with: every request at the Metadata level, logged once
/// when its response is complete.
pub const POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: \
                          [RequestReceived, ResponseStarted]\nrules:\n- level: Metadata\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_users_mutating_requests_after_the_mark() {
        let dir = std::env::temp_dir().join(format!("audit-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let line = |verb: &str, user: &str| {
            format!(
                "{{\"verb\":\"{verb}\",\"user\":{{\"username\":\"{user}\"}},\"stage\":\"ResponseComplete\",\
                 \"objectRef\":{{\"resource\":\"deployments\",\"namespace\":\"shop\",\"name\":\"x\"}},\
                 \"responseStatus\":{{\"code\":200}}}}\n"
            )
        };
        std::fs::write(&path, line("patch", "op")).unwrap();
        let log = AuditLog::new(&path);
        let mark = log.mark();
        let mut more = line("get", "op");
        more.push_str(&line("patch", "someone-else"));
        more.push_str(&line("patch", "op"));
        more.push_str("not json\n");
        std::fs::write(&path, format!("{}{more}", line("patch", "op"))).unwrap();
        let found = log.mutations_by("op", mark);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].describe(), "patch deployments shop/x -> 200");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
