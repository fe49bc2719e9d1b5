//! parkmesh-replication (placeholder being built).
