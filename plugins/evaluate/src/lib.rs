//! COCO instance segmentation evaluation.
