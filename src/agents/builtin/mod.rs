//! The built-in offline engine: deterministic Spanish/English understanding with no
//! network and no model weights.

pub mod engine;
pub mod intents;
pub mod lang;
pub mod learned;
pub mod lexicon;
pub mod routing;
pub mod sentiment;
pub mod summary;
pub mod text;

pub use routing::classify;
