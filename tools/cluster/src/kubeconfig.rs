//! Kubeconfig files: one per identity, all pointing at the local API server and trusting its CA.

use std::path::Path;

/// How a kubeconfig authenticates.
pub enum Credentials<'a> {
    /// A client certificate and its key (files).
    Certificate { cert: &'a Path, key: &'a Path },
    /// A bearer token (a service account's TokenRequest token).
    Token(&'a str),
}

/// The text of a kubeconfig with one cluster, one user and one current context.
pub fn render(server: &str, ca: &Path, user: &str, credentials: &Credentials<'_>) -> String {
    let auth = match credentials {
        Credentials::Certificate { cert, key } => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        ),
        Credentials::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: storefront-local\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n\
         {auth}contexts:\n- name: storefront-local\n  context:\n    cluster: storefront-local\n    \
         user: {user}\n    namespace: default\ncurrent-context: storefront-local\n",
        ca = ca.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_kubeconfig_names_server_ca_and_token() {
        let text = render(
            "https://127.0.0.1:6443",
            Path::new("/tmp/ca.crt"),
            "operator",
            &Credentials::Token("abc"),
        );
        assert!(text.contains("server: https://127.0.0.1:6443"));
        assert!(text.contains("certificate-authority: /tmp/ca.crt"));
        assert!(text.contains("token: abc"));
        assert!(text.contains("current-context: storefront-local"));
    }
}
