//! Sections of `bench/RESULTS.md`: a figure measured alone (`--metrics-only`, `--only-import`,
//! `--reports-only`) replaces its own `## ` section and keeps every other one.

/// Heading of the hand-kept section of earlier measurements, which a full run keeps as it is.
pub(crate) const HISTORY: &str = "## Writer cost and throughput, as they were measured";

/// The section of `results` whose heading starts with `heading`: from the heading up to where
/// the next `## ` heading starts (or the end), as a byte range.
fn range(results: &str, heading: &str) -> Option<std::ops::Range<usize>> {
    let start = results.find(heading)?;
    let end = results[start + heading.len()..]
        .find("\n## ")
        .map_or(results.len(), |i| start + heading.len() + i + 1);
    Some(start..end)
}

/// The section of `results` whose heading starts with `heading`.
pub(crate) fn find<'a>(results: &'a str, heading: &str) -> Option<&'a str> {
    range(results, heading).map(|r| &results[r])
}

/// `results` with the section whose heading starts with `heading` replaced by `section` (or
/// `section` appended when there is none).
pub(crate) fn splice(results: &str, heading: &str, section: &str) -> String {
    match range(results, heading) {
        Some(r) => format!("{}{section}{}", &results[..r.start], &results[r.end..]),
        None => format!("{}\n\n{section}", results.trim_end()),
    }
}

/// Replaces (or appends) the section starting with `heading` in the file at `path`.
pub(crate) fn splice_file(
    path: &std::path::Path,
    heading: &str,
    section: &str,
) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, splice(&old, heading, section))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_only_its_section() {
        let r = "# t\n\n## P1 — a\n1\n\n## P2 — b\n2\n\n## P3 — c\n3\n";
        assert_eq!(
            super::splice(r, "## P2 — ", "## P2 — b\nnew\n\n"),
            "# t\n\n## P1 — a\n1\n\n## P2 — b\nnew\n\n## P3 — c\n3\n"
        );
        assert_eq!(
            super::splice(r, "## P3 — ", "## P3 — c\nnew\n"),
            "# t\n\n## P1 — a\n1\n\n## P2 — b\n2\n\n## P3 — c\nnew\n"
        );
        assert_eq!(
            super::splice("# t\n", "## P9 — ", "## P9 — x\n"),
            "# t\n\n## P9 — x\n"
        );
    }
}
