//! OpenSRS OPS XML envelopes (`OPS_envelope` … `dt_assoc`/`dt_array`): saved EVENT
//! poll replies, whose `attributes.events` array holds one or more events.

use serde_json::{Map, Value};

use super::xml::Element;
use super::{Context, Draft, opensrs};
use crate::event::Format;

pub fn events(root: &Element, ctx: &Context) -> Option<Vec<Draft>> {
    if root.local_name() != "OPS_envelope" {
        return None;
    }
    let assoc = root.path(&["body", "data_block"])?.children.first()?;
    let reply = to_json(assoc);
    let events = reply.get("attributes")?.get("events")?.as_array()?;
    Some(
        events
            .iter()
            .filter_map(|e| opensrs::event(e, ctx, Format::OpsXml))
            .collect(),
    )
}

/// `dt_assoc` → object keyed by item key, `dt_array` → array in item order, an item
/// holding text → string.
pub fn to_json(el: &Element) -> Value {
    match el.local_name() {
        "dt_assoc" => {
            let mut map = Map::new();
            for item in el.children_named("item") {
                let key = item.attr("key").unwrap_or_default().to_string();
                map.insert(key, item_value(item));
            }
            Value::Object(map)
        }
        "dt_array" => {
            let mut items: Vec<(i64, Value)> = el
                .children_named("item")
                .enumerate()
                .map(|(i, item)| {
                    let key = item
                        .attr("key")
                        .and_then(|k| k.parse().ok())
                        .unwrap_or(i as i64);
                    (key, item_value(item))
                })
                .collect();
            items.sort_by_key(|(k, _)| *k);
            Value::Array(items.into_iter().map(|(_, v)| v).collect())
        }
        "dt_scalar" => Value::String(el.text.trim().to_string()),
        _ => el.to_json(),
    }
}

fn item_value(item: &Element) -> Value {
    match item.children.first() {
        Some(inner) => to_json(inner),
        None => Value::String(item.text.trim().to_string()),
    }
}
