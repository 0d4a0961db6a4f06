//! The plugin host against real components: every seeded plugin on the loopback fakes, hostile
//! components, loading rules and artifacts. Components come from `script/build-plugins`.

mod common;

mod anthropic;
mod artifacts;
mod conformance;
mod fixtures;
mod frames;
mod hostile;
mod load;
mod providers;
