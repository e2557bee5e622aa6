//! Training the built-in engine's model from the labelled sets in `eval/` and choosing
//! how to combine it with the rules by cross-validation (`centralita train-routing`).
//!
//! What trains: `eval/corpus/*.jsonl` and `eval/dev/*.jsonl`. What never does: the
//! sets in `eval/blind/`, which are only measured (`centralita eval-routing`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::builtin::learned::{self, Model, Sample};
use super::builtin::lexicon::CATEGORIES;
use super::builtin::routing::{Tuning, classify_with};
use super::eval::{Example, Report};
use super::{Priority, Sentiment};

/// Where the embedded model lives, relative to the repository.
pub const MODEL_PATH: &str = "src/agents/builtin/routing_model.txt";

/// The folders whose sets train the model.
pub const TRAINING_DIRS: [&str; 2] = ["eval/corpus", "eval/dev"];

/// The `.jsonl` files of a folder, sorted.
pub fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The `.jsonl` files of the training folders under `root`, sorted (so training is
/// reproducible).
pub fn training_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for dir in TRAINING_DIRS {
        files.extend(jsonl_files(&root.join(dir))?);
    }
    Ok(files)
}

/// Every labelled example of the training folders.
pub fn training_examples(root: &Path) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for file in training_files(root)? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let ex: Example =
                serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", file.display(), i + 1))?;
            out.push(ex);
        }
    }
    Ok(out)
}

fn sample(ex: &Example) -> Sample {
    Sample {
        text: ex.text.clone(),
        category: ex.category.clone(),
        sentiment: ex.sentiment.as_str().into(),
        priority: ex.priority.as_str().into(),
    }
}

/// The model file for these examples.
pub fn train(examples: &[Example]) -> String {
    let samples: Vec<Sample> = examples.iter().map(sample).collect();
    let categories: Vec<&str> = CATEGORIES.iter().map(|(c, _, _)| *c).collect();
    let sentiments: Vec<&str> = Sentiment::ALL.iter().map(|s| s.as_str()).collect();
    let priorities: Vec<&str> = Priority::ALL.iter().map(|p| p.as_str()).collect();
    learned::train(&samples, &categories, &sentiments, &priorities)
}

/// `k`-fold cross-validation of each combination: every example is classified by a
/// model trained without it.
pub fn cross_validate(examples: &[Example], k: usize, tunings: &[Tuning]) -> Vec<Report> {
    let mut scores: Vec<Report> = tunings.iter().map(|_| Report::default()).collect();
    for fold in 0..k {
        let test: Vec<&Example> = examples.iter().enumerate().filter(|(i, _)| i % k == fold).map(|(_, e)| e).collect();
        let train_set: Vec<Example> =
            examples.iter().enumerate().filter(|(i, _)| i % k != fold).map(|(_, e)| e.clone()).collect();
        let Ok(model) = Model::parse(&train(&train_set)) else { continue };
        for (tuning, s) in tunings.iter().zip(scores.iter_mut()) {
            for ex in &test {
                s.record(ex, &classify_with(&model, *tuning, &ex.text));
            }
        }
    }
    scores
}

/// The combinations `train-routing --grid` compares.
pub fn grid() -> Vec<Tuning> {
    let mut out = Vec::new();
    for temperature in [0.7, 1.0, 1.5] {
        for lexicon in [0.0, 0.3, 1.0] {
            for sentiment_rules in [0.0, 1.0] {
                for priority_learned in [false, true] {
                    out.push(Tuning {
                        temperature,
                        lexicon,
                        sentiment_temperature: 1.0,
                        sentiment_rules,
                        priority_learned,
                    });
                }
            }
        }
    }
    out
}

/// A table of cross-validated figures, one line per combination.
pub fn table(tunings: &[Tuning], scores: &[Report]) -> String {
    let mut out = String::from(
        "temp  lexicon  sent.rules  prio.learned | department category sentiment priority | confident share -> right\n",
    );
    for (t, s) in tunings.iter().zip(scores) {
        let _ = writeln!(
            out,
            "{:>4} {:>8} {:>11} {:>13} | {:>9.1}% {:>7.1}% {:>8.1}% {:>7.1}% | {:>9.1}% -> {:>5.1}%",
            t.temperature,
            t.lexicon,
            t.sentiment_rules,
            t.priority_learned,
            100.0 * s.rate(s.department),
            100.0 * s.rate(s.category),
            100.0 * s.rate(s.sentiment),
            100.0 * s.rate(s.priority),
            100.0 * s.rate(s.confident),
            100.0 * s.confident_department as f64 / s.confident.max(1) as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model in the binary is exactly what the corpus trains: nobody edited it by
    /// hand, and a corpus change is not forgotten (`centralita train-routing`).
    #[test]
    fn the_embedded_model_is_what_the_corpus_trains() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let examples = training_examples(root).unwrap();
        let embedded = std::fs::read_to_string(root.join(MODEL_PATH)).unwrap();
        assert!(
            train(&examples) == embedded,
            "run `cargo run -- train-routing` after changing eval/corpus or eval/dev"
        );
    }
}
