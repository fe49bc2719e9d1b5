//! The environment variables that override secrets (and the database URL) in the file, and the two lookups passed to
//! loading: the process environment and an empty one.

/// Environment variable that overrides `cluster_secret` from the file.
pub const ENV_CLUSTER_SECRET: &str = "PARKMESH_CLUSTER_SECRET";
/// Environment variable that overrides `admin_token` from the file.
pub const ENV_ADMIN_TOKEN: &str = "PARKMESH_ADMIN_TOKEN";
/// Environment variable that overrides `storage.url` from the file (so that a database password
/// need not sit in the file).
pub const ENV_DATABASE_URL: &str = "PARKMESH_DATABASE_URL";

/// Reads a variable from the process environment: the lookup [`crate::Config::load`] uses.
///
/// An unset variable, one that is not valid UTF-8 and one set to the empty string all count as
/// unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// An environment in which no variable is set; handy for tests and for validating request bodies.
pub fn no_env(_name: &str) -> Option<String> {
    None
}
