//! One module per subcommand of `compute-ledger`.

pub mod actions;
pub mod demo;
mod demo_node;
pub mod devnet;
pub mod index;
pub mod keys;
pub mod run;

use serde_json::Value;

/// How results are printed: plain sentences, or one JSON object per result with `--json`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON.
    pub json: bool,
}

impl Output {
    /// Prints `text` for people or `value` for programs.
    pub fn print(self, text: &str, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}
