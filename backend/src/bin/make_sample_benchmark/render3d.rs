//! A tiny ray caster for the text-to-3D samples: one analytic solid (sphere,
//! box, cylinder or cone) with Lambert shading, seen from four viewpoints
//! arranged as a 2x2 grid, the way 3D generations are usually shown to
//! annotators as multi-view renders.

use crate::images::Colour;
use image::{Rgb, RgbImage};

/// Edge length of one view; the grid is twice as wide and high.
const TILE_SIZE: u32 = 128;
/// Sub-samples per pixel along each axis, for anti-aliased silhouettes.
const SUBSAMPLES_PER_AXIS: u32 = 2;
const CAMERA_DISTANCE: f32 = 4.2;
/// Half of the vertical field of view, in degrees.
const HALF_FIELD_OF_VIEW_DEGREES: f32 = 20.0;
const BACKGROUND: Colour = Colour([238, 238, 238]);
/// Grey lines between the four views so they read as separate images.
const SEPARATOR: Colour = Colour([190, 190, 190]);
/// Light that reaches every surface, so faces turned away from both lights are
/// not pure black.
const AMBIENT: f32 = 0.16;
/// Strength of the light fixed in the world (see [`light_direction`]).
const KEY_LIGHT: f32 = 0.62;
/// Strength of a weak light at the camera; without it the view from behind
/// the key light is almost black and the solid's form is lost.
const FILL_LIGHT: f32 = 0.3;

/// (azimuth, elevation) in degrees of the four cameras: three views around
/// the object from slightly above, and one from high above.
const VIEWPOINTS: [(f32, f32); 4] = [(30.0, 20.0), (120.0, 20.0), (210.0, 20.0), (300.0, 65.0)];

/// The solid, centred on the origin with its axis (where it has one) along y.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solid {
    Sphere {
        radius: f32,
    },
    Box {
        half_extents: [f32; 3],
    },
    Cylinder {
        radius: f32,
        half_height: f32,
    },
    /// Apex at `+half_height`, circular base at `-half_height`.
    Cone {
        radius: f32,
        half_height: f32,
    },
}

/// A coloured solid to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    pub solid: Solid,
    pub colour: Colour,
}

#[derive(Clone, Copy, Debug)]
struct Vector {
    x: f32,
    y: f32,
    z: f32,
}

impl Vector {
    const fn new(x: f32, y: f32, z: f32) -> Vector {
        Vector { x, y, z }
    }
    fn add(self, other: Vector) -> Vector {
        Vector::new(self.x + other.x, self.y + other.y, self.z + other.z)
    }
    fn scale(self, factor: f32) -> Vector {
        Vector::new(self.x * factor, self.y * factor, self.z * factor)
    }
    fn dot(self, other: Vector) -> f32 {
        self.x * other.x + self.y * other.y + self.z * other.z
    }
    fn cross(self, other: Vector) -> Vector {
        Vector::new(
            self.y * other.z - self.z * other.y,
            self.z * other.x - self.x * other.z,
            self.x * other.y - self.y * other.x,
        )
    }
    fn normalised(self) -> Vector {
        self.scale(1.0 / self.dot(self).sqrt())
    }
    fn component(self, axis: usize) -> f32 {
        match axis {
            0 => self.x,
            1 => self.y,
            _ => self.z,
        }
    }
}

/// A ray hit: distance along the ray and outward surface normal.
type Hit = (f32, Vector);

/// Keeps the nearer of two optional hits.
fn nearer(first: Option<Hit>, second: Option<Hit>) -> Option<Hit> {
    match (first, second) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (hit, None) | (None, hit) => hit,
    }
}

/// Real roots of `a t^2 + b t + c = 0` in increasing order (one root when
/// the equation is linear).
fn quadratic_roots(a: f32, b: f32, c: f32) -> Vec<f32> {
    if a.abs() < 1e-9 {
        return if b.abs() < 1e-9 { vec![] } else { vec![-c / b] };
    }
    let discriminant = b * b - 4.0 * a * c;
    if discriminant < 0.0 {
        return vec![];
    }
    let root = discriminant.sqrt();
    let mut roots = vec![(-b - root) / (2.0 * a), (-b + root) / (2.0 * a)];
    roots.sort_by(f32::total_cmp);
    roots
}

/// Hit on a horizontal disc of the given radius at height `y`.
fn disc(origin: Vector, direction: Vector, y: f32, radius: f32, normal: Vector) -> Option<Hit> {
    if direction.y.abs() < 1e-9 {
        return None;
    }
    let distance = (y - origin.y) / direction.y;
    let point = origin.add(direction.scale(distance));
    (distance > 0.0 && point.x * point.x + point.z * point.z <= radius * radius)
        .then_some((distance, normal))
}

impl Solid {
    fn intersect(&self, origin: Vector, direction: Vector) -> Option<Hit> {
        match *self {
            Solid::Sphere { radius } => {
                let roots = quadratic_roots(
                    direction.dot(direction),
                    2.0 * origin.dot(direction),
                    origin.dot(origin) - radius * radius,
                );
                roots
                    .into_iter()
                    .find(|&distance| distance > 0.0)
                    .map(|distance| {
                        let point = origin.add(direction.scale(distance));
                        (distance, point.normalised())
                    })
            }
            Solid::Box { half_extents } => {
                // Slab method: the ray is inside the box between the last
                // entry and the first exit over the three axes.
                let mut entry = f32::NEG_INFINITY;
                let mut exit = f32::INFINITY;
                let mut entry_normal = Vector::new(0.0, 0.0, 0.0);
                for (axis, half_extent) in half_extents.into_iter().enumerate() {
                    let start = origin.component(axis);
                    let step = direction.component(axis);
                    if step.abs() < 1e-9 {
                        if start.abs() > half_extent {
                            return None;
                        }
                        continue;
                    }
                    let near_side = if step > 0.0 {
                        -half_extent
                    } else {
                        half_extent
                    };
                    let near = (near_side - start) / step;
                    let far = (-near_side - start) / step;
                    if near > entry {
                        entry = near;
                        let outward = if step > 0.0 { -1.0 } else { 1.0 };
                        entry_normal = match axis {
                            0 => Vector::new(outward, 0.0, 0.0),
                            1 => Vector::new(0.0, outward, 0.0),
                            _ => Vector::new(0.0, 0.0, outward),
                        };
                    }
                    exit = exit.min(far);
                }
                (entry <= exit && entry > 0.0).then_some((entry, entry_normal))
            }
            Solid::Cylinder {
                radius,
                half_height,
            } => {
                let side = quadratic_roots(
                    direction.x * direction.x + direction.z * direction.z,
                    2.0 * (origin.x * direction.x + origin.z * direction.z),
                    origin.x * origin.x + origin.z * origin.z - radius * radius,
                )
                .into_iter()
                .find(|&distance| {
                    distance > 0.0 && (origin.y + direction.y * distance).abs() <= half_height
                })
                .map(|distance| {
                    let point = origin.add(direction.scale(distance));
                    (distance, Vector::new(point.x, 0.0, point.z).normalised())
                });
                let top = disc(
                    origin,
                    direction,
                    half_height,
                    radius,
                    Vector::new(0.0, 1.0, 0.0),
                );
                let bottom = disc(
                    origin,
                    direction,
                    -half_height,
                    radius,
                    Vector::new(0.0, -1.0, 0.0),
                );
                nearer(side, nearer(top, bottom))
            }
            Solid::Cone {
                radius,
                half_height,
            } => {
                // The surface is x^2 + z^2 = k^2 (h - y)^2 with k the radius
                // per unit of distance below the apex.
                let slope = radius / (2.0 * half_height);
                let slope_squared = slope * slope;
                let below_apex = half_height - origin.y;
                let side = quadratic_roots(
                    direction.x * direction.x + direction.z * direction.z
                        - slope_squared * direction.y * direction.y,
                    2.0 * (origin.x * direction.x
                        + origin.z * direction.z
                        + slope_squared * below_apex * direction.y),
                    origin.x * origin.x + origin.z * origin.z
                        - slope_squared * below_apex * below_apex,
                )
                .into_iter()
                .find(|&distance| {
                    distance > 0.0 && (origin.y + direction.y * distance).abs() <= half_height
                })
                .map(|distance| {
                    let point = origin.add(direction.scale(distance));
                    // Gradient of the implicit surface.
                    let normal =
                        Vector::new(point.x, slope_squared * (half_height - point.y), point.z);
                    (distance, normal.normalised())
                });
                let base = disc(
                    origin,
                    direction,
                    -half_height,
                    radius,
                    Vector::new(0.0, -1.0, 0.0),
                );
                nearer(side, base)
            }
        }
    }
}

/// Camera looking at the origin from the given azimuth and elevation.
struct Camera {
    position: Vector,
    forward: Vector,
    right: Vector,
    up: Vector,
}

impl Camera {
    fn orbiting(azimuth_degrees: f32, elevation_degrees: f32) -> Camera {
        let azimuth = azimuth_degrees.to_radians();
        let elevation = elevation_degrees.to_radians();
        let position = Vector::new(
            elevation.cos() * azimuth.sin(),
            elevation.sin(),
            elevation.cos() * azimuth.cos(),
        )
        .scale(CAMERA_DISTANCE);
        let forward = position.scale(-1.0).normalised();
        let right = forward.cross(Vector::new(0.0, 1.0, 0.0)).normalised();
        let up = right.cross(forward);
        Camera {
            position,
            forward,
            right,
            up,
        }
    }

    /// Ray direction through a point of the image plane, both coordinates in
    /// [-1, 1] with y pointing up.
    fn ray(&self, horizontal: f32, vertical: f32) -> Vector {
        let spread = HALF_FIELD_OF_VIEW_DEGREES.to_radians().tan();
        self.forward
            .add(self.right.scale(horizontal * spread))
            .add(self.up.scale(vertical * spread))
            .normalised()
    }
}

/// Light fixed in the world (upper right, in front), so each view is lit
/// differently and the solid's 3D form shows.
fn light_direction() -> Vector {
    Vector::new(0.55, 0.75, 0.4).normalised()
}

fn shade(model: &Model, camera: &Camera, horizontal: f32, vertical: f32) -> [f32; 3] {
    let direction = camera.ray(horizontal, vertical);
    match model.solid.intersect(camera.position, direction) {
        None => BACKGROUND.0.map(f32::from),
        Some((_, normal)) => {
            let key = normal.dot(light_direction()).max(0.0);
            let fill = normal.dot(direction.scale(-1.0)).max(0.0);
            let brightness = (AMBIENT + KEY_LIGHT * key + FILL_LIGHT * fill).min(1.0);
            model
                .colour
                .0
                .map(|channel| f32::from(channel) * brightness)
        }
    }
}

/// Renders the model from the four viewpoints into a 2x2 grid image.
pub fn render_views(model: &Model) -> RgbImage {
    let size = TILE_SIZE * 2;
    let mut grid = RgbImage::from_pixel(size, size, Rgb(BACKGROUND.0));
    let samples = (SUBSAMPLES_PER_AXIS * SUBSAMPLES_PER_AXIS) as f32;
    for (view_index, &(azimuth, elevation)) in VIEWPOINTS.iter().enumerate() {
        let camera = Camera::orbiting(azimuth, elevation);
        let tile_x = (view_index as u32 % 2) * TILE_SIZE;
        let tile_y = (view_index as u32 / 2) * TILE_SIZE;
        for pixel_y in 0..TILE_SIZE {
            for pixel_x in 0..TILE_SIZE {
                let mut sums = [0.0f32; 3];
                for sub_y in 0..SUBSAMPLES_PER_AXIS {
                    for sub_x in 0..SUBSAMPLES_PER_AXIS {
                        let offset = |sub: u32| (sub as f32 + 0.5) / SUBSAMPLES_PER_AXIS as f32;
                        let horizontal =
                            (pixel_x as f32 + offset(sub_x)) / TILE_SIZE as f32 * 2.0 - 1.0;
                        let vertical =
                            1.0 - (pixel_y as f32 + offset(sub_y)) / TILE_SIZE as f32 * 2.0;
                        let colour = shade(model, &camera, horizontal, vertical);
                        for (sum, channel) in sums.iter_mut().zip(colour) {
                            *sum += channel;
                        }
                    }
                }
                let pixel = sums.map(|sum| (sum / samples).round().clamp(0.0, 255.0) as u8);
                grid.put_pixel(tile_x + pixel_x, tile_y + pixel_y, Rgb(pixel));
            }
        }
    }
    for position in 0..size {
        grid.put_pixel(TILE_SIZE, position, Rgb(SEPARATOR.0));
        grid.put_pixel(position, TILE_SIZE, Rgb(SEPARATOR.0));
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centre_ray_hits(solid: Solid) -> bool {
        let camera = Camera::orbiting(30.0, 20.0);
        solid
            .intersect(camera.position, camera.ray(0.0, 0.0))
            .is_some()
    }

    #[test]
    fn every_solid_is_hit_at_the_centre_and_missed_at_the_corner() {
        let solids = [
            Solid::Sphere { radius: 1.0 },
            Solid::Box {
                half_extents: [0.8, 0.8, 0.8],
            },
            Solid::Cylinder {
                radius: 0.8,
                half_height: 0.9,
            },
            Solid::Cone {
                radius: 0.9,
                half_height: 0.9,
            },
        ];
        let camera = Camera::orbiting(30.0, 20.0);
        for solid in solids {
            assert!(
                centre_ray_hits(solid),
                "{solid:?} should be hit at the centre"
            );
            assert!(
                solid
                    .intersect(camera.position, camera.ray(0.98, 0.98))
                    .is_none(),
                "{solid:?} should be missed at the corner"
            );
        }
    }
}
