//! Example requests and responses for the API docs page, built from the OpenAPI document
//! itself (declared `example`s where the schemas give them, a value of the right type
//! elsewhere), so every route has one and none drifts from the schemas.

use serde_json::{Map, Value};

/// How deep references are followed: the documents nest a few levels, and a recursive schema
/// must not loop.
const MAX_DEPTH: usize = 8;

/// A value shaped like `schema`; `schemas` is the document's `components.schemas`.
pub(super) fn value(schema: &Value, schemas: &Value) -> Value {
    value_at(schema, schemas, 0)
}

fn value_at(schema: &Value, schemas: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(example) = schema["examples"].as_array().and_then(|list| list.first()) {
        return example.clone();
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return value_at(&schemas[name], schemas, depth + 1);
    }
    for combined in ["oneOf", "anyOf"] {
        if let Some(parts) = schema[combined].as_array() {
            // The first part that is not `null`: an optional value is shown present.
            let part = parts
                .iter()
                .find(|part| part["type"] != "null")
                .or(parts.first());
            return part.map_or(Value::Null, |part| value_at(part, schemas, depth + 1));
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = value_at(part, schemas, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut fields = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    fields.insert(name.clone(), value_at(property, schemas, depth + 1));
                }
            } else if let Some(values) = schema
                .get("additionalProperties")
                .filter(|values| values.is_object())
            {
                fields.insert("key".to_owned(), value_at(values, schemas, depth + 1));
            }
            Value::Object(fields)
        }
        "array" => Value::Array(vec![value_at(&schema["items"], schemas, depth + 1)]),
        "string" => Value::String(
            match schema["format"].as_str() {
                Some("date-time") => "2025-06-01T12:00:00Z",
                Some("binary") => "<file>",
                _ => "string",
            }
            .to_owned(),
        ),
        "integer" => schema["minimum"]
            .as_i64()
            .map_or(Value::from(1), Value::from),
        "number" => Value::from(0.5),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

/// A `curl` command for one operation on the local server: path parameters and required query
/// parameters filled with example values, the admin header where the route needs it, and a
/// body shaped like its schema.
pub(super) fn request(method: &str, path: &str, operation: &Value, schemas: &Value) -> String {
    let mut url = path.to_owned();
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap_or_default();
        let example = match value(&parameter["schema"], schemas) {
            Value::String(text) => text,
            other => other.to_string(),
        };
        match parameter["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &example),
            Some("query") if parameter["required"].as_bool() == Some(true) => {
                query.push(format!("{name}={example}"));
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let mut command = format!(
        "curl -X {} 'http://127.0.0.1:8080{url}'",
        method.to_uppercase()
    );
    if operation.get("security").is_some() {
        command.push_str(" \\\n  -H \"Authorization: Bearer $ADMIN_TOKEN\"");
    }
    let content = &operation["requestBody"]["content"];
    if let Some(schema) = content["application/json"].get("schema") {
        let body = value(schema, schemas).to_string().replace('\'', "'\\''");
        command.push_str(&format!(
            " \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'"
        ));
    } else if let Some(schema) = content["multipart/form-data"].get("schema")
        && let Value::Object(fields) = value(schema, schemas)
    {
        for (name, field) in fields {
            let field = match field {
                Value::String(text) if text == "<file>" => format!("@{name}.bin"),
                Value::String(text) => text,
                other => other.to_string(),
            };
            command.push_str(&format!(" \\\n  -F '{name}={field}'"));
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn examples_follow_references_and_prefer_declared_examples() {
        let schemas = json!({
            "Row": {"type": "object", "properties": {
                "model": {"type": "string", "example": "Qwen2.5-Omni-7B"},
                "overall": {"type": ["number", "null"]},
                "tasks": {"type": "object", "additionalProperties": {"type": "number"}},
                "setting": {"type": "string", "enum": ["with_ties", "without_ties"]},
                "next": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Row"}]}}}
        });
        let row = value(&json!({"$ref": "#/components/schemas/Row"}), &schemas);
        assert_eq!(row["model"], "Qwen2.5-Omni-7B");
        assert_eq!(row["overall"], 0.5);
        assert_eq!(row["tasks"], json!({"key": 0.5}));
        assert_eq!(row["setting"], "with_ties");
        // The recursive reference stops at the depth limit instead of looping.
        assert!(row["next"]["next"].is_object());
    }

    #[test]
    fn requests_fill_path_and_required_query_parameters() {
        let operation = json!({
            "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                {"name": "setting", "in": "query", "required": true,
                 "schema": {"type": "string", "enum": ["with_ties"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "security": [{"admin": []}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object",
                "properties": {"name": {"type": "string"}}}}}}
        });
        let command = request("post", "/api/v1/runs/{id}", &operation, &json!({}));
        assert!(
            command.starts_with(
                "curl -X POST 'http://127.0.0.1:8080/api/v1/runs/1?setting=with_ties'"
            ),
            "{command}"
        );
        assert!(command.contains("Bearer $ADMIN_TOKEN"));
        assert!(command.contains(r#"-d '{"name":"string"}'"#), "{command}");
    }
}
