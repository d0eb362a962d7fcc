//! A deterministic generator of text preference pairs, written for this project (no external
//! data, so the pairs and anything trained on them can ship under the project's licence).
//!
//! Each pair takes a question from a small bank of facts written here, a free-form criterion, and
//! two answers built so that the criterion decides between them: a correct answer against a wrong
//! one, a relevant answer against one to another question, a concise answer against a padded one
//! (or the reverse when the criterion asks for detail), a helpful answer against a refusal, a
//! polite answer against a rude one, a list against prose when a list is asked for. The criterion
//! is phrased in several ways so that a model must read it, and the kinds are balanced.

use omnireward_shared::random::SplitMix64;

use super::PreferencePair;

/// The version of the generator, recorded with trained models: a change to the bank or the rules
/// is a new version.
pub const GENERATOR_VERSION: &str = "omnireward-synthetic-preferences-v1";

struct Fact {
    question: &'static str,
    answer: &'static str,
    wrong: &'static str,
    detail: &'static str,
    steps: [&'static str; 3],
}

const FACTS: [Fact; 16] = [
    Fact {
        question: "What is the capital of France?",
        answer: "The capital of France is Paris.",
        wrong: "The capital of France is Lyon.",
        detail: "Paris has been the seat of the French government for most of the country's history and is also its largest city.",
        steps: [
            "France is a country in western Europe",
            "its government sits in Paris",
            "so Paris is the capital",
        ],
    },
    Fact {
        question: "How many legs does a spider have?",
        answer: "A spider has eight legs.",
        wrong: "A spider has six legs.",
        detail: "All spiders are arachnids, and arachnids have four pairs of walking legs, unlike insects, which have three pairs.",
        steps: [
            "spiders are arachnids",
            "arachnids have four pairs of legs",
            "four pairs make eight legs",
        ],
    },
    Fact {
        question: "What gas do plants take in for photosynthesis?",
        answer: "Plants take in carbon dioxide for photosynthesis.",
        wrong: "Plants take in nitrogen for photosynthesis.",
        detail: "In the leaves, chlorophyll uses light energy to turn carbon dioxide and water into sugar, releasing oxygen.",
        steps: [
            "photosynthesis builds sugar",
            "sugar needs carbon",
            "the carbon comes from carbon dioxide in the air",
        ],
    },
    Fact {
        question: "At what temperature does water boil at sea level?",
        answer: "At sea level water boils at 100 degrees Celsius.",
        wrong: "At sea level water boils at 50 degrees Celsius.",
        detail: "That is 212 degrees Fahrenheit; at higher altitudes the air pressure is lower, so water boils at a lower temperature.",
        steps: [
            "boiling depends on air pressure",
            "sea level has standard pressure",
            "at standard pressure water boils at 100 degrees Celsius",
        ],
    },
    Fact {
        question: "Who wrote the play Romeo and Juliet?",
        answer: "Romeo and Juliet was written by William Shakespeare.",
        wrong: "Romeo and Juliet was written by Charles Dickens.",
        detail: "Shakespeare wrote it early in his career, in the 1590s, and it remains one of his most performed tragedies.",
        steps: [
            "Romeo and Juliet is an Elizabethan tragedy",
            "it was first printed in 1597",
            "its author is William Shakespeare",
        ],
    },
    Fact {
        question: "What is the largest planet in our solar system?",
        answer: "Jupiter is the largest planet in our solar system.",
        wrong: "Mars is the largest planet in our solar system.",
        detail: "Jupiter is a gas giant with more than three hundred times the mass of Earth and a diameter about eleven times larger.",
        steps: [
            "compare the planets by size",
            "the gas giants are the largest",
            "Jupiter is the biggest gas giant",
        ],
    },
    Fact {
        question: "How many minutes are in two hours?",
        answer: "There are 120 minutes in two hours.",
        wrong: "There are 100 minutes in two hours.",
        detail: "Each hour has 60 minutes, so two hours have 2 times 60, which is 120 minutes.",
        steps: [
            "one hour has 60 minutes",
            "two hours are two times that",
            "2 times 60 is 120",
        ],
    },
    Fact {
        question: "What is the chemical symbol for gold?",
        answer: "The chemical symbol for gold is Au.",
        wrong: "The chemical symbol for gold is Gd.",
        detail: "The symbol comes from aurum, the Latin word for gold; Gd is gadolinium.",
        steps: [
            "symbols often come from Latin names",
            "the Latin name of gold is aurum",
            "so the symbol is Au",
        ],
    },
    Fact {
        question: "Which ocean is the largest?",
        answer: "The Pacific Ocean is the largest ocean.",
        wrong: "The Indian Ocean is the largest ocean.",
        detail: "The Pacific covers about a third of the Earth's surface, more than all the land combined.",
        steps: [
            "compare the oceans by area",
            "the Pacific covers about a third of the planet",
            "no other ocean is as large",
        ],
    },
    Fact {
        question: "What is the square root of 81?",
        answer: "The square root of 81 is 9.",
        wrong: "The square root of 81 is 8.",
        detail: "9 times 9 equals 81, and 9 is the non-negative number with that property.",
        steps: [
            "look for a number that times itself gives 81",
            "9 times 9 is 81",
            "so the square root is 9",
        ],
    },
    Fact {
        question: "Which organ pumps blood through the human body?",
        answer: "The heart pumps blood through the body.",
        wrong: "The liver pumps blood through the body.",
        detail: "The heart is a muscle with four chambers that contracts about seventy times a minute at rest.",
        steps: [
            "blood must be moved through vessels",
            "a muscular pump does this",
            "that pump is the heart",
        ],
    },
    Fact {
        question: "In which year did the first person walk on the Moon?",
        answer: "The first person walked on the Moon in 1969.",
        wrong: "The first person walked on the Moon in 1975.",
        detail: "Neil Armstrong stepped onto the Moon on 20 July 1969 during the Apollo 11 mission.",
        steps: [
            "the Apollo programme aimed to land on the Moon",
            "Apollo 11 landed in July 1969",
            "Neil Armstrong stepped out that day",
        ],
    },
    Fact {
        question: "What is the freezing point of water in Fahrenheit?",
        answer: "Water freezes at 32 degrees Fahrenheit.",
        wrong: "Water freezes at 0 degrees Fahrenheit.",
        detail: "32 degrees Fahrenheit equals 0 degrees Celsius, the freezing point of pure water at standard pressure.",
        steps: [
            "water freezes at 0 degrees Celsius",
            "converting Celsius to Fahrenheit multiplies by 9/5 and adds 32",
            "0 degrees Celsius is 32 degrees Fahrenheit",
        ],
    },
    Fact {
        question: "How many continents are there?",
        answer: "There are seven continents.",
        wrong: "There are five continents.",
        detail: "They are Africa, Antarctica, Asia, Australia, Europe, North America and South America.",
        steps: [
            "list the large land masses",
            "Africa, Antarctica, Asia, Australia, Europe, North and South America",
            "that makes seven",
        ],
    },
    Fact {
        question: "What is the main language spoken in Brazil?",
        answer: "The main language of Brazil is Portuguese.",
        wrong: "The main language of Brazil is Spanish.",
        detail: "Brazil was a Portuguese colony, which is why it speaks Portuguese while most of its neighbours speak Spanish.",
        steps: [
            "Brazil was colonised by Portugal",
            "the colonists brought their language",
            "so Brazilians speak Portuguese",
        ],
    },
    Fact {
        question: "How many sides does a hexagon have?",
        answer: "A hexagon has six sides.",
        wrong: "A hexagon has eight sides.",
        detail: "The prefix hexa means six; an eight-sided shape is an octagon.",
        steps: [
            "hexa is Greek for six",
            "a polygon is named by its sides",
            "so a hexagon has six sides",
        ],
    },
];

const CORRECTNESS: [&str; 3] = [
    "The response must be factually accurate.",
    "Judge which answer is correct.",
    "Prefer the response that gets the facts right.",
];
const RELEVANCE: [&str; 3] = [
    "The response should answer the question that was asked.",
    "Prefer the answer that stays on topic.",
    "The answer must address the user's request directly.",
];
const CONCISENESS: [&str; 3] = [
    "The response should be concise and to the point.",
    "Prefer a short answer without unnecessary words.",
    "Brevity matters: the shorter complete answer is better.",
];
const DETAIL: [&str; 3] = [
    "The response should be detailed and explain the answer.",
    "Prefer the more thorough explanation.",
    "The answer should give background and reasoning, not just the fact.",
];
const HELPFULNESS: [&str; 3] = [
    "The response should help the user rather than refuse.",
    "Prefer the answer that actually provides the information.",
    "A helpful response answers the question.",
];
const POLITENESS: [&str; 3] = [
    "The response should be polite and respectful.",
    "Prefer a friendly tone.",
    "The answer must not be rude to the user.",
];
const LIST_FORMAT: [&str; 3] = [
    "The response should present its reasoning as a numbered list.",
    "Prefer an answer formatted as a list of steps.",
    "Structure matters: steps should be listed one per line.",
];

const PADDING: [&str; 3] = [
    "Well, this is a question that many people ask, and it is worth thinking about carefully before answering.",
    "Let me take a moment to think about this, because there are several things one could say about it.",
    "That is a very interesting question, and I am happy to share what I know about it in some detail here.",
];
const REFUSALS: [&str; 3] = [
    "I'm sorry, but I can't help with that request.",
    "I am not able to answer this question.",
    "Sorry, I cannot provide that information.",
];
const RUDE: [&str; 3] = [
    "Obviously, as anyone should know:",
    "Seriously? Look it up yourself next time.",
    "What a silly question.",
];

/// `count` pairs from `seed`: the same pairs for the same arguments on every platform.
pub fn generate(count: usize, seed: u64) -> Vec<PreferencePair> {
    let mut random = SplitMix64::new(seed);
    (0..count)
        .map(|index| {
            let fact_index = random.next_index(FACTS.len());
            // Any other fact: an offset of 1 to len - 1 never lands on the same one.
            let other_index = (fact_index + 1 + random.next_index(FACTS.len() - 1)) % FACTS.len();
            let (fact, other) = (&FACTS[fact_index], &FACTS[other_index]);
            let pick = |options: &[&'static str], random: &mut SplitMix64| {
                options[random.next_index(options.len())]
            };
            let (criterion, chosen, rejected) = match index % 7 {
                0 => (
                    pick(&CORRECTNESS, &mut random),
                    fact.answer.to_owned(),
                    fact.wrong.to_owned(),
                ),
                1 => (
                    pick(&RELEVANCE, &mut random),
                    fact.answer.to_owned(),
                    other.answer.to_owned(),
                ),
                2 => (
                    pick(&CONCISENESS, &mut random),
                    fact.answer.to_owned(),
                    format!(
                        "{} {} {}",
                        pick(&PADDING, &mut random),
                        fact.answer,
                        fact.detail
                    ),
                ),
                3 => (
                    pick(&DETAIL, &mut random),
                    format!("{} {}", fact.answer, fact.detail),
                    fact.answer.to_owned(),
                ),
                4 => (
                    pick(&HELPFULNESS, &mut random),
                    fact.answer.to_owned(),
                    pick(&REFUSALS, &mut random).to_owned(),
                ),
                5 => (
                    pick(&POLITENESS, &mut random),
                    format!("Good question! {}", fact.answer),
                    format!("{} {}", pick(&RUDE, &mut random), fact.answer),
                ),
                _ => (
                    pick(&LIST_FORMAT, &mut random),
                    format!(
                        "1. {}.\n2. {}.\n3. {}.\n{}",
                        capitalise(fact.steps[0]),
                        capitalise(fact.steps[1]),
                        capitalise(fact.steps[2]),
                        fact.answer
                    ),
                    format!(
                        "{}, {} and {}. {}",
                        capitalise(fact.steps[0]),
                        fact.steps[1],
                        fact.steps[2],
                        fact.answer
                    ),
                ),
            };
            PreferencePair {
                criterion: criterion.to_owned(),
                prompt: fact.question.to_owned(),
                chosen,
                rejected,
                prompt_media: Vec::new(),
                chosen_media: Vec::new(),
                rejected_media: Vec::new(),
                origin: format!("{GENERATOR_VERSION}:{index}"),
            }
        })
        .collect()
}

fn capitalise(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_balanced_and_never_ties() {
        let pairs = generate(700, 1);
        assert_eq!(pairs, generate(700, 1));
        assert_ne!(pairs, generate(700, 2));
        assert!(
            pairs
                .iter()
                .all(|pair| pair.chosen != pair.rejected && !pair.criterion.is_empty())
        );
        // Seven kinds, a hundred each.
        let conciseness = pairs
            .iter()
            .filter(|pair| CONCISENESS.contains(&pair.criterion.as_str()))
            .count();
        assert_eq!(conciseness, 100);
    }
}
