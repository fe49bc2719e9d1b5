//! Plain-text tables for the admin commands: left-aligned columns padded to their widest cell,
//! two spaces apart, a header row in capitals. Width is counted in characters, so Vietnamese
//! plates and names line up.

/// Renders `rows` under `headers`; a row shorter than the header leaves its last cells empty.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    line(&mut out, &header, &widths);
    for row in rows {
        line(&mut out, row, &widths);
    }
    out
}

fn line(out: &mut String, cells: &[String], widths: &[usize]) {
    let mut text = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.get(i).map_or("", String::as_str);
        if i > 0 {
            text.push_str("  ");
        }
        text.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        text.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

/// `key: value` lines with the keys padded to one width.
pub(crate) fn pairs(items: &[(&str, String)]) -> String {
    let width = items
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in items {
        let pad = width - k.chars().count();
        out.push_str(k);
        out.push(':');
        out.extend(std::iter::repeat_n(' ', pad + 1));
        out.push_str(v);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let t = render(
            &["peer", "link"],
            &[
                vec!["central-2".into(), "up".into()],
                vec!["c3".into(), "down".into()],
            ],
        );
        assert_eq!(t, "PEER       LINK\ncentral-2  up\nc3         down\n");
    }

    #[test]
    fn wide_characters_count_once() {
        let t = render(&["a", "b"], &[vec!["Đ".into(), "x".into()]]);
        assert_eq!(t, "A  B\nĐ  x\n");
    }

    #[test]
    fn pairs_align_values() {
        assert_eq!(
            pairs(&[("id", "c1".into()), ("peers", "2".into())]),
            "id:    c1\npeers: 2\n"
        );
    }
}
