//! The few image-processing and drawing primitives the renderers need: a
//! float grayscale plane with blur, Sobel and Canny, and thick lines and
//! discs on RGB images. (imageproc has these, but would bring nalgebra and a
//! second rand release into the build for a few dozen lines.)

use image::{Rgb, RgbImage};

/// One float channel, row-major, usually in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize) -> Plane {
        Plane {
            w,
            h,
            px: vec![0.0; w * h],
        }
    }

    /// Rec. 601 luma in `[0, 1]`.
    pub fn luma(img: &RgbImage) -> Plane {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let px = img
            .pixels()
            .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
            .collect();
        Plane { w, h, px }
    }

    pub fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Plane {
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                px.push(f(x, y));
            }
        }
        Plane { w, h, px }
    }

    #[inline]
    pub fn at(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.w as isize - 1) as usize;
        let y = y.clamp(0, self.h as isize - 1) as usize;
        self.px[y * self.w + x]
    }

    pub fn map(&self, f: impl Fn(f32) -> f32) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            px: self.px.iter().map(|&v| f(v)).collect(),
        }
    }

    pub fn zip(&self, other: &Plane, f: impl Fn(f32, f32) -> f32) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            px: self
                .px
                .iter()
                .zip(&other.px)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// Separable Gaussian blur, borders clamped.
    pub fn blur(&self, sigma: f32) -> Plane {
        if sigma <= 0.0 {
            return self.clone();
        }
        let r = (sigma * 3.0).ceil() as isize;
        let kernel: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f32 = kernel.iter().sum();
        let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
        let pass = |src: &Plane, horizontal: bool| {
            Plane::from_fn(src.w, src.h, |x, y| {
                let (x, y) = (x as isize, y as isize);
                kernel
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let d = i as isize - r;
                        k * if horizontal {
                            src.at(x + d, y)
                        } else {
                            src.at(x, y + d)
                        }
                    })
                    .sum()
            })
        };
        pass(&pass(self, true), false)
    }

    /// Sobel derivatives (x, y), each scaled to a unit step giving 1.
    pub fn sobel(&self) -> (Plane, Plane) {
        let gx = Plane::from_fn(self.w, self.h, |x, y| {
            let (x, y) = (x as isize, y as isize);
            (self.at(x + 1, y - 1) + 2.0 * self.at(x + 1, y) + self.at(x + 1, y + 1)
                - self.at(x - 1, y - 1)
                - 2.0 * self.at(x - 1, y)
                - self.at(x - 1, y + 1))
                / 8.0
        });
        let gy = Plane::from_fn(self.w, self.h, |x, y| {
            let (x, y) = (x as isize, y as isize);
            (self.at(x - 1, y + 1) + 2.0 * self.at(x, y + 1) + self.at(x + 1, y + 1)
                - self.at(x - 1, y - 1)
                - 2.0 * self.at(x, y - 1)
                - self.at(x + 1, y - 1))
                / 8.0
        });
        (gx, gy)
    }

    /// The value below which a share `q` of the pixels lie.
    pub fn quantile(&self, q: f32) -> f32 {
        let mut v = self.px.clone();
        let k = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)) as usize;
        let (_, x, _) = v.select_nth_unstable_by(k, f32::total_cmp);
        *x
    }

    /// Rescaled so that the lowest value is 0 and the highest 1.
    pub fn normalized(&self) -> Plane {
        let lo = self.px.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = self.px.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = (hi - lo).max(1e-6);
        self.map(|v| (v - lo) / span)
    }

    /// As a gray RGB image (r == g == b).
    pub fn to_rgb(&self) -> RgbImage {
        RgbImage::from_fn(self.w as u32, self.h as u32, |x, y| {
            let v = to_u8(self.px[y as usize * self.w + x as usize]);
            Rgb([v, v, v])
        })
    }
}

#[inline]
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Weakest gradient (luma per pixel) that can be a strong edge.
const MIN_EDGE: f32 = 0.02;

/// Canny edges of `g`: Sobel on a `sigma` blur, thinned to one pixel, kept
/// where the magnitude is above the `high_q` quantile or connected to such
/// a pixel through pixels above `low_ratio` times that threshold.
pub fn canny(g: &Plane, sigma: f32, high_q: f32, low_ratio: f32) -> Vec<bool> {
    let (gx, gy) = g.blur(sigma).sobel();
    let mag = gx.zip(&gy, |a, b| (a * a + b * b).sqrt());
    let (w, h) = (g.w, g.h);
    // Non-maximum suppression along the gradient direction (4 bins).
    let thin = Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let m = mag.px[i];
        if m == 0.0 {
            return 0.0;
        }
        let angle = gy.px[i].atan2(gx.px[i]).to_degrees().rem_euclid(180.0);
        let (dx, dy) = match angle {
            a if !(22.5..157.5).contains(&a) => (1, 0),
            a if a < 67.5 => (1, 1),
            a if a < 112.5 => (0, 1),
            _ => (-1, 1),
        };
        let (x, y) = (x as isize, y as isize);
        if m >= mag.at(x + dx, y + dy) && m >= mag.at(x - dx, y - dy) {
            m
        } else {
            0.0
        }
    });
    // The quantile adapts to the photo's contrast; the floor keeps smooth
    // gradients (a clear sky) from turning into edge soup.
    let high = mag.quantile(high_q).max(MIN_EDGE);
    let low = high * low_ratio;
    let mut edge = vec![false; w * h];
    let mut stack: Vec<usize> = (0..w * h).filter(|&i| thin.px[i] >= high).collect();
    for &i in &stack {
        edge[i] = true;
    }
    while let Some(i) = stack.pop() {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if !edge[j] && thin.px[j] >= low {
                    edge[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    edge
}

/// Grows a mask by a disc of radius `r` pixels.
pub fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    if r == 0 {
        return mask.to_vec();
    }
    let r = r as isize;
    let mut out = vec![false; w * h];
    for (i, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        for dy in -r..=r {
            for dx in -r..=r {
                let (nx, ny) = (x + dx, y + dy);
                if dx * dx + dy * dy <= r * r
                    && nx >= 0
                    && ny >= 0
                    && (nx as usize) < w
                    && (ny as usize) < h
                {
                    out[ny as usize * w + nx as usize] = true;
                }
            }
        }
    }
    out
}

/// Draws a segment `thickness` pixels wide with round caps; `alpha` < 1
/// blends it over what is there.
pub fn line(
    img: &mut RgbImage,
    a: (f32, f32),
    b: (f32, f32),
    thickness: f32,
    c: [u8; 3],
    alpha: f32,
) {
    let r = (thickness / 2.0).max(0.5);
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = (a.0.min(b.0) - r).floor().max(0.0) as u32;
    let y0 = (a.1.min(b.1) - r).floor().max(0.0) as u32;
    let x1 = (a.0.max(b.0) + r).ceil().min(w - 1.0);
    let y1 = (a.1.max(b.1) + r).ceil().min(h - 1.0);
    if x1 < 0.0 || y1 < 0.0 {
        return;
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    for y in y0..=y1 as u32 {
        for x in x0..=x1 as u32 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let t = (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0);
            let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
            if qx * qx + qy * qy <= r * r {
                blend(img, x, y, c, alpha);
            }
        }
    }
}

/// A filled disc.
pub fn disc(img: &mut RgbImage, c0: (f32, f32), r: f32, c: [u8; 3]) {
    line(img, c0, c0, 2.0 * r, c, 1.0);
}

/// A polyline through `pts`, closed when `closed`.
pub fn polyline(img: &mut RgbImage, pts: &[(f32, f32)], closed: bool, thickness: f32, c: [u8; 3]) {
    for pair in pts.windows(2) {
        line(img, pair[0], pair[1], thickness, c, 1.0);
    }
    if closed && pts.len() > 2 {
        line(img, pts[pts.len() - 1], pts[0], thickness, c, 1.0);
    }
}

#[inline]
fn blend(img: &mut RgbImage, x: u32, y: u32, c: [u8; 3], alpha: f32) {
    let p = img.get_pixel_mut(x, y);
    if alpha >= 1.0 {
        *p = Rgb(c);
    } else {
        for k in 0..3 {
            p[k] = (p[k] as f32 * (1.0 - alpha) + c[k] as f32 * alpha).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canny_finds_the_border_of_a_square_and_nothing_inside() {
        let g = Plane::from_fn(64, 64, |x, y| {
            if (16..48).contains(&x) && (16..48).contains(&y) {
                1.0
            } else {
                0.0
            }
        });
        let e = canny(&g, 1.0, 0.9, 0.4);
        assert!(e[32 * 64 + 16] || e[32 * 64 + 15] || e[32 * 64 + 17]);
        assert!(!e[32 * 64 + 32], "inside the square");
        assert!(!e[2 * 64 + 2], "far outside");
        let n = e.iter().filter(|&&v| v).count();
        assert!(
            (100..400).contains(&n),
            "{n} edge pixels for a 128-pixel outline"
        );
    }

    #[test]
    fn blur_keeps_the_mean_and_lines_land_where_asked() {
        let mut g = Plane::new(32, 32);
        g.px[16 * 32 + 16] = 1.0;
        let b = g.blur(2.0);
        let sum: f32 = b.px.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{sum}");
        assert!(b.px[16 * 32 + 16] < 0.1);
        let mut img = RgbImage::new(20, 20);
        line(
            &mut img,
            (2.0, 10.0),
            (17.0, 10.0),
            3.0,
            [255, 255, 255],
            1.0,
        );
        assert_eq!(img.get_pixel(10, 10)[0], 255);
        assert_eq!(img.get_pixel(10, 15)[0], 0);
        line(
            &mut img,
            (-50.0, -50.0),
            (-40.0, -40.0),
            3.0,
            [255, 0, 0],
            1.0,
        );
    }
}
