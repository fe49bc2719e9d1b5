//! parkmesh-transport (placeholder being built).
