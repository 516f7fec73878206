//! Overlapping tiles over a large image, shared by training-set export and tiled inference.

/// Start offsets of tiles along one axis of length `len` (tile size `tile`,
/// overlap `overlap < tile`). Returns `(starts, size)`.
pub fn tile_starts(len: usize, tile: usize, overlap: usize) -> (Vec<usize>, usize) {
    if tile >= len {
        return (vec![0], len);
    }
    let stride = tile - overlap;
    let mut starts = Vec::new();
    let mut s = 0;
    while s + tile < len {
        starts.push(s);
        s += stride;
    }
    let last = len - tile;
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    (starts, tile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_and_the_last_one_ends_at_the_edge() {
        assert_eq!(tile_starts(1000, 320, 64), (vec![0, 256, 512, 680], 320));
        assert_eq!(tile_starts(320, 320, 64), (vec![0], 320));
        assert_eq!(tile_starts(100, 320, 64), (vec![0], 100));
        assert_eq!(tile_starts(577, 320, 0), (vec![0, 257], 320));
    }
}
