//! The trained part of the built-in engine: logistic regression over word, word-pair
//! and character n-gram features, learned from the labelled corpus in `eval/` by
//! `centralita train-routing` and embedded in the binary (`routing_model.txt`).
//!
//! Three heads share the features: the topic (category, from which the department
//! follows), the sentiment and the priority. Training is deterministic, so a test can
//! check that the embedded file is exactly what the corpus gives.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use super::text::{normalize, tokens};

/// The model trained from the corpus, parsed on first use.
pub static MODEL: LazyLock<Model> = LazyLock::new(|| {
    Model::parse(include_str!("routing_model.txt")).unwrap_or_else(|e| {
        // A test proves the embedded file parses; should it not, the lexicon still routes.
        tracing::error!(error = %e, "the embedded routing model does not parse; routing on the lexicon alone");
        Model { category: Head::empty(), sentiment: Head::empty(), priority: Head::empty() }
    })
});

/// First line of a model file.
const MAGIC: &str = "centralita-routing-model 2";

/// A feature must appear in this many training messages to be kept: rarer ones are
/// mostly noise and would only grow the file.
const MIN_DOCS: usize = 2;

/// Chat and SMS spellings read as the word they stand for, so `q`, `xq` and `u` meet
/// `que`, `porque` and `you` (Spanish and English; the tokens are already normalised).
const SHORTHAND: &[(&str, &str)] = &[
    ("q", "que"),
    ("k", "que"),
    ("ke", "que"),
    ("qe", "que"),
    ("x", "por"),
    ("pq", "porque"),
    ("xq", "porque"),
    ("xk", "porque"),
    ("pk", "porque"),
    ("porq", "porque"),
    ("tb", "tambien"),
    ("tmb", "tambien"),
    ("tbn", "tambien"),
    ("d", "de"),
    ("dnd", "donde"),
    ("xfa", "por favor"),
    ("porfa", "por favor"),
    ("pf", "por favor"),
    ("msj", "mensaje"),
    ("toy", "estoy"),
    ("ta", "esta"),
    ("cel", "celular"),
    ("celu", "celular"),
    ("u", "you"),
    ("ur", "your"),
    ("r", "are"),
    ("pls", "please"),
    ("plz", "please"),
    ("plzz", "please"),
    ("thx", "thanks"),
    ("thnx", "thanks"),
    ("ty", "thanks"),
    ("cant", "can t"),
    ("dont", "don t"),
    ("didnt", "didn t"),
    ("doesnt", "doesn t"),
    ("isnt", "isn t"),
    ("wont", "won t"),
    ("im", "i m"),
    ("ive", "i ve"),
    ("wanna", "want to"),
    ("gonna", "going to"),
    ("gotta", "got to"),
    ("acct", "account"),
    ("pw", "password"),
    ("pwd", "password"),
    ("b4", "before"),
    ("2day", "today"),
    ("msg", "message"),
];

/// The words of a message after normalisation, with chat shorthand spelled out.
pub fn words(text: &str) -> Vec<String> {
    let norm = normalize(text);
    let mut out = Vec::new();
    for t in tokens(&norm) {
        match SHORTHAND.iter().find(|(short, _)| *short == t) {
            Some((_, long)) => out.extend(long.split(' ').map(str::to_owned)),
            None => out.push(t.to_owned()),
        }
    }
    out
}

/// The distinct features of a message: words, adjacent word pairs, and the 3- and
/// 4-letter pieces of each word (which survive typos, missing accents and endings).
pub fn features(text: &str) -> Vec<String> {
    let words = words(text);
    let mut out: Vec<String> = Vec::with_capacity(words.len() * 12);
    for w in &words {
        out.push(format!("w:{w}"));
        let padded: Vec<char> = format!("<{w}>").chars().collect();
        for n in [3, 4] {
            for piece in padded.windows(n) {
                let piece: String = piece.iter().collect();
                out.push(format!("c:{piece}"));
            }
        }
    }
    for pair in words.windows(2) {
        out.push(format!("b:{} {}", pair[0], pair[1]));
    }
    let mut seen: HashSet<u64, BuildHasherDefault<Prehashed>> =
        HashSet::with_capacity_and_hasher(out.len(), Default::default());
    out.retain(|f| seen.insert(key(f)));
    out
}

/// A message's features as the heads read them: each one's [`key`], in the order of
/// [`features`], duplicates removed. Built from the message directly
/// ([`FeatureKeys::of`]), hashing each name's parts as it goes without writing the
/// name, and once per message: every head (the intent model has one per intent) then
/// only looks the keys up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureKeys {
    keys: Vec<u64>,
    /// The keys of whole words and word pairs (not of the pieces of words).
    whole: Vec<u64>,
}

impl FeatureKeys {
    /// The keys of [`features`]`(text)`, without building a name.
    pub fn of(text: &str) -> Self {
        let words = words(text);
        let mut all: Vec<(u64, bool)> = Vec::with_capacity(words.len() * 12);
        let mut padded = String::new();
        let mut bounds: Vec<usize> = Vec::new();
        for w in &words {
            all.push((key_of(&[b"w:", w.as_bytes()]), true));
            padded.clear();
            padded.push('<');
            padded.push_str(w);
            padded.push('>');
            bounds.clear();
            bounds.extend(padded.char_indices().map(|(i, _)| i));
            bounds.push(padded.len());
            let chars = bounds.len() - 1;
            for n in [3, 4] {
                for start in 0..(chars + 1).saturating_sub(n) {
                    let piece = &padded[bounds[start]..bounds[start + n]];
                    all.push((key_of(&[b"c:", piece.as_bytes()]), false));
                }
            }
        }
        for pair in words.windows(2) {
            all.push((key_of(&[b"b:", pair[0].as_bytes(), b" ", pair[1].as_bytes()]), true));
        }
        Self::distinct(all)
    }

    /// The keys of these feature names (training and tests have the names).
    pub fn from_names(names: &[String]) -> Self {
        Self::distinct(names.iter().map(|n| (key(n), !n.starts_with("c:"))).collect())
    }

    fn distinct(mut all: Vec<(u64, bool)>) -> Self {
        let mut seen: HashSet<u64, BuildHasherDefault<Prehashed>> =
            HashSet::with_capacity_and_hasher(all.len(), Default::default());
        all.retain(|(k, _)| seen.insert(*k));
        Self {
            whole: all.iter().filter(|(_, w)| *w).map(|(k, _)| *k).collect(),
            keys: all.into_iter().map(|(k, _)| k).collect(),
        }
    }

    /// Adds the feature whose name is `parts` joined (the intent model's own).
    pub fn push(&mut self, parts: &[&[u8]]) {
        self.keys.push(key_of(parts));
    }
}

/// One classifier over the shared features: multinomial logistic regression.
#[derive(Debug)]
pub struct Head {
    /// Label names, in the file's order.
    pub classes: Vec<String>,
    bias: Vec<f32>,
    /// For each known feature, by its [`key`], where its weights are in `pairs`:
    /// (start, count). The weights of all features share one array: tens of thousands
    /// of features cost a few bytes each, not two allocations each.
    index: HashMap<u64, (u32, u16), BuildHasherDefault<Prehashed>>,
    /// (class, weight) where the weight is not negligible, feature after feature.
    pairs: Vec<(u16, f32)>,
}

/// A feature as a head's index knows it: a 64-bit hash of its name (SipHash-1-3, fixed
/// keys). A message's lookups then never read the names: each would be one more miss
/// of the processor's cache, in text spread over the binary, and the lookups of a
/// message's hundred-odd features were most of the engine's time. Two known features
/// with one key are refused when the model is read (a test reads the embedded ones);
/// an unknown feature taken for a known one has a chance of about one in 10^14.
fn key(feature: &str) -> u64 {
    key_of(&[feature.as_bytes()])
}

/// The [`key`] of the name `parts` make one after the other (SipHash reads its input
/// as one stream, however it is cut).
fn key_of(parts: &[&[u8]]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for part in parts {
        hasher.write(part);
    }
    hasher.finish()
}

/// The hasher of an index whose keys are hashes already: it passes them through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else is still mixed in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A head's label from a sample.
type Label = fn(&Sample) -> &str;

impl Head {
    pub fn empty() -> Self {
        Self { classes: Vec::new(), bias: Vec::new(), index: HashMap::default(), pairs: Vec::new() }
    }

    /// Whether training kept any of the message's whole words or word pairs.
    pub fn knows_a_word_of(&self, features: &FeatureKeys) -> bool {
        features.whole.iter().any(|k| self.index.contains_key(k))
    }

    /// Log-scores of each class for these features (the model's logits).
    pub fn scores(&self, features: &FeatureKeys) -> Vec<f32> {
        let mut scores = self.bias.clone();
        let x = feature_value(features.keys.len());
        for f in &features.keys {
            if let Some(&(start, count)) = self.index.get(f) {
                let start = start as usize;
                for (class, w) in &self.pairs[start..start + usize::from(count)] {
                    scores[usize::from(*class)] += w * x;
                }
            }
        }
        scores
    }

    /// Probabilities of each class, the scores divided by `temperature` first (chosen
    /// by cross-validation so that confidences are honest).
    pub fn probabilities(&self, features: &FeatureKeys, temperature: f32) -> Vec<f32> {
        softmax(&self.scores(features), temperature)
    }
}

/// Every feature of a message weighs the same, and a long message does not outshout a
/// short one: the feature vector has unit length.
fn feature_value(count: usize) -> f32 {
    1.0 / (count.max(1) as f32).sqrt()
}

/// `exp(x / t)` normalised to sum 1.
pub fn softmax(scores: &[f32], temperature: f32) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The three heads.
#[derive(Debug)]
pub struct Model {
    /// Topic (category).
    pub category: Head,
    /// Sentiment.
    pub sentiment: Head,
    /// Priority.
    pub priority: Head,
}

impl Model {
    /// Reads a model file written by [`train`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut heads = parse_heads(text, MAGIC)?;
        Ok(Self {
            category: take(&mut heads, "category")?,
            sentiment: take(&mut heads, "sentiment")?,
            priority: take(&mut heads, "priority")?,
        })
    }
}

/// The head called `name`, taken out of a parsed file.
pub fn take(heads: &mut Vec<(String, Head)>, name: &str) -> Result<Head, String> {
    let at = heads.iter().position(|(n, _)| n == name).ok_or_else(|| format!("head {name:?} missing"))?;
    Ok(heads.remove(at).1)
}

/// The named heads of a model file whose first line is `magic` (written by
/// [`train_heads`]).
pub fn parse_heads(text: &str, magic: &str) -> Result<Vec<(String, Head)>, String> {
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, l)| l) != Some(magic) {
        return Err(format!("not a model file (first line must be {magic:?})"));
    }
    let bad = |n: usize, what: &str| format!("line {}: {what}", n + 1);
    let number = |n: usize, v: &str| v.parse::<f32>().map_err(|_| bad(n, "bad number"));
    let mut heads: Vec<(String, Head)> = Vec::new();
    for (n, line) in lines {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let current = heads.last_mut().map(|(_, h)| h);
        match (kind, current) {
            ("head", _) => heads.push((rest.to_owned(), Head::empty())),
            ("classes", Some(h)) => h.classes = rest.split(' ').map(str::to_owned).collect(),
            ("bias", Some(h)) => {
                h.bias = rest.split(' ').map(|v| number(n, v)).collect::<Result<_, _>>()?;
                if h.bias.len() != h.classes.len() {
                    return Err(bad(n, "one bias per class expected"));
                }
            }
            ("f", Some(h)) => {
                let (name, ws) = rest.rsplit_once('\t').ok_or_else(|| bad(n, "feature without weights"))?;
                let start = u32::try_from(h.pairs.len()).map_err(|_| bad(n, "too many weights"))?;
                for pair in ws.split(' ') {
                    let (class, w) = pair.split_once(':').ok_or_else(|| bad(n, "bad class:weight"))?;
                    let class: u16 = class.parse().map_err(|_| bad(n, "bad class"))?;
                    if usize::from(class) >= h.classes.len() {
                        return Err(bad(n, "class out of range"));
                    }
                    h.pairs.push((class, number(n, w)?));
                }
                let count = u16::try_from(h.pairs.len() - start as usize).map_err(|_| bad(n, "too many weights"))?;
                if h.index.insert(key(name), (start, count)).is_some() {
                    return Err(bad(n, "a feature given twice, or two features with one key"));
                }
            }
            ("", _) => {}
            (other, _) => return Err(bad(n, &format!("unexpected {other:?}"))),
        }
    }
    Ok(heads)
}

/// One labelled message for training: its text and a label per head.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The message.
    pub text: String,
    /// Category.
    pub category: String,
    /// Sentiment.
    pub sentiment: String,
    /// Priority.
    pub priority: String,
}

/// Passes over the training set.
const EPOCHS: usize = 30;
/// Step size at the first pass; it decays as 1 / (1 + epoch / 4).
const LEARNING_RATE: f32 = 1.0;
/// Pull of each weight towards zero (L2), per step it is touched.
const L2: f32 = 1e-4;
/// Weights smaller than this are left out of the file.
const KEEP_WEIGHT: f32 = 0.15;

/// Trains the three heads and writes the model file. Deterministic: the same samples
/// always give the same bytes (a fixed visiting order, no threads).
pub fn train(samples: &[Sample], categories: &[&str], sentiments: &[&str], priorities: &[&str]) -> String {
    let featured: Vec<Vec<String>> = samples.iter().map(|s| features(&s.text)).collect();
    let label = |classes: &[&str], pick: Label| -> Vec<Option<usize>> {
        samples.iter().map(|s| classes.iter().position(|c| *c == pick(s))).collect()
    };
    let heads = [
        HeadSpec { name: "category", classes: categories, labels: label(categories, |s| s.category.as_str()) },
        HeadSpec { name: "sentiment", classes: sentiments, labels: label(sentiments, |s| s.sentiment.as_str()) },
        HeadSpec { name: "priority", classes: priorities, labels: label(priorities, |s| s.priority.as_str()) },
    ];
    train_heads(MAGIC, &featured, &heads)
}

/// One head to train: its name, its classes, and each message's class (`None` leaves
/// the message out of this head).
pub struct HeadSpec<'a> {
    /// Written after `head` in the file.
    pub name: &'a str,
    /// The labels, in order.
    pub classes: &'a [&'a str],
    /// Per training message, the index of its class.
    pub labels: Vec<Option<usize>>,
}

/// Trains heads over shared features (one list per message) and writes a model file
/// starting with `magic`. Deterministic: the same input always gives the same bytes.
pub fn train_heads(magic: &str, featured: &[Vec<String>], heads: &[HeadSpec<'_>]) -> String {
    // Features seen in at least MIN_DOCS messages, numbered in sorted order.
    let mut doc_freq: BTreeMap<&str, usize> = BTreeMap::new();
    for fs in featured {
        for f in fs {
            *doc_freq.entry(f.as_str()).or_default() += 1;
        }
    }
    let vocab: Vec<&str> = doc_freq.iter().filter(|(_, n)| **n >= MIN_DOCS).map(|(f, _)| *f).collect();
    let index: HashMap<&str, u32> = vocab.iter().enumerate().map(|(i, f)| (*f, i as u32)).collect();
    let rows: Vec<(Vec<u32>, f32)> = featured
        .iter()
        .map(|fs| (fs.iter().filter_map(|f| index.get(f.as_str()).copied()).collect(), feature_value(fs.len())))
        .collect();

    let mut out = String::new();
    let _ = writeln!(out, "{magic}");
    for head in heads {
        let labelled: Vec<(&(Vec<u32>, f32), usize)> =
            rows.iter().zip(&head.labels).filter_map(|(row, y)| y.map(|y| (row, y))).collect();
        let k = head.classes.len();
        let (bias, weights) = fit(&labelled, k, vocab.len());
        let _ = writeln!(out, "head {}", head.name);
        let _ = writeln!(out, "classes {}", head.classes.join(" "));
        let _ = writeln!(out, "bias {}", bias.iter().map(|b| format!("{b:.3}")).collect::<Vec<_>>().join(" "));
        for (i, f) in vocab.iter().enumerate() {
            let pairs: Vec<String> = weights[i * k..(i + 1) * k]
                .iter()
                .enumerate()
                .filter(|(_, w)| w.abs() >= KEEP_WEIGHT)
                .map(|(c, w)| format!("{c}:{w:.2}"))
                .collect();
            if !pairs.is_empty() {
                let _ = writeln!(out, "f {f}\t{}", pairs.join(" "));
            }
        }
    }
    out
}

/// Stochastic gradient descent on the softmax loss: (bias, weights[feature * k + class]).
fn fit(rows: &[(&(Vec<u32>, f32), usize)], k: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut bias = vec![0f32; k];
    let mut weights = vec![0f32; dim * k];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut scores = vec![0f32; k];
    for epoch in 0..EPOCHS {
        // Fisher-Yates with a fixed xorshift stream: a different order each pass, the
        // same on every run.
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        let rate = LEARNING_RATE / (1.0 + epoch as f32 / 4.0);
        for &i in &order {
            let ((features, x), y) = rows[i];
            scores.copy_from_slice(&bias);
            for &f in features {
                let w = &weights[f as usize * k..(f as usize + 1) * k];
                for (s, w) in scores.iter_mut().zip(w) {
                    *s += w * x;
                }
            }
            let p = softmax(&scores, 1.0);
            for c in 0..k {
                let g = p[c] - if c == y { 1.0 } else { 0.0 };
                bias[c] -= rate * g;
                for &f in features {
                    let w = &mut weights[f as usize * k + c];
                    *w -= rate * (g * x + L2 * *w);
                }
            }
        }
    }
    (bias, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_typos_share_features_with_the_full_words() {
        assert_eq!(words("xq tarda tanto el msj?? thx"), ["porque", "tarda", "tanto", "el", "mensaje", "thanks"]);
        let typo = features("contrasena");
        let right = features("contraseña");
        assert_eq!(typo, right, "accents are folded");
        let shared = features("factura").iter().filter(|f| features("fatcura").contains(f)).count();
        assert!(shared >= 3, "a transposition keeps the word's edges");
    }

    #[test]
    fn a_trained_model_reads_back_and_separates_its_classes() {
        let s = |text: &str, category: &str, sentiment: &str| Sample {
            text: text.into(),
            category: category.into(),
            sentiment: sentiment.into(),
            priority: "low".into(),
        };
        let samples = [
            s("cual es mi saldo", "balance", "neutral"),
            s("saldo pendiente por favor", "balance", "neutral"),
            s("mi saldo cual es", "balance", "neutral"),
            s("el router no funciona", "fault", "negative"),
            s("no funciona el router otra vez", "fault", "negative"),
            s("router roto no funciona", "fault", "negative"),
        ];
        let text = train(&samples, &["balance", "fault"], &["neutral", "negative"], &["low"]);
        let model = Model::parse(&text).unwrap();
        let p = model.category.probabilities(&FeatureKeys::of("saldo?"), 1.0);
        assert!(p[0] > p[1], "{p:?}");
        let p = model.category.probabilities(&FeatureKeys::of("mi ruter no funciona"), 1.0);
        assert!(p[1] > p[0], "{p:?}");
        assert_eq!(train(&samples, &["balance", "fault"], &["neutral", "negative"], &["low"]), text, "deterministic");
        assert!(Model::parse("something else").is_err());
    }

    #[test]
    fn a_messages_keys_are_those_of_its_feature_names() {
        let texts = [
            "",
            "a",
            "ok",
            "Hola, ¿cuál es mi saldo? thx",
            "xq tengo cargo doble, abril??",
            "My internet is down and nothing works, pls help",
            "contraseña olvidada ñandú 日本 ab abc abcd",
            "router router router",
        ];
        for text in texts {
            let names = features(text);
            let keys = FeatureKeys::of(text);
            assert_eq!(keys, FeatureKeys::from_names(&names), "{text}");
            assert_eq!(keys.keys.len(), names.len(), "{text}");
        }
        let keys = FeatureKeys::of("mi saldo");
        assert!(keys.whole.contains(&key("w:saldo")) && keys.whole.contains(&key("b:mi saldo")));
        assert!(keys.keys.contains(&key("c:<sa")) && !keys.whole.contains(&key("c:<sa")));
    }

    #[test]
    fn the_embedded_model_loads() {
        assert!(MODEL.category.classes.len() > 20);
        assert_eq!(MODEL.sentiment.classes.len(), 3);
    }
}
