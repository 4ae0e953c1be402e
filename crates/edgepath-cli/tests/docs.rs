//! The documentation holds together: every relative link in README.md, docs/ and the
//! lab's README names a file that exists (and, with `#anchor`, a heading in it), the
//! README stays a first read, and every command has its reference page.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![repo().join("README.md"), repo().join("lab/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ is readable")
        .map(|e| e.expect("docs/ lists").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The lines outside fenced code blocks, numbered from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The targets of the inline links `[text](target)` on a line, inline code skipped.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => in_code = !in_code,
            b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                if let Some(end) = line[i + 2..].find(')') {
                    out.push(line[i + 2..i + 2 + end].to_owned());
                    i += 2 + end;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A heading's anchor as GitHub makes it: lower case, punctuation but `-` and `_`
/// dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, l)| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_names_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for (n, line) in prose(&text) {
            for target in links(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target.as_str(), None),
                };
                let path = if file.is_empty() {
                    doc.clone()
                } else {
                    dir.join(file)
                };
                let place = format!("{}:{n}: {target}", doc.display());
                if !path.exists() {
                    broken.push(format!("{place}: no such file"));
                    continue;
                }
                if let Some(a) = anchor {
                    let heads = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
                    if !heads.contains(a) {
                        broken.push(format!("{place}: no heading with that anchor"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked > 20,
        "only {checked} links found: is the scan right?"
    );
}

#[test]
fn the_readme_is_a_first_read_and_links_every_command_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 260,
        "README.md has {lines} lines: the reference belongs in docs/"
    );
    for page in [
        "check",
        "catalog",
        "provisioning",
        "rules",
        "capture",
        "audit",
        "serve",
        "sites",
        "decode",
        "windows",
        "json",
    ] {
        let link = format!("(docs/{page}.md)");
        assert!(readme.contains(&link), "README.md does not link {link}");
    }
}

#[test]
fn the_link_scan_finds_what_it_should() {
    assert_eq!(
        links("see [a](docs/a.md) and `[b](not)` then [c](x.md#y)"),
        vec!["docs/a.md", "x.md#y"]
    );
    assert_eq!(
        slug("`edgepath check`: the paths, tested"),
        "edgepath-check-the-paths-tested"
    );
    assert_eq!(prose("a\n```\n[x](y)\n```\nb"), vec![(1, "a"), (5, "b")]);
}
