//! A NanoSIMS image stack: secondary-ion counts per mass, plane and pixel, with per-mass detector
//! metadata.

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;
use ndarray::{Array2, Array4, Axis};

use crate::{check_stamp, dataset, in_group, positive, stamp, types};

/// One mass channel (one detector) of an [`IonStack`].
#[derive(Debug, Clone, PartialEq)]
pub struct MassInfo {
    /// The label as the instrument stores it, e.g. `"12C 14N"`.
    pub label: String,
    /// The label without spaces, e.g. `"12C14N"`; `"SE"` for secondary electrons. Unique in a stack;
    /// stages and pipelines refer to masses by this name.
    pub name: String,
    /// The mass (u, atomic mass units); 0 for secondary electrons.
    pub mass_amu: f64,
    /// Index of the detector that recorded this mass.
    pub detector: i32,
    /// Detector dead time (ns).
    pub dead_time_ns: f64,
}

impl MassInfo {
    /// A mass channel whose `name` is `label` without white space.
    pub fn new(label: impl Into<String>, mass_amu: f64, detector: i32, dead_time_ns: f64) -> Self {
        let label = label.into();
        let name = label.split_whitespace().collect();
        Self {
            label,
            name,
            mass_amu,
            detector,
            dead_time_ns,
        }
    }
}

/// A NanoSIMS image stack.
///
/// HDF5 layout (group, `corrflow_type = "ion_stack"`, `layout_version = 1`): see
/// `schemas/hdf5-layouts.md`. In short: dataset `counts` float32 (masses, planes, height, width),
/// chunked one plane image per chunk; per-mass 1-D datasets `mass_label`, `mass_name` (UTF-8
/// strings), `mass_amu` (float64), `detector` (int32), `dead_time_ns` (float64); dataset
/// `plane_shifts_px` float64 (planes, 2); attributes `pixel_size_nm`, `raster_nm`, `dwell_time_s`,
/// `corrections`, `source`.
#[derive(Debug, Clone, PartialEq)]
pub struct IonStack {
    /// Counts per (mass, plane, row, column). float32 because dead-time/QSA-corrected counts are not
    /// integers; exact for raw counts below 2^24.
    pub counts: Array4<f32>,
    /// One entry per mass, in the order of `counts`' first axis.
    pub masses: Vec<MassInfo>,
    /// Side of one square pixel (nm); at acquisition, `raster_nm / width`.
    pub pixel_size_nm: f64,
    /// Side of the rastered field of view as set on the instrument (nm). Not rescaled by cropping.
    pub raster_nm: f64,
    /// Dwell time per pixel per plane (s).
    pub dwell_time_s: f64,
    /// Corrections applied to `counts`: `"none"`, `"dead_time"`, `"dead_time+qsa"`, …
    pub corrections: String,
    /// The file or node the stack came from.
    pub source: String,
    /// (planes, 2): the shift (dy, dx) in pixels that alignment applied to each plane; zeros when
    /// the planes were not aligned.
    pub plane_shifts_px: Array2<f64>,
}

const LAYOUT_VERSION: i64 = 1;

impl IonStack {
    /// A stack as read from the instrument: pixel size `raster_nm / width`, corrections `"none"`,
    /// no plane shifts.
    pub fn new(
        counts: Array4<f32>,
        masses: Vec<MassInfo>,
        raster_nm: f64,
        dwell_time_s: f64,
        source: impl Into<String>,
    ) -> Result<Self, StageError> {
        let (_, planes, _, width) = counts.dim();
        let s = Self {
            pixel_size_nm: raster_nm / width as f64,
            counts,
            masses,
            raster_nm,
            dwell_time_s,
            corrections: "none".into(),
            source: source.into(),
            plane_shifts_px: Array2::zeros((planes, 2)),
        };
        s.validate()?;
        Ok(s)
    }

    /// The same stack with other corrections recorded.
    pub fn with_corrections(mut self, corrections: impl Into<String>) -> Result<Self, StageError> {
        self.corrections = corrections.into();
        self.validate()?;
        Ok(self)
    }

    /// The same stack with the plane shifts that alignment applied, (planes, 2) as (dy, dx).
    pub fn with_plane_shifts(mut self, shifts_px: Array2<f64>) -> Result<Self, StageError> {
        self.plane_shifts_px = shifts_px;
        self.validate()?;
        Ok(self)
    }

    /// Check every invariant of the type.
    pub fn validate(&self) -> Result<(), StageError> {
        let (m, p, h, w) = self.counts.dim();
        if m == 0 || p == 0 || h == 0 || w == 0 {
            return Err(StageError::input(format!(
                "ion stack counts must have at least one mass, plane, row and column, got shape \
                 ({m}, {p}, {h}, {w})"
            )));
        }
        if self.masses.len() != m {
            return Err(StageError::input(format!(
                "ion stack has {m} mass channels in counts but {} mass descriptions",
                self.masses.len()
            )));
        }
        for (i, mi) in self.masses.iter().enumerate() {
            if mi.name.is_empty() || mi.name.chars().any(char::is_whitespace) {
                return Err(StageError::input(format!(
                    "mass {i} has name {:?}; names must be non-empty and without spaces",
                    mi.name
                )));
            }
            if let Some(j) = self.masses[..i].iter().position(|o| o.name == mi.name) {
                return Err(StageError::input(format!(
                    "masses {j} and {i} are both named '{}'",
                    mi.name
                )));
            }
            if !(mi.mass_amu.is_finite() && mi.mass_amu >= 0.0) {
                return Err(StageError::input(format!(
                    "mass '{}' has mass {} u; expected a finite number >= 0",
                    mi.name, mi.mass_amu
                )));
            }
            if !(mi.dead_time_ns.is_finite() && mi.dead_time_ns >= 0.0) {
                return Err(StageError::input(format!(
                    "mass '{}' has dead time {} ns; expected a finite number >= 0",
                    mi.name, mi.dead_time_ns
                )));
            }
        }
        positive("ion stack pixel_size_nm", self.pixel_size_nm)?;
        positive("ion stack raster_nm", self.raster_nm)?;
        positive("ion stack dwell_time_s", self.dwell_time_s)?;
        if self.corrections.trim().is_empty() {
            return Err(StageError::input(
                "ion stack corrections must name the corrections applied (\"none\" when none)",
            ));
        }
        if self.plane_shifts_px.dim() != (p, 2) {
            return Err(StageError::input(format!(
                "ion stack plane_shifts_px has shape {:?}, expected ({p}, 2)",
                self.plane_shifts_px.dim()
            )));
        }
        if self.plane_shifts_px.iter().any(|v| !v.is_finite()) {
            return Err(StageError::input(
                "ion stack plane_shifts_px holds a non-finite value",
            ));
        }
        if let Some((idx, v)) = self.counts.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(StageError::input(format!(
                "ion stack counts hold {v} at (mass, plane, row, column) = {idx:?}"
            )));
        }
        Ok(())
    }

    pub fn n_masses(&self) -> usize {
        self.counts.dim().0
    }

    pub fn n_planes(&self) -> usize {
        self.counts.dim().1
    }

    pub fn height(&self) -> usize {
        self.counts.dim().2
    }

    pub fn width(&self) -> usize {
        self.counts.dim().3
    }

    /// The index of the mass named `name` (e.g. `"12C14N"`).
    pub fn mass_index(&self, name: &str) -> Result<usize, StageError> {
        self.masses
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.masses.iter().map(|m| m.name.as_str()).collect();
                StageError::input(format!(
                    "ion stack has no mass named '{name}'; it has {}",
                    names.join(", ")
                ))
            })
    }

    /// The counts of mass `name` summed over planes, (height, width).
    pub fn channel_sum(&self, name: &str) -> Result<Array2<f64>, StageError> {
        let i = self.mass_index(name)?;
        Ok(self
            .counts
            .index_axis(Axis(0), i)
            .mapv(f64::from)
            .sum_axis(Axis(0)))
    }

    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        self.validate()?;
        stamp(g, types::ION_STACK, LAYOUT_VERSION)?;
        h5::set_f64(g, "pixel_size_nm", self.pixel_size_nm)?;
        h5::set_f64(g, "raster_nm", self.raster_nm)?;
        h5::set_f64(g, "dwell_time_s", self.dwell_time_s)?;
        h5::set_str(g, "corrections", &self.corrections)?;
        h5::set_str(g, "source", &self.source)?;
        let (_, _, h, w) = self.counts.dim();
        let counts = self.counts.as_standard_layout();
        let ds = g
            .new_dataset_builder()
            .chunk((1, 1, h, w))
            .with_data(&counts)
            .create("counts")?;
        h5::set_str(&ds, "units", "counts")?;
        let strings = |f: fn(&MassInfo) -> &String| -> Vec<String> {
            self.masses.iter().map(|m| f(m).clone()).collect()
        };
        crate::write_strings(g, "mass_label", &strings(|m| &m.label))?;
        crate::write_strings(g, "mass_name", &strings(|m| &m.name))?;
        let amu: Vec<f64> = self.masses.iter().map(|m| m.mass_amu).collect();
        let ds = g.new_dataset_builder().with_data(&amu).create("mass_amu")?;
        h5::set_str(&ds, "units", "u")?;
        let det: Vec<i32> = self.masses.iter().map(|m| m.detector).collect();
        g.new_dataset_builder().with_data(&det).create("detector")?;
        let dt: Vec<f64> = self.masses.iter().map(|m| m.dead_time_ns).collect();
        let ds = g
            .new_dataset_builder()
            .with_data(&dt)
            .create("dead_time_ns")?;
        h5::set_str(&ds, "units", "ns")?;
        let shifts = self.plane_shifts_px.as_standard_layout();
        let ds = g
            .new_dataset_builder()
            .with_data(&shifts)
            .create("plane_shifts_px")?;
        h5::set_str(&ds, "units", "px (dy, dx)")?;
        Ok(())
    }

    /// The raster of a stored stack without reading its counts: (height, width, pixel size nm).
    pub fn read_raster(g: &Group) -> Result<(usize, usize, f64), StageError> {
        check_stamp(g, types::ION_STACK, LAYOUT_VERSION)?;
        let body = || -> Result<(usize, usize, f64), StageError> {
            let shape = dataset(g, "counts")?.shape();
            let &[_, _, h, w] = shape.as_slice() else {
                return Err(StageError::input(format!(
                    "dataset 'counts' has shape {shape:?}, expected (masses, planes, height, width)"
                )));
            };
            Ok((h, w, h5::get_f64(g, "pixel_size_nm")?))
        };
        body().map_err(|e| in_group(g, e))
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        check_stamp(g, types::ION_STACK, LAYOUT_VERSION)?;
        Self::read_body(g).map_err(|e| in_group(g, e))
    }

    fn read_body(g: &Group) -> Result<Self, StageError> {
        let ds = dataset(g, "counts")?;
        if ds.ndim() != 4 {
            return Err(StageError::input(format!(
                "dataset 'counts' has shape {:?}, expected (masses, planes, height, width)",
                ds.shape()
            )));
        }
        let counts: Array4<f32> = ds.read()?;
        let (m, p, _, _) = counts.dim();
        let label = crate::read_strings_n(g, "mass_label", m)?;
        let name = crate::read_strings_n(g, "mass_name", m)?;
        let amu = crate::read_vec::<f64>(g, "mass_amu", m)?;
        let det = crate::read_vec::<i32>(g, "detector", m)?;
        let dt = crate::read_vec::<f64>(g, "dead_time_ns", m)?;
        let masses = (0..m)
            .map(|i| MassInfo {
                label: label[i].clone(),
                name: name[i].clone(),
                mass_amu: amu[i],
                detector: det[i],
                dead_time_ns: dt[i],
            })
            .collect();
        let s = Self {
            counts,
            masses,
            pixel_size_nm: h5::get_f64(g, "pixel_size_nm")?,
            raster_nm: h5::get_f64(g, "raster_nm")?,
            dwell_time_s: h5::get_f64(g, "dwell_time_s")?,
            corrections: h5::get_str(g, "corrections")?,
            source: h5::get_str(g, "source")?,
            plane_shifts_px: crate::read_mat(g, "plane_shifts_px", p, 2)?,
        };
        s.validate()?;
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> IonStack {
        let counts = Array4::from_shape_fn((3, 2, 4, 5), |(m, p, r, c)| {
            (m * 1000 + p * 100 + r * 10 + c) as f32 + 0.25
        });
        let masses = vec![
            MassInfo::new("12C", 12.0, 1, 44.0),
            MassInfo::new("12C 14N", 26.003074, 3, 44.0),
            MassInfo::new("SE", 0.0, 7, 0.0),
        ];
        IonStack::new(counts, masses, 20_000.0, 1e-3, "run1.im")
            .unwrap()
            .with_corrections("dead_time")
            .unwrap()
            .with_plane_shifts(ndarray::array![[0.0, 0.0], [1.5, -2.0]])
            .unwrap()
    }

    #[test]
    fn new_derives_names_and_pixel_size() {
        let s = sample();
        assert_eq!(s.masses[1].name, "12C14N");
        assert_eq!(s.masses[1].label, "12C 14N");
        assert_eq!(s.pixel_size_nm, 4000.0);
        assert_eq!(s.mass_index("SE").unwrap(), 2);
        let err = s.mass_index("13C").unwrap_err().to_string();
        assert_eq!(
            err,
            "ion stack has no mass named '13C'; it has 12C, 12C14N, SE"
        );
        let sum = s.channel_sum("12C14N").unwrap();
        assert_eq!(sum.dim(), (4, 5));
        // plane 0 + plane 1 at (2, 3): 1023.25 + 1123.25
        assert_eq!(sum[[2, 3]], 2146.5);
    }

    #[test]
    fn round_trip_and_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let s = sample();
        let f = h5::create_file(&p).unwrap();
        s.write(&f.create_group("ions").unwrap()).unwrap();
        f.close().unwrap();
        let f = crate::testutil::open(&p);
        let g = f.group("ions").unwrap();
        assert_eq!(IonStack::read(&g).unwrap(), s);
        assert_eq!(g.dataset("counts").unwrap().chunk(), Some(vec![1, 1, 4, 5]));
    }

    fn err(s: IonStack) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_messages() {
        let ok = sample();
        let mut s = ok.clone();
        s.counts = Array4::zeros((3, 0, 4, 5));
        assert_eq!(
            err(s),
            "ion stack counts must have at least one mass, plane, row and column, got shape \
             (3, 0, 4, 5)"
        );
        let mut s = ok.clone();
        s.masses.pop();
        assert_eq!(
            err(s),
            "ion stack has 3 mass channels in counts but 2 mass descriptions"
        );
        let mut s = ok.clone();
        s.masses[1].name = "12C 14N".into();
        assert_eq!(
            err(s),
            "mass 1 has name \"12C 14N\"; names must be non-empty and without spaces"
        );
        let mut s = ok.clone();
        s.masses[2].name = "12C".into();
        assert_eq!(err(s), "masses 0 and 2 are both named '12C'");
        let mut s = ok.clone();
        s.masses[0].mass_amu = f64::NAN;
        assert_eq!(
            err(s),
            "mass '12C' has mass NaN u; expected a finite number >= 0"
        );
        let mut s = ok.clone();
        s.masses[0].dead_time_ns = -1.0;
        assert_eq!(
            err(s),
            "mass '12C' has dead time -1 ns; expected a finite number >= 0"
        );
        let mut s = ok.clone();
        s.pixel_size_nm = 0.0;
        assert_eq!(
            err(s),
            "ion stack pixel_size_nm must be a finite number > 0, got 0"
        );
        let mut s = ok.clone();
        s.raster_nm = f64::INFINITY;
        assert_eq!(
            err(s),
            "ion stack raster_nm must be a finite number > 0, got inf"
        );
        let mut s = ok.clone();
        s.dwell_time_s = -1e-3;
        assert_eq!(
            err(s),
            "ion stack dwell_time_s must be a finite number > 0, got -0.001"
        );
        let mut s = ok.clone();
        s.corrections = " ".into();
        assert_eq!(
            err(s),
            "ion stack corrections must name the corrections applied (\"none\" when none)"
        );
        let e = ok
            .clone()
            .with_plane_shifts(Array2::zeros((3, 2)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "ion stack plane_shifts_px has shape (3, 2), expected (2, 2)"
        );
        let mut s = ok.clone();
        s.plane_shifts_px[[1, 0]] = f64::NAN;
        assert_eq!(err(s), "ion stack plane_shifts_px holds a non-finite value");
        let mut s = ok.clone();
        s.counts[[1, 0, 2, 3]] = f32::NAN;
        assert_eq!(
            err(s),
            "ion stack counts hold NaN at (mass, plane, row, column) = (1, 0, 2, 3)"
        );
    }

    #[test]
    fn read_reports_missing_and_misshapen_datasets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let s = sample();
        let f = h5::create_file(&p).unwrap();
        let g = f.create_group("ions").unwrap();
        s.write(&g).unwrap();
        g.unlink("detector").unwrap();
        g.new_dataset_builder()
            .with_data(&[1i32, 2])
            .create("detector")
            .unwrap();
        g.unlink("mass_amu").unwrap();
        let e = IonStack::read(&g).unwrap_err().to_string();
        assert_eq!(e, "HDF5 group '/ions' has no dataset 'mass_amu'");
        g.new_dataset_builder()
            .with_data(&[1.0f64, 2.0, 3.0])
            .create("mass_amu")
            .unwrap();
        let e = IonStack::read(&g).unwrap_err().to_string();
        assert_eq!(
            e,
            "HDF5 group '/ions': dataset '/ions/detector' has shape [2], expected [3]"
        );
    }

    #[test]
    fn h5py_reads_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        sample().write(&f.create_group("ions").unwrap()).unwrap();
        f.close().unwrap();
        // The snippet of schemas/hdf5-layouts.md, then checks.
        let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["ions"]
names = list(g["mass_name"].asstr()[()])          # ['12C', '12C14N', 'SE']
i = names.index("12C14N")
image = g["counts"][i, 1]                           # one plane image, float32 (height, width)
total = g["counts"][i].sum(axis=0, dtype=np.float64)  # summed over planes
pixel_nm = g.attrs["pixel_size_nm"]

assert g.attrs["corrflow_type"] == "ion_stack" and g.attrs["layout_version"] == 1
assert names == ["12C", "12C14N", "SE"], names
assert list(g["mass_label"].asstr()[()]) == ["12C", "12C 14N", "SE"]
assert g["counts"].dtype == np.float32 and g["counts"].shape == (3, 2, 4, 5)
assert g["counts"].chunks == (1, 1, 4, 5)
assert image[2, 3] == 1123.25 and total[2, 3] == 2146.5
assert pixel_nm == 4000.0 and g.attrs["raster_nm"] == 20000.0 and g.attrs["dwell_time_s"] == 1e-3
assert g.attrs["corrections"] == "dead_time" and g.attrs["source"] == "run1.im"
assert list(g["mass_amu"][()]) == [12.0, 26.003074, 0.0]
assert g["detector"].dtype == np.int32 and list(g["detector"][()]) == [1, 3, 7]
assert list(g["dead_time_ns"][()]) == [44.0, 44.0, 0.0]
assert g["plane_shifts_px"][()].tolist() == [[0.0, 0.0], [1.5, -2.0]]
print("OK")
"#;
        if let Some(out) = crate::testutil::python("ion_stack h5py", script, &p) {
            assert_eq!(out.trim(), "OK");
        }
    }
}
