//! Closed sets of names the agents work with (departments, priorities, agent kinds,
//! tools, ...): one macro declares each enum with its variants' wire names and gives it
//! `FromStr` and `Display`, so the rest of the code matches on variants instead of
//! comparing strings.

/// A word that is not one of a closed set's names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {name:?}")]
pub struct UnknownName {
    /// Which set (the enum's name).
    pub kind: &'static str,
    /// The word (cut to 64 characters: it may come from a model or a request).
    pub name: String,
}

/// Declares an enum of names, each variant with its wire name (`Variant = "wire"`):
/// serde writes and reads that name, and the enum gets `ALL`, `as_str`, `FromStr` and
/// `Display` from the same list. The enum must derive `Serialize` and `Deserialize`.
macro_rules! named {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $name:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $ty {
            $($(#[$variant_meta])* #[serde(rename = $name)] $variant),+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [Self; [$($name),+].len()] = [$(Self::$variant),+];

            /// Wire name: as serde writes it and the database stores it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::agents::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err($crate::agents::names::UnknownName {
                        kind: stringify!($ty),
                        name: s.chars().take(64).collect(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named;

/// For tests: every value of `all` writes its `as_str` name through serde and parses
/// back from it.
#[cfg(test)]
pub(crate) fn assert_names_agree<T>(all: &[T])
where
    T: Copy + std::fmt::Debug + PartialEq + serde::Serialize + std::str::FromStr + std::fmt::Display,
    <T as std::str::FromStr>::Err: std::fmt::Debug,
{
    for v in all {
        let wire = v.to_string();
        assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::String(wire.clone())), "{v:?}");
        assert_eq!(wire.parse::<T>().ok(), Some(*v), "{wire}");
    }
}
