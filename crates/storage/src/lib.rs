//! parkmesh-storage (placeholder being built).
