//! Segmented objects (instances) on an image: class, score, box and binary mask of each.

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;
use ndarray::{Array2, ArrayView2, s};

use crate::{check_stamp, dataset, in_group, positive, stamp, types};

/// A binary mask cropped to its box: pixel (row `y0 + r`, column `x0 + c`) of the image is inside
/// the object when `data[[r, c]]` is true. The box is `[x0, y0, x0 + width, y0 + height)` in pixels
/// (x = column, y = row; the upper bounds are exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// First column of the box (px).
    pub x0: usize,
    /// First row of the box (px).
    pub y0: usize,
    /// (box height, box width).
    pub data: Array2<bool>,
}

impl Mask {
    pub fn new(x0: usize, y0: usize, data: Array2<bool>) -> Self {
        Self { x0, y0, data }
    }

    /// The tight mask of the true pixels of a full-image mask (an empty 0×0 mask at (0, 0) when
    /// none is true).
    pub fn from_full(full: ArrayView2<'_, bool>) -> Self {
        let (mut y0, mut x0, mut y1, mut x1) = (usize::MAX, usize::MAX, 0, 0);
        for ((r, c), &v) in full.indexed_iter() {
            if v {
                y0 = y0.min(r);
                x0 = x0.min(c);
                y1 = y1.max(r + 1);
                x1 = x1.max(c + 1);
            }
        }
        if y1 == 0 {
            return Self::new(0, 0, Array2::from_elem((0, 0), false));
        }
        Self::new(x0, y0, full.slice(s![y0..y1, x0..x1]).to_owned())
    }

    /// Exclusive end column of the box.
    pub fn x1(&self) -> usize {
        self.x0 + self.data.ncols()
    }

    /// Exclusive end row of the box.
    pub fn y1(&self) -> usize {
        self.y0 + self.data.nrows()
    }

    /// The box `[x0, y0, x1, y1]` (px, x1/y1 exclusive).
    pub fn box_px(&self) -> [usize; 4] {
        [self.x0, self.y0, self.x1(), self.y1()]
    }

    /// Number of pixels inside the object.
    pub fn area_px(&self) -> usize {
        self.data.iter().filter(|&&v| v).count()
    }

    /// The mask on a full (height, width) image; parts outside the image are dropped.
    pub fn to_full(&self, height: usize, width: usize) -> Array2<bool> {
        let mut full = Array2::from_elem((height, width), false);
        let (y1, x1) = (self.y1().min(height), self.x1().min(width));
        if self.y0 < y1 && self.x0 < x1 {
            full.slice_mut(s![self.y0..y1, self.x0..x1])
                .assign(&self.data.slice(s![..y1 - self.y0, ..x1 - self.x0]));
        }
        full
    }
}

/// One segmented object.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Index into [`Instances::class_names`].
    pub class_id: u32,
    /// Detection/segmentation score (higher is more confident); any finite value.
    pub score: f32,
    /// Bounding box `[x0, y0, x1, y1]` in pixels (x = column, y = row, x1/y1 exclusive; pixel
    /// (r, c) covers [c, c+1) × [r, r+1)), as the segmenter reported it (sub-pixel).
    pub bbox: [f32; 4],
    pub mask: Mask,
}

/// A set of segmented objects on an image of (height, width) pixels.
///
/// HDF5 layout (group, `corrflow_type = "instances"`, `layout_version = 1`): see
/// `schemas/hdf5-layouts.md`. Attributes `height`, `width`, `pixel_size_nm`; datasets
/// `class_names` (UTF-8 strings), `class_id` u32 (n), `score` f32 (n), `bbox` f32 (n, 4),
/// `mask_box` i64 (n, 4), `mask_offsets` i64 (n + 1), `mask_data` u8, `area_px` i64 (n) and
/// `labels` u32 (height, width); instance i's mask is
/// `mask_data[o[i]:o[i+1]].reshape(y1 - y0, x1 - x0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instances {
    /// Image height (px).
    pub height: usize,
    /// Image width (px).
    pub width: usize,
    /// Side of one square pixel (nm).
    pub pixel_size_nm: f64,
    /// Class names; a class id is an index into this list.
    pub class_names: Vec<String>,
    pub instances: Vec<Instance>,
}

const LAYOUT_VERSION: i64 = 1;

impl Instances {
    pub fn new(
        height: usize,
        width: usize,
        pixel_size_nm: f64,
        class_names: Vec<String>,
        instances: Vec<Instance>,
    ) -> Result<Self, StageError> {
        let s = Self {
            height,
            width,
            pixel_size_nm,
            class_names,
            instances,
        };
        s.validate()?;
        Ok(s)
    }

    /// Check every invariant of the type.
    pub fn validate(&self) -> Result<(), StageError> {
        let (h, w) = (self.height, self.width);
        if h == 0 || w == 0 {
            return Err(StageError::input(format!(
                "instances image must have at least one pixel, got {h}×{w}"
            )));
        }
        positive("instances pixel_size_nm", self.pixel_size_nm)?;
        for (i, name) in self.class_names.iter().enumerate() {
            if name.is_empty() {
                return Err(StageError::input(format!("class {i} has an empty name")));
            }
            if let Some(j) = self.class_names[..i].iter().position(|o| o == name) {
                return Err(StageError::input(format!(
                    "classes {j} and {i} are both named '{name}'"
                )));
            }
        }
        if self.instances.len() >= u32::MAX as usize {
            return Err(StageError::input(format!(
                "{} instances do not fit the uint32 label image",
                self.instances.len()
            )));
        }
        for (i, inst) in self.instances.iter().enumerate() {
            if inst.class_id as usize >= self.class_names.len() {
                return Err(StageError::input(format!(
                    "instance {i} has class id {} but there are {} classes",
                    inst.class_id,
                    self.class_names.len()
                )));
            }
            if !inst.score.is_finite() {
                return Err(StageError::input(format!(
                    "instance {i} has score {}; scores must be finite",
                    inst.score
                )));
            }
            let [x0, y0, x1, y1] = inst.bbox;
            let inside = |a: f32, b: f32, n: usize| 0.0 <= a && a <= b && b <= n as f32;
            if !(inside(x0, x1, w) && inside(y0, y1, h)) {
                return Err(StageError::input(format!(
                    "instance {i} has bbox {:?}; expected 0 <= x0 <= x1 <= {w} and \
                     0 <= y0 <= y1 <= {h}",
                    inst.bbox
                )));
            }
            let m = &inst.mask;
            if m.x1() > w || m.y1() > h {
                return Err(StageError::input(format!(
                    "instance {i} has mask box {:?}, which leaves the {h}×{w} image",
                    m.box_px()
                )));
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The label image, (height, width): 0 = background, instance i → i + 1. Where instances
    /// overlap, the one with the higher score wins; on equal scores, the lower index.
    pub fn label_image(&self) -> Array2<u32> {
        let mut order: Vec<usize> = (0..self.instances.len()).collect();
        // Stable: equal scores keep index order.
        order.sort_by(|&a, &b| self.instances[b].score.total_cmp(&self.instances[a].score));
        let mut labels = Array2::<u32>::zeros((self.height, self.width));
        for i in order {
            let m = &self.instances[i].mask;
            let (y1, x1) = (m.y1().min(self.height), m.x1().min(self.width));
            if m.y0 >= y1 || m.x0 >= x1 {
                continue;
            }
            let mut region = labels.slice_mut(s![m.y0..y1, m.x0..x1]);
            for (l, &v) in region.iter_mut().zip(m.data.iter()) {
                if v && *l == 0 {
                    *l = i as u32 + 1;
                }
            }
        }
        labels
    }

    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        self.validate()?;
        stamp(g, types::INSTANCES, LAYOUT_VERSION)?;
        h5::set_i64(g, "height", self.height as i64)?;
        h5::set_i64(g, "width", self.width as i64)?;
        h5::set_f64(g, "pixel_size_nm", self.pixel_size_nm)?;
        crate::write_strings(g, "class_names", &self.class_names)?;
        let n = self.instances.len();
        let class_id: Vec<u32> = self.instances.iter().map(|i| i.class_id).collect();
        g.new_dataset_builder()
            .with_data(&class_id)
            .create("class_id")?;
        let score: Vec<f32> = self.instances.iter().map(|i| i.score).collect();
        g.new_dataset_builder().with_data(&score).create("score")?;
        let bbox = Array2::from_shape_fn((n, 4), |(i, k)| self.instances[i].bbox[k]);
        let ds = g.new_dataset_builder().with_data(&bbox).create("bbox")?;
        h5::set_str(&ds, "units", "px (x0, y0, x1, y1)")?;
        let mask_box =
            Array2::from_shape_fn((n, 4), |(i, k)| self.instances[i].mask.box_px()[k] as i64);
        let ds = g
            .new_dataset_builder()
            .with_data(&mask_box)
            .create("mask_box")?;
        h5::set_str(&ds, "units", "px (x0, y0, x1, y1)")?;
        let mut offsets = Vec::with_capacity(n + 1);
        let mut data = Vec::new();
        offsets.push(0i64);
        for inst in &self.instances {
            data.extend(inst.mask.data.iter().map(|&v| u8::from(v)));
            offsets.push(data.len() as i64);
        }
        g.new_dataset_builder()
            .with_data(&offsets)
            .create("mask_offsets")?;
        g.new_dataset_builder()
            .with_data(&data)
            .create("mask_data")?;
        let area: Vec<i64> = self
            .instances
            .iter()
            .map(|i| i.mask.area_px() as i64)
            .collect();
        let ds = g.new_dataset_builder().with_data(&area).create("area_px")?;
        h5::set_str(&ds, "units", "px")?;
        // area (µm²) = pixels · (pixel size nm / 1000)²
        let um2_per_px = (self.pixel_size_nm / 1000.0).powi(2);
        let area_um2: Vec<f64> = area.iter().map(|&a| a as f64 * um2_per_px).collect();
        let ds = g
            .new_dataset_builder()
            .with_data(&area_um2)
            .create("area_um2")?;
        h5::set_str(&ds, "units", "µm²")?;
        g.new_dataset_builder()
            .with_data(&self.label_image())
            .create("labels")?;
        Ok(())
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        check_stamp(g, types::INSTANCES, LAYOUT_VERSION)?;
        Self::read_body(g).map_err(|e| in_group(g, e))
    }

    fn read_body(g: &Group) -> Result<Self, StageError> {
        let dim = |name: &str| -> Result<usize, StageError> {
            let v = h5::get_i64(g, name)?;
            usize::try_from(v)
                .map_err(|_| StageError::input(format!("attribute '{name}' is {v}, expected >= 0")))
        };
        let (height, width) = (dim("height")?, dim("width")?);
        let pixel_size_nm = h5::get_f64(g, "pixel_size_nm")?;
        let class_names = crate::read_strings(&dataset(g, "class_names")?)?;
        let n = dataset(g, "class_id")?.size();
        let class_id = crate::read_vec::<u32>(g, "class_id", n)?;
        let score = crate::read_vec::<f32>(g, "score", n)?;
        let bbox = crate::read_mat::<f32>(g, "bbox", n, 4)?;
        let mask_box = crate::read_mat::<i64>(g, "mask_box", n, 4)?;
        let offsets = crate::read_vec::<i64>(g, "mask_offsets", n + 1)?;
        let data_ds = dataset(g, "mask_data")?;
        if data_ds.ndim() != 1 {
            return Err(StageError::input(format!(
                "dataset 'mask_data' has shape {:?}, expected one dimension",
                data_ds.shape()
            )));
        }
        let data = data_ds.read_raw::<u8>()?;
        if offsets[0] != 0 || offsets[n] != data.len() as i64 {
            return Err(StageError::input(format!(
                "mask_offsets must run from 0 to the length of mask_data ({}), got {} to {}",
                data.len(),
                offsets[0],
                offsets[n]
            )));
        }
        let mut instances = Vec::with_capacity(n);
        for i in 0..n {
            let b = mask_box.row(i);
            let [x0, y0, x1, y1] = [b[0], b[1], b[2], b[3]];
            if !(0 <= x0 && x0 <= x1 && x1 <= width as i64 && 0 <= y0 && y0 <= y1)
                || y1 > height as i64
            {
                return Err(StageError::input(format!(
                    "instance {i} has mask box {:?}; expected 0 <= x0 <= x1 <= {width} and \
                     0 <= y0 <= y1 <= {height}",
                    [x0, y0, x1, y1]
                )));
            }
            let (o0, o1) = (offsets[i], offsets[i + 1]);
            let (mh, mw) = ((y1 - y0) as usize, (x1 - x0) as usize);
            if o1 < o0 || (o1 - o0) as usize != mh * mw {
                return Err(StageError::input(format!(
                    "instance {i} has {} mask values (mask_offsets {o0}..{o1}) but its {mh}×{mw} \
                     mask box needs {}",
                    o1 - o0,
                    mh * mw
                )));
            }
            let bits: Vec<bool> = data[o0 as usize..o1 as usize]
                .iter()
                .map(|&v| v != 0)
                .collect();
            let mask = Mask::new(
                x0 as usize,
                y0 as usize,
                Array2::from_shape_vec((mh, mw), bits).expect("length checked above"),
            );
            instances.push(Instance {
                class_id: class_id[i],
                score: score[i],
                bbox: [bbox[[i, 0]], bbox[[i, 1]], bbox[[i, 2]], bbox[[i, 3]]],
                mask,
            });
        }
        let s = Self {
            height,
            width,
            pixel_size_nm,
            class_names,
            instances,
        };
        s.validate()?;
        // The derived datasets are optional; `area_px`, when present, must agree with the masks.
        // `labels` is written for other readers and not read back (the masks are authoritative;
        // comparing a full-size label image on every read cost more than the stages reading it).
        if g.link_exists("area_px") {
            let area = crate::read_vec::<i64>(g, "area_px", n)?;
            for (i, (&a, inst)) in area.iter().zip(&s.instances).enumerate() {
                if a != inst.mask.area_px() as i64 {
                    return Err(StageError::input(format!(
                        "area_px of instance {i} is {a} but its mask has {} pixels",
                        inst.mask.area_px()
                    )));
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::array;

    pub(crate) fn sample() -> Instances {
        // Image 6 rows × 8 columns. Instance 0: 2×3 box at (x 1, y 1); instance 1 overlaps it with
        // a higher score; instance 2 ties instance 1 and overlaps it.
        let a = Instance {
            class_id: 0,
            score: 0.5,
            bbox: [1.0, 1.0, 4.0, 3.0],
            mask: Mask::new(1, 1, array![[true, true, true], [true, true, false]]),
        };
        let b = Instance {
            class_id: 1,
            score: 0.9,
            bbox: [2.5, 2.0, 5.0, 4.0],
            mask: Mask::new(3, 2, array![[true, true], [false, true]]),
        };
        let c = Instance {
            class_id: 1,
            score: 0.9,
            bbox: [4.0, 3.0, 8.0, 6.0],
            mask: Mask::new(4, 3, array![[true, true, true, true]]),
        };
        Instances::new(
            6,
            8,
            2.5,
            vec!["cell".into(), "granule".into()],
            vec![a, b, c],
        )
        .unwrap()
    }

    #[test]
    fn masks_and_labels() {
        let s = sample();
        assert_eq!(s.instances[0].mask.area_px(), 5);
        assert_eq!(s.instances[0].mask.box_px(), [1, 1, 4, 3]);
        let full = s.instances[1].mask.to_full(6, 8);
        assert_eq!(full.iter().filter(|&&v| v).count(), 3);
        assert!(full[[2, 3]] && full[[3, 4]] && !full[[3, 3]]);
        assert_eq!(Mask::from_full(full.view()), s.instances[1].mask);
        assert_eq!(
            Mask::from_full(Array2::from_elem((2, 2), false).view()).area_px(),
            0
        );
        let l = s.label_image();
        let expected = array![
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 0, 0, 0, 0],
            [0, 1, 1, 2, 2, 0, 0, 0],
            [0, 0, 0, 0, 2, 3, 3, 3],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ];
        assert_eq!(l, expected);
    }

    #[test]
    fn round_trip_including_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let s = sample();
        let empty = Instances::new(3, 4, 1.0, vec![], vec![]).unwrap();
        let f = h5::create_file(&p).unwrap();
        s.write(&f.create_group("objects").unwrap()).unwrap();
        empty.write(&f.create_group("none").unwrap()).unwrap();
        f.close().unwrap();
        let f = crate::testutil::open(&p);
        assert_eq!(Instances::read(&f.group("objects").unwrap()).unwrap(), s);
        assert_eq!(Instances::read(&f.group("none").unwrap()).unwrap(), empty);
    }

    fn err(s: Instances) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_messages() {
        let ok = sample();
        let mut s = ok.clone();
        s.width = 0;
        assert_eq!(
            err(s),
            "instances image must have at least one pixel, got 6×0"
        );
        let mut s = ok.clone();
        s.pixel_size_nm = f64::NAN;
        assert_eq!(
            err(s),
            "instances pixel_size_nm must be a finite number > 0, got NaN"
        );
        let mut s = ok.clone();
        s.class_names[1] = String::new();
        assert_eq!(err(s), "class 1 has an empty name");
        let mut s = ok.clone();
        s.class_names[1] = "cell".into();
        assert_eq!(err(s), "classes 0 and 1 are both named 'cell'");
        let mut s = ok.clone();
        s.instances[2].class_id = 2;
        assert_eq!(err(s), "instance 2 has class id 2 but there are 2 classes");
        let mut s = ok.clone();
        s.instances[0].score = f32::INFINITY;
        assert_eq!(err(s), "instance 0 has score inf; scores must be finite");
        let mut s = ok.clone();
        s.instances[1].bbox = [2.0, 2.0, 8.5, 4.0];
        assert_eq!(
            err(s),
            "instance 1 has bbox [2.0, 2.0, 8.5, 4.0]; expected 0 <= x0 <= x1 <= 8 and \
             0 <= y0 <= y1 <= 6"
        );
        let mut s = ok.clone();
        s.instances[1].bbox = [2.0, 3.0, 4.0, 2.0];
        assert!(err(s).starts_with("instance 1 has bbox [2.0, 3.0, 4.0, 2.0]"));
        let mut s = ok.clone();
        s.instances[2].mask.y0 = 6;
        assert_eq!(
            err(s),
            "instance 2 has mask box [4, 6, 8, 7], which leaves the 6×8 image"
        );
        let mut s = ok.clone();
        s.instances[2].mask.x0 = 5;
        assert_eq!(
            err(s),
            "instance 2 has mask box [5, 3, 9, 4], which leaves the 6×8 image"
        );
    }

    /// Corrupt one dataset of a written group and return the read error.
    fn read_err(edit: impl FnOnce(&Group)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        let g = f.create_group("objects").unwrap();
        sample().write(&g).unwrap();
        edit(&g);
        Instances::read(&g).unwrap_err().to_string()
    }

    fn replace<T: corrflow_stage::hdf5::H5Type>(g: &Group, name: &str, data: ndarray::ArrayD<T>) {
        g.unlink(name).unwrap();
        g.new_dataset_builder()
            .with_data(&data)
            .create(name)
            .unwrap();
    }

    #[test]
    fn read_checks_masks_and_derived_datasets() {
        let pre = "HDF5 group '/objects': ";
        let e = read_err(|g| replace(g, "mask_offsets", array![0i64, 6, 10, 13].into_dyn()));
        assert_eq!(
            e,
            format!(
                "{pre}mask_offsets must run from 0 to the length of mask_data (14), got 0 to 13"
            )
        );
        let e = read_err(|g| replace(g, "mask_offsets", array![0i64, 5, 10, 14].into_dyn()));
        assert_eq!(
            e,
            format!(
                "{pre}instance 0 has 5 mask values (mask_offsets 0..5) but its 2×3 mask box \
                 needs 6"
            )
        );
        let e = read_err(|g| {
            let b = array![[1i64, 1, 4, 3], [3, 2, 5, 4], [4, 3, 9, 4]];
            replace(g, "mask_box", b.into_dyn())
        });
        assert_eq!(
            e,
            format!(
                "{pre}instance 2 has mask box [4, 3, 9, 4]; expected 0 <= x0 <= x1 <= 8 and \
                 0 <= y0 <= y1 <= 6"
            )
        );
        let e = read_err(|g| replace(g, "score", array![0.5f32, 0.9].into_dyn()));
        assert_eq!(
            e,
            format!("{pre}dataset '/objects/score' has shape [2], expected [3]")
        );
        let e = read_err(|g| replace(g, "class_id", array![0u32, 1, 5].into_dyn()));
        assert_eq!(
            e,
            format!("{pre}instance 2 has class id 5 but there are 2 classes")
        );
        let e = read_err(|g| replace(g, "area_px", array![5i64, 3, 5].into_dyn()));
        assert_eq!(
            e,
            format!("{pre}area_px of instance 2 is 5 but its mask has 4 pixels")
        );
        // `labels` is not read back: a stale one does not change what is read.
        {
            let dir = tempfile::tempdir().unwrap();
            let f = h5::create_file(&dir.path().join("l.h5")).unwrap();
            let g = f.create_group("objects").unwrap();
            sample().write(&g).unwrap();
            let mut l = sample().label_image();
            l[[2, 3]] = 1;
            replace(&g, "labels", l.into_dyn());
            assert_eq!(Instances::read(&g).unwrap(), sample());
        }
        let e = read_err(|g| g.unlink("mask_data").unwrap());
        assert_eq!(e, "HDF5 group '/objects' has no dataset 'mask_data'");
        // The derived datasets are optional.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        let g = f.create_group("objects").unwrap();
        sample().write(&g).unwrap();
        g.unlink("labels").unwrap();
        g.unlink("area_px").unwrap();
        assert_eq!(Instances::read(&g).unwrap(), sample());
    }

    #[test]
    fn h5py_reads_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        sample().write(&f.create_group("objects").unwrap()).unwrap();
        f.close().unwrap();
        let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["objects"]
classes = list(g["class_names"].asstr()[()])
o, boxes, data = g["mask_offsets"][()], g["mask_box"][()], g["mask_data"][()]
masks = []
for i in range(len(o) - 1):
    x0, y0, x1, y1 = boxes[i]
    crop = data[o[i]:o[i+1]].reshape(y1 - y0, x1 - x0).astype(bool)
    full = np.zeros((g.attrs["height"], g.attrs["width"]), bool)
    full[y0:y1, x0:x1] = crop
    masks.append(full)
labels = g["labels"][()]          # 0 = background, instance i -> i + 1

assert g.attrs["corrflow_type"] == "instances" and g.attrs["layout_version"] == 1
assert classes == ["cell", "granule"], classes
assert g["class_id"][()].tolist() == [0, 1, 1] and g["class_id"].dtype == np.uint32
assert np.allclose(g["score"][()], [0.5, 0.9, 0.9]) and g["score"].dtype == np.float32
assert g["bbox"][()].tolist() == [[1, 1, 4, 3], [2.5, 2, 5, 4], [4, 3, 8, 6]]
assert [int(m.sum()) for m in masks] == g["area_px"][()].tolist() == [5, 3, 4]
assert masks[1][2, 3] and masks[1][3, 4] and not masks[1][3, 3]
assert labels.dtype == np.uint32 and labels.shape == (6, 8)
assert labels[2].tolist() == [0, 1, 1, 2, 2, 0, 0, 0]
assert labels[3].tolist() == [0, 0, 0, 0, 2, 3, 3, 3]
assert g.attrs["pixel_size_nm"] == 2.5
print("OK")
"#;
        if let Some(out) = crate::testutil::python("instances h5py", script, &p) {
            assert_eq!(out.trim(), "OK");
        }
    }
}
