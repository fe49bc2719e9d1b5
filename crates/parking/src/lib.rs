//! parkmesh-parking (placeholder being built).
