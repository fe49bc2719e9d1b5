//! central-server binary.
fn main() {}
