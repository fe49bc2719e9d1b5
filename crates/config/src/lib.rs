//! parkmesh-config (placeholder being built).
