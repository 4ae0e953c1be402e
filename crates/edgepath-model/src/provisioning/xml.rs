//! A tolerant XML reader for provisioning bodies as people paste them.
//!
//! Strict parsers (quick-xml, roxmltree) stop at the first error, but a pasted
//! `provisionGroupList` is routinely broken: an attribute value missing its
//! closing quote, a body cut off at a log line's length, elements never
//! closed. This reader recovers from each of those in one documented way and
//! records a [`Repair`] for it, so the caller can say exactly what was assumed.
//! It is deliberately small: elements, attributes, text, comments, CDATA,
//! processing instructions and the five predefined entities; no DTDs.

/// Something the reader had to assume to go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// 1-based line in the text given to [`read`].
    pub line: usize,
    /// What was wrong and what was done about it.
    pub message: String,
}

/// A closed element, in the order elements close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name (any `prefix:` stripped).
    pub name: String,
    /// Its direct text, entities decoded, trimmed.
    pub text: String,
    /// 1-based line of its start tag.
    pub line: usize,
    /// `name` attribute of the nearest enclosing `provisionGroup`.
    pub group: Option<String>,
    /// Whether it was closed by the reader (input ended first); its text may
    /// then be cut short.
    pub truncated: bool,
}

/// The result of reading: closed elements and the repairs made.
#[derive(Debug, Default)]
pub struct Document {
    /// Elements, in closing order.
    pub elements: Vec<Element>,
    /// Repairs, in input order.
    pub repairs: Vec<Repair>,
}

struct Open {
    name: String,
    line: usize,
    text: String,
    /// `name` attribute, kept for provisionGroup.
    name_attr: Option<String>,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line_starts: Vec<usize>,
    first_line: usize,
    stack: Vec<Open>,
    doc: Document,
}

/// Reads `src`; `first_line` is the line number of its first line in the
/// original input (so repairs point into what the user gave).
pub fn read(src: &str, first_line: usize) -> Document {
    let mut line_starts = vec![0];
    line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
    let mut lx = Lexer {
        src,
        pos: 0,
        line_starts,
        first_line,
        stack: Vec::new(),
        doc: Document::default(),
    };
    lx.run();
    lx.doc
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

fn is_name_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | '>' | '<' | '=')
}

impl Lexer<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1 + self.first_line
    }

    fn repair(&mut self, offset: usize, message: String) {
        let line = self.line_of(offset);
        self.doc.repairs.push(Repair { line, message });
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn run(&mut self) {
        while self.pos < self.src.len() {
            let rest = self.rest();
            if !rest.starts_with('<') {
                let end = rest.find('<').map_or(self.src.len(), |i| self.pos + i);
                self.text(self.pos, end);
                self.pos = end;
            } else if rest.starts_with("<!--") {
                self.skip_to("-->", "comment");
            } else if rest.starts_with("<![CDATA[") {
                let start = self.pos + 9;
                match self.src[start..].find("]]>") {
                    Some(i) => {
                        let t = self.src[start..start + i].to_owned();
                        self.push_text(&t);
                        self.pos = start + i + 3;
                    }
                    None => {
                        let t = self.src[start..].to_owned();
                        self.push_text(&t);
                        self.repair(
                            self.pos,
                            "CDATA section never closed: the input ends first".into(),
                        );
                        self.pos = self.src.len();
                    }
                }
            } else if rest.starts_with("<?") {
                self.skip_to("?>", "processing instruction");
            } else if rest.starts_with("<!") {
                self.skip_to(">", "declaration");
            } else if rest.starts_with("</") {
                self.end_tag();
            } else {
                self.start_tag();
            }
        }
        self.close_all_at_eof();
    }

    fn skip_to(&mut self, end: &str, what: &str) {
        match self.rest().find(end) {
            Some(i) => self.pos += i + end.len(),
            None => {
                self.repair(
                    self.pos,
                    format!("{what} never closed: ignored the rest of the input"),
                );
                self.pos = self.src.len();
            }
        }
    }

    fn text(&mut self, start: usize, end: usize) {
        let raw = &self.src[start..end];
        if self.stack.is_empty() {
            if !raw.trim().is_empty() {
                let shown: String = raw.trim().chars().take(40).collect();
                self.repair(
                    start,
                    format!("text outside any element ignored: `{shown}`"),
                );
            }
            return;
        }
        let decoded = decode_entities(raw);
        self.push_text(&decoded);
    }

    fn push_text(&mut self, t: &str) {
        if let Some(top) = self.stack.last_mut() {
            top.text.push_str(t);
        }
    }

    /// Reads a name at `self.pos`, returning it (possibly empty).
    fn name(&mut self) -> String {
        let rest = self.rest();
        let len = rest.find(is_name_end).unwrap_or(rest.len());
        let n = rest[..len].to_owned();
        self.pos += len;
        n
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
    }

    fn end_tag(&mut self) {
        let tag_start = self.pos;
        self.pos += 2;
        let name = self.name();
        self.skip_ws();
        if self.rest().starts_with('>') {
            self.pos += 1;
        } else {
            self.repair(
                tag_start,
                format!("end tag </{name}> is not closed with `>`"),
            );
        }
        let lname = local(&name).to_owned();
        match self.stack.iter().rposition(|o| o.name == lname) {
            Some(idx) => {
                while self.stack.len() > idx + 1 {
                    let inner = self
                        .stack
                        .last()
                        .map(|o| (o.name.clone(), o.line))
                        .unwrap_or_default();
                    self.repair(
                        tag_start,
                        format!(
                            "<{}> (line {}) was not closed before </{name}>; closed it there",
                            inner.0, inner.1
                        ),
                    );
                    self.close_top(false);
                }
                self.close_top(false);
            }
            None => self.repair(
                tag_start,
                format!("end tag </{name}> matches no open element; ignored"),
            ),
        }
    }

    fn close_top(&mut self, truncated: bool) {
        let Some(open) = self.stack.pop() else { return };
        let group = if open.name == "provisionGroup" {
            open.name_attr.clone()
        } else {
            self.stack
                .iter()
                .rev()
                .find(|o| o.name == "provisionGroup")
                .and_then(|o| o.name_attr.clone())
        };
        self.doc.elements.push(Element {
            name: open.name,
            text: open.text.trim().to_owned(),
            line: open.line,
            group,
            truncated,
        });
    }

    fn start_tag(&mut self) {
        let tag_start = self.pos;
        self.pos += 1;
        let raw_name = self.name();
        if raw_name.is_empty() {
            // A lone '<' (e.g. "a < b" in text): keep it as text.
            self.repair(
                tag_start,
                "a `<` that starts no tag was read as text".into(),
            );
            self.push_text("<");
            return;
        }
        let name = local(&raw_name).to_owned();
        let line = self.line_of(tag_start);
        let mut name_attr = None;
        let mut self_closing = false;
        loop {
            self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                self_closing = true;
                break;
            }
            if rest.starts_with('>') {
                self.pos += 1;
                break;
            }
            if rest.is_empty() || rest.starts_with('<') {
                self.repair(
                    tag_start,
                    format!("start tag <{raw_name}> is not closed with `>`; ended it there"),
                );
                break;
            }
            let stray = rest.chars().next().unwrap_or('?');
            let attr = self.name();
            if attr.is_empty() {
                // A stray character such as '/' or '=' inside the tag.
                self.repair(self.pos, format!("stray `{stray}` in <{raw_name}> ignored"));
                self.pos += stray.len_utf8();
                continue;
            }
            self.skip_ws();
            if !self.rest().starts_with('=') {
                self.repair(
                    self.pos,
                    format!("attribute `{attr}` of <{raw_name}> has no value; ignored"),
                );
                continue;
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.attr_value(&attr, &raw_name);
            if local(&attr) == "name" {
                name_attr = Some(value);
            }
        }
        self.stack.push(Open {
            name,
            line,
            text: String::new(),
            name_attr,
        });
        if self_closing {
            self.close_top(false);
        }
    }

    fn attr_value(&mut self, attr: &str, tag: &str) -> String {
        let rest = self.rest();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            let len = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '<')
                .unwrap_or(rest.len());
            let v = rest[..len].trim_end_matches('/').to_owned();
            self.repair(
                self.pos,
                format!("value of attribute `{attr}` of <{tag}> is not quoted"),
            );
            self.pos += v.len();
            return decode_entities(&v);
        };
        let start = self.pos + 1;
        let body = &self.src[start..];
        let close = body.find(q);
        // XML forbids '<' in attribute values, so a value that would run past
        // one has lost its closing quote: end it at the tag's last '>'.
        let lt = body.find('<');
        match (close, lt) {
            (Some(c), lt) if lt.is_none_or(|l| c < l) => {
                self.pos = start + c + 1;
                decode_entities(&body[..c])
            }
            (_, lt) => {
                let limit = lt.unwrap_or(body.len());
                let (value_end, next) = match body[..limit].rfind('>') {
                    // Leave '>' (or "/>") for the tag loop.
                    Some(g) if body[..g].ends_with('/') => (g - 1, start + g - 1),
                    Some(g) => (g, start + g),
                    None => (limit, start + limit),
                };
                let value = body[..value_end].trim_end().to_owned();
                self.repair(
                    self.pos,
                    format!(
                        "attribute `{attr}` of <{tag}> lacks its closing quote; closed it at the end of the tag"
                    ),
                );
                self.pos = next;
                decode_entities(&value)
            }
        }
    }

    fn close_all_at_eof(&mut self) {
        if self.stack.is_empty() {
            return;
        }
        let names: Vec<String> = self
            .stack
            .iter()
            .rev()
            .map(|o| format!("<{}> (line {})", o.name, o.line))
            .collect();
        let end = self.src.len();
        self.repair(
            end.saturating_sub(1),
            format!(
                "the input ends inside {}: truncated? closed {} at the end",
                names.join(" inside "),
                if names.len() == 1 { "it" } else { "them" }
            ),
        );
        // The innermost element may have lost part of its text; outer ones
        // only lost later children.
        let mut innermost = true;
        while !self.stack.is_empty() {
            let has_text = self.stack.last().is_some_and(|o| !o.text.trim().is_empty());
            self.close_top(innermost && has_text);
            innermost = false;
        }
    }
}

/// Decodes the five predefined entities and numeric character references;
/// anything else is kept as written.
pub fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..semi];
        let ch = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| ent.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_needs_no_repair() {
        let d = read(
            "<?xml version=\"1.0\"?>\n<a xmlns=\"urn:x\"><provisionGroup name='ServerConfiguration'><b>1 &amp; 2</b><c/></provisionGroup></a>",
            1,
        );
        assert!(d.repairs.is_empty(), "{:?}", d.repairs);
        let b = d.elements.iter().find(|e| e.name == "b").unwrap();
        assert_eq!(b.text, "1 & 2");
        assert_eq!(b.group.as_deref(), Some("ServerConfiguration"));
        assert_eq!(b.line, 2);
    }

    #[test]
    fn unterminated_quote_is_closed_at_the_tag_end() {
        let d = read("<root xmlns=\"urn:x>\n  <v>5</v>\n</root>", 10);
        assert_eq!(d.repairs.len(), 1);
        assert_eq!(d.repairs[0].line, 10);
        assert!(d.repairs[0].message.contains("`xmlns` of <root>"));
        assert!(d
            .elements
            .iter()
            .any(|e| e.name == "v" && e.text == "5" && e.line == 11));
    }

    #[test]
    fn truncation_is_reported_and_the_cut_element_flagged() {
        let d = read("<root>\n<v>50</v>\n<w>500", 1);
        assert_eq!(d.repairs.len(), 1);
        assert!(d.repairs[0]
            .message
            .contains("<w> (line 3) inside <root> (line 1)"));
        let w = d.elements.iter().find(|e| e.name == "w").unwrap();
        assert!(w.truncated);
        let v = d.elements.iter().find(|e| e.name == "v").unwrap();
        assert!(!v.truncated);
    }

    #[test]
    fn mismatched_and_stray_end_tags() {
        let d = read("<a><b>1</a></c>", 1);
        assert_eq!(d.repairs.len(), 2);
        assert_eq!(d.elements.len(), 2);
    }

    #[test]
    fn junk_never_panics() {
        for s in [
            "",
            "<",
            "<<",
            "</",
            "<a",
            "<a b",
            "<a b=",
            "<a b=\"",
            "<a b='x",
            "<!--",
            "<![CDATA[x",
            "<?x",
            "<!x",
            "&",
            "<a>&#xZZ;&#99999999;&lt</a>",
            "<a b=c/>",
            "<a =x>",
            "<é ü='ö'>ä</é>",
        ] {
            let _ = read(s, 1);
        }
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&lt;b&#65;&#x42;&bogus;&"),
            "a<bAB&bogus;&"
        );
    }
}
