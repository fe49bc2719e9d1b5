//! Support of the mixed-version tests: the frozen copy of an older release's frame types.

pub(crate) mod frozen;
