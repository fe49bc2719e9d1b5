//! parkmesh-api (placeholder being built).
