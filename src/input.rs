//! Reading request bodies: helpers shared by every `PATCH`-style input.

use serde::{Deserialize, Deserializer};

/// Tells an absent field (`None`, left as it is) from an explicit `null` (`Some(None)`,
/// cleared): use as `#[serde(default, deserialize_with = "crate::input::present")]`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
