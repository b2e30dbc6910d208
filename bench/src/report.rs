//! The benchmark report: Markdown, printed as each benchmark ends and kept for RESULTS.md.

use std::fmt::Write as _;

#[derive(Default)]
pub struct Report {
    text: String,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        self.emit(&format!("\n## {title}\n"));
    }

    pub fn line(&mut self, text: &str) {
        self.emit(&format!("{text}\n"));
    }

    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        let mut table = String::new();
        let _ = writeln!(table, "\n| {} |", header.join(" | "));
        let _ = writeln!(table, "|{}", " --- |".repeat(header.len()));
        for row in rows {
            let _ = writeln!(table, "| {} |", row.join(" | "));
        }
        self.emit(&table);
    }

    fn emit(&mut self, text: &str) {
        print!("{text}");
        self.text.push_str(text);
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}
