//! Flat-colour 2D scenes (circles, squares, triangles, stars, diamonds) and
//! their rasterisation.
//!
//! The same scene description drives the still images (text-to-image,
//! image-editing and image-question samples) and every frame of the synthetic
//! videos, so a shape looks identical in both media.

use anyhow::{Context, Result};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

/// Edge length in pixels of the still images.
pub const IMAGE_SIZE: u32 = 192;

/// Sub-samples per pixel along each axis; 4x4 sub-samples give smooth edges
/// while keeping the palette small enough for PNG to compress well.
const SUBSAMPLES_PER_AXIS: u32 = 4;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub [u8; 3]);

impl Colour {
    pub const WHITE: Colour = Colour([255, 255, 255]);
    pub const BLACK: Colour = Colour([20, 20, 20]);
    pub const LIGHT_GREY: Colour = Colour([236, 236, 236]);
    pub const RED: Colour = Colour([220, 40, 40]);
    pub const BLUE: Colour = Colour([40, 80, 220]);
    pub const GREEN: Colour = Colour([40, 170, 70]);
    pub const YELLOW: Colour = Colour([245, 205, 30]);
    pub const ORANGE: Colour = Colour([245, 130, 30]);
    pub const PURPLE: Colour = Colour([140, 60, 190]);
}

/// The outline of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeKind {
    Circle,
    Square,
    /// Equilateral triangle pointing up.
    Triangle,
    /// Five-pointed star pointing up.
    Star,
    /// Square rotated by 45 degrees.
    Diamond,
}

/// One filled shape. Coordinates are normalised to the canvas: x grows to the
/// right and y grows downwards, both from 0 to 1, so a scene renders at any
/// resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub kind: ShapeKind,
    pub colour: Colour,
    pub centre_x: f32,
    pub centre_y: f32,
    /// Distance from the centre to the furthest point of the outline.
    pub radius: f32,
}

impl Shape {
    pub fn new(
        kind: ShapeKind,
        colour: Colour,
        centre_x: f32,
        centre_y: f32,
        radius: f32,
    ) -> Shape {
        Shape {
            kind,
            colour,
            centre_x,
            centre_y,
            radius,
        }
    }

    /// Whether the point (in normalised canvas coordinates) lies inside.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let dx = x - self.centre_x;
        let dy = y - self.centre_y;
        let radius = self.radius;
        match self.kind {
            ShapeKind::Circle => dx * dx + dy * dy <= radius * radius,
            // A square inscribed in the circle of the given radius would look
            // small next to circles, so the half-width is a bit larger.
            ShapeKind::Square => dx.abs() <= radius * 0.85 && dy.abs() <= radius * 0.85,
            ShapeKind::Diamond => dx.abs() + dy.abs() <= radius,
            // Shifted down a little so the triangle's visual centre, not its
            // circumcentre, sits at the requested point.
            ShapeKind::Triangle => point_in_polygon(
                dx,
                dy - radius * 0.25,
                &star_vertices(3, radius, radius * 0.5),
            ),
            ShapeKind::Star => point_in_polygon(dx, dy, &star_vertices(5, radius, radius * 0.42)),
        }
    }
}

/// Vertices of a star with `points` tips pointing up, alternating between the
/// outer and inner radius. With the inner radius at half the outer one and
/// three points, the inner vertices fall on the edges of an equilateral
/// triangle, which is how triangles are drawn.
fn star_vertices(points: u32, outer: f32, inner: f32) -> Vec<(f32, f32)> {
    let vertex_count = points * 2;
    (0..vertex_count)
        .map(|index| {
            let angle =
                std::f32::consts::PI * index as f32 / points as f32 - std::f32::consts::FRAC_PI_2;
            let distance = if index % 2 == 0 { outer } else { inner };
            (distance * angle.cos(), distance * angle.sin())
        })
        .collect()
}

/// Even-odd crossing test; stars are not convex, so a half-plane test would
/// not do.
fn point_in_polygon(x: f32, y: f32, vertices: &[(f32, f32)]) -> bool {
    let mut inside = false;
    let mut previous = vertices[vertices.len() - 1];
    for &current in vertices {
        let (x1, y1) = previous;
        let (x2, y2) = current;
        if (y1 > y) != (y2 > y) {
            let crossing_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1);
            if x < crossing_x {
                inside = !inside;
            }
        }
        previous = current;
    }
    inside
}

/// A background colour with shapes painted in order (later shapes on top).
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub background: Colour,
    pub shapes: Vec<Shape>,
}

impl Scene {
    pub fn new(background: Colour, shapes: Vec<Shape>) -> Scene {
        Scene { background, shapes }
    }

    fn colour_at(&self, x: f32, y: f32) -> Colour {
        self.shapes
            .iter()
            .rev()
            .find(|shape| shape.contains(x, y))
            .map_or(self.background, |shape| shape.colour)
    }

    /// Rasterises the scene with box-filtered supersampling.
    pub fn rasterise(&self, width: u32, height: u32) -> RgbImage {
        let samples = SUBSAMPLES_PER_AXIS * SUBSAMPLES_PER_AXIS;
        RgbImage::from_fn(width, height, |pixel_x, pixel_y| {
            let mut sums = [0u32; 3];
            for sub_y in 0..SUBSAMPLES_PER_AXIS {
                for sub_x in 0..SUBSAMPLES_PER_AXIS {
                    let x = (pixel_x as f32 + (sub_x as f32 + 0.5) / SUBSAMPLES_PER_AXIS as f32)
                        / width as f32;
                    let y = (pixel_y as f32 + (sub_y as f32 + 0.5) / SUBSAMPLES_PER_AXIS as f32)
                        / height as f32;
                    let Colour(rgb) = self.colour_at(x, y);
                    for (sum, channel) in sums.iter_mut().zip(rgb) {
                        *sum += u32::from(channel);
                    }
                }
            }
            // Rounded average; the sum of 16 bytes divided by 16 fits in a byte.
            Rgb(sums.map(|sum| ((sum + samples / 2) / samples) as u8))
        })
    }
}

/// Encodes an RGB image as PNG. The encoder writes no timestamps or other
/// varying chunks, so equal pixels give equal bytes.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let encoder =
        PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, FilterType::Adaptive);
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .context("encoding PNG")?;
    Ok(bytes)
}

/// Renders a scene as a still image PNG.
pub fn scene_png(scene: &Scene) -> Result<Vec<u8>> {
    encode_png(&scene.rasterise(IMAGE_SIZE, IMAGE_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_cover_their_centre_and_not_far_points() {
        for kind in [
            ShapeKind::Circle,
            ShapeKind::Square,
            ShapeKind::Triangle,
            ShapeKind::Star,
            ShapeKind::Diamond,
        ] {
            let shape = Shape::new(kind, Colour::RED, 0.5, 0.5, 0.2);
            assert!(
                shape.contains(0.5, 0.52),
                "{kind:?} should cover its centre"
            );
            assert!(
                !shape.contains(0.9, 0.9),
                "{kind:?} should not reach the corner"
            );
        }
    }

    #[test]
    fn rasterised_scene_shows_shape_colour_at_centre() {
        let scene = Scene::new(
            Colour::WHITE,
            vec![Shape::new(ShapeKind::Circle, Colour::RED, 0.5, 0.5, 0.3)],
        );
        let image = scene.rasterise(64, 64);
        assert_eq!(image.get_pixel(32, 32).0, Colour::RED.0);
        assert_eq!(image.get_pixel(1, 1).0, Colour::WHITE.0);
    }
}
