//! Interoperability with Python's tifffile (what napari uses, and the reference ImageJ-TIFF
//! writer). Skipped, with a printed message, when python3 with tifffile and numpy is absent.

use approx::assert_relative_eq;
use corrflow_io_em::*;
use corrflow_test_support::{python_has, run_python};
use ndarray::Array2;

const MAKE: &str = r#"
import sys, os
import numpy as np
import tifffile
d = sys.argv[1]
a = (np.arange(2 * 3 * 20 * 30).reshape(2, 3, 20, 30) % 65536).astype('uint16')
tifffile.imwrite(os.path.join(d, 'hyperstack.tif'), a, imagej=True,
                 resolution=(1 / 3.5, 1 / 3.5), metadata={'axes': 'ZCYX', 'unit': 'nm'})
f = (np.arange(20 * 30).reshape(20, 30) * 0.5 - 7).astype('float32')
tifffile.imwrite(os.path.join(d, 'ij_um.tif'), f, imagej=True,
                 resolution=(4.0, 4.0), metadata={'unit': 'um'})
b = (np.arange(37 * 41).reshape(37, 41) * 0.25 - 100).astype('float32')
tifffile.imwrite(os.path.join(d, 'be_tiled_zlib.tif'), b, byteorder='>', tile=(16, 16),
                 compression='zlib', resolution=(1e5, 1e5), resolutionunit='CENTIMETER')
c = np.stack([np.full((10, 12), 200, 'uint8'), np.arange(120, dtype='uint8').reshape(10, 12),
              np.full((10, 12), 7, 'uint8')])
tifffile.imwrite(os.path.join(d, 'rgb_planar.tif'), c, photometric='rgb', planarconfig='separate')
try:
    tifffile.imwrite(os.path.join(d, 'zlib_predictor.tif'), (np.arange(37 * 41).reshape(37, 41) % 4000).astype('uint16'),
                     compression='zlib', predictor=True)
    print('made zlib_predictor')
except Exception as e:
    print('skip zlib_predictor:', e)
try:
    tifffile.imwrite(os.path.join(d, 'float_predictor.tif'), b, compression='zlib', predictor=3)
    print('made float_predictor')
except Exception as e:
    print('skip float_predictor:', e)
"#;

const CHECK: &str = r#"
import sys, os
import numpy as np
import tifffile
d = sys.argv[1]
with tifffile.TiffFile(os.path.join(d, 'ours_f32.tif')) as t:
    assert t.is_imagej, 'not recognised as ImageJ'
    assert t.imagej_metadata['unit'] == 'nm', t.imagej_metadata
    x = t.pages[0].tags['XResolution'].value
    assert abs(x[1] / x[0] - 3.7) < 1e-9, x
    data = t.asarray()
    assert data.dtype == np.float32 and data.shape == (9, 13), (data.dtype, data.shape)
    assert np.array_equal(data, (np.arange(9 * 13).reshape(9, 13) * 0.5 - 3).astype('float32'))
with tifffile.TiffFile(os.path.join(d, 'ours_u32.tif')) as t:
    assert t.imagej_metadata['unit'] == 'micron', t.imagej_metadata
    x = t.pages[0].tags['XResolution'].value
    assert abs(1000 * x[1] / x[0] - 2500) < 1e-6, x
    data = t.asarray()
    assert data.dtype == np.uint32 and data[4, 5] == 4000000000, (data.dtype, data[4, 5])
print('ok')
"#;

#[test]
fn tifffile_interop() {
    const TEST: &str = "tifffile_interop";
    if !python_has(TEST, &["tifffile", "numpy"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = run_python(TEST, MAKE, [d]);

    // ImageJ hyperstack: 6 pages (Z=2 x C=3), 20 x 30, pixel 3.5 nm.
    let p = d.join("hyperstack.tif");
    for k in 0..6usize {
        let r = read_em(&p, Some(k)).unwrap();
        assert_eq!((r.page, r.n_pages, r.shape()), (k, 6, (20, 30)));
        assert_eq!(r.sample_format, SampleKind::U16);
        assert_eq!(r.data[[7, 11]], (k * 600 + 7 * 30 + 11) as f32);
        assert_relative_eq!(r.pixel_size_nm.unwrap(), 3.5, max_relative = 1e-9);
        assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::ImageJ));
    }
    let e = read_em(&p, Some(6)).unwrap_err();
    assert!(e.to_string().contains("6 page(s)"), "{e}");

    let r = read_em(&d.join("ij_um.tif"), None).unwrap();
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 250.0, max_relative = 1e-9);
    assert_eq!(r.data[[19, 29]], (19 * 30 + 29) as f32 * 0.5 - 7.0);

    let r = read_em(&d.join("be_tiled_zlib.tif"), None).unwrap();
    assert_eq!(r.shape(), (37, 41));
    assert_eq!(r.sample_format, SampleKind::F32);
    for ((y, x), &v) in r.data.indexed_iter() {
        assert_eq!(v, (y * 41 + x) as f32 * 0.25 - 100.0);
    }
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 100.0, max_relative = 1e-9);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::TiffResolution));

    let r = read_em(&d.join("rgb_planar.tif"), None).unwrap();
    assert_eq!(r.channels, SourceChannels::Rgb);
    assert_eq!(
        r.data[[3, 4]],
        (0.299 * 200.0 + 0.587 * 40.0 + 0.114 * 7.0) as f32
    );

    if made.contains("made zlib_predictor") {
        let r = read_em(&d.join("zlib_predictor.tif"), None).unwrap();
        for ((y, x), &v) in r.data.indexed_iter() {
            assert_eq!(v, ((y * 41 + x) % 4000) as f32);
        }
    } else {
        println!("SKIPPED horizontal-predictor case: {made}");
    }
    if made.contains("made float_predictor") {
        let r = read_em(&d.join("float_predictor.tif"), None).unwrap();
        assert_eq!(r.data[[36, 40]], (36 * 41 + 40) as f32 * 0.25 - 100.0);
    } else {
        println!("SKIPPED floating-point-predictor case: {made}");
    }

    // The other direction: tifffile reads our files as ImageJ TIFFs with the right scale.
    let f = Array2::from_shape_fn((9, 13), |(y, x)| (y * 13 + x) as f32 * 0.5 - 3.0);
    write_tiff_f32(&d.join("ours_f32.tif"), &f, Some(3.7)).unwrap();
    let mut l = Array2::<u32>::zeros((6, 7));
    l[[4, 5]] = 4_000_000_000;
    write_tiff_u32(&d.join("ours_u32.tif"), &l, Some(2500.0)).unwrap();
    let out = run_python(TEST, CHECK, [d]);
    assert!(out.contains("ok"), "{out}");
}
