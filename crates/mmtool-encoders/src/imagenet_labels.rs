//! The 1000 ImageNet-1k class names, in class-index order.
//!
//! `data/imagenet_labels.txt` is `_IMAGENET_CATEGORIES` from
//! `torchvision/models/_meta.py` in the PyPI wheel `torchvision==0.19.0`
//! (BSD-3-Clause), one name per line.

use std::sync::LazyLock;

pub static IMAGENET_LABELS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../data/imagenet_labels.txt")
        .lines()
        .collect()
});

#[cfg(test)]
mod tests {
    use super::IMAGENET_LABELS;

    #[test]
    fn thousand_labels_in_index_order() {
        assert_eq!(IMAGENET_LABELS.len(), 1000);
        assert_eq!(IMAGENET_LABELS[0], "tench");
        assert_eq!(IMAGENET_LABELS[281], "tabby");
        assert_eq!(IMAGENET_LABELS[967], "espresso");
        assert_eq!(IMAGENET_LABELS[999], "toilet tissue");
    }
}
