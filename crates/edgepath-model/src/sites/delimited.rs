//! Rows of a comma- or tab-separated file, as spreadsheets write them: fields may be
//! quoted (`"Seattle, WA"`, `""` for a quote inside), a UTF-8 byte order mark may lead
//! the file, lines may end in CRLF. A quoted field may not span lines: neither the CQD
//! building file nor a topology export has one, and a stray quote is better reported on
//! its own line than swallowing the rest of the file.

/// One row: its 1-based line number and its fields, trimmed of surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line in the file, from 1.
    pub line: usize,
    /// The fields in order.
    pub fields: Vec<String>,
}

/// Which character separates the fields: a tab when the first non-empty line has one
/// (CQD takes .tsv), else a comma.
pub fn delimiter(text: &str) -> char {
    match text.lines().find(|l| !l.trim().is_empty()) {
        Some(l) if l.contains('\t') => '\t',
        _ => ',',
    }
}

/// Every line of `text` as a row (blank lines too, with no fields, so that a reader can
/// say where they are); an unbalanced quote is an error naming the line.
pub fn rows(text: &str, delimiter: char) -> Vec<Result<Row, (usize, String)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let line_no = i + 1;
            if line.trim().is_empty() {
                return Ok(Row {
                    line: line_no,
                    fields: Vec::new(),
                });
            }
            split(line, delimiter)
                .map(|fields| Row {
                    line: line_no,
                    fields,
                })
                .map_err(|e| (line_no, e))
        })
        .collect()
}

fn split(line: &str, delimiter: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            c if c == delimiter && !quoted => {
                fields.push(field.trim().to_owned());
                field.clear();
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".to_owned());
    }
    fields.push(field.trim().to_owned());
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_spreadsheets_write() {
        let cases: &[(&str, char, &[&str])] = &[
            ("a,b,,d", ',', &["a", "b", "", "d"]),
            ("\"Seattle, WA\",1", ',', &["Seattle, WA", "1"]),
            ("\"say \"\"hi\"\"\",x", ',', &["say \"hi\"", "x"]),
            ("a\tb, c\t", '\t', &["a", "b, c", ""]),
            (" a , b ", ',', &["a", "b"]),
        ];
        for (line, d, want) in cases {
            assert_eq!(split(line, *d).unwrap(), *want, "{line}");
        }
        assert!(split("\"open,1", ',').is_err());
    }

    #[test]
    fn rows_keep_line_numbers_and_drop_the_bom() {
        let r = rows("\u{feff}a,b\r\n\r\n\"x,1\n", ',');
        assert_eq!(r[0].as_ref().unwrap().fields, ["a", "b"]);
        assert!(r[1].as_ref().unwrap().fields.is_empty());
        assert_eq!(r[2].as_ref().unwrap_err().0, 3);
        assert_eq!(delimiter("\n1.2.3.0\tx"), '\t');
        assert_eq!(delimiter("1.2.3.0,x"), ',');
    }
}
