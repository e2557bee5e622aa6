//! Training the built-in engine's model from the labelled sets in `eval/` and choosing
//! how to combine it with the rules by cross-validation (`centralita train-routing`).
//!
//! What trains the routing model: `eval/corpus/*.jsonl` and `eval/dev/*.jsonl`; the
//! intent model (which tools serve a request): `eval/tools_corpus/*.jsonl` and
//! `eval/tools_dev/*.jsonl`. What never does: the sets in `eval/blind/`, which are
//! only measured (`centralita eval-routing`, `centralita eval-tools`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::builtin::intents::{self, ANSWERS, Intent, IntentModel};
use super::builtin::learned::{self, HeadSpec, Model, Sample};
use super::builtin::lexicon::CATEGORIES;
use super::builtin::routing::{Tuning, classify_with};
use super::eval::{Example, Report, ToolExample};
use super::{Priority, Sentiment};

/// Where the embedded model lives, relative to the repository.
pub const MODEL_PATH: &str = "src/agents/builtin/routing_model.txt";

/// The folders whose sets train the model.
pub const TRAINING_DIRS: [&str; 2] = ["eval/corpus", "eval/dev"];

/// The folders whose sets train the intent model.
pub const TOOL_TRAINING_DIRS: [&str; 2] = ["eval/tools_corpus", "eval/tools_dev"];

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

/// Every labelled example of the routing training folders.
pub fn training_examples(root: &Path) -> Result<Vec<Example>, String> {
    read_examples(&training_files(root)?)
}

/// Every labelled request of the intent training folders.
pub fn tool_training_examples(root: &Path) -> Result<Vec<ToolExample>, String> {
    let mut files = Vec::new();
    for dir in TOOL_TRAINING_DIRS {
        files.extend(jsonl_files(&root.join(dir))?);
    }
    read_examples(&files)
}

fn read_examples<T: serde::de::DeserializeOwned>(files: &[PathBuf]) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let ex: T = serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", file.display(), i + 1))?;
            out.push(ex);
        }
    }
    Ok(out)
}

/// The intent model file for these requests: one yes/no head per tool.
pub fn train_intents(examples: &[ToolExample]) -> String {
    let featured: Vec<Vec<String>> = examples.iter().map(|e| intents::features(&e.text)).collect();
    let names: Vec<&str> = Intent::ALL.iter().map(|i| i.tool().as_str()).collect();
    let mut heads: Vec<HeadSpec<'_>> = Intent::ALL
        .iter()
        .zip(&names)
        .map(|(intent, name)| HeadSpec {
            name,
            classes: &ANSWERS,
            labels: examples.iter().map(|e| Some(usize::from(e.tools.contains(&intent.tool())))).collect(),
        })
        .collect();
    heads.push(HeadSpec {
        name: intents::HANDOVER,
        classes: &ANSWERS,
        labels: examples.iter().map(|e| Some(usize::from(e.handover))).collect(),
    });
    learned::train_heads(intents::MAGIC, &featured, &heads)
}

/// Cross-validated intent figures at one threshold.
#[derive(Debug, Default)]
pub struct IntentScore {
    /// Requests measured.
    pub total: usize,
    /// The exact set of tools.
    pub exact: usize,
    /// The same by the rules alone.
    pub rules_exact: usize,
    /// Per intent: (true positives, false positives, false negatives).
    pub per_intent: [(usize, usize, usize); 5],
    /// The same for the hand-over head at its threshold.
    pub handover: (usize, usize, usize),
}

/// `k`-fold cross-validation of the intent model at each threshold.
pub fn cross_validate_intents(examples: &[ToolExample], k: usize, thresholds: &[f32]) -> Vec<IntentScore> {
    let mut scores: Vec<IntentScore> = thresholds.iter().map(|_| IntentScore::default()).collect();
    for fold in 0..k {
        let test: Vec<&ToolExample> =
            examples.iter().enumerate().filter(|(i, _)| i % k == fold).map(|(_, e)| e).collect();
        let train_set: Vec<ToolExample> =
            examples.iter().enumerate().filter(|(i, _)| i % k != fold).map(|(_, e)| e.clone()).collect();
        let Ok(mut model) = IntentModel::parse(&train_intents(&train_set)) else { continue };
        for (threshold, s) in thresholds.iter().zip(scores.iter_mut()) {
            model.threshold = *threshold;
            for ex in &test {
                let want: Vec<Intent> = Intent::ALL.into_iter().filter(|i| ex.tools.contains(&i.tool())).collect();
                let got = model.detect(&ex.text);
                s.total += 1;
                s.exact += usize::from(got == want);
                s.rules_exact += usize::from(sorted(intents::by_rules(&ex.text)) == want);
                for (n, intent) in Intent::ALL.iter().enumerate() {
                    count(&mut s.per_intent[n], want.contains(intent), got.contains(intent));
                }
                count(&mut s.handover, ex.handover, model.handover(&ex.text) >= intents::HANDOVER_THRESHOLD);
            }
        }
    }
    scores
}

/// Adds one decision to (true positives, false positives, false negatives).
fn count(cell: &mut (usize, usize, usize), wanted: bool, got: bool) {
    cell.0 += usize::from(wanted && got);
    cell.1 += usize::from(!wanted && got);
    cell.2 += usize::from(wanted && !got);
}

fn sorted(found: Vec<Intent>) -> Vec<Intent> {
    Intent::ALL.into_iter().filter(|i| found.contains(i)).collect()
}

/// A table of cross-validated intent figures, one line per threshold.
pub fn intent_table(thresholds: &[f32], scores: &[IntentScore]) -> String {
    let mut out = String::from("threshold | exact set (rules alone) |");
    for intent in Intent::ALL {
        let _ = write!(out, " {} P/R |", intent.tool());
    }
    out.push_str(" handover P/R\n");
    for (t, s) in thresholds.iter().zip(scores) {
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        let _ = write!(out, "{t:>9} | {:>5.1}% ({:>5.1}%) |", pct(s.exact, s.total), pct(s.rules_exact, s.total));
        for (tp, fp, fn_) in s.per_intent.iter().chain([&s.handover]) {
            let _ = write!(out, " {:>5.1}/{:>5.1} |", pct(*tp, tp + fp), pct(*tp, tp + fn_));
        }
        out.push('\n');
    }
    out
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

    /// The same for the intent model and the tool sets.
    #[test]
    fn the_embedded_intent_model_is_what_the_tool_sets_train() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let examples = tool_training_examples(root).unwrap();
        assert!(examples.len() > 1000, "the tool corpus is in place");
        let embedded = std::fs::read_to_string(root.join(intents::MODEL_PATH)).unwrap();
        assert!(
            train_intents(&examples) == embedded,
            "run `cargo run -- train-routing` after changing eval/tools_corpus or eval/tools_dev"
        );
        assert!(IntentModel::parse(&embedded).is_ok());
    }
}
