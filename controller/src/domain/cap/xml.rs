//! The small XML reader under CAP: a tree of local names, attributes, text and children,
//! built only within limits checked *before* anything is allocated for an element (depth,
//! element count, attributes per element), so memory stays a small multiple of the input:
//! a message of millions of empty elements is refused at the limit, not parsed.

use quick_xml::events::Event;

/// Deepest nesting accepted (CAP itself nests 4 deep).
pub(super) const MAX_DEPTH: usize = 32;
/// Most elements in one message (a real one has tens; hundreds with many geocodes).
pub(super) const MAX_ELEMENTS: usize = 10_000;
/// Most attributes on one element.
pub(super) const MAX_ATTRIBUTES: usize = 16;

/// A minimal element tree: local name, text, children.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
    pub(super) text: String,
    pub(super) children: Vec<Node>,
}

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(super) fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }

    pub(super) fn required(&self, name: &str, path: &str) -> Result<&str, String> {
        self.text_of(name)
            .ok_or_else(|| format!("CAP: <{path}{name}> is missing or empty"))
    }
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.into_owned(),
    }
}

/// Parses XML into a tree, refusing deep nesting and anything but one root element.
pub(super) fn tree(xml: &[u8]) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut buf = Vec::new();
    let mut elements = 0usize;
    let err = |r: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| {
        format!(
            "CAP: not well-formed XML at byte {}: {e}",
            r.buffer_position()
        )
    };
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| err(&reader, &e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("CAP: nested deeper than {MAX_DEPTH} elements"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(format!(
                        "CAP: more than {MAX_ELEMENTS} elements (a CAP message has tens)"
                    ));
                }
                if e.attributes().count() > MAX_ATTRIBUTES {
                    return Err(format!(
                        "CAP: more than {MAX_ATTRIBUTES} attributes on <{}>",
                        local(e.name().as_ref())
                    ));
                }
                let mut node = Node {
                    name: local(e.name().as_ref()),
                    ..Node::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| err(&reader, &e))?;
                    let value = a.unescape_value().map_err(|e| err(&reader, &e))?;
                    node.attrs.push((
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        value.into_owned(),
                    ));
                }
                let empty = matches!(event, Event::Empty(_));
                stack.push(node);
                if empty {
                    let done = stack.pop().unwrap_or_default();
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(done);
                    }
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err(err(&reader, &"unmatched end tag"));
                }
                let done = stack.pop().unwrap_or_default();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(done);
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| err(&reader, &e))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| err(&reader, &e))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| err(&reader, &e))? {
                    Some(c) => c,
                    None => match r.decode().map_err(|e| err(&reader, &e))?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("CAP: unknown entity &{other};")),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::DocType(_) => return Err("CAP: a DOCTYPE is not allowed".into()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if stack.len() != 1 {
        return Err("CAP: the document ends inside an element".into());
    }
    let mut doc = stack.pop().unwrap_or_default();
    if doc.children.len() != 1 {
        return Err("CAP: expected exactly one root element".into());
    }
    Ok(doc.children.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Peak resident memory of this process, kB (Linux).
    fn peak_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    #[test]
    fn a_message_of_empty_elements_is_refused_at_the_limit() {
        // 16 MiB of `<a/>`: four million elements, which built into a tree took ~445 MB.
        let mut xml = b"<alert>".to_vec();
        xml.extend(b"<a/>".repeat(4 * 1024 * 1024));
        xml.extend(b"</alert>");
        let before = peak_kb();
        let result = tree(&xml);
        let grew = peak_kb().saturating_sub(before);
        eprintln!("peak memory grew by {grew} kB parsing {} bytes", xml.len());
        let err = result.expect_err("four million elements must be refused");
        assert!(err.contains("more than 10000 elements"), "{err}");
    }

    #[test]
    fn an_element_with_too_many_attributes_is_refused() {
        let attrs: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
        let xml = format!("<alert{attrs}/>");
        let err = tree(xml.as_bytes()).expect_err("refused");
        assert!(err.contains("attributes"), "{err}");
    }
}
