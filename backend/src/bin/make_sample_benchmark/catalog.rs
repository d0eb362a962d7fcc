//! The sample definitions: for each of the nine Omni-RewardBench tasks, the
//! prompts, the two responses (text or a description of the media to
//! synthesise) and the free-form criteria with their labels.
//!
//! Every item is built so that the label follows from what the media actually
//! shows or sounds like: a judge that perceives the media can get it right,
//! while one that only reads the text sees two plausible answers. As in the
//! real benchmark, one comparison is often judged under several criteria, and
//! each criterion becomes its own row with its own label.

use crate::audio::Sound;
use crate::images::{Colour, Scene, Shape, ShapeKind};
use crate::render3d::{Model, Solid};
use crate::video::{Actor, Clip};
use omnireward_shared::{Label, Task};

/// What the generator knows about each benchmark task beyond the shared
/// [`Task`] itself: the made-up model names and the comparisons it holds.
pub trait TaskCatalog {
    /// The made-up generator names for the two responses of a comparison,
    /// rotated so every name appears on both sides.
    fn model_names(self, comparison_index: usize) -> (String, String);

    /// The comparisons of the task, in row order.
    fn comparisons(self) -> Vec<Comparison>;
}

impl TaskCatalog for Task {
    fn model_names(self, comparison_index: usize) -> (String, String) {
        let family = match self {
            Task::TextToText
            | Task::TextImageToText
            | Task::TextVideoToText
            | Task::TextAudioToText => "synthetic-assistant",
            Task::TextToImage | Task::TextImageToImage => "synthetic-painter",
            Task::TextToVideo => "synthetic-animator",
            Task::TextToAudio => "synthetic-sound-maker",
            Task::TextTo3d => "synthetic-renderer",
        };
        let variants = ["a", "b", "c"];
        let first = variants[comparison_index % variants.len()];
        let second = variants[(comparison_index + 1) % variants.len()];
        (format!("{family}-{first}"), format!("{family}-{second}"))
    }

    fn comparisons(self) -> Vec<Comparison> {
        match self {
            Task::TextToText => text_to_text(),
            Task::TextImageToText => text_image_to_text(),
            Task::TextVideoToText => text_video_to_text(),
            Task::TextAudioToText => text_audio_to_text(),
            Task::TextToImage => text_to_image(),
            Task::TextToVideo => text_to_video(),
            Task::TextToAudio => text_to_audio(),
            Task::TextTo3d => text_to_3d(),
            Task::TextImageToImage => text_image_to_image(),
        }
    }
}

/// What a media file contains.
#[derive(Clone, Debug, PartialEq)]
pub enum Media {
    /// A flat 2D image (PNG).
    Picture(Scene),
    /// A 2x2 multi-view render of a 3D solid (PNG).
    Render(Model),
    /// A short animation (MP4).
    Clip(Clip),
    /// A sound (16 kHz WAV).
    Sound(Sound),
    /// A spoken question (MP3), the audio input of text-audio-to-text.
    SpokenQuestion(String),
}

impl Media {
    pub fn extension(&self) -> &'static str {
        match self {
            Media::Picture(_) | Media::Render(_) => "png",
            Media::Clip(_) => "mp4",
            Media::Sound(_) => "wav",
            Media::SpokenQuestion(_) => "mp3",
        }
    }
}

/// A named media file; the name (without extension) is unique within a task
/// and files with the same name are shared between rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    pub name: String,
    pub media: Media,
}

/// A response: plain text or a media file.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    Text(String),
    Asset(Asset),
}

/// One criterion and the label an annotator gave under it.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub criterion: String,
    pub preference: Label,
}

/// A prompt (with its optional media input) and two responses, judged under
/// one or more criteria.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub prompt: String,
    pub input: Option<Asset>,
    pub response1: Content,
    pub response2: Content,
    pub judgements: Vec<Judgement>,
}

use omnireward_shared::Preference::{Response1, Response2, Tie};

fn judged(criterion: &str, preference: Label) -> Judgement {
    Judgement {
        criterion: criterion.to_owned(),
        preference,
    }
}

fn text(value: &str) -> Content {
    Content::Text(value.to_owned())
}

fn asset(name: &str, media: Media) -> Asset {
    Asset {
        name: name.to_owned(),
        media,
    }
}

fn picture(name: &str, background: Colour, shapes: Vec<Shape>) -> Asset {
    asset(name, Media::Picture(Scene::new(background, shapes)))
}

fn shape(kind: ShapeKind, colour: Colour, x: f32, y: f32, radius: f32) -> Shape {
    Shape::new(kind, colour, x, y, radius)
}

fn clip(name: &str, background: Colour, actors: Vec<Actor>) -> Asset {
    asset(name, Media::Clip(Clip::new(background, actors)))
}

fn sound(name: &str, sound: Sound) -> Asset {
    asset(name, Media::Sound(sound))
}

fn render(name: &str, solid: Solid, colour: Colour) -> Asset {
    asset(name, Media::Render(Model { solid, colour }))
}

/// A comparison between two text responses.
fn text_comparison(
    prompt: &str,
    input: Option<&Asset>,
    response1: &str,
    response2: &str,
    judgements: Vec<Judgement>,
) -> Comparison {
    Comparison {
        prompt: prompt.to_owned(),
        input: input.cloned(),
        response1: text(response1),
        response2: text(response2),
        judgements,
    }
}

/// A comparison between two generated media files.
fn media_comparison(
    prompt: &str,
    input: Option<&Asset>,
    response1: &Asset,
    response2: &Asset,
    judgements: Vec<Judgement>,
) -> Comparison {
    Comparison {
        prompt: prompt.to_owned(),
        input: input.cloned(),
        response1: Content::Asset(response1.clone()),
        response2: Content::Asset(response2.clone()),
        judgements,
    }
}

fn text_to_text() -> Vec<Comparison> {
    vec![
        text_comparison(
            "What is the capital of Australia?",
            None,
            "The capital of Australia is Canberra.",
            "Sydney is the capital of Australia and also its largest city.",
            vec![
                judged("The answer must name the correct capital city.", Response1),
                judged(
                    "The answer should be written as one complete sentence.",
                    Tie,
                ),
            ],
        ),
        text_comparison(
            "Convert 5 kilometres to metres.",
            None,
            "5 kilometres is 500 metres.",
            "5 kilometres equals 5,000 metres, because one kilometre is 1,000 metres.",
            vec![
                judged("The number of metres must be correct.", Response2),
                judged(
                    "I want the response to explain how the conversion works.",
                    Response2,
                ),
            ],
        ),
        text_comparison(
            "Write a haiku about the sea.",
            None,
            "Waves fold into foam\nsalt wind carries gull voices\nthe tide breathes and leaves",
            "The sea is big and blue. It has lots of fish and waves. People like to swim in it.",
            vec![
                judged(
                    "The poem should follow the 5-7-5 syllable pattern of a haiku.",
                    Response1,
                ),
                judged("The text should be about the sea.", Tie),
                judged(
                    "Prefer simple wording that a young child could read on their own.",
                    Response2,
                ),
            ],
        ),
        text_comparison(
            "List the three primary colours of light.",
            None,
            "Red, yellow and blue.",
            "Red, green and blue.",
            vec![
                judged(
                    "The colours must be the additive primaries of light, not of paint.",
                    Response2,
                ),
                judged("The answer should list exactly three colours.", Tie),
            ],
        ),
        text_comparison(
            "Reply to this email and politely decline: \"Can we meet on Friday at 3pm?\"",
            None,
            "No.",
            "Thank you for the invitation. Unfortunately I am not available on Friday at 3pm, \
             but I would be happy to find another time.",
            vec![
                judged("The reply has to be polite.", Response2),
                judged(
                    "Keep the reply as short as possible; I don't read long emails.",
                    Response1,
                ),
            ],
        ),
        text_comparison(
            "What is 12 multiplied by 11?",
            None,
            "132",
            "12 × 11 = 121",
            vec![
                judged(
                    "The result of the multiplication must be correct.",
                    Response1,
                ),
                judged(
                    "The response should show the calculation, not just a number.",
                    Response2,
                ),
            ],
        ),
        text_comparison(
            "Give me a one-word synonym for \"happy\".",
            None,
            "Joyful",
            "Cheerful, glad, content, joyful",
            vec![
                judged(
                    "The response should give exactly one word, as asked.",
                    Response1,
                ),
                judged("Every word offered should really mean \"happy\".", Tie),
            ],
        ),
        text_comparison(
            "Summarise in one sentence: \"The meeting was moved from Monday to Wednesday \
             because the projector was broken.\"",
            None,
            "The meeting moved to Wednesday because the projector was broken.",
            "The meeting was cancelled.",
            vec![judged(
                "The summary must keep the key facts of the original.",
                Response1,
            )],
        ),
    ]
}

fn text_image_to_text() -> Vec<Comparison> {
    let three_triangles = picture(
        "ti2t-three-yellow-triangles",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Triangle, Colour::YELLOW, 0.27, 0.3, 0.16),
            shape(ShapeKind::Triangle, Colour::YELLOW, 0.72, 0.34, 0.16),
            shape(ShapeKind::Triangle, Colour::YELLOW, 0.46, 0.73, 0.16),
        ],
    );
    let square_and_circle = picture(
        "ti2t-blue-square-left-red-circle-right",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Square, Colour::BLUE, 0.28, 0.5, 0.18),
            shape(ShapeKind::Circle, Colour::RED, 0.72, 0.5, 0.18),
        ],
    );
    let circle_top_left = picture(
        "ti2t-green-circle-top-left",
        Colour::WHITE,
        vec![shape(ShapeKind::Circle, Colour::GREEN, 0.24, 0.24, 0.15)],
    );
    let five_circles = picture(
        "ti2t-five-red-circles",
        Colour::LIGHT_GREY,
        vec![
            shape(ShapeKind::Circle, Colour::RED, 0.22, 0.25, 0.11),
            shape(ShapeKind::Circle, Colour::RED, 0.62, 0.2, 0.11),
            shape(ShapeKind::Circle, Colour::RED, 0.8, 0.55, 0.11),
            shape(ShapeKind::Circle, Colour::RED, 0.3, 0.68, 0.11),
            shape(ShapeKind::Circle, Colour::RED, 0.58, 0.8, 0.11),
        ],
    );
    let two_squares = picture(
        "ti2t-two-purple-squares",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Square, Colour::PURPLE, 0.3, 0.38, 0.16),
            shape(ShapeKind::Square, Colour::PURPLE, 0.7, 0.64, 0.16),
        ],
    );
    let star_on_black = picture(
        "ti2t-orange-star-on-black",
        Colour::BLACK,
        vec![shape(ShapeKind::Star, Colour::ORANGE, 0.5, 0.52, 0.32)],
    );
    let diamond_over_circle = picture(
        "ti2t-blue-diamond-above-yellow-circle",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Diamond, Colour::BLUE, 0.5, 0.27, 0.18),
            shape(ShapeKind::Circle, Colour::YELLOW, 0.5, 0.73, 0.16),
        ],
    );
    vec![
        text_comparison(
            "How many triangles are there in the image?",
            Some(&three_triangles),
            "Three.",
            "There are four triangles in the image.",
            vec![
                judged("The number of triangles must be correct.", Response1),
                judged(
                    "Answer in a complete sentence rather than a single word.",
                    Response2,
                ),
            ],
        ),
        text_comparison(
            "What colour are the triangles?",
            Some(&three_triangles),
            "They are green.",
            "They are yellow.",
            vec![judged(
                "The colour named must match the picture.",
                Response2,
            )],
        ),
        text_comparison(
            "What colour is the square?",
            Some(&square_and_circle),
            "The square is blue.",
            "The square is red.",
            vec![
                judged("The colour of the square must be correct.", Response1),
                judged(
                    "The response should be a full sentence that mentions the square.",
                    Tie,
                ),
            ],
        ),
        text_comparison(
            "Which shape is on the right-hand side of the picture?",
            Some(&square_and_circle),
            "The blue square.",
            "The red circle.",
            vec![judged(
                "The shape named must really be on the right.",
                Response2,
            )],
        ),
        text_comparison(
            "Where in the picture is the circle?",
            Some(&circle_top_left),
            "In the bottom-right corner.",
            "It is in the top-left corner.",
            vec![judged(
                "The position given must match where the circle is.",
                Response2,
            )],
        ),
        text_comparison(
            "How many circles can you see?",
            Some(&five_circles),
            "Five.",
            "Six.",
            vec![
                judged("The count must be correct.", Response1),
                judged("Just the number, please, without extra words.", Tie),
            ],
        ),
        text_comparison(
            "Is there a circle in this image?",
            Some(&two_squares),
            "No. The image only contains two purple squares.",
            "No, there is no circle.",
            vec![
                judged("The yes/no answer must be correct.", Tie),
                judged(
                    "Prefer the response that also says what is actually in the image.",
                    Response1,
                ),
            ],
        ),
        text_comparison(
            "Describe the background of the image.",
            Some(&star_on_black),
            "The background is plain white.",
            "The background is plain black.",
            vec![judged(
                "The description of the background must be accurate.",
                Response2,
            )],
        ),
        text_comparison(
            "Which shape is at the top, and what colour is it?",
            Some(&diamond_over_circle),
            "A blue diamond is at the top.",
            "A yellow circle is at the top.",
            vec![
                judged("Both the shape and the colour must be right.", Response1),
                judged("The answer should name a shape and a colour.", Tie),
            ],
        ),
    ]
}

fn text_video_to_text() -> Vec<Comparison> {
    let ball_left_to_right = clip(
        "tv2t-red-ball-left-to-right",
        Colour::WHITE,
        vec![Actor::moving(
            ShapeKind::Circle,
            Colour::RED,
            (0.18, 0.5),
            (0.82, 0.5),
        )],
    );
    let square_moving_down = clip(
        "tv2t-blue-square-moving-down",
        Colour::WHITE,
        vec![Actor::moving(
            ShapeKind::Square,
            Colour::BLUE,
            (0.5, 0.18),
            (0.5, 0.82),
        )],
    );
    let circle_still = clip(
        "tv2t-green-circle-still",
        Colour::WHITE,
        vec![Actor::moving(
            ShapeKind::Circle,
            Colour::GREEN,
            (0.5, 0.5),
            (0.5, 0.5),
        )],
    );
    let triangle_moving_right = clip(
        "tv2t-orange-triangle-moving-right",
        Colour::BLACK,
        vec![Actor::moving(
            ShapeKind::Triangle,
            Colour::ORANGE,
            (0.18, 0.55),
            (0.82, 0.55),
        )],
    );
    let two_balls_crossing = clip(
        "tv2t-two-balls-crossing",
        Colour::WHITE,
        vec![
            Actor::moving(ShapeKind::Circle, Colour::RED, (0.18, 0.3), (0.82, 0.3)),
            Actor::moving(ShapeKind::Circle, Colour::BLUE, (0.82, 0.7), (0.18, 0.7)),
        ],
    );
    let ball_moving_up = clip(
        "tv2t-purple-ball-moving-up",
        Colour::WHITE,
        vec![Actor::moving(
            ShapeKind::Circle,
            Colour::PURPLE,
            (0.5, 0.82),
            (0.5, 0.18),
        )],
    );
    let circle_growing = clip(
        "tv2t-yellow-circle-growing",
        Colour::BLACK,
        vec![Actor::scaling(
            ShapeKind::Circle,
            Colour::YELLOW,
            0.08,
            0.34,
        )],
    );
    vec![
        text_comparison(
            "Which way does the ball move?",
            Some(&ball_left_to_right),
            "From left to right.",
            "From right to left.",
            vec![
                judged("The direction of motion must be correct.", Response1),
                judged("The answer should be brief.", Tie),
            ],
        ),
        text_comparison(
            "What colour is the ball?",
            Some(&ball_left_to_right),
            "Blue.",
            "Red.",
            vec![judged("The colour must match the video.", Response2)],
        ),
        text_comparison(
            "In which direction does the square move?",
            Some(&square_moving_down),
            "It moves upward.",
            "It moves downward.",
            vec![judged("The direction must be correct.", Response2)],
        ),
        text_comparison(
            "What shape is moving in the video?",
            Some(&square_moving_down),
            "A blue circle.",
            "A blue square.",
            vec![judged("The shape must be identified correctly.", Response2)],
        ),
        text_comparison(
            "Does the circle move during the video?",
            Some(&circle_still),
            "Yes, it slides to the right.",
            "No, it stays in the centre the whole time.",
            vec![judged(
                "The answer must describe the motion (or lack of it) correctly.",
                Response2,
            )],
        ),
        text_comparison(
            "What colour is the circle?",
            Some(&circle_still),
            "Green.",
            "It is a green circle on a white background.",
            vec![
                judged("The colour must be correct.", Tie),
                judged("I only want a single word.", Response1),
            ],
        ),
        text_comparison(
            "What colour is the moving shape?",
            Some(&triangle_moving_right),
            "Orange.",
            "Purple.",
            vec![
                judged("The colour must be correct.", Response1),
                judged("The answer should also name the shape.", Tie),
            ],
        ),
        text_comparison(
            "How many objects are moving in the video?",
            Some(&two_balls_crossing),
            "One red ball.",
            "Two balls, moving in opposite directions.",
            vec![
                judged("The number of moving objects must be correct.", Response2),
                judged(
                    "Prefer the response that says how the objects move.",
                    Response2,
                ),
            ],
        ),
        text_comparison(
            "Describe how the ball moves.",
            Some(&ball_moving_up),
            "The ball rises from the bottom of the frame to the top.",
            "The ball falls from the top of the frame to the bottom.",
            vec![
                judged("The description of the motion must be accurate.", Response1),
                judged("The response should mention the colour of the ball.", Tie),
            ],
        ),
        text_comparison(
            "What happens to the circle over time?",
            Some(&circle_growing),
            "It gets bigger.",
            "It gets smaller.",
            vec![judged(
                "The change in the circle must be described correctly.",
                Response1,
            )],
        ),
    ]
}

fn text_audio_to_text() -> Vec<Comparison> {
    let spoken =
        |name: &str, question: &str| asset(name, Media::SpokenQuestion(question.to_owned()));
    let prompt = "Answer the question asked in the audio.";
    let listen_prompt = "Listen to the recording and answer the question.";
    vec![
        text_comparison(
            prompt,
            Some(&spoken("ta2t-two-plus-three", "What is two plus three?")),
            "Five.",
            "Seven.",
            vec![judged("The answer must be correct.", Response1)],
        ),
        text_comparison(
            prompt,
            Some(&spoken("ta2t-four-plus-three", "What is four plus three?")),
            "Five.",
            "Seven.",
            vec![judged("The answer must be correct.", Response2)],
        ),
        text_comparison(
            listen_prompt,
            Some(&spoken("ta2t-two-plus-two", "What is two plus two?")),
            "Four.",
            "Three.",
            vec![judged("The arithmetic must be right.", Response1)],
        ),
        text_comparison(
            prompt,
            Some(&spoken(
                "ta2t-spider-legs",
                "How many legs does a spider have?",
            )),
            "Six.",
            "Eight.",
            vec![
                judged("The answer must be factually correct.", Response2),
                judged("The answer should be a complete sentence.", Tie),
            ],
        ),
        text_comparison(
            listen_prompt,
            Some(&spoken(
                "ta2t-capital-of-france",
                "What is the capital city of France?",
            )),
            "Paris.",
            "It is Paris.",
            vec![
                judged("The answer must be correct.", Tie),
                judged("Prefer an answer phrased as a sentence.", Response2),
            ],
        ),
        text_comparison(
            prompt,
            Some(&spoken(
                "ta2t-nine-or-twelve",
                "Which is larger, nine or twelve?",
            )),
            "Twelve.",
            "Nine.",
            vec![judged("The answer must pick the larger number.", Response1)],
        ),
        text_comparison(
            prompt,
            Some(&spoken(
                "ta2t-day-after-monday",
                "What day comes after Monday?",
            )),
            "Tuesday.",
            "Wednesday.",
            vec![
                judged("The day must be correct.", Response1),
                judged("Answer with a single word.", Tie),
            ],
        ),
        text_comparison(
            listen_prompt,
            Some(&spoken("ta2t-spell-dog", "Spell the word dog.")),
            "D, O, G.",
            "D, O, G, S.",
            vec![judged("The spelling must be exactly right.", Response1)],
        ),
        text_comparison(
            prompt,
            Some(&spoken(
                "ta2t-blue-and-yellow",
                "What colour do you get when you mix blue and yellow?",
            )),
            "Purple.",
            "Green.",
            vec![judged("The colour must be correct.", Response2)],
        ),
        text_comparison(
            prompt,
            Some(&spoken("ta2t-ten-minus-four", "What is ten minus four?")),
            "Six.",
            "The answer is six.",
            vec![
                judged("The result must be correct.", Tie),
                judged("Give just the number, nothing else.", Response1),
            ],
        ),
        text_comparison(
            listen_prompt,
            Some(&spoken(
                "ta2t-days-in-a-week",
                "How many days are there in a week?",
            )),
            "Five.",
            "Seven.",
            vec![judged("The answer must be correct.", Response2)],
        ),
    ]
}

fn text_to_image() -> Vec<Comparison> {
    let red_circle = picture(
        "t2i-red-circle",
        Colour::WHITE,
        vec![shape(ShapeKind::Circle, Colour::RED, 0.5, 0.5, 0.3)],
    );
    let blue_square = picture(
        "t2i-blue-square",
        Colour::WHITE,
        vec![shape(ShapeKind::Square, Colour::BLUE, 0.5, 0.5, 0.3)],
    );
    let red_circle_and_blue_square = picture(
        "t2i-red-circle-and-blue-square",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Circle, Colour::RED, 0.3, 0.5, 0.18),
            shape(ShapeKind::Square, Colour::BLUE, 0.72, 0.5, 0.18),
        ],
    );
    let triangle = |x: f32, y: f32| shape(ShapeKind::Triangle, Colour::GREEN, x, y, 0.12);
    let three_triangles = picture(
        "t2i-three-green-triangles",
        Colour::WHITE,
        vec![triangle(0.2, 0.5), triangle(0.5, 0.5), triangle(0.8, 0.5)],
    );
    let two_triangles = picture(
        "t2i-two-green-triangles",
        Colour::WHITE,
        vec![triangle(0.32, 0.5), triangle(0.68, 0.5)],
    );
    let star_on_black = picture(
        "t2i-yellow-star-on-black",
        Colour::BLACK,
        vec![shape(ShapeKind::Star, Colour::YELLOW, 0.5, 0.52, 0.34)],
    );
    let star_on_white = picture(
        "t2i-yellow-star-on-white",
        Colour::WHITE,
        vec![shape(ShapeKind::Star, Colour::YELLOW, 0.5, 0.52, 0.34)],
    );
    let circle_top_left = picture(
        "t2i-purple-circle-top-left",
        Colour::WHITE,
        vec![shape(ShapeKind::Circle, Colour::PURPLE, 0.2, 0.2, 0.12)],
    );
    let circle_bottom_right = picture(
        "t2i-purple-circle-bottom-right",
        Colour::WHITE,
        vec![shape(ShapeKind::Circle, Colour::PURPLE, 0.8, 0.8, 0.12)],
    );
    let square_above_circle = picture(
        "t2i-orange-square-above-blue-circle",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Square, Colour::ORANGE, 0.5, 0.27, 0.18),
            shape(ShapeKind::Circle, Colour::BLUE, 0.5, 0.73, 0.18),
        ],
    );
    let circle_above_square = picture(
        "t2i-blue-circle-above-orange-square",
        Colour::WHITE,
        vec![
            shape(ShapeKind::Circle, Colour::BLUE, 0.5, 0.27, 0.18),
            shape(ShapeKind::Square, Colour::ORANGE, 0.5, 0.73, 0.18),
        ],
    );
    let green_diamond = picture(
        "t2i-green-diamond",
        Colour::WHITE,
        vec![shape(ShapeKind::Diamond, Colour::GREEN, 0.5, 0.5, 0.32)],
    );
    let green_circle = picture(
        "t2i-green-circle",
        Colour::WHITE,
        vec![shape(ShapeKind::Circle, Colour::GREEN, 0.5, 0.5, 0.3)],
    );
    vec![
        media_comparison(
            "a red circle on a white background",
            None,
            &red_circle,
            &blue_square,
            vec![
                judged("The image must show a red circle.", Response1),
                judged("The background should be plain white.", Tie),
            ],
        ),
        media_comparison(
            "a blue square on a white background",
            None,
            &red_circle,
            &blue_square,
            vec![judged(
                "The image should match the requested shape and colour.",
                Response2,
            )],
        ),
        media_comparison(
            "a single red circle and nothing else",
            None,
            &red_circle,
            &red_circle_and_blue_square,
            vec![
                judged("The circle must be red.", Tie),
                judged("The picture should contain exactly one shape.", Response1),
            ],
        ),
        media_comparison(
            "three green triangles in a row",
            None,
            &two_triangles,
            &three_triangles,
            vec![
                judged("There must be exactly three triangles.", Response2),
                judged("The triangles should be green.", Tie),
            ],
        ),
        media_comparison(
            "a yellow star on a black background",
            None,
            &star_on_black,
            &star_on_white,
            vec![judged("The background has to be black.", Response1)],
        ),
        media_comparison(
            "a star",
            None,
            &star_on_black,
            &blue_square,
            vec![judged(
                "The image should clearly show a star shape.",
                Response1,
            )],
        ),
        media_comparison(
            "a small purple circle in the top-left corner",
            None,
            &circle_bottom_right,
            &circle_top_left,
            vec![judged(
                "The circle must be in the top-left corner.",
                Response2,
            )],
        ),
        media_comparison(
            "an orange square above a blue circle",
            None,
            &square_above_circle,
            &circle_above_square,
            vec![judged("The square must be above the circle.", Response1)],
        ),
        media_comparison(
            "an orange square below a blue circle",
            None,
            &square_above_circle,
            &circle_above_square,
            vec![judged(
                "The vertical arrangement of the two shapes must match the prompt.",
                Response2,
            )],
        ),
        media_comparison(
            "a green shape on a white background",
            None,
            &green_diamond,
            &green_circle,
            vec![
                judged("Any green shape on white is fine.", Tie),
                judged("I prefer shapes with curved edges.", Response2),
            ],
        ),
    ]
}

fn text_to_video() -> Vec<Comparison> {
    let moving =
        |name: &str, kind: ShapeKind, colour: Colour, start: (f32, f32), end: (f32, f32)| {
            clip(
                name,
                Colour::WHITE,
                vec![Actor::moving(kind, colour, start, end)],
            )
        };
    let square_up = moving(
        "t2v-green-square-moving-up",
        ShapeKind::Square,
        Colour::GREEN,
        (0.5, 0.82),
        (0.5, 0.18),
    );
    let square_down = moving(
        "t2v-green-square-moving-down",
        ShapeKind::Square,
        Colour::GREEN,
        (0.5, 0.18),
        (0.5, 0.82),
    );
    let red_ball_right = moving(
        "t2v-red-ball-left-to-right",
        ShapeKind::Circle,
        Colour::RED,
        (0.18, 0.5),
        (0.82, 0.5),
    );
    let red_ball_left = moving(
        "t2v-red-ball-right-to-left",
        ShapeKind::Circle,
        Colour::RED,
        (0.82, 0.5),
        (0.18, 0.5),
    );
    let blue_ball_right = moving(
        "t2v-blue-ball-left-to-right",
        ShapeKind::Circle,
        Colour::BLUE,
        (0.18, 0.5),
        (0.82, 0.5),
    );
    let triangle_left = moving(
        "t2v-yellow-triangle-moving-left",
        ShapeKind::Triangle,
        Colour::YELLOW,
        (0.82, 0.55),
        (0.18, 0.55),
    );
    let triangle_right = moving(
        "t2v-yellow-triangle-moving-right",
        ShapeKind::Triangle,
        Colour::YELLOW,
        (0.18, 0.55),
        (0.82, 0.55),
    );
    let square_still = moving(
        "t2v-purple-square-still",
        ShapeKind::Square,
        Colour::PURPLE,
        (0.5, 0.5),
        (0.5, 0.5),
    );
    let square_right = moving(
        "t2v-purple-square-moving-right",
        ShapeKind::Square,
        Colour::PURPLE,
        (0.18, 0.5),
        (0.82, 0.5),
    );
    let circle_growing = clip(
        "t2v-blue-circle-growing",
        Colour::WHITE,
        vec![Actor::scaling(ShapeKind::Circle, Colour::BLUE, 0.08, 0.34)],
    );
    let circle_shrinking = clip(
        "t2v-blue-circle-shrinking",
        Colour::WHITE,
        vec![Actor::scaling(ShapeKind::Circle, Colour::BLUE, 0.34, 0.08)],
    );
    vec![
        media_comparison(
            "a green square moving upward",
            None,
            &square_up,
            &square_down,
            vec![
                judged("The square must move upward.", Response1),
                judged("The square should be green.", Tie),
            ],
        ),
        media_comparison(
            "a green square moving downward",
            None,
            &square_up,
            &square_down,
            vec![judged(
                "The direction of motion must match the prompt.",
                Response2,
            )],
        ),
        media_comparison(
            "a red ball rolling from left to right",
            None,
            &blue_ball_right,
            &red_ball_right,
            vec![
                judged("The ball must be red.", Response2),
                judged("The ball should travel from left to right.", Tie),
            ],
        ),
        media_comparison(
            "a red ball moving from right to left",
            None,
            &red_ball_right,
            &red_ball_left,
            vec![judged("The ball must move from right to left.", Response2)],
        ),
        media_comparison(
            "a yellow triangle sliding to the left",
            None,
            &triangle_left,
            &triangle_right,
            vec![judged("The triangle must slide to the left.", Response1)],
        ),
        media_comparison(
            "a triangle moving to the right",
            None,
            &triangle_right,
            &red_ball_right,
            vec![judged("The moving object must be a triangle.", Response1)],
        ),
        media_comparison(
            "a blue circle that grows larger",
            None,
            &circle_shrinking,
            &circle_growing,
            vec![
                judged("The circle must get bigger over time.", Response2),
                judged("The circle should stay in the centre of the frame.", Tie),
            ],
        ),
        media_comparison(
            "a blue circle that shrinks",
            None,
            &circle_shrinking,
            &circle_growing,
            vec![judged("The circle must get smaller over time.", Response1)],
        ),
        media_comparison(
            "a purple square that stays still in the middle of the frame",
            None,
            &square_still,
            &square_right,
            vec![
                judged("The square must not move.", Response1),
                judged("The square should be purple.", Tie),
            ],
        ),
        media_comparison(
            "a purple square moving to the right",
            None,
            &square_still,
            &square_right,
            vec![judged("The square must move to the right.", Response2)],
        ),
        media_comparison(
            "something round moving across the screen",
            None,
            &red_ball_right,
            &triangle_right,
            vec![judged("The moving object should be round.", Response1)],
        ),
    ]
}

fn text_to_audio() -> Vec<Comparison> {
    let beep = sound(
        "t2a-high-beep-1khz",
        Sound::Tone {
            frequency_hz: 1000.0,
            seconds: 1.0,
        },
    );
    let hum = sound(
        "t2a-low-hum-100hz",
        Sound::Hum {
            frequency_hz: 100.0,
            seconds: 1.0,
        },
    );
    let noise = sound(
        "t2a-white-noise-burst",
        Sound::Noise {
            seconds: 0.8,
            seed: 20_240_601,
        },
    );
    let hello = sound("t2a-voice-hello", Sound::speech("Hello."));
    let goodbye = sound("t2a-voice-goodbye", Sound::speech("Goodbye."));
    let counting_up = sound("t2a-voice-counting-up", Sound::speech("One, two, three."));
    let counting_down = sound("t2a-voice-counting-down", Sound::speech("Three, two, one."));
    let two_beeps = sound(
        "t2a-two-short-beeps",
        Sound::Beeps {
            count: 2,
            frequency_hz: 880.0,
            beep_seconds: 0.2,
            gap_seconds: 0.25,
        },
    );
    let long_beep = sound(
        "t2a-one-long-beep",
        Sound::Tone {
            frequency_hz: 880.0,
            seconds: 0.9,
        },
    );
    let rising = sound(
        "t2a-rising-tone",
        Sound::Chirp {
            start_hz: 300.0,
            end_hz: 1500.0,
            seconds: 1.0,
        },
    );
    let falling = sound(
        "t2a-falling-tone",
        Sound::Chirp {
            start_hz: 1500.0,
            end_hz: 300.0,
            seconds: 1.0,
        },
    );
    vec![
        media_comparison(
            "a high-pitched beep",
            None,
            &beep,
            &hum,
            vec![
                judged("The sound must be a high-pitched beep.", Response1),
                judged("The clip should last about one second.", Tie),
            ],
        ),
        media_comparison(
            "a low, steady hum",
            None,
            &beep,
            &hum,
            vec![judged(
                "The sound must be low-pitched and steady.",
                Response2,
            )],
        ),
        media_comparison(
            "a short burst of white noise",
            None,
            &beep,
            &noise,
            vec![judged(
                "It should sound like hiss or static, with no clear pitch.",
                Response2,
            )],
        ),
        media_comparison(
            "a voice saying hello",
            None,
            &hello,
            &goodbye,
            vec![
                judged("The voice must say \"hello\".", Response1),
                judged("The clip should contain a human-sounding voice.", Tie),
            ],
        ),
        media_comparison(
            "a person saying goodbye",
            None,
            &hello,
            &goodbye,
            vec![
                judged("The word spoken must be \"goodbye\".", Response2),
                judged("The speech should be clear enough to understand.", Tie),
            ],
        ),
        media_comparison(
            "a voice counting from one to three",
            None,
            &counting_down,
            &counting_up,
            vec![judged(
                "The numbers must be said in increasing order.",
                Response2,
            )],
        ),
        media_comparison(
            "a voice counting down from three to one",
            None,
            &counting_down,
            &counting_up,
            vec![judged(
                "The count must go down from three to one.",
                Response1,
            )],
        ),
        media_comparison(
            "two short beeps",
            None,
            &two_beeps,
            &long_beep,
            vec![
                judged("There must be exactly two separate beeps.", Response1),
                judged("The beeps should have a clear musical pitch.", Tie),
            ],
        ),
        media_comparison(
            "a single long beep",
            None,
            &two_beeps,
            &long_beep,
            vec![judged(
                "The sound should be one continuous beep.",
                Response2,
            )],
        ),
        media_comparison(
            "a tone that rises in pitch",
            None,
            &falling,
            &rising,
            vec![judged("The pitch must go up over time.", Response2)],
        ),
        media_comparison(
            "a tone that falls in pitch",
            None,
            &falling,
            &rising,
            vec![judged("The pitch must go down over time.", Response1)],
        ),
    ]
}

fn text_to_3d() -> Vec<Comparison> {
    // Light enough that the shaded sides stay distinguishable from the
    // background.
    let stone = Colour([200, 200, 206]);
    let cube_extents = Solid::Box {
        half_extents: [0.72, 0.72, 0.72],
    };
    let grey_cube = render("t23d-grey-cube", cube_extents, stone);
    let grey_sphere = render("t23d-grey-sphere", Solid::Sphere { radius: 0.95 }, stone);
    let cone = render(
        "t23d-orange-cone",
        Solid::Cone {
            radius: 0.85,
            half_height: 0.9,
        },
        Colour::ORANGE,
    );
    let cylinder = render(
        "t23d-orange-cylinder",
        Solid::Cylinder {
            radius: 0.7,
            half_height: 0.85,
        },
        Colour::ORANGE,
    );
    let red_cube = render("t23d-red-cube", cube_extents, Colour::RED);
    let blue_cube = render("t23d-blue-cube", cube_extents, Colour::BLUE);
    let tall_cylinder = render(
        "t23d-tall-thin-green-cylinder",
        Solid::Cylinder {
            radius: 0.32,
            half_height: 1.15,
        },
        Colour::GREEN,
    );
    let wide_cylinder = render(
        "t23d-short-wide-green-cylinder",
        Solid::Cylinder {
            radius: 1.0,
            half_height: 0.32,
        },
        Colour::GREEN,
    );
    let slab = render(
        "t23d-flat-grey-slab",
        Solid::Box {
            half_extents: [1.0, 0.22, 0.7],
        },
        stone,
    );
    vec![
        media_comparison(
            "a cube",
            None,
            &grey_cube,
            &grey_sphere,
            vec![
                judged("The object must be a cube.", Response1),
                judged("Render it in a neutral grey.", Tie),
            ],
        ),
        media_comparison(
            "a sphere",
            None,
            &grey_cube,
            &grey_sphere,
            vec![judged(
                "The object must be round from every viewpoint.",
                Response2,
            )],
        ),
        media_comparison(
            "a cone",
            None,
            &cylinder,
            &cone,
            vec![
                judged("The object must narrow to a point at the top.", Response2),
                judged("The object should have a circular base.", Tie),
            ],
        ),
        media_comparison(
            "a cylinder",
            None,
            &cylinder,
            &cone,
            vec![judged(
                "The object must be a cylinder with a flat top.",
                Response1,
            )],
        ),
        media_comparison(
            "a red cube",
            None,
            &red_cube,
            &blue_cube,
            vec![
                judged("The cube must be red.", Response1),
                judged("The object should be a cube.", Tie),
            ],
        ),
        media_comparison(
            "a blue cube",
            None,
            &red_cube,
            &blue_cube,
            vec![judged("The colour must be blue.", Response2)],
        ),
        media_comparison(
            "a tall, thin cylinder",
            None,
            &wide_cylinder,
            &tall_cylinder,
            vec![judged(
                "The cylinder must be much taller than it is wide.",
                Response2,
            )],
        ),
        media_comparison(
            "a short, wide cylinder like a coin",
            None,
            &wide_cylinder,
            &tall_cylinder,
            vec![judged(
                "The cylinder must be wider than it is tall.",
                Response1,
            )],
        ),
        media_comparison(
            "a flat rectangular slab",
            None,
            &slab,
            &grey_cube,
            vec![
                judged("The object must be thin and flat, not a cube.", Response1),
                judged("The object should only have flat faces.", Tie),
            ],
        ),
        media_comparison(
            "a ball",
            None,
            &grey_sphere,
            &cone,
            vec![judged("The object must be a ball.", Response1)],
        ),
        media_comparison(
            "a pointed object, like a cone",
            None,
            &grey_sphere,
            &cone,
            vec![judged("The object must have a pointed tip.", Response2)],
        ),
    ]
}

fn text_image_to_image() -> Vec<Comparison> {
    let single =
        |name: &str, background: Colour, kind: ShapeKind, colour: Colour, x: f32, radius: f32| {
            picture(name, background, vec![shape(kind, colour, x, 0.5, radius)])
        };
    let red_circle = single(
        "ti2i-red-circle",
        Colour::WHITE,
        ShapeKind::Circle,
        Colour::RED,
        0.5,
        0.3,
    );
    let blue_circle = single(
        "ti2i-blue-circle",
        Colour::WHITE,
        ShapeKind::Circle,
        Colour::BLUE,
        0.5,
        0.3,
    );
    let blue_square = single(
        "ti2i-blue-square",
        Colour::WHITE,
        ShapeKind::Square,
        Colour::BLUE,
        0.5,
        0.3,
    );
    let red_square = single(
        "ti2i-red-square",
        Colour::WHITE,
        ShapeKind::Square,
        Colour::RED,
        0.5,
        0.3,
    );
    let square_left = single(
        "ti2i-blue-square-left",
        Colour::WHITE,
        ShapeKind::Square,
        Colour::BLUE,
        0.27,
        0.2,
    );
    let square_right = single(
        "ti2i-blue-square-right",
        Colour::WHITE,
        ShapeKind::Square,
        Colour::BLUE,
        0.73,
        0.2,
    );
    let green_square_left = single(
        "ti2i-green-square-left",
        Colour::WHITE,
        ShapeKind::Square,
        Colour::GREEN,
        0.27,
        0.2,
    );
    let circle_on_white = single(
        "ti2i-green-circle-on-white",
        Colour::WHITE,
        ShapeKind::Circle,
        Colour::GREEN,
        0.5,
        0.28,
    );
    let circle_on_black = single(
        "ti2i-green-circle-on-black",
        Colour::BLACK,
        ShapeKind::Circle,
        Colour::GREEN,
        0.5,
        0.28,
    );
    let square_on_black = single(
        "ti2i-green-square-on-black",
        Colour::BLACK,
        ShapeKind::Square,
        Colour::GREEN,
        0.5,
        0.28,
    );
    let small_star = single(
        "ti2i-small-orange-star",
        Colour::WHITE,
        ShapeKind::Star,
        Colour::ORANGE,
        0.5,
        0.18,
    );
    let large_star = single(
        "ti2i-large-orange-star",
        Colour::WHITE,
        ShapeKind::Star,
        Colour::ORANGE,
        0.5,
        0.4,
    );
    let small_purple_star = single(
        "ti2i-small-purple-star",
        Colour::WHITE,
        ShapeKind::Star,
        Colour::PURPLE,
        0.5,
        0.18,
    );
    let triangle = |x: f32, y: f32| shape(ShapeKind::Triangle, Colour::YELLOW, x, y, 0.15);
    let three_triangles = picture(
        "ti2i-three-yellow-triangles",
        Colour::WHITE,
        vec![
            triangle(0.25, 0.32),
            triangle(0.72, 0.32),
            triangle(0.5, 0.72),
        ],
    );
    let two_triangles = picture(
        "ti2i-two-yellow-triangles",
        Colour::WHITE,
        vec![triangle(0.25, 0.32), triangle(0.72, 0.32)],
    );
    let four_triangles = picture(
        "ti2i-four-yellow-triangles",
        Colour::WHITE,
        vec![
            triangle(0.25, 0.32),
            triangle(0.72, 0.32),
            triangle(0.25, 0.74),
            triangle(0.72, 0.74),
        ],
    );
    vec![
        media_comparison(
            "Make the circle blue.",
            Some(&red_circle),
            &blue_circle,
            &red_circle,
            vec![
                judged("The circle must become blue.", Response1),
                judged(
                    "Apart from the colour, nothing else in the picture should change.",
                    Tie,
                ),
            ],
        ),
        media_comparison(
            "Make the circle blue.",
            Some(&red_circle),
            &blue_square,
            &blue_circle,
            vec![
                judged("The shape must remain a circle.", Response2),
                judged("The new colour should be blue.", Tie),
            ],
        ),
        media_comparison(
            "Turn the circle into a square but keep it red.",
            Some(&red_circle),
            &red_square,
            &blue_square,
            vec![judged("The result must be a red square.", Response1)],
        ),
        media_comparison(
            "Move the square to the right side of the image.",
            Some(&square_left),
            &square_left,
            &square_right,
            vec![judged("The square must end up on the right.", Response2)],
        ),
        media_comparison(
            "Make the square green.",
            Some(&square_left),
            &green_square_left,
            &square_right,
            vec![
                judged("The square must turn green.", Response1),
                judged(
                    "The square should stay where it was, on the left.",
                    Response1,
                ),
            ],
        ),
        media_comparison(
            "Remove one of the triangles.",
            Some(&three_triangles),
            &two_triangles,
            &four_triangles,
            vec![
                judged("Exactly one triangle must be removed.", Response1),
                judged("The remaining triangles should stay yellow.", Tie),
            ],
        ),
        media_comparison(
            "Add one more triangle.",
            Some(&three_triangles),
            &two_triangles,
            &four_triangles,
            vec![judged(
                "The edited image must have one more triangle than the original.",
                Response2,
            )],
        ),
        media_comparison(
            "Change the background to black.",
            Some(&circle_on_white),
            &circle_on_black,
            &square_on_black,
            vec![
                judged("The background should be black.", Tie),
                judged(
                    "The green circle itself should be kept unchanged.",
                    Response1,
                ),
            ],
        ),
        media_comparison(
            "Make the star larger.",
            Some(&small_star),
            &small_purple_star,
            &large_star,
            vec![
                judged("The star must be noticeably bigger.", Response2),
                judged("The star should keep its orange colour.", Response2),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rows(task: Task) -> Vec<Label> {
        task.comparisons()
            .iter()
            .flat_map(|comparison| {
                comparison
                    .judgements
                    .iter()
                    .map(|judgement| judgement.preference)
            })
            .collect()
    }

    #[test]
    fn every_task_has_a_balanced_label_mix() {
        for task in Task::ALL {
            let labels = rows(task);
            let count = |wanted: Label| labels.iter().filter(|&&label| label == wanted).count();
            let (ties, first, second) = (count(Tie), count(Response1), count(Response2));
            assert!(
                (12..=20).contains(&labels.len()),
                "{task:?}: {} rows",
                labels.len()
            );
            assert!(ties >= 2, "{task:?}: only {ties} ties");
            let decided = (first + second) as f64;
            assert!(
                first as f64 <= 0.6 * decided && second as f64 <= 0.6 * decided,
                "{task:?}: response1 {first} vs response2 {second}"
            );
        }
    }

    #[test]
    fn assets_with_the_same_name_have_the_same_content() {
        for task in Task::ALL {
            let mut seen: BTreeMap<String, Media> = BTreeMap::new();
            for comparison in task.comparisons() {
                let responses = [&comparison.response1, &comparison.response2];
                let assets = comparison
                    .input
                    .iter()
                    .chain(responses.into_iter().filter_map(|content| match content {
                        Content::Asset(asset) => Some(asset),
                        Content::Text(_) => None,
                    }));
                for asset in assets {
                    if let Some(previous) = seen.insert(asset.name.clone(), asset.media.clone()) {
                        assert_eq!(previous, asset.media, "{task:?}: {} redefined", asset.name);
                    }
                }
            }
        }
    }
}
