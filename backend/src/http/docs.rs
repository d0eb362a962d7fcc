//! `GET /docs`: the OpenAPI document rendered as one self-contained HTML page (routes,
//! parameters, bodies, responses and schemas, an example request and response per route;
//! inline CSS, no scripts, nothing fetched).

mod example;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi as Document, RefOr};

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;\
padding:0 1rem;color:#1b1f24}code,pre{font-family:ui-monospace,monospace;font-size:13px}\
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}\
section.operation{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}\
.method{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}\
.get{color:#0969da}.post{color:#1a7f37}.delete{color:#cf222e}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;\
padding:.2rem .6rem;text-align:left;vertical-align:top}nav li{margin:.1rem 0}\
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;max-height:20rem}\
p code,td code{background:#f6f8fa;padding:0 .2rem;border-radius:3px}";

/// The HTML page of `document` (the handler of `GET /docs` lives beside the document, in
/// `openapi.rs`, so this module imports nothing of it).
pub(super) fn html(document: &Document) -> String {
    let value = serde_json::to_value(document).unwrap_or(Value::Null);
    render(&value, &declared_order(document))
}

/// The order in which the code declares paths, schemas and their fields (`serde_json`'s maps
/// are sorted; the document itself keeps the declared order).
#[derive(Debug, Default)]
struct DeclaredOrder {
    paths: Vec<String>,
    schemas: Vec<String>,
    properties: HashMap<String, Vec<String>>,
}

fn declared_order(document: &Document) -> DeclaredOrder {
    let mut order = DeclaredOrder {
        paths: document.paths.paths.keys().cloned().collect(),
        ..DeclaredOrder::default()
    };
    if let Some(components) = &document.components {
        for (name, schema) in &components.schemas {
            order.schemas.push(name.clone());
            if let RefOr::T(Schema::Object(object)) = schema {
                order
                    .properties
                    .insert(name.clone(), object.properties.keys().cloned().collect());
            }
        }
    }
    order
}

/// The entries of `map`, those named in `order` first and in that order.
fn ordered<'map>(
    map: &'map Map<String, Value>,
    order: &[String],
) -> Vec<(&'map String, &'map Value)> {
    let mut entries: Vec<_> = order
        .iter()
        .filter_map(|name| map.get_key_value(name))
        .collect();
    entries.extend(map.iter().filter(|(name, _)| !order.contains(name)));
    entries
}

/// The page of a document given as JSON.
fn render(document: &Value, order: &DeclaredOrder) -> String {
    let mut html = String::new();
    let title = text(&document["info"]["title"]);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title}</h1><p>{}</p>\
         <p>Machine-readable: <a href=\"openapi.json\"><code>openapi.json</code></a> \
         (OpenAPI {}).</p>",
        prose(&document["info"]["description"]),
        text(&document["openapi"]),
    );
    let empty = Map::new();
    let paths = ordered(
        document["paths"].as_object().unwrap_or(&empty),
        &order.paths,
    );
    let schemas = ordered(
        document["components"]["schemas"]
            .as_object()
            .unwrap_or(&empty),
        &order.schemas,
    );
    html.push_str("<nav><h2>Routes</h2><ul>");
    for (path, item) in &paths {
        for (method, _) in operations(item) {
            let _ = write!(
                html,
                "<li><a href=\"#{}\"><span class=\"method {method}\">{method}</span>\
                 <code>{}</code></a></li>",
                anchor(method, path),
                escape(path)
            );
        }
    }
    html.push_str("</ul></nav>");
    let schemas_value = &document["components"]["schemas"];
    for (path, item) in &paths {
        for (method, operation) in operations(item) {
            operation_html(&mut html, method, path, operation, schemas_value);
        }
    }
    html.push_str("<h2>Schemas</h2>");
    for (name, schema) in schemas {
        let _ = write!(
            html,
            "<section id=\"schema-{0}\"><h3><code>{0}</code></h3>",
            escape(name)
        );
        let fields = order
            .properties
            .get(name.as_str())
            .map_or(&[][..], Vec::as_slice);
        schema_html(&mut html, schema, fields);
        html.push_str("</section>");
    }
    html.push_str("</body></html>");
    html
}

/// The operations of a path item, in a fixed method order.
fn operations(item: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    ["get", "post", "put", "patch", "delete"]
        .into_iter()
        .filter_map(|method| item.get(method).map(|operation| (method, operation)))
}

fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character
            } else {
                '-'
            }
        })
        .collect();
    format!("{method}{slug}")
}

fn operation_html(html: &mut String, method: &str, path: &str, operation: &Value, schemas: &Value) {
    let _ = write!(
        html,
        "<section class=\"operation\" id=\"{}\"><h3><span class=\"method {method}\">{method}\
         </span><code>{}</code></h3>",
        anchor(method, path),
        escape(path)
    );
    for key in ["summary", "description"] {
        if operation[key].is_string() {
            let _ = write!(html, "<p>{}</p>", prose(&operation[key]));
        }
    }
    if operation.get("security").is_some() {
        html.push_str(
            "<p><strong>Needs</strong> <code>Authorization: Bearer &lt;admin token&gt;</code>.</p>",
        );
    }
    if let Some(parameters) = operation["parameters"].as_array() {
        html.push_str(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>\
             <th>required</th><th>description</th></tr>",
        );
        for parameter in parameters {
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&parameter["name"]),
                text(&parameter["in"]),
                type_html(&parameter["schema"]),
                if parameter["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                prose(&parameter["description"])
            );
        }
        html.push_str("</table>");
    }
    if let Some(body) = operation.get("requestBody") {
        html.push_str("<h4>Request body</h4>");
        if body["description"].is_string() {
            let _ = write!(html, "<p>{}</p>", prose(&body["description"]));
        }
        content_html(html, &body["content"]);
    }
    if let Some(responses) = operation["responses"].as_object() {
        html.push_str(
            "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>",
        );
        for (status, response) in responses {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>",
                escape(status),
                prose(&response["description"])
            );
            content_html(html, &response["content"]);
            html.push_str("</td></tr>");
        }
        html.push_str("</table>");
    }
    let _ = write!(
        html,
        "<h4>Example request</h4><pre class=\"example-request\"><code>{}</code></pre>",
        escape(&example::request(method, path, operation, schemas))
    );
    // The first success response with a JSON body (a shape, its values illustrative).
    let success = operation["responses"].as_object().and_then(|responses| {
        responses.iter().find_map(|(status, response)| {
            let schema = response["content"]["application/json"].get("schema")?;
            status.starts_with('2').then_some((status, schema))
        })
    });
    if let Some((status, schema)) = success {
        let body =
            serde_json::to_string_pretty(&example::value(schema, schemas)).unwrap_or_default();
        let _ = write!(
            html,
            "<h4>Example response <span class=\"status\">{}</span> (values illustrative)</h4>\
             <pre class=\"example-response\"><code>{}</code></pre>",
            escape(status),
            escape(&body)
        );
    }
    html.push_str("</section>");
}

/// Each media type of a content map with its schema.
fn content_html(html: &mut String, content: &Value) {
    if let Some(content) = content.as_object() {
        for (media_type, media) in content {
            let _ = write!(html, "<code>{}</code>", escape(media_type));
            if let Some(schema) = media.get("schema") {
                let _ = write!(html, ": {}", type_html(schema));
            }
            html.push_str("<br>");
        }
    }
}

/// A schema's properties as a table (those of each part of an `allOf`), or its type when it
/// has none.
fn schema_html(html: &mut String, schema: &Value, fields: &[String]) {
    if schema["description"].is_string() {
        let _ = write!(html, "<p>{}</p>", prose(&schema["description"]));
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            if part.get("$ref").is_some() {
                let _ = write!(html, "<p>Every field of {}, and:</p>", type_html(part));
            } else {
                schema_html(html, part, fields);
            }
        }
        return;
    }
    let Some(properties) = schema["properties"].as_object() else {
        let _ = write!(html, "<p>{}</p>", type_html(schema));
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    html.push_str(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
    );
    for (name, property) in ordered(properties, fields) {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            type_html(property),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            prose(&property["description"])
        );
    }
    html.push_str("</table>");
}

/// A short rendering of a schema's type: references link to their section.
fn type_html(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\"><code>{0}</code></a>", escape(name));
    }
    for (combined, separator) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " &amp; ")] {
        if let Some(parts) = schema[combined].as_array() {
            return parts
                .iter()
                .map(type_html)
                .collect::<Vec<_>>()
                .join(separator);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .map(|value| format!("<code>{}</code>", escape(&value.to_string())))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_owned(),
    };
    if kind.starts_with("array") {
        return format!("array of {}", type_html(&schema["items"]));
    }
    if let Some(values) = schema
        .get("additionalProperties")
        .filter(|value| value.is_object())
    {
        return format!("map of {}", type_html(values));
    }
    escape(&kind)
}

/// A JSON string value, escaped; empty for anything else.
fn text(value: &Value) -> String {
    value.as_str().map(escape).unwrap_or_default()
}

/// A JSON string of documentation prose, escaped, with Markdown's inline code (text between
/// backticks) as `<code>`; an unpaired backtick stays as written.
fn prose(value: &Value) -> String {
    let Some(text) = value.as_str() else {
        return String::new();
    };
    let parts: Vec<&str> = text.split('`').collect();
    let mut html = String::with_capacity(text.len());
    for (index, part) in parts.iter().enumerate() {
        let inside = index % 2 == 1;
        let unpaired = inside && index == parts.len() - 1;
        if unpaired {
            html.push('`');
            html.push_str(&escape(part));
        } else if inside {
            let _ = write!(html, "<code>{}</code>", escape(part));
        } else {
            html.push_str(&escape(part));
        }
    }
    html
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_routes_and_schemas_without_external_assets() {
        let document = serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "T <api>", "description": "d"},
            "paths": {"/api/v1/runs/{id}": {"get": {
                "parameters": [{"name": "id", "in": "path", "required": true,
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/RunView"}}}}}}}},
            "components": {"schemas": {"RunView": {"type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                "required": ["tags"]},
                "Flattened": {"allOf": [{"$ref": "#/components/schemas/RunView"},
                    {"type": "object", "properties": {"id": {"type": "integer"}}}]}}}
        });
        let page = render(&document, &DeclaredOrder::default());
        assert!(page.contains("<title>T &lt;api&gt;</title>"));
        assert!(page.contains("<code>/api/v1/runs/{id}</code>"));
        assert!(page.contains("<a href=\"#schema-RunView\"><code>RunView</code></a>"));
        assert!(page.contains("<section id=\"schema-RunView\">"));
        assert!(page.contains("array of string"));
        assert!(page.contains("Every field of <a href=\"#schema-RunView\">"));
        assert!(page.contains("<td><code>id</code></td><td>integer</td>"));
        assert!(!page.contains("<script") && !page.contains("<link"));
        // Every route has an example request and its JSON response's shape.
        assert!(page.contains("curl -X GET &#39;http://127.0.0.1:8080/api/v1/runs/1&#39;"));
        assert!(page.contains("<pre class=\"example-response\"><code>{\n  &quot;tags&quot;"));
    }

    #[test]
    fn backticks_become_inline_code() {
        let html = prose(&serde_json::json!("Use `setting=with_ties` <b> or `x"));
        assert_eq!(
            html, "Use <code>setting=with_ties</code> &lt;b&gt; or `x",
            "escaped, paired backticks as code, an unpaired one kept"
        );
    }
}
