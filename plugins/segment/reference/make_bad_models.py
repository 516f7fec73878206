#!/usr/bin/env python3
"""Tiny ONNX files that are not usable segmentation models, for segment.yolo's error tests.

  detect_like.onnx   one output [1, 10, 84]: a detection model's shape (no mask prototypes)
  no_classes.onnx    outputs [1, 30, 84] and [1, 32, 16, 16]: 30 rows leave no class scores
  classify.onnx      a seg-shaped graph whose metadata says task 'classify'
Outputs are constants (the graphs ignore their input); each file is a few kB.
Regenerate with any Python that has `onnx` (e.g. the training venv):
  training/.venv/bin/python plugins/segment/reference/make_bad_models.py plugins/segment/reference/bad-models
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(outputs, metadata, path):
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    nodes, outs = [], []
    for name, shape in outputs:
        value = numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name + "_value")
        nodes.append(helper.make_node("Constant", [], [name], value=value))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "bad", [inp], outs)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)


out = sys.argv[1]
model([("output0", [1, 10, 84])], {"task": "detect", "names": "{0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e', 5: 'f'}"}, f"{out}/detect_like.onnx")
model([("output0", [1, 30, 84]), ("output1", [1, 32, 16, 16])], {}, f"{out}/no_classes.onnx")
model([("output0", [1, 38, 84]), ("output1", [1, 32, 16, 16])], {"task": "classify"}, f"{out}/classify.onnx")
