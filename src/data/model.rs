//! The scene model: terrain, land cover, spectra, clouds and shadows, rendered per block
//! from global pixel coordinates.

use super::noise::{Field, hash2, key, mix64, unit};
use super::{CLEAR, CLOUD, LandCover, MASK_NODATA, NODATA, SHADOW, SceneSpec};

/// Reflectance × 10 000 of each land cover in (blue, green, red, NIR, SWIR), roughly as
/// Sentinel-2 L2A sees them.
const DEEP_WATER: [f32; 5] = [620.0, 540.0, 330.0, 170.0, 80.0];
const SHALLOW_WATER: [f32; 5] = [800.0, 850.0, 600.0, 350.0, 150.0];
const FOREST: [f32; 5] = [240.0, 470.0, 250.0, 3200.0, 1450.0];
const GREEN_CROP: [f32; 5] = [330.0, 720.0, 380.0, 4100.0, 2000.0];
const YOUNG_CROP: [f32; 5] = [600.0, 880.0, 880.0, 2600.0, 2300.0];
const BARE_SOIL: [f32; 5] = [950.0, 1300.0, 1700.0, 2250.0, 3000.0];
const URBAN: [f32; 5] = [1050.0, 1150.0, 1250.0, 1550.0, 1900.0];
const ROAD: [f32; 5] = [700.0, 760.0, 820.0, 950.0, 1100.0];
const CLOUD_TOP: [f32; 5] = [8200.0, 8000.0, 7900.0, 7700.0, 5200.0];

/// Field parcels: rows of `FIELD_H` pixels, cut into parcels `FIELD_W` pixels wide, each row
/// shifted by its own offset.
const FIELD_H: i64 = 30;
const FIELD_W: i64 = 44;
/// Urban blocks: a street every `BLOCK` pixels, `STREET` pixels wide.
const BLOCK: i64 = 22;
const STREET: i64 = 2;
/// Where a cloud's shadow falls, in pixels from the cloud (sun from the south-west).
const SHADOW_DR: i64 = -14;
const SHADOW_DC: i64 = 20;
/// Opacity above which a pixel is flagged cloud, and shadow strength above which it is
/// flagged shadow.
const CLOUD_FLAG: f32 = 0.25;
const SHADOW_FLAG: f32 = 0.35;

/// Everything about a scene that does not depend on the block.
pub(crate) struct Model {
    pub rows: usize,
    pub cols: usize,
    elevation: Field,
    moisture: Field,
    urban: Field,
    river: Field,
    texture: Field,
    cloud: Vec<Field>,
    fields_key: u64,
    noise_key: u64,
    building_key: u64,
    water_level: f32,
    urban_level: f32,
    forest_level: f32,
    river_width: f32,
    cloud_level: Vec<f32>,
    /// Per date: how far the swath edge (the nodata wedge) moves, and the clouds' drift.
    drift: Vec<(i64, i64)>,
}

/// The per-pixel terrain of a block.
struct Terrain {
    elevation: Vec<f32>,
    moisture: Vec<f32>,
    urban: Vec<f32>,
    river: Vec<f32>,
    texture: Vec<f32>,
}

impl Model {
    pub(crate) fn new(spec: &SceneSpec) -> Model {
        let s = spec.seed;
        let elevation = Field::new(key(s, 1), &[384, 192, 96, 48, 24, 12], 0.5);
        let moisture = Field::new(key(s, 2), &[256, 128, 64, 32, 16], 0.55);
        let urban = Field::new(key(s, 3), &[220, 110, 55, 27], 0.5);
        let river = Field::new(key(s, 4), &[600, 300, 150], 0.45);
        let texture = Field::new(key(s, 5), &[9, 4, 2], 0.7);
        const SAMPLES: usize = 8192;
        let cloud: Vec<Field> = (0..spec.times)
            .map(|t| Field::new(key(s, 100 + t as u64), &[192, 96, 48, 24, 12, 6], 0.55))
            .collect();
        // Each date's cloud cover: the spec's mean, varied by up to ±60 % from date to date.
        let cloud_level = cloud
            .iter()
            .enumerate()
            .map(|(t, f)| {
                let jitter = if t == 0 {
                    0.0
                } else {
                    unit(mix64(key(s, 200 + t as u64))) as f64 * 1.2 - 0.6
                };
                let cover = (spec.cloud_cover * (1.0 + jitter)).clamp(0.0, 0.95);
                if cover <= 0.0 {
                    f32::INFINITY
                } else {
                    f.quantile(1.0 - cover, SAMPLES)
                }
            })
            .collect();
        let drift = (0..spec.times as i64)
            .map(|t| (t * 29, t * 47 + (t % 3) * 11))
            .collect();
        Model {
            rows: spec.size,
            cols: spec.size,
            water_level: elevation.quantile(0.09, SAMPLES),
            urban_level: urban.quantile(0.87, SAMPLES),
            forest_level: moisture.quantile(0.62, SAMPLES),
            river_width: 0.006,
            elevation,
            moisture,
            urban,
            river,
            texture,
            cloud,
            fields_key: key(s, 6),
            noise_key: key(s, 7),
            building_key: key(s, 8),
            cloud_level,
            drift,
        }
    }

    fn terrain(&self, r0: i64, c0: i64, h: usize, w: usize) -> Terrain {
        Terrain {
            elevation: self.elevation.block(r0, c0, h, w),
            moisture: self.moisture.block(r0, c0, h, w),
            urban: self.urban.block(r0, c0, h, w),
            river: self.river.block(r0, c0, h, w),
            texture: self.texture.block(r0, c0, h, w),
        }
    }

    /// Whether pixel `(r, c)` lies outside the sensor's swath on date `t`: a wedge along
    /// the right-hand edge (about 5 % of the scene) that moves a little from date to date.
    #[inline]
    pub(crate) fn is_nodata(&self, t: usize, r: i64, c: i64) -> bool {
        let (rows, cols) = (self.rows as f64, self.cols as f64);
        let shift = [0.0, 0.03, -0.02, 0.015][t % 4];
        let edge = cols * (0.86 + shift) + 0.2 * (r as f64) * (cols / rows.max(1.0));
        c as f64 >= edge
    }

    /// The land cover and surface reflectance of one pixel on date `t`.
    #[inline]
    fn surface(&self, tr: &Terrain, i: usize, t: usize, r: i64, c: i64) -> (LandCover, [f32; 5]) {
        let e = tr.elevation[i];
        let tex = tr.texture[i];
        let bright = 0.82 + 0.36 * tex;
        let depth = self.water_level - e;
        let river = (tr.river[i] - 0.5).abs() < self.river_width && tr.urban[i] < self.urban_level;
        if depth > 0.0 || river {
            // Shallow water near the shore is brighter (sediment, bottom).
            let d = if river { 0.2 } else { (depth / 0.03).min(1.0) };
            let mut s = [0.0; 5];
            for b in 0..5 {
                s[b] = SHALLOW_WATER[b] + d * (DEEP_WATER[b] - SHALLOW_WATER[b]);
                s[b] *= 0.95 + 0.1 * tex;
            }
            return (LandCover::Water, s);
        }
        if tr.urban[i] > self.urban_level {
            let street = r.rem_euclid(BLOCK) < STREET || c.rem_euclid(BLOCK) < STREET;
            if street {
                return (LandCover::Urban, ROAD.map(|v| v * bright));
            }
            // Roofs: one brightness per 4 x 4 pixel building.
            let roof = unit(hash2(self.building_key, r.div_euclid(4), c.div_euclid(4)));
            let k = 0.6 + 0.9 * roof;
            return (LandCover::Urban, URBAN.map(|v| v * k));
        }
        if tr.moisture[i] > self.forest_level {
            // Canopy: NIR varies with the texture and the season.
            let season = [1.0, 1.06, 0.97, 0.9][t % 4];
            let mut s = FOREST.map(|v| v * bright);
            s[3] *= season * (0.85 + 0.3 * tex);
            return (LandCover::Forest, s);
        }
        // Cropland parcels, each with its own sowing date: bare, young, green, harvested.
        let band = r.div_euclid(FIELD_H);
        let shift = (mix64(self.fields_key ^ band as u64) % FIELD_W as u64) as i64;
        let parcel = (c + shift).div_euclid(FIELD_W + (band.rem_euclid(3)) * 9);
        let phase = unit(hash2(self.fields_key, band, parcel));
        let stage = (phase + 0.23 * t as f32).fract();
        let (cover, s) = if stage < 0.2 {
            (LandCover::BareSoil, BARE_SOIL)
        } else if stage < 0.42 {
            (LandCover::Cropland, YOUNG_CROP)
        } else if stage < 0.85 {
            (LandCover::Cropland, GREEN_CROP)
        } else {
            (LandCover::BareSoil, BARE_SOIL)
        };
        (cover, s.map(|v| v * bright))
    }

    /// Cloud opacity in `[0, 1]` over the `h` x `w` pixels at `(r0, c0)` on date `t`, and
    /// the shadow strength of the clouds, from one evaluation of the cloud field over the
    /// block grown by the shadow offset.
    fn clouds(&self, t: usize, r0: i64, c0: i64, h: usize, w: usize) -> (Vec<f32>, Vec<f32>) {
        let (dr, dc) = self.drift[t];
        let level = self.cloud_level[t];
        // Rows r0 + SHADOW_DR .. r0 + h, columns c0 .. c0 + w + SHADOW_DC (SHADOW_DR < 0,
        // SHADOW_DC > 0): a pixel's shadow comes from the cloud at (r + SHADOW_DR,
        // c + SHADOW_DC).
        let (gr0, gc0) = (r0 + SHADOW_DR, c0);
        let (gh, gw) = (h + (-SHADOW_DR) as usize, w + SHADOW_DC as usize);
        let f = self.cloud[t].block(gr0 - dr, gc0 - dc, gh, gw);
        let opacity = |v: f32| {
            let x = ((v - level) / 0.06).clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        };
        let mut alpha = vec![0.0f32; h * w];
        let mut shadow = vec![0.0f32; h * w];
        for i in 0..h {
            for j in 0..w {
                alpha[i * w + j] = opacity(f[(i + (-SHADOW_DR) as usize) * gw + j]);
                shadow[i * w + j] = opacity(f[i * gw + j + SHADOW_DC as usize]);
            }
        }
        (alpha, shadow)
    }

    /// Renders date `t` over rows `r0..r0 + h` and columns `c0..c0 + w`: bands `b0..b1`
    /// into `bands` (band-major, each `h * w`), the cloud mask into `mask`, the land cover
    /// into `cover`, each only when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn render(
        &self,
        t: usize,
        (r0, c0): (usize, usize),
        (h, w): (usize, usize),
        (b0, b1): (usize, usize),
        mut bands: Option<&mut [u16]>,
        mut mask: Option<&mut [u8]>,
        mut cover: Option<&mut [u8]>,
    ) {
        let (r0, c0) = (r0 as i64, c0 as i64);
        let need_surface = bands.is_some() || cover.is_some();
        let need_clouds = bands.is_some() || mask.is_some();
        let terrain = need_surface.then(|| self.terrain(r0, c0, h, w));
        let (alpha, shadow) = if need_clouds {
            self.clouds(t, r0, c0, h, w)
        } else {
            (Vec::new(), Vec::new())
        };
        let n = h * w;
        for i in 0..h {
            let r = r0 + i as i64;
            for j in 0..w {
                let c = c0 + j as i64;
                let p = i * w + j;
                let nodata = self.is_nodata(t, r, c);
                let surf = terrain.as_ref().map(|tr| self.surface(tr, p, t, r, c));
                if let (Some(cv), Some((lc, _))) = (cover.as_deref_mut(), surf) {
                    cv[p] = lc as u8;
                }
                if let Some(m) = mask.as_deref_mut() {
                    m[p] = if nodata {
                        MASK_NODATA
                    } else if alpha[p] > CLOUD_FLAG {
                        CLOUD
                    } else if shadow[p] > SHADOW_FLAG {
                        SHADOW
                    } else {
                        CLEAR
                    };
                }
                if let (Some(out), Some((_, s))) = (bands.as_deref_mut(), surf) {
                    if nodata {
                        for b in b0..b1 {
                            out[(b - b0) * n + p] = NODATA;
                        }
                        continue;
                    }
                    let (a, sh) = (alpha[p], shadow[p]);
                    let dark = 1.0 - 0.6 * sh * (1.0 - a);
                    let puff = 0.9 + 0.2 * (alpha[p]);
                    // Sensor noise: ±0.5 % per band, from 12 bits each of one hash.
                    let noise = hash2(self.noise_key ^ t as u64, r, c);
                    for b in b0..b1 {
                        let z = ((noise >> (12 * b)) & 0xfff) as f32 / 4096.0;
                        let v = s[b] * dark * (1.0 - a) + CLOUD_TOP[b] * puff * a;
                        let v = v * (0.995 + 0.01 * z);
                        out[(b - b0) * n + p] = v.round().clamp(1.0, 65_000.0) as u16;
                    }
                }
            }
        }
    }
}
