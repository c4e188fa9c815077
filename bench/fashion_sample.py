"""Write the committed Fashion-MNIST sample (tests/data/fashion_mnist_sample): the first N test images of
each class as PNG files named CLASSINDEX-TESTINDEX.png, with the dataset's MIT notice beside them.

    python bench/fashion_sample.py --per-class 20     # reads the files dataset-fashion-mnist installs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.idx import CONTENT, read_idx

NOTICE = """Fashion-MNIST sample: test images of Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist),
Copyright (c) 2017 Zalando SE, https://tech.zalando.com, under the MIT License (Expat):

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
IN THE SOFTWARE.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="tests/data/fashion_mnist_sample")
    parser.add_argument("--per-class", type=int, default=20)
    args = parser.parse_args()
    expected = CONTENT["fashion_mnist"]
    images = read_idx(Path(args.source) / "t10k-images-idx3-ubyte.gz", expected["test_images"])
    labels = read_idx(Path(args.source) / "t10k-labels-idx1-ubyte.gz", expected["test_labels"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for label in range(10):
        for index in np.flatnonzero(labels == label)[: args.per_class]:
            Image.fromarray(images[index]).save(out / f"{label}-{index:05d}.png", optimize=True)
    (out / "LICENSE").write_text(NOTICE)


if __name__ == "__main__":
    main()
