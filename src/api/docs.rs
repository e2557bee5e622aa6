//! `GET /api/v1/docs`: the OpenAPI document as a plain HTML page, drawn on the server
//! from the same document `/api/v1/openapi.json` serves. No script, nothing from other
//! origins: it works offline and under the app's strict Content-Security-Policy.

use askama::Template;
use askama_web::WebTemplate;
use serde_json::Value;

/// A parameter of an operation.
pub struct Param {
    /// Name.
    pub name: String,
    /// path, query or header.
    pub location: String,
    /// Must be sent.
    pub required: bool,
    /// Its type, in short.
    pub ty: String,
    /// What it is.
    pub description: String,
}

/// A body of one content type.
pub struct Body {
    /// Content type.
    pub content_type: String,
    /// Its type, in short.
    pub ty: String,
    /// The named schema it is (or holds), for a link.
    pub schema: Option<String>,
}

/// A possible answer of an operation.
pub struct Answer {
    /// Status code.
    pub status: String,
    /// When it happens.
    pub description: String,
    /// Its bodies, by content type.
    pub bodies: Vec<Body>,
}

/// One method on one path.
pub struct Operation {
    /// GET, POST, ...
    pub method: String,
    /// The full path.
    pub path: String,
    /// A fragment id.
    pub anchor: String,
    /// One line.
    pub summary: String,
    /// More, when there is more to say.
    pub description: String,
    /// No token needed.
    pub public: bool,
    /// Path, query and header parameters.
    pub params: Vec<Param>,
    /// The request bodies it takes, by content type.
    pub body: Vec<Body>,
    /// What it may answer.
    pub answers: Vec<Answer>,
}

/// A field of a schema.
pub struct Field {
    /// Name.
    pub name: String,
    /// Type, in short.
    pub ty: String,
    /// The named schema it is (or holds), for a link.
    pub schema: Option<String>,
    /// Always present.
    pub required: bool,
    /// What it is.
    pub description: String,
}

/// A named schema.
pub struct Schema {
    /// Name (the fragment id is `schema-<name>`).
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its type when it is not an object with fields.
    pub ty: String,
    /// Its fields.
    pub fields: Vec<Field>,
}

/// The `api/docs.html` template.
#[derive(Template, WebTemplate)]
#[template(path = "api/docs.html")]
pub struct DocsPage {
    /// API title.
    pub title: String,
    /// Version.
    pub version: String,
    /// Introduction.
    pub description: String,
    /// Every operation, in path order.
    pub operations: Vec<Operation>,
    /// Every named schema.
    pub schemas: Vec<Schema>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A schema in short: `Call`, `[Message]`, `string | null`, `integer (int64)`.
pub fn type_of(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    for (key, sep) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            return list.iter().map(type_of).collect::<Vec<_>>().join(sep);
        }
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | ");
    }
    let one = |t: &str| -> String {
        match t {
            "array" => format!("[{}]", s.get("items").map(type_of).unwrap_or_else(|| "any".into())),
            "object" => match s.get("additionalProperties") {
                Some(Value::Bool(_)) | None => "object".into(),
                Some(inner) => format!("{{string: {}}}", type_of(inner)),
            },
            other => match s.get("format").and_then(Value::as_str) {
                Some(f) => format!("{other} ({f})"),
                None => other.to_owned(),
            },
        }
    };
    match s.get("type") {
        Some(Value::String(t)) => one(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(one).collect::<Vec<_>>().join(" | "),
        _ => "any".into(),
    }
}

/// The one named schema a schema is, holds in an array, or makes optional.
pub fn schema_of(s: &Value) -> Option<String> {
    let name = |r: &Value| r.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).map(str::to_owned);
    if let Some(n) = name(s).or_else(|| s.get("items").and_then(name)) {
        return Some(n);
    }
    let refs: Vec<String> = s.get("oneOf").and_then(Value::as_array).into_iter().flatten().filter_map(name).collect();
    (refs.len() == 1).then(|| refs[0].clone())
}

fn bodies(content: Option<&Value>) -> Vec<Body> {
    content
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(ct, media)| Body {
            content_type: ct.clone(),
            ty: media.get("schema").map(type_of).unwrap_or_else(|| "any".into()),
            schema: media.get("schema").and_then(schema_of),
        })
        .collect()
}

fn operation(method: &str, path: &str, op: &Value) -> Operation {
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| Param {
            name: text(p, "name"),
            location: text(p, "in"),
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
            ty: p.get("schema").map(type_of).unwrap_or_default(),
            description: text(p, "description"),
        })
        .collect();
    let body = bodies(op.get("requestBody").and_then(|b| b.get("content")));
    let answers = op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(status, r)| Answer {
            status: status.clone(),
            description: text(r, "description"),
            bodies: bodies(r.get("content")),
        })
        .collect();
    // An operation is public when one of its security alternatives is empty.
    let public = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|alts| alts.iter().any(|a| a.as_object().is_some_and(|o| o.is_empty())));
    let anchor = format!("{}-{}", method, path.trim_start_matches('/'))
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    Operation {
        method: method.to_uppercase(),
        path: path.to_owned(),
        anchor,
        summary: text(op, "summary"),
        description: text(op, "description"),
        public,
        params,
        body,
        answers,
    }
}

/// The page's content, read from the served document.
pub fn page() -> DocsPage {
    let doc = serde_json::to_value(super::openapi::document()).unwrap_or_default();
    let mut operations = Vec::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                operations.push(operation(method, path, op));
            }
        }
    }
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            let required: Vec<&str> =
                s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            let fields = s
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(field, fs)| Field {
                    name: field.clone(),
                    ty: type_of(fs),
                    schema: schema_of(fs),
                    required: required.contains(&field.as_str()),
                    description: text(fs, "description"),
                })
                .collect::<Vec<_>>();
            let ty = if fields.is_empty() { type_of(s) } else { String::new() };
            Schema { name: name.clone(), description: text(s, "description"), ty, fields }
        })
        .collect();
    DocsPage {
        title: doc.pointer("/info/title").and_then(Value::as_str).unwrap_or_default().to_owned(),
        version: doc.pointer("/info/version").and_then(Value::as_str).unwrap_or_default().to_owned(),
        description: doc.pointer("/info/description").and_then(Value::as_str).unwrap_or_default().to_owned(),
        operations,
        schemas,
    }
}

/// `GET /api/v1/docs`.
pub async fn docs_get() -> DocsPage {
    page()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_read_in_short() {
        assert_eq!(type_of(&json!({"$ref": "#/components/schemas/Call"})), "Call");
        assert_eq!(type_of(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Message"}})), "[Message]");
        assert_eq!(type_of(&json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(type_of(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/x/Y"}]})), "null | Y");
        assert_eq!(type_of(&json!({"type": "integer", "format": "int64"})), "integer (int64)");
        assert_eq!(type_of(&json!({"type": "string", "enum": ["a", "b"]})), "\"a\" | \"b\"");
        assert_eq!(type_of(&json!({})), "any");
    }

    #[test]
    fn types_link_to_the_one_schema_they_name() {
        assert_eq!(schema_of(&json!({"$ref": "#/components/schemas/Call"})).as_deref(), Some("Call"));
        assert_eq!(
            schema_of(&json!({"type": "array", "items": {"$ref": "#/c/s/Message"}})).as_deref(),
            Some("Message")
        );
        assert_eq!(schema_of(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/c/s/Y"}]})).as_deref(), Some("Y"));
        assert_eq!(schema_of(&json!({"type": "string"})), None);
    }
}
