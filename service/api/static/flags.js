// The result's flags in plain words, grouped where they belong: the title, each sentence,
// the summary, the whole article. The codes are the API's (README "Flag codes").

const LABELS = {
  sentence_split: "Too long for the model: cut into pieces, each translated alone.",
  repetition_redecoded: "The first translation looped; it was translated again with repetition controls.",
  repetition: "The translation repeats itself, even after a second try.",
  passthrough: "Not translated: the output is (nearly) the source text.",
  number_mismatch: "A number in the source is missing from the translation.",
  glossary_miss: "A glossary or do-not-translate term is missing from the translation.",
  length_ratio: "The translation is far shorter or longer than the source.",
  empty_translation: "The model gave no translation.",
  output_truncated: "The translation stopped at the model's length limit and may be cut short.",
  short_output_repaired: "The first translation was too short; it was redone in pieces, and that one was kept.",
  sentence_count: "The translation holds fewer sentences than the source: part may be missing.",
  random_model: "A test model with random weights: this is not a translation.",
  summary_skipped: "No summary: no summariser was available.",
  unsupported_bullet: "A bullet names numbers or names found nowhere in the translation.",
  summary_fallback: "The summariser gave nothing usable: the bullet is the article's best sentence.",
  summary_empty: "No bullets could be written.",
  summary_extractive_short_text: "A short article: the bullets are its own sentences.",
  already_target_language: "Already in English: kept as it is.",
  paragraph_language_unsupported: "This paragraph seems to be in a language with no model: it was translated as the article's language.",
};

// Flags that say what was done rather than what may be wrong: listed, not underlined.
const NOTES = new Set([
  "repetition_redecoded",
  "short_output_repaired",
  "already_target_language",
  "summary_extractive_short_text",
]);

const SUMMARY_CODES = new Set([
  "summary_skipped",
  "unsupported_bullet",
  "summary_fallback",
  "summary_empty",
  "summary_extractive_short_text",
]);

export function flagLabel(code) {
  return LABELS[code] || "Check this: " + String(code).replace(/_/g, " ") + ".";
}

export const isNote = (flag) => NOTES.has(flag.code);

const hasSentence = (flag) => flag.sentence !== null && flag.sentence !== undefined;

// The title's flags carry no sentence and a detail that starts with the word "title".
const isTitle = (flag) => !hasSentence(flag) && /^title\b/i.test(flag.detail || "");

// Groups in reading order: title, sentences, summary, whole article. random_model is not
// listed: the page shows it as a banner above everything.
export function groupFlags(flags) {
  const groups = new Map();
  const add = (key, order, label, sentence, flag) => {
    if (!groups.has(key)) groups.set(key, { key, order, label, sentence, flags: [] });
    groups.get(key).flags.push(flag);
  };
  for (const flag of flags || []) {
    if (flag.code === "random_model") continue;
    if (hasSentence(flag)) add("s" + flag.sentence, flag.sentence, "Sentence " + (flag.sentence + 1), flag.sentence, flag);
    else if (isTitle(flag)) add("title", -1, "Title", null, flag);
    else if (SUMMARY_CODES.has(flag.code)) add("summary", 1e9, "Summary", null, flag);
    else add("article", 1e9 + 1, "Whole article", null, flag);
  }
  return [...groups.values()].sort((a, b) => a.order - b.order);
}

// Sentence index -> its flags that are worth a reader's check (notes left out).
export function flaggedSentences(flags) {
  const flagged = new Map();
  for (const flag of flags || []) {
    if (!hasSentence(flag) || isNote(flag)) continue;
    if (!flagged.has(flag.sentence)) flagged.set(flag.sentence, []);
    flagged.get(flag.sentence).push(flag);
  }
  return flagged;
}
