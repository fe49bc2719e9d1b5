//! parkmesh-manager (placeholder being built).
