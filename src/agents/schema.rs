//! JSON schemas of the agents' structured answers, generated from their Rust types in
//! the shape OpenAI's strict structured-output mode accepts
//! (<https://platform.openai.com/docs/guides/structured-outputs#supported-schemas>):
//! every object closed (`additionalProperties: false`) with all its properties
//! required (an optional field is nullable instead), enums as string enums, and no
//! references or keywords that mode does not support.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// Keywords dropped from generated schemas: strict mode refuses defaults and number
/// formats, and titles and descriptions come from doc comments written for Rust
/// readers (the prompts tell the model what each field means).
const DROPPED: &[&str] = &["$schema", "title", "description", "default", "format"];

/// The strict JSON schema of `T`, as the remote model receives it.
pub fn strict<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    tighten(&mut schema);
    schema
}

fn tighten(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for key in DROPPED {
        map.remove(*key);
    }
    for key in ["items", "anyOf", "oneOf"] {
        match map.get_mut(key) {
            Some(Value::Array(list)) => list.iter_mut().for_each(tighten),
            Some(one) => tighten(one),
            None => {}
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(tighten);
        let names = properties.keys().cloned().map(Value::String).collect();
        map.insert("required".into(), Value::Array(names));
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    // A unit enum with documented variants comes as `oneOf` one constant each.
    if let Some(names) = map.get("oneOf").and_then(string_constants) {
        map.remove("oneOf");
        map.insert("type".into(), json!("string"));
        map.insert("enum".into(), Value::Array(names));
    }
    // An optional enum comes as `anyOf` the enum or null: one nullable string enum.
    if let Some(Value::Array(options)) = map.get("anyOf")
        && let [Value::Object(inner), null] = options.as_slice()
        && *null == json!({"type": "null"})
        && inner.get("type") == Some(&json!("string"))
        && let Some(Value::Array(names)) = inner.get("enum")
    {
        let mut names = names.clone();
        names.push(Value::Null);
        map.remove("anyOf");
        map.insert("type".into(), json!(["string", "null"]));
        map.insert("enum".into(), Value::Array(names));
    }
}

/// The constants of a `oneOf` list when every member is just a string constant.
fn string_constants(one_of: &Value) -> Option<Vec<Value>> {
    one_of
        .as_array()?
        .iter()
        .map(|member| member.get("const").filter(|c| c.is_string()).cloned())
        .collect::<Option<Vec<_>>>()
        .filter(|names| !names.is_empty())
}

/// Every object schema inside `schema` (itself included), for checks.
#[cfg(test)]
fn objects(schema: &Value) -> Vec<&serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    match schema {
        Value::Object(map) => {
            out.push(map);
            out.extend(map.values().flat_map(objects));
        }
        Value::Array(list) => out.extend(list.iter().flat_map(objects)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::summary::{CallSummary, MAX_ITEMS};
    use crate::agents::{Classification, Department, Verdict};

    fn assert_strict(name: &str, schema: &Value) {
        for map in objects(schema) {
            for key in ["$ref", "$defs", "oneOf", "allOf", "default", "format", "title"] {
                assert!(!map.contains_key(key), "{name}: {key} in {map:?}");
            }
            if let Some(Value::Object(properties)) = map.get("properties").filter(|_| map.contains_key("type")) {
                assert_eq!(map.get("type"), Some(&json!("object")), "{name}");
                assert_eq!(map.get("additionalProperties"), Some(&json!(false)), "{name}: closed object");
                let required: Vec<&Value> = map["required"].as_array().map(|r| r.iter().collect()).unwrap_or_default();
                let keys: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
                assert_eq!(required, keys.iter().collect::<Vec<_>>(), "{name}: every property required");
            }
            if let Some(Value::Array(names)) = map.get("enum") {
                let nullable = map["type"] == json!(["string", "null"]);
                assert!(nullable || map["type"] == json!("string"), "{name}: a string enum: {map:?}");
                assert!(names.iter().all(|n| n.is_string() || (nullable && n.is_null())), "{name}: {names:?}");
            }
        }
    }

    #[test]
    fn the_agents_schemas_are_strict_closed_objects_with_string_enums() {
        let routing = strict::<Classification>();
        let verdict = strict::<Verdict>();
        let summary = strict::<CallSummary>();
        for (name, schema) in [("classification", &routing), ("verdict", &verdict), ("call_summary", &summary)] {
            assert_strict(name, schema);
        }

        let departments: Vec<Value> = Department::ALL.iter().map(|d| json!(d.as_str())).collect();
        assert_eq!(routing["properties"]["department"]["enum"], Value::Array(departments));
        assert_eq!(routing["properties"]["language"], json!({"type": "string", "enum": ["es", "en"]}));
        assert_eq!(routing["properties"]["category"], json!({"type": "string"}));
        assert_eq!(routing["properties"]["confidence"], json!({"type": "number", "minimum": 0, "maximum": 1}));
        assert_eq!(routing["properties"]["recommendations"], json!({"type": "array", "items": {"type": "string"}}));

        // The reason may be null (no escalation), and is still required.
        let reason = &verdict["properties"]["reason"];
        assert_eq!(reason["type"], json!(["string", "null"]));
        assert!(
            reason["enum"].as_array().is_some_and(|e| e.contains(&Value::Null) && e.contains(&json!("tool_failure")))
        );
        assert_eq!(verdict["properties"]["action"]["enum"], json!(["continue", "escalate", "offer_summary"]));

        assert_eq!(summary["properties"]["references"]["maxItems"], json!(MAX_ITEMS));
        assert_eq!(summary["properties"]["issue"], json!({"type": "string"}));
    }

    fn field_names(value: &Value) -> Vec<String> {
        let mut names: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn what_the_agents_write_has_exactly_the_fields_their_schemas_require() {
        use crate::agents::{Action, Verdict};
        let written = [
            (serde_json::to_value(crate::agents::builtin::classify("¿Cuál es mi saldo?")), strict::<Classification>()),
            (
                serde_json::to_value(Verdict { action: Action::Continue, reason: None, quality: 0.9 }),
                strict::<Verdict>(),
            ),
            (serde_json::to_value(CallSummary::default()), strict::<CallSummary>()),
        ];
        for (value, schema) in written {
            let value = value.unwrap_or_default();
            let mut required: Vec<String> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect();
            required.sort();
            assert_eq!(field_names(&value), required, "{value}");
        }
    }
}
