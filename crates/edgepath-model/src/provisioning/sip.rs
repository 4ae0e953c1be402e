//! Splits a pasted SIP message into headers and body, checking the body
//! against Content-Length. Bare XML passes through as the body.

use super::xml::Repair;

/// A message split into its parts.
#[derive(Debug)]
pub struct Split<'a> {
    /// The start line (`SIP/2.0 200 OK`), when the input is a SIP message.
    pub start_line: Option<&'a str>,
    /// The body (the whole input when it is not a SIP message).
    pub body: &'a str,
    /// 1-based line of the body's first line in the input.
    pub body_line: usize,
    /// Things noticed about the message.
    pub notes: Vec<Repair>,
}

fn is_start_line(line: &str) -> bool {
    let l = line.trim_end();
    l.starts_with("SIP/2.0 ") || l.ends_with(" SIP/2.0")
}

/// Splits `input`.
pub fn split(input: &str) -> Split<'_> {
    // Iterate lines keeping their byte offsets.
    let mut offset = 0;
    let mut lines = Vec::new();
    for l in input.split_inclusive('\n') {
        lines.push((offset, l));
        offset += l.len();
    }
    let first = lines.iter().position(|(_, l)| !l.trim().is_empty());
    let Some(first) = first.filter(|&i| is_start_line(lines[i].1)) else {
        return Split {
            start_line: None,
            body: input,
            body_line: 1,
            notes: Vec::new(),
        };
    };
    let mut notes = Vec::new();
    let mut content_length: Option<(usize, usize)> = None;
    let mut body_start = input.len();
    let mut body_line = lines.len() + 1;
    for (idx, &(off, raw)) in lines.iter().enumerate().skip(first + 1) {
        let line = raw.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            body_start = off + raw.len();
            body_line = idx + 2;
            break;
        }
        if line.trim_start().starts_with('<') {
            notes.push(Repair {
                line: idx + 1,
                message: "no blank line between the SIP headers and the body; the body starts here"
                    .into(),
            });
            body_start = off;
            body_line = idx + 1;
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") || name == "l" {
                match value.trim().parse::<usize>() {
                    Ok(n) => content_length = Some((n, idx + 1)),
                    Err(_) => notes.push(Repair {
                        line: idx + 1,
                        message: format!(
                            "Content-Length `{}` is not a number; ignored",
                            value.trim()
                        ),
                    }),
                }
            }
        }
    }
    let body = &input[body_start..];
    if let Some((declared, line)) = content_length {
        if body.len() < declared {
            notes.push(Repair {
                line,
                message: format!(
                    "the body has {} bytes but Content-Length says {declared}: the message is truncated; read what is there",
                    body.len()
                ),
            });
        } else if !body[declared..].trim().is_empty() {
            notes.push(Repair {
                line,
                message: format!(
                    "the body runs {} bytes past Content-Length ({declared}); read it all",
                    body.len() - declared
                ),
            });
        }
    }
    Split {
        start_line: Some(lines[first].1.trim_end()),
        body,
        body_line,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_xml_passes_through() {
        let s = split("\n<a/>");
        assert!(s.start_line.is_none());
        assert_eq!(s.body, "\n<a/>");
    }

    #[test]
    fn headers_and_body_with_crlf() {
        let msg = "SIP/2.0 200 OK\r\nContent-Length: 5\r\n\r\n<a/>\n";
        let s = split(msg);
        assert_eq!(s.start_line, Some("SIP/2.0 200 OK"));
        assert_eq!(s.body, "<a/>\n");
        assert_eq!(s.body_line, 4);
        assert!(s.notes.is_empty());
    }

    #[test]
    fn short_body_is_reported_on_the_header_line() {
        let s = split("NOTIFY sip:a@b SIP/2.0\nl: 100\n\n<a/>");
        assert_eq!(s.notes.len(), 1);
        assert_eq!(s.notes[0].line, 2);
        assert!(s.notes[0].message.contains("truncated"));
    }

    #[test]
    fn missing_blank_line() {
        let s = split("SIP/2.0 200 OK\nCSeq: 1 SUBSCRIBE\n<a/>");
        assert_eq!(s.body, "<a/>");
        assert_eq!(s.body_line, 3);
        assert_eq!(s.notes.len(), 1);
    }
}
